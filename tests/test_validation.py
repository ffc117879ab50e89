"""Physics validation: scenes built by hand with known answers (no optimizer)."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import trimesh

from seqgrasp_core.errors import MeshError, SeqGraspError
from seqgrasp_core.hands.spec import HandSpec
from seqgrasp_core.objects.mesh import file_sha256
from seqgrasp_core.runs.runfile import METADATA_KEY
from seqgrasp_core.validation import PAPER_PROTOCOL, summarize, validate_table, with_results
from seqgrasp_core.validation.mujoco_validator import (
    Context,
    MuJoCoValidator,
    prepare_objects,
    run_tasks,
)
from seqgrasp_core.validation.scene import MuJoCoSettings, build_model
from seqgrasp_core.validation.simulate import CHECK_EVERY, set_state
from seqgrasp_core.validation.steps import StepTask

PALM_FACE_X = 0.0111  # the Allegro palm box's +x face (hand frame, metres)
CURLED_INDEX = {"ffj1": 1.4, "ffj2": 1.4, "ffj3": 1.2}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQGRASP_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def hand() -> HandSpec:
    return HandSpec.from_files(Path(str(files("seqgrasp_allegro") / "hand.toml")))


def joints_of(hand, **values) -> np.ndarray:
    q = np.array(hand.open_pose)
    for name, v in values.items():
        q[hand.joint_names.index(name)] = v
    return q


def mask_of(hand, prefix: str) -> np.ndarray:
    return np.array([n.startswith(prefix) for n in hand.joint_names])


def translation(x, y, z) -> np.ndarray:
    t = np.eye(4)
    t[:3, 3] = [x, y, z]
    return t


def index_tip_sphere(hand, q) -> np.ndarray:
    """Centre of the index fingertip's outer sphere (hand frame) at joints ``q``."""
    import mujoco

    model, index = build_model(str(hand.urdf_path), hand.joint_names, [], PAPER_PROTOCOL,
                               MuJoCoSettings())
    data = mujoco.MjData(model)
    set_state(model, data, index, q, [])
    mujoco.mj_kinematics(model, data)
    tip = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "ff_tip")
    spheres = [g for g in range(model.ngeom)
               if model.geom_bodyid[g] == tip and model.geom_type[g] == 2]
    # The outer sphere is the one farthest from the distal joint.
    return max((data.geom_xpos[g] for g in spheres),
               key=lambda p: np.linalg.norm(p - data.xpos[tip]))


def pinched_box(hand):
    """A box lying on the palm with the curled index fingertip on top of it."""
    q = joints_of(hand, **CURLED_INDEX)
    c = index_tip_sphere(hand, q)
    top = c[0] - 0.012  # the tip sphere's radius
    box = trimesh.creation.box(extents=[top - PALM_FACE_X, 0.025, 0.02])
    return q, box, translation((PALM_FACE_X + top) / 2, c[1], c[2])


def check(hand, objects, q, closing, workers=1, settings=None):
    """Validate one step: ``objects`` = [(mesh, pose in hand frame)]; returns
    ``(success, max penetration mm, hand–object penetration mm, failure)``."""
    meshes = {f"obj{i}": m for i, (m, _) in enumerate(objects)}
    task = StepTask(0, tuple((f"obj{i}", 1.0) for i in range(len(objects))),
                    np.stack([p for _, p in objects]), q, closing)
    ctx = Context(str(hand.urdf_path), hand.joint_names,
                  prepare_objects([task], meshes, PAPER_PROTOCOL.density),
                  PAPER_PROTOCOL, settings or MuJoCoSettings())
    return run_tasks(ctx, [task], workers)[0]


def test_settings_reach_the_compiled_scene(hand):
    default, _ = build_model(str(hand.urdf_path), hand.joint_names, [], PAPER_PROTOCOL,
                             MuJoCoSettings())
    assert default.opt.timestep == pytest.approx(1 / 120)
    assert default.opt.noslip_iterations == 0
    assert np.all(default.dof_armature == pytest.approx(0.004))
    other, _ = build_model(str(hand.urdf_path), hand.joint_names, [], PAPER_PROTOCOL,
                           MuJoCoSettings(timestep=1 / 240, armature=0.001,
                                          noslip_iterations=3))
    assert other.opt.timestep == pytest.approx(1 / 240)
    assert other.opt.noslip_iterations == 3
    assert np.all(other.dof_armature == pytest.approx(0.001))


def test_box_pinched_between_index_and_palm_passes(hand):
    q, box, pose = pinched_box(hand)
    ok, pen, _, failure = check(hand, [(box, pose)], q, mask_of(hand, "ff"))
    assert ok and failure == ""
    assert pen < 0.5


def test_box_beside_open_hand_fails(hand):
    box = trimesh.creation.box(extents=[0.02, 0.025, 0.02])
    q = np.array(hand.open_pose)
    beside = translation(PALM_FACE_X + 0.03, -0.0565 - 0.03, -0.05)
    ok, pen, _, failure = check(hand, [(box, beside)], q, mask_of(hand, "ff"))
    assert not ok
    assert failure.startswith("lost under acceleration along ")
    assert pen == 0.0


def test_a_run_at_rest_ends_early_with_the_same_outcome(hand, monkeypatch):
    import mujoco

    steps = []
    step = mujoco.mj_step
    monkeypatch.setattr(mujoco, "mj_step",
                        lambda m, d, n=1: (steps.extend([1] * n), step(m, d, n)))
    q, box, pose = pinched_box(hand)
    full = MuJoCoSettings(settle_speed=None)
    assert check(hand, [(box, pose)], q, mask_of(hand, "ff"), settings=full)[0]
    per_run = round(PAPER_PROTOCOL.duration / full.timestep)
    assert len(steps) == 6 * per_run  # every direction, to the end
    steps.clear()
    settled = MuJoCoSettings(settle_speed=0.001)
    assert check(hand, [(box, pose)], q, mask_of(hand, "ff"), settings=settled)[0]
    assert 6 * settled.settle_checks * CHECK_EVERY <= len(steps) < 3 * per_run
    # A box that falls never comes to rest: it fails as before.
    beside = translation(PALM_FACE_X + 0.03, -0.0565 - 0.03, -0.05)
    assert not check(hand, [(trimesh.creation.box(extents=[0.02, 0.025, 0.02]), beside)],
                     np.array(hand.open_pose), mask_of(hand, "ff"), settings=settled)[0]


def test_object_deep_in_palm_reports_its_depth_and_fails(hand):
    cube = trimesh.creation.box(extents=[0.05, 0.05, 0.05])
    deep = translation(PALM_FACE_X - 0.02 + 0.025, 0.0, -0.045)
    ok, pen, _, failure = check(hand, [(cube, deep)], np.array(hand.open_pose),
                                mask_of(hand, "ff"))
    assert failure == "penetration ≥ 10 mm"
    assert not ok
    assert pen == pytest.approx(20.0, abs=3.0)


def test_object_object_penetration_is_measured(hand):
    a = trimesh.creation.box(extents=[0.03, 0.03, 0.03])
    b = trimesh.creation.icosphere(subdivisions=3, radius=0.015)
    far = 0.2  # well away from the hand: only the two objects overlap
    pa_, pb = translation(far, 0, 0), translation(far + 0.015 + 0.015 - 0.006, 0, 0)
    ok, pen, hand_pen, _ = check(hand, [(a, pa_), (b, pb)], np.array(hand.open_pose),
                                 mask_of(hand, "ff"))
    assert not ok
    assert pen == pytest.approx(6.0, abs=0.5)
    assert hand_pen == 0.0  # the paper's hand–object depth does not count it


def _row_pose(object_in_hand: np.ndarray) -> list[float]:
    t = np.linalg.inv(object_in_hand)  # the hand in the object's frame
    return [*t[:3, 3], *t[:3, 0], *t[:3, 1]]


def make_run(hand, tmp_path, order=(3, 0, 2, 1)):
    """A small run table whose rows have known outcomes, in the given row order."""
    q_held, box, pose_held = pinched_box(hand)
    cube = trimesh.creation.box(extents=[0.05, 0.05, 0.05])
    deep = translation(PALM_FACE_X - 0.02 + 0.025, 0.0, -0.045)
    paths = {"box": tmp_path / "box.stl", "cube": tmp_path / "cube.stl"}
    box.export(paths["box"])
    cube.export(paths["cube"])
    sha = {k: file_sha256(p) for k, p in paths.items()}
    open_q = np.array(hand.open_pose)
    ff = mask_of(hand, "ff")
    th = mask_of(hand, "th")
    # (sequence, step, object, pose in hand, joints, mask, expected success, pen mm)
    rows = [
        (0, 1, "box", pose_held, q_held, ff, True, 0.0),
        (1, 1, "cube", deep, open_q, ff, False, 20.0),
        (2, 1, "box", pose_held, q_held, ff, True, 0.0),
        # step 2 of sequence 2 also holds the box of step 1, the cube is deep in the palm
        (2, 2, "cube", deep, q_held, th, False, 20.0),
    ]
    rows = [rows[i] for i in order]
    k = hand.num_joints
    table = pa.table({
        "sequence_id": pa.array([r[0] for r in rows], pa.int32()),
        "step": pa.array([r[1] for r in rows], pa.int16()),
        "hand": ["allegro"] * len(rows),
        "object_id": [r[2] for r in rows],
        "object_sha256": [sha[r[2]] for r in rows],
        "object_scale": pa.array([1.0] * len(rows), pa.float64()),
        "os_name": ["index-palm"] * len(rows),
        "joint_mask": pa.array([r[5].tolist() for r in rows], pa.list_(pa.bool_(), k)),
        "pose": pa.array([_row_pose(r[3]) for r in rows], pa.list_(pa.float32(), 9)),
        "joints": pa.array([r[4].tolist() for r in rows], pa.list_(pa.float32(), k)),
    })
    metadata = {"format_version": 1, "hand": "allegro", "objects": [
        {"object_id": name, "sha256": sha[name], "scale": 1.0, "source": str(paths[name])}
        for name in ("box", "cube")]}
    table = table.replace_schema_metadata({METADATA_KEY: json.dumps(metadata).encode()})
    return table, metadata, rows


@pytest.mark.slow
def test_results_line_up_with_shuffled_rows(hand, tmp_path):
    table, metadata, rows = make_run(hand, tmp_path)
    calls = []
    results = validate_table(table, metadata, hand, MuJoCoValidator(), workers=2,
                             progress=lambda done, total: calls.append((done, total)))
    assert [r.success for r in results] == [r[6] for r in rows]
    assert [r.max_penetration_mm for r in results] == pytest.approx([r[7] for r in rows],
                                                                    abs=3.0)
    # The cube in the palm is a hand–object depth: both measures see it.
    assert [r.hand_penetration_mm for r in results] == pytest.approx(
        [r.max_penetration_mm for r in results], abs=1e-6)
    assert calls[-1] == (4, 4)

    out = with_results(table, results)
    assert out.column_names[:table.num_columns] == table.column_names
    assert out.column_names[table.num_columns:] == ["success", "max_penetration_mm",
                                                    "hand_penetration_mm", "failure"]
    assert out.schema.field("max_penetration_mm").type == pa.float32()
    assert out.schema.metadata == table.schema.metadata
    summary = summarize(out)
    assert [s["objects"] for s in summary] == [1, 2]
    assert summary[0]["success_rate"] == pytest.approx(100 * 2 / 3)
    assert summary[1]["success_rate"] == 0.0
    assert summary[0]["mean_max_penetration_mm"] == pytest.approx(20 / 3, abs=1.0)
    # Two identical successful rows: no spread.
    assert summary[0]["diversity_rad"] == pytest.approx(0.0, abs=1e-6)


def test_missing_mesh_says_to_pass_objects(hand, tmp_path):
    box = trimesh.creation.box(extents=[0.02, 0.02, 0.02])
    path = tmp_path / "box.stl"
    box.export(path)
    meta = {"objects": [{"object_id": "box", "sha256": "0" * 64, "scale": 1.0,
                         "source": str(path)}]}
    from seqgrasp_core.validation import load_run_meshes

    with pytest.raises(MeshError, match="not found") as err:
        load_run_meshes(meta)
    assert "--objects" in err.value.hint
    meta["objects"][0]["sha256"] = file_sha256(path)
    meta["objects"][0]["source"] = "elsewhere/box.stl"
    meshes = load_run_meshes(meta, objects_dir=tmp_path)
    assert len(meshes[file_sha256(path)].faces) == 12


def test_validators_are_registered_and_isaacgym_explains_itself():
    from seqgrasp_core.plugins.manager import load_plugins

    plugins = load_plugins()
    assert {"mujoco", "isaacgym"} <= set(plugins.validators.names())
    isaac = plugins.validators.get("isaacgym")
    try:
        import isaacgym  # noqa: F401
    except ImportError:
        assert not isaac.available()
        assert "Isaac Gym" in isaac.unavailable_hint and "\n" not in isaac.unavailable_hint
        with pytest.raises(SeqGraspError):
            validate_table(pa.table({"step": pa.array([], pa.int16())}), {}, None, isaac)


def test_validate_command_writes_columns_and_prints_table(hand, tmp_path):
    import typer
    from typer.testing import CliRunner

    from seqgrasp_cli.validate import register
    from seqgrasp_core.runs.runfile import read_run, write_run

    table, metadata, rows = make_run(hand, tmp_path, order=(1, 0))
    run = tmp_path / "run.parquet"
    write_run(run, table, metadata)
    app = typer.Typer()
    app.callback()(lambda: None)
    register(app)
    result = CliRunner().invoke(app, ["validate", str(run), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "success" in result.output
    out, meta = read_run(tmp_path / "run_validated.parquet")
    assert out.column("success").to_pylist() == [r[6] for r in rows]
    assert out.column_names[:table.num_columns] == table.column_names
    assert meta["objects"] == metadata["objects"]

    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "junk.parquet")])
    assert result.exit_code == 2
    assert "not a readable Parquet file" in result.output
    assert not (tmp_path / "junk_validated.parquet").exists()
