"""The import contracts in pyproject.toml hold, and they catch a module that breaks them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed")


def _lint(*args: str, cwd: Path = ROOT, env_path: Path | None = None):
    env = None
    if env_path is not None:
        import os

        env = {**os.environ, "PYTHONPATH": str(env_path)}
    return subprocess.run([str(LINT), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_project_keeps_its_contracts():
    result = _lint()
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


def test_the_layers_contract_catches_a_lower_layer_importing_a_higher_one(tmp_path):
    """A copy of the core with one module added where it does not belong."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in contracts["contracts"] if c["type"] == "layers")
    config = tmp_path / "contracts.toml"
    quoted = ", ".join(f'"{layer}"' for layer in layers["layers"])
    config.write_text('[tool.importlinter]\nroot_packages = ["seqgrasp_core"]\n'
                      "exclude_type_checking_imports = true\n\n"
                      f'[[tool.importlinter.contracts]]\nname = "layers"\ntype = "layers"\n'
                      f"layers = [{quoted}]\n")
    shutil.copytree(ROOT / "seqgrasp_core", tmp_path / "seqgrasp_core",
                    ignore=shutil.ignore_patterns("__pycache__", "data"))
    kept = _lint("--config", str(config), cwd=tmp_path, env_path=tmp_path)
    assert kept.returncode == 0, kept.stdout[-3000:]

    probe = tmp_path / "seqgrasp_core" / "geometry" / "probe.py"
    probe.write_text("from seqgrasp_core.runs import generate  # geometry reaching up\n")
    broken = _lint("--config", str(config), cwd=tmp_path, env_path=tmp_path)
    assert broken.returncode != 0
    assert "seqgrasp_core.geometry is not allowed to import seqgrasp_core.runs" in \
        " ".join(broken.stdout.split())


def test_every_core_package_is_installed():
    """A non-editable install carries only the packages pyproject.toml lists."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())
                 ["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts)
               for p in (ROOT / "seqgrasp_core").rglob("__init__.py")}
    assert on_disk - listed == set()
