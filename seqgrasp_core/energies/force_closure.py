"""``E_fc = ||G c||²`` (paper eq. 4–5): frictionless force closure of the two contacts."""

from __future__ import annotations

import torch

from ..energy import EnergyTerm, GraspState


def force_closure(points: torch.Tensor, normals: torch.Tensor) -> torch.Tensor:
    """``||G c||²`` for contacts ``points`` ``(B, n, 3)`` (metres, object frame) with unit
    force directions ``normals`` ``(B, n, 3)``: squared net force plus squared net
    moment about the object's origin, ``(B,)``."""
    force = normals.sum(dim=1)
    moment = torch.cross(points, normals, dim=-1).sum(dim=1)
    return (force ** 2).sum(-1) + (moment ** 2).sum(-1)


class ForceClosure(EnergyTerm):
    name = "fc"
    default_weight = 50.0
    description = "force closure ||Gc||² of the two contacts (eq. 4)"

    def __call__(self, state: GraspState) -> torch.Tensor:
        # The contact force pushes into the object along its inward surface normal.
        inward = -state.contact_surface[1]
        return force_closure(state.contacts, inward)
