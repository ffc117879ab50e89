"""Writes the bundled demo objects into seqgrasp_core/data/demo_objects/.

Small watertight meshes of different shapes, in metres, sized like the paper's
objects (longest edge 0.06–0.10 m). Run from the repo root:
``python tools/make_demo_objects.py``.
"""

from pathlib import Path

import numpy as np
import trimesh

OUT = Path(__file__).resolve().parents[1] / "seqgrasp_core" / "data" / "demo_objects"


def shapes() -> dict[str, trimesh.Trimesh]:
    box = trimesh.creation.box(extents=(0.045, 0.035, 0.07))
    can = trimesh.creation.cylinder(radius=0.022, height=0.075, sections=32)
    ball = trimesh.creation.icosphere(subdivisions=3, radius=0.032)
    capsule = trimesh.creation.capsule(height=0.04, radius=0.017, count=(16, 16))
    ring = trimesh.creation.torus(major_radius=0.03, minor_radius=0.011,
                                  major_sections=32, minor_sections=16)
    # An L-shaped bracket: two boxes unioned (non-convex).
    a = trimesh.creation.box(extents=(0.07, 0.025, 0.025))
    b = trimesh.creation.box(extents=(0.025, 0.025, 0.06))
    b.apply_translation((-0.0225, 0.0, 0.0175))
    bracket = trimesh.boolean.union([a, b], engine="manifold")
    return {"box.stl": box, "can.obj": can, "ball.ply": ball, "capsule.off": capsule,
            "ring.obj": ring, "bracket.stl": bracket}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, mesh in shapes().items():
        assert mesh.is_watertight, name
        mesh.vertices -= mesh.bounding_box.centroid
        mesh.export(OUT / name)
        print(f"{name}: extents {np.round(mesh.extents, 3)} m, {len(mesh.faces)} faces")


if __name__ == "__main__":
    main()
