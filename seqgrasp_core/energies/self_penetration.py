"""``E_hsp`` (paper eq. 8): hand self-penetration.

The hand's links are filled with spheres (from the URDF's collision primitives);
the energy is the summed overlap ``max(r_i + r_j − |c_i − c_j|, 0)`` over sphere
pairs on links that may not touch.
"""

from __future__ import annotations

import torch

from ..energy import EnergyTerm, GraspState


class SelfPenetration(EnergyTerm):
    name = "hsp"
    default_weight = 5.0
    description = "summed overlap of the hand's collision spheres, m (eq. 8)"

    def __call__(self, state: GraspState) -> torch.Tensor:
        hand = state.hand
        centres = state.spheres_hand
        with torch.no_grad():  # broad phase: overlapping pairs, usually few
            sq = (centres ** 2).sum(-1)
            dist2 = sq[:, :, None] + sq[:, None, :] - 2 * centres @ centres.transpose(1, 2)
            touching = (dist2 < hand.sphere_reach ** 2) & hand.sphere_pair_mask.bool()
            b, i, j = touching.nonzero(as_tuple=True)
        dist = (centres[b, i] - centres[b, j]).norm(dim=-1)
        overlap = torch.relu(hand.sphere_reach[i, j] - dist)
        out = torch.zeros(centres.shape[0], dtype=centres.dtype, device=centres.device)
        return out.index_add(0, b, overlap) + 0.0 * centres.sum()
