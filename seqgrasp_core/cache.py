"""The on-disk cache folder (``SEQGRASP_CACHE_DIR``, default ``~/.cache/seqgrasp``)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(kind: str) -> Path:
    root = Path(os.environ.get("SEQGRASP_CACHE_DIR", Path.home() / ".cache" / "seqgrasp"))
    folder = root / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder
