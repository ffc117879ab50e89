"""Algorithm 1: opposition-space bookkeeping, frozen joints, masks, energy descent,
and the best-of-K candidates per sequence."""

from __future__ import annotations

import pytest
import torch

from seqgrasp_core.synthesis import sequence
from seqgrasp_core.errors import OppositionSpaceError
from seqgrasp_core.objects.mesh import demo_object_paths, load_object
from seqgrasp_core.synthesis.mala import MalaConfig, OptimizationResult
from seqgrasp_core.synthesis.opposition import OppositionState, check_fixed_order
from seqgrasp_core.synthesis.sequence import GenerateConfig, generate
from seqgrasp_core.synthesis.terms import WeightedEnergy


def test_thumb_index_removes_thumb_palm_and_index_palm(allegro):
    names = allegro.os_names
    state = OppositionState(allegro.os_masks, 1)
    state.use(torch.tensor([names.index("thumb-index")]))
    left = {names[i] for i in state.available[0].nonzero()[:, 0].tolist()}
    assert left == {"middle-ring", "index-middle", "ring-palm", "middle-palm"}
    # index-middle keeps only the middle finger's joints.
    mask = state.masks[0, names.index("index-middle")]
    kept = [allegro.spec.joint_names[i] for i in mask.nonzero()[:, 0].tolist()]
    assert kept == ["mfj0", "mfj1", "mfj2", "mfj3"]


def test_fixed_order_rejects_unknown_and_used_spaces(allegro_spec):
    assert check_fixed_order(allegro_spec, ["index-palm", "middle-palm"]) == [5, 4]
    with pytest.raises(OppositionSpaceError, match="no opposition space 'pinky-palm'"):
        check_fixed_order(allegro_spec, ["pinky-palm"])
    with pytest.raises(OppositionSpaceError, match="no joint left"):
        check_fixed_order(allegro_spec, ["thumb-index", "thumb-palm"])


@pytest.fixture(scope="module", params=[1, 2], ids=["one candidate", "two candidates"])
def run(request, allegro, plugins):
    """Three demo objects; with two candidates, every optimizer result is recorded."""
    objects = [load_object(p) for p in demo_object_paths()[:3]]
    energy = WeightedEnergy({t.name: (t, t.default_weight) for t in plugins.energy_terms})
    config = GenerateConfig(batch=12, seed=1, mala=MalaConfig(steps=150),
                            candidates=request.param, candidate_depth_limit=LIMIT)
    trace: dict[int, list[float]] = {}
    optimized: list[OptimizationResult] = []
    deepest: list[torch.Tensor] = []

    def recording(*args, **kwargs):
        optimized.append(sequence_optimize(*args, **kwargs))
        return optimized[-1]

    def recording_depth(*args):
        deepest.append(sequence_deepest(*args))
        return deepest[-1]

    sequence_optimize, sequence_deepest = sequence.optimize, sequence.deepest_penetration
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sequence, "optimize", recording)
        patch.setattr(sequence, "deepest_penetration", recording_depth)
        outcomes = generate(allegro, objects, energy, config,
                            progress=lambda n, _l, _i, _s, e: trace.setdefault(n, []).append(e))
    return outcomes, trace, optimized, deepest, request.param


LIMIT = 0.002  # m: tight, so that short runs have candidates beyond it


def test_each_sequence_keeps_its_best_candidate(run):
    """The kept grasp is the lowest-energy candidate within the depth limit, or the
    shallowest when no candidate is within it."""
    outcomes, _, optimized, deepest, k = run
    assert len(optimized) == len(outcomes) == 3
    assert len(deepest) == (3 if k > 1 else 0)
    beyond = changed = 0
    for n, (out, result) in enumerate(zip(outcomes, optimized)):
        b = len(out.sequence)
        assert result.pose.shape[0] == b * k and out.pose.shape[0] == b
        for seq in range(b):
            rows = range(seq * k, (seq + 1) * k)
            within = [r for r in rows if k == 1 or deepest[n][r] <= LIMIT]
            beyond += k - len(within)
            if within:
                best = min(within, key=lambda r: result.energy[r].item())
            else:
                best = min(rows, key=lambda r: (deepest[n][r].item(), result.energy[r].item()))
            changed += best != min(rows, key=lambda r: result.energy[r].item())
            assert torch.equal(out.pose[seq], result.pose[best])
            assert torch.equal(out.contact_index[seq], result.contact_index[best])
            assert out.energy[seq] == result.energy[best]
        if k > 1:  # the candidates of a sequence really differ
            assert not torch.equal(result.pose[0::k], result.pose[1::k])
    if k > 1:  # the limit was really tested: it overruled the energy somewhere
        assert beyond > 0 and changed > 0


def test_frozen_joints_are_unchanged_bit_for_bit(run):
    outcomes = run[0]
    by_step = {o.step: o for o in outcomes}
    assert len(by_step) == 3
    for n in (2, 3):
        prev, cur = by_step[n - 1], by_step[n]
        for row, seq in enumerate(cur.sequence.tolist()):
            before = prev.pose[prev.sequence.tolist().index(seq), 9:]
            after = cur.pose[row, 9:]
            frozen = ~cur.joint_mask[row]
            assert torch.equal(after[frozen], before[frozen])  # exact, not approximate
            assert not torch.equal(after[~frozen], before[~frozen])  # the OS joints moved


def test_joint_masks_match_the_os_and_the_remaining_joints(run, allegro):
    outcomes = run[0]
    used = {}
    for out in sorted(outcomes, key=lambda o: o.step):
        for row, seq in enumerate(out.sequence.tolist()):
            os_mask = allegro.os_masks[out.os_index[row]]
            expected = os_mask & ~used.get(seq, torch.zeros_like(os_mask))
            assert torch.equal(out.joint_mask[row], expected)
            assert out.os_name[row] == allegro.os_names[out.os_index[row]]
            used[seq] = used.get(seq, torch.zeros_like(os_mask)) | expected


def test_energy_decreases_over_a_run(run):
    trace = run[1]
    for n, energies in trace.items():
        assert energies[-1] < 0.7 * energies[0], n
