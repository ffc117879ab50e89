"""The Shadow Hand plugin: conformance, FK against the source MJCF, its listing."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from seqgrasp_cli.main import app
from seqgrasp_core.api import CHECKS

# The reference MJCF lives next to the repository in the development set-up only.
MJCF = Path(__file__).resolve().parents[2] / "shared/reference/hands/shadow_hand/right_hand.xml"


@pytest.fixture(scope="module")
def shadow(plugins):
    return plugins.hand("shadow")


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_shadow_conforms(shadow, check):
    check(shadow)


@pytest.mark.skipif(not MJCF.is_file(), reason="reference MJCF not present")
def test_urdf_fk_matches_the_mjcf_and_mujoco_loads_it():
    import importlib.util

    tool = Path(__file__).resolve().parents[1] / "plugins/shadow/tools/verify_urdf.py"
    spec = importlib.util.spec_from_file_location("verify_urdf", tool)
    verify = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(verify)
    pos, rot, mujoco_urdf = verify.compare(MJCF, samples=10)
    assert pos < 1e-6 and rot < 1e-6 and mujoco_urdf < 1e-6


def test_shadow_kinematics_facts(shadow):
    assert shadow.num_joints == 22
    assert "rh_LFJ5" in shadow.joint_names and "rh_WRJ1" not in shadow.joint_names
    little = shadow.opposition_space("little-palm")
    assert [j for j, m in zip(shadow.joint_names, little.joint_mask) if m] == \
        ["rh_LFJ5", "rh_LFJ4", "rh_LFJ3", "rh_LFJ2", "rh_LFJ1"]


def test_os_list_shadow():
    result = CliRunner().invoke(app, ["os", "list", "--hand", "shadow", "--json"])
    assert result.exit_code == 0, result.output
    assert "thumb-little" in result.stdout and "ring-little" in result.stdout
