"""Objects as URDF assets, for simulators that load bodies from files (Isaac Gym).

Each object becomes one link: its convex pieces as collision meshes (OBJ files
beside the URDF, so the simulator collides exactly the pieces MuJoCo collides) and
the real mesh's mass properties as the link's inertial, so the density of the
protocol holds without the simulator recomputing it from the pieces.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np

from seqgrasp_core.validation.scene import SceneObject


def write_obj(path: Path, vertices: np.ndarray, faces: np.ndarray) -> None:
    """A Wavefront OBJ of one piece (metres; OBJ indices are 1-based)."""
    lines = [f"v {x:.9g} {y:.9g} {z:.9g}" for x, y, z in np.asarray(vertices)]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in np.asarray(faces)]
    path.write_text("\n".join(lines) + "\n")


def object_urdf(folder: Path, name: str, body: SceneObject) -> Path:
    """Write ``name``.urdf and its pieces' OBJ files into ``folder``; returns the URDF.

    The link's frame is the object's frame (the frame of its mesh and of the run
    file's poses); the inertial is ``body.mass`` kg at ``body.com`` with
    ``body.inertia`` kg·m² about it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    collisions = []
    for i, (vertices, faces) in enumerate(body.pieces):
        piece = f"{name}_piece{i}.obj"
        write_obj(folder / piece, vertices, faces)
        collisions.append(f'    <collision><geometry><mesh filename={quoteattr(piece)}/>'
                          f'</geometry></collision>')
    c, m = body.com, body.inertia
    text = "\n".join([
        '<?xml version="1.0"?>',
        f"<robot name={quoteattr(name)}>",
        f"  <link name={quoteattr(name)}>",
        "    <inertial>",
        f'      <origin xyz="{c[0]:.9g} {c[1]:.9g} {c[2]:.9g}" rpy="0 0 0"/>',
        f'      <mass value="{body.mass:.9g}"/>',
        f'      <inertia ixx="{m[0, 0]:.9g}" ixy="{m[0, 1]:.9g}" ixz="{m[0, 2]:.9g}" '
        f'iyy="{m[1, 1]:.9g}" iyz="{m[1, 2]:.9g}" izz="{m[2, 2]:.9g}"/>',
        "    </inertial>",
        *collisions,
        "  </link>",
        "</robot>",
        ""])
    path = folder / f"{name}.urdf"
    path.write_text(text)
    return path
