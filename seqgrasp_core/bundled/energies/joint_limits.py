"""``E_joint`` (paper eq. 9): how far joints are outside their limits, rad."""

from __future__ import annotations

import torch

from seqgrasp_core.api import EnergyTerm, GraspState


class JointLimits(EnergyTerm):
    name = "joint"
    default_weight = 1.0
    description = "joint-limit violation, rad (eq. 9)"

    def __call__(self, state: GraspState) -> torch.Tensor:
        theta = state.joints
        return (torch.relu(theta - state.hand.upper) + torch.relu(state.hand.lower - theta)).sum(1)
