"""Algorithm 1 of the paper: sequential grasp generation for a batch of sequences.

All ``B`` sequences grasp the same object sequence; each draws its own opposition
spaces. At step ``n`` the hand starts on object ``n``'s inflated hull with the joint
angles it ended step ``n − 1`` with (the open pose at ``n = 1``), the objects
grasped so far rigidly attached to the hand frame, and only ``J_n`` may move.

Beyond the paper, each sequence may optimize ``candidates`` grasps of object ``n``
at once (same opposition space, same held objects, different starts and MALA draws)
and keep the one with the lowest final energy among those without a deep overlap
(:mod:`seqgrasp_core.synthesis.candidates`): a multi-start of the same optimization, run as
``candidates`` times as many rows of one batch (on a CPU well under ``candidates``
times the time, see docs/benchmarks.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable

import torch

from seqgrasp_core.hands.model import HandModel
from seqgrasp_core.objects.mesh import GraspObject, sample_surface
from seqgrasp_core.synthesis.candidates import best_candidates, deepest_penetration
from seqgrasp_core.synthesis.initialization import initial_poses
from seqgrasp_core.synthesis.mala import MalaConfig, OptimizationResult, optimize
from seqgrasp_core.synthesis.opposition import OppositionState, check_fixed_order
from seqgrasp_core.synthesis.refine import RefineConfig, refine, refinement_energy
from seqgrasp_core.synthesis.state import GraspState, HeldObject, StepContext
from seqgrasp_core.synthesis.terms import WeightedEnergy


@dataclass(frozen=True)
class GenerateConfig:
    batch: int = 256
    seed: int = 0
    device: str = "cpu"
    mala: MalaConfig = field(default_factory=MalaConfig)
    refine: RefineConfig = field(default_factory=RefineConfig)
    os_order: tuple[str, ...] | None = None
    sdf_resolution: int = 64
    candidates: int = 1  # grasps optimized per sequence and step; the best is kept
    candidate_depth_limit: float = 0.004  # m: deeper candidates lose (see .candidates)


@dataclass
class StepOutcome:
    """Step ``step`` (1-based) for the sequences ``sequence`` ``(b,)`` that reached it."""

    step: int
    obj: GraspObject
    sequence: torch.Tensor
    os_index: torch.Tensor
    os_name: list[str]
    joint_mask: torch.Tensor
    pose: torch.Tensor
    contact_index: torch.Tensor
    energy: torch.Tensor
    terms: dict[str, torch.Tensor]
    acceptance: float
    seconds: float = 0.0


ProgressFn = Callable[[int, str, int, int, float], None]
"""``progress(step_n, os_label, iteration, iterations, mean_energy)``."""


@dataclass
class StepProblem:
    """Step ``step`` of Algorithm 1 for the sequences ``alive`` ``(b,)`` that reach it:
    their opposition spaces ``os_index`` ``(b,)`` and the joint angles ``joints``
    ``(b, K)`` they start with (rad; those outside ``J_n`` must stay as they are).
    ``ctx`` is the step's context for ``alive``; ``context(ids)`` makes it for any
    rows of sequence ids (repeats allowed)."""

    step: int
    obj: GraspObject
    alive: torch.Tensor
    os_index: torch.Tensor
    joints: torch.Tensor
    ctx: StepContext
    context: Callable[[torch.Tensor], StepContext]


Proposer = Callable[[StepProblem, torch.Generator, Callable[[int, torch.Tensor], None]],
                    OptimizationResult]
"""Grasps of one step: ``proposer(problem, generator, report) → OptimizationResult``
(``pose`` ``(b, 9+K)`` in object ``n``'s frame, ``contact_index`` ``(b, 2)``, energies).
``report(iteration, energy (b,))`` shows progress. MALA (:func:`mala_proposer`) is
Algorithm 1's; a learned sampler can take its place."""


def mala_proposer(hand: HandModel, energy: WeightedEnergy, config: GenerateConfig
                  ) -> Proposer:
    """Algorithm 1's step: MALA from initial placements (``config.candidates`` per
    sequence, the best kept), on the terms of ``energy`` that count in ``"optimize"``."""
    if config.candidates < 1:
        raise ValueError(f"candidates must be at least 1, not {config.candidates}")
    palm_c = torch.tensor(hand.spec.palm_center)
    palm_n = torch.tensor(hand.spec.palm_normal)
    device = torch.device(config.device)

    def propose(problem: StepProblem, generator: torch.Generator, report) -> OptimizationResult:
        # Candidate rows: each alive sequence ``candidates`` times, side by side.
        rows = problem.alive.repeat_interleave(config.candidates)
        ctx_rows = problem.ctx if config.candidates == 1 else problem.context(rows)
        joints = problem.joints.repeat_interleave(config.candidates, dim=0)
        start = initial_poses(problem.obj.mesh, palm_c, palm_n, joints, generator)
        os_rows = problem.os_index.repeat_interleave(config.candidates)
        result = optimize(energy, ctx_rows, start.to(device), os_rows.to(device),
                          config.mala, generator, progress=report)
        if config.candidates > 1:
            deepest = deepest_penetration(
                GraspState(ctx_rows, result.pose.detach(), result.contact_index))
            result = best_candidates(result, config.candidates, deepest,
                                     config.candidate_depth_limit)
        return result

    return propose


def generate(hand: HandModel, objects: list[GraspObject], energy: WeightedEnergy,
             config: GenerateConfig, progress: ProgressFn | None = None,
             proposer: Proposer | None = None) -> list[StepOutcome]:
    """Run Algorithm 1 on ``objects`` for ``config.batch`` sequences.

    ``proposer`` makes each step's grasps (default: MALA on the terms of ``energy``
    that count in ``"optimize"``); the refinement (when ``config.refine.steps`` > 0)
    then runs on those that count in ``"refine"``.
    """
    full_energy, energy = energy, energy.for_stage("optimize")
    proposer = proposer or mala_proposer(hand, energy, config)
    device = torch.device(config.device)
    generator = torch.Generator(device="cpu").manual_seed(config.seed)
    b = config.batch
    fixed = check_fixed_order(hand.spec, list(config.os_order)) if config.os_order else None
    state = OppositionState(hand.os_masks.cpu(), b)
    joints = hand.open_pose.detach().cpu().unsqueeze(0).expand(b, -1).clone()
    held: list[tuple[torch.Tensor, HeldObject]] = []  # (sequence ids, held object)
    outcomes: list[StepOutcome] = []
    dense_hand = None

    for n, obj in enumerate(objects, start=1):
        if fixed is not None:
            if n > len(fixed):
                break
            os_index = torch.where(state.alive, torch.tensor(fixed[n - 1]), torch.tensor(-1))
        else:
            os_index = state.sample(generator)
        alive = (os_index >= 0).nonzero()[:, 0]
        if len(alive) == 0:
            break
        mask = state.mask_of(os_index)[alive]
        sdf = obj.sdf(config.sdf_resolution).to_torch(hand.open_pose.dtype, device)
        surf = torch.as_tensor(obj.surface_points, dtype=hand.open_pose.dtype, device=device)
        dense = None
        if config.refine.steps > 0:  # the refinement's ohp and oop test these
            dense = torch.as_tensor(sample_surface(obj.mesh, config.refine.object_points).T,
                                    dtype=hand.open_pose.dtype, device=device).contiguous()

        def context(seqs, _sdf=sdf, _surf=surf, _os=os_index):
            """The step's context for the rows ``seqs`` (sequence ids, may repeat)."""
            return StepContext(hand=hand, sdf=_sdf, active=state.mask_of(_os)[seqs].to(device),
                               held=[_subset(h, ids, seqs, device) for ids, h in held],
                               surface=_surf)

        ctx = context(alive)
        label = _os_label(hand, os_index[alive])

        def report(i, e, _n=n, _label=label):
            if progress is not None:
                progress(_n, _label, i, config.mala.steps, float(e.mean()))

        t0 = time.perf_counter()
        result = proposer(StepProblem(n, obj, alive, os_index[alive], joints[alive], ctx,
                                      context), generator, report)
        pose, total, terms = result.pose.detach(), result.energy, result.terms
        if config.refine.steps > 0:
            if dense_hand is None:
                dense_hand = HandModel(hand.spec, device=device, dtype=hand.open_pose.dtype,
                                       surface_points=config.refine.surface_points)
            refine_ctx = replace(ctx, hand=dense_hand, dense_surface=dense).densified()
            pose, _, _ = refine(refinement_energy(full_energy, config.refine), refine_ctx, pose,
                                result.contact_index,
                                config.refine, config.mala.steps, config.mala.steps)
            with torch.no_grad():  # the run's own energy, as MALA reports it
                total, terms = energy(GraspState(ctx, pose, result.contact_index),
                                      config.mala.steps, config.mala.steps)
        seconds = time.perf_counter() - t0
        outcomes.append(StepOutcome(n, obj, alive, os_index[alive],
                                    [hand.os_names[i] for i in os_index[alive].tolist()], mask, pose.cpu(),
                                    result.contact_index.cpu(), total.cpu(),
                                    {k: v.cpu() for k, v in terms.items()},
                                    result.acceptance, seconds))
        joints[alive] = pose[:, 9:].cpu()
        held.append((alive, HeldObject.attach(sdf, pose, surf, dense)))
        state.use(os_index)
    return outcomes


def _subset(held: HeldObject, ids: torch.Tensor, alive: torch.Tensor, device) -> HeldObject:
    """The rows of ``held`` (stored for sequences ``ids``) for the sequences ``alive``."""
    pos = torch.searchsorted(ids, alive).to(device)
    return held.rows(pos)


def _os_label(hand: HandModel, os_index: torch.Tensor) -> str:
    names = sorted({hand.os_names[i] for i in os_index.tolist()})
    return names[0] if len(names) == 1 else f"{len(names)} OSes"
