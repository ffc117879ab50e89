"""The example plugin of docs/writing-a-hand-plugin.md: installed with pip, found through
its entry point with no change to the core, conformant, and usable by `generate`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "gripper-hand"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    src = tmp_path_factory.mktemp("src") / "gripper-hand"
    shutil.copytree(EXAMPLE, src)  # build files land in the copy, not in the repository
    pip = [sys.executable, "-m", "pip", "-q"]
    subprocess.run(pip + ["install", "--no-deps", "--no-build-isolation", str(src)],
                   check=True, capture_output=True, timeout=120)
    try:
        yield src
    finally:
        subprocess.run(pip + ["uninstall", "-y", "seqgrasp-gripper"], capture_output=True,
                       timeout=120)


def _run(*args, **kwargs):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120,
                          **kwargs)


@pytest.mark.slow
def test_the_installed_example_is_found_and_conforms(installed, tmp_path):
    listed = _run(BIN / "seqgrasp", "hands", "--json")
    assert listed.returncode == 0, listed.stderr
    hands = {h["name"]: h for h in json.loads(listed.stdout)["hands"]}
    assert hands["gripper"]["joints"] == 4 and hands["gripper"]["plugin"] == "gripper"
    check = _run(sys.executable, "-c",
                 "from seqgrasp_core.plugins.manager import load_plugins\n"
                 "from seqgrasp_core.api import check_hand\n"
                 "check_hand(load_plugins().hand('gripper'))\nprint('conforms')")
    assert check.returncode == 0 and "conforms" in check.stdout, check.stderr[-2000:]
    out = tmp_path / "run.parquet"
    gen = _run(BIN / "seqgrasp", "generate", "--hand", "gripper", "--preset", "paper",
               "--first", "2", "--batch", 2, "--steps", 10, "--out", out)
    assert gen.returncode == 0, gen.stderr[-2000:]
    import pyarrow.parquet as pq

    rows = pq.read_table(out).to_pylist()
    assert rows and all(len(r["joints"]) == 4 for r in rows)
    assert {r["os_name"] for r in rows} <= {"pinch", "left-palm", "right-palm"}
