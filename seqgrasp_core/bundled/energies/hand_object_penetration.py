"""``E_hop`` (paper eq. 7): depth of hand surface points inside the object.

Beyond the paper, points on links that move at this step are also penalized for
entering the objects already held (the others cannot change their depth). With a
``depth_allowance`` in the step context (the refinement's), only depth beyond it
counts.
"""

from __future__ import annotations

import torch

from seqgrasp_core.api import EnergyTerm, ExponentialRamp, GraspState


class HandObjectPenetration(ExponentialRamp, EnergyTerm):
    name = "hop"
    default_weight = 5.0
    description = "summed depth of hand points inside the current and held objects, m (eq. 7)"

    def __call__(self, state: GraspState) -> torch.Tensor:
        size = state.pose.shape[0]
        sdf, held_sdfs = state.ctx.penetration_sdfs
        # Points outside contribute nothing to the sum or its gradient: only the
        # points inside are placed with gradients (see HandModel.surface_inside).
        points, batch = state.surface_inside(sdf)
        energy = sdf.depth_sum(points, batch, size)
        for held, held_sdf in zip(state.ctx.held, held_sdfs):
            points, batch = state.surface_inside(held_sdf, held.hand_to_object,
                                                 state.ctx.moving_links)
            energy = energy + held_sdf.depth_sum(points, batch, size)
        return energy
