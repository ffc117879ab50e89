"""Compile a C source of this package into a shared library, once, into the cache.

Used by the optimizer's kernels (:mod:`seqgrasp_core.native`) and the validator's
mesh distance (:mod:`seqgrasp_core.validation.mesh_distance`); imports neither torch
nor anything heavy, so validation workers can use it. The library is compiled with
``$CC`` (default ``cc``) and kept in ``cache_dir("native")`` under the hash of the
source and the command, so a changed source or compiler builds anew; the builds of
the same ``stem`` made from other sources or commands are then removed (a process
still using one keeps its mapping).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from seqgrasp_core.system.cache import cache_dir
from seqgrasp_core.system.outputs import atomic_write_bytes


def switched_on() -> bool:
    """False when ``SEQGRASP_NATIVE=0`` asks for the reference code everywhere."""
    return os.environ.get("SEQGRASP_NATIVE", "1") != "0"


def shared_library(source: Path | tuple[Path, ...], stem: str,
                   defines: tuple[str, ...] = ()) -> Path:
    """The path of ``source`` (one C file, or several linked together) compiled as
    ``<stem>_<hash>.so``; :class:`OSError` when no compiler is found,
    :class:`subprocess.CalledProcessError` when it fails."""
    compiler = shutil.which(os.environ.get("CC", "cc"))
    if compiler is None:
        raise OSError("no C compiler (set CC or install gcc)")
    flags = ["-O3", "-std=c99", "-shared", "-fPIC", *(f"-D{d}" for d in defines)]
    sources = [Path(source)] if isinstance(source, (str, Path)) else [Path(s) for s in source]
    text = b"".join(s.read_bytes() for s in sources)
    key = hashlib.sha256(text + " ".join([compiler, *flags]).encode()).hexdigest()[:16]
    path = cache_dir("native") / f"{stem}_{key}.so"
    if not path.is_file():
        def build(tmp: Path) -> None:
            subprocess.run([compiler, *flags, *map(str, sources), "-o", str(tmp), "-lm"],
                           check=True, capture_output=True)
        atomic_write_bytes(path, build)
        for old in path.parent.glob(f"{stem}_*.so"):
            if old != path:
                old.unlink(missing_ok=True)
    return path
