"""The state energy terms read: the grasps, the step's objects and what they share.

Terms (:mod:`seqgrasp_core.synthesis.terms`) do not compute kinematics themselves:
they read a :class:`GraspState`, which places the hand once
per evaluation and caches what several terms share (link poses, the grasp's frame,
contacts). Its tensors are batch-last (see :mod:`seqgrasp_core.geometry.transforms`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Mapping

import torch

from seqgrasp_core.geometry.boxes import box_gap2
from seqgrasp_core.geometry.pose import BASE_DIM, pose_to_block, pose_to_matrix
from seqgrasp_core.geometry.transforms import apply, compose, invert, take, to_matrices
from seqgrasp_core.hands.model import HandModel
from seqgrasp_core.objects.point_clusters import PointClusters
from seqgrasp_core.objects.sdf import TorchSDF


@dataclass
class HeldObject:
    """An object grasped at an earlier step, rigidly attached to the hand frame.

    ``hand_to_object`` ``(3, 4, B)`` maps hand-frame points into the object's frame
    (the grasp pose of that step, batch last); ``surface`` are the object's surface
    points in its own frame, inside a sphere of ``radius`` (m) about ``centre_hand``
    ``(3, B)`` (hand frame); ``dense`` ``(3, N)`` optionally more surface points
    (object frame) for ``E_ohp`` (see :attr:`StepContext.object_points`).
    """

    sdf: TorchSDF
    hand_to_object: torch.Tensor
    surface: PointClusters
    centre_hand: torch.Tensor
    radius: float
    dense: torch.Tensor | None = None

    @classmethod
    def attach(cls, sdf: TorchSDF, pose: torch.Tensor, surface: torch.Tensor,
               dense: torch.Tensor | None = None) -> "HeldObject":
        """From the step's grasps ``pose`` ``(B, 9+K)``, the object's own surface
        points ``(P, 3)`` and optionally ``dense`` ones ``(3, N)`` (object frame)."""
        return cls._around(sdf, pose_to_block(pose), surface, dense)

    @classmethod
    def _around(cls, sdf: TorchSDF, hand_to_object: torch.Tensor, surface: torch.Tensor,
                dense: torch.Tensor | None) -> "HeldObject":
        """With ``surface`` ``(P, 3)`` clustered and its bounding sphere placed in the
        hand frame by ``hand_to_object`` ``(3, 4, B)``."""
        clusters = PointClusters.of(surface)
        centre, radius = clusters.sphere()
        centre_hand = apply(invert(hand_to_object), centre[:, None])
        return cls(sdf, hand_to_object, clusters, centre_hand, radius, dense)

    def densified(self) -> "HeldObject":
        """The same object with ``dense`` as its surface points (itself without
        ``dense``), so that ``E_oop`` tests the dense points too."""
        if self.dense is None:
            return self
        return self._around(self.sdf, self.hand_to_object, self.dense.T, self.dense)

    @property
    def points(self) -> torch.Tensor:
        """``(3, N)`` the points ``E_ohp`` tests: ``dense``, else the surface points."""
        return self.surface.points if self.dense is None else self.dense

    def rows(self, index: torch.Tensor) -> "HeldObject":
        """The same object for the sequences ``index``."""
        return HeldObject(self.sdf, self.hand_to_object[..., index], self.surface,
                          self.centre_hand[..., index], self.radius, self.dense)


@dataclass
class StepContext:
    """What stays fixed while one object is optimized (step ``n`` of Algorithm 1).

    ``active`` ``(B, K)`` is the joint mask ``J_n`` of each sequence's opposition
    space; ``held`` the objects grasped at steps ``1..n-1``; ``surface`` ``(P, 3)``
    the current object's surface points in its own frame (metres), for the terms
    that test it against the held objects (``None``: not tested);
    ``depth_allowance`` (m) the depth that ``hop`` lets the hand reach into an object,
    ``oop`` one object into another and ``E_ohp`` the objects' points into the hand
    before it counts (0 in MALA; the refinement's, see :mod:`seqgrasp_core.synthesis.refine`);
    ``dense_surface`` ``(3, N)`` optionally more of the current object's surface
    points for ``E_ohp``;
    ``searches`` what terms found with :meth:`EnergyTerm.search`, by term name (the
    refinement fills it; e.g. the point–primitive pairs ``E_ohp`` evaluates).
    """

    hand: HandModel
    sdf: TorchSDF
    active: torch.Tensor
    held: list[HeldObject] = field(default_factory=list)
    step: int = 0
    steps: int = 1
    surface: torch.Tensor | None = None
    depth_allowance: float = 0.0
    dense_surface: torch.Tensor | None = None
    searches: Mapping[str, Any] = field(default_factory=dict)

    def densified(self) -> "StepContext":
        """This context with ``dense_surface`` as the current object's ``surface`` and
        each held object's dense points as its surface (:meth:`HeldObject.densified`):
        ``E_oop`` then sums depth over as many points per unit area as ``E_ohp``.
        Itself when there is no ``dense_surface``."""
        if self.dense_surface is None:
            return self
        return replace(self, surface=self.dense_surface.T,
                       held=[h.densified() for h in self.held])

    @property
    def object_points(self) -> torch.Tensor | None:
        """``(3, N)`` the current object's points ``E_ohp`` tests (object frame):
        ``dense_surface``, else ``surface``; ``None`` without either."""
        if self.dense_surface is not None:
            return self.dense_surface
        return None if self.surface is None else self.surface.T

    @cached_property
    def penetration_sdfs(self) -> tuple[TorchSDF, list[TorchSDF]]:
        """``(current object's, [each held object's])`` SDFs that ``hop`` measures depth
        in: the objects' own, shrunk by ``depth_allowance`` when it is positive."""
        if self.depth_allowance <= 0.0:
            return self.sdf, [h.sdf for h in self.held]
        return (self.sdf.shrunk(self.depth_allowance),
                [h.sdf.shrunk(self.depth_allowance) for h in self.held])

    @cached_property
    def surface_clusters(self) -> PointClusters:
        """``surface`` clustered, with its bounding sphere (object frame)."""
        return PointClusters.of(self.surface)

    @cached_property
    def surface_sphere(self) -> tuple[torch.Tensor, float]:
        """``(centre (3,), radius m)`` of a sphere holding ``surface`` (object frame)."""
        return self.surface_clusters.sphere()

    @cached_property
    def moving_links(self) -> torch.Tensor:
        """``(B, L)`` bool: the link moves with this step's joints."""
        return self.hand.moving_links(self.active)


class GraspState:
    """A batch of grasps ``pose`` ``(B, 9+K)`` with their two contacts ``(B, 2)``.

    Every property is in the frame of the object being grasped unless it says
    ``hand``; lengths in metres. Properties ending in ``_t`` are batch-last tensors
    (the layout of :mod:`seqgrasp_core.geometry.transforms`, fast on a CPU); the others are the
    same values batch-first, for terms that prefer it.
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
    def hand_to_object_t(self) -> torch.Tensor:
        """``(3, 4, B)``."""
        return pose_to_block(self.pose)

    @property
    def hand_to_object(self) -> torch.Tensor:
        """``(B, 4, 4)``."""
        return pose_to_matrix(self.pose)

    @cached_property
    def links_hand_t(self) -> torch.Tensor:
        """Link poses ``(3, 4, L, B)`` in the hand frame."""
        return self.hand.link_poses(self.joints.T.contiguous())

    @cached_property
    def links_t(self) -> torch.Tensor:
        """Link poses ``(3, 4, L, B)`` (for plugin terms: the built-in ones place only
        the links they need in the object frame)."""
        return compose(self.hand_to_object_t.unsqueeze(2), self.links_hand_t)

    @property
    def link_transforms(self) -> torch.Tensor:
        """``(B, L, 4, 4)`` in the hand frame."""
        return to_matrices(self.links_hand_t)

    def surface_near(self, sdf: TorchSDF, hand_to_frame: torch.Tensor | None = None,
                     link_mask: torch.Tensor | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Hand surface points that may lie in ``sdf``'s object bounding box, in its
        frame: ``(points (3, P, M), batch (M,), valid (P, M))`` as
        :meth:`HandModel.surface_near_box`, differentiable.

        ``hand_to_frame`` ``(3, 4, B)`` is the object's frame (default: the current
        object's); ``link_mask`` ``(B, L)`` limits the links.
        """
        frame = self.hand_to_object_t if hand_to_frame is None else hand_to_frame
        return self.hand.surface_near_box(self.links_hand_t, frame, sdf.box_lo, sdf.box_hi,
                                          link_mask, sdf.outside_bound)

    def surface_inside(self, sdf: TorchSDF, hand_to_frame: torch.Tensor | None = None,
                       link_mask: torch.Tensor | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """Hand surface points inside ``sdf``'s object, in its frame: ``(points (3, 1,
        S), batch (S,))`` as :meth:`HandModel.surface_inside`, differentiable;
        ``hand_to_frame`` and ``link_mask`` as in :meth:`surface_near`."""
        frame = self.hand_to_object_t if hand_to_frame is None else hand_to_frame
        return self.hand.surface_inside(self.links_hand_t, frame, sdf, link_mask)

    def held_points_in_box(self, held: HeldObject, sdf: TorchSDF
                           ) -> tuple[torch.Tensor, torch.Tensor]:
        """A held object's surface points inside ``sdf``'s object bounding box, in the
        current object's frame: ``(batch (M,), points (3, M))``, differentiable.

        The held object's bounding sphere is tested first, so sequences whose held
        object is far from the current one cost nothing more.
        """
        # held object's frame -> hand frame -> current object's frame, (3, 4, B)
        into_current = compose(self.hand_to_object_t, invert(held.hand_to_object))
        with torch.no_grad():
            centre = apply(self.hand_to_object_t, held.centre_hand)  # (3, B)
            rows = (box_gap2(centre, sdf.box_lo.reshape(3, 1), sdf.box_hi.reshape(3, 1))
                    <= held.radius ** 2).nonzero()[:, 0]
            p, r = held.surface.inside_box(into_current, rows, sdf.box_lo, sdf.box_hi)
            batch = rows[r]
        return batch, apply(take(into_current, batch), held.surface.points[:, p])

    def object_points_in_held_box(self, held: HeldObject
                                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """The current object's surface points (``ctx.surface``) inside ``held``'s
        bounding box, in the held object's frame: ``(batch (M,), points (3, M))``,
        differentiable in the grasp pose. Rows whose bounding spheres are apart are
        skipped first."""
        surface = self.ctx.surface_clusters
        # current object's frame -> hand frame -> held object's frame, (3, 4, B)
        into_held = compose(held.hand_to_object, invert(self.hand_to_object_t))
        with torch.no_grad():
            centre, radius = self.ctx.surface_sphere
            held_centre = apply(self.hand_to_object_t, held.centre_hand)  # (3, B)
            gap = (held_centre - centre[:, None]).norm(dim=0)
            rows = (gap <= radius + held.radius).nonzero()[:, 0]
            p, r = surface.inside_box(into_held, rows, held.sdf.box_lo, held.sdf.box_hi)
            batch = rows[r]
        return batch, apply(take(into_held, batch), surface.points[:, p])

    @cached_property
    def _contacts_t(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.hand.contacts(self.links_hand_t, self.contact_index, self.hand_to_object_t)

    @property
    def contacts_t(self) -> torch.Tensor:
        """The two contact points ``(3, 2, B)``."""
        return self._contacts_t[0]

    @property
    def contact_normals_t(self) -> torch.Tensor:
        """Their inward hand normals ``(3, 2, B)`` (unit)."""
        return self._contacts_t[1]

    @cached_property
    def contact_surface_t(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Signed distance ``(2, B)`` of the contacts to the object and the object's
        outward unit normal ``(3, 2, B)`` there (no gradient), both from the grid's
        smoothed gradient (:meth:`TorchSDF.smooth_sample`)."""
        return self.ctx.sdf.smooth_sample(self.contacts_t)

    @property
    def contacts(self) -> torch.Tensor:
        """``(B, 2, 3)``."""
        return self.contacts_t.permute(2, 1, 0)

    @property
    def contact_normals(self) -> torch.Tensor:
        """``(B, 2, 3)``."""
        return self.contact_normals_t.permute(2, 1, 0)

    @property
    def contact_surface(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, 2)`` and ``(B, 2, 3)``."""
        value, normal = self.contact_surface_t
        return value.T, normal.permute(2, 1, 0)
