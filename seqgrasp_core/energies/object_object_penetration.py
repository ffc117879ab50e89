"""``E_oop`` (paper eq. 10): depth of held objects' surface points inside the current one."""

from __future__ import annotations

import torch

from ..energy import EnergyTerm, GraspState


class ObjectObjectPenetration(EnergyTerm):
    name = "oop"
    default_weight = 5.0
    description = "summed depth of held objects' points inside the current object, m (eq. 10)"

    def __call__(self, state: GraspState) -> torch.Tensor:
        sdf, size = state.ctx.sdf, state.pose.shape[0]
        energy = torch.zeros(size, dtype=state.pose.dtype, device=state.pose.device)
        for held in state.ctx.held:
            batch, points = state.held_points_in_box(held, sdf)
            energy = energy + sdf.depth_sum(points.unsqueeze(1), batch, size)
        return energy + 0.0 * state.pose.sum(dim=1)
