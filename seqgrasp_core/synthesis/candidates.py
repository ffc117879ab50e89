"""Choosing one grasp among a sequence's candidates (``GenerateConfig.candidates``).

MALA's final energy ranks grasps of the same object well on average, but a weighted
sum cannot tell a grasp with a few millimetres of spread-out depth from one with a
whole link buried in the object. A buried link is a local minimum of ``hop``: the
depths of the points on its opposite faces pull it in opposite directions, so
neither MALA nor the refinement gets it out (e.g. a finger link through the ring's
22 mm tube, 10.5 mm deep, or the thumb's base in the box). So a candidate whose deepest point lies beyond
``depth_limit`` loses to any candidate within it, and among those the lowest
energy wins. When every candidate is beyond it, the shallowest wins: a buried link
stays buried through the refinement, so among buried grasps the one buried least
is the one most likely to hold and the one that adds least to the mean depth.
"""

from __future__ import annotations

import torch

from seqgrasp_core.geometry.transforms import invert
from seqgrasp_core.synthesis.mala import OptimizationResult
from seqgrasp_core.synthesis.state import GraspState


def deepest_penetration(state: GraspState) -> torch.Tensor:
    """``(B,)`` metres: the deepest point of this step's overlaps, on the SDF grids.

    Hand surface points inside the current object (any link) and inside the held
    objects (links that move at this step: the others are the same for every
    candidate), held objects' surface points inside the current object, and its
    points inside them. With the current object's surface points (``ctx.surface``),
    also those points inside the hand's collision primitives (exact depths), and the
    held objects' points inside the moving links' primitives: an object that pierces
    a link has little of the link's surface inside it (a capsule through the palm),
    so the hand's points alone miss that overlap. No gradient.
    """
    ctx, size = state.ctx, state.pose.shape[0]
    with torch.no_grad():
        points, batch = state.surface_inside(ctx.sdf)
        deepest = ctx.sdf.depth_max(points, batch, size)
        links = state.links_hand_t
        if ctx.surface is not None:
            deepest = torch.maximum(deepest, state.hand.depth_in_primitives(
                links, invert(state.hand_to_object_t), ctx.surface.T))
        for held in ctx.held:
            deepest = torch.maximum(deepest, state.hand.depth_in_primitives(
                links, invert(held.hand_to_object), held.surface.points, ctx.moving_links))
            points, batch = state.surface_inside(held.sdf, held.hand_to_object,
                                                 ctx.moving_links)
            found = [(held.sdf, batch, points),
                     (ctx.sdf, *state.held_points_in_box(held, ctx.sdf))]
            if ctx.surface is not None:
                found.append((held.sdf, *state.object_points_in_held_box(held)))
            for sdf, batch, points in found:
                deepest = torch.maximum(deepest, sdf.depth_max(points, batch, size))
    return deepest


def best_candidates(result: OptimizationResult, candidates: int,
                    deepest: torch.Tensor | None = None,
                    depth_limit: float = float("inf")) -> OptimizationResult:
    """The best grasp of each group of ``candidates`` consecutive rows of ``result``
    (``B·candidates`` rows in, ``B`` out).

    The lowest energy among the candidates whose ``deepest`` ``(B·candidates,)``
    penetration (m) is at most ``depth_limit``; where none is, the shallowest (the
    lowest energy among equally deep ones). Without ``deepest``, the lowest energy.
    A NaN energy never wins while another candidate's energy is finite.
    """
    energy = torch.nan_to_num(result.energy, nan=float("inf"))
    groups = energy.shape[0] // candidates
    energy = energy.view(groups, candidates)
    pick = energy.argmin(1)
    if deepest is not None:
        depth = deepest.view(groups, candidates)
        within = torch.where(depth > depth_limit, float("inf"), energy)
        # Shallowest of all; a NaN energy counts as infinitely deep.
        depth = torch.where(torch.isinf(energy), float("inf"), depth)
        shallowest = torch.where(depth == depth.amin(1, keepdim=True), energy,
                                 float("inf")).argmin(1)
        pick = torch.where(torch.isinf(within.amin(1)), shallowest, within.argmin(1))
    pick = pick + torch.arange(groups, device=energy.device) * candidates
    return OptimizationResult(result.pose[pick], result.contact_index[pick],
                              result.energy[pick], {k: v[pick] for k, v in result.terms.items()},
                              result.acceptance)
