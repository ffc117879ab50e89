"""Writing a finished picture or page: atomically, and readable like any new file."""

from __future__ import annotations

from pathlib import Path

from seqgrasp_core.system.outputs import atomic_write_bytes


def write_output(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename."""
    atomic_write_bytes(Path(path), lambda tmp: tmp.write_bytes(data))
