"""The on-disk cache folder (``SEQGRASP_CACHE_DIR``, default ``~/.cache/seqgrasp``)."""

from __future__ import annotations

import os
from pathlib import Path

from seqgrasp_core.errors import SeqGraspError


def cache_dir(kind: str) -> Path:
    """The cache folder for ``kind`` (SDF grids, convex pieces, compiled kernels),
    created if needed; a one-line :class:`SeqGraspError` when it cannot be."""
    root = Path(os.environ.get("SEQGRASP_CACHE_DIR", Path.home() / ".cache" / "seqgrasp"))
    folder = root / kind
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SeqGraspError(f"cannot create the cache folder {folder} "
                            f"({exc.strerror or type(exc).__name__})",
                            "set SEQGRASP_CACHE_DIR to a writable folder") from None
    return folder
