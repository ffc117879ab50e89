"""Fused CPU kernels for the optimizer's hot path, compiled on first use.

At the batch sizes of a CPU run (a few hundred grasps per process) the optimizer's
time goes to dispatching small tensor operations rather than to arithmetic: one
iteration runs about two thousand of them. The kernels in ``kernels.c`` do the
busiest pieces in one pass each — the forward kinematics and its backward, the
grasp vector's rotation (:func:`seqgrasp_core.geometry.pose.pose_to_block`) and its backward,
the backward of placing link points (:func:`seqgrasp_core.geometry.transforms.place_points`),
the trilinear signed distance on an object's grid (:mod:`seqgrasp_core.objects.sdf`) and the
search for the hand's surface points inside an object (:meth:`seqgrasp_core.hands.model.
HandModel.surface_inside`).

They are compiled with the system's C compiler (``$CC``, default ``cc``) the first
time they are needed, once per element type, and kept in the cache folder
(``cache_dir("native")``) under the hash of the source and the command. The torch
code they replace stays the reference and the fallback: it runs on a GPU, for other
dtypes, when no compiler works, and everywhere with ``SEQGRASP_NATIVE=0``. Both agree
to float rounding (``tests/test_native.py``).
"""

from __future__ import annotations

import ctypes
import logging
import subprocess
from functools import lru_cache
from pathlib import Path

import torch

from seqgrasp_core.native.build import shared_library, switched_on

SOURCE = Path(__file__).with_name("kernels.c")
_TYPES = {torch.float32: ("float", "_f32"), torch.float64: ("double", "_f64")}
_P, _I = ctypes.c_void_p, ctypes.c_int64
_SIGNATURES = {
    "pose_to_block": (_P, _I, _I, _P),
    "pose_to_block_backward": (_P, _P, _I, _I, _P),
    "frame_poses": (_P, _I, _P, _P, _P, _P, _P, _P, _P, _I, _P),
    "link_poses_backward": (_P, _I, _P, _P, _I, _I, _P, _P, _P, _P, _P, _I, _P, _P),
    "place_points_backward": (_P, _P, _I, _I, _P, _P, _P, _P, _P, _I, _P, _I),
    "trilinear": (_P, _I, _P, _P, _I, _P, _P, _P, _P),
    "surface_inside": (_P, _I, _I, _P, _P, _P, _P, _P, _I, _P, _I, _P, _P, _I, _I, _P, _P, _P,
                       _P, _I, _P, _I, _P, _P, _P),
}
_RETURNS = {"surface_inside": _I}
log = logging.getLogger(__name__)


def _compile(dtype: torch.dtype) -> Path:
    """The shared library for ``dtype``, compiled into the cache when missing."""
    ctype, suffix = _TYPES[dtype]
    return shared_library(SOURCE, f"kernels{suffix}", (f"REAL={ctype}", f"SUFFIX={suffix}"))


@lru_cache(maxsize=None)
def _library(dtype: torch.dtype):
    """``{kernel name: ctypes function}`` for ``dtype``, or ``None`` if it cannot be built."""
    try:
        lib = ctypes.CDLL(str(_compile(dtype)))
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        log.info("native kernels unavailable, using torch: %s %s", exc,
                 detail.decode(errors="replace")[:200])
        return None
    suffix = _TYPES[dtype][1]
    kernels = {}
    for name, argtypes in _SIGNATURES.items():
        fn = getattr(lib, name + suffix)
        fn.argtypes, fn.restype = argtypes, _RETURNS.get(name)
        kernels[name] = fn
    return kernels


def enabled(*tensors: torch.Tensor) -> bool:
    """Whether the kernels serve these tensors: all on the CPU, of one float type that
    has a compiled library, and the switch on."""
    first = tensors[0]
    if not switched_on() or first.device.type != "cpu" or first.dtype not in _TYPES:
        return False
    if any(t.device.type != "cpu" or t.dtype != first.dtype for t in tensors[1:]):
        return False
    return _library(first.dtype) is not None


def _ptr(t: torch.Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def _call(name: str, dtype: torch.dtype, *args):
    return _library(dtype)[name](*args)


def pose_to_block(g: torch.Tensor) -> torch.Tensor:
    """``(B, D)`` grasp vectors → ``(3, 4, B)`` transforms, as :func:`seqgrasp_core.geometry.pose.
    pose_to_block` (no graph)."""
    g = g.detach().contiguous()
    out = torch.empty(3, 4, g.shape[0], dtype=g.dtype)
    _call("pose_to_block", g.dtype, _ptr(g), g.shape[0], g.shape[1], _ptr(out))
    return out


def pose_to_block_backward(g: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """``d/dg`` ``(B, D)`` from the gradient ``(3, 4, B)`` on the transforms."""
    g, grad = g.detach().contiguous(), grad.contiguous()
    out = torch.empty_like(g)
    _call("pose_to_block_backward", g.dtype, _ptr(g), _ptr(grad), g.shape[0], g.shape[1],
          _ptr(out))
    return out


def frame_poses(joints: torch.Tensor, base: torch.Tensor, sin_part: torch.Tensor,
                cos_part: torch.Tensor, slide_part: torch.Tensor | None,
                joint_index: torch.Tensor, parent: torch.Tensor, moving: torch.Tensor
                ) -> torch.Tensor:
    """Every frame's pose ``(3, 4, F, B)`` for joints ``(K, B)``; the parts are ``(F, 12)``
    row-major ``[R | t]`` blocks, ``parent`` ``(F,)`` (−1 for a root) indexes frames in
    breadth-first order and ``moving`` ``(F,)`` uint8 marks frames with a joint."""
    joints = joints.detach().contiguous()
    f, b = base.shape[0], joints.shape[1]
    out = torch.empty(3, 4, f, b, dtype=joints.dtype)
    _call("frame_poses", joints.dtype, _ptr(joints), b, _ptr(base), _ptr(sin_part),
          _ptr(cos_part), _ptr(slide_part), _ptr(joint_index), _ptr(parent), _ptr(moving),
          f, _ptr(out))
    return out


def link_poses_backward(frames: torch.Tensor, out: torch.Tensor, grad: torch.Tensor,
                        moves: torch.Tensor, joint_frame: torch.Tensor, axis: torch.Tensor,
                        revolute: torch.Tensor, joint_input: torch.Tensor,
                        num_joints: int) -> torch.Tensor:
    """``d/d joints`` ``(K, B)`` from the gradient ``(3, 4, L, B)`` on the link poses
    ``out`` (``frames`` ``(3, 4, F, B)`` from :func:`frame_poses`; ``moves`` ``(J, L)``,
    ``axis`` ``(J, 3)``, ``revolute`` ``(J,)`` uint8)."""
    grad = grad.contiguous()
    _, _, f, b = frames.shape
    links, joints = out.shape[2], moves.shape[0]
    result = torch.zeros(num_joints, b, dtype=grad.dtype)
    scratch = torch.empty(links, 6, dtype=grad.dtype)
    _call("link_poses_backward", grad.dtype, _ptr(frames), f, _ptr(out), _ptr(grad), links,
          b, _ptr(moves), _ptr(joint_frame), _ptr(axis), _ptr(revolute), _ptr(joint_input),
          joints, _ptr(result), _ptr(scratch))
    return result


def place_points_backward(grad: torch.Tensor, local: torch.Tensor, frame_m: torch.Tensor,
                          link_pose: torch.Tensor, batch: torch.Tensor, column: torch.Tensor,
                          frame_columns: int, link_columns: int
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(d/d frame (12, frame_columns), d/d links (12, link_columns))`` of points
    ``local`` ``(3, P, M)`` placed on ``link_pose`` by ``frame_m`` (both ``(3, 4, M)``),
    from their gradient ``grad`` ``(3, P, M)``, summed into columns ``batch`` and
    ``column`` ``(M,)``."""
    grad, local = grad.contiguous(), local.contiguous()
    frame_m, link_pose = frame_m.contiguous(), link_pose.contiguous()
    batch, column = batch.contiguous(), column.contiguous()
    _, p, m = grad.shape
    grad_frame = torch.zeros(12, frame_columns, dtype=grad.dtype)
    grad_links = torch.zeros(12, link_columns, dtype=grad.dtype)
    _call("place_points_backward", grad.dtype, _ptr(grad), _ptr(local), p, m, _ptr(frame_m),
          _ptr(link_pose), _ptr(batch), _ptr(column), _ptr(grad_frame), frame_columns,
          _ptr(grad_links), link_columns)
    return grad_frame, grad_links


def trilinear(points: torch.Tensor, flat: torch.Tensor, flat_gradient: torch.Tensor | None,
              resolution: int, box: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """``(value (N,), gradient (3, N), smooth gradient (3, N) or None)`` of the grid
    ``flat`` ``(R³,)`` at points ``(3, N)``; ``box`` is ``[lo (3), hi (3), cells per
    metre (3)]``; the smooth gradient interpolates ``flat_gradient`` ``(R³, 3)`` when
    given (see :meth:`seqgrasp_core.objects.sdf.TorchSDF.smooth_sample`)."""
    points = points.detach().contiguous()
    n = points.shape[1]
    value = torch.empty(n, dtype=points.dtype)
    grad = torch.empty(3, n, dtype=points.dtype)
    smooth = None if flat_gradient is None else torch.empty(3, n, dtype=points.dtype)
    _call("trilinear", points.dtype, _ptr(points), n, _ptr(flat), _ptr(flat_gradient),
          resolution, _ptr(box), _ptr(value), _ptr(grad), _ptr(smooth))
    return value, grad, smooth


def surface_inside(links: torch.Tensor, frame: torch.Tensor, link_mask: torch.Tensor | None,
                   chunks: dict[str, torch.Tensor], sdf) -> tuple[torch.Tensor, ...]:
    """``(chunk, slot, batch)`` ``(S,)`` of the hand surface points inside ``sdf``'s
    object, as :meth:`seqgrasp_core.hands.model.HandModel.surface_inside` selects them:
    ``links`` ``(3, 4, L, B)``, ``frame`` ``(3, 4, B)``, ``link_mask`` ``(B, L)`` or
    ``None``; ``chunks`` holds the hand's chunk hierarchy (``coarse_centre`` ``(Cc, 3)``,
    ``coarse_link``, ``coarse_radius2``, ``coarse_children``, ``chunk_points``,
    ``chunk_valid``, ``chunk_centre``, ``chunk_radius``)."""
    links, frame = links.detach().contiguous(), frame.detach().contiguous()
    _, _, n_links, b = links.shape
    mask = None if link_mask is None else link_mask.to(torch.uint8).contiguous()
    children = chunks["coarse_children"]
    points = chunks["chunk_points"]
    capacity = max(1024, b * 64)
    while True:
        out = torch.empty(3, capacity, dtype=torch.long)
        count = _call("surface_inside", links.dtype, _ptr(links), n_links, b, _ptr(frame),
                      _ptr(mask), _ptr(chunks["coarse_centre"]), _ptr(chunks["coarse_link"]),
                      _ptr(chunks["coarse_radius2"]), children.shape[0], _ptr(children),
                      children.shape[1], _ptr(points), _ptr(chunks["chunk_valid"]),
                      points.shape[1], points.shape[2], _ptr(chunks["chunk_centre"]),
                      _ptr(chunks["chunk_radius"]), _ptr(sdf.native_object_box), _ptr(sdf.flat),
                      sdf.resolution, _ptr(sdf.native_box), capacity,
                      _ptr(out[0]), _ptr(out[1]), _ptr(out[2]))
        if count <= capacity:
            return out[0, :count], out[1, :count], out[2, :count]
        capacity = count
