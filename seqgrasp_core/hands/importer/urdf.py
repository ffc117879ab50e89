"""Writing a :class:`~.tree.Robot` as URDF text.

Collision geometry is primitives only (a capsule as a cylinder and two spheres, see
:meth:`.fit.Shape.pieces`), each repeated as the link's visual; every link with mass
has its inertial (full tensor); the ``<mujoco>`` element keeps fixed-joint links as
bodies when MuJoCo loads the file.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

import numpy as np

from seqgrasp_core.hands.importer.transforms import rpy
from seqgrasp_core.hands.importer.tree import Joint, Link, Robot

VELOCITY = 10.0  # every joint's velocity limit (rad/s, m/s): MuJoCo models have none


def _num(x: float) -> str:
    v = float(x)
    return "0" if abs(v) < 1e-15 else f"{v:.10g}"


def _vec(v) -> str:
    return " ".join(_num(c) for c in v)


def _origin(t: np.ndarray) -> str:
    return f'<origin xyz="{_vec(t[:3, 3])}" rpy="{_vec(rpy(t[:3, :3]))}"/>'


def _geometry(kind: str, size) -> str:
    if kind == "box":
        return f'<box size="{_vec(size)}"/>'
    if kind == "sphere":
        return f'<sphere radius="{_num(size[0])}"/>'
    return f'<cylinder radius="{_num(size[0])}" length="{_num(size[1])}"/>'


def _link(link: Link) -> list[str]:
    out = [f"  <link name={quoteattr(link.name)}>"]
    if link.inertial is not None:
        i, c = link.inertial.inertia, link.inertial.com
        out += ["    <inertial>",
                f'      <origin xyz="{_vec(c)}" rpy="0 0 0"/>',
                f'      <mass value="{_num(link.inertial.mass)}"/>',
                (f'      <inertia ixx="{_num(i[0, 0])}" ixy="{_num(i[0, 1])}" '
                 f'ixz="{_num(i[0, 2])}" iyy="{_num(i[1, 1])}" iyz="{_num(i[1, 2])}" '
                 f'izz="{_num(i[2, 2])}"/>'),
                "    </inertial>"]
    for shape in link.shapes:
        for piece in shape.pieces():
            geometry = _geometry(piece.kind, piece.size)
            for tag in ("visual", "collision"):
                out.append(f"    <{tag}>{_origin(piece.pose)}<geometry>{geometry}</geometry>"
                           f"</{tag}>")
    out.append("  </link>")
    return out


def _joint(j: Joint) -> list[str]:
    out = [f"  <joint name={quoteattr(j.name)} type={quoteattr(j.kind)}>",
           f"    <parent link={quoteattr(j.parent)}/>",
           f"    <child link={quoteattr(j.child)}/>",
           f"    {_origin(j.origin)}"]
    if j.kind != "fixed":
        out += [f'    <axis xyz="{_vec(j.axis)}"/>',
                (f'    <limit lower="{_num(j.lower)}" upper="{_num(j.upper)}" '
                 f'effort="{_num(j.effort)}" velocity="{_num(VELOCITY)}"/>')]
        if j.damping or j.friction:
            out.append(f'    <dynamics damping="{_num(j.damping)}" '
                       f'friction="{_num(j.friction)}"/>')
    out.append("  </joint>")
    return out


def urdf_text(robot: Robot, comment: str) -> str:
    """The URDF file for ``robot``, with ``comment`` (provenance) at the top."""
    lines = ['<?xml version="1.0"?>',
             f"<!-- {escape(comment).replace('--', '- -')} -->",
             f"<robot name={quoteattr(robot.name)}>",
             '  <mujoco><compiler discardvisual="true" fusestatic="false"/></mujoco>']
    for link in robot.links:
        lines += _link(link)
    for joint in robot.joints:
        lines += _joint(joint)
    lines += ["</robot>", ""]
    return "\n".join(lines)
