"""Contact candidates without hand-picking: regular samples on a URDF's collision
primitives, grouped by the direction each surface point faces.

A *facing rule* names a contact group, the links it covers and a direction: a sample
on one of those links joins the group when its outward normal is within
``max_angle`` of the direction. The direction is given in each link's own frame
(``frame = "link"``) or in the hand (root-link) frame at the zero pose
(``frame = "root"``). An optional box (``min``/``max``, link frame, metres) limits the
region. Rules come from a small TOML file::

    spacing_mm = 4            # optional; the CLI's --spacing overrides it

    [[group]]
    name = "index_pad"
    links = ["rh_ffproximal", "rh_ffmiddle", "rh_ffdistal"]
    direction = [0, -1, 0]    # outward: the side the finger flexes towards
    max_angle = 40            # degrees; default 45

or from :func:`branch_rules` (one pad group per finger branch, one palm group).

Each sample is kept only if it is a usable contact: 2 mm along its inward normal is
inside the link and 2 mm against it is outside (so thin or buried spots are
dropped), it is not buried inside another primitive of the same link, and at the zero
pose it is not inside another link's geometry. Sampling is deterministic.

The result is the plugin contact file of :mod:`seqgrasp_core.hands.spec` (points in
link frames, metres; unit normals pointing *into* the link).
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqgrasp_core.errors import HandSpecError
from seqgrasp_core.hands.primitives import Primitive, read_collision_primitives
from seqgrasp_core.hands.spec import check_known_keys
from seqgrasp_core.system.outputs import atomic_write_bytes

PROBE = 0.002     # inside/outside probe distance along the normal (m)
BURIED = 0.0002   # a sample deeper than this inside another primitive is dropped (m)
RULE_FILE_KEYS = ("spacing_mm", "group")
RULE_KEYS = ("name", "links", "direction", "max_angle", "frame", "min", "max")
FRAMES = ("link", "root")


@dataclass(frozen=True)
class FacingRule:
    """Samples on ``links`` whose outward normal is within ``max_angle`` (degrees) of
    ``direction`` (in the link's frame, or the root frame at the zero pose) form the
    contact group ``group``; ``lo``/``hi`` optionally bound the region (link frame, m)."""

    group: str
    links: tuple[str, ...]
    direction: tuple[float, float, float]
    max_angle: float = 45.0
    frame: str = "link"
    lo: tuple[float, float, float] | None = None
    hi: tuple[float, float, float] | None = None


def parse_axis(text: str) -> tuple[float, float, float]:
    """``"+x"``, ``"-y"``, ``"z"`` or ``"0,-1,0"`` as a unit vector."""
    t = text.strip().lower()
    if t.lstrip("+-") in ("x", "y", "z"):
        v = np.zeros(3)
        v["xyz".index(t[-1])] = -1.0 if t.startswith("-") else 1.0
    else:
        try:
            v = np.array([float(c) for c in t.split(",")])
        except ValueError:
            v = np.zeros(0)
        if v.shape != (3,) or not np.linalg.norm(v) > 0:
            raise HandSpecError(f"cannot read the axis {text!r}",
                                "write +x, -y, z or three numbers like 0,-1,0")
    return tuple(float(c) for c in v / np.linalg.norm(v))


def load_rules(path: str | Path) -> tuple[list[FacingRule], float | None]:
    """``(rules, spacing in metres or None)`` from a TOML rule file.

    Read strictly: an unknown key (at the top level or in a ``[[group]]``) and a
    ``frame`` other than ``"link"`` or ``"root"`` are a :class:`HandSpecError`."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise HandSpecError(f"cannot read rule file {path}: {exc}",
                            "see docs/writing-a-hand-plugin.md for the format") from None
    check_known_keys(path.name, "at the top level", data, RULE_FILE_KEYS)
    entries = data.get("group", [])
    if not (isinstance(entries, list) and all(isinstance(e, dict) for e in entries)):
        raise HandSpecError(f"rule file {path.name}: `group` is not an array of tables",
                            "write each group as a [[group]] table")
    rules = []
    for i, entry in enumerate(entries):
        check_known_keys(path.name, f"in [[group]] {i + 1}", entry, RULE_KEYS)
        frame = entry.get("frame", "link")
        if frame not in FRAMES:
            raise HandSpecError(f"{path.name}: [[group]] {i + 1} has frame = {frame!r}",
                                'use frame = "link" (the default) or frame = "root"')
        try:
            direction = entry["direction"]
            direction = parse_axis(direction if isinstance(direction, str)
                                   else ",".join(map(str, direction)))
            rules.append(FacingRule(
                group=str(entry["name"]), links=tuple(entry["links"]), direction=direction,
                max_angle=float(entry.get("max_angle", 45.0)), frame=frame,
                lo=tuple(entry["min"]) if "min" in entry else None,
                hi=tuple(entry["max"]) if "max" in entry else None))
        except KeyError as exc:
            raise HandSpecError(f"rule file {path.name}: group {i + 1} lacks {exc}",
                                "give name, links and direction") from None
    if not rules:
        raise HandSpecError(f"rule file {path.name} has no [[group]]", "add at least one")
    spacing = data.get("spacing_mm")
    if spacing is None:
        return rules, None
    if not (isinstance(spacing, (int, float)) and math.isfinite(spacing) and spacing > 0):
        raise HandSpecError(f"rule file {path.name}: spacing_mm = {spacing!r} is not a "
                            "positive number of millimetres", "e.g. spacing_mm = 4")
    return rules, float(spacing) / 1000


def branch_rules(urdf_path, pad_axis: str, palm_axis: str | None = None,
                 max_angle: float = 45.0) -> list[FacingRule]:
    """One ``<branch>_pad`` group per branch of the kinematic tree below the root link
    (named after the branch's first link, covering all its links, facing ``pad_axis``
    in each link's frame) and, with ``palm_axis``, a ``palm`` group on the root link."""
    _, parents = read_collision_primitives(urdf_path)
    root = next(n for n, p in parents.items() if p is None)
    rules = []
    for first in sorted(n for n, p in parents.items() if p == root):
        branch = [n for n in parents if _descends(n, first, parents)]
        rules.append(FacingRule(f"{first}_pad", tuple(branch), parse_axis(pad_axis), max_angle))
    if palm_axis:
        rules.append(FacingRule("palm", (root,), parse_axis(palm_axis), max_angle))
    return rules


def _descends(node, ancestor, parents) -> bool:
    while node is not None:
        if node == ancestor:
            return True
        node = parents[node]
    return False


# --------------------------------------------------------------------------- geometry

def signed_distance(prim: Primitive, pts: np.ndarray) -> np.ndarray:
    """Exact signed distance ``(N,)`` (negative inside) of link-frame points ``(N, 3)``."""
    inv = np.linalg.inv(prim.origin)
    local = pts @ inv[:3, :3].T + inv[:3, 3]
    if prim.kind == "sphere":
        return np.linalg.norm(local, axis=1) - prim.size[0]
    if prim.kind == "box":
        q = np.abs(local) - np.asarray(prim.size) / 2
        return np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(axis=1), 0)
    r, length = prim.size
    q = np.stack((np.linalg.norm(local[:, :2], axis=1) - r, np.abs(local[:, 2]) - length / 2), 1)
    return np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(axis=1), 0)


def _cells(extent: float, spacing: float) -> np.ndarray:
    """Cell centres along ``[-extent/2, extent/2]``, about ``spacing`` apart."""
    n = max(1, int(math.ceil(extent / spacing - 1e-9)))
    return -extent / 2 + (np.arange(n) + 0.5) * extent / n


def sample_primitive(prim: Primitive, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Regular samples ``(points (M, 3), outward normals (M, 3))`` in the link frame."""
    pts, nrm = [], []
    if prim.kind == "box":
        half = np.asarray(prim.size) / 2
        for axis in range(3):
            u, v = [a for a in range(3) if a != axis]
            gu, gv = np.meshgrid(_cells(2 * half[u], spacing), _cells(2 * half[v], spacing),
                                 indexing="ij")
            for sign in (1.0, -1.0):
                p = np.zeros((gu.size, 3))
                p[:, u], p[:, v], p[:, axis] = gu.ravel(), gv.ravel(), sign * half[axis]
                n = np.zeros_like(p)
                n[:, axis] = sign
                pts.append(p)
                nrm.append(n)
    elif prim.kind == "sphere":
        r = prim.size[0]
        n = max(12, int(round(4 * math.pi * r * r / spacing ** 2)))
        i = np.arange(n) + 0.5
        polar = np.arccos(1 - 2 * i / n)
        azimuth = math.pi * (1 + 5 ** 0.5) * i
        d = np.stack((np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth),
                      np.cos(polar)), 1)
        pts.append(r * d)
        nrm.append(d)
    else:
        r, length = prim.size
        n_theta = max(8, int(round(2 * math.pi * r / spacing)))
        theta = (np.arange(n_theta) + 0.5) * 2 * math.pi / n_theta
        tt, zz = np.meshgrid(theta, _cells(length, spacing), indexing="ij")
        d = np.stack((np.cos(tt.ravel()), np.sin(tt.ravel()), np.zeros(tt.size)), 1)
        pts.append(r * d + np.c_[np.zeros((tt.size, 2)), zz.ravel()])
        nrm.append(d)
        rings = max(1, int(round(r / spacing)))
        for k in range(rings):
            rho = (k + 0.5) * r / rings
            m = max(1, int(round(2 * math.pi * rho / spacing)))
            a = (np.arange(m) + 0.5) * 2 * math.pi / m
            for sign in (1.0, -1.0):
                pts.append(np.stack((rho * np.cos(a), rho * np.sin(a),
                                     np.full(m, sign * length / 2)), 1))
                nrm.append(np.tile([0.0, 0.0, sign], (m, 1)))
    p, n = np.concatenate(pts), np.concatenate(nrm)
    rot, trans = prim.origin[:3, :3], prim.origin[:3, 3]
    return p @ rot.T + trans, n @ rot.T


def link_sdf(prims: list[Primitive], pts: np.ndarray) -> np.ndarray:
    """Signed distance ``(N,)`` of link-frame points to the union of ``prims``."""
    return np.min([signed_distance(p, pts) for p in prims], axis=0)


def _zero_pose_transforms(urdf_path) -> dict[str, np.ndarray]:
    import pytorch_kinematics as pk
    import torch

    text = re.sub(rb"<mujoco>.*?</mujoco>", b"", Path(urdf_path).read_bytes(), flags=re.S)
    chain = pk.build_chain_from_urdf(text).to(dtype=torch.float64)
    zeros = torch.zeros(1, len(chain.get_joint_parameter_names()), dtype=torch.float64)
    return {name: tf.get_matrix()[0].numpy() for name, tf in
            chain.forward_kinematics(zeros).items()}


# --------------------------------------------------------------------------- sampling

def sample_contacts(urdf_path, rules: list[FacingRule], spacing: float = 0.004
                    ) -> dict[str, list[dict]]:
    """Contact groups ``{name: [{"link", "point", "normal" (inward)}, ...]}``."""
    prims, parents = read_collision_primitives(urdf_path)
    by_link: dict[str, list[Primitive]] = {}
    for p in prims:
        by_link.setdefault(p.link, []).append(p)
    for rule in rules:
        if rule.frame not in ("link", "root"):
            raise HandSpecError(f"rule {rule.group!r}: frame {rule.frame!r}",
                                "use frame = \"link\" or \"root\"")
        for link in rule.links:
            if link not in parents:
                raise HandSpecError(f"rule {rule.group!r} names link {link!r}, which the URDF "
                                    "does not have", f"use one of: {', '.join(parents)}")
            if link not in by_link:
                raise HandSpecError(f"rule {rule.group!r}: link {link!r} has no collision "
                                    "geometry", "remove it from the rule")
    poses = _zero_pose_transforms(urdf_path)
    samples = {link: _usable_samples(link, by_link, poses, spacing)
               for link in {ln for r in rules for ln in r.links}}
    groups: dict[str, list[dict]] = {}
    for rule in rules:
        entries = groups.setdefault(rule.group, [])
        for link in rule.links:
            pts, out = samples[link]
            d = np.asarray(rule.direction, float)
            if rule.frame == "root":
                d = poses[link][:3, :3].T @ d
            keep = out @ d >= math.cos(math.radians(rule.max_angle)) - 1e-9
            if rule.lo is not None:
                keep &= (pts >= np.asarray(rule.lo) - 1e-12).all(1)
            if rule.hi is not None:
                keep &= (pts <= np.asarray(rule.hi) + 1e-12).all(1)
            for p, n in zip(pts[keep], out[keep]):
                entries.append({"link": link, "point": [round(float(c), 6) for c in p],
                                "normal": [round(float(-c), 6) for c in n]})
    empty = [g for g, e in groups.items() if not e]
    if empty:
        raise HandSpecError(f"contact group {empty[0]!r} got no points",
                            "widen max_angle, check the direction, or lower --spacing")
    return groups


def _usable_samples(link, by_link, poses, spacing) -> tuple[np.ndarray, np.ndarray]:
    own = by_link[link]
    pts, out = [], []
    for prim in own:
        p, n = sample_primitive(prim, spacing)
        others = [o for o in own if o is not prim]
        keep = np.ones(len(p), dtype=bool)
        if others:
            keep &= link_sdf(others, p) > -BURIED
        keep &= link_sdf(own, p - PROBE * n) < 0      # 2 mm along the inward normal: inside
        keep &= link_sdf(own, p + PROBE * n) > 0      # 2 mm against it: outside
        pts.append(p[keep])
        out.append(n[keep])
    p, n = np.concatenate(pts), np.concatenate(out)
    # Not covered by another link at the zero pose (e.g. a capsule end inside a knuckle).
    world = p @ poses[link][:3, :3].T + poses[link][:3, 3]
    covered = np.zeros(len(p), dtype=bool)
    for other, oprims in by_link.items():
        if other == link:
            continue
        inv = np.linalg.inv(poses[other])
        covered |= link_sdf(oprims, world @ inv[:3, :3].T + inv[:3, 3]) < 0
    return p[~covered], n[~covered]


def write_contacts(groups: dict[str, list[dict]], path: str | Path, note: str = "") -> None:
    """Write the plugin contact file (``{"groups": ...}``, plus a provenance note)."""
    data = {"generated_by": note, "groups": groups} if note else {"groups": groups}
    text = json.dumps(data, indent=1) + "\n"
    atomic_write_bytes(Path(path), lambda tmp: tmp.write_text(text))
