"""``E_hop`` (paper eq. 7): depth of hand surface points inside the object.

Beyond the paper, points on links that move at this step are also penalized for
entering the objects already held (the others cannot change their depth).
"""

from __future__ import annotations

import torch

from ..energy import EnergyTerm, ExponentialRamp, GraspState, to_frame


class HandObjectPenetration(ExponentialRamp, EnergyTerm):
    name = "hop"
    default_weight = 5.0
    description = "summed depth of hand points inside the current and held objects, m (eq. 7)"

    def __call__(self, state: GraspState) -> torch.Tensor:
        energy = torch.relu(-state.ctx.sdf(state.surface)).sum(dim=1)
        moving = state.ctx.moving_surface
        for held in state.ctx.held:
            depth = torch.relu(-held.sdf(to_frame(held.hand_to_object, state.surface_hand)))
            energy = energy + (depth * moving).sum(dim=1)
        return energy
