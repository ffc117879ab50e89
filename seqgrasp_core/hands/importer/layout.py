"""What an imported hand's ``hand.toml`` and ``contact_rules.toml`` say, derived from its
kinematics and geometry (all in the hand frame, see :mod:`.frame`):

- open pose: every joint at 0, clamped into its limits;
- palm: the centre is where a ray from the centroid of the root link's geometry, along
  the palm normal (+x), leaves that geometry; the normal is +x;
- finger branches: the root's child links with joints below them. A branch is named
  after that first link, less one trailing ``base``, ``link``, ``knuckle`` or
  ``proximal`` (optionally followed by ``0``) or a trailing ``0`` after a separator,
  with the separator (``_``, ``-``, ``.``) before it (:func:`branch_names`):
  ``ff_base`` → ``ff``, ``rh_thbase`` → ``rh_th``, ``finger_link_0`` → ``finger``,
  ``index_0`` → ``index``, ``f1`` stays ``f1``. A name that would become empty or
  ``palm``, or the same as another branch's, stays whole. Each branch gets a
  ``<branch>_pad`` contact group (``frame = "root"``) facing the way its tip moves,
  at the zero pose, when its last closing joint (the flexion nearest the tip) closes
  (:func:`pad_direction`); the root link gets a ``palm`` group facing +x;
- opposition spaces: one per pair of branches that oppose, with both branches'
  joints (``<a>-<b>``, e.g. ``ff-th``), and one per branch with the palm, with its
  joints (``<a>-palm``). Two branches oppose when
  their pad directions are more than :data:`OPPOSED_DEG` apart, or when closing both
  at the open pose brings their tips together (:meth:`Branch.approach` above
  :data:`APPROACH`). Fingers side by side have parallel pads; a thumb's pad faces
  them at about 90° at the zero pose (88–90° for the Allegro and Shadow hands), and its
  joints turn it the rest of the way;
- ``max_object_size``: half the longest edge of the hand's bounding box at the open
  pose;
- self-collision exclusions: the source's ``<exclude>`` pairs (MuJoCo ≥ 3 encodes each
  as ``exclude_signature = body1 << 16 | body2``, body ids as they are), and the link pairs
  whose self-collision spheres (:meth:`~seqgrasp_core.hands.primitives.Primitive.spheres`)
  already overlap at the open pose.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

import numpy as np

from seqgrasp_core.errors import HandSpecError
from seqgrasp_core.hands.contacts import FacingRule, parse_axis, sample_contacts
from seqgrasp_core.hands.importer.fit import Shape
from seqgrasp_core.hands.importer.frame import closing_direction, tip_motion
from seqgrasp_core.hands.importer.source import Source
from seqgrasp_core.hands.importer.tree import Robot
from seqgrasp_core.hands.primitives import Primitive
from seqgrasp_core.hands.self_collision import rigid_bodies

PAD_ANGLES = (45.0, 60.0, 90.0)  # max_angle tried in turn until a group gets points
SPACING = 0.004  # contact sample spacing (m)
OPPOSED_DEG = 75.0  # pads facing directions this far apart oppose (see the docstring)
APPROACH = 0.2  # branches whose tips close in faster than this (see Branch.approach) oppose
# What a branch's name leaves off its first link's name (see the docstring).
NAME_SUFFIX = re.compile(r"[_.-]?(?:base|link|knuckle|proximal)(?:[_.-]?0)?$|[_.-]0$",
                         re.IGNORECASE)


@dataclass(frozen=True)
class Branch:
    """A finger: ``name`` (from the root's child link, see :func:`branch_names`), the
    links with geometry below it and the joints that move them."""

    name: str
    links: tuple[str, ...]
    joints: tuple[str, ...]
    direction: np.ndarray
    tip: np.ndarray = field(default_factory=lambda: np.zeros(3))
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def approach(self, other: Branch) -> float:
        """How fast the two branches' tips close in on each other when both close, as a
        share of their summed speeds (1: head-on, 0: side by side, < 0: apart)."""
        gap = other.tip - self.tip
        speed = np.linalg.norm(self.velocity) + np.linalg.norm(other.velocity)
        if np.linalg.norm(gap) < 1e-9 or speed < 1e-12:
            return 0.0
        return float(gap @ (self.velocity - other.velocity) / np.linalg.norm(gap) / speed)


@dataclass(frozen=True)
class Space:
    name: str
    joints: tuple[str, ...]
    contacts_a: tuple[str, ...]
    contacts_b: tuple[str, ...]


@dataclass
class Layout:
    joints: list[str]
    open_pose: list[float]
    palm_center: np.ndarray
    palm_normal: np.ndarray
    max_object_size: float
    branches: list[Branch]
    spaces: list[Space]
    rules: list[FacingRule] = field(default_factory=list)
    directions: dict[str, list[float]] = field(default_factory=dict)  # as written
    exclude: list[tuple[str, str, str]] = field(default_factory=list)
    groups: dict[str, list[dict]] = field(default_factory=dict)


def open_pose(robot: Robot) -> list[float]:
    return [float(np.clip(0.0, j.lower, j.upper)) for j in robot.movable]


def plan(source: Source, robot: Robot, tips: dict[int, np.ndarray], palm_normal: np.ndarray,
         weights: np.ndarray, upper_side: np.ndarray, warnings: list[str]) -> Layout:
    """Everything but the contact groups (:func:`sample_groups` adds those)."""
    names = [j.name for j in robot.movable]
    q_open = np.asarray(open_pose(robot))
    to_hand = robot.offset[source.root][:3, :3].T  # root body frame → hand frame
    at_zero = tip_motion(source.body_poses, tips, np.zeros(len(names)))
    at_open = tip_motion(source.body_poses, tips, q_open)
    open_poses = source.body_poses(q_open)
    geometry_links = {link.name for link in robot.links if link.shapes}
    branches = []
    for child in source.children(source.root):
        below = _subtree(source, child)
        joint_names = [j.name for b in below for j in source.joints[b]]
        if not joint_names:
            continue
        links = tuple(robot.link_of_body[b] for b in below
                      if robot.link_of_body[b] in geometry_links)
        if not links:
            warnings.append(f"finger branch {robot.link_of_body[child]!r} has no collision "
                            "geometry: it gets no contact group")
            continue
        idx = [names.index(n) for n in joint_names]
        d = pad_direction(at_zero, weights, upper_side, idx)
        if d is None:
            warnings.append(f"closing finger branch {robot.link_of_body[child]!r} moves no tip: "
                            "its pads are taken to face the palm normal")
            direction = palm_normal
        else:
            direction = to_hand @ d
        own_tips = [b for b in below if b in tips]
        tip = np.mean([open_poses[b][:3, :3] @ tips[b] + open_poses[b][:3, 3]
                       for b in own_tips], axis=0) if own_tips else np.zeros(3)
        velocity = (weights[idx, None] * at_open[idx]).sum(axis=0) / max(len(own_tips), 1)
        branches.append(Branch(robot.link_of_body[child], links, tuple(joint_names),
                               direction / np.linalg.norm(direction),
                               to_hand @ tip, to_hand @ velocity))
    names_of = branch_names([b.name for b in branches])
    branches = [replace(b, name=names_of[b.name]) for b in branches]
    root_link = next(link for link in robot.links if link.name == robot.root)
    center = palm_center(root_link.shapes, palm_normal, warnings)
    spaces = _spaces(branches, bool(root_link.shapes))
    poses = robot.link_poses(source, q_open)
    return Layout(names, list(map(float, q_open)), center, palm_normal,
                  _max_object_size(robot, poses), branches, spaces,
                  exclude=_exclusions(source, robot, poses))


def branch_names(links: list[str]) -> dict[str, str]:
    """Each branch's name from its first link's: :data:`NAME_SUFFIX` stripped once,
    unless that leaves nothing, ``palm``, or a name another branch has (stripped or
    whole); then the link's name, whole."""
    short = {link: NAME_SUFFIX.sub("", link) for link in links}
    taken = list(short.values()) + links
    return {link: s if s and s != "palm" and taken.count(s) == 1 else link
            for link, s in short.items()}


def pad_direction(motion: np.ndarray, weights: np.ndarray, upper_side: np.ndarray,
                  joints: list[int]) -> np.ndarray | None:
    """The way a branch's pads face at the zero pose: the tip motion of its last
    closing joint (the one nearest the tip with a nonzero closing weight: the flexion
    that curls the tip), else the branch's whole closing motion."""
    for j in reversed(joints):
        if abs(weights[j]) > 1e-6 and np.linalg.norm(motion[j]) > 1e-9:
            v = np.sign(weights[j]) * motion[j]
            return v / np.linalg.norm(v)
    return closing_direction(motion, weights, upper_side, joints)


def _subtree(source: Source, top: int) -> list[int]:
    out = []
    for b in source.bodies:
        node = b
        while node != source.root:
            if node == top:
                out.append(b)
                break
            node = source.parent(node)
    return out


def palm_center(shapes: list[Shape], normal: np.ndarray, warnings: list[str]) -> np.ndarray:
    """Where the ray from the shapes' centroid along ``normal`` leaves them."""
    if not shapes:
        warnings.append("the root link has no collision geometry: no palm contact group, "
                        "palm centre at the root's origin")
        return np.zeros(3)
    weights = np.array([max(s.volume, 1e-12) for s in shapes])
    start = np.average([s.pose[:3, 3] for s in shapes], axis=0, weights=weights)
    reach = max(np.linalg.norm(s.pose[:3, 3] - start) + max(s.size) for s in shapes) * 2

    def sdf(t):
        p = (start + np.asarray(t)[:, None] * normal)
        return np.min([s.sdf(p) for s in shapes], axis=0)

    t = np.linspace(0.0, reach, 4001)
    inside = np.flatnonzero(sdf(t) < 0)
    if not len(inside):
        warnings.append("the palm ray from the root geometry's centroid meets no geometry: "
                        "palm centre at the centroid")
        return start
    lo, hi = t[inside[-1]], t[min(inside[-1] + 1, len(t) - 1)]
    for _ in range(40):  # bisect the exit point
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if sdf([mid])[0] < 0 else (lo, mid)
    return start + hi * normal


def _spaces(branches: list[Branch], palm: bool) -> list[Space]:
    spaces = []
    for i, a in enumerate(branches):
        for b in branches[i + 1:]:
            if angle_deg(a.direction, b.direction) > OPPOSED_DEG or a.approach(b) > APPROACH:
                spaces.append(Space(f"{a.name}-{b.name}", a.joints + b.joints,
                                    (f"{a.name}_pad",), (f"{b.name}_pad",)))
    if palm:
        spaces += [Space(f"{a.name}-palm", a.joints, (f"{a.name}_pad",), ("palm",))
                   for a in branches]
    return spaces


def _max_object_size(robot: Robot, poses: dict[str, np.ndarray]) -> float:
    points = [s.trimesh(sections=16).vertices @ poses[link.name][:3, :3].T
              + poses[link.name][:3, 3]
              for link in robot.links if link.name in poses for s in link.shapes]
    if not points:
        return 0.12
    pts = np.concatenate(points)
    edge = float((pts.max(axis=0) - pts.min(axis=0)).max())
    return max(0.02, round(edge / 2, 2))


def _exclusions(source: Source, robot: Robot, poses: dict[str, np.ndarray]
                ) -> list[tuple[str, str, str]]:
    m = source.model
    link = robot.link_of_body
    out: dict[frozenset, tuple[str, str, str]] = {}
    for sig in np.asarray(m.exclude_signature).ravel():
        a, b = int(sig) >> 16, int(sig) & 0xFFFF  # body ids (MuJoCo ≥ 3: no +1)
        if a in link and b in link:
            out[frozenset((link[a], link[b]))] = (link[a], link[b], "the model's <exclude>")
    # The engine's own rules: one rigid body for links joined by fixed joints, and no
    # test across a single movable joint.
    parents = robot.parents()
    rigid = rigid_bodies(parents, {j.child for j in robot.movable})
    skip = {frozenset((rigid[c], rigid[p])) for c, p in parents.items() if p is not None}
    spheres = {}
    for lk in robot.links:
        if lk.name in poses and lk.shapes:
            cs, rs = zip(*(Primitive(lk.name, p.kind, p.size, p.pose).spheres()
                           for s in lk.shapes for p in s.pieces()))
            t = poses[lk.name]
            spheres[lk.name] = (np.concatenate(cs) @ t[:3, :3].T + t[:3, 3], np.concatenate(rs))
    names = sorted(spheres)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if rigid[a] == rigid[b] or frozenset((rigid[a], rigid[b])) in skip:
                continue
            (ca, ra), (cb, rb) = spheres[a], spheres[b]
            gap = np.linalg.norm(ca[:, None] - cb[None], axis=2) - ra[:, None] - rb[None]
            if gap.min() < 0 and frozenset((a, b)) not in out:
                out[frozenset((a, b))] = (a, b, "self-collision spheres overlap at the open pose")
    return list(out.values())


def sample_groups(urdf_path, layout: Layout, palm_link: str | None,
                  warnings: list[str]) -> None:
    """Sample each pad group (and, with ``palm_link``, the palm group) on the written
    URDF, widening the angle (:data:`PAD_ANGLES`) until it gets points; a group that
    gets none is dropped with the opposition spaces that use it."""
    wanted = [(f"{b.name}_pad", b.links, b.direction) for b in layout.branches]
    if palm_link is not None:
        wanted.append(("palm", (palm_link,), layout.palm_normal))
    for group, links, direction in wanted:
        for angle in PAD_ANGLES:
            # As the rule file will hold it: rounded, then normalized as load_rules does.
            axis = parse_axis(",".join(str(c) for c in rounded(direction)))
            rule = FacingRule(group, tuple(links), axis, angle, "root")
            try:
                points = sample_contacts(urdf_path, [rule], SPACING)[group]
            except HandSpecError:
                continue
            layout.rules.append(rule)
            layout.directions[group] = rounded(direction)
            layout.groups[group] = points
            break
        else:
            warnings.append(f"contact group {group!r} got no points within 90° of its "
                            "direction: left out, with its opposition spaces")
    layout.spaces = [s for s in layout.spaces
                     if all(g in layout.groups for g in s.contacts_a + s.contacts_b)]
    if not layout.spaces:
        raise HandSpecError("the imported hand has no usable opposition space (no finger "
                            "pads and palm that face each other)",
                            "check --root, or pass --no-orient and write hand.toml by hand")


def rounded(direction) -> list[float]:
    """A direction as written in the rule file (4 decimals)."""
    return [round(float(c), 4) + 0.0 for c in direction]


def angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return math.degrees(math.acos(float(np.clip(a @ b, -1.0, 1.0))))
