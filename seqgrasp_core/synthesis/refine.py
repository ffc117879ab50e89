"""Penetration refinement: an optional, monotone descent after annealed MALA.

MALA's steps shrink ×0.95 every 50 iterations, so by the end of a 6000-iteration run
a grasp barely moves (step ≈ 2·10⁻⁵), and ``hop`` only sees the hand's 1000 surface
samples: a grasp keeps the depth it had mid-run (the validator measured 4.1 mm on
average for one object at the paper's settings, docs/validation.md). For uses that
need shallow grasps (replay on hardware, a penetration-free dataset), the
refinement continues from MALA's grasps with the run's energy at its final weights,
the terms named in ``scales`` re-weighted (by default ``hop`` ×3, ``oop`` ×30 and
``fc`` left out: force closure's normals carry no gradient, so with ``fc`` in,
descent stalls), the contacts fixed, and every depth term counting only depth beyond
``depth_allowance`` (1 mm):

- ``hop`` on a dense hand surface (``surface_points`` samples, 40000: under 2 mm
  apart on the Allegro, near the validator's 1 mm; ``hop`` sums depth over samples,
  so ×3 at 40000 weighs depth per unit area as ×30 did at 4000);
- the terms that count only here, such as ``ohp`` (weight 150 by default, ``--energy
  ohp=W``): the objects' points inside the hand's collision primitives, on
  ``object_points`` samples of each object's surface. A term with something to
  search (:meth:`EnergyTerm.search`; ``ohp``: its point–primitive pairs, among the
  points near a primitive) searches at the start and every ``reselect`` steps; a
  point that comes within reach between two searches counts from the next search
  on, and the refinement then compares its steps against the energy on the new
  search;
- ``oop`` on the same ``object_points`` samples (:meth:`StepContext.densified`)
  instead of MALA's 512 per object: ×30 there (5 → 150 on 3000 points) weighs
  object–object depth per unit area as ``hop`` and ``ohp`` weigh theirs (about
  3·10⁷ per m² of surface and m of depth). At MALA's weight on 512 points it
  weighed ~1/170 of that, and the four-object depth was set by objects pressed into
  each other (docs/energies-and-optimizer.md).

The allowance is what keeps the success rate: in the MuJoCo validator a grasp that
presses into its object holds by that preload, so pushing every point out of the
object halves the success rate, while trimming only what reaches deeper than 1 mm
removes the deep tail and keeps it (the measured table is in
docs/energies-and-optimizer.md).

Each grasp takes gradient steps, masked like MALA's (``[1 (9), J_n]``, so frozen
joints stay bit-for-bit; ``move_base=False`` also keeps the wrist): the gradient is
divided per coordinate by its RMS over the batch (as MALA does, which puts metres,
6D entries and radians on one scale), then per grasp by its largest entry, so that a
step moves no coordinate by more than the grasp's own step size. A step is kept only
when it lowers that grasp's refinement energy (the step size then grows by ``grow``);
otherwise it is dropped and the step size shrinks by ``shrink``. The refinement
energy therefore never increases.

It is off by default (``steps = 0``): the paper has no such step.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from seqgrasp_core.synthesis.mala import evaluate, step_limits
from seqgrasp_core.synthesis.state import GraspState, StepContext
from seqgrasp_core.synthesis.terms import WeightedEnergy


@dataclass(frozen=True)
class RefineConfig:
    """Refinement settings; ``steps = 0`` turns the refinement off.

    ``step_size`` is the first step: the largest change of any coordinate of a grasp
    vector (m, 6D, rad). ``depth_allowance`` (m) is the depth ``hop``, ``oop`` and
    ``ohp`` let pass; ``object_points`` the surface samples per object that ``oop``
    and ``ohp`` test; ``reselect`` the steps between the terms' searches.
    """

    steps: int = 0
    scales: tuple[tuple[str, float], ...] = (("hop", 3.0), ("fc", 0.0), ("oop", 30.0))
    surface_points: int = 40000
    depth_allowance: float = 0.001
    step_size: float = 1e-3
    grow: float = 1.2
    shrink: float = 0.5
    move_base: bool = True
    object_points: int = 3000
    reselect: int = 20


def refinement_energy(energy: WeightedEnergy, config: RefineConfig) -> WeightedEnergy:
    """The terms of ``energy`` that count in the refinement, the weights of those
    named in ``config.scales`` multiplied (a weight schedule is linear in its base
    weight, so a scaled term keeps its ramp); a term scaled by 0 is left out."""
    scale = dict(config.scales)
    terms = energy.for_stage("refine").terms
    # The optimizer's terms first, then the refinement's own: a fixed order of the sum.
    order = sorted(terms, key=lambda name: "optimize" not in terms[name][0].stages)
    return WeightedEnergy({name: (terms[name][0], terms[name][1] * scale.get(name, 1.0))
                           for name in order if scale.get(name, 1.0) != 0.0})


def searched(energy: WeightedEnergy, ctx: StepContext, pose: torch.Tensor,
             contact_index: torch.Tensor) -> StepContext:
    """``ctx`` with every term's :meth:`~EnergyTerm.search` for the grasps ``pose``."""
    state = GraspState(ctx, pose, contact_index)
    found = {name: term.search(state) for name, (term, _) in energy.terms.items()}
    return replace(ctx, searches={k: v for k, v in found.items() if v is not None})


def refine(energy: WeightedEnergy, ctx: StepContext, pose: torch.Tensor,
           contact_index: torch.Tensor, config: RefineConfig, step: int, steps: int
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Refine ``pose`` ``(B, 9+K)`` with contacts ``(B, 2)`` fixed.

    ``energy`` is evaluated at optimizer step ``step`` of ``steps`` (its weights'
    schedules there) on ``ctx`` (whose hand may be a denser model than MALA's).
    Returns ``(pose, energy before (B,), energy after (B,))``; after ≤ before (for a
    term that searches, each on its search last before it was evaluated).
    """
    ctx = replace(ctx, depth_allowance=config.depth_allowance)
    movable, lower, upper = step_limits(ctx, pose, config.move_base)
    pose = pose.detach().clone()
    ctx = searched(energy, ctx, pose, contact_index)
    e, _, grad = evaluate(energy, ctx, pose, contact_index, step, steps)
    start = e.clone()
    size = torch.full((pose.shape[0], 1), config.step_size, dtype=pose.dtype,
                      device=pose.device)
    for i in range(config.steps):
        if ctx.searches and i > 0 and i % config.reselect == 0:
            # A new search changes the energy's value: compare the next step against it.
            ctx = searched(energy, ctx, pose, contact_index)
            e, _, grad = evaluate(energy, ctx, pose, contact_index, step, steps)
        direction = torch.where(movable, grad / (grad.pow(2).mean(0).sqrt() + 1e-12), 0.0)
        direction = direction / (direction.abs().amax(1, keepdim=True) + 1e-12)
        moved = (pose - size * direction).clamp(lower, upper)
        proposal = torch.where(movable, moved, pose)
        e_new, _, grad_new = evaluate(energy, ctx, proposal, contact_index, step, steps)
        better = e_new < e
        keep = better[:, None]
        pose = torch.where(keep, proposal, pose)
        grad = torch.where(keep, grad_new, grad)
        e = torch.where(better, e_new, e)
        size = torch.where(keep, size * config.grow, size * config.shrink)
    return pose, start, e
