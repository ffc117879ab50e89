"""``E_hsp`` (paper eq. 8): hand self-penetration.

The hand's links are filled with spheres (from the URDF's collision primitives);
the energy is the summed overlap ``max(r_i + r_j − |c_i − c_j|, 0)`` over sphere
pairs on links that may not touch and that can come close within the joint ranges.
Only the overlapping pairs (found without gradient) are differentiated.
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
        centres = hand.spheres(state.links_hand_t)  # (3, S, B)
        first, second = hand.sphere_pairs[:, 0], hand.sphere_pairs[:, 1]
        size = centres.shape[-1]
        with torch.no_grad():  # few pairs overlap: find them, then differentiate only those
            d = centres.index_select(1, first) - centres.index_select(1, second)
            pair, batch = ((d * d).sum(0) < hand.sphere_pair_reach ** 2).nonzero(as_tuple=True)
        flat = centres.reshape(3, -1)
        d = flat.index_select(1, first[pair] * size + batch) \
            - flat.index_select(1, second[pair] * size + batch)
        overlap = hand.sphere_pair_reach[pair, 0] - ((d * d).sum(0) + 1e-12).sqrt()
        return torch.zeros(size, dtype=centres.dtype, device=centres.device).index_add(
            0, batch, torch.relu(overlap))
