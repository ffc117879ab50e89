"""Output files: checked before any work, written atomically.

Every file the toolkit writes for a user (run files, reports, pictures) and every
cache entry goes through :func:`atomic_write_bytes`: written to a temporary name
in the target's folder, then renamed, so a reader (or an interrupted run) never
sees half a file. :func:`prepare_output` is called before the work that produces
a file, so that an output that cannot be written is refused in one line at once,
not after an hour of optimization.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from seqgrasp_core.errors import SeqGraspError


def prepare_output(path: str | Path, option: str = "--out") -> Path:
    """Check that ``path`` can be written (creating its folder if needed).

    Raises :class:`SeqGraspError` naming ``option`` when ``path`` is a folder, its
    folder cannot be created, or the folder does not let us create a file in it.
    """
    path = Path(path)
    if path.is_dir():
        raise SeqGraspError(f"{option} {path} is a folder", "give a file name in it")
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SeqGraspError(f"cannot create folder {folder} for {option} "
                            f"({exc.strerror or type(exc).__name__})",
                            f"choose another {option}") from None
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=folder)
    except OSError as exc:
        raise SeqGraspError(f"cannot write to folder {folder} for {option} "
                            f"({exc.strerror or type(exc).__name__})",
                            f"choose another {option} or make the folder writable") from None
    os.close(fd)
    os.unlink(probe)
    return path


def new_file_mode() -> int:
    """The mode a newly created file gets here: 0666 less the process's umask."""
    try:  # Linux: read it, without setting it (which would race with other threads)
        status = Path("/proc/self/status").read_text()
        umask = int(next(line for line in status.splitlines()
                         if line.startswith("Umask:")).split()[1], 8)
    except (OSError, StopIteration):
        umask = os.umask(0)
        os.umask(umask)
    return 0o666 & ~umask


PARTIAL = ".part"
"""Suffix of an atomic write's temporary file (``.NAME.XXXXXXXX.part`` beside ``NAME``)."""


def partial_writes(folder: str | Path, names: tuple[str, ...]) -> list[Path]:
    """The temporaries that atomic writes of files whose names start with one of
    ``names`` left in ``folder``: a writer killed before its rename leaves one."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return [p for p in folder.glob(f".*{PARTIAL}") if p.name[1:].startswith(names)]


def atomic_write_bytes(path: str | Path, write) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``, so readers never see half
    a file. The result has the mode of any new file (the temporary file's private
    0600 is not kept); the folder is created if needed. A failing write (disk full,
    no permission) is a one-line :class:`SeqGraspError` and leaves nothing behind."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=PARTIAL, dir=path.parent)
    except OSError as exc:
        raise _write_error(path, exc) from None
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _write_error(path, exc) from None
        raise


def _write_error(path: Path, exc: OSError) -> SeqGraspError:
    return SeqGraspError(f"cannot write {path} ({exc.strerror or type(exc).__name__})",
                         "check the free disk space and the folder's permissions")
