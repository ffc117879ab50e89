"""Collision primitives for mesh geoms: the box, capsule, cylinder or sphere nearest the
mesh.

Each kind starts as the primitive that *encloses* the mesh's convex hull (MuJoCo
collides a mesh as its hull):

- box: the minimum-volume oriented bounding box (trimesh's ``oriented_bounds``);
- capsule and cylinder: for each of the box's three axes and the hull's principal
  axis (PCA of its surface), the smallest enclosing one about that axis (centre of the
  smallest circle around the projected points, radius to the farthest point, length
  just enough to contain every point); the axis that gives the smallest volume wins;
- sphere: the smallest enclosing sphere.

Unless the best of these is already within :data:`REFINE_ABOVE`, each that is within
:data:`REFINE_WITHIN` times the best has its pose and size adjusted (Nelder–Mead,
:func:`_refine`) to make its deviation smallest; the adjusted one is kept if it is
better. The *deviation* is the
largest distance between the primitive's surface and the mesh's surface, both ways:
from the mesh's vertices and surface samples to the primitive's surface, and from the
primitive's surface samples to the mesh. The kind with the smallest deviation wins.
Volumes are compared with the mesh's own volume (its hull's when the mesh is not
closed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from seqgrasp_core.hands.importer.transforms import apply, inverse, pose

SAMPLES = 2000   # surface samples per side of a deviation measure
REFINE_ABOVE = 0.001  # m: enclosing fits closer than this are kept as they are
REFINE_WITHIN = 2.5  # only kinds within this factor of the best enclosing fit are adjusted
GRID = 1e-7  # fitted sizes and positions are rounded to 0.1 µm: MuJoCo keeps mesh
#              vertices in single precision, so finer digits are noise
SEED = 0


@dataclass(frozen=True)
class Shape:
    """A collision primitive: ``kind`` in box, sphere, cylinder, capsule.

    ``size``: a box's full extents; ``(r,)`` for a sphere; ``(r, length)`` for a
    cylinder, or for a capsule with ``length`` between its two sphere centres; along
    the local z axis. ``pose`` (4×4) places it in its parent frame.
    """

    kind: str
    size: tuple[float, ...]
    pose: np.ndarray

    def moved(self, t: np.ndarray) -> Shape:
        """This shape in the frame where its parent frame is ``t``."""
        return Shape(self.kind, self.size, t @ self.pose)

    @property
    def volume(self) -> float:
        if self.kind == "box":
            return float(np.prod(self.size))
        r = self.size[0]
        if self.kind == "sphere":
            return 4 / 3 * math.pi * r ** 3
        body = math.pi * r * r * self.size[1]
        return body + (4 / 3 * math.pi * r ** 3 if self.kind == "capsule" else 0.0)

    def sdf(self, points: np.ndarray) -> np.ndarray:
        """Signed distance ``(N,)`` (m, negative inside) of points ``(N, 3)`` in the
        parent frame."""
        p = apply(inverse(self.pose), points)
        if self.kind == "box":
            q = np.abs(p) - np.asarray(self.size) / 2
            return np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(axis=1), 0)
        r = self.size[0]
        if self.kind == "sphere":
            return np.linalg.norm(p, axis=1) - r
        half = self.size[1] / 2
        if self.kind == "capsule":
            z = np.clip(p[:, 2], -half, half)
            return np.linalg.norm(p - np.c_[np.zeros((len(p), 2)), z], axis=1) - r
        q = np.stack((np.linalg.norm(p[:, :2], axis=1) - r, np.abs(p[:, 2]) - half), 1)
        return np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(axis=1), 0)

    def trimesh(self, sections: int = 64):
        """A fine triangulation of the surface (for sampling and drawing)."""
        import trimesh

        if self.kind == "box":
            m = trimesh.creation.box(extents=self.size)
        elif self.kind == "sphere":
            m = trimesh.creation.icosphere(subdivisions=4, radius=self.size[0])
        elif self.kind == "cylinder":
            m = trimesh.creation.cylinder(radius=self.size[0], height=self.size[1],
                                          sections=sections)
        else:
            m = trimesh.creation.capsule(height=self.size[1], radius=self.size[0],
                                         count=[sections, sections])
        m.apply_transform(self.pose)
        return m

    def pieces(self) -> list[Shape]:
        """URDF primitives for this shape: a capsule is a cylinder and two spheres."""
        if self.kind != "capsule":
            return [self]
        r, length = self.size
        if length <= 0:
            return [Shape("sphere", (r,), pose(self.pose[:3, 3]))]
        ends = [Shape("sphere", (r,), pose((self.pose @ [0.0, 0.0, s * length / 2, 1.0])[:3]))
                for s in (1, -1)]
        return [Shape("cylinder", (r, length), self.pose), *ends]


@dataclass(frozen=True)
class Fit:
    """The primitive chosen for one mesh: ``shape`` (in the mesh's frame), its largest
    surface ``deviation`` (m) from the mesh, ``volume_ratio`` (primitive / mesh), and
    the deviation of every candidate tried (kind → m)."""

    shape: Shape
    deviation: float
    volume_ratio: float
    tried: dict[str, float] = field(default_factory=dict)


def exact_shape(kind: str, mj_size, geom_pose: np.ndarray) -> Shape:
    """A MuJoCo primitive geom (MuJoCo's half-size conventions) as a :class:`Shape`."""
    s = [float(v) for v in mj_size]
    if kind == "box":
        return Shape("box", (2 * s[0], 2 * s[1], 2 * s[2]), geom_pose)
    if kind == "sphere":
        return Shape("sphere", (s[0],), geom_pose)
    return Shape(kind, (s[0], 2 * s[1]), geom_pose)  # capsule, cylinder: radius, half-length


def ellipsoid_mesh(mj_size):
    """A fine triangulation of a MuJoCo ellipsoid (semi-axes ``mj_size``)."""
    import trimesh

    m = trimesh.creation.icosphere(subdivisions=4)
    m.apply_scale(np.asarray(mj_size[:3], dtype=float))
    return np.asarray(m.vertices), np.asarray(m.faces)


def fit_mesh(vertices: np.ndarray, faces: np.ndarray) -> Fit:
    """The primitive of smallest deviation for a mesh ``(V, 3)``, ``(F, 3)`` (see the
    module docstring)."""
    import trimesh
    from scipy.spatial import cKDTree

    mesh = trimesh.Trimesh(np.asarray(vertices, float), np.asarray(faces), process=True)
    try:
        hull = mesh.convex_hull
        ok = hull.volume > 1e-15
    except Exception:  # flat or degenerate: no hull
        ok = False
    if not ok:
        return _flat_fit(np.asarray(vertices, float))
    volume = mesh.volume if mesh.is_watertight and mesh.volume > 1e-15 else hull.volume
    points = np.asarray(hull.vertices)
    samples, _ = trimesh.sample.sample_surface(hull, SAMPLES, seed=SEED)
    on_mesh = np.concatenate([mesh.vertices, trimesh.sample.sample_surface(
        mesh, SAMPLES, seed=SEED)[0]])
    to_origin, extents = trimesh.bounds.oriented_bounds(hull)
    box = Shape("box", tuple(float(e) for e in extents), inverse(to_origin))
    axes = [box.pose[:3, a] for a in range(3)] + [_principal_axis(samples)]
    centre, radius = trimesh.nsphere.minimum_nsphere(points)
    candidates = [box, Shape("sphere", (float(radius),), pose(centre)),
                  min((_round(points, a, "capsule") for a in axes), key=lambda s: s.volume),
                  min((_round(points, a, "cylinder") for a in axes), key=lambda s: s.volume)]
    dense = cKDTree(np.concatenate([mesh.vertices, trimesh.sample.sample_surface(
        mesh, 20 * SAMPLES, seed=SEED)[0]]))
    rng = np.random.default_rng(SEED)
    probe = on_mesh[rng.choice(len(on_mesh), min(len(on_mesh), SAMPLES), replace=False)]
    coarse = cKDTree(trimesh.sample.sample_surface(mesh, 2 * SAMPLES, seed=SEED)[0])
    first = [_deviation(c, mesh, on_mesh, dense) for c in candidates]
    tried, kept = {}, []
    for enclosing, dev in zip(candidates, first):
        shape = enclosing
        worth = min(first) > REFINE_ABOVE and dev <= REFINE_WITHIN * min(first)
        adjusted = _refine(enclosing, probe, coarse) if worth else None
        if adjusted is not None:
            dev_adjusted = _deviation(adjusted, mesh, on_mesh, dense)
            if dev_adjusted < dev - 1e-6:
                shape, dev = adjusted, dev_adjusted
        tried[shape.kind] = dev
        kept.append(shape)
    best = min(kept, key=lambda s: (round(tried[s.kind], 9), s.volume))
    return Fit(_on_grid(best), tried[best.kind], best.volume / volume, tried)


def _outline(kind: str, size) -> np.ndarray:
    """Points ``(N, 3)`` spread over a primitive's surface, in its own frame (for the
    fast deviation estimate of :func:`_refine`; not area-uniform)."""
    g = (np.arange(12) + 0.5) / 12 - 0.5
    if kind == "box":
        u, v = (a.ravel() for a in np.meshgrid(g, g))
        faces = []
        for axis in range(3):
            for sign in (-0.5, 0.5):
                p = np.zeros((len(u), 3))
                p[:, [a for a in range(3) if a != axis]] = np.c_[u, v]
                p[:, axis] = sign
                faces.append(p)
        return np.concatenate(faces) * np.asarray(size)
    i = np.arange(400) + 0.5
    polar, azimuth = np.arccos(1 - 2 * i / 400), math.pi * (1 + 5 ** 0.5) * i
    dirs = np.stack((np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth),
                     np.cos(polar)), 1)
    r = size[0]
    if kind == "sphere":
        return dirs * r
    half = size[1] / 2
    theta = np.linspace(0, 2 * math.pi, 32, endpoint=False)
    tt, zz = (a.ravel() for a in np.meshgrid(theta, g * 2 * half))
    side = np.stack((r * np.cos(tt), r * np.sin(tt), zz), 1)
    if kind == "capsule":
        ends = dirs * r + np.c_[np.zeros((len(dirs), 2)), np.sign(dirs[:, 2]) * half]
        return np.concatenate([side, ends])
    rho, phi = (a.ravel() for a in np.meshgrid(np.linspace(0, 1, 6), theta))
    caps = [np.stack((rho * r * np.cos(phi), rho * r * np.sin(phi), np.full(len(rho), z)), 1)
            for z in (-half, half)]
    return np.concatenate([side, *caps])


def _refine(shape: Shape, probe: np.ndarray, dense) -> Shape | None:
    """``shape`` with pose and size adjusted (Nelder–Mead) to make the largest deviation
    from the mesh smallest: estimated from mesh points ``probe`` to the primitive's
    surface and from the primitive's :func:`_outline` to the nearest of the mesh's
    dense surface samples (a KD-tree)."""
    from scipy.optimize import minimize
    from scipy.spatial.transform import Rotation

    size0 = np.asarray(shape.size, dtype=float)
    scale = float(max(size0.max(), 1e-4))
    turns = 0 if shape.kind == "sphere" else 3
    dims = 3 + turns + len(size0)

    def build(x) -> Shape:
        rot = Rotation.from_rotvec(x[3:3 + turns]).as_matrix() if turns else np.eye(3)
        size = np.abs(size0 + x[3 + turns:] * scale)
        return Shape(shape.kind, tuple(float(v) for v in size),
                     shape.pose @ pose(x[:3] * scale, rot))

    def cost(x) -> float:
        s = build(x)
        outward = dense.query(apply(s.pose, _outline(s.kind, s.size)))[0].max()
        return max(float(np.abs(s.sdf(probe)).max()), float(outward))

    simplex = np.vstack([np.zeros(dims), 0.05 * np.eye(dims)])
    simplex[1 + 3:1 + 3 + turns] *= 2  # rotations: 0.1 rad
    try:
        result = minimize(cost, np.zeros(dims), method="Nelder-Mead",
                          options={"initial_simplex": simplex, "maxfev": 200 * dims,
                                   "xatol": 1e-5, "fatol": 1e-6})
    except (ValueError, np.linalg.LinAlgError):
        return None
    return build(result.x) if result.fun < cost(np.zeros(dims)) else None


def _on_grid(shape: Shape) -> Shape:
    t = shape.pose.copy()
    t[:3, 3] = np.round(t[:3, 3] / GRID) * GRID
    return Shape(shape.kind, tuple(float(np.round(v / GRID) * GRID) for v in shape.size), t)


def _flat_fit(points: np.ndarray) -> Fit:
    """A thin box around a mesh without volume (all points in a plane or a line)."""
    import trimesh

    to_origin, extents = trimesh.bounds.oriented_bounds(points)
    shape = Shape("box", tuple(max(float(e), 1e-4) for e in extents), inverse(to_origin))
    dev = float(np.abs(shape.sdf(points)).max())
    return Fit(shape, dev, math.inf, {"box": dev})


def _principal_axis(points: np.ndarray) -> np.ndarray:
    centred = points - points.mean(axis=0)
    return np.linalg.svd(centred, full_matrices=False)[2][0]


def _basis(axis: np.ndarray) -> np.ndarray:
    """A rotation whose third column is ``axis``."""
    z = axis / np.linalg.norm(axis)
    helper = np.eye(3)[int(np.argmin(np.abs(z)))]
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)


def _round(points: np.ndarray, axis: np.ndarray, kind: str) -> Shape:
    """The enclosing capsule or cylinder about ``axis`` (see the module docstring)."""
    import trimesh

    rot = _basis(axis)
    local = points @ rot
    try:
        c2, _ = trimesh.nsphere.minimum_nsphere(local[:, :2])
    except Exception:  # collinear projections
        c2 = (local[:, :2].min(axis=0) + local[:, :2].max(axis=0)) / 2
    d = np.linalg.norm(local[:, :2] - c2, axis=1)
    r = float(d.max())
    t = local[:, 2]
    if kind == "cylinder":
        lo, hi = float(t.min()), float(t.max())
    else:  # each point needs |t − mid| ≤ length/2 + sqrt(r² − d²)
        s = np.sqrt(np.maximum(r * r - d * d, 0.0))
        lo, hi = float((t + s).min()), float((t - s).max())
    length = max(hi - lo, 0.0)
    centre = rot @ np.array([c2[0], c2[1], (lo + hi) / 2])
    return Shape(kind, (r, length), pose(centre, rot))


def _deviation(shape: Shape, mesh, on_mesh: np.ndarray, dense) -> float:
    """Largest distance (m) between the two surfaces, both ways (see the docstring)."""
    import trimesh

    inward = float(np.abs(shape.sdf(on_mesh)).max())
    surface, _ = trimesh.sample.sample_surface(shape.trimesh(), SAMPLES, seed=SEED)
    return max(inward, _farthest(surface, mesh, dense))


def _farthest(points: np.ndarray, mesh, dense) -> float:
    """The exact largest distance from ``points`` to the mesh's surface, computing exact
    distances only where needed: the distance to the nearest of the dense surface
    samples (``dense``, a KD-tree) is an upper bound, so once an exact distance
    reaches the next bound, no other point can be farther."""
    import trimesh

    bound, _ = dense.query(points)
    order = np.argsort(-bound)
    best, start, chunk = 0.0, 0, 64
    while start < len(order):
        idx = order[start:start + chunk]
        best = max(best, float(trimesh.proximity.closest_point(mesh, points[idx])[1].max()))
        start += chunk
        if start >= len(order) or best >= bound[order[start]]:
            break
        chunk *= 2
    return best


# --------------------------------------------------------------------------- a hand's geoms

@dataclass(frozen=True)
class FitRow:
    """One collision geom of the source and what replaced it: ``source`` is its MuJoCo
    kind (and mesh name), ``primitive`` the chosen kind, ``deviation_mm`` the largest
    surface deviation, ``volume_ratio`` primitive volume / source volume; ``flagged``
    when the deviation exceeds :data:`WARN_MM`."""

    link: str
    geom: str
    source: str
    primitive: str
    deviation_mm: float
    volume_ratio: float

    @property
    def flagged(self) -> bool:
        return self.deviation_mm > WARN_MM


WARN_MM = 5.0  # a fitted primitive farther than this from the source surface is flagged


def collision_shapes(source) -> tuple[dict[int, list[Shape]], list[FitRow]]:
    """Each hand body's collision shapes (body frame) and one :class:`FitRow` per geom:
    primitives carried over exactly, meshes and ellipsoids fitted."""
    shapes: dict[int, list[Shape]] = {b: [] for b in source.bodies}
    rows = []
    fitted: dict[str, Fit] = {}  # a mesh used by several geoms is fitted once
    for b in source.bodies:
        for geom in source.geoms[b]:
            link = source.names[b]
            if geom.kind in ("box", "sphere", "capsule", "cylinder"):
                shape = exact_shape(geom.kind, geom.size, geom.pose)
                shapes[b].append(shape)
                rows.append(FitRow(link, geom.name, geom.kind, geom.kind, 0.0, 1.0))
                continue
            if geom.kind == "ellipsoid":
                label = "ellipsoid"
                fit = fit_mesh(*ellipsoid_mesh(geom.size))
            else:
                label = f"mesh {geom.mesh}"
                if geom.mesh not in fitted:
                    fitted[geom.mesh] = fit_mesh(geom.vertices, geom.faces)
                fit = fitted[geom.mesh]
            shapes[b].append(_on_grid(fit.shape.moved(geom.pose)))
            rows.append(FitRow(link, geom.name, label, fit.shape.kind, fit.deviation * 1000,
                               fit.volume_ratio))
    return shapes, rows
