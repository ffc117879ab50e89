"""The on-disk cache folder (``SEQGRASP_CACHE_DIR``, default ``~/.cache/seqgrasp``)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def cache_dir(kind: str) -> Path:
    root = Path(os.environ.get("SEQGRASP_CACHE_DIR", Path.home() / ".cache" / "seqgrasp"))
    folder = root / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def atomic_write_bytes(path: Path, write) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
