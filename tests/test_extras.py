"""Optional dependencies are extras, imported softly: without python-can (``seqgrasp[can]``)
or smplx (``seqgrasp[mano]``) the plugins load and everything else works, and the
feature that needs the package stops with one line naming its pip command.

A missing package is simulated without uninstalling it: ``sys.modules[name] = None``
makes ``import name`` raise ImportError (in this process through monkeypatch, in a
subprocess by the same assignment before anything else is imported).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from seqgrasp_cli.main import app
from seqgrasp_core.api import PluginError, SeqGraspError

INSTALL_CAN = 'pip install "seqgrasp[can]"'
INSTALL_MANO = 'pip install "seqgrasp[mano]"'
PLUGIN_PACKAGES = ("seqgrasp_allegro", "seqgrasp_mano")
# Settings that change which plugins load or how (another test may leave them set).
PLUGIN_SETTINGS = ("SEQGRASP_PLUGINS", "SEQGRASP_MANO_MODEL")


def _without(monkeypatch, *packages: str) -> None:
    """Make ``import <package>`` fail, and let the plugins be imported afresh (so a
    module-level import of the package would show); all plugins, default settings."""
    for var in PLUGIN_SETTINGS:
        monkeypatch.delenv(var, raising=False)
    for name in list(sys.modules):
        if name in packages or name.startswith(tuple(p + "." for p in packages)):
            monkeypatch.delitem(sys.modules, name)
        elif name.split(".")[0] in PLUGIN_PACKAGES:
            monkeypatch.delitem(sys.modules, name)
    for name in packages:
        monkeypatch.setitem(sys.modules, name, None)


def _cli_without(package: str, *args, env: dict | None = None) -> subprocess.CompletedProcess:
    """``seqgrasp ARGS`` in a fresh interpreter in which ``package`` cannot be imported."""
    code = (f"import sys; sys.modules[{package!r}] = None; "
            "from seqgrasp_cli.main import app; app(prog_name='seqgrasp')")
    base = {k: v for k, v in os.environ.items() if k not in PLUGIN_SETTINGS}
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          text=True, timeout=300, env={**base, **(env or {})})


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def run_file(mesh_dir, tmp_path_factory):
    """A one-object run, generated without python-can and without smplx."""
    out = tmp_path_factory.mktemp("extras") / "run.parquet"
    with pytest.MonkeyPatch.context() as mp:
        _without(mp, "can", "smplx")
        result = CliRunner().invoke(app, [
            "generate", "--object", str(mesh_dir / "a.obj"), "--batch", "1", "--steps", "3",
            "--candidates", "1", "--refine-steps", "0", "--seed", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


# ----------------------------------------------------------------------------- python-can


def test_plugins_load_and_list_allegro_can_without_python_can(monkeypatch):
    from seqgrasp_core.plugins.manager import load_plugins

    _without(monkeypatch, "can")
    plugins = load_plugins()
    assert plugins.failures == {} and plugins.refused == []
    assert {"allegro-can", "allegro-sim"} <= set(plugins.backends.names())
    assert "allegro" in plugins.hands.names()


def test_opening_allegro_can_without_python_can_is_one_line_naming_the_extra(monkeypatch):
    from seqgrasp_core.plugins.manager import load_plugins

    _without(monkeypatch, "can")
    backend = load_plugins().backends.get("allegro-can")
    with pytest.raises(SeqGraspError) as info:
        backend.open(interface="virtual", channel="extras-test")
    assert isinstance(info.value, PluginError)
    line = info.value.one_line()
    assert INSTALL_CAN in line and "python-can" in line and "\n" not in line
    backend.close()  # nothing was opened: a no-op

    from seqgrasp_allegro.sim_firmware import SimulatedAllegroFirmware  # the test helper too

    with pytest.raises(PluginError, match=r'seqgrasp\[can\]'):
        SimulatedAllegroFirmware("extras-test").start()


def test_replay_on_allegro_can_without_python_can_is_one_line_exit_2(run_file):
    result = _cli_without("can", "replay", run_file, "--sequence", 0, "--backend",
                          "allegro-can")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr  # one line, not even a blank one around it
    assert lines[0].startswith("error: ") and INSTALL_CAN in lines[0]


def test_plugins_listing_and_allegro_sim_work_without_python_can(run_file, monkeypatch):
    listing = _cli_without("can", "plugins")
    assert listing.returncode == 0, listing.stderr
    assert "allegro-can" in listing.stdout and "allegro-sim" in listing.stdout
    assert _lines(listing.stderr) == []

    _without(monkeypatch, "can")
    result = CliRunner().invoke(app, ["replay", str(run_file), "--sequence", "0",
                                      "--backend", "allegro-sim", "--yes"])
    assert result.exit_code == 0, result.output
    assert "replayed sequence 0" in result.output


# ----------------------------------------------------------------------------- smplx


def test_plugins_and_the_kinematic_mano_hand_load_without_smplx(monkeypatch):
    from seqgrasp_core.plugins.manager import load_plugins

    _without(monkeypatch, "smplx")
    plugins = load_plugins()
    assert plugins.failures == {}
    assert {"allegro", "mano"} <= set(plugins.hands.names())


def test_real_mano_surface_without_smplx_is_one_line_naming_the_extra(monkeypatch, tmp_path):
    _without(monkeypatch, "smplx")
    from seqgrasp_mano.model import load_mano_surface

    with pytest.raises(SeqGraspError) as info:
        load_mano_surface(tmp_path)
    line = info.value.one_line()
    assert INSTALL_MANO in line and "smplx" in line and "\n" not in line

    # Asked for through the plugin's setting, the mano plugin fails alone, in one line.
    from seqgrasp_core.plugins.manager import load_plugins

    monkeypatch.setenv("SEQGRASP_MANO_MODEL", str(tmp_path))
    plugins = load_plugins()
    assert set(plugins.failures) == {"mano"}
    assert INSTALL_MANO in plugins.failures["mano"] and "\n" not in plugins.failures["mano"]
    assert "allegro" in plugins.hands.names()


def test_generate_on_the_real_mano_surface_without_smplx_fails_in_one_line(tmp_path, mesh_dir):
    result = _cli_without("smplx", "generate", "--hand", "mano", "--object", mesh_dir / "a.obj",
                          "--batch", 1, "--steps", 3, "--out", tmp_path / "r.parquet",
                          env={"SEQGRASP_MANO_MODEL": str(tmp_path)})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and INSTALL_MANO in result.stderr
    assert len([line for line in _lines(result.stderr) if line.startswith("error:")]) == 1
    assert not (tmp_path / "r.parquet").exists()


# ----------------------------------------------------------------------------- imports


def test_the_api_and_all_plugins_import_neither_python_can_nor_smplx():
    code = ("import sys; import seqgrasp_core.api; "
            "from seqgrasp_core.plugins.manager import load_plugins; p = load_plugins(); "
            "assert not p.failures, p.failures; "
            "print('can' in sys.modules, 'smplx' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k not in PLUGIN_SETTINGS}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False False"
