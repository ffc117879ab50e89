"""The grasp vector layout ``g = [p (3), r (6), θ (K)]`` and rotation helpers.

``p`` is the hand base position in metres and ``r`` the hand base orientation in the
6D continuous representation (the first two columns of the rotation matrix, Zhou et
al. 2019), both in the frame of the object being grasped; ``θ`` are the hand's joint
angles in radians, in the hand spec's joint order.
"""

from __future__ import annotations

import torch

from seqgrasp_core import native
from seqgrasp_core.geometry.transforms import cross, dot

TRANSLATION = slice(0, 3)
ROTATION = slice(3, 9)
BASE = slice(0, 9)
BASE_DIM = 9


def rot6d_to_matrix(r6: torch.Tensor) -> torch.Tensor:
    """``(..., 6)`` → ``(..., 3, 3)`` rotation matrices (Gram–Schmidt on two columns)."""
    a1, a2 = r6[..., 0:3], r6[..., 3:6]
    b1 = torch.nn.functional.normalize(a1, dim=-1)
    b2 = torch.nn.functional.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)


def matrix_to_rot6d(m: torch.Tensor) -> torch.Tensor:
    """``(..., 3, 3)`` → ``(..., 6)``: the first two columns, concatenated."""
    return torch.cat((m[..., :, 0], m[..., :, 1]), dim=-1)


def pose_to_matrix(g: torch.Tensor) -> torch.Tensor:
    """``(B, 9+K)`` grasp vectors → ``(B, 4, 4)`` hand-to-object transforms."""
    out = torch.zeros(g.shape[0], 4, 4, dtype=g.dtype, device=g.device)
    out[:, :3, :3] = rot6d_to_matrix(g[:, ROTATION])
    out[:, :3, 3] = g[:, TRANSLATION]
    out[:, 3, 3] = 1.0
    return out



def pose_to_block(g: torch.Tensor) -> torch.Tensor:
    """``(B, 9+K)`` grasp vectors → ``(3, 4, B)`` hand-to-object transforms, batch last
    (the layout of :mod:`seqgrasp_core.geometry.transforms`); differentiable in ``g`` with a
    hand-written backward of the Gram–Schmidt step."""
    return _PoseToBlock.apply(g)


def _unit(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    length = dot(v, v).clamp_min(1e-24).sqrt()
    return v / length, length


class _PoseToBlock(torch.autograd.Function):
    @staticmethod
    def forward(ctx, g):
        ctx.native = native.enabled(g)
        if ctx.native:
            ctx.save_for_backward(g)
            return native.pose_to_block(g)
        base = g[:, BASE].t().contiguous()  # (9, B)
        a2 = base[6:9]
        b1, n1 = _unit(base[3:6])
        s = dot(b1, a2)
        b2, n2 = _unit(a2 - s * b1)
        ctx.save_for_backward(b1, b2, a2, s, n1, n2)
        ctx.width = g.shape[1]
        return torch.stack((b1, b2, cross(b1, b2), base[0:3]), dim=1)

    @staticmethod
    def backward(ctx, grad):
        if ctx.native:
            return native.pose_to_block_backward(ctx.saved_tensors[0], grad)
        b1, b2, a2, s, n1, n2 = ctx.saved_tensors
        g1, g2, g3 = grad[:, 0], grad[:, 1], grad[:, 2]  # (3, B) each
        # b3 = b1 × b2
        g1 = g1 + cross(b2, g3)
        g2 = g2 + cross(g3, b1)
        # b2 = unit(u), u = a2 − (b1·a2) b1
        gu = (g2 - b2 * dot(b2, g2)) / n2
        gub = dot(gu, b1)
        ga2 = gu - gub * b1
        g1 = g1 - gub * a2 - s * gu
        # b1 = unit(a1)
        ga1 = (g1 - b1 * dot(b1, g1)) / n1
        out = torch.zeros(ctx.width, grad.shape[-1], dtype=grad.dtype, device=grad.device)
        out[0:3], out[3:6], out[6:9] = grad[:, 3], ga1, ga2
        return out.t()
