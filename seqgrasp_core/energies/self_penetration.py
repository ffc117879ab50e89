"""``E_hsp`` (paper eq. 8): hand self-penetration.

The hand's links are filled with spheres (from the URDF's collision primitives);
the energy is the summed overlap ``max(r_i + r_j − |c_i − c_j|, 0)`` over sphere
pairs on links that may not touch and that can come close within the joint ranges.
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
        centres = hand.spheres(state.link_transforms)  # (B, 3, S)
        d = centres @ hand.sphere_pair_difference  # (B, 3, P): c_i − c_j, one matmul
        dist = ((d * d).sum(dim=1) + 1e-12).sqrt()  # (B, P)
        return torch.relu(hand.sphere_pair_reach - dist).sum(dim=1)
