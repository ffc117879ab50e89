"""The example plugins of the how-to pages (docs/how-to-energy-term.md,
docs/how-to-validator.md, docs/how-to-hardware-backend.md): each loads as a plugin
without being installed and works for real (the term in a generate, the validator on
a run, the backend in a replay), imports nothing of the core but seqgrasp_core.api,
and is the code its page shows; installed with pip, each is found through its entry
point."""

from __future__ import annotations

import ast
import importlib.util
import json
import math
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch

from seqgrasp_core.errors import SeqGraspError, UnknownNameError
from seqgrasp_core.plugins.manager import load_plugins

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
# entry-point name: (page, example folder, package)
PLUGINS = {
    "approach": ("how-to-energy-term.md", "energy-term", "seqgrasp_approach"),
    "depth-screen": ("how-to-validator.md", "validator", "seqgrasp_depth_screen"),
    "joint-log": ("how-to-hardware-backend.md", "backend", "seqgrasp_joint_log"),
}


def _import(folder: str, package: str) -> types.ModuleType:
    """The example's package, imported from its folder (not installed)."""
    if package in sys.modules:
        return sys.modules[package]
    init = EXAMPLES / folder / package / "__init__.py"
    spec = importlib.util.spec_from_file_location(package, init,
                                                  submodule_search_locations=[str(init.parent)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[package] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def modules() -> dict[str, types.ModuleType]:
    return {name: _import(folder, package) for name, (_, folder, package) in PLUGINS.items()}


@pytest.fixture(scope="module")
def loaded(modules):
    return load_plugins(extra_modules=tuple(modules.values()))


@pytest.fixture(scope="module")
def run(loaded, mesh_dir, tmp_path_factory):
    """A tiny generate with ``approach`` on: 2 sequences of 2 objects, 3 iterations."""
    from seqgrasp_core.runs.generate import GenerateRequest, run_generate

    out = tmp_path_factory.mktemp("how-to") / "run.parquet"
    summary = run_generate(GenerateRequest(
        hand="allegro", objects=[mesh_dir / "a.obj", mesh_dir / "b.stl"], batch=2, steps=3,
        seed=1, energy=("approach=1",), out=out), loaded)
    return out, summary


def _rot6d_pose(rotation, joints, translation=(0.0, 0.0, 0.0)) -> torch.Tensor:
    """One grasp ``(1, 9+K)``: hand in object frame, rotation as its first two columns."""
    r = torch.as_tensor(rotation, dtype=torch.float32)
    return torch.cat((torch.tensor(translation, dtype=torch.float32), r[:, 0], r[:, 1],
                      joints))[None]


# --------------------------------------------------------------------------- loading


def test_the_examples_load_as_plugins_without_being_installed(loaded, modules):
    assert loaded.failures == {} and loaded.refused == []
    assert loaded.energy_terms.origin("approach") == modules["approach"].__name__
    assert loaded.validators.origin("depth-screen") == modules["depth-screen"].__name__
    assert loaded.backends.origin("joint-log") == modules["joint-log"].__name__
    # Installed, the term changes nothing until --energy approach=W.
    from seqgrasp_core.runs.weights import build_energy, parse_energy_overrides

    weights = parse_energy_overrides([], loaded)
    assert weights["approach"] == 0.0
    assert "approach" not in build_energy(loaded, weights).terms


# --------------------------------------------------------------------------- energy term


def test_approach_has_known_values_and_turns_only_the_wrist(loaded, allegro):
    from seqgrasp_core.geometry.pose import pose_to_matrix
    from seqgrasp_core.synthesis.state import GraspState, StepContext

    term = loaded.energy_terms.get("approach")
    ctx = StepContext(hand=allegro, sdf=None, active=allegro.os_masks[:1].clone())
    contacts = torch.zeros(1, 2, dtype=torch.long)
    # The Allegro's palm normal is +x (hand frame); the term wants it along -z.
    down = [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]]  # x -> -z
    for rotation, expected in ((np.eye(3), 1.0), (down, 0.0), (np.array(down).T, 2.0)):
        state = GraspState(ctx, _rot6d_pose(rotation, allegro.open_pose), contacts)
        assert term(state).item() == pytest.approx(expected, abs=1e-6)

    g = torch.Generator().manual_seed(4)
    b = 8
    pose = torch.cat((torch.randn(b, 3, generator=g) * 0.05, torch.randn(b, 6, generator=g),
                      allegro.open_pose.expand(b, -1)), dim=1).requires_grad_(True)
    value = term(GraspState(ctx, pose, torch.zeros(b, 2, dtype=torch.long)))
    assert value.shape == (b,) and torch.isfinite(value).all()
    palm = torch.tensor(allegro.spec.palm_normal)
    normal = pose_to_matrix(pose.detach())[:, :3, :3] @ palm
    assert torch.allclose(value.detach(), 1.0 + normal[:, 2], atol=1e-5)  # 1 − n·(−z)
    value.sum().backward()
    grad = pose.grad
    assert torch.isfinite(grad).all()
    assert grad[:, 3:9].abs().amax(dim=1).min() > 1e-4  # the rotation, in every row
    assert not grad[:, :3].any() and not grad[:, 9:].any()  # not the position, not the joints


def test_approach_runs_inside_generate(run):
    import pyarrow.parquet as pq

    from seqgrasp_core.geometry.pose import pose_to_matrix
    from seqgrasp_core.runs.runfile import read_run

    out, summary = run
    table, metadata = read_run(out)
    assert metadata["weights"]["approach"] == 1.0 and metadata["schedules"]["approach"] == \
        "constant"
    assert table.num_rows == 4 and "energy_approach" in table.column_names
    values = np.asarray(table.column("energy_approach").to_pylist())
    assert np.isfinite(values).all() and ((values >= 0) & (values <= 2 + 1e-6)).all()
    rotation = pose_to_matrix(torch.tensor(table.column("pose").to_pylist(),
                                           dtype=torch.float64))[:, :3, :3]
    palm = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)  # the Allegro's
    assert values == pytest.approx((1.0 + (rotation @ palm)[:, 2]).numpy(), abs=1e-4)
    assert all("approach" in o.terms for o in summary["outcomes"])
    assert pq.read_table(out).column("energy_total").to_pylist() == pytest.approx(
        table.column("energy_total").to_pylist())


# --------------------------------------------------------------------------- validator


def _with_pose(table: pa.Table, row: int, pose: list[float]) -> pa.Table:
    poses = table.column("pose").to_pylist()
    poses[row] = pose
    i = table.column_names.index("pose")
    return table.set_column(i, "pose", pa.array(poses, table.schema.field("pose").type))


def test_depth_screen_gives_one_result_per_row_in_row_order(loaded, run, allegro_spec):
    from seqgrasp_core.runs.runfile import read_run
    from seqgrasp_core.validation import validate_table

    screen = loaded.validators.get("depth-screen")
    assert screen.available() and screen.limit_mm == 2.0
    table, metadata = read_run(run[0])
    # Row 0 (sequence 0, step 1): the hand frame on the object's centre, the palm box
    # deep inside the box object; row 1 (sequence 0, step 2) holds that object too.
    table = _with_pose(table, 0, [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
    assert table.column("sequence_id").to_pylist()[:2] == [0, 0]
    results = validate_table(table, metadata, allegro_spec, screen)
    assert len(results) == table.num_rows
    for r in results:
        assert math.isfinite(r.max_penetration_mm)
        assert r.success == (r.max_penetration_mm < 2.0)
        assert r.failure == ("" if r.success else
                             f"depth {r.max_penetration_mm:.2f} mm ≥ 2 mm")
        assert r.hand_penetration_mm <= r.max_penetration_mm + 1e-9
    assert not results[0].success and results[0].max_penetration_mm > 10.0
    assert not results[1].success
    # The depths are the ones the bundled validator measures for the same rows.
    from seqgrasp_core.api import MuJoCoValidator

    full = validate_table(table, metadata, allegro_spec, MuJoCoValidator())
    assert [r.max_penetration_mm for r in results] == pytest.approx(
        [r.max_penetration_mm for r in full])
    assert [r.hand_penetration_mm for r in results] == pytest.approx(
        [r.hand_penetration_mm for r in full])

    reordered = table.take(pa.array([3, 2, 1, 0]))
    again = validate_table(reordered, metadata, allegro_spec, screen)
    assert [r.max_penetration_mm for r in again] == pytest.approx(
        [r.max_penetration_mm for r in results[::-1]])

    generous = screen.configured({"limit_mm": "1000"})
    assert generous is not screen and generous.limit_mm == 1000.0
    assert all(r.success for r in validate_table(table, metadata, allegro_spec, generous))
    assert screen.configured({}) is screen
    with pytest.raises(UnknownNameError, match="has no option 'limit'"):
        screen.configured({"limit": "3"})
    with pytest.raises(SeqGraspError, match="not a number"):
        screen.configured({"limit_mm": "deep"})

    # A row the core cannot simulate fails with its reason, whatever a validator says.
    joints = table.column("joints").to_pylist()
    joints[2] = [float("nan")] * len(joints[2])
    broken = table.set_column(table.column_names.index("joints"), "joints",
                              pa.array(joints, table.schema.field("joints").type))
    row = validate_table(broken, metadata, allegro_spec, screen)[2]
    assert not row.success and row.failure == "non-finite joint angles"
    assert math.isnan(row.max_penetration_mm)


# --------------------------------------------------------------------------- backend


@pytest.fixture(scope="module")
def plan(run, allegro_spec):
    from seqgrasp_core.hardware.replay import replay_plan
    from seqgrasp_core.runs.runfile import read_run, sequence_rows

    table, _ = read_run(run[0])
    return replay_plan(sequence_rows(table, 0), allegro_spec)


def _log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_joint_log_records_a_replay(modules, plan, allegro_spec, tmp_path):
    from seqgrasp_core.hardware.replay import replay

    backend = modules["joint-log"].JointLog(tmp_path / "log.jsonl")
    results = replay(backend, allegro_spec, plan, options={"max_speed": "0.5"})
    assert [r.phase for r in results] == ["open", "step", "step"]
    assert all(r.error_rad == 0.0 for r in results)
    log = _log(tmp_path / "log.jsonl")
    assert [r["event"] for r in log] == ["open", "move", "place", "move", "place", "move",
                                         "close"]
    assert log[0]["max_speed"] == 0.5
    assert log[1]["targets"] == pytest.approx(list(allegro_spec.open_pose))
    assert all(log[1]["active"]) and log[1]["seconds"] == 0.0  # start angles unknown
    previous = np.asarray(log[1]["targets"])
    for s, place, move in zip(plan, log[2::2], log[3::2]):
        assert (place["step"], place["object_id"]) == (s.step, s.object_id)
        assert np.allclose(place["pose"], s.object_pose)
        targets = np.asarray(move["targets"])
        assert move["active"] == s.active.tolist()
        assert np.allclose(targets[s.active], s.targets[s.active])
        assert np.array_equal(targets[~s.active], previous[~s.active])  # the others hold
        travel = np.abs(s.targets - previous)[s.active].max()
        assert move["seconds"] == pytest.approx(travel / 0.5)
        previous = targets
    assert backend.joint_positions() == pytest.approx(previous.tolist())
    backend.close()  # a second close is harmless
    assert len(_log(tmp_path / "log.jsonl")) == 7


def test_joint_log_is_closed_on_ctrl_c_and_refuses_bad_targets(modules, plan, allegro_spec,
                                                               tmp_path):
    from seqgrasp_core.hardware.replay import replay

    backend = modules["joint-log"].JointLog(tmp_path / "log.jsonl")

    def confirm(step):
        if step.step == 2:
            raise KeyboardInterrupt
        return True

    with pytest.raises(KeyboardInterrupt):
        replay(backend, allegro_spec, plan, confirm=confirm)
    assert [r["event"] for r in _log(tmp_path / "log.jsonl")] == [
        "open", "move", "place", "move", "close"]

    with pytest.raises(SeqGraspError, match="not open"):
        backend.move_to([0.0] * 16, [True] * 16)
    with pytest.raises(SeqGraspError, match="has no option 'channel'"):
        backend.open(channel="can0")
    backend.open(path=str(tmp_path / "other.jsonl"))
    with pytest.raises(SeqGraspError, match="first move leaves joints out"):
        backend.move_to([0.0] * 16, [True] * 15 + [False])
    backend.move_to([0.0] * 16, [True] * 16)
    with pytest.raises(SeqGraspError, match="not a finite number"):
        backend.move_to([float("nan")] * 16, [True] * 16)
    with pytest.raises(SeqGraspError, match="15 targets"):
        backend.move_to([0.0] * 15, [True] * 15)
    backend.close()
    assert [r["event"] for r in _log(tmp_path / "other.jsonl")] == ["open", "move", "close"]


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def cli_with_examples(monkeypatch, modules):
    """The CLI, finding the examples as if they were installed (entry points)."""
    import seqgrasp_core.plugins.manager as manager

    real = manager.entry_points
    fake = [types.SimpleNamespace(name=name, value=modules[name].__name__, dist=None,
                                  load=lambda m=modules[name]: m) for name in PLUGINS]
    monkeypatch.setattr(manager, "entry_points", lambda group: [*real(group=group), *fake])
    from typer.testing import CliRunner

    from seqgrasp_cli.main import app

    return lambda *args: CliRunner().invoke(app, [str(a) for a in args])


def test_the_pages_commands_use_the_examples(cli_with_examples, run, tmp_path, monkeypatch):
    cli = cli_with_examples
    listed = cli("energies", "--json")
    assert listed.exit_code == 0, listed.output
    terms = {t["name"]: t for t in json.loads(listed.stdout)["energy_terms"]}
    assert terms["approach"]["plugin"] == "approach"
    assert terms["approach"]["default_weight"] == 0.0
    assert terms["approach"]["stages"] == ["optimize", "refine"]
    plugins = {p["name"]: p for p in json.loads(cli("plugins", "--json").stdout)["plugins"]}
    assert plugins["depth-screen"]["provides"] == ["validator:depth-screen"]
    assert plugins["joint-log"]["provides"] == ["backend:joint-log"]

    out = tmp_path / "validated.parquet"
    validated = cli("validate", run[0], "--validator", "depth-screen", "-o", "limit_mm=1000",
                    "--workers", 1, "--out", out)
    assert validated.exit_code == 0, validated.output
    import pyarrow.parquet as pq

    assert all(pq.read_table(out).column("success").to_pylist())

    monkeypatch.chdir(tmp_path)
    replayed = cli("replay", run[0], "--sequence", 0, "--backend", "joint-log", "--yes")
    assert replayed.exit_code == 0, replayed.output
    log = _log(tmp_path / "joint-log.jsonl")
    assert log[0] == {"event": "open", "max_speed": 1.0} and log[-1] == {"event": "close"}
    replayed = cli("replay", run[0], "--sequence", 0, "--backend", "joint-log", "--yes",
                   "--max-speed", 0.5, "-o", "path=seq0.jsonl")
    assert replayed.exit_code == 0, replayed.output
    log = _log(tmp_path / "seq0.jsonl")
    assert log[0] == {"event": "open", "max_speed": 0.5} and len(log) == 7
    refused = cli("replay", run[0], "--sequence", 0, "--backend", "joint-log", "--yes",
                  "-o", "channel=can0")
    assert refused.exit_code == 2 and "has no option 'channel'" in refused.stderr


# --------------------------------------------------------------------------- the rules


def _example_sources() -> list[Path]:
    return sorted(EXAMPLES.rglob("*.py"))


@pytest.mark.parametrize("path", _example_sources(), ids=lambda p: str(p.relative_to(EXAMPLES)))
def test_examples_import_only_the_public_api_of_the_core(path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        else:
            continue
        for name in names:
            if name == "seqgrasp_core" or name.startswith("seqgrasp_core."):
                assert name == "seqgrasp_core.api", f"{path.name}:{node.lineno} imports {name}"


_BLOCK = re.compile(r"^```[a-z]*\n(.*?)^```$", re.DOTALL | re.MULTILINE)


@pytest.mark.parametrize("name", PLUGINS)
def test_each_page_shows_its_example_files_as_they_are(name):
    page, folder, _ = PLUGINS[name]
    text = (ROOT / "docs" / page).read_text()
    shown: dict[str, str] = {}
    for block in _BLOCK.findall(text):
        first, _, rest = block.partition("\n")
        match = re.fullmatch(r"# (\S+\.(?:py|toml))", first)
        if match and (EXAMPLES / folder / match.group(1)).is_file():
            shown[match.group(1)] = rest
    files = sorted(str(p.relative_to(EXAMPLES / folder)) for p in (EXAMPLES / folder).rglob("*")
                   if p.suffix in (".py", ".toml") and "egg-info" not in str(p))
    assert sorted(shown) == files
    for rel, body in shown.items():
        assert body == (EXAMPLES / folder / rel).read_text(), f"{page} shows an old {rel}"


@pytest.mark.slow
def test_installed_examples_are_found_through_their_entry_points(tmp_path):
    """``pip install`` of each example (into a folder, not this environment)."""
    sources = []
    for _, folder, _ in PLUGINS.values():
        src = tmp_path / "src" / folder
        shutil.copytree(EXAMPLES / folder, src)  # build files land in the copy
        sources.append(str(src))
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "-q", "install", "--no-deps", "--no-index",
                    "--no-build-isolation", "--target", str(target), *sources],
                   check=True, capture_output=True, timeout=300)
    code = ("import json\nfrom seqgrasp_core.plugins.manager import load_plugins\n"
            "p = load_plugins()\n"
            "print(json.dumps({'failures': p.failures,"
            " 'approach': p.energy_terms.origin('approach'),"
            " 'depth-screen': p.validators.origin('depth-screen'),"
            " 'joint-log': p.backends.origin('joint-log')}))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(target), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.splitlines()[-1])
    assert found == {"failures": {}, "approach": "approach", "depth-screen": "depth-screen",
                     "joint-log": "joint-log"}
