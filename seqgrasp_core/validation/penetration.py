"""Penetration depth at the generated configuration, on the real meshes.

What is measured (metres; reported in mm):

* hand → object: points on the surfaces of the hand's collision primitives (as the
  URDF defines them, placed by forward kinematics at the row's joints), spaced
  ``spacing`` apart and including edges and corners, are tested against each held
  object's real mesh with exact signed distances
  (:class:`~seqgrasp_core.validation.mesh_distance.MeshDistance`); the depth is
  ``−min(sd)``.
* object → hand: each object's vertices and ``object_samples`` area samples are
  tested against every primitive with its analytic signed distance.
* object ↔ object: the same surface points of object ``i`` against object ``j``'s
  real mesh, both ways, for every pair of held objects.

The step's penetration is the largest of these depths (0 when nothing overlaps).

How it is computed fast without changing what is measured: every point set is
stored in clusters (:class:`Cloud`, points binned into cells of ``CELL`` metres,
each with a centre and a radius), and a cluster is skipped only when a conservative
test proves that none of its points can lie inside the other shape (bounding
spheres, the mesh's bounding box, the planes of its convex hull, or a primitive's
1-Lipschitz signed distance at the cluster centre exceeding the cluster's radius).
Inside a convex mesh the signed distance is exactly the largest face-plane
distance, so convex objects need no nearest-triangle search at all; for a
non-convex mesh the exact signed distance at a cluster's centre bounds its points'
depth too, and it is computed for the points that lie deeper inside the convex hull
than the deepest point found so far. Skipped points cannot change the maximum, so
the result equals the brute-force one. The search runs in C (``depth.c``, see
:mod:`.kernels`) when it is compiled; the numpy functions ``*_reference`` are the
same search, used without a compiler.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqgrasp_core.validation.kernels import library
from seqgrasp_core.validation.mesh_distance import MeshDistance

BOX, SPHERE, CAPSULE, CYLINDER = 6, 2, 3, 5  # mjtGeom values
DEFAULT_SPACING = 0.001
OBJECT_SAMPLES = 3000
CELL = 0.005  # m: cluster cell size of the point sets (speed only, not the result)


@dataclass(frozen=True)
class Cloud:
    """Points ``(P, 3)`` sorted by cluster; cluster ``c`` is ``points[start[c]:start[c+1]]``."""

    points: np.ndarray
    start: np.ndarray    # (C + 1,)
    centre: np.ndarray   # (C, 3)
    radius: np.ndarray   # (C,) no point of the cluster is farther from its centre
    owner: np.ndarray    # (C,) which frame the cluster's points are in (see ``place``)

    @classmethod
    def of(cls, points: np.ndarray, cell: float = CELL,
           owner: np.ndarray | None = None) -> "Cloud":
        """Cluster ``points``; with ``owner`` (one int per point), clusters never mix
        owners (each owner's points are in its own frame)."""
        points = np.asarray(points, dtype=float).reshape(-1, 3)
        owner = np.zeros(len(points), np.int64) if owner is None else np.asarray(owner)
        keys = np.column_stack((owner, np.floor(points / cell).astype(np.int64)))
        _, label = np.unique(keys, axis=0, return_inverse=True)
        label = label.ravel()
        order = np.argsort(label, kind="stable")
        points, label, owner = points[order], label[order], owner[order]
        count = np.bincount(label)
        start = np.concatenate(([0], np.cumsum(count)))
        centre = np.add.reduceat(points, start[:-1], axis=0) / count[:, None]
        radius = np.maximum.reduceat(np.linalg.norm(points - centre[label], axis=1),
                                     start[:-1]) + 1e-9
        return cls(np.ascontiguousarray(points), start, centre, radius, owner[start[:-1]])

    def clusters_of(self, owners: np.ndarray | None) -> np.ndarray:
        """Indices of the clusters whose owner is marked in ``owners`` (bool per
        owner; all clusters for ``None``). Clusters are sorted by owner."""
        if owners is None:
            return np.arange(len(self.radius))
        bounds = np.searchsorted(self.owner, np.arange(len(owners) + 1))
        lo, hi = bounds[:-1][owners], bounds[1:][owners]
        n = hi - lo
        return np.arange(n.sum()) - np.repeat(np.cumsum(n) - n - lo, n)

    def select_ids(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The points of clusters ``ids`` and their owners."""
        lo, n = self.start[ids], self.start[ids + 1] - self.start[ids]
        first = np.cumsum(n) - n
        return (self.points[np.arange(n.sum()) - np.repeat(first - lo, n)],
                np.repeat(self.owner[ids], n))


def place(t: np.ndarray, points: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Points moved by ``t``: one 4×4, or ``(k, 4, 4)``, one per owner."""
    if t.ndim == 2:
        return points @ t[:3, :3].T + t[:3, 3]
    owners = np.unique(owner)
    if len(owners) == 1:
        return points @ t[owners[0], :3, :3].T + t[owners[0], :3, 3]
    m = t[owner]
    return (m[:, :3, 0] * points[:, :1] + m[:, :3, 1] * points[:, 1:2]
            + m[:, :3, 2] * points[:, 2:3] + m[:, :3, 3])


@dataclass(frozen=True)
class Primitive:
    """A hand collision primitive: mjtGeom ``kind`` and MuJoCo ``size`` (half sizes)."""

    geom: int
    kind: int
    size: np.ndarray
    rbound: float        # radius of a sphere about the geom's centre that holds it


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


@dataclass(frozen=True)
class HandSurface:
    """The hand's collision primitives and their surface samples, one cloud whose
    cluster owners are primitive indices (points in each primitive's frame)."""

    primitives: list[Primitive]
    samples: Cloud


def hand_primitives(model, hand_geoms: np.ndarray, spacing: float = DEFAULT_SPACING
                    ) -> HandSurface:
    """The hand's collision primitives of a compiled scene, with surface samples."""
    prims = [Primitive(int(g), int(model.geom_type[g]), model.geom_size[g].copy(),
                       float(model.geom_rbound[g])) for g in hand_geoms]
    pts = [primitive_samples(p.kind, p.size, spacing) for p in prims]
    owner = np.concatenate([np.full(len(x), i) for i, x in enumerate(pts)])
    return HandSurface(prims, Cloud.of(np.concatenate(pts), owner=owner))


def object_samples(mesh, n: int = OBJECT_SAMPLES) -> np.ndarray:
    """A mesh's vertices plus ``n`` area samples ``(P, 3)``, deterministic."""
    import trimesh

    pts, _ = trimesh.sample.sample_surface(mesh, n, seed=0)
    return np.concatenate((np.asarray(mesh.vertices, dtype=float), np.asarray(pts, float)))


@dataclass(frozen=True)
class Solid:
    """A held object's real mesh with what the depth tests need (object frame).

    ``planes`` ``(4, F)`` are unit outward normals and offsets (``n·x = d``) of the
    mesh's own faces when it is convex, else of its convex hull. A point with
    ``n·x > d`` for some plane is outside the hull, hence outside the mesh. For a
    point inside a convex mesh, ``max(n·x − d)`` over the face planes is exactly its
    signed distance (the nearest boundary point lies on the nearest face plane), so
    convex meshes need no other test; inside a non-convex mesh's hull the exact
    signed distance to the mesh decides.
    """

    lo: np.ndarray
    hi: np.ndarray
    centre: np.ndarray
    radius: float
    planes: np.ndarray
    convex: bool
    samples: Cloud  # vertices and area samples, see :func:`object_samples`
    cover: np.ndarray  # (4, D) supporting planes along fixed directions (a k-DOP)
    distance: MeshDistance | None  # exact signed distance, for a non-convex mesh


def face_planes(mesh) -> np.ndarray:
    """Distinct outward face planes ``(F, 4)`` ``[n, d]`` of a closed mesh."""
    keep = np.asarray(mesh.area_faces) > 1e-14
    n = np.asarray(mesh.face_normals, dtype=float)[keep]
    d = np.einsum("ij,ij->i", n, np.asarray(mesh.triangles, dtype=float)[keep, 0])
    planes = np.column_stack((n, d))
    _, first = np.unique(np.round(planes, 9), axis=0, return_index=True)
    return np.ascontiguousarray(planes[np.sort(first)])


def solid(mesh, n_samples: int = OBJECT_SAMPLES) -> Solid:
    """The :class:`Solid` of a watertight mesh (object frame, metres)."""
    lo, hi = (np.asarray(b, dtype=float) for b in mesh.bounds)
    convex = bool(mesh.is_convex)
    planes = np.ascontiguousarray(face_planes(mesh if convex else mesh.convex_hull).T)
    vertices = np.asarray(mesh.vertices, dtype=float)
    cover = np.ascontiguousarray(
        np.column_stack((_DIRECTIONS, (vertices @ _DIRECTIONS.T).max(axis=0))).T)
    centre = (lo + hi) / 2  # the sphere about it through the farthest vertex holds the mesh
    return Solid(lo, hi, centre,
                 float(np.linalg.norm(vertices - centre, axis=1).max()), planes, convex,
                 Cloud.of(object_samples(mesh, n_samples)), cover,
                 None if convex else MeshDistance(vertices, mesh.faces))


def _fibonacci(n: int) -> np.ndarray:
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    phi = np.pi * (1 + 5 ** 0.5) * i
    rho = np.sqrt(1 - z * z)
    return np.stack((rho * np.cos(phi), rho * np.sin(phi), z), axis=1)


# Directions of the cover planes: a mesh lies below its supporting plane along each,
# so a point above any of them is outside (a cheap first test before the face planes).
_DIRECTIONS = np.concatenate((np.eye(3), -np.eye(3), _fibonacci(42)))


_CHUNK = 8192  # points per plane test (bounds the (P, F) temporary)


def _plane_excess(planes: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``max_f (n_f·x − d_f)`` per point: > 0 outside the planes' intersection (for a
    convex mesh's face planes, −depth inside it). ``planes`` is ``(4, F)``, C-ordered
    (rows ``n_x, n_y, n_z, d``), so the product runs in BLAS."""
    normals, offsets = planes[:3], planes[3]
    out = np.empty(len(points))
    for i in range(0, len(points), _CHUNK):
        out[i:i + _CHUNK] = (points[i:i + _CHUNK] @ normals - offsets).max(axis=1)
    return out


_BATCH = 16  # clusters evaluated together, most promising first


def _address(a: np.ndarray, dtype) -> int:
    assert a.dtype == dtype and a.flags.c_contiguous  # what the C kernels read
    return a.ctypes.data


def _cloud_arguments(cloud: Cloud) -> list[int]:
    return [_address(cloud.points, np.float64), _address(cloud.start, np.int64),
            _address(cloud.centre, np.float64), _address(cloud.radius, np.float64)]


def depth_into(body: Solid, cloud: Cloud, t: np.ndarray, best: float = 0.0,
               active: np.ndarray | None = None) -> float:
    """``max(best, largest depth inside body's mesh of cloud placed by t)`` (into the
    object frame; ``t`` as in :func:`place`, ``active`` the owners to test).

    Runs in C (``depth.c``) when it is compiled, else :func:`depth_into_reference`."""
    lib = library()
    if lib is None:
        return depth_into_reference(body, cloud, t, best, active)
    t = np.ascontiguousarray(t, dtype=np.float64)
    flags = None if active is None else np.ascontiguousarray(active, dtype=np.uint8)
    tree = None
    if body.distance is not None:
        tree = np.array(body.distance.tree_pointers(), dtype=np.uintp)
    depth = lib.depth_into_solid(
        *_cloud_arguments(cloud), _address(cloud.owner, np.int64), len(cloud.radius),
        t.ctypes.data, 1 if t.ndim == 2 else len(t),
        None if flags is None else flags.ctypes.data,
        _address(body.lo, np.float64), _address(body.hi, np.float64),
        _address(body.centre, np.float64), body.radius,
        _address(body.planes, np.float64), body.planes.shape[1],
        _address(body.cover, np.float64), body.cover.shape[1],
        None if tree is None else tree.ctypes.data, best)
    if np.isnan(depth):  # the kernel's only failure: no memory for its cluster list
        raise MemoryError("the penetration search could not allocate its cluster list")
    return depth


def depth_into_reference(body: Solid, cloud: Cloud, t: np.ndarray, best: float = 0.0,
                         active: np.ndarray | None = None) -> float:
    """:func:`depth_into` in numpy.

    Branch and bound: a signed distance is 1-Lipschitz and never below the hull's
    plane excess, so no point of a cluster (centre ``c``, radius ``r``) is deeper than
    ``r − excess(c)``; clusters are evaluated in decreasing order of that bound until
    it cannot beat the deepest point found (or ``best``, the caller's current worst).
    """
    idx = cloud.clusters_of(active)
    centre = place(t, cloud.centre[idx], cloud.owner[idx])
    r = cloud.radius[idx]
    keep = np.linalg.norm(centre - body.centre, axis=1) < body.radius + r
    keep &= np.all((centre > body.lo - r[:, None]) & (centre < body.hi + r[:, None]), axis=1)
    idx, centre, r = idx[keep], centre[keep], r[keep]
    if not len(idx):
        return best
    keep = _plane_excess(body.cover, centre) < r
    idx, centre, r = idx[keep], centre[keep], r[keep]
    if not len(idx):
        return best
    bound = r - _plane_excess(body.planes, centre)
    if body.distance is not None:  # 1-Lipschitz: tighter than the hull's bound
        bound = np.minimum(bound, r - body.distance(centre))
    order = np.argsort(-bound)
    idx, bound = idx[order], bound[order]
    i, batch = 0, _BATCH
    while i < len(idx) and bound[i] > best:
        points = place(t, *cloud.select_ids(idx[i:i + batch]))
        points = points[_plane_excess(body.cover, points) < 0]
        if len(points):
            # Inside the hull, the depth into it is −(plane excess); the mesh lies in
            # its hull, so no point is deeper into the mesh than into the hull.
            hull_depth = -_plane_excess(body.planes, points)
            if body.distance is None:
                best = max(best, float(hull_depth.max()))
            else:
                points = points[hull_depth > best]
                if len(points):
                    best = max(best, -float(body.distance(points).min()))
        i, batch = i + batch, batch * 2
    return best


def depth_into_primitive(prim: Primitive, cloud: Cloud, t: np.ndarray,
                         best: float = 0.0) -> float:
    """``max(best, largest depth inside prim of cloud placed by t)`` (into the geom
    frame, ``t`` one 4×4); clusters that cannot beat ``best`` are skipped (as in
    :func:`depth_into`). In C when it is compiled, else
    :func:`depth_into_primitive_reference`."""
    lib = library()
    if lib is None:
        return depth_into_primitive_reference(prim, cloud, t, best)
    t = np.ascontiguousarray(t, dtype=np.float64)
    size = np.ascontiguousarray(prim.size, dtype=np.float64)
    return lib.depth_into_primitive(*_cloud_arguments(cloud), len(cloud.radius),
                                    t.ctypes.data, prim.kind, size.ctypes.data,
                                    prim.rbound, best)


def depth_into_primitive_reference(prim: Primitive, cloud: Cloud, t: np.ndarray,
                                   best: float = 0.0) -> float:
    """:func:`depth_into_primitive` in numpy."""
    centre = place(t, cloud.centre, cloud.owner)
    r = cloud.radius
    idx = np.nonzero(np.linalg.norm(centre, axis=1) < prim.rbound + r)[0]
    if not len(idx):
        return best
    idx = idx[r[idx] - primitive_sdf(prim.kind, prim.size, centre[idx]) > best]
    if not len(idx):
        return best
    points = place(t, *cloud.select_ids(idx))
    return max(best, -float(primitive_sdf(prim.kind, prim.size, points).min()))


def _apply(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    return p @ t[:3, :3].T + t[:3, 3]


def max_penetration(hand: HandSurface, geom_xpos: np.ndarray, geom_xmat: np.ndarray,
                    bodies: list[Solid], object_in_hand: list[np.ndarray]) -> float:
    """The step's largest penetration depth (metres), see the module docstring: the
    larger of :func:`penetration_depths`."""
    return max(penetration_depths(hand, geom_xpos, geom_xmat, bodies, object_in_hand))


def penetration_depths(hand: HandSurface, geom_xpos: np.ndarray, geom_xmat: np.ndarray,
                       bodies: list[Solid], object_in_hand: list[np.ndarray]
                       ) -> tuple[float, float]:
    """``(hand–object, object–object)`` largest depths (metres, ≥ 0) of a step; the
    first is the paper's "Pene." (Table III: between the hand and all grasped objects).

    ``geom_xpos`` ``(G, 3)`` / ``geom_xmat`` ``(G, 9)`` place the primitives in the hand
    frame (MuJoCo's ``data`` after forward kinematics); ``bodies[i]`` is object i's real
    mesh (:func:`solid`) and ``object_in_hand[i]`` its 4×4 pose in the hand frame.
    Only primitive–object and object–object pairs whose bounding spheres overlap are
    tested; the others cannot overlap.
    """
    prims = hand.primitives
    geoms = np.array([p.geom for p in prims])
    frames = np.zeros((len(prims), 4, 4))
    frames[:, :3, :3] = geom_xmat[geoms].reshape(-1, 3, 3)
    frames[:, :3, 3] = geom_xpos[geoms]
    frames[:, 3, 3] = 1.0
    rbound = np.array([p.rbound for p in prims])
    worst = 0.0
    centres = [_apply(pose, b.centre[None])[0] for b, pose in zip(bodies, object_in_hand)]
    for body, pose, centre in zip(bodies, object_in_hand, centres):
        active = np.linalg.norm(geom_xpos[geoms] - centre, axis=1) <= rbound + body.radius
        if not active.any():
            continue
        worst = depth_into(body, hand.samples, np.linalg.inv(pose) @ frames, worst, active)
        # Object points into the primitives: first, for all near primitives at once,
        # which of the object's clusters reach into each primitive's bounding sphere.
        near = np.nonzero(active)[0]
        into = np.linalg.inv(frames[near]) @ pose                     # (k, 4, 4)
        cloud = body.samples
        local = cloud.centre @ into[:, :3, :3].transpose(0, 2, 1) + into[:, None, :3, 3]
        reach = np.linalg.norm(local, axis=2) < rbound[near, None] + cloud.radius
        for n, k in enumerate(near):
            if reach[n].any():
                worst = depth_into_primitive(prims[k], cloud, into[n], worst)
    between = 0.0
    for i, (a, ca) in enumerate(zip(bodies, centres)):
        for j, (b, cb) in enumerate(zip(bodies, centres)):
            if i != j and np.linalg.norm(ca - cb) <= a.radius + b.radius:
                i_in_j = np.linalg.inv(object_in_hand[j]) @ object_in_hand[i]
                between = depth_into(b, a.samples, i_in_j, between)
    return max(worst, 0.0), max(between, 0.0)
