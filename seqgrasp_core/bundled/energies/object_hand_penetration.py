"""``E_ohp`` (beyond the paper): depth of the objects' points inside the hand.

``hop`` samples the hand's surface and sums how deep each sample lies in the object.
Where an object's edge or corner presses into a link, little of the link's surface
is inside the object while the object reaches deep into the link, and the validator
measures that depth from the object's side (docs/validation.md: on the box of
seed 1, 1.68 mm from the object's points against 1.46 mm from the hand's). This
term sums the depth, beyond ``ctx.depth_allowance``, of the current object's points
(``ctx.object_points``) inside every collision primitive of the hand, exact signed
distances of the URDF's boxes, spheres and cylinders, and of the held objects'
points inside the primitives of the links that move at this step (the others do
not move relative to them). Units: metres summed over points.

Testing every point against every primitive for every grasp is the costly part
(3000 points × 29 primitives × B on the Allegro). The refinement calls
:meth:`ObjectHandPenetration.search` every few steps, which finds the pairs within
``search_margin`` of each other, and the term then evaluates only those; without a
search every point inside a primitive is. The term counts only in the refinement
(it is not among the paper's six); ``--energy ohp=W`` sets its weight, 0 leaves it
out.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from seqgrasp_core.api import EnergyTerm, GraspState, invert

Pairs = list[tuple[torch.Tensor, torch.Tensor]]  # per primitive: (point index, batch index)


@dataclass(frozen=True)
class Overlaps:
    """Point–primitive pairs to evaluate: ``current`` for the current object's points,
    ``held[i]`` for held object ``i``'s (see :meth:`HandModel.primitive_overlaps`)."""

    current: Pairs
    held: list[Pairs]


def find_overlaps(state: GraspState, margin: float) -> Overlaps:
    """The pairs of ``state`` whose point is inside its primitive or less than
    ``margin`` (m) outside it (held objects: moving links only). No gradient."""
    ctx, hand, links = state.ctx, state.hand, state.links_hand_t
    current = hand.primitive_overlaps(links, invert(state.hand_to_object_t),
                                      ctx.object_points, margin)
    held = [hand.primitive_overlaps(links, invert(h.hand_to_object), h.points, margin,
                                    ctx.moving_links) for h in ctx.held]
    return Overlaps(current, held)


class ObjectHandPenetration(EnergyTerm):
    name = "ohp"
    # Per unit area about hop's refinement weight (5·e²·3 on 40000 samples of the
    # Allegro's 0.13 m²), for 3000 points on a 0.013 m² object.
    default_weight = 150.0
    description = ("summed depth of the objects' points inside the hand's collision "
                   "primitives, m (beyond the paper; refinement only)")
    stages = ("refine",)

    def __init__(self, search_margin: float = 0.003) -> None:
        self.search_margin = search_margin  # m: pairs this close count from a search on

    def search(self, state: GraspState) -> Overlaps | None:
        if state.ctx.object_points is None:
            return None
        return find_overlaps(state, self.search_margin)

    def __call__(self, state: GraspState) -> torch.Tensor:
        ctx, size = state.ctx, state.pose.shape[0]
        energy = torch.zeros(size, dtype=state.pose.dtype, device=state.pose.device)
        if ctx.object_points is None:
            return energy
        overlaps = ctx.searches.get(self.name) or find_overlaps(state, 0.0)
        placed = [(invert(state.hand_to_object_t), ctx.object_points, overlaps.current)]
        placed += [(invert(h.hand_to_object), h.points, pairs)
                   for h, pairs in zip(ctx.held, overlaps.held)]
        for object_to_hand, points, pairs in placed:
            depth, batch = state.hand.overlap_depths(state.links_hand_t, object_to_hand,
                                                     points, pairs)
            energy = energy.index_add(0, batch, (depth - ctx.depth_allowance).clamp_min(0.0))
        return energy
