"""SeqDiffuser in Algorithm 1's loop: each step's grasps sampled instead of optimized.

The sequence bookkeeping (opposition spaces drawn and removed, joints frozen, held
objects attached, the optional refinement) is ``generate``'s own; this proposer only
replaces MALA. Each grasp's two contacts, which the run file and the energy need,
are the candidates of its opposition space's two pools nearest the object.
"""

from __future__ import annotations

import time

import torch

from seqgrasp_core.diffuser.model import SURFACE_SAMPLES, SeqDiffuser
from seqgrasp_core.hands.model import HandModel
from seqgrasp_core.objects.mesh import sample_surface
from seqgrasp_core.synthesis.mala import OptimizationResult
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


def diffuser_proposer(model: SeqDiffuser, hand: HandModel, energy: WeightedEnergy,
                      energy_step: int, steps: int = 10, solver: str = "dpm++",
                      timings: list[float] | None = None) -> Proposer:
    """A :data:`~seqgrasp_core.synthesis.sequence.Proposer` that samples each step's
    grasps with ``model`` (``steps`` denoising steps of ``solver``), clamps the joints
    to their limits, picks the contacts, and reports ``energy`` at iteration
    ``energy_step`` of ``energy_step`` (the weights a MALA run ends with).
    ``timings`` (if given) collects the seconds of each step's sampling alone."""
    model.check_hand(hand.os_names, hand.num_joints)
    surfaces: dict[str, torch.Tensor] = {}  # by object sha256

    def propose(problem: StepProblem, generator: torch.Generator, report) -> OptimizationResult:
        obj = problem.obj
        if obj.sha256 not in surfaces:  # as in the dataset the model learned from
            surfaces[obj.sha256] = torch.as_tensor(
                sample_surface(obj.mesh, SURFACE_SAMPLES), dtype=torch.float32)
        surface = surfaces[obj.sha256]
        t0 = time.perf_counter()
        pose = model.sample(surface, problem.os_index, problem.joints.float(),
                            problem.ctx.active.cpu(), generator, steps, solver)
        if timings is not None:
            timings.append(time.perf_counter() - t0)
        pose = pose.to(hand.open_pose)
        limited = pose[:, 9:].clamp(hand.lower, hand.upper)
        pose[:, 9:] = torch.where(problem.ctx.active, limited, problem.joints.to(pose))
        contacts = nearest_contacts(hand, GraspState(problem.ctx, pose, None),
                                    problem.os_index.to(pose.device))
        with torch.no_grad():
            total, terms = energy(GraspState(problem.ctx, pose, contacts), energy_step,
                                  energy_step)
        report(energy_step, total)
        return OptimizationResult(pose, contacts, total, terms, acceptance=float("nan"))

    return propose
