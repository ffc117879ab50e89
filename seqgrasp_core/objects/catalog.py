"""Object folders: writing a synthetic set with its ``objects.json``, and checking
every mesh in a folder before a run needs it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from seqgrasp_core.errors import MeshError
from seqgrasp_core.objects.mesh import (
    MESH_SUFFIXES,
    PAPER_SIZE_RANGE,
    file_sha256,
    read_mesh,
)
from seqgrasp_core.objects.synthetic import SynthObject, synth_objects
from seqgrasp_core.system.outputs import atomic_write_bytes, prepare_output

CATALOG_NAME = "objects.json"
CATALOG_VERSION = 1


def write_stl(mesh, path: Path) -> str:
    """Write ``mesh`` as binary STL, atomically; its sha256."""
    data = mesh.export(file_type="stl")
    atomic_write_bytes(path, lambda tmp: tmp.write_bytes(data))
    return file_sha256(path)


def write_synthetic_set(folder: str | Path, count: int, seed: int, progress=None) -> dict:
    """Write ``obj_000.stl`` … and ``objects.json`` into ``folder``; the catalog.

    ``progress(obj)`` is called after each object is written.
    """
    folder = Path(folder)
    prepare_output(folder / CATALOG_NAME)
    entries = []
    for obj in synth_objects(count, seed):
        path = folder / f"{obj.name}.stl"
        entries.append(_entry(obj, path.name, write_stl(obj.mesh, path)))
        if progress is not None:
            progress(obj)
    catalog = {"version": CATALOG_VERSION, "seed": seed, "count": count,
               "size_range_m": list(PAPER_SIZE_RANGE), "objects": entries}
    text = json.dumps(catalog, indent=2) + "\n"
    atomic_write_bytes(folder / CATALOG_NAME, lambda tmp: tmp.write_text(text))
    return catalog


def _entry(obj: SynthObject, file: str, sha256: str) -> dict:
    return {"name": obj.name, "file": file, "family": obj.family, "params": obj.params,
            "scale": obj.scale, "size_m": round(obj.size, 6), "faces": len(obj.mesh.faces),
            "sha256": sha256}


@dataclass
class MeshCheck:
    """One mesh file's check: ``status`` ok, repaired or rejected, with a ``reason``
    for the last two; ``size`` is the longest edge (m) and ``scale`` the factor
    that brings it into :data:`PAPER_SIZE_RANGE`."""

    name: str
    status: str
    reason: str = ""
    faces: int = 0
    size: float = 0.0
    scale: float = 1.0
    sha256: str = ""

    @property
    def usable(self) -> bool:
        return self.status != "rejected"

    def as_dict(self) -> dict:
        return asdict(self)


def _defects(path: Path) -> str:
    """What :func:`read_mesh` will have repaired in ``path`` ("" when nothing)."""
    import trimesh

    try:
        raw = trimesh.load(path, force="mesh")
    except Exception:
        return ""
    if not isinstance(raw, trimesh.Trimesh):
        return ""
    if not raw.is_watertight:
        return "holes closed"
    if raw.volume < 0:
        return "inside out: faces flipped"
    return ""


def check_mesh(path: str | Path, size_range: tuple[float, float] = PAPER_SIZE_RANGE
               ) -> tuple[MeshCheck, object]:
    """Check one mesh file with :func:`read_mesh`; the check and the repaired mesh
    (``None`` when rejected)."""
    path = Path(path)
    try:
        mesh = read_mesh(path)
    except MeshError as exc:
        reason = exc.message.removeprefix(str(path)).strip().removeprefix("is ")
        return MeshCheck(path.name, "rejected", reason), None
    size = float(np.max(mesh.extents))
    if not size > 0:
        return MeshCheck(path.name, "rejected", "flat: zero size"), None
    defects = _defects(path)
    lo, hi = size_range
    return MeshCheck(path.name, "repaired" if defects else "ok", defects,
                     faces=len(mesh.faces), size=size,
                     scale=float(np.clip(size, lo, hi) / size),
                     sha256=file_sha256(path)), mesh


def folder_meshes(folder: str | Path) -> list[Path]:
    """Every mesh file directly inside ``folder``, sorted (none is an empty list)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MeshError(f"object folder {folder} not found", "check the path")
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in MESH_SUFFIXES)
