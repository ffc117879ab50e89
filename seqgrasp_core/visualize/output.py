"""Writing a finished picture or page: atomically, and readable like any new file."""

from __future__ import annotations

import os
from pathlib import Path

from ..cache import atomic_write_bytes


def write_output(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename.

    The temporary file is private (0600); the result gets the usual mode for new
    files (0666 less the umask), since pages and pictures are meant to be shared.
    """
    umask = os.umask(0)
    os.umask(umask)

    def write(tmp: Path) -> None:
        tmp.write_bytes(data)
        tmp.chmod(0o666 & ~umask)

    atomic_write_bytes(Path(path), write)
