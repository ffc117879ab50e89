"""Algorithm 1: opposition-space bookkeeping, frozen joints, masks, energy descent."""

from __future__ import annotations

import pytest
import torch

from seqgrasp_core.energy import WeightedEnergy
from seqgrasp_core.errors import OppositionSpaceError
from seqgrasp_core.objects import demo_object_paths, load_object
from seqgrasp_core.opposition import OppositionState, check_fixed_order
from seqgrasp_core.optimizer import MalaConfig
from seqgrasp_core.sequence import GenerateConfig, generate


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


@pytest.fixture(scope="module")
def run(allegro, plugins):
    objects = [load_object(p) for p in demo_object_paths()[:3]]
    energy = WeightedEnergy({t.name: (t, t.default_weight) for t in plugins.energy_terms})
    config = GenerateConfig(batch=12, seed=1, mala=MalaConfig(steps=150))
    trace: dict[int, list[float]] = {}
    outcomes = generate(allegro, objects, energy, config,
                        progress=lambda n, _l, _i, _s, e: trace.setdefault(n, []).append(e))
    return outcomes, trace


def test_frozen_joints_are_unchanged_bit_for_bit(run):
    outcomes, _ = run
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
    outcomes, _ = run
    used = {}
    for out in sorted(outcomes, key=lambda o: o.step):
        for row, seq in enumerate(out.sequence.tolist()):
            os_mask = allegro.os_masks[out.os_index[row]]
            expected = os_mask & ~used.get(seq, torch.zeros_like(os_mask))
            assert torch.equal(out.joint_mask[row], expected)
            assert out.os_name[row] == allegro.os_names[out.os_index[row]]
            used[seq] = used.get(seq, torch.zeros_like(os_mask)) | expected


def test_energy_decreases_over_a_run(run):
    _, trace = run
    for n, energies in trace.items():
        assert energies[-1] < 0.7 * energies[0], n
