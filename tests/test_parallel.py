"""Data-parallel generation over worker processes."""

from __future__ import annotations

import pytest
import torch

from seqgrasp_core.objects.mesh import demo_object_paths, load_object
from seqgrasp_core.runs.weights import build_energy
from seqgrasp_core.runs.parallel import generate_in_workers, shard_sizes
from seqgrasp_core.synthesis.mala import MalaConfig
from seqgrasp_core.synthesis.sequence import GenerateConfig, generate
from seqgrasp_core.system.workers import usable_cores


def test_shard_sizes_cover_the_batch():
    assert shard_sizes(10, 3) == [4, 3, 3]
    assert shard_sizes(2, 8) == [1, 1]


@pytest.mark.slow
def test_two_workers_reproduce_single_process_shards(allegro, plugins):
    objects = [load_object(p) for p in demo_object_paths()[:2]]
    weights = {t.name: t.default_weight for t in plugins.energy_terms}
    config = GenerateConfig(batch=6, seed=5, mala=MalaConfig(steps=8))
    merged = generate_in_workers("allegro", objects, None, weights, config, workers=2)
    alone = generate(allegro, objects, build_energy(plugins, weights),
                     GenerateConfig(batch=3, seed=5, mala=MalaConfig(steps=8)))
    assert sorted(merged[0].sequence.tolist()) == [0, 1, 2, 3, 4, 5]
    for step_merged, step_alone in zip(merged, alone):
        assert step_merged.sequence.tolist()[:3] == step_alone.sequence.tolist()
        assert torch.equal(step_merged.pose[:3], step_alone.pose)  # shard 0 = same seed
        assert step_merged.os_name[:3] == step_alone.os_name


@pytest.mark.skipif(usable_cores() < 2, reason="two workers need two cores")
@pytest.mark.slow
def test_the_same_seed_and_workers_give_the_same_file(plugins, tmp_path):
    """The promise of docs/quickstart.md: same inputs, settings, seed and --workers."""
    from seqgrasp_core.runs.generate import GenerateRequest, run_generate
    from seqgrasp_core.runs.runfile import read_run

    tables = {}
    for workers, name in ((2, "a"), (2, "b"), (1, "c"), (1, "d")):
        out = tmp_path / f"{name}.parquet"
        run_generate(GenerateRequest(hand="allegro", object_count=2, batch=4, steps=30,
                                     seed=3, workers=workers, out=out), plugins)
        tables[name] = read_run(out)[0].replace_schema_metadata(None)
    assert tables["a"].equals(tables["b"])
    assert tables["c"].equals(tables["d"])
    # Two shards draw from two streams: the split is part of what the seed means.
    assert not tables["a"].equals(tables["c"])
