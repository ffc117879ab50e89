"""SeqDiffuser end to end on a tiny dataset the test makes: training (the loss falls,
a resumed training equals an uninterrupted one), sampling (frozen joints bit for bit,
seeded), the sampler in Algorithm 1's loop (a run file every command reads), and
models refused for another hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from typer.testing import CliRunner

from seqgrasp_cli.main import app
from seqgrasp_core.dataset.plan import ObjectEntry
from seqgrasp_core.dataset.store import write_object_surfaces
from seqgrasp_core.diffuser.layout import GraspLayout, Normalizer
from seqgrasp_core.diffuser.model import ModelFileError, SeqDiffuser
from seqgrasp_core.diffuser.network import NetworkConfig
from seqgrasp_core.diffuser.training import (TrainConfig, load_split, object_batches, rotations,
                                             train)
from seqgrasp_core.geometry.pose import matrix_to_rot6d
from seqgrasp_core.objects.mesh import PAPER_SIZE_RANGE, demo_object_paths, load_object
from seqgrasp_core.runs.runfile import read_run

TINY = TrainConfig(epochs=12, batch=64, lr=2e-3, rotations=2, basis=64, width=32, depth=1)


def _demo(name: str) -> Path:
    return next(p for p in demo_object_paths() if p.stem == name)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory, allegro_spec) -> Path:
    """Two train objects and one test object; 192 one-step 'grasps' that follow a
    simple rule (the palm 8 cm out along one of six directions, joints open + 0.3)."""
    root = tmp_path_factory.mktemp("tiny") / "seqdataset"
    (root / "data").mkdir(parents=True)
    names = ["box", "can", "ball"]
    loaded = {n: load_object(_demo(n), size_range=PAPER_SIZE_RANGE, surface_points=2048)
              for n in names}
    entries = [ObjectEntry(n, f"{n}.stl", loaded[n].sha256, loaded[n].scale,
                           "test" if n == "ball" else "train") for n in names]
    write_object_surfaces(root, entries, {n: o.surface_points for n, o in loaded.items()})
    rng = np.random.default_rng(0)
    spaces = allegro_spec.opposition_spaces
    open_pose = np.asarray(allegro_spec.open_pose, dtype=np.float32)
    directions = np.concatenate([np.eye(3), -np.eye(3)])
    rows = []
    for n in names:
        for i in range(64):
            os_ = spaces[i % len(spaces)]
            mask = np.asarray(os_.joint_mask)
            joints = open_pose + 0.3 * mask
            pose = np.concatenate([0.08 * directions[i % 6],
                                   matrix_to_rot6d(torch.eye(3, dtype=torch.float64)[None])[0]
                                   .numpy() + rng.normal(0, 0.01, 6)])
            rows.append({"object_id": n, "os_name": os_.name, "pose": pose.astype(np.float32),
                         "joints": joints.astype(np.float32), "joint_mask": mask.tolist(),
                         "split": "test" if n == "ball" else "train", "step": 1})
    pq.write_table(pa.Table.from_pylist(rows), root / "data" / "unit_00000.parquet")
    (root / "manifest.json").write_text(json.dumps({"settings": {"hand": "allegro"},
                                                    "finished": [{"index": 0}]}))
    return root


@pytest.fixture(scope="module")
def tiny_model(tiny_dataset, allegro_spec, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("model") / "tiny.pt"
    train(tiny_dataset, out, "allegro", tuple(o.name for o in allegro_spec.opposition_spaces),
          len(allegro_spec.joint_names), TINY)
    return out


def test_training_never_reads_a_test_object(tiny_dataset, allegro_spec):
    spaces = tuple(o.name for o in allegro_spec.opposition_spaces)
    data = load_split(tiny_dataset, "train", spaces, 16, rotations(2, 0))
    assert data.objects == ["box", "can"] and data.rows == 128
    test = load_split(tiny_dataset, "test", spaces, 16, rotations(1, 0))
    assert test.objects == ["ball"] and test.rows == 64
    # each orientation's position, put back in the object's frame, is the rotated one
    turns = rotations(2, 0)
    directions = np.concatenate([np.eye(3), -np.eye(3)])
    raw = torch.tensor(0.08 * directions[np.tile(np.arange(64) % 6, 2)], dtype=torch.float64)
    for r in range(2):
        centre = SeqDiffuser.centre(data.surfaces[data.item, r]).double()
        position = data.x[r, :, len(spaces):len(spaces) + 3].double() + centre
        assert torch.allclose(position, raw @ turns[r].T, atol=1e-6)


def test_the_loss_falls_and_the_model_records_its_origin(tiny_model):
    model = SeqDiffuser.load(tiny_model, hand="allegro")
    losses = model.record["training"]["losses"]
    assert len(losses) == TINY.epochs
    assert np.mean(losses[-3:]) < 0.7 * losses[0]
    assert model.record["dataset"]["objects"] == 2 and model.record["dataset"]["rows"] == 128
    assert model.record["training"]["test loss"] is not None
    assert model.basis.shape == (64, 3)


@pytest.fixture()
def one_thread():
    """Several threads sum in varying order; with one, training is bit-reproducible."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_a_resumed_training_equals_an_uninterrupted_one(tiny_dataset, allegro_spec, tmp_path,
                                                         one_thread):
    spaces = tuple(o.name for o in allegro_spec.opposition_spaces)
    config = TrainConfig(epochs=3, batch=64, rotations=2, basis=64, width=32, depth=1)
    whole = train(tiny_dataset, tmp_path / "whole.pt", "allegro", spaces, 16, config)

    def stop_after_two(epoch, epochs, loss):
        if epoch == 2:
            raise KeyboardInterrupt

    out = tmp_path / "resumed.pt"
    with pytest.raises(KeyboardInterrupt):
        train(tiny_dataset, out, "allegro", spaces, 16, config, progress=stop_after_two)
    assert not out.exists() and Path(str(out) + ".ckpt").is_file()
    resumed = train(tiny_dataset, out, "allegro", spaces, 16, config)
    assert not Path(str(out) + ".ckpt").exists()
    fresh = train(tiny_dataset, tmp_path / "fresh.pt", "allegro", spaces, 16,
                  TrainConfig(epochs=1, batch=64, rotations=2, basis=64, width=32, depth=1))
    for (name, a), (_, b), (_, c) in zip(whole.network.state_dict().items(),
                                         resumed.network.state_dict().items(),
                                         fresh.network.state_dict().items()):
        assert torch.equal(a, b), name
        if name.endswith("weight") and a.ndim == 2 and "film" not in name:
            assert (a - c).abs().max() > 1e-4, name  # while a shorter training differs
    other = TrainConfig(epochs=3, batch=32, rotations=2, basis=64, width=32, depth=1)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_dataset, out, "allegro", spaces, 16, config, progress=stop_after_two)
    with pytest.raises(Exception, match="holds another training"):
        train(tiny_dataset, out, "allegro", spaces, 16, other)


def test_an_epochs_batches_hold_every_row_once_in_chunks_of_one_object_orientation():
    generator = torch.Generator().manual_seed(3)
    item = torch.tensor([0] * 21 + [1] * 3 + [2] * 40 + [4] * 9)[torch.randperm(73, generator=generator)]
    batches = object_batches(item, turns=5, batch=16, group=4, generator=generator)
    rows = torch.cat([r for r, _ in batches])
    assert sorted(rows.tolist()) == list(range(73))
    # chunks: ceil(21/4) + 1 + 10 + 3 = 20, four per batch
    assert len(batches) == 5 and all(len(r) <= 16 for r, _ in batches)
    for r, turn in batches:
        pairs = {(int(i), int(t)) for i, t in zip(item[r], turn)}
        assert len(pairs) <= 4  # at most batch // group object orientations to encode
        assert all(0 <= t < 5 for t in turn.tolist())
    again = object_batches(item, 5, 16, 4, torch.Generator().manual_seed(3))
    first = object_batches(item, 5, 16, 4, torch.Generator().manual_seed(3))
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(again, first))
    single = object_batches(item, 5, 16, 1, generator)
    assert sorted(torch.cat([r for r, _ in single]).tolist()) == list(range(73))


def test_sampling_keeps_the_frozen_joints_bit_for_bit_and_follows_the_seed(tiny_model):
    model = SeqDiffuser.load(tiny_model, hand="allegro")
    obj = load_object(_demo("box"), size_range=PAPER_SIZE_RANGE, surface_points=2048)
    surface = torch.as_tensor(obj.surface_points, dtype=torch.float32)
    g = torch.Generator().manual_seed(3)
    b = 32
    joints = torch.rand(b, 16, generator=g, dtype=torch.float64) * 1.3 - 0.2
    mask = torch.rand(b, 16, generator=g) < 0.4
    os_index = torch.randint(0, 7, (b,), generator=g)
    first = model.sample(surface, os_index, joints, mask, torch.Generator().manual_seed(1))
    assert first.shape == (b, 25) and first.dtype == torch.float64
    assert torch.isfinite(first).all()
    assert torch.equal(first[:, 9:][~mask], joints[~mask])  # bit for bit
    assert not torch.equal(first[:, 9:][mask], joints[mask])
    again = model.sample(surface, os_index, joints, mask, torch.Generator().manual_seed(1))
    assert torch.equal(first, again)
    other = model.sample(surface, os_index, joints, mask, torch.Generator().manual_seed(2))
    assert not torch.equal(first, other)
    ddim = model.sample(surface, os_index, joints, mask, torch.Generator().manual_seed(1),
                        steps=5, solver="ddim")
    assert torch.equal(ddim[:, 9:][~mask], joints[~mask])


def test_the_sampled_run_reads_like_a_generated_one(tiny_model, tmp_path):
    out = tmp_path / "sampled.parquet"
    objects = ["--object", str(_demo("box")), "--object", str(_demo("can"))]
    result = CliRunner().invoke(app, ["diffuser", "sample", "--model", str(tiny_model),
                                      *objects, "--batch", "6", "--scale-objects",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    table, metadata = read_run(out)
    assert metadata["sampler"]["name"] == "diffuser" and metadata["sampler"]["model"] == "tiny.pt"
    rows = table.to_pylist()
    by_seq = {(r["sequence_id"], r["step"]): r for r in rows}
    assert {r["step"] for r in rows} == {1, 2}
    for (seq, step), row in by_seq.items():
        assert np.isfinite(row["pose"]).all() and np.isfinite(row["joints"]).all()
        if step == 2:  # joints outside J_2 are step 1's, exactly
            before = by_seq[(seq, 1)]["joints"]
            frozen = ~np.asarray(row["joint_mask"])
            assert np.array_equal(np.asarray(row["joints"])[frozen], np.asarray(before)[frozen])
            assert not set(np.flatnonzero(row["joint_mask"])) & \
                set(np.flatnonzero(by_seq[(seq, 1)]["joint_mask"]))
    validated = tmp_path / "validated.parquet"
    checked = CliRunner().invoke(app, ["validate", str(out), "--out", str(validated),
                                       "--workers", "1"])
    assert checked.exit_code == 0, checked.output
    again = tmp_path / "again.parquet"
    CliRunner().invoke(app, ["diffuser", "sample", "--model", str(tiny_model), *objects,
                             "--batch", "6", "--scale-objects", "--out", str(again)])
    assert read_run(again)[0].equals(table)  # the same seed, the same grasps


def test_a_model_for_another_hand_is_refused(tiny_model, tmp_path, plugins):
    shadow_spec = plugins.hand("shadow")
    with pytest.raises(ModelFileError, match="model for the 'allegro' hand, not 'shadow'"):
        SeqDiffuser.load(tiny_model, hand="shadow")
    layout = GraspLayout(tuple(o.name for o in shadow_spec.opposition_spaces),
                         len(shadow_spec.joint_names))
    basis = torch.zeros(8, 3)
    model = SeqDiffuser.create("shadow", layout, Normalizer(torch.zeros(layout.dim),
                                                            torch.ones(layout.dim)),
                               basis, NetworkConfig(layout.dim, len(layout.spaces), basis=8,
                                                    width=16, depth=1))
    path = tmp_path / "shadow.pt"
    model.save(path)
    result = CliRunner().invoke(app, ["diffuser", "sample", "--model", str(path), "--hand",
                                      "allegro", "--batch", "2", "--out",
                                      str(tmp_path / "x.parquet")])
    assert result.exit_code == 2
    assert "is a model for the 'shadow' hand, not 'allegro'" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "x.parquet").exists()
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    junk = CliRunner().invoke(app, ["diffuser", "sample", "--model", str(tmp_path / "junk.pt"),
                                    "--out", str(tmp_path / "y.parquet")])
    assert junk.exit_code == 2 and "is not a SeqDiffuser model file" in junk.output


def test_candidates_and_mala_polish_keep_the_sequence_rules(tiny_model, tmp_path):
    from seqgrasp_core.diffuser.proposer import polish_config
    from seqgrasp_core.synthesis.mala import MalaConfig

    polish = polish_config(50)
    reference = MalaConfig()
    assert polish.steps == 50 and polish.step_size == reference.step_size_at(5400)
    assert polish.temperature < reference.temperature / 100  # cooled: settles, not searches
    out = tmp_path / "polished.parquet"
    result = CliRunner().invoke(app, ["diffuser", "sample", "--model", str(tiny_model),
                                      "--object", str(_demo("box")), "--object",
                                      str(_demo("can")), "--batch", "4", "--scale-objects",
                                      "--sample-candidates", "3", "--mala-steps", "5",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    table, metadata = read_run(out)
    assert metadata["sampler"]["candidates"] == 3 and metadata["sampler"]["mala_steps"] == 5
    rows = {(r["sequence_id"], r["step"]): r for r in table.to_pylist()}
    assert len(rows) == 8  # one grasp kept per sequence and step
    for (seq, step), row in rows.items():
        if step == 2:
            frozen = ~np.asarray(row["joint_mask"])
            assert np.array_equal(np.asarray(row["joints"])[frozen],
                                  np.asarray(rows[(seq, 1)]["joints"])[frozen])


def test_the_bundled_allegro_model_samples_out_of_the_box(tmp_path):
    from seqgrasp_core.diffuser.bundled import model_path

    model = SeqDiffuser.load(model_path("allegro"), hand="allegro")
    assert model.record["dataset"]["folder"] == "seqdataset-allegro"
    assert model.record["training"]["test loss"] is not None
    out = tmp_path / "bundled.parquet"
    result = CliRunner().invoke(app, ["diffuser", "sample", "--first", "2", "--batch", "4",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert read_run(out)[0].num_rows >= 4
    shadow = CliRunner().invoke(app, ["diffuser", "sample", "--hand", "shadow", "--out",
                                      str(tmp_path / "s.parquet")])
    assert shadow.exit_code == 2 and "no SeqDiffuser model ships for the 'shadow' hand" \
        in shadow.output
