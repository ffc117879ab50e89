"""The command line: a real generate on meshes made here, listings, and bad input."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from seqgrasp_cli.main import app

runner = CliRunner()


def _run(*args):
    """The CLI; ``generate`` runs the paper's preset unless a test names one (fast, and
    the optimizer alone is what most of these tests check)."""
    args = [str(a) for a in args]
    if args[:1] == ["generate"] and "--preset" not in args:
        args[1:1] = ["--preset", "paper"]
    return runner.invoke(app, args)


def _settings(tmp_path, name, **keys):
    path = tmp_path / f"{name}.toml"
    path.write_text("".join(f"{k} = {v}\n" for k, v in keys.items()))
    return path


def test_generate_writes_a_valid_run_file(mesh_dir, tmp_path):
    out = tmp_path / "run.parquet"
    result = _run("generate", "--hand", "allegro", "--object", mesh_dir / "a.obj",
                  "--object", mesh_dir / "b.stl", "--batch", 8, "--steps", 40, "--out", out)
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    meta = json.loads(table.schema.metadata[b"seqgrasp"])
    assert meta["hand"] == "allegro" and meta["steps"] == 40 and meta["batch"] == 8
    assert [o["object_id"] for o in meta["objects"]] == ["a", "b"]
    rows = table.to_pylist()
    assert {r["step"] for r in rows} == {1, 2}
    assert len([r for r in rows if r["step"] == 1]) == 8
    for r in rows:
        assert len(r["pose"]) == 9 and len(r["joints"]) == 16 and len(r["joint_mask"]) == 16
        assert r["object_id"] == ("a" if r["step"] == 1 else "b")
        assert r["energy_total"] >= 0
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.slow
def test_refine_steps_are_recorded_and_move_the_grasps(mesh_dir, tmp_path):
    runs = {}
    for steps in (0, 5):
        out = tmp_path / f"refine{steps}.parquet"
        result = _run("generate", "--object", mesh_dir / "a.obj", "--batch", 4, "--steps", 10,
                      "--seed", 3, "--refine-steps", steps, "--out", out)
        assert result.exit_code == 0, result.output
        meta = json.loads(pq.read_schema(out).metadata[b"seqgrasp"])
        assert meta["refine"]["steps"] == steps
        assert meta["refine"]["depth_allowance"] == pytest.approx(0.001)  # 1 mm default
        runs[steps] = pq.read_table(out).to_pylist()
    assert [r["pose"] for r in runs[0]] != [r["pose"] for r in runs[5]]
    assert [r["contact_index"] for r in runs[0]] == [r["contact_index"] for r in runs[5]]
    out = tmp_path / "allowance0.parquet"
    result = _run("generate", "--object", mesh_dir / "a.obj", "--batch", 4, "--steps", 10,
                  "--seed", 3, "--refine-steps", 5, "--out", out,
                  "--config", _settings(tmp_path, "allowance0", refine_allowance_mm=0))
    assert result.exit_code == 0, result.output
    assert json.loads(pq.read_schema(out).metadata[b"seqgrasp"])["refine"][
        "depth_allowance"] == 0.0
    bad = _run("generate", "--object", mesh_dir / "a.obj", "--refine-steps", -1,
               "--out", tmp_path / "bad.parquet")
    assert bad.exit_code != 0 and not (tmp_path / "bad.parquet").exists()


@pytest.mark.slow
def test_candidates_keep_one_grasp_per_sequence_in_one_process_and_in_workers(
        mesh_dir, tmp_path):
    """--candidates K optimizes K grasps per sequence and keeps the best one (the
    lowest energy within the candidate depth, recorded in the metadata): the file still
    has one row per sequence and step, and the kept energies are lower."""
    mean_energy = {}
    for candidates, workers, depth in ((1, 1, None), (4, 1, None), (4, 2, 2.5)):
        out = tmp_path / f"candidates{candidates}_{workers}.parquet"
        limit = () if depth is None else (
            "--config", _settings(tmp_path, "depth", candidate_depth_mm=depth))
        result = _run("generate", "--object", mesh_dir / "a.obj", "--object", mesh_dir / "b.stl",
                      "--batch", 6, "--steps", 60, "--seed", 5, "--workers", workers,
                      "--candidates", candidates, *limit, "--out", out)
        assert result.exit_code == 0, result.output
        meta = json.loads(pq.read_schema(out).metadata[b"seqgrasp"])
        assert meta["candidates"] == candidates and meta["batch"] == 6
        assert meta["candidate_depth_limit"] == pytest.approx((depth or 4.0) / 1000.0)
        rows = pq.read_table(out).to_pylist()
        assert sorted(r["sequence_id"] for r in rows if r["step"] == 1) == list(range(6))
        mean_energy[candidates, workers] = sum(r["energy_total"] for r in rows) / len(rows)
    assert mean_energy[4, 1] < mean_energy[1, 1] and mean_energy[4, 2] < mean_energy[1, 1]
    bad = _run("generate", "--object", mesh_dir / "a.obj", "--candidates", 0,
               "--out", tmp_path / "bad.parquet")
    assert bad.exit_code != 0 and "Traceback" not in bad.output
    assert not (tmp_path / "bad.parquet").exists()


@pytest.mark.slow
def test_surface_points_reach_the_penetration_term_in_one_process_and_in_workers(
        mesh_dir, tmp_path):
    """The settings file's surface_points sets how many hand samples `hop` sums: the
    grasps change with it,
    with and without worker processes; too few is one clear error and no file."""
    poses = {}
    for points, workers in ((None, 1), (300, 1), (None, 2), (300, 2)):
        out = tmp_path / f"points{points}_{workers}.parquet"
        extra = [] if points is None else [
            "--config", _settings(tmp_path, f"points{points}", surface_points=points)]
        # 300 steps: long enough for the hands to reach the box, so that `hop` acts.
        result = _run("generate", "--object", mesh_dir / "a.obj", "--batch", 4, "--steps", 300,
                      "--seed", 3, "--workers", workers, *extra, "--out", out)
        assert result.exit_code == 0, result.output
        meta = json.loads(pq.read_schema(out).metadata[b"seqgrasp"])
        assert meta["surface_points"] == (points or 3000)
        rows = pq.read_table(out).to_pylist()
        poses[points, workers] = [r["pose"] + r["joints"] for r in rows]
        assert any(r["energy_hop"] > 0 for r in rows)
    assert poses[None, 1] != poses[300, 1]
    assert poses[None, 2] != poses[300, 2]
    bad = _run("generate", "--object", mesh_dir / "a.obj", "--out", tmp_path / "bad.parquet",
               "--config", _settings(tmp_path, "few", surface_points=10))
    assert bad.exit_code != 0 and "surface_points = 10 is not valid" in bad.output
    assert "Traceback" not in bad.output and not (tmp_path / "bad.parquet").exists()


def test_generate_with_fixed_os_order_and_a_disabled_term(mesh_dir, tmp_path):
    out = tmp_path / "fixed.parquet"
    result = _run("generate", "--object", mesh_dir / "a.obj", "--object", mesh_dir / "b.stl",
                  "--batch", 4, "--steps", 10, "--os", "ring-palm", "--os", "index-middle",
                  "--energy", "hop=0", "--out", out)
    assert result.exit_code == 0, result.output
    rows = pq.read_table(out).to_pylist()
    assert {(r["step"], r["os_name"]) for r in rows} == {(1, "ring-palm"), (2, "index-middle")}
    assert all(r["energy_hop"] == 0.0 for r in rows)
    meta = json.loads(pq.read_schema(out).metadata[b"seqgrasp"])
    assert meta["weights"]["hop"] == 0.0


@pytest.mark.parametrize("args, expected", [
    (["--object", "missing.obj"], "missing.obj not found"),
    (["--object", "{m}/notes.obj"], "not a mesh"),
    (["--object", "{m}/tube.stl"], "not watertight"),
    (["--object", "{m}/huge.obj"], "grasps objects up to"),
    (["--hand", "robotiq"], "unknown hand 'robotiq'"),
    (["--object", "{m}/a.obj", "--energy", "grip=3"], "unknown energy term 'grip'"),
    (["--object", "{m}/a.obj", "--energy", "hop=x"], "not a number"),
    (["--object", "{m}/a.obj", "--os", "pinky-palm"], "no opposition space 'pinky-palm'"),
    (["--object", "{m}/a.obj", "--object", "{m}/b.stl", "--os", "thumb-index",
      "--os", "thumb-palm"], "no joint left"),
    (["--object", "{m}/a.obj", "--device", "cuda"], "CUDA is not available"),
])
def test_bad_input_is_one_line_and_no_output(mesh_dir, tmp_path, args, expected):
    out = tmp_path / "bad.parquet"
    args = [a.format(m=mesh_dir) for a in args]
    result = _run("generate", *args, "--batch", 2, "--steps", 2, "--out", out)
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert not out.exists() and not list(tmp_path.iterdir())


def test_a_repairable_mesh_is_repaired(mesh_dir, tmp_path):
    out = tmp_path / "nicked.parquet"
    result = _run("generate", "--object", mesh_dir / "nicked.stl", "--batch", 2, "--steps", 2,
                  "--out", out)
    assert result.exit_code == 0, result.output
    assert out.exists()


def test_hands_and_os_list_json():
    hands = json.loads(_run("hands", "--json").stdout)["hands"]
    allegro = next(h for h in hands if h["name"] == "allegro")
    assert allegro["joints"] == 16 and allegro["opposition_spaces"] == 7
    spaces = json.loads(_run("os", "list", "--hand", "allegro", "--json").stdout)
    names = [s["name"] for s in spaces["opposition_spaces"]]
    assert names == ["middle-ring", "index-middle", "thumb-index", "ring-palm", "middle-palm",
                     "index-palm", "thumb-palm"]
    ring_palm = spaces["opposition_spaces"][3]
    assert ring_palm["joints"] == ["rfj0", "rfj1", "rfj2", "rfj3"]


def test_energies_and_plugins_json():
    terms = {t["name"]: t for t in json.loads(_run("energies", "--json").stdout)["energy_terms"]}
    assert {n: t["default_weight"] for n, t in terms.items()} == {
        "fc": 50.0, "dis": 50.0, "hop": 5.0, "hsp": 5.0, "joint": 1.0, "oop": 5.0, "ohp": 150.0}
    assert "e^(2" in terms["hop"]["schedule"]
    plugins = {p["name"]: p for p in json.loads(_run("plugins", "--json").stdout)["plugins"]}
    assert plugins["allegro"]["status"] == "ok"
    assert "hand:allegro" in plugins["allegro"]["provides"]


def test_unknown_hand_in_os_list_is_one_line():
    result = _run("os", "list", "--hand", "robotiq")
    assert result.exit_code == 2
    assert "unknown hand 'robotiq'" in result.stderr


def test_the_best_preset_is_the_default_and_the_paper_preset_runs_algorithm_1(mesh_dir,
                                                                             tmp_path):
    metas = {}
    for preset in ("best", "paper"):
        out = tmp_path / f"{preset}.parquet"
        args = ["generate", "--object", mesh_dir / "a.obj", "--batch", 2, "--steps", 5,
                "--out", out]
        result = runner.invoke(app, [str(a) for a in args] + (
            ["--preset", preset] if preset == "paper" else []))
        assert result.exit_code == 0, result.output
        metas[preset] = json.loads(pq.read_schema(out).metadata[b"seqgrasp"])
    assert (metas["best"]["preset"], metas["best"]["candidates"],
            metas["best"]["refine"]["steps"]) == ("best", 3, 200)
    assert (metas["paper"]["preset"], metas["paper"]["candidates"],
            metas["paper"]["refine"]["steps"]) == ("paper", 1, 0)
    assert metas["best"]["settings"] == {"refine_allowance_mm": 1.0, "candidate_depth_mm": 4.0,
                                         "surface_points": None, "threads": None}


def test_a_preset_yields_to_explicit_options_and_bad_settings_are_one_line(mesh_dir,
                                                                          tmp_path):
    out = tmp_path / "mixed.parquet"
    result = runner.invoke(app, ["generate", "--object", str(mesh_dir / "a.obj"), "--batch", "2",
                                 "--steps", "5", "--refine-steps", "0", "--out", str(out)])
    assert result.exit_code == 0, result.output
    meta = json.loads(pq.read_schema(out).metadata[b"seqgrasp"])
    assert (meta["preset"], meta["candidates"], meta["refine"]["steps"]) == ("best", 3, 0)
    for keys, expected in (({"refine_allowance": 1}, "unknown key 'refine_allowance'"),
                           ({"threads": 0}, "threads = 0 is not valid"),
                           ({"candidate_depth_mm": "'deep'"}, "is not valid")):
        bad = _run("generate", "--object", mesh_dir / "a.obj", "--out", tmp_path / "bad.parquet",
                   "--config", _settings(tmp_path, "bad", **keys))
        assert bad.exit_code == 2 and expected in bad.output, bad.output
        assert "Traceback" not in bad.output and not (tmp_path / "bad.parquet").exists()
    unknown = _run("generate", "--preset", "fastest", "--out", tmp_path / "bad.parquet")
    assert unknown.exit_code == 2 and "choose one of: best, paper" in unknown.output


def test_plugin_options_are_checked_by_the_plugin_that_declares_them(mesh_dir, tmp_path):
    bad = _run("generate", "--object", mesh_dir / "a.obj", "-o", "model=x",
               "--out", tmp_path / "bad.parquet")
    assert bad.exit_code == 2
    assert "hand 'allegro' has no option 'model' — its options: none" in bad.output
    malformed = _run("generate", "-o", "model", "--out", tmp_path / "bad.parquet")
    assert malformed.exit_code == 2 and "is not KEY=VALUE" in malformed.output


def _leaf_commands():
    """``(path, command)`` of every command of the app (Typer ships its own click)."""
    import typer

    from seqgrasp_cli.reference import _commands

    return list(_commands(typer.main.get_command(app), []))


def test_no_command_declares_an_option_name_twice():
    """Two options of one command sharing a name (`validate` had `-o` for --out and
    --option) make the later one win: `validate run.parquet -o x.parquet` failed with
    "--option 'x.parquet' is not KEY=VALUE". `-o` is --option wherever it exists."""
    commands = _leaf_commands()
    assert len(commands) > 10
    clashes, other_o = [], []
    for path, command in commands:
        owners: dict[str, list[str]] = {}
        for param in command.params:
            if param.param_type_name == "option":
                for opt in [*param.opts, *param.secondary_opts]:
                    owners.setdefault(opt, []).append(param.name)
        name = " ".join(path)
        clashes += [f"{name}: {opt} for {', '.join(who)}"
                    for opt, who in owners.items() if len(who) > 1]
        if owners.get("-o", ["option"]) != ["option"]:
            other_o.append(f"{name}: -o for {owners['-o']}")
    assert not clashes, clashes
    assert not other_o, other_o
