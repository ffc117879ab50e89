"""The augmented grasp vector of SeqDiffuser (paper §VI) and its normalisation.

``g̃ = [f (L), p (3), r (6), θ (K)]``: the opposition space as a one-hot ``f``, the
hand base position ``p`` (m, in the object's frame, relative to the object's centre),
its 6D rotation ``r`` and the joint angles ``θ`` (rad). The diffusion selection
vector ``k = [0 (L), 1 (9), J_n]`` marks what is noised and denoised; everything
else is the condition and is carried through sampling unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

BASE_DIM = 9


@dataclass(frozen=True)
class GraspLayout:
    """Where each part of ``g̃`` lives, for a hand of ``joints`` (K) joints and the
    opposition spaces ``spaces`` (L) in the hand's order."""

    spaces: tuple[str, ...]
    joints: int

    @property
    def dim(self) -> int:
        """D = L + 9 + K."""
        return len(self.spaces) + BASE_DIM + self.joints

    @property
    def base(self) -> slice:
        return slice(len(self.spaces), len(self.spaces) + BASE_DIM)

    @property
    def angles(self) -> slice:
        return slice(len(self.spaces) + BASE_DIM, self.dim)

    def assemble(self, os_index: torch.Tensor, base: torch.Tensor, joints: torch.Tensor
                 ) -> torch.Tensor:
        """``(B, D)`` from ``os_index`` ``(B,)``, ``base`` ``(B, 9)`` and ``joints`` ``(B, K)``."""
        onehot = torch.nn.functional.one_hot(os_index.long(), len(self.spaces))
        return torch.cat((onehot.to(base.dtype), base, joints.to(base.dtype)), dim=1)

    def selection(self, joint_mask: torch.Tensor) -> torch.Tensor:
        """``k`` ``(B, D)`` (0./1.) for the joints ``J_n`` ``joint_mask`` ``(B, K)`` bool."""
        b = joint_mask.shape[0]
        return torch.cat((torch.zeros(b, len(self.spaces)), torch.ones(b, BASE_DIM),
                          joint_mask.to(torch.float32)), dim=1)


@dataclass
class Normalizer:
    """Per-entry affine normalisation ``(x − mean) / std`` of ``g̃`` (the one-hot
    entries stay as they are)."""

    mean: torch.Tensor  # (D,)
    std: torch.Tensor  # (D,)

    @classmethod
    def fit(cls, layout: GraspLayout, x: torch.Tensor, floor: float = 1e-3) -> "Normalizer":
        """From the training vectors ``x`` ``(N, D)``."""
        mean, std = x.mean(0), x.std(0).clamp_min(floor)
        mean[: len(layout.spaces)] = 0.0
        std[: len(layout.spaces)] = 1.0
        return cls(mean.float(), std.float())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x)) / self.std.to(x)

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.std.to(z) + self.mean.to(z)
