"""The Shadow Hand plugin: conformance, FK against the source MJCF, its listing."""

from __future__ import annotations

import json

from pathlib import Path

import pytest
from typer.testing import CliRunner

from seqgrasp_cli.main import app
from seqgrasp_core.api import CHECKS

# The menagerie MJCF the URDF was written from (Apache-2.0, see tests/data/shadow_hand/):
# the XML alone, without its meshes, which the comparison strips anyway.
MJCF = Path(__file__).resolve().parent / "data/shadow_hand/right_hand.xml"
TOOL = Path(__file__).resolve().parents[1] / "plugins/shadow/tools/verify_urdf.py"


def _verify_tool():
    import importlib.util

    spec = importlib.util.spec_from_file_location("verify_urdf", TOOL)
    verify = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(verify)
    return verify


@pytest.fixture(scope="module")
def shadow(plugins):
    return plugins.hand("shadow")


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_shadow_conforms(shadow, check):
    check(shadow)


def test_urdf_fk_matches_the_mjcf_and_mujoco_loads_it():
    pos, rot, mujoco_urdf = _verify_tool().compare(MJCF, samples=10)
    assert pos < 1e-6 and rot < 1e-6 and mujoco_urdf < 1e-6


def test_urdf_joints_and_limits_are_the_mjcf_hand_joints():
    """Every URDF joint is an MJCF joint with the same range (the wrist is left out)."""
    import mujoco
    import pytorch_kinematics as pk

    verify = _verify_tool()
    ref = mujoco.MjModel.from_xml_string(verify.strip_meshes(MJCF.read_text()))
    chain = pk.build_chain_from_urdf(verify.URDF.read_bytes())
    names = chain.get_joint_parameter_names()
    mjcf_names = [ref.joint(i).name for i in range(ref.njnt)]
    assert names == [n for n in mjcf_names if not n.startswith("rh_WRJ")]
    lo, hi = chain.get_joint_limits()
    for name, low, high in zip(names, lo, hi):
        want = tuple(ref.jnt_range[ref.joint(name).id])
        assert (low, high) == pytest.approx(want, abs=1e-9), name


def test_shadow_kinematics_facts(shadow):
    assert shadow.num_joints == 22
    assert "rh_LFJ5" in shadow.joint_names and "rh_WRJ1" not in shadow.joint_names
    little = shadow.opposition_space("little-palm")
    assert [j for j, m in zip(shadow.joint_names, little.joint_mask) if m] == \
        ["rh_LFJ5", "rh_LFJ4", "rh_LFJ3", "rh_LFJ2", "rh_LFJ1"]


def test_os_list_shadow():
    result = CliRunner().invoke(app, ["os", "list", "--hand", "shadow", "--json"])
    assert result.exit_code == 0, result.output
    names = {o["name"] for o in json.loads(result.stdout)["opposition_spaces"]}
    assert len(names) == 9 and "thumb-little" in names and "little-palm" in names
    assert not names & {"index-middle", "middle-ring", "ring-little"}  # never held
