"""Rigid transforms and point placement in the batch-last layout of the hot path.

A pose is a ``(3, 4, ..., B)`` block ``[R | t]`` with the batch last, so that each
elementwise operation runs over a long contiguous row (see
:mod:`seqgrasp_core.hands.kinematics`). :func:`compose`, :func:`invert`,
:func:`apply` and :func:`place_points` are the operations every energy term and the
hand model use on that layout.
"""

from __future__ import annotations

import math

import torch

from seqgrasp_core import native


def compose(outer: torch.Tensor, inner: torch.Tensor) -> torch.Tensor:
    """``outer ∘ inner`` for rigid transforms as ``(3, 4, ...)`` blocks ``[R | t]``,
    batch last (broadcasting over the trailing dimensions)."""
    out = outer[:, 3:4] * _last_column(outer)  # the translation: [0 0 0 t]
    out = torch.addcmul(out, outer[:, 0:1], inner[0:1])
    out = torch.addcmul(out, outer[:, 1:2], inner[1:2])
    return torch.addcmul(out, outer[:, 2:3], inner[2:3])


def invert(pose: torch.Tensor) -> torch.Tensor:
    """The inverse ``[Rᵀ | −Rᵀ t]`` of rigid transforms ``(3, 4, ...)``."""
    rot_t = pose[:, :3].transpose(0, 1)
    return torch.cat((rot_t, -apply(torch.cat((rot_t, torch.zeros_like(pose[:, 3:])), 1),
                                    pose[:, 3]).unsqueeze(1)), dim=1)


_LAST_COLUMN: dict = {}


def _last_column(like: torch.Tensor) -> torch.Tensor:
    """``[0, 0, 0, 1]`` shaped ``(4, 1, …)`` to broadcast against ``(3, 4, ...)`` blocks."""
    key = (like.dtype, like.device, like.dim())
    if key not in _LAST_COLUMN:
        column = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=like.dtype, device=like.device)
        _LAST_COLUMN[key] = column.reshape(4, *([1] * (like.dim() - 2)))
    return _LAST_COLUMN[key]


def rotate(pose: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """Vectors ``(3, ...)`` rotated by the rotation part of ``(3, 4, ...)`` transforms."""
    out = pose[:, 0] * vectors[0]
    out = torch.addcmul(out, pose[:, 1], vectors[1])
    return torch.addcmul(out, pose[:, 2], vectors[2])


def apply(pose: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Points ``(3, ...)`` moved by ``(3, 4, ...)`` transforms (broadcasting)."""
    out = torch.addcmul(pose[:, 3], pose[:, 0], points[0])
    out = torch.addcmul(out, pose[:, 1], points[1])
    return torch.addcmul(out, pose[:, 2], points[2])


def to_matrices(poses: torch.Tensor) -> torch.Tensor:
    """``(3, 4, L, B)`` blocks → ``(B, L, 4, 4)`` homogeneous matrices."""
    rows = poses.permute(3, 2, 0, 1)  # (B, L, 3, 4)
    bottom = torch.zeros(*rows.shape[:2], 1, 4, dtype=rows.dtype, device=rows.device)
    bottom[..., 3] = 1.0
    return torch.cat((rows, bottom), dim=2)


def take(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x[..., index]`` for a contiguous ``x`` (``index_select`` along the last dim of
    a tensor with more than two dims takes a path about ten times slower)."""
    rows = math.prod(x.shape[:-1])
    return x.reshape(rows, x.shape[-1]).index_select(1, index).reshape(*x.shape[:-1], len(index))


def cross(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cross product of vectors ``(3, ...)`` (``torch.linalg.cross`` along dim 0 is slow)."""
    return torch.stack((torch.addcmul(a[1] * b[2], a[2], b[1], value=-1),
                        torch.addcmul(a[2] * b[0], a[0], b[2], value=-1),
                        torch.addcmul(a[0] * b[1], a[1], b[0], value=-1)))


def dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Dot product of vectors ``(3, ...)``."""
    return torch.addcmul(torch.addcmul(a[0] * b[0], a[1], b[1]), a[2], b[2])


def link_frames(frame: torch.Tensor, links: torch.Tensor, batch: torch.Tensor,
                link: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(frame_m, link_m, pose_m)`` ``(3, 4, M)``: for each ``m``, the frame of sequence
    ``batch[m]``, the pose of its link ``link[m]`` (hand frame) and their composition
    (no gradient; :func:`place_points` can reuse them)."""
    with torch.no_grad():
        frame_m = take(frame, batch)
        link_m = take(links.reshape(3, 4, -1), link * links.shape[-1] + batch)
        return frame_m, link_m, compose(frame_m, link_m)


def place_points(frame: torch.Tensor, links: torch.Tensor, batch: torch.Tensor,
                 link: torch.Tensor, local: torch.Tensor,
                 parts: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
                 ) -> torch.Tensor:
    """Points fixed on links, placed in another frame: ``(3, P, M)``.

    Group ``m`` of ``P`` link-frame points ``local[:, :, m]`` sits on link ``link[m]`` of
    sequence ``batch[m]``; ``links`` ``(3, 4, L, B)`` are the link poses in the hand
    frame and ``frame`` ``(3, 4, B)`` maps the hand frame into the target frame.
    Differentiable in ``frame`` and ``links``, with a hand-written backward (autograd
    through the gathers and block products costs several times more on a CPU).
    ``parts`` are :func:`link_frames` of the same groups, when already at hand.
    """
    if parts is None:
        parts = link_frames(frame, links, batch, link)
    return _PlacePoints.apply(frame, links, batch, link, local, *parts)


class _PlacePoints(torch.autograd.Function):
    @staticmethod
    def forward(ctx, frame, links, batch, link, local, frame_m, link_pose, pose):
        column = link * links.shape[-1] + batch
        ctx.save_for_backward(frame_m, link_pose, local, batch, column)
        ctx.shapes = (frame.shape, links.shape)
        return apply(pose.unsqueeze(2), local)

    @staticmethod
    def backward(ctx, grad):
        frame_m, link_pose, local, batch, column = ctx.saved_tensors
        frame_shape, links_shape = ctx.shapes
        if grad.shape == local.shape and native.enabled(grad, local, frame_m, link_pose):
            grad_frame, grad_links = native.place_points_backward(
                grad, local, frame_m, link_pose, batch, column, frame_shape[-1],
                links_shape[2] * links_shape[3])
            return (grad_frame.reshape(frame_shape), grad_links.reshape(links_shape),
                    None, None, None, None, None, None)
        # d/d pose: rotation columns from the points, translation from their sum.
        grad_pose = torch.stack([(grad * local[k]).sum(1) for k in range(3)]
                                + [grad.sum(1)], dim=1)  # (3, 4, M)
        grad_frame_m = torch.stack([dot_rows(grad_pose, link_pose[k]) for k in range(3)]
                                   + [grad_pose[:, 3]], dim=1)
        # Rᵀ of the frame times the pose gradient: row k is Σ_i R[i, k] · grad_pose[i].
        grad_link = torch.stack([dot(frame_m[:, k].unsqueeze(1), grad_pose)
                                 for k in range(3)])  # (3, 4, M)
        grad_frame = torch.zeros(12, frame_shape[-1], dtype=grad.dtype, device=grad.device)
        grad_frame.index_add_(1, batch, grad_frame_m.reshape(12, -1))
        n = links_shape[2] * links_shape[3]
        grad_links = torch.zeros(12, n, dtype=grad.dtype, device=grad.device)
        grad_links.index_add_(1, column, grad_link.reshape(12, -1))
        return (grad_frame.reshape(frame_shape), grad_links.reshape(links_shape),
                None, None, None, None, None, None)


def dot_rows(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``Σ_j a[:, j] b[j]`` for ``a`` ``(3, 4, ...)`` and ``b`` ``(4, ...)``: ``(3, ...)``."""
    out = torch.addcmul(a[:, 0] * b[0], a[:, 1], b[1])
    return torch.addcmul(torch.addcmul(out, a[:, 2], b[2]), a[:, 3], b[3])
