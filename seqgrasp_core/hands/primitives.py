"""Collision geometry of a URDF, as primitives in link frames, and what derives from it.

Only the shape facts live here (no torch): surface samples of each link's collision
primitives, and the spheres that approximate the links for self-penetration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqgrasp_core.errors import HandSpecError
from seqgrasp_core.hands.spec import refuse_mjcf


@dataclass(frozen=True)
class Primitive:
    """One collision primitive of ``link``: ``kind`` in box/sphere/cylinder.

    ``size`` is the box's full extents, ``(r,)`` for a sphere, ``(r, length)`` for a
    cylinder along its local z; ``origin`` ``(4, 4)`` places it in the link frame.
    """

    link: str
    kind: str
    size: tuple[float, ...]
    origin: np.ndarray

    def trimesh(self):
        import trimesh

        if self.kind == "box":
            m = trimesh.creation.box(extents=self.size)
        elif self.kind == "sphere":
            m = trimesh.creation.icosphere(subdivisions=2, radius=self.size[0])
        elif self.kind == "cylinder":
            m = trimesh.creation.cylinder(radius=self.size[0], height=self.size[1], sections=24)
        else:  # pragma: no cover - filtered on load
            raise ValueError(self.kind)
        m.apply_transform(self.origin)
        return m

    def spheres(self) -> tuple[np.ndarray, np.ndarray]:
        """Spheres ``(centres (S, 3) in the link frame, radii (S,))`` filling the primitive."""
        if self.kind == "sphere":
            centres, radii = np.zeros((1, 3)), np.array([self.size[0]])
        elif self.kind == "cylinder":
            r, length = self.size
            n = max(1, int(np.ceil(length / r)))
            z = np.linspace(-length / 2 + r / 2, length / 2 - r / 2, n) if length > r else [0.0]
            centres = np.array([[0.0, 0.0, zi] for zi in z])
            radii = np.full(len(centres), r)
        else:
            # One row of spheres along the longest axis, as wide as the middle axis:
            # coarse on purpose (few spheres keep the all-pairs test cheap) and on the
            # safe side, since the spheres cover the whole box.
            half = np.asarray(self.size) / 2
            order = np.argsort(half)
            r, long_axis = half[order[1]], order[2]
            extent = max(half[long_axis] - r, 0.0)
            n = int(np.ceil(2 * extent / r)) + 1 if extent > 0 else 1
            centres = np.zeros((n, 3))
            centres[:, long_axis] = np.linspace(-extent, extent, n)
            radii = np.full(n, r)
        homog = np.c_[centres, np.ones(len(centres))] @ self.origin.T
        return homog[:, :3], radii


def read_collision_primitives(urdf_path) -> tuple[list[Primitive], dict[str, str | None]]:
    """Collision primitives of every link and each link's parent link (``None`` at the root).

    Mesh collisions are refused: seqgrasp's hand contract is primitives only, so
    penetration and physics agree on one geometry. An MJCF model is refused with the
    command that converts it.
    """
    import logging

    import yourdfpy

    refuse_mjcf(urdf_path)

    # yourdfpy warns about simulator-specific tags (e.g. <mujoco>) that URDFs may carry.
    log = logging.getLogger("yourdfpy")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        robot = yourdfpy.URDF.load(str(urdf_path), build_scene_graph=False, load_meshes=False,
                                   build_collision_scene_graph=False)
    except Exception as exc:
        raise HandSpecError(f"cannot read URDF {urdf_path}: {exc}", "fix the URDF") from None
    finally:
        log.setLevel(level)
    prims: list[Primitive] = []
    for link in robot.robot.links:
        for col in link.collisions:
            g = col.geometry
            origin = col.origin if col.origin is not None else np.eye(4)
            if g.box is not None:
                prims.append(Primitive(link.name, "box", tuple(map(float, g.box.size)), origin))
            elif g.sphere is not None:
                prims.append(Primitive(link.name, "sphere", (float(g.sphere.radius),), origin))
            elif g.cylinder is not None:
                prims.append(Primitive(link.name, "cylinder",
                                       (float(g.cylinder.radius), float(g.cylinder.length)),
                                       origin))
            else:
                raise HandSpecError(f"link {link.name!r} of {urdf_path} has a mesh collision",
                                    "use box, sphere or cylinder collision primitives")
    parents: dict[str, str | None] = {link.name: None for link in robot.robot.links}
    for joint in robot.robot.joints:
        parents[joint.child] = joint.parent
    return prims, parents


def sample_primitives(prims: list[Primitive], count: int, seed: int = 0
                      ) -> tuple[np.ndarray, list[str]]:
    """Area-weighted surface samples of the union of each link's primitives.

    Returns ``(points (M, 3) in link frames, link names (M,))`` with about ``count``
    points in total, excluding samples buried inside another primitive of the same
    link (they can never touch anything).
    """
    import trimesh

    rng = np.random.default_rng(seed)
    meshes = [p.trimesh() for p in prims]
    areas = np.array([m.area for m in meshes])
    per = np.maximum(4, np.round(count * areas / areas.sum())).astype(int)
    points, links = [], []
    for prim, mesh, n in zip(prims, meshes, per):
        pts, _ = trimesh.sample.sample_surface(mesh, int(n), seed=int(rng.integers(1 << 31)))
        keep = np.ones(len(pts), dtype=bool)
        for other, omesh in zip(prims, meshes):
            if other is not prim and other.link == prim.link:
                keep &= ~omesh.contains(pts) if omesh.is_watertight else keep
        points.append(pts[keep])
        links += [prim.link] * int(keep.sum())
    return np.concatenate(points), links
