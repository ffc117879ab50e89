"""The MANO plugin: the kinematic hand, and the real-surface path on a synthetic model
file in the MANO format (made here; the real model is licence-gated)."""

from __future__ import annotations

import builtins
import json
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
from mano_synthetic import write_synthetic_mano
from typer.testing import CliRunner

from seqgrasp_cli.main import app
from seqgrasp_core.api import CHECKS

runner = CliRunner()


@pytest.fixture(scope="module")
def mano(plugins):
    return plugins.hand("mano")


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_kinematic_mano_conforms(mano, check):
    check(mano)


def test_mano_tree_is_15_joints_of_3_dof(mano):
    from seqgrasp_mano.model import JOINTS16

    assert mano.num_joints == 45
    assert mano.joint_names[:3] == ("index1_x", "index1_y", "index1_z")
    assert {n.rsplit("_", 1)[0] for n in mano.joint_names} == set(JOINTS16[1:])


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mano_model")
    write_synthetic_mano(folder)
    return folder


def test_real_surface_from_a_mano_model_file(model_dir, monkeypatch):
    pytest.importorskip("smplx")
    from seqgrasp_core.hands.model import HandModel
    from seqgrasp_core.plugins.manager import load_plugins

    monkeypatch.setenv("SEQGRASP_MANO_MODEL", str(model_dir))
    loaded = load_plugins()
    assert "mano" not in loaded.failures, loaded.failures
    spec = loaded.hand("mano")
    assert spec.surface_samples is not None and "real MANO surface" in spec.description
    local, links = spec.surface_samples
    assert len(local) == len(links) and set(links) <= {"palm"} | set(
        n.rsplit("_", 1)[0] for n in spec.joint_names)
    hand = HandModel(spec, surface_points=200)
    # Surface points are mesh vertices; at the rest pose they sit back on the mesh.
    import pickle

    data = pickle.loads((model_dir / "MANO_RIGHT.pkl").read_bytes())
    with np.errstate(all="ignore"):
        t = hand.link_transforms(hand.open_pose.new_zeros(1, hand.num_joints))
    placed = hand.surface(t)[0].T.double().numpy() + data["J_regressor"][0] @ data["v_template"]
    dist = np.linalg.norm(placed[:, None] - data["v_template"][None], axis=-1).min(1)
    assert dist.max() < 1e-5
    for group in spec.contact_groups.values():
        assert np.allclose(np.linalg.norm(group.normals, axis=1), 1, atol=1e-6)


def test_generate_with_mano_model_option(model_dir, tmp_path, monkeypatch):
    pytest.importorskip("smplx")
    monkeypatch.delenv("SEQGRASP_MANO_MODEL", raising=False)
    out = tmp_path / "run.parquet"
    result = runner.invoke(app, ["generate", "--hand", "mano", "-o", f"model={model_dir}",
                                 "--first", "1", "--preset", "paper", "--batch", "2",
                                 "--steps", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = pq.read_table(out).to_pylist()
    assert len(rows) == 2 and len(rows[0]["joints"]) == 45
    meta = json.loads(pq.read_schema(out).metadata[b"seqgrasp"])
    assert meta["hand"] == "mano"


def test_missing_smplx_or_model_is_one_clear_line(model_dir, tmp_path, monkeypatch):
    monkeypatch.delenv("SEQGRASP_MANO_MODEL", raising=False)
    real_import = builtins.__import__

    def no_smplx(name, *args, **kwargs):
        if name == "smplx":
            raise ImportError("No module named 'smplx'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "smplx", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_smplx)
    result = runner.invoke(app, ["generate", "--hand", "mano", "-o", f"model={model_dir}",
                                 "--out", str(tmp_path / "r.parquet")])
    assert result.exit_code == 2
    assert 'pip install "seqgrasp[mano]"' in result.output
    assert result.output.strip().splitlines()[-1].startswith("error: ")
    monkeypatch.setattr(builtins, "__import__", real_import)
    result = runner.invoke(app, ["generate", "--hand", "mano", "-o",
                                 f"model={tmp_path / 'nowhere'}",
                                 "--out", str(tmp_path / "r.parquet")])
    assert result.exit_code == 2 and "MANO_RIGHT.pkl" in result.output
