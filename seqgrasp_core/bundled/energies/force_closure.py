"""``E_fc = ||G c||²`` (paper eq. 4–5): frictionless force closure of the two contacts."""

from __future__ import annotations

import torch

from seqgrasp_core.api import EnergyTerm, GraspState, cross, dot


def force_closure(points: torch.Tensor, normals: torch.Tensor) -> torch.Tensor:
    """``||G c||²`` for contacts ``points`` ``(3, n, B)`` (metres, object frame) with unit
    force directions ``normals`` ``(3, n, B)``: squared net force plus squared net
    moment about the object's origin, ``(B,)``. Differentiable in ``points`` (the
    normals are taken as given)."""
    return _ForceClosure.apply(points, normals)


class _ForceClosure(torch.autograd.Function):
    @staticmethod
    def forward(ctx, points, normals):
        force = normals.sum(dim=1)
        moment = cross(points, normals).sum(dim=1)  # (3, B)
        ctx.save_for_backward(normals, moment)
        return dot(force, force) + dot(moment, moment)

    @staticmethod
    def backward(ctx, grad):
        normals, moment = ctx.saved_tensors
        # d|m|²/dx_j = 2 n_j × m
        return 2 * cross(normals, moment.unsqueeze(1)) * grad, None


class ForceClosure(EnergyTerm):
    name = "fc"
    default_weight = 50.0
    description = "force closure ||Gc||² of the two contacts (eq. 4)"

    def __call__(self, state: GraspState) -> torch.Tensor:
        # The contact force pushes into the object along its inward surface normal.
        inward = -state.contact_surface_t[1]
        return force_closure(state.contacts_t, inward)
