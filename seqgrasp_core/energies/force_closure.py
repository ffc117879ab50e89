"""``E_fc = ||G c||²`` (paper eq. 4–5): frictionless force closure of the two contacts."""

from __future__ import annotations

import torch

from ..energy import EnergyTerm, GraspState
from ..kinematics import cross


def force_closure(points: torch.Tensor, normals: torch.Tensor) -> torch.Tensor:
    """``||G c||²`` for contacts ``points`` ``(3, n, B)`` (metres, object frame) with unit
    force directions ``normals`` ``(3, n, B)``: squared net force plus squared net
    moment about the object's origin, ``(B,)``."""
    force = normals.sum(dim=1)
    moment = cross(points, normals).sum(dim=1)
    return (force * force).sum(0) + (moment * moment).sum(0)


class ForceClosure(EnergyTerm):
    name = "fc"
    default_weight = 50.0
    description = "force closure ||Gc||² of the two contacts (eq. 4)"

    def __call__(self, state: GraspState) -> torch.Tensor:
        # The contact force pushes into the object along its inward surface normal.
        inward = -state.contact_surface_t[1]
        return force_closure(state.contacts_t, inward)
