"""Objects to grasp: loading, checking, scaling and sampling meshes.

Units are metres. An object's frame is its mesh file's frame, scaled about the
origin by ``scale``; grasps are stored in that frame so a run file plus the mesh
(identified by its content hash) reproduces the scene.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from seqgrasp_core.errors import MeshError, ObjectTooLargeError

MESH_SUFFIXES = (".obj", ".stl", ".ply", ".glb", ".gltf", ".off")
PAPER_SIZE_RANGE = (0.06, 0.10)  # metres, longest bounding-box edge (paper §V)


@dataclass
class GraspObject:
    """A loaded, checked and scaled object.

    ``mesh`` is a watertight :class:`trimesh.Trimesh` in metres; ``surface_points``
    ``(P, 3)`` are farthest-point samples of its surface.
    """

    object_id: str
    sha256: str
    scale: float
    mesh: object
    surface_points: np.ndarray
    source: str = ""
    _sdf: object = field(default=None, repr=False)

    @property
    def size(self) -> float:
        """Longest bounding-box edge, metres."""
        return float(np.max(self.mesh.extents))

    def sdf(self, resolution: int = 64):
        """The object's :class:`~seqgrasp_core.objects.sdf.SDFGrid`, built or read from cache."""
        if self._sdf is None or self._sdf.resolution != resolution:
            from seqgrasp_core.objects.sdf import SDFGrid

            self._sdf = SDFGrid.for_object(self, resolution)
        return self._sdf


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_mesh(path: str | Path):
    """Read a mesh file with trimesh and make sure it is a closed surface.

    Repairs what trimesh can (merged vertices, flipped normals, small holes) and
    raises :class:`MeshError` naming the file when the mesh is missing, unreadable,
    empty or still not watertight.
    """
    import trimesh

    path = Path(path)
    if path.is_dir():
        raise MeshError(f"{path} is a folder, not a mesh file",
                        f"give a mesh file ({', '.join(MESH_SUFFIXES)})")
    if not path.is_file():
        raise MeshError(f"mesh file {path} not found", "check the path")
    try:
        # Unprocessed first: processing would drop non-finite vertices silently.
        loaded = trimesh.load(path, force="mesh", process=False)
    except Exception as exc:  # trimesh raises many types for foreign files
        raise MeshError(f"{path} is not a mesh trimesh can read ({type(exc).__name__}: "
                        f"{str(exc)[:80]})",
                        f"give a mesh file ({', '.join(MESH_SUFFIXES)})") from None
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise MeshError(f"{path} is not a mesh: it holds no triangles",
                        "export the object as a triangle mesh")
    bad = int((~np.isfinite(np.asarray(loaded.vertices))).any(axis=1).sum())
    if bad:
        raise MeshError(f"{path} has {bad} vertices with a coordinate that is not a finite "
                        "number (NaN or inf)", "fix or remove them in the file and retry")
    mesh = loaded
    mesh.process()
    if not mesh.is_watertight:
        mesh.merge_vertices()
        trimesh.repair.fill_holes(mesh)
        trimesh.repair.fix_normals(mesh)
    if not mesh.is_watertight:
        raise MeshError(f"{path} is not a closed surface (not watertight) and could not be "
                        "repaired", "close its holes (e.g. in MeshLab or Blender) and retry")
    if mesh.volume < 0:
        mesh.invert()
    return mesh


def farthest_point_sample(points: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` farthest-point samples of ``points`` ``(P, 3)``."""
    n = min(n, len(points))
    rng = np.random.default_rng(seed)
    chosen = np.empty(n, dtype=np.int64)
    chosen[0] = rng.integers(len(points))
    coords = np.ascontiguousarray(np.asarray(points, dtype=np.float64).T)  # (3, P)
    # Squared distances: the same order as distances, without a square root per point.
    dist = np.full(len(points), np.inf)
    step = np.empty_like(dist)
    for i in range(n):
        if i:
            chosen[i] = int(np.argmax(dist))
        c = coords[:, chosen[i]]
        np.subtract(coords[0], c[0], out=step)
        np.square(step, out=step)
        d = step.copy()
        for k in (1, 2):
            np.subtract(coords[k], c[k], out=step)
            d += np.square(step, out=step)
        np.minimum(dist, d, out=dist)
    return chosen


def sample_surface(mesh, n: int, seed: int = 0, oversample: int = 8) -> np.ndarray:
    """``(n, 3)`` well-spread surface points: area sampling, then farthest-point thinning."""
    import trimesh

    dense, _ = trimesh.sample.sample_surface(mesh, n * oversample, seed=seed)
    return np.asarray(dense[farthest_point_sample(dense, n, seed)], dtype=np.float64)


def load_object(path: str | Path, *, size_range: tuple[float, float] | None = None,
                max_size: float | None = None, surface_points: int = 512,
                hand_name: str = "the hand") -> GraspObject:
    """Load, check and scale one object.

    With ``size_range`` = ``(lo, hi)`` the mesh is scaled so that its longest
    bounding-box edge lies in it (the paper uses 0.06–0.10 m); otherwise the file's
    units are taken as metres and an object longer than ``max_size`` raises
    :class:`ObjectTooLargeError`.
    """
    path = Path(path)
    mesh = read_mesh(path)
    size = float(np.max(mesh.extents))
    if size <= 0:
        raise MeshError(f"{path} is flat (zero size)", "give a solid object")
    scale = 1.0
    if size_range is not None:
        lo, hi = size_range
        scale = float(np.clip(size, lo, hi) / size)
        mesh.apply_scale(scale)
    elif max_size is not None and size > max_size:
        raise ObjectTooLargeError(
            f"object {path.name} is {size:.3f} m across; {hand_name} grasps objects up to "
            f"{max_size:.2f} m", "rescale the mesh (units are metres) or pass --scale-objects")
    return GraspObject(
        object_id=path.stem, sha256=file_sha256(path), scale=scale, mesh=mesh,
        surface_points=sample_surface(mesh, surface_points), source=str(path))


def demo_object_paths() -> list[Path]:
    """The bundled demo meshes (small objects of different shapes)."""
    folder = resources.files("seqgrasp_core") / "data" / "demo_objects"
    return sorted(Path(str(p)) for p in folder.iterdir()
                  if p.name.lower().endswith(MESH_SUFFIXES))


def mesh_paths_in(folder: str | Path) -> list[Path]:
    """Every mesh file directly inside ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MeshError(f"object folder {folder} not found", "check the path")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in MESH_SUFFIXES)
    if not paths:
        raise MeshError(f"no mesh files in {folder}",
                        f"put {', '.join(MESH_SUFFIXES)} files there")
    return paths
