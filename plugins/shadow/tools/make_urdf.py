"""Write ``plugins/shadow/shadow_right.urdf`` from the MuJoCo Menagerie MJCF of the hand.

Run once, with the path of ``shadow_hand/right_hand.xml`` from mujoco_menagerie::

    python plugins/shadow/tools/make_urdf.py PATH/TO/right_hand.xml

What it does (see ``../README.md`` for the reasons):

* the root link is the MJCF body ``rh_palm``; the forearm, the wrist and the two
  wrist joints (``rh_WRJ2``, ``rh_WRJ1``) are dropped (the palm is the hand frame);
* one URDF link per MJCF body below the palm, with the body's name; one revolute joint
  per MJCF joint, with the joint's name; ``origin`` = the body's ``pos`` and ``quat``
  (as roll-pitch-yaw), ``axis`` and ``limit`` from the joint's default classes;
* collision: MJCF boxes (half sizes) become URDF boxes (full sizes), capsules become a
  cylinder plus two spheres, cylinders and spheres carry over; the distal links collide
  as meshes in the MJCF, so they get the capsules in ``DISTAL`` (our numbers);
* inertials are the MJCF's (``pos``, ``quat``, ``diaginertia``, ``mass``).

Needs numpy and scipy.
"""

from __future__ import annotations

import sys
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "shadow_right.urdf"
ROOT_BODY = "rh_palm"
EFFORT, VELOCITY = "2.0", "6.0"  # not in the MJCF; URDF requires them

# Capsules (radius, z of the segment's two ends, in the link frame) that stand in for
# the MJCF's distal mesh collisions: fingertips 26 mm long (twice the MJCF's distal
# centre of mass at z = 0.0131), thumb tip 30 mm (twice 0.0146), radius a little below
# the middle phalanx's 9 mm.
DISTAL = {
    "rh_ffdistal": (0.0085, 0.0055, 0.0175),
    "rh_mfdistal": (0.0085, 0.0055, 0.0175),
    "rh_rfdistal": (0.0085, 0.0055, 0.0175),
    "rh_lfdistal": (0.0085, 0.0055, 0.0175),
    "rh_thdistal": (0.0095, 0.0065, 0.0200),
}


def _vec(text, default=(0.0, 0.0, 0.0)) -> np.ndarray:
    return np.array([float(v) for v in text.split()]) if text else np.array(default, float)


def _rpy(quat_wxyz) -> np.ndarray:
    w, x, y, z = quat_wxyz / np.linalg.norm(quat_wxyz)
    with warnings.catch_warnings():  # pitch ±90° (gimbal lock) still round-trips exactly
        warnings.simplefilter("ignore")
        return Rotation.from_quat([x, y, z, w]).as_euler("xyz")


def _fmt(values) -> str:
    return " ".join(f"{float(v):.9g}" if abs(v) > 1e-15 else "0" for v in values)


class Defaults:
    """MJCF ``<default>`` classes: each class's joint attributes, parents resolved."""

    def __init__(self, root: ET.Element) -> None:
        self.joint: dict[str, dict] = {}
        self.geom: dict[str, dict] = {}
        for top in root.find("default").findall("default"):
            self._walk(top, {}, {})

    def _walk(self, node, joint, geom) -> None:
        joint = {**joint, **(node.find("joint").attrib if node.find("joint") is not None else {})}
        geom = {**geom, **(node.find("geom").attrib if node.find("geom") is not None else {})}
        self.joint[node.get("class")] = joint
        self.geom[node.get("class")] = geom
        for child in node.findall("default"):
            self._walk(child, joint, geom)


def _body_frame(body) -> tuple[np.ndarray, np.ndarray]:
    return _vec(body.get("pos")), _vec(body.get("quat"), (1.0, 0.0, 0.0, 0.0))


def _collisions(body, defaults: Defaults, childclass: str) -> list[tuple[str, str, str]]:
    """``(geometry xml, xyz, rpy)`` of the body's collision geoms."""
    out = []
    for geom in body.findall("geom"):
        attrs = {**defaults.geom.get(geom.get("class", childclass), {}), **geom.attrib}
        if attrs.get("contype") == "0" and attrs.get("conaffinity") == "0":
            continue  # visual
        kind = attrs.get("type", "sphere")
        pos = _vec(attrs.get("pos"))
        quat = _vec(attrs.get("quat"), (1.0, 0.0, 0.0, 0.0))
        rot = Rotation.from_quat(np.r_[quat[1:], quat[0]] / np.linalg.norm(quat))
        rpy = _fmt(_rpy(quat))
        size = _vec(attrs.get("size"))
        if kind == "box":
            out.append((f'<box size="{_fmt(2 * size)}"/>', _fmt(pos), rpy))
        elif kind == "sphere":
            out.append((f'<sphere radius="{size[0]:.9g}"/>', _fmt(pos), rpy))
        elif kind == "cylinder":
            out.append((f'<cylinder radius="{size[0]:.9g}" length="{2 * size[1]:.9g}"/>',
                        _fmt(pos), rpy))
        elif kind == "capsule":
            out += _capsule(size[0], size[1], pos, rot)
        elif kind == "mesh":
            name = body.get("name")
            r, z0, z1 = DISTAL[name]
            out += _capsule(r, (z1 - z0) / 2, np.array([0, 0, (z0 + z1) / 2]), Rotation.identity())
        else:
            raise ValueError(f"geom type {kind} in body {body.get('name')}")
    return out


def _capsule(r, half, pos, rot) -> list[tuple[str, str, str]]:
    axis = rot.apply([0.0, 0.0, 1.0])
    rpy = _fmt(rot.as_euler("xyz"))
    return [(f'<cylinder radius="{r:.9g}" length="{2 * half:.9g}"/>', _fmt(pos), rpy),
            (f'<sphere radius="{r:.9g}"/>', _fmt(pos + half * axis), "0 0 0"),
            (f'<sphere radius="{r:.9g}"/>', _fmt(pos - half * axis), "0 0 0")]


def _link_xml(body, defaults: Defaults, childclass: str) -> str:
    name = body.get("name")
    inertial = body.find("inertial")
    ipos = _vec(inertial.get("pos"))
    iquat = _vec(inertial.get("quat"), (1.0, 0.0, 0.0, 0.0))
    ixx, iyy, izz = _vec(inertial.get("diaginertia"))
    lines = [f'  <link name="{name}">',
             "    <inertial>",
             f'      <origin xyz="{_fmt(ipos)}" rpy="{_fmt(_rpy(iquat))}"/>',
             f'      <mass value="{float(inertial.get("mass")):.9g}"/>',
             f'      <inertia ixx="{ixx:.9g}" ixy="0" ixz="0" iyy="{iyy:.9g}" iyz="0" izz="{izz:.9g}"/>',
             "    </inertial>"]
    for geometry, xyz, rpy in _collisions(body, defaults, childclass):
        for tag in ("visual", "collision"):
            lines += [f"    <{tag}>", f'      <origin xyz="{xyz}" rpy="{rpy}"/>',
                      f"      <geometry>{geometry}</geometry>", f"    </{tag}>"]
    lines.append("  </link>")
    return "\n".join(lines)


def _joint_xml(body, parent: str, defaults: Defaults, childclass: str) -> str:
    joint = body.find("joint")
    attrs = {**defaults.joint.get(joint.get("class", childclass), {}), **joint.attrib}
    pos, quat = _body_frame(body)
    axis = _vec(attrs["axis"])
    lo, hi = _vec(attrs["range"])
    damping = float(attrs.get("damping", 0.0))
    return "\n".join([
        f'  <joint name="{joint.get("name")}" type="revolute">',
        f'    <parent link="{parent}"/>', f'    <child link="{body.get("name")}"/>',
        f'    <origin xyz="{_fmt(pos)}" rpy="{_fmt(_rpy(quat))}"/>',
        f'    <axis xyz="{_fmt(axis / np.linalg.norm(axis))}"/>',
        f'    <limit lower="{lo:.9g}" upper="{hi:.9g}" effort="{EFFORT}" velocity="{VELOCITY}"/>',
        f'    <dynamics damping="{damping:.9g}"/>',
        "  </joint>"])


def convert(mjcf: Path) -> str:
    root = ET.parse(mjcf).getroot()
    defaults = Defaults(root)
    palm = next(b for b in root.iter("body") if b.get("name") == ROOT_BODY)
    childclass = "right_hand"  # the forearm's childclass, inherited by every body
    links, joints = [], []

    def walk(body, parent):
        links.append(_link_xml(body, defaults, childclass))
        if parent is not None:
            joints.append(_joint_xml(body, parent, defaults, childclass))
        for child in body.findall("body"):
            walk(child, body.get("name"))

    walk(palm, None)
    header = (
        '<?xml version="1.0"?>\n'
        "<!-- Right Shadow Hand (E3M5), written by tools/make_urdf.py from mujoco_menagerie\n"
        "     shadow_hand/right_hand.xml (Apache-2.0, Copyright 2022 Shadow Robot Company Ltd;\n"
        "     see LICENSE and README.md in this folder). Root link rh_palm (wrist joints\n"
        "     dropped); collision geometry uses URDF primitives only. -->\n"
        '<robot name="shadow_right">\n'
        "  <mujoco>\n"
        '    <compiler discardvisual="true" fusestatic="false" angle="radian"/>\n'
        "  </mujoco>\n")
    return header + "\n".join(links) + "\n" + "\n".join(joints) + "\n</robot>\n"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    OUT.write_text(convert(Path(sys.argv[1])))
    print(f"wrote {OUT}")
