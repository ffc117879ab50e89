"""``E_oop`` (paper eq. 10): depth of held objects' surface points inside the current one.

Beyond the paper, the current object's surface points are also tested against each
held object (when the step context carries them): a small object placed inside a
larger held one has none of the held object's surface in it, so eq. 10 alone does
not see that overlap.

With a ``depth_allowance`` in the step context (the refinement's), only depth beyond
it counts, as in ``hop`` and ``ohp``.
"""

from __future__ import annotations

import torch

from seqgrasp_core.api import EnergyTerm, GraspState


class ObjectObjectPenetration(EnergyTerm):
    name = "oop"
    default_weight = 5.0
    description = ("summed depth of held objects' points inside the current object, and of "
                   "its points inside them, m (eq. 10)")

    def __call__(self, state: GraspState) -> torch.Tensor:
        size = state.pose.shape[0]
        sdf, held_sdfs = state.ctx.penetration_sdfs  # shrunk by the allowance, if any
        energy = torch.zeros(size, dtype=state.pose.dtype, device=state.pose.device)
        for held, held_sdf in zip(state.ctx.held, held_sdfs):
            batch, points = state.held_points_in_box(held, sdf)
            energy = energy + sdf.depth_sum(points.unsqueeze(1), batch, size)
            if state.ctx.surface is not None:
                batch, points = state.object_points_in_held_box(held)
                energy = energy + held_sdf.depth_sum(points.unsqueeze(1), batch, size)
        return energy + 0.0 * state.pose.sum(dim=1)
