"""``E_dis = Σ_j d(x_j, O_n)`` (paper eq. 6): contacts on the object surface."""

from __future__ import annotations

import torch

from seqgrasp_core.api import EnergyTerm, GraspState


class ContactDistance(EnergyTerm):
    name = "dis"
    default_weight = 50.0
    description = "distance of the two contacts to the object surface, m (eq. 6)"

    def __call__(self, state: GraspState) -> torch.Tensor:
        return state.contact_surface_t[0].abs().sum(dim=0)
