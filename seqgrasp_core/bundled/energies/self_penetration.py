"""``E_hsp`` (paper eq. 8): hand self-penetration.

The hand's links are filled with spheres (from the URDF's collision primitives);
the energy is the summed overlap ``max(r_i + r_j − |c_i − c_j|, 0)`` over sphere
pairs on links that may not touch and that can come close within the joint ranges.
Links' bounding spheres are tested first; only overlapping sphere pairs enter the
value and the gradient.
"""

from __future__ import annotations

import torch

from seqgrasp_core.api import EnergyTerm, GraspState, dot


class SelfPenetration(EnergyTerm):
    name = "hsp"
    default_weight = 5.0
    description = "summed overlap of the hand's collision spheres, m (eq. 8)"

    def __call__(self, state: GraspState) -> torch.Tensor:
        hand = state.hand
        centres = hand.spheres(state.links_hand_t)  # (3, S, B)
        pair, batch = hand.sphere_pair_candidates(state.links_hand_t)
        return _Overlap.apply(centres, hand.sphere_pairs[pair], hand.sphere_pair_reach[pair, 0],
                              batch)


class _Overlap(torch.autograd.Function):
    """``Σ relu(reach − |c_i − c_j|)`` per sequence over candidate sphere pairs
    ``pairs`` ``(M, 2)`` of sequences ``batch`` ``(M,)``, one graph node."""

    @staticmethod
    def forward(ctx, centres, pairs, reach, batch):
        size = centres.shape[-1]
        flat = centres.reshape(3, -1)
        i, j = pairs[:, 0] * size + batch, pairs[:, 1] * size + batch
        d = flat.index_select(1, i) - flat.index_select(1, j)  # (3, M)
        dist = (dot(d, d) + 1e-12).sqrt()
        overlap = reach - dist
        hit = overlap > 0
        i, j, batch, d, dist = i[hit], j[hit], batch[hit], d[:, hit], dist[hit]
        out = torch.zeros(size, dtype=centres.dtype, device=centres.device)
        out.index_add_(0, batch, overlap[hit])
        ctx.save_for_backward(d / dist, i, j, batch)
        ctx.shape = centres.shape
        return out

    @staticmethod
    def backward(ctx, grad):
        unit, i, j, batch = ctx.saved_tensors
        g = unit * grad.index_select(0, batch)  # d(−dist)/dc_i = −unit, dc_j = +unit
        out = torch.zeros(3, ctx.shape[1] * ctx.shape[2], dtype=grad.dtype, device=grad.device)
        out.index_add_(1, i, -g).index_add_(1, j, g)
        return out.reshape(ctx.shape), None, None, None
