"""`seqgrasp eval`: the experiment end to end on a tiny object set.

The report's figures are checked against what is computed here, independently, from
the run files that ``--keep-runs`` keeps: the rows re-validated with
``validate_table`` (or given by a stand-in validator whose outcome is known) and
summarised with numpy, the per-step times that generation reported, the sequences
that ``draw_sequences`` draws for the seed, and the run files' metadata.
"""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from seqgrasp_cli.main import app
from seqgrasp_core.api import MuJoCoValidator, StepResult
from seqgrasp_core.runs import evaluation
from seqgrasp_core.runs.evaluation import draw_sequences, run_file
from seqgrasp_core.runs.runfile import read_run
from seqgrasp_core.validation import validate_table

ROW_KEYS = {"objects", "grasps", "success_rate", "penetration_mm", "hand_penetration_mm",
            "seconds_per_256", "diversity", "unmeasured"}


def test_draw_sequences_has_distinct_objects(tmp_path):
    paths = [tmp_path / f"{i}.obj" for i in range(5)]
    seqs = draw_sequences(paths, 3, 4, seed=0)
    assert len(seqs) == 3 and all(len(set(s)) == 4 for s in seqs)
    assert draw_sequences(paths, 3, 4, seed=0) == seqs
    assert all(len(s) == 2 for s in draw_sequences(paths[:2], 2, 4, seed=1))


@pytest.fixture
def objects(mesh_dir, tmp_path):
    """Three small meshes: a box, a cylinder and a sphere."""
    import trimesh

    folder = tmp_path / "objects"
    folder.mkdir()
    for name in ("a.obj", "b.stl"):
        shutil.copy(mesh_dir / name, folder / name)
    trimesh.creation.icosphere(subdivisions=2, radius=0.025).export(folder / "c.obj")
    return folder


@pytest.fixture
def step_times(monkeypatch):
    """``[[(step, seconds, sequences that reached it), ...] per generated run]``, as
    generation reported them to ``eval``."""
    runs = []
    real = evaluation.run_generate

    def spy(*args, **kwargs):
        summary = real(*args, **kwargs)
        runs.append([(o.step, o.seconds, len(o.sequence)) for o in summary["outcomes"]])
        return summary

    monkeypatch.setattr(evaluation, "run_generate", spy)
    return runs


def run_eval_cli(objects, tmp_path, *options: str) -> tuple[dict, list]:
    """``seqgrasp eval`` on ``objects``; ``(report, [(table, metadata) per kept run])``."""
    out, keep = tmp_path / "report.json", tmp_path / "runs"
    result = CliRunner().invoke(app, ["eval", "--objects", str(objects), "--workers", "1",
                                      "--out", str(out), "--keep-runs", str(keep), *options])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    kept = [read_run(run_file(keep, i)) for i in range(len(report["sequences"]))]
    assert not run_file(keep, len(kept)).exists()
    return report, kept


def with_nan(row: dict) -> dict:
    """A report row with NaN where the JSON has null (a mean of nothing)."""
    return {k: math.nan if v is None else v for k, v in row.items()}


def summary_of(tables_and_results) -> dict[int, dict]:
    """Table III per number of objects held, from rows and their validation results
    (NaN for a mean of nothing)."""
    step, ok, pen, hand, grasp = [], [], [], [], []
    for table, results in tables_and_results:
        step += table.column("step").to_pylist()
        ok += [r.success for r in results]
        pen += [r.max_penetration_mm for r in results]
        hand += [r.hand_penetration_mm for r in results]
        grasp += [p + j for p, j in zip(table.column("pose").to_pylist(),
                                        table.column("joints").to_pylist())]
    step, ok = np.array(step), np.array(ok, dtype=bool)
    pen, hand, grasp = np.array(pen, float), np.array(hand, float), np.array(grasp, float)

    def mean_of_measured(values):
        return float(values[np.isfinite(values)].mean()) if np.isfinite(values).any() else math.nan

    rows = {}
    for n in np.unique(step):
        at = step == n
        good = grasp[at & ok]
        rows[int(n)] = {
            "objects": int(n), "grasps": int(at.sum()),
            "success_rate": 100.0 * ok[at].sum() / at.sum(),
            "penetration_mm": mean_of_measured(pen[at]),
            "hand_penetration_mm": mean_of_measured(hand[at]),
            "diversity": float(np.mean(np.std(good, axis=0))) if len(good) >= 2 else math.nan,
            "unmeasured": int((~np.isfinite(pen[at])).sum())}
    return rows


def seconds_per_256(step_times, kept) -> dict[int, float]:
    """Each step's generation time scaled to 256 grasps, averaged over the runs."""
    scaled: dict[int, list[float]] = {}
    for times, (table, metadata) in zip(step_times, kept, strict=True):
        steps = np.array(table.column("step").to_pylist())
        assert sorted(n for n, _, _ in times) == sorted(set(steps.tolist()))
        for n, seconds, reached in times:
            assert reached == int((steps == n).sum())  # the grasps of that step in the file
            scaled.setdefault(n, []).append(seconds * 256 / reached)
        # the steps' times are part of the run's generation time, recorded in its metadata
        assert 0 < sum(s for _, s, _ in times) <= metadata["seconds"] + 5e-4
    return {n: sum(v) / len(v) for n, v in scaled.items()}


def test_eval_report_is_what_the_kept_runs_give(objects, tmp_path, plugins, step_times):
    seed = 3
    drawn = draw_sequences(sorted(objects.iterdir()), 2, 2, seed)
    assert drawn[0] != drawn[1]  # so that a mix-up of the sequences shows
    report, kept = run_eval_cli(objects, tmp_path, "--sequences", "2", "--max-objects", "2",
                                "--batch", "2", "--steps", "5", "--seed", str(seed),
                                "--preset", "paper")

    assert report["sequences"] == [[p.stem for p in seq] for seq in drawn]
    assert (report["hand"], report["batch"], report["steps"], report["seed"]) == \
        ("allegro", 2, 5, seed)
    assert (report["preset"], report["candidates"], report["refine_steps"]) == ("paper", 1, 0)
    for i, (seq, (table, metadata)) in enumerate(zip(drawn, kept)):
        assert [o["source"] for o in metadata["objects"]] == [str(p) for p in seq]
        assert (metadata["seed"], metadata["batch"], metadata["steps"]) == (seed + i, 2, 5)
        assert table.column("object_id").to_pylist() == \
            [p.stem for _ in range(2) for p in seq]  # sorted by sequence, then step

    # validated again here, summarised here
    spec, validator = plugins.hand("allegro"), plugins.validators.get("mujoco")
    expected = summary_of([(table, validate_table(table, metadata, spec, validator))
                           for table, metadata in kept])
    times = seconds_per_256(step_times, kept)
    assert [r["objects"] for r in report["rows"]] == [1, 2]
    for row in report["rows"]:
        assert set(row) == ROW_KEYS
        n = row["objects"]
        assert with_nan(row) == pytest.approx({**expected[n], "seconds_per_256": times[n]},
                                              rel=1e-6, abs=1e-6, nan_ok=True), n
    assert report["rows"][0]["grasps"] == 4  # two sequences of two grasps


def known_result(sequence_id: int, step: int) -> StepResult:
    """The stand-in validator's outcome: sequence 2 fails step 1, sequence 1 fails
    step 2 and sequence 0 has no depth at step 2 (so it fails too)."""
    ok = (sequence_id + step) % 3 != 0
    depth = math.nan if (sequence_id, step) == (0, 2) else 0.25 * sequence_id + step
    return StepResult(ok, depth, depth / 2, "" if ok else "dropped")


def test_eval_summarises_known_validation_results(objects, tmp_path, monkeypatch, step_times):
    def validate(self, table, meshes, hand, *, workers=1, progress=None):
        return [known_result(s, n) for s, n in zip(table.column("sequence_id").to_pylist(),
                                                    table.column("step").to_pylist())]

    monkeypatch.setattr(MuJoCoValidator, "validate", validate)
    report, kept = run_eval_cli(objects, tmp_path, "--sequences", "1", "--max-objects", "2",
                                "--batch", "4", "--steps", "5", "--preset", "paper")
    (table, _), = kept
    assert table.column("sequence_id").to_pylist() == [0, 0, 1, 1, 2, 2, 3, 3]
    grasps = np.concatenate([np.array(table.column("pose").to_pylist()),
                             np.array(table.column("joints").to_pylist())], axis=1)
    diversity = {1: grasps[[0, 2, 6]].std(axis=0).mean(),   # sequences 0, 1, 3 held
                 2: grasps[[5, 7]].std(axis=0).mean()}      # sequences 2, 3 held
    assert min(diversity.values()) > 0
    times = seconds_per_256(step_times, kept)
    expected = [
        {"objects": 1, "grasps": 4, "success_rate": 75.0, "penetration_mm": 1.375,
         "hand_penetration_mm": 0.6875, "seconds_per_256": times[1],
         "diversity": diversity[1], "unmeasured": 0},
        {"objects": 2, "grasps": 4, "success_rate": 50.0, "penetration_mm": 2.5,
         "hand_penetration_mm": 1.25, "seconds_per_256": times[2],
         "diversity": diversity[2], "unmeasured": 1}]
    assert len(report["rows"]) == 2
    for row, want in zip(report["rows"], expected):
        assert row == pytest.approx(want, rel=1e-6), want["objects"]


@pytest.mark.parametrize("preset, candidates, refine_steps", [("paper", 1, 0), ("best", 3, 200)])
def test_eval_records_the_preset_it_ran(objects, tmp_path, monkeypatch, preset, candidates,
                                        refine_steps):
    monkeypatch.setattr(MuJoCoValidator, "validate", lambda self, table, *a, **k:
                        [StepResult(True, 0.0, 0.0)] * table.num_rows)
    report, kept = run_eval_cli(objects, tmp_path, "--sequences", "1", "--max-objects", "1",
                                "--batch", "2", "--steps", "2", "--preset", preset)
    assert (report["preset"], report["candidates"], report["refine_steps"]) == \
        (preset, candidates, refine_steps)
    (_, metadata), = kept  # and the run was generated so
    assert (metadata["preset"], metadata["candidates"], metadata["refine"]["steps"]) == \
        (preset, candidates, refine_steps)


def test_eval_on_an_empty_folder_is_one_line(tmp_path):
    result = CliRunner().invoke(app, ["eval", "--objects", str(tmp_path), "--sequences", "1"])
    assert result.exit_code == 2
    assert "no mesh files" in result.stderr


def test_test_split_of_keeps_only_a_datasets_test_objects(tmp_path, mesh_dir):
    import json

    from seqgrasp_core.errors import SeqGraspError
    from seqgrasp_core.objects.mesh import file_sha256
    from seqgrasp_core.runs.evaluation import test_objects

    paths = [mesh_dir / "a.obj", mesh_dir / "b.stl"]
    (tmp_path / "manifest.json").write_text(json.dumps({"objects": [
        {"sha256": file_sha256(paths[0]), "split": "train"},
        {"sha256": file_sha256(paths[1]), "split": "test"}]}))
    assert test_objects(paths, tmp_path) == [paths[1]]
    with pytest.raises(SeqGraspError, match="none of the 1 meshes given is a test object"):
        test_objects(paths[:1], tmp_path)
    with pytest.raises(SeqGraspError, match="has no readable manifest.json"):
        test_objects(paths, tmp_path / "missing")
