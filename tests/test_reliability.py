"""Bad input and faults: no wrong answer with exit 0, no traceback, nothing left behind."""

from __future__ import annotations

import math
import os
import stat

import pyarrow as pa
import pytest
from test_validation import make_run
from typer.testing import CliRunner

from seqgrasp_core.errors import MeshError, RunFileError, SeqGraspError, SeqGraspWarning
from seqgrasp_core.runs.runfile import read_run, write_run
from seqgrasp_core.validation import summarize, validate_table, with_results
from seqgrasp_core.validation.interface import StepResult, Validator
from seqgrasp_core.validation.mujoco_validator import MuJoCoValidator


@pytest.fixture()
def hand(allegro_spec):
    return allegro_spec


def _set(table: pa.Table, column: str, row: int, value) -> pa.Table:
    values = table.column(column).to_pylist()
    values[row] = value
    i = table.column_names.index(column)
    return table.set_column(i, column, pa.array(values, table.schema.field(column).type))


def _app():
    from seqgrasp_cli.main import app

    return app


def _one_line_error(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


# ---------------------------------------------------------------- non-finite rows


def test_a_row_that_is_not_finite_fails_with_its_reason(hand, tmp_path):
    # Rows: (0,1) box held: passes; (1,1) cube deep: fails; (2,1) box held; (2,2) cube.
    table, metadata, rows = make_run(hand, tmp_path, order=(0, 1, 2, 3))
    k = hand.num_joints
    table = _set(table, "joints", 0, [math.nan] * k)            # a passing grasp, now NaN
    table = _set(table, "pose", 2, [math.inf] + [0.0] * 8)      # held by step 2 as well
    results = validate_table(table, metadata, hand, MuJoCoValidator(), workers=1)

    assert [r.success for r in results] == [False, False, False, False]
    assert results[0].failure == "non-finite joint angles"
    assert results[2].failure == "non-finite pose at step 1"
    assert results[3].failure == "non-finite pose at step 1"  # it holds that object
    assert results[1].failure.startswith("penetration")
    for r in (results[0], results[2], results[3]):
        assert math.isnan(r.max_penetration_mm) and math.isnan(r.hand_penetration_mm)
    assert results[1].max_penetration_mm == pytest.approx(20.0, abs=3.0)

    summary = summarize(with_results(table, results))
    one = summary[0]
    assert one["success_rate"] == 0.0
    assert one["unmeasured"] == 2
    # The mean is over the one row with a depth, not pulled down by a 0 for the others.
    assert one["mean_max_penetration_mm"] == pytest.approx(results[1].max_penetration_mm)
    assert summary[1]["unmeasured"] == 1 and math.isnan(summary[1]["mean_max_penetration_mm"])


def test_a_degenerate_rotation_is_a_fault_not_a_crash(hand, tmp_path):
    from seqgrasp_core.validation.steps import row_faults

    table, _, _ = make_run(hand, tmp_path, order=(0, 2, 3))
    table = _set(table, "pose", 1, [0.01, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    assert row_faults(table) == {1: "degenerate rotation at step 1",
                                 2: "degenerate rotation at step 1"}
    table = _set(table, "object_scale", 0, 0.0)
    assert row_faults(table)[0] == "object scale at step 1 is not a positive finite number"


class _Credulous(Validator):
    """A third-party validator that passes every row it is given."""

    name = "credulous"

    def validate(self, table, meshes, hand, *, workers=1, progress=None):
        return [StepResult(True, 0.0, 0.0) for _ in range(table.num_rows)]


def test_the_core_fails_unsimulable_rows_whatever_the_validator_says(hand, tmp_path):
    table, metadata, _ = make_run(hand, tmp_path, order=(0, 1))
    table = _set(table, "joints", 1, [math.nan] * hand.num_joints)
    results = validate_table(table, metadata, hand, _Credulous())
    assert results[0] == StepResult(True, 0.0, 0.0)
    assert not results[1].success and results[1].failure == "non-finite joint angles"
    assert math.isnan(results[1].max_penetration_mm)


def test_validate_command_writes_the_failure_column_and_warns(hand, tmp_path):
    table, metadata, _ = make_run(hand, tmp_path, order=(0, 1))
    table = _set(table, "joints", 0, [math.nan] * hand.num_joints)
    run = tmp_path / "run.parquet"
    write_run(run, table, {k: v for k, v in metadata.items() if k != "format_version"})
    result = CliRunner().invoke(_app(), ["validate", str(run), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "warning: 1 of 2 grasps have no depth" in result.output
    out, _ = read_run(tmp_path / "run_validated.parquet")
    assert out.column("success").to_pylist() == [False, False]
    assert out.column("failure").to_pylist()[0] == "non-finite joint angles"
    assert out.column("failure").to_pylist()[1].startswith("penetration")


@pytest.mark.parametrize("item", ["hop=nan", "hop=inf", "hop=-inf", "hop=-1"])
def test_weights_that_are_not_finite_or_negative_are_refused(plugins, item):
    from seqgrasp_core.runs.weights import parse_energy_overrides

    with pytest.raises(SeqGraspError, match="finite number ≥ 0"):
        parse_energy_overrides([item], plugins)
    assert parse_energy_overrides(["hop=2.5"], plugins)["hop"] == 2.5


def test_a_mesh_with_a_nan_vertex_is_refused(tmp_path):
    from seqgrasp_core.objects.mesh import read_mesh

    good = tmp_path / "tet.obj"
    vertices = "v 0 0 0\nv 0.05 0 0\nv 0 0.05 0\nv 0 0 0.05\n"
    faces = "f 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 4\n"
    good.write_text(vertices + faces)
    assert read_mesh(good).volume == pytest.approx(0.05 ** 3 / 6)
    bad = tmp_path / "bad.obj"
    bad.write_text(vertices.replace("v 0 0 0.05", "v 0 nan 0.05") + faces)
    with pytest.raises(MeshError, match="1 vertices with a coordinate that is not a finite"):
        read_mesh(bad)


# ---------------------------------------------------------------- checked before work


def test_an_unwritable_output_is_refused_before_the_optimizer_starts(tmp_path, monkeypatch):
    import seqgrasp_core.runs.generate as pipeline

    def optimizer_started(*args, **kwargs):
        raise AssertionError("the optimizer ran before the output was checked")

    monkeypatch.setattr(pipeline, "generate", optimizer_started)
    blocker = tmp_path / "a-file"
    blocker.write_text("")  # a path under a file cannot be written, root or not
    result = CliRunner().invoke(_app(), ["generate", "--preset", "paper", "--first", "1",
                                         "--batch", "2", "--out", str(blocker / "run.parquet")])
    assert "cannot create folder" in _one_line_error(result)


def test_a_folder_that_refuses_new_files_is_refused_before_validation(hand, tmp_path,
                                                                     monkeypatch):
    import seqgrasp_core.system.outputs as outputs
    import seqgrasp_core.validation as validation

    table, metadata, _ = make_run(hand, tmp_path, order=(0,))
    run = tmp_path / "run.parquet"
    write_run(run, table, {k: v for k, v in metadata.items() if k != "format_version"})

    def no_new_files(*args, **kwargs):  # what a read-only folder does, root or not
        raise PermissionError(13, "Permission denied")

    def validation_started(*args, **kwargs):
        raise AssertionError("validation ran before the output was checked")

    monkeypatch.setattr(outputs.tempfile, "mkstemp", no_new_files)
    monkeypatch.setattr(validation, "validate_table", validation_started)
    line = _one_line_error(CliRunner().invoke(_app(), ["validate", str(run)]))
    assert f"cannot write to folder {tmp_path} for --out (Permission denied)" in line


def test_eval_and_contacts_refuse_an_unwritable_output(tmp_path):
    from importlib.resources import files

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    urdf = str(files("seqgrasp_allegro") / "allegro_right.urdf")
    for args in (["eval", "--sequences", "1", "--out", str(blocker / "r.json")],
                 ["eval", "--sequences", "1", "--keep-runs", str(blocker / "runs")],
                 ["hand", "contacts", urdf, "--pad-axis", "+x",
                  "--out", str(blocker / "c.json")]):
        assert "cannot create folder" in _one_line_error(CliRunner().invoke(_app(), args))


def test_validate_and_show_refuse_an_unwritable_output(hand, tmp_path):
    table, metadata, _ = make_run(hand, tmp_path, order=(0,))
    run = tmp_path / "run.parquet"
    write_run(run, table, {k: v for k, v in metadata.items() if k != "format_version"})
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for args in (["validate", str(run), "--out", str(blocker / "v.parquet")],
                 ["show", str(run), "--sequence", "0", "--out", str(blocker / "s.png")]):
        assert "cannot create folder" in _one_line_error(CliRunner().invoke(_app(), args))


def test_an_empty_run_and_a_nan_picture_are_one_line(hand, tmp_path):
    table, metadata, _ = make_run(hand, tmp_path, order=(0, 2, 3))
    meta = {k: v for k, v in metadata.items() if k != "format_version"}
    empty = tmp_path / "empty.parquet"
    write_run(empty, table.slice(0, 0), meta)
    line = _one_line_error(CliRunner().invoke(_app(), ["validate", str(empty)]))
    assert "has no rows" in line
    assert not (tmp_path / "empty_validated.parquet").exists()
    assert summarize(with_results(table.slice(0, 0), [])) == []

    nan_run = tmp_path / "nan.parquet"
    write_run(nan_run, _set(table, "joints", 2, [math.nan] * hand.num_joints), meta)
    line = _one_line_error(CliRunner().invoke(
        _app(), ["show", str(nan_run), "--sequence", "2", "--out", str(tmp_path / "s.png")]))
    assert "step 2 of sequence 2" in line and "not a finite number" in line
    assert not (tmp_path / "s.png").exists()


@pytest.mark.parametrize("threads", ["-1", "0", "1.5"])
def test_thread_counts_below_one_are_refused(threads, tmp_path):
    settings = tmp_path / "settings.toml"
    settings.write_text(f"threads = {threads}\n")
    result = CliRunner().invoke(_app(), ["generate", "--config", str(settings),
                                         "--out", str(tmp_path / "r.parquet")])
    assert f"threads = {threads} is not valid" in _one_line_error(result)


# ---------------------------------------------------------------- smaller cases


def test_run_files_get_the_mode_of_a_new_file(hand, tmp_path):
    table, metadata, _ = make_run(hand, tmp_path, order=(0,))
    path = tmp_path / "run.parquet"
    previous = os.umask(0o027)
    try:
        write_run(path, table, {})
        first = stat.S_IMODE(path.stat().st_mode)
        path.chmod(0o600)
        write_run(path, table, {})  # replacing a file: the umask decides again
        second = stat.S_IMODE(path.stat().st_mode)
    finally:
        os.umask(previous)
    assert first == second == 0o640


def test_folders_and_missing_object_folders_are_named(hand, tmp_path):
    from seqgrasp_core.objects.mesh import read_mesh
    from seqgrasp_core.validation import load_run_meshes

    with pytest.raises(MeshError, match="is a folder, not a mesh file"):
        read_mesh(tmp_path)
    with pytest.raises(RunFileError, match="is a folder, not a run file"):
        read_run(tmp_path)
    _, metadata, _ = make_run(hand, tmp_path, order=(0,))
    with pytest.raises(MeshError, match="object folder .*nonexistent not found"):
        load_run_meshes(metadata, objects_dir=tmp_path / "nonexistent")


def test_workers_beyond_the_cores_are_capped_with_a_warning():
    from seqgrasp_core.system.workers import capped_workers, usable_cores

    cores = usable_cores()
    with pytest.warns(SeqGraspWarning, match=f"using {cores}"):
        assert capped_workers(cores + 62) == cores
    assert capped_workers(1) == 1
    with pytest.raises(SeqGraspError):
        capped_workers(0)


def test_more_opposition_spaces_than_objects_is_refused(tmp_path):
    result = CliRunner().invoke(_app(), [
        "generate", "--preset", "paper", "--first", "1", "--os", "thumb-index",
        "--os", "middle-palm", "--batch", "1", "--steps", "1",
        "--out", str(tmp_path / "r.parquet")])
    assert "2 --os given for 1 objects" in _one_line_error(result)


def test_generate_creates_a_missing_output_folder(tmp_path):
    out = tmp_path / "new" / "deeper" / "run.parquet"
    result = CliRunner().invoke(_app(), ["generate", "--preset", "paper", "--first", "1",
                                         "--batch", "1", "--steps", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert read_run(out)[0].num_rows == 1


def test_core_warnings_print_as_one_line(capsys):
    import warnings

    from seqgrasp_cli.errors import show_warnings_as_lines

    with warnings.catch_warnings():  # restores the hook it replaces
        warnings.simplefilter("always")
        show_warnings_as_lines()
        warnings.warn("two cores", SeqGraspWarning)
    assert capsys.readouterr().err == "warning: two cores\n"


def test_replay_refuses_a_row_that_is_not_finite(hand, tmp_path):
    from seqgrasp_core.hardware.replay import replay_plan
    from seqgrasp_core.runs.runfile import sequence_rows

    table, _, _ = make_run(hand, tmp_path, order=(0, 2, 3))
    rows = sequence_rows(table, 2)
    assert len(replay_plan(rows, hand)) == 2
    still = rows[1]["joint_mask"].index(False)  # a joint this step does not move
    rows[1]["joints"][still] = math.nan
    with pytest.raises(RunFileError, match="not a finite number"):
        replay_plan(rows, hand)
