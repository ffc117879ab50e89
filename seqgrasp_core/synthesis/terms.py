"""The `EnergyTerm` interface and the weighted sum of terms (paper eq. 3).

An energy term maps a batch of grasps to ``(B,)`` energies, reading a
:class:`~seqgrasp_core.synthesis.state.GraspState`. This module imports torch only, so
a plugin can define terms against it without pulling in the rest of the engine.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from seqgrasp_core.synthesis.state import GraspState


class EnergyTerm(ABC):
    """One term of the energy ``E = Σ w_i E_i`` (paper eq. 3).

    Subclasses set ``name``, ``default_weight`` and ``description`` and implement
    ``__call__(state) -> (B,)``. ``weight_at`` gives the weight at optimizer step
    ``step`` of ``steps`` (a schedule); the default keeps it constant.
    """

    name: str = ""
    default_weight: float = 1.0
    description: str = ""
    schedule: str = "constant"
    stages: tuple[str, ...] = ("optimize", "refine")
    """Where the term counts: MALA's optimization (``"optimize"``) and/or the
    penetration refinement after it (``"refine"``)."""

    def weight_at(self, weight: float, step: int, steps: int) -> float:
        return weight

    def search(self, state: GraspState) -> Any:
        """Work the term can share between evaluations (e.g. which points lie near
        which primitive), for the grasps ``state``; ``None``: nothing to share.

        The refinement calls it at its start and every ``RefineConfig.reselect``
        steps, and the term finds the result as ``state.ctx.searches[self.name]``.
        """
        return None

    @abstractmethod
    def __call__(self, state: GraspState) -> torch.Tensor:
        """Energy per grasp, ``(B,)``."""


class ExponentialRamp:
    """Mixin: weight grows as ``w · e^(rate · step / steps)`` (``rate=2``: w → w·e²)."""

    rate: float = 2.0
    schedule = "w·e^(2·step/steps)"

    def weight_at(self, weight: float, step: int, steps: int) -> float:
        return weight * math.exp(self.rate * step / max(steps, 1))


@dataclass
class WeightedEnergy:
    """The weighted sum of chosen terms; ``terms`` maps name → (term, weight)."""

    terms: dict[str, tuple[EnergyTerm, float]]

    def for_stage(self, stage: str) -> "WeightedEnergy":
        """The terms that count in ``stage`` (``"optimize"`` or ``"refine"``)."""
        return WeightedEnergy({name: (term, weight) for name, (term, weight)
                               in self.terms.items() if stage in term.stages})

    def __call__(self, state: GraspState, step: int, steps: int
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(total (B,), {name: unweighted value (B,)})``."""
        values = {}
        total = torch.zeros(state.pose.shape[0], dtype=state.pose.dtype, device=state.pose.device)
        for name, (term, weight) in self.terms.items():
            w = term.weight_at(weight, step, steps)
            if w == 0.0:
                continue
            value = term(state)
            values[name] = value
            total = total + w * value
        return total, values
