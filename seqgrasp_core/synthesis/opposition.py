"""Opposition-space bookkeeping of Algorithm 1 (lines 3 and 10–14), batched.

Each sequence keeps its own set of available opposition spaces and their current
joint masks. After a step uses ``OS_n``, that space is removed, its joints are
zeroed from every other space's mask, and spaces left with no joint are dropped.
"""

from __future__ import annotations

import torch

from seqgrasp_core.errors import OppositionSpaceError
from seqgrasp_core.hands.spec import HandSpec


class OppositionState:
    """``available`` ``(B, O)`` bool and ``masks`` ``(B, O, K)`` bool, per sequence."""

    def __init__(self, os_masks: torch.Tensor, batch: int) -> None:
        self.masks = os_masks.unsqueeze(0).expand(batch, -1, -1).clone()
        self.available = torch.ones(batch, os_masks.shape[0], dtype=torch.bool,
                                    device=os_masks.device)

    @property
    def alive(self) -> torch.Tensor:
        """``(B,)`` bool: the sequence has an opposition space left."""
        return self.available.any(dim=1)

    def sample(self, generator: torch.Generator) -> torch.Tensor:
        """``(B,)`` a uniformly drawn available space per sequence (−1 if none)."""
        weights = self.available.to(torch.float64)
        alive = self.alive
        out = torch.full((weights.shape[0],), -1, dtype=torch.long)
        if alive.any():
            out[alive] = torch.multinomial(weights[alive], 1, generator=generator)[:, 0]
        return out

    def mask_of(self, os_index: torch.Tensor) -> torch.Tensor:
        """``(B, K)`` current joint masks ``J_n`` of the chosen spaces."""
        return self.masks[torch.arange(len(os_index)), os_index.clamp_min(0)] \
            & (os_index >= 0)[:, None]

    def use(self, os_index: torch.Tensor) -> None:
        """Remove the chosen spaces, zero their joints elsewhere, drop empty spaces."""
        rows = torch.arange(len(os_index))[os_index >= 0]
        chosen = os_index[os_index >= 0]
        used = self.masks[rows, chosen].clone()
        self.available[rows, chosen] = False
        self.masks[rows] &= ~used[:, None, :]
        self.available &= self.masks.any(dim=-1)


def check_fixed_order(spec: HandSpec, names: list[str]) -> list[int]:
    """Indices of ``names`` in the hand's spaces, after checking the order can run.

    Raises :class:`OppositionSpaceError` when a name is unknown or its joints are all
    used by an earlier space of the order.
    """
    known = [o.name for o in spec.opposition_spaces]
    masks = torch.tensor([o.joint_mask for o in spec.opposition_spaces], dtype=torch.bool)
    state = OppositionState(masks, 1)
    out = []
    for step, name in enumerate(names, start=1):
        if name not in known:
            raise OppositionSpaceError(
                f"hand {spec.name!r} has no opposition space {name!r}",
                f"choose from: {', '.join(known)}")
        idx = known.index(name)
        if not state.available[0, idx]:
            raise OppositionSpaceError(
                f"opposition space {name!r} (step {step}) has no joint left: earlier spaces "
                f"{', '.join(names[:step - 1])} use them all", "reorder or drop it")
        state.use(torch.tensor([idx]))
        out.append(idx)
    return out
