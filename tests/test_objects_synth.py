"""`seqgrasp objects synth` and `seqgrasp objects check`: reproducible, watertight,
paper-sized objects, and a folder check that names every rejected mesh."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from seqgrasp_cli.main import app
from seqgrasp_core.objects.mesh import PAPER_SIZE_RANGE, file_sha256, read_mesh

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def synth_set(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synth") / "set"
    result = _run("objects", "synth", "--count", 6, "--seed", 7, "--out", folder)
    assert result.exit_code == 0, result.output
    return folder


def _files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_synth_writes_watertight_paper_sized_objects(synth_set):
    catalog = json.loads((synth_set / "objects.json").read_text())
    meshes = sorted(synth_set.glob("*.stl"))
    assert [p.name for p in meshes] == [f"obj_{i:03d}.stl" for i in range(6)]
    assert [o["file"] for o in catalog["objects"]] == [p.name for p in meshes]
    lo, hi = PAPER_SIZE_RANGE
    for path, entry in zip(meshes, catalog["objects"]):
        mesh = read_mesh(path)
        assert mesh.is_watertight and mesh.volume > 0
        assert lo - 1e-6 <= max(mesh.extents) <= hi + 1e-6
        assert len(mesh.faces) <= 4000
        assert entry["sha256"] == file_sha256(path)
        assert entry["name"] == path.stem and entry["params"] and entry["scale"] > 0
    assert len({o["family"] for o in catalog["objects"]}) >= 3


def _shape(mesh) -> np.ndarray:
    """Pose- and scale-free shape numbers: the two smaller principal moments of inertia
    over the largest (elongation, flatness) and the volume over the convex hull's
    (1 for a convex solid, less for a torus, a cup or a bent tube)."""
    moments = np.sort(mesh.principal_inertia_components)
    return np.array([moments[0] / moments[2], moments[1] / moments[2],
                     mesh.volume / mesh.convex_hull.volume])


def test_synth_objects_differ_in_shape(synth_set):
    shapes = [_shape(read_mesh(p)) for p in sorted(synth_set.glob("*.stl"))]
    closest = min(np.abs(a - b).max() for i, a in enumerate(shapes) for b in shapes[i + 1:])
    assert closest > 0.05  # no two objects alike in proportions and convexity
    convexity = [s[2] for s in shapes]
    assert max(convexity) > 0.95 and min(convexity) < 0.6  # convex ones and hollow ones
    elongation = [s[0] for s in shapes]
    assert max(elongation) - min(elongation) > 0.3  # long thin ones and compact ones


def test_the_same_seed_writes_the_same_bytes(synth_set, tmp_path):
    assert _run("objects", "synth", "-n", 6, "--seed", 7, "--out", tmp_path / "a").exit_code == 0
    assert _files(tmp_path / "a") == _files(synth_set)
    assert _run("objects", "synth", "-n", 6, "--seed", 8, "--out", tmp_path / "b").exit_code == 0
    other = _files(tmp_path / "b")
    assert all(other[name] != data for name, data in _files(synth_set).items())


def test_check_names_the_rejected_meshes_and_exits_2(synth_set, mesh_dir, tmp_path):
    folder = tmp_path / "mixed"
    shutil.copytree(synth_set, folder)
    for name in ("notes.obj", "tube.stl", "nicked.stl"):
        shutil.copy(mesh_dir / name, folder / name)
    result = _run("objects", "check", folder)
    assert result.exit_code == 2
    assert "2 of 9 meshes rejected: notes.obj, tube.stl" in result.output
    for name in ("notes.obj", "tube.stl", "nicked.stl", "obj_000.stl", "obj_005.stl"):
        assert name in result.output

    rows = {r["name"]: r for r in json.loads(
        _run("objects", "check", folder, "--json").stdout)}
    assert rows["notes.obj"]["status"] == rows["tube.stl"]["status"] == "rejected"
    assert "not a mesh" in rows["notes.obj"]["reason"]
    assert "not watertight" in rows["tube.stl"]["reason"]
    assert rows["nicked.stl"]["status"] == "repaired" and rows["nicked.stl"]["reason"]
    assert all(rows[f"obj_{i:03d}.stl"]["status"] == "ok" for i in range(6))


def test_check_passes_good_meshes_and_caches_them(mesh_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SEQGRASP_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "good"
    folder.mkdir()
    shutil.copy(mesh_dir / "a.obj", folder / "a.obj")
    shutil.copy(mesh_dir / "huge.obj", folder / "huge.obj")
    result = _run("objects", "check", folder, "--cache", "--json")
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["huge.obj"]["status"] == "ok"
    assert np.isclose(rows["huge.obj"]["scale"], 0.2)
    grids = sorted(p.name for p in (tmp_path / "cache" / "sdf").iterdir())
    assert len(grids) == 3  # a.obj at scale 1; huge.obj as-is and scaled


def test_check_refuses_a_folder_without_meshes(tmp_path):
    result = _run("objects", "check", tmp_path)
    assert result.exit_code == 2 and "no mesh files" in result.output
