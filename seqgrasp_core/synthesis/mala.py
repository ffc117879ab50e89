"""Annealed MALA with joint masks (paper §IV-B, Algorithm 1 lines 5–9).

A proposal moves the grasp along its RMS-normalized energy gradient, masked by
``[1 (9), J_n]`` so that joints outside the opposition space never change; each of
the two contacts is re-drawn from its pool with probability ``switch_probability``;
the proposal is kept with the Metropolis probability ``min(1, exp((E − Ê)/T))``.
Step size and temperature decay geometrically. Defaults are those of SeqGrasp's
public code (see ``shared/reference/peer-facts.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from seqgrasp_core.geometry.pose import BASE_DIM
from seqgrasp_core.synthesis.state import GraspState, StepContext
from seqgrasp_core.synthesis.terms import WeightedEnergy


@dataclass(frozen=True)
class MalaConfig:
    """Optimizer settings; step sizes are in the grasp vector's units (m, 6D, rad).

    ``clamp_joints`` projects proposals onto the joint limits (the limits term then
    only guards frozen joints); ``stretch_schedule`` scales the decay intervals with
    ``steps / reference_steps``.
    """

    steps: int = 6000
    step_size: float = 0.005
    step_decay: float = 0.95
    step_decay_every: int = 50
    temperature: float = 32.0
    temperature_decay: float = 0.95
    temperature_decay_every: int = 30
    switch_probability: float = 0.3
    rms_mu: float = 0.98
    reference_steps: int = 6000
    stretch_schedule: bool = True
    clamp_joints: bool = True

    def _every(self, interval: int) -> float:
        """Decay interval in iterations; stretched so a run of ``steps`` anneals as far
        as the reference 6000-step run does (the peers' schedules assume 6000)."""
        if not self.stretch_schedule:
            return float(interval)
        return max(1e-9, interval * self.steps / self.reference_steps)

    def step_size_at(self, step: int) -> float:
        return self.step_size * self.step_decay ** (step // self._every(self.step_decay_every))

    def temperature_at(self, step: int) -> float:
        return self.temperature * self.temperature_decay ** (
            step // self._every(self.temperature_decay_every))


@dataclass
class OptimizationResult:
    """Final grasps ``pose`` ``(B, 9+K)``, contacts ``(B, 2)``, energies ``(B,)`` and terms."""

    pose: torch.Tensor
    contact_index: torch.Tensor
    energy: torch.Tensor
    terms: dict[str, torch.Tensor]
    acceptance: float


class ContactSampler:
    """Draws contact candidates from each sequence's opposition-space pools."""

    def __init__(self, ctx: StepContext, os_index: torch.Tensor, generator: torch.Generator):
        hand = ctx.hand
        self.generator = generator
        self.pools = (hand.pool_a[os_index], hand.pool_b[os_index])
        self.sizes = (hand.pool_a_size[os_index], hand.pool_b_size[os_index])

    def sample(self) -> torch.Tensor:
        """``(B, 2)`` candidate indices, one from pool A and one from pool B."""
        cols = []
        for pool, size in zip(self.pools, self.sizes):
            u = _uniform((size.shape[0],), self.generator, size.device)
            pick = (u * size).long().clamp_max(size - 1)
            cols.append(pool.gather(1, pick[:, None])[:, 0])
        return torch.stack(cols, dim=1)


def _uniform(shape: tuple[int, ...], generator: torch.Generator, device) -> torch.Tensor:
    """Uniform numbers from the run's CPU generator, so a seed means the same on any device."""
    return torch.rand(shape, generator=generator).to(device)


def evaluate(energy: WeightedEnergy, ctx: StepContext, pose: torch.Tensor,
             contact_index: torch.Tensor, step: int, steps: int):
    """``(total (B,), {name: term (B,)}, d total / d pose (B, 9+K))`` at optimizer step
    ``step`` of ``steps``, all detached."""
    pose = pose.detach().requires_grad_(True)
    total, terms = energy(GraspState(ctx, pose, contact_index), step, steps)
    if total.requires_grad:
        (grad,) = torch.autograd.grad(total.sum(), pose)
    else:  # every chosen term is constant here (e.g. only `oop` at the first step)
        grad = torch.zeros_like(pose)
    return total.detach(), {k: v.detach() for k, v in terms.items()}, grad


def step_limits(ctx: StepContext, pose: torch.Tensor, move_base: bool = True
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(movable (B, 9+K) bool, lower (9+K,), upper (9+K,))`` for grasps ``pose``:
    the mask ``[move_base (9), J_n]`` and the joint limits (the base is unbounded)."""
    b = pose.shape[0]
    base = torch.full((b, BASE_DIM), move_base, dtype=torch.bool, device=pose.device)
    unbounded = torch.full((BASE_DIM,), float("inf"), dtype=pose.dtype, device=pose.device)
    return (torch.cat((base, ctx.active), dim=1), torch.cat((-unbounded, ctx.hand.lower)),
            torch.cat((unbounded, ctx.hand.upper)))


def optimize(energy: WeightedEnergy, ctx: StepContext, pose: torch.Tensor,
             os_index: torch.Tensor, config: MalaConfig, generator: torch.Generator,
             progress: Callable[[int, torch.Tensor], None] | None = None,
             progress_every: int = 25, contacts: torch.Tensor | None = None
             ) -> OptimizationResult:
    """Run annealed MALA on ``pose`` ``(B, 9+K)`` with joint masks ``ctx.active``.

    ``os_index`` ``(B,)`` selects each sequence's contact pools; the first contacts
    ``(B, 2)`` are drawn from them unless given. ``progress(step, energy)`` is called
    at the start and every ``progress_every`` steps.
    """
    b, d = pose.shape
    movable, lower, upper = step_limits(ctx, pose)
    sampler = ContactSampler(ctx, os_index, generator)
    contacts = sampler.sample() if contacts is None else contacts
    pose = pose.detach().clone()
    e, terms, grad = evaluate(energy, ctx, pose, contacts, 0, config.steps)
    names = list(terms)
    stacked = _stack(terms, names, e)
    ema = torch.zeros(d, dtype=pose.dtype, device=pose.device)
    accepted = torch.zeros((), dtype=torch.long, device=pose.device)
    if progress is not None:
        progress(0, e)
    for step in range(1, config.steps + 1):
        ema = config.rms_mu * (grad ** 2).mean(0) + (1 - config.rms_mu) * ema
        moved = pose - config.step_size_at(step) * grad / (ema.sqrt() + 1e-6)
        if config.clamp_joints:
            moved = moved.clamp(lower, upper)
        proposal = torch.where(movable, moved, pose)
        switch = _uniform((b, 2), generator, pose.device) < config.switch_probability
        new_contacts = torch.where(switch, sampler.sample(), contacts)
        e_new, terms_new, grad_new = evaluate(energy, ctx, proposal, new_contacts, step,
                                               config.steps)
        u = _uniform((b,), generator, pose.device)
        accept = u < torch.exp((e - e_new) / config.temperature_at(step))
        accepted += accept.sum()
        keep = accept[:, None]
        pose = torch.where(keep, proposal, pose)
        grad = torch.where(keep, grad_new, grad)
        contacts = torch.where(keep, new_contacts, contacts)
        e = torch.where(accept, e_new, e)
        stacked = torch.where(accept, _stack(terms_new, names, e_new), stacked)
        if progress is not None and (step % progress_every == 0 or step == config.steps):
            progress(step, e)
    terms = {name: stacked[i] for i, name in enumerate(names)}
    return OptimizationResult(pose, contacts, e, terms,
                              int(accepted) / max(1, b * config.steps))


def _stack(terms: dict[str, torch.Tensor], names: list[str], like: torch.Tensor) -> torch.Tensor:
    """The term values ``(T, B)`` in ``names`` order (``(0, B)`` when there are none)."""
    if not names:
        return like.new_zeros(0, like.shape[0])
    return torch.stack([terms[name] for name in names])
