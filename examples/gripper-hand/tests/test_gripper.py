"""The gripper plugin's own tests: its hand passes seqgrasp's conformance suite and has
the opposition spaces its hand.toml declares.

Run from the plugin's folder (``pytest tests``) or from seqgrasp's repository; the hand
is read from the package's files next to this folder, so the plugin need not be
installed.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from seqgrasp_core.api import CHECKS, HandSpec

HAND_FILE = Path(__file__).resolve().parents[1] / "seqgrasp_gripper" / "hand.toml"


@pytest.fixture(scope="module")
def spec() -> HandSpec:
    return HandSpec.from_files(HAND_FILE)


@pytest.fixture(scope="module", autouse=True)
def _own_cache(tmp_path_factory):
    """Keep the short `generate` of the suite from writing into ~/.cache/seqgrasp."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEQGRASP_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_gripper_conforms(spec, check):
    check(spec)


def test_opposition_spaces_are_the_ones_hand_toml_declares(spec):
    declared = tomllib.loads(HAND_FILE.read_text())["opposition_spaces"]
    assert [o.name for o in spec.opposition_spaces] == ["pinch", "left-palm", "right-palm"]
    assert len(declared) == len(spec.opposition_spaces)
    for entry, space in zip(declared, spec.opposition_spaces):
        assert space.name == entry["name"]
        moved = [j for j, m in zip(spec.joint_names, space.joint_mask) if m]
        assert moved == [j for j in spec.joint_names if j in entry["joints"]]
        assert space.contacts_a == tuple(entry["contacts_a"])
        assert space.contacts_b == tuple(entry["contacts_b"])
