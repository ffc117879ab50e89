"""The `EnergyTerm` interface and the state the terms read.

An energy term maps a batch of grasps to ``(B,)`` energies. Terms do not compute
kinematics themselves: they read a :class:`GraspState`, which places the hand once
per evaluation and caches what several terms share (link transforms, surface points
in the object frame, contacts).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property

import torch

from .hand_model import HandModel
from .pose import BASE_DIM, pose_to_matrix
from .sdf import TorchSDF


@dataclass
class HeldObject:
    """An object grasped at an earlier step, rigidly attached to the hand frame.

    ``hand_to_object`` ``(B, 4, 4)`` maps hand-frame points into the object's frame
    (the grasp pose of that step); ``surface_hand_t`` ``(B, 3, P)`` are the object's
    surface points in the hand frame (coordinate-major), inside a sphere of
    ``radius`` (m) about ``centre_hand`` ``(B, 3)``.
    """

    sdf: TorchSDF
    hand_to_object: torch.Tensor
    surface_hand_t: torch.Tensor
    centre_hand: torch.Tensor
    radius: float

    @classmethod
    def attach(cls, sdf: TorchSDF, hand_to_object: torch.Tensor,
               surface: torch.Tensor) -> "HeldObject":
        """From the object's own surface points ``(P, 3)`` (object frame)."""
        lo, hi = surface.min(0).values, surface.max(0).values
        centre = (lo + hi) / 2
        radius = float((surface - centre).norm(dim=-1).max())
        obj_to_hand = torch.linalg.inv(hand_to_object)
        pts = to_frame(obj_to_hand, surface.expand(hand_to_object.shape[0], -1, -1))
        centre_hand = to_frame(obj_to_hand, centre.expand(hand_to_object.shape[0], 1, 3))[:, 0]
        return cls(sdf, hand_to_object, pts.transpose(1, 2).contiguous(), centre_hand, radius)

    def rows(self, index: torch.Tensor) -> "HeldObject":
        """The same object for the sequences ``index``."""
        return HeldObject(self.sdf, self.hand_to_object[index], self.surface_hand_t[index],
                          self.centre_hand[index], self.radius)


@dataclass
class StepContext:
    """What stays fixed while one object is optimized (step ``n`` of Algorithm 1).

    ``active`` ``(B, K)`` is the joint mask ``J_n`` of each sequence's opposition
    space; ``held`` the objects grasped at steps ``1..n-1``.
    """

    hand: HandModel
    sdf: TorchSDF
    active: torch.Tensor
    held: list[HeldObject] = field(default_factory=list)
    step: int = 0
    steps: int = 1

    @cached_property
    def moving_links(self) -> torch.Tensor:
        """``(B, L)`` bool: the link moves with this step's joints."""
        return self.hand.moving_links(self.active)


class GraspState:
    """A batch of grasps ``pose`` ``(B, 9+K)`` with their two contacts ``(B, 2)``.

    Every property is in the frame of the object being grasped unless it says
    ``hand``; lengths in metres.
    """

    def __init__(self, ctx: StepContext, pose: torch.Tensor, contact_index: torch.Tensor):
        self.ctx, self.pose, self.contact_index = ctx, pose, contact_index

    @property
    def hand(self) -> HandModel:
        return self.ctx.hand

    @property
    def joints(self) -> torch.Tensor:
        """``(B, K)`` radians."""
        return self.pose[:, BASE_DIM:]

    @cached_property
    def hand_to_object(self) -> torch.Tensor:
        """``(B, 4, 4)``."""
        return pose_to_matrix(self.pose)

    @cached_property
    def link_transforms(self) -> torch.Tensor:
        """``(B, L, 4, 4)`` in the hand frame."""
        return self.hand.link_transforms(self.joints)

    def held_points_in_box(self, held: HeldObject, sdf: TorchSDF
                           ) -> tuple[torch.Tensor, torch.Tensor]:
        """A held object's surface points inside ``sdf``'s object bounding box, in the
        current object's frame: ``(batch (M,), points (M, 3))``, differentiable.

        The held object's bounding sphere is tested first, so sequences whose held
        object is far from the current one cost nothing more.
        """
        rot, trans = self.hand_to_object[:, :3, :3], self.hand_to_object[:, :3, 3]
        lo, hi = sdf.box_lo, sdf.box_hi
        with torch.no_grad():
            centre = (rot @ held.centre_hand.unsqueeze(-1))[..., 0] + trans
            gap2 = ((centre - centre.clamp(lo, hi)) ** 2).sum(-1)
            rows = (gap2 <= held.radius ** 2).nonzero()[:, 0]
            local = held.surface_hand_t[rows]  # (R, 3, P) hand frame
            r, t = rot[rows], trans[rows]
            inside = torch.ones(local.shape[0], local.shape[2], dtype=torch.bool,
                                device=local.device)
            for a in range(3):
                c = (r[:, a, 0:1] * local[:, 0] + r[:, a, 1:2] * local[:, 1]
                     + r[:, a, 2:3] * local[:, 2] + t[:, a:a + 1])
                inside &= (c >= lo[a]) & (c <= hi[a])
            k, p = inside.nonzero(as_tuple=True)
            batch, pts = rows[k], local[k, :, p]
        return batch, (rot[batch] @ pts.unsqueeze(-1))[..., 0] + trans[batch]

    def surface_in_box(self, sdf: TorchSDF, hand_to_frame: torch.Tensor | None = None,
                       link_mask: torch.Tensor | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """Hand surface points inside ``sdf``'s object bounding box, in its frame.

        ``hand_to_frame`` ``(B, 4, 4)`` is the object's frame (default: the current
        object's). Returns ``(batch (M,), points (M, 3))``, differentiable.
        """
        frame = self.hand_to_object if hand_to_frame is None else hand_to_frame
        return self.hand.surface_near_box(frame, self.link_transforms, sdf.box_lo, sdf.box_hi,
                                          link_mask)

    @cached_property
    def _contacts(self) -> tuple[torch.Tensor, torch.Tensor]:
        pts, normals = self.hand.contacts(self.link_transforms, self.contact_index)
        rot = self.hand_to_object[:, :3, :3]
        return to_frame(self.hand_to_object, pts), normals @ rot.transpose(1, 2)

    @property
    def contacts(self) -> torch.Tensor:
        """The two contact points ``(B, 2, 3)``."""
        return self._contacts[0]

    @cached_property
    def contact_surface(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Signed distance ``(B, 2)`` of the contacts to the object and the object's
        outward normal ``(B, 2, 3)`` there (no gradient)."""
        return self.ctx.sdf.value_and_normal(self.contacts)

    @property
    def contact_normals(self) -> torch.Tensor:
        """Their inward hand normals ``(B, 2, 3)`` (unit)."""
        return self._contacts[1]


def to_frame(transform: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Apply ``(B, 4, 4)`` transforms to ``(B, N, 3)`` points."""
    return points @ transform[:, :3, :3].transpose(1, 2) + transform[:, None, :3, 3]


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

    def weight_at(self, weight: float, step: int, steps: int) -> float:
        return weight

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
