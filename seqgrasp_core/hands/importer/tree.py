"""The URDF's links and joints, built from the source hand's bodies.

Frames (all exact, nothing is re-fitted):

- Each body becomes the link of its name. Its frame is the body frame, moved to the
  anchor of the body's (last) joint when that joint has a nonzero ``pos`` (a URDF
  joint turns its child about the child's origin); the link's geometry, inertial and
  children are expressed relative to that frame.
- A body with several joints becomes a chain: one link per joint, the first ones
  named ``<body>__<joint>``, each at its joint's anchor, as MuJoCo applies a body's
  joints one after the other about their own anchors. MuJoCo refuses massless moving
  bodies, so each of those links carries ``SPLIT`` of the body's mass (same centre of
  mass, inertia scaled alike) and the body's link the rest.
- The root link is the root body's frame turned into the hand frame
  (:mod:`.frame`): its geometry, inertial and child joint origins are rotated.

The URDF joint value 0 is the source's ``ref``; a joint's limits are its range minus
``ref``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from seqgrasp_core.hands.importer.fit import Shape
from seqgrasp_core.hands.importer.source import Source
from seqgrasp_core.hands.importer.transforms import inverse, mj_pose, pose, quat_matrix

SPLIT = 0.01  # share of a body's mass on each extra link of a multi-joint body


@dataclass(frozen=True)
class Inertial:
    """``mass`` (kg) at ``com`` (m, link frame) with ``inertia`` (3×3, kg·m², about the
    centre of mass, link axes)."""

    mass: float
    com: np.ndarray
    inertia: np.ndarray


@dataclass
class Link:
    name: str
    inertial: Inertial | None
    shapes: list[Shape] = field(default_factory=list)


@dataclass(frozen=True)
class Joint:
    name: str
    kind: str  # revolute, prismatic or fixed
    parent: str
    child: str
    origin: np.ndarray
    axis: np.ndarray | None = None
    lower: float = 0.0
    upper: float = 0.0
    effort: float = 10.0
    damping: float = 0.0
    friction: float = 0.0


@dataclass
class Robot:
    """The URDF's content. ``link_of_body`` names each source body's link and
    ``offset[body]`` is that link's frame in the body's frame."""

    name: str
    links: list[Link]
    joints: list[Joint]
    link_of_body: dict[int, str]
    offset: dict[int, np.ndarray]
    root: str

    @property
    def movable(self) -> list[Joint]:
        return [j for j in self.joints if j.kind != "fixed"]

    def link_poses(self, source: Source, q) -> dict[str, np.ndarray]:
        """Hand-frame poses (4×4) of the bodies' links at URDF joint values ``q``."""
        root = inverse(self.offset[source.root])
        return {self.link_of_body[b]: root @ t @ self.offset[b]
                for b, t in source.body_poses(q).items()}

    def parents(self) -> dict[str, str | None]:
        out: dict[str, str | None] = {link.name: None for link in self.links}
        for j in self.joints:
            out[j.child] = j.parent
        return out


def _unique(name: str, taken: set[str]) -> str:
    out, i = name, 1
    while out in taken:
        i += 1
        out = f"{name}_{i}"
    taken.add(out)
    return out


def _inertial(model, b: int, offset: np.ndarray, share: float) -> Inertial | None:
    mass = float(model.body_mass[b])
    if mass <= 0:
        return None
    rot = quat_matrix(model.body_iquat[b])
    inertia = rot @ np.diag(model.body_inertia[b]) @ rot.T
    r, t = offset[:3, :3], offset[:3, 3]
    return Inertial(share * mass, r.T @ (model.body_ipos[b] - t), share * r.T @ inertia @ r)


def build_robot(source: Source, shapes: dict[int, list[Shape]], rotation: np.ndarray,
                name: str) -> Robot:
    """Links and joints for ``source``; ``shapes`` are each body's collision shapes in
    its body frame; ``rotation`` is the hand frame in the root body's frame."""
    m = source.model
    link_names: set[str] = set(source.names.values())
    joint_names: set[str] = {j.name for j in source.hand_joints}
    links: list[Link] = []
    joints: list[Joint] = []
    link_of_body: dict[int, str] = {}
    offset: dict[int, np.ndarray] = {}
    for b in source.bodies:
        own = source.joints[b]
        offset[b] = pose(own[-1].anchor) if own else np.eye(4)
        if b == source.root:
            offset[b] = pose(rot=rotation)
        link_of_body[b] = source.names[b]
        inv = inverse(offset[b])
        share = 1.0 - SPLIT * max(len(own) - 1, 0)
        links_before = []
        if b != source.root:
            p = source.parent(b)
            body_in_parent = mj_pose(m.body_pos[b], m.body_quat[b])
            start = inverse(offset[p]) @ body_in_parent
            parent_link, anchor = link_of_body[p], np.zeros(3)
            if not own:
                joints.append(Joint(_unique(f"{source.names[b]}_fixed", joint_names), "fixed",
                                    parent_link, source.names[b], start))
            for i, joint in enumerate(own):
                last = i == len(own) - 1
                child = source.names[b] if last else _unique(
                    f"{source.names[b]}__{joint.name}", link_names)
                origin = (start @ pose(joint.anchor) if i == 0
                          else pose(joint.anchor - anchor))
                joints.append(Joint(joint.name, joint.kind, parent_link, child, origin,
                                    joint.axis, joint.lower, joint.upper, joint.effort,
                                    joint.damping, joint.friction))
                if not last:
                    links_before.append(Link(child, _inertial(m, b, pose(joint.anchor), SPLIT)))
                parent_link, anchor = child, joint.anchor
        links += links_before
        links.append(Link(source.names[b], _inertial(m, b, offset[b], share),
                          [s.moved(inv) for s in shapes.get(b, [])]))
    return Robot(name, links, joints, link_of_body, offset, source.names[source.root])
