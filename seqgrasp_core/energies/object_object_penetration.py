"""``E_oop`` (paper eq. 10): depth of held objects' surface points inside the current one."""

from __future__ import annotations

import torch

from ..energy import EnergyTerm, GraspState


class ObjectObjectPenetration(EnergyTerm):
    name = "oop"
    default_weight = 5.0
    description = "summed depth of held objects' points inside the current object, m (eq. 10)"

    def __call__(self, state: GraspState) -> torch.Tensor:
        pts = state.held_surface
        if pts is None:
            return torch.zeros(state.pose.shape[0], dtype=state.pose.dtype,
                               device=state.pose.device)
        sdf = state.ctx.sdf
        return sdf.penetration(*sdf.points_in_box(pts), pts.shape[0])
