"""Generate ``plugins/allegro/contacts.json`` from the collision primitives of the URDF.

Run from the repository root (or anywhere; paths are relative to this file)::

    python plugins/allegro/tools/make_contacts.py

The output is deterministic: regular grids on faces of the URDF's collision boxes and
on the front/sides of the fingertip capsules (each a cylinder plus two spheres in the
URDF). Points are in the link frame (metres); normals are unit vectors pointing *into*
the geometry (the force the hand applies is ``-normal``).

Conventions of this hand (checked by forward kinematics, see ``../README.md``):

* every finger link (and the thumb's proximal, medial and distal links) flexes about
  its +y axis, so the fingertip moves towards +x: the **pad** is the ``+x`` face;
* the palm's grasping surface is the palm box's ``+x`` face (``x = +0.0111``);
* the index finger sits at palm ``+y``, the middle finger at ``y = 0`` and the ring
  finger at ``-y``; each finger's link ``y`` axis is close to the palm's ``y`` axis, so
  the index's side towards the middle finger is its ``-y`` face, the middle's side
  towards the index is ``+y``, towards the ring ``-y``, and the ring's side towards the
  middle is ``+y``.

Only numpy and the standard library are needed.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
URDF = HERE.parent / "allegro_right.urdf"
OUT = HERE.parent / "contacts.json"

INSET = 0.0015        # distance of the outermost grid points from a face's edges (m)
BURIED = 0.0002       # a point deeper than this inside another primitive is dropped (m)
PALM_MARGIN = 0.003   # clearance kept around the region the thumb base sweeps over (m)


# --------------------------------------------------------------------------- URDF

def _vec(text: str | None, default=(0.0, 0.0, 0.0)) -> np.ndarray:
    return np.array([float(v) for v in text.split()]) if text else np.array(default, float)


def rpy_matrix(rpy) -> np.ndarray:
    """URDF ``rpy`` (fixed axes x, then y, then z) as a rotation matrix."""
    r, p, y = rpy
    cx, sx, cy, sy, cz, sz = math.cos(r), math.sin(r), math.cos(p), math.sin(p), math.cos(y), math.sin(y)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def axis_angle(axis, angle) -> np.ndarray:
    k = np.asarray(axis, float) / np.linalg.norm(axis)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(angle) * kx + (1 - math.cos(angle)) * kx @ kx


def load_urdf(path: Path):
    """Collision primitives per link and the joints, read from the URDF."""
    robot = ET.parse(path).getroot()
    prims: dict[str, list[dict]] = {}
    for link in robot.findall("link"):
        items = []
        for col in link.findall("collision"):
            origin = col.find("origin")
            xyz = _vec(origin.get("xyz") if origin is not None else None)
            rpy = _vec(origin.get("rpy") if origin is not None else None)
            assert np.allclose(rpy, 0), "this script assumes axis-aligned primitives"
            geom = col.find("geometry")[0]
            if geom.tag == "box":
                items.append({"type": "box", "center": xyz, "half": _vec(geom.get("size")) / 2})
            elif geom.tag == "cylinder":
                items.append({"type": "cylinder", "center": xyz, "radius": float(geom.get("radius")),
                              "half_length": float(geom.get("length")) / 2})
            elif geom.tag == "sphere":
                items.append({"type": "sphere", "center": xyz, "radius": float(geom.get("radius"))})
            else:
                raise ValueError(f"unexpected collision geometry {geom.tag}")
        prims[link.get("name")] = items
    joints = {}
    for j in robot.findall("joint"):
        origin = j.find("origin")
        axis = j.find("axis")
        limit = j.find("limit")
        joints[j.get("name")] = {
            "type": j.get("type"), "parent": j.find("parent").get("link"),
            "child": j.find("child").get("link"),
            "xyz": _vec(origin.get("xyz")), "R": rpy_matrix(_vec(origin.get("rpy"))),
            "axis": _vec(axis.get("xyz") if axis is not None else None, (1, 0, 0)),
            "limits": (float(limit.get("lower")), float(limit.get("upper"))) if limit is not None else None,
        }
    return prims, joints


PRIMS, JOINTS = load_urdf(URDF)


def the_box(link: str) -> dict:
    boxes = [p for p in PRIMS[link] if p["type"] == "box"]
    assert len(boxes) == 1, link
    return boxes[0]


def the_cylinder(link: str) -> dict:
    cyl = [p for p in PRIMS[link] if p["type"] == "cylinder"]
    assert len(cyl) == 1, link
    return cyl[0]


def far_sphere(link: str) -> dict:
    """The sphere at the +z end of a fingertip's cylinder (the capsule's far cap)."""
    return max((p for p in PRIMS[link] if p["type"] == "sphere"), key=lambda p: p["center"][2])


# ------------------------------------------------------------------ burial filter

def depth_inside(prim: dict, p: np.ndarray) -> float:
    """How deep ``p`` is inside ``prim`` (positive inside, negative outside)."""
    d = p - prim["center"]
    if prim["type"] == "box":
        return float(np.min(prim["half"] - np.abs(d)))
    if prim["type"] == "sphere":
        return prim["radius"] - float(np.linalg.norm(d))
    radial = prim["radius"] - float(np.hypot(d[0], d[1]))
    return min(radial, prim["half_length"] - abs(d[2]))


def welded_frames(link: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``link`` and the links joined to it by fixed joints, with their pose in ``link``."""
    out = [(link, np.eye(3), np.zeros(3))]
    for j in JOINTS.values():
        if j["type"] != "fixed":
            continue
        if j["parent"] == link:   # child pose in link: p_link = R p_child + t
            out.append((j["child"], j["R"], j["xyz"]))
        elif j["child"] == link:  # parent pose in link: inverse transform
            out.append((j["parent"], j["R"].T, -j["R"].T @ j["xyz"]))
    return out


def buried(link: str, own: dict, p: np.ndarray) -> bool:
    """Whether ``p`` (on primitive ``own`` of ``link``) lies inside another primitive of
    the same rigid body (the link and the links welded to it)."""
    for other, R, t in welded_frames(link):
        p_other = R.T @ (p - t)
        for prim in PRIMS[other]:
            if prim is own:
                continue
            if depth_inside(prim, p_other) > BURIED:
                return True
    return False


# ------------------------------------------------------------------------- grids

def entry(link, point, normal):
    n = np.asarray(normal, float)
    n = n / np.linalg.norm(n)
    return {"link": link, "point": [round(float(v), 6) for v in point],
            "normal": [round(float(v), 6) for v in n]}


def box_face(link: str, axis: int, sign: int, counts: tuple[int, int],
             z_from: float | None = None) -> list[dict]:
    """Grid on the face ``sign * axis`` of the link's box, ``counts`` points along the
    two other axes (in x, y, z order), inset from the edges; inward normal ``-sign*e``.
    ``z_from`` (link frame) starts the grid's z range higher than the face's edge."""
    box = the_box(link)
    c, h = box["center"], box["half"]
    others = [a for a in range(3) if a != axis]
    ticks = [np.linspace(c[a] - h[a] + INSET, c[a] + h[a] - INSET, n) for a, n in zip(others, counts)]
    if z_from is not None and Z in others:
        ticks[others.index(Z)] = np.linspace(z_from, c[Z] + h[Z] - INSET, counts[others.index(Z)])
    normal = np.zeros(3)
    normal[axis] = -sign
    out = []
    for u in ticks[0]:
        for v in ticks[1]:
            p = np.empty(3)
            p[axis] = c[axis] + sign * h[axis]
            p[others[0]], p[others[1]] = u, v
            if not buried(link, box, p):
                out.append(entry(link, p, normal))
    return out


def cylinder_side(link: str, azimuths_deg, n_z: int) -> list[dict]:
    """Points on the side of the fingertip cylinder at the given azimuths (0 = +x,
    90 = +y), ``n_z`` heights inset from its ends; inward normal is radial."""
    cyl = the_cylinder(link)
    c, r, hl = cyl["center"], cyl["radius"], cyl["half_length"]
    out = []
    for z in np.linspace(c[2] - hl + INSET, c[2] + hl - INSET, n_z):
        for az in azimuths_deg:
            u = np.array([math.cos(math.radians(az)), math.sin(math.radians(az)), 0.0])
            p = np.array([c[0], c[1], z]) + r * u
            if not buried(link, cyl, p):
                out.append(entry(link, p, -u))
    return out


def sphere_cap(link: str, polars_deg, azimuths_deg) -> list[dict]:
    """Points on the far (+z) fingertip sphere: polar angle from +z, azimuth from +x."""
    sph = far_sphere(link)
    out = []
    for pol in polars_deg:
        for az in azimuths_deg:
            t, f = math.radians(pol), math.radians(az)
            u = np.array([math.sin(t) * math.cos(f), math.sin(t) * math.sin(f), math.cos(t)])
            p = sph["center"] + sph["radius"] * u
            if not buried(link, sph, p):
                out.append(entry(link, p, -u))
    return out


X, Y, Z = 0, 1, 2


def finger_pad(f: str) -> list[dict]:
    """Pad (+x) points of a finger ``f`` in ff/mf/rf: proximal, medial, distal, tip."""
    pts = []
    pts += box_face(f"{f}_proximal", X, +1, (3, 6))
    pts += box_face(f"{f}_medial", X, +1, (3, 5))
    pts += box_face(f"{f}_distal", X, +1, (3, 3))   # mostly covered by the tip capsule
    pts += cylinder_side(f"{f}_tip", (-45, -22.5, 0, 22.5, 45), 3)
    pts += sphere_cap(f"{f}_tip", (35, 65), (-45, 0, 45))
    return pts


def thumb_pad() -> list[dict]:
    pts = []
    # the lower part of the proximal link's pad sinks into the palm box at small thj0
    # (the pair is excluded from self-collision), so its grid starts 7 mm up
    pts += box_face("th_proximal", X, +1, (3, 3), z_from=0.007)
    pts += box_face("th_medial", X, +1, (3, 6))
    pts += box_face("th_distal", X, +1, (3, 5))     # the part the tip capsule leaves free
    pts += cylinder_side("th_tip", (-45, -22.5, 0, 22.5, 45), 3)
    pts += sphere_cap("th_tip", (35, 65), (-45, 0, 45))
    return pts


def finger_side(f: str, sign: int) -> list[dict]:
    """Lateral points of finger ``f`` on its ``sign * y`` side."""
    pts = []
    pts += box_face(f"{f}_proximal", Y, sign, (3, 6))
    pts += box_face(f"{f}_medial", Y, sign, (3, 5))
    pts += box_face(f"{f}_distal", Y, sign, (3, 3))
    pts += cylinder_side(f"{f}_tip", tuple(sign * a for a in (60, 90, 120)), 4)
    pts += sphere_cap(f"{f}_tip", (50,), (sign * 90,))
    return pts


# -------------------------------------------------------------------------- palm

def thumb_shadow() -> list[tuple[float, float, float, float]]:
    """(y_min, y_max, z_min, z_max) rectangles of the palm face that the thumb's base
    and proximal boxes reach through or cover, over a sweep of thj0 (and thj1)."""
    face_x = the_box("palm")["center"][0] + the_box("palm")["half"][0]
    j0, j1 = JOINTS["thj0"], JOINTS["thj1"]
    corners = lambda box: np.array([box["center"] + box["half"] * np.array([sx, sy, sz])
                                    for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    rects = []
    for q0 in np.linspace(*j0["limits"], 25):
        R0 = j0["R"] @ axis_angle(j0["axis"], q0)
        boxes = [(corners(the_box("th_base")) @ R0.T + j0["xyz"])]
        for q1 in np.linspace(*j1["limits"], 9):
            R1 = R0 @ j1["R"] @ axis_angle(j1["axis"], q1)
            t1 = R0 @ j1["xyz"] + j0["xyz"]
            boxes.append(corners(the_box("th_proximal")) @ R1.T + t1)
        for w in boxes:
            if w[:, 0].max() > face_x - PALM_MARGIN:   # reaches the palm surface
                rects.append((w[:, 1].min() - PALM_MARGIN, w[:, 1].max() + PALM_MARGIN,
                              w[:, 2].min() - PALM_MARGIN, w[:, 2].max() + PALM_MARGIN))
    return rects


def palm() -> list[dict]:
    """Grid on the palm's grasping (+x) face, leaving out where the thumb base sits."""
    box = the_box("palm")
    c, h = box["center"], box["half"]
    rects = thumb_shadow()
    out = []
    for y in np.linspace(c[1] - h[1] + 3 * INSET, c[1] + h[1] - 3 * INSET, 8):
        for z in np.linspace(c[2] - h[2] + 2 * INSET, c[2] + h[2] - 2 * INSET, 8):
            if any(y0 <= y <= y1 and z0 <= z <= z1 for y0, y1, z0, z1 in rects):
                continue
            out.append(entry("palm", (c[0] + h[0], y, z), (-1.0, 0.0, 0.0)))
    return out


def main() -> None:
    groups = {
        "index_pad": finger_pad("ff"),
        "middle_pad": finger_pad("mf"),
        "ring_pad": finger_pad("rf"),
        "thumb_pad": thumb_pad(),
        "palm": palm(),
        "index_side_middle": finger_side("ff", -1),
        "middle_side_index": finger_side("mf", +1),
        "middle_side_ring": finger_side("mf", -1),
        "ring_side_middle": finger_side("rf", +1),
    }
    OUT.write_text(json.dumps({"groups": groups}, indent=1) + "\n")
    for name, pts in groups.items():
        per_link: dict[str, int] = {}
        for p in pts:
            per_link[p["link"]] = per_link.get(p["link"], 0) + 1
        print(f"{name:18s} {len(pts):3d}  " + ", ".join(f"{k} {v}" for k, v in per_link.items()))


if __name__ == "__main__":
    main()
