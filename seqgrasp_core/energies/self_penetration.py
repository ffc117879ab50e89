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
        i, j = hand.sphere_pairs[:, 0], hand.sphere_pairs[:, 1]
        dist = (centres[:, i] - centres[:, j]).norm(dim=-1)
        reach = hand.sphere_radius[i] + hand.sphere_radius[j]
        return torch.relu(reach - dist).sum(dim=1)
