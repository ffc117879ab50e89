"""Penetration depth at the generated configuration, on the real meshes.

What is measured (metres; reported in mm):

* hand → object: points on the surfaces of the hand's collision primitives (as the
  URDF defines them, placed by forward kinematics at the row's joints), spaced
  ``spacing`` apart and including edges and corners, are tested against each held
  object's real mesh with exact signed distances
  (:func:`seqgrasp_core.sdf.exact_signed_distance`); the depth is ``−min(sd)``.
* object → hand: each object's vertices and ``object_samples`` area samples are
  tested against every primitive with its analytic signed distance.
* object ↔ object: the same surface points of object ``i`` against object ``j``'s
  real mesh, both ways, for every pair of held objects.

The step's penetration is the largest of these depths (0 when nothing overlaps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BOX, SPHERE, CAPSULE, CYLINDER = 6, 2, 3, 5  # mjtGeom values
DEFAULT_SPACING = 0.001
OBJECT_SAMPLES = 3000


@dataclass(frozen=True)
class Primitive:
    """A hand collision primitive: mjtGeom ``kind`` and MuJoCo ``size`` (half sizes)."""

    geom: int
    kind: int
    size: np.ndarray
    rbound: float        # radius of a sphere about the geom's centre that holds it
    samples: np.ndarray  # (P, 3) surface points in the geom frame


def _grid(n_a: float, n_b: float, spacing: float) -> np.ndarray:
    """Points of a ``[-a, a] × [-b, b]`` grid, edges included, ``(P, 2)``."""
    a = np.linspace(-n_a, n_a, max(2, int(np.ceil(2 * n_a / spacing)) + 1))
    b = np.linspace(-n_b, n_b, max(2, int(np.ceil(2 * n_b / spacing)) + 1))
    return np.stack(np.meshgrid(a, b, indexing="ij"), axis=-1).reshape(-1, 2)


def _sphere(r: float, spacing: float) -> np.ndarray:
    n = max(20, int(np.ceil(4 * np.pi * r * r / spacing ** 2)))
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    phi = np.pi * (1 + 5 ** 0.5) * i
    rho = np.sqrt(1 - z * z)
    return r * np.stack((rho * np.cos(phi), rho * np.sin(phi), z), axis=1)


def _ring(r: float, spacing: float) -> np.ndarray:
    n = max(8, int(np.ceil(2 * np.pi * r / spacing)))
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack((r * np.cos(t), r * np.sin(t)), axis=1)


def primitive_samples(kind: int, size: np.ndarray, spacing: float) -> np.ndarray:
    """Surface points ``(P, 3)`` of a primitive in its own frame."""
    if kind == BOX:
        out = []
        for axis in range(3):
            u, v = [a for a in range(3) if a != axis]
            g = _grid(size[u], size[v], spacing)
            for sign in (-1.0, 1.0):
                p = np.zeros((len(g), 3))
                p[:, axis], p[:, u], p[:, v] = sign * size[axis], g[:, 0], g[:, 1]
                out.append(p)
        return np.concatenate(out)
    if kind == SPHERE:
        return _sphere(size[0], spacing)
    r, h = size[0], size[1]
    ring = _ring(r, spacing)
    zs = np.linspace(-h, h, max(2, int(np.ceil(2 * h / spacing)) + 1))
    side = np.concatenate([np.column_stack((ring, np.full(len(ring), z))) for z in zs])
    if kind == CAPSULE:
        s = _sphere(r, spacing)
        caps = np.concatenate((s[s[:, 2] > 0] + [0, 0, h], s[s[:, 2] <= 0] - [0, 0, h]))
        return np.concatenate((side, caps))
    if kind == CYLINDER:
        disks = [np.zeros((1, 2))]
        for rr in np.arange(spacing, r, spacing):
            disks.append(_ring(rr, spacing))
        disk = np.concatenate(disks + [ring])
        caps = [np.column_stack((disk, np.full(len(disk), z))) for z in (-h, h)]
        return np.concatenate([side] + caps)
    raise ValueError(f"unsupported hand collision geometry (mjtGeom {kind})")


def primitive_sdf(kind: int, size: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Analytic signed distance ``(P,)`` of points ``(P, 3)`` in the primitive's frame."""
    if kind == BOX:
        q = np.abs(p) - size[:3]
        return np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(axis=1), 0)
    if kind == SPHERE:
        return np.linalg.norm(p, axis=1) - size[0]
    r, h = size[0], size[1]
    if kind == CAPSULE:
        c = p.copy()
        c[:, 2] = p[:, 2] - np.clip(p[:, 2], -h, h)
        return np.linalg.norm(c, axis=1) - r
    if kind == CYLINDER:
        d = np.stack((np.linalg.norm(p[:, :2], axis=1) - r, np.abs(p[:, 2]) - h), axis=1)
        return np.minimum(d.max(axis=1), 0) + np.linalg.norm(np.maximum(d, 0), axis=1)
    raise ValueError(f"unsupported hand collision geometry (mjtGeom {kind})")


def hand_primitives(model, hand_geoms: np.ndarray, spacing: float = DEFAULT_SPACING
                    ) -> list[Primitive]:
    """The hand's collision primitives of a compiled scene, with surface samples."""
    return [Primitive(int(g), int(model.geom_type[g]), model.geom_size[g].copy(),
                      float(model.geom_rbound[g]),
                      primitive_samples(int(model.geom_type[g]), model.geom_size[g], spacing))
            for g in hand_geoms]


def object_samples(mesh, n: int = OBJECT_SAMPLES) -> np.ndarray:
    """A mesh's vertices plus ``n`` area samples ``(P, 3)``, deterministic."""
    import trimesh

    pts, _ = trimesh.sample.sample_surface(mesh, n, seed=0)
    return np.concatenate((np.asarray(mesh.vertices, dtype=float), np.asarray(pts, float)))


def _into_mesh(mesh, points: np.ndarray) -> float:
    """Largest depth of ``points`` (mesh frame) inside ``mesh``; 0 if none."""
    from ..sdf import exact_signed_distance

    lo, hi = mesh.bounds
    near = np.all((points >= lo) & (points <= hi), axis=1)
    if not near.any():
        return 0.0
    return max(0.0, -float(exact_signed_distance(mesh, points[near]).min()))


def _apply(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    return p @ t[:3, :3].T + t[:3, 3]


def max_penetration(primitives: list[Primitive], geom_xpos: np.ndarray,
                    geom_xmat: np.ndarray, meshes: list, samples: list[np.ndarray],
                    object_in_hand: list[np.ndarray]) -> float:
    """The step's largest penetration depth (metres), see the module docstring.

    ``geom_xpos`` ``(G, 3)`` / ``geom_xmat`` ``(G, 9)`` place the primitives in the hand
    frame (MuJoCo's ``data`` after forward kinematics); ``meshes[i]`` is object i's real
    mesh, ``samples[i]`` its surface points (object frame) and ``object_in_hand[i]``
    its 4×4 pose in the hand frame.
    """
    worst = 0.0
    for mesh, pts, pose in zip(meshes, samples, object_in_hand):
        lo, hi = mesh.bounds
        centre = _apply(pose, ((lo + hi) / 2)[None])[0]
        radius = float(np.linalg.norm(hi - lo)) / 2
        near = [p for p in primitives
                if np.linalg.norm(geom_xpos[p.geom] - centre) <= p.rbound + radius]
        if not near:
            continue
        frames = [_frame(geom_xpos, geom_xmat, p.geom) for p in near]
        hand_pts = np.concatenate([_apply(f, p.samples) for f, p in zip(frames, near)])
        worst = max(worst, _into_mesh(mesh, _apply(np.linalg.inv(pose), hand_pts)))
        in_hand = _apply(pose, pts)
        for prim, frame in zip(near, frames):
            local = (in_hand - frame[:3, 3]) @ frame[:3, :3]
            worst = max(worst, -float(primitive_sdf(prim.kind, prim.size, local).min()))
    for i in range(len(meshes)):
        for j in range(len(meshes)):
            if i != j:
                i_in_j = np.linalg.inv(object_in_hand[j]) @ object_in_hand[i]
                worst = max(worst, _into_mesh(meshes[j], _apply(i_in_j, samples[i])))
    return max(worst, 0.0)


def _frame(xpos: np.ndarray, xmat: np.ndarray, g: int) -> np.ndarray:
    t = np.eye(4)
    t[:3, :3] = xmat[g].reshape(3, 3)
    t[:3, 3] = xpos[g]
    return t
