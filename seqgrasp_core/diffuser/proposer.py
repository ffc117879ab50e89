"""SeqDiffuser in Algorithm 1's loop: each step's grasps sampled instead of optimized.

The sequence bookkeeping (opposition spaces drawn and removed, joints frozen, held
objects attached, the optional refinement) is ``generate``'s own; this proposer only
replaces MALA. Each grasp's two contacts, which the run file and the energy need,
are the candidates of its opposition space's two pools nearest the object.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import torch

from seqgrasp_core.diffuser.model import SURFACE_SAMPLES, SeqDiffuser
from seqgrasp_core.hands.model import HandModel
from seqgrasp_core.objects.mesh import sample_surface
from seqgrasp_core.synthesis.candidates import best_candidates, deepest_penetration
from seqgrasp_core.synthesis.mala import MalaConfig, OptimizationResult, optimize
from seqgrasp_core.synthesis.sequence import Proposer, StepProblem
from seqgrasp_core.synthesis.state import GraspState
from seqgrasp_core.synthesis.terms import WeightedEnergy


def nearest_contacts(hand: HandModel, state: GraspState, os_index: torch.Tensor
                     ) -> torch.Tensor:
    """``(B, 2)`` per grasp the candidate of pool A and of pool B (of its opposition
    space ``os_index`` ``(B,)``) with the smallest unsigned distance to the object."""
    picks = []
    with torch.no_grad():
        for pool in (hand.pool_a, hand.pool_b):
            index = pool[os_index]  # (B, M), -1 pads
            points, _ = hand.contacts(state.links_hand_t, index.clamp_min(0),
                                      state.hand_to_object_t)  # (3, M, B)
            distance = state.ctx.sdf.sample(points)[0].abs().T  # (B, M)
            distance = distance.masked_fill(index < 0, float("inf"))
            picks.append(index.gather(1, distance.argmin(1, keepdim=True))[:, 0])
    return torch.stack(picks, dim=1)


@dataclass(frozen=True)
class SamplerSettings:
    """How SeqDiffuser proposes a step's grasps: ``steps`` denoising steps of
    ``solver``; ``candidates`` samples per sequence, the lowest-energy one without a
    deep overlap kept (as the optimizer's best-of-K); then ``mala_steps`` iterations
    of MALA from it at the end of its cooling schedule (0: none)."""

    steps: int = 10
    solver: str = "dpm++"
    candidates: int = 1
    mala_steps: int = 0
    candidate_depth_limit: float = 0.004  # m


class _FinalWeights:
    """``energy`` with the weights a ``steps``-iteration run ends with, at any step."""

    def __init__(self, energy: WeightedEnergy, steps: int):
        self.energy, self.steps = energy, steps

    def __call__(self, state: GraspState, step: int, steps: int):
        return self.energy(state, self.steps, self.steps)


def polish_config(steps: int, reference: MalaConfig = MalaConfig()) -> MalaConfig:
    """MALA for ``steps`` iterations starting where a ``reference`` run is at 90 % of
    its schedule: small steps at a low temperature, to settle a sampled grasp, not to
    search anew."""
    late = int(0.9 * reference.steps)
    return replace(reference, steps=steps, step_size=reference.step_size_at(late),
                   temperature=reference.temperature_at(late), stretch_schedule=False)


def diffuser_proposer(model: SeqDiffuser, hand: HandModel, energy: WeightedEnergy,
                      energy_step: int, settings: SamplerSettings = SamplerSettings(),
                      timings: list[float] | None = None) -> Proposer:
    """A :data:`~seqgrasp_core.synthesis.sequence.Proposer` that samples each step's
    grasps with ``model``, clamps the joints to their limits, picks the contacts,
    keeps the best of ``settings.candidates`` and optionally polishes with MALA;
    ``energy`` counts at iteration ``energy_step`` of ``energy_step`` (the weights a
    MALA run ends with). ``timings`` (if given) collects the seconds of each step's
    sampling alone."""
    model.check_hand(hand.os_names, hand.num_joints)
    surfaces: dict[str, torch.Tensor] = {}  # by object sha256
    final = _FinalWeights(energy, energy_step)
    k = settings.candidates

    def propose(problem: StepProblem, generator: torch.Generator, report) -> OptimizationResult:
        obj = problem.obj
        if obj.sha256 not in surfaces:  # as in the dataset the model learned from
            surfaces[obj.sha256] = torch.as_tensor(
                sample_surface(obj.mesh, SURFACE_SAMPLES), dtype=torch.float32)
        ctx = problem.ctx if k == 1 else problem.context(problem.alive.repeat_interleave(k))
        os_index = problem.os_index.repeat_interleave(k)
        joints = problem.joints.repeat_interleave(k, dim=0)
        t0 = time.perf_counter()
        pose = model.sample(surfaces[obj.sha256], os_index, joints.float(), ctx.active.cpu(),
                            generator, settings.steps, settings.solver)
        if timings is not None:
            timings.append(time.perf_counter() - t0)
        pose = pose.to(hand.open_pose)
        limited = pose[:, 9:].clamp(hand.lower, hand.upper)
        pose[:, 9:] = torch.where(ctx.active, limited, joints.to(pose))
        contacts = nearest_contacts(hand, GraspState(ctx, pose, None), os_index.to(pose.device))
        if settings.mala_steps > 0:
            result = optimize(final, ctx, pose, os_index.to(pose.device),
                              polish_config(settings.mala_steps), generator, contacts=contacts)
        else:
            with torch.no_grad():
                total, terms = energy(GraspState(ctx, pose, contacts), energy_step, energy_step)
            result = OptimizationResult(pose, contacts, total, terms, acceptance=float("nan"))
        if k > 1:
            deepest = deepest_penetration(GraspState(ctx, result.pose, result.contact_index))
            result = best_candidates(result, k, deepest, settings.candidate_depth_limit)
        report(energy_step, result.energy)
        return result

    return propose
