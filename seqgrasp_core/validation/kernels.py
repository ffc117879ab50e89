"""The validator's compiled geometry kernels, one small C library.

``mesh_distance.c`` answers exact signed distances to a closed mesh
(:class:`~seqgrasp_core.validation.mesh_distance.MeshDistance`); ``depth.c`` runs the
penetration search of :mod:`seqgrasp_core.validation.penetration` over clustered
points. Both are compiled together on first use by :mod:`seqgrasp_core.native.build`
(torch-free, so workers can load it). Without a C compiler, or with
``SEQGRASP_NATIVE=0``, :func:`library` is ``None`` and the callers use their numpy and
point-cloud-utils reference code.
"""

from __future__ import annotations

import ctypes
import logging
import subprocess
from functools import lru_cache
from pathlib import Path

from seqgrasp_core.native.build import shared_library, switched_on

SOURCES = (Path(__file__).with_name("mesh_distance.c"), Path(__file__).with_name("depth.c"))
log = logging.getLogger(__name__)

_P, _I, _D = ctypes.c_void_p, ctypes.c_int64, ctypes.c_double


@lru_cache(maxsize=None)
def _compiled():
    try:
        lib = ctypes.CDLL(str(shared_library(SOURCES, "validation")))
    except (OSError, subprocess.CalledProcessError) as exc:
        log.info("native validation kernels unavailable, using the reference code: %s", exc)
        return None
    lib.mesh_signed_distance.argtypes = [_P, _I] + [_P] * 10
    lib.mesh_signed_distance.restype = None
    lib.depth_into_solid.argtypes = [_P, _P, _P, _P, _P, _I, _P, _I, _P, _P, _P, _P, _D,
                                     _P, _I, _P, _I, _P, _D]
    lib.depth_into_solid.restype = _D
    lib.depth_into_primitive.argtypes = [_P, _P, _P, _P, _I, _P, ctypes.c_int, _P, _D, _D]
    lib.depth_into_primitive.restype = _D
    return lib


def library():
    """The loaded library (``None`` without a compiler or with ``SEQGRASP_NATIVE=0``)."""
    return _compiled() if switched_on() else None
