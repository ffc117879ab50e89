"""Penetration refinement: a short monotone descent after annealed MALA.

MALA's steps shrink ×0.95 every 50 iterations, so by the end of a 6000-iteration run
a grasp barely moves (step ≈ 2·10⁻⁵), and ``hop`` only sees the hand's 1000 surface
samples: the grasp keeps whatever depth it had mid-run, and the parts of the hand
between samples are never penalized. Measured on the validator's exact depths at the
paper's settings, the mean of the largest depth was 4.1 mm for one object and 12 mm
for four (docs/validation.md).

The refinement continues from MALA's grasps with the same energy at its final
weights, except that ``hop`` is scaled by ``hop_scale`` and evaluated on a denser
hand surface (``surface_points`` samples). Each grasp takes gradient steps, masked like
MALA's (``[1 (9), J_n]``, so frozen joints stay bit-for-bit): the gradient is divided
per coordinate by its RMS over the batch (as MALA does, which puts metres, 6D entries
and radians on one scale), then per grasp by its largest entry, so that a grasp's
step moves no coordinate by more than its own step size. A step is kept only when
it lowers that grasp's refinement energy (then the step size grows by ``grow``);
otherwise it is dropped and the step size shrinks by ``shrink``. The refinement energy therefore never increases.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from .energy import GraspState, StepContext, WeightedEnergy
from .pose import BASE_DIM


@dataclass(frozen=True)
class RefineConfig:
    """Refinement settings; ``steps = 0`` turns the refinement off.

    ``step_size`` is the first step: the largest change of any coordinate of a grasp
    vector (m, 6D, rad).
    """

    steps: int = 200
    hop_scale: float = 30.0
    surface_points: int = 4000
    step_size: float = 1e-3
    grow: float = 1.2
    shrink: float = 0.5


def refinement_energy(energy: WeightedEnergy, config: RefineConfig) -> WeightedEnergy:
    """``energy`` with the ``hop`` weight scaled by ``config.hop_scale`` (a weight
    schedule is linear in its base weight, so the scaled term keeps its ramp)."""
    terms = dict(energy.terms)
    if "hop" in terms:
        term, weight = terms["hop"]
        terms["hop"] = (term, weight * config.hop_scale)
    return WeightedEnergy(terms)


def refine(energy: WeightedEnergy, ctx: StepContext, pose: torch.Tensor,
           contact_index: torch.Tensor, config: RefineConfig, step: int, steps: int
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Refine ``pose`` ``(B, 9+K)`` with contacts ``(B, 2)`` fixed.

    ``energy`` is evaluated at optimizer step ``step`` of ``steps`` (its weights'
    schedules there) on ``ctx`` (whose hand may be a denser model than MALA's).
    Returns ``(pose, energy before (B,), energy after (B,))``; after ≤ before.
    """
    b = pose.shape[0]
    movable = torch.cat((torch.ones(b, BASE_DIM, dtype=torch.bool, device=pose.device),
                         ctx.active), dim=1)
    unbounded = torch.full((BASE_DIM,), float("inf"), dtype=pose.dtype, device=pose.device)
    lower = torch.cat((-unbounded, ctx.hand.lower))
    upper = torch.cat((unbounded, ctx.hand.upper))

    def evaluate(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.detach().requires_grad_(True)
        total, _ = energy(GraspState(ctx, x, contact_index), step, steps)
        if not total.requires_grad:
            return total.detach(), torch.zeros_like(x)
        (grad,) = torch.autograd.grad(total.sum(), x)
        return total.detach(), grad

    pose = pose.detach().clone()
    e, grad = evaluate(pose)
    start = e.clone()
    size = torch.full((b, 1), config.step_size, dtype=pose.dtype, device=pose.device)
    for _ in range(config.steps):
        direction = torch.where(movable, grad / (grad.pow(2).mean(0).sqrt() + 1e-12), 0.0)
        direction = direction / (direction.abs().amax(1, keepdim=True) + 1e-12)
        moved = (pose - size * direction).clamp(lower, upper)
        proposal = torch.where(movable, moved, pose)
        e_new, grad_new = evaluate(proposal)
        better = e_new < e
        keep = better[:, None]
        pose = torch.where(keep, proposal, pose)
        grad = torch.where(keep, grad_new, grad)
        e = torch.where(better, e_new, e)
        size = torch.where(keep, size * config.grow, size * config.shrink)
    return pose, start, e


def dense_context(ctx: StepContext, dense_hand) -> StepContext:
    """``ctx`` with the hand model swapped for ``dense_hand`` (same hand, more points)."""
    return replace(ctx, hand=dense_hand)
