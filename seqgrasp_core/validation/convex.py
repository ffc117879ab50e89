"""Convex pieces of an object for the simulator, cached per mesh hash and scale.

MuJoCo (like PhysX) collides a mesh as its convex hull, so a non-convex object is
split into convex pieces with CoACD (Wei et al. 2022, the ``coacd`` package). A
convex mesh is used as it is. Pieces are cached under ``cache_dir("convex")`` as
``<sha256[:32]>_<scale>.npz``; penetration is always measured on the real mesh.
"""

from __future__ import annotations

import numpy as np

from seqgrasp_core.system.cache import cache_dir
from seqgrasp_core.system.outputs import atomic_write_bytes

Piece = tuple[np.ndarray, np.ndarray]  # vertices (V, 3) metres, faces (F, 3) int32

COACD_THRESHOLD = 0.05  # concavity tolerance (CoACD's default), relative to the object size
COACD_MAX_PIECES = 16


def convex_pieces(mesh, sha256: str, scale: float) -> list[Piece]:
    """The convex pieces of a scaled, watertight ``mesh`` (object frame, metres)."""
    if mesh.is_convex:
        return [(np.asarray(mesh.vertices, dtype=np.float64),
                 np.asarray(mesh.faces, dtype=np.int32))]
    path = cache_dir("convex") / f"{sha256[:32]}_{scale:.6g}.npz"
    if path.is_file():
        try:
            with np.load(path) as f:
                count = int(f["count"])
                return [(f[f"v{i}"], f[f"f{i}"]) for i in range(count)]
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)
    pieces = decompose(mesh)

    def write(tmp):
        arrays = {"count": np.asarray(len(pieces))}
        for i, (v, f) in enumerate(pieces):
            arrays[f"v{i}"], arrays[f"f{i}"] = v, f
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    atomic_write_bytes(path, write)
    return pieces


def decompose(mesh) -> list[Piece]:
    """Approximate convex decomposition with CoACD (a few seconds per object)."""
    import coacd

    coacd.set_log_level("error")
    parts = coacd.run_coacd(coacd.Mesh(np.asarray(mesh.vertices, dtype=np.float64),
                                       np.asarray(mesh.faces, dtype=np.int32)),
                            threshold=COACD_THRESHOLD, max_convex_hull=COACD_MAX_PIECES,
                            seed=0)
    return [(np.asarray(v, dtype=np.float64), np.asarray(f, dtype=np.int32))
            for v, f in parts]
