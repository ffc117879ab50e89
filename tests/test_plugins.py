"""The plugin manager and registries."""

from __future__ import annotations

import dataclasses
import json
import types

import pytest

from seqgrasp_core.errors import DuplicateNameError, UnknownNameError
from seqgrasp_core.plugins.hookspecs import hookimpl
from seqgrasp_core.plugins.manager import (
    Plugins,
    _load_order,
    hand_plugin_record,
    load_plugins,
    missing_hand_hint,
)
from seqgrasp_core.plugins.registry import Registry


def _module(name, **hooks):
    mod = types.ModuleType(name)
    for hook, fn in hooks.items():
        setattr(mod, hook, hookimpl(fn))
    return mod


def test_registry_refuses_duplicates_and_names_unknowns():
    reg = Registry("hand")
    item = types.SimpleNamespace(name="x")
    reg.register(item, plugin="one")
    with pytest.raises(DuplicateNameError, match="already registered by plugin 'one'"):
        reg.register(types.SimpleNamespace(name="x"), plugin="two")
    with pytest.raises(UnknownNameError, match="choose one of: x"):
        reg.get("y")


def test_bundled_plugins_load(plugins):
    assert "allegro" in plugins.hands
    assert set(plugins.energy_terms.names()) >= {"fc", "dis", "hop", "hsp", "joint", "oop"}
    assert plugins.failures == {}


def test_a_broken_plugin_is_named_and_the_others_keep_working(allegro_spec):
    def boom(register):
        raise RuntimeError("model file missing")

    bad_mask = dataclasses.replace(
        allegro_spec, name="bad-hand",
        opposition_spaces=(dataclasses.replace(allegro_spec.opposition_spaces[0],
                                               joint_mask=(True,) * 3),))
    loaded = load_plugins(extra_modules=(
        _module("crashing", register_hands=boom),
        _module("wrong_mask", register_hands=lambda register: register(bad_mask)),
    ))
    assert "model file missing" in loaded.failures["crashing"]
    assert "joint mask of length 3" in loaded.failures["wrong_mask"]
    assert "allegro" in loaded.hands and "bad-hand" not in loaded.hands


def test_a_plugin_term_swaps_in_by_name(allegro_spec):
    from seqgrasp_core.bundled.energies.joint_limits import JointLimits

    class Softer(JointLimits):
        name = "joint2"
        default_weight = 0.5

    loaded = load_plugins(extra_modules=(
        _module("softer", register_energy_terms=lambda register: register(Softer())),))
    assert loaded.energy_terms.get("joint2").default_weight == 0.5
    assert loaded.energy_terms.origin("joint2") == "softer"


def test_a_hook_with_a_typo_is_rejected():
    mod = _module("typo", register_hand=lambda register: None)
    loaded = load_plugins(extra_modules=(mod,))
    assert "invalid hook" in loaded.failures["typo"]


def test_plugins_can_be_blocked_by_environment(monkeypatch):
    monkeypatch.setenv("SEQGRASP_BLOCK_PLUGINS", "allegro")
    assert "allegro" not in load_plugins().hands


def _ep(name, dist, module=None):
    return types.SimpleNamespace(
        name=name, value=f"{name}_mod", load=lambda: module,
        dist=None if dist is None else types.SimpleNamespace(name=dist, version="1.2"))


def test_bundled_plugins_load_first_then_third_party_by_name():
    eps = [_ep("zeta", "seqgrasp-zeta"), _ep("allegro", "seqgrasp"), _ep("aaa", "aaa-hands"),
           _ep("energies", "SeqGrasp"), _ep("local", None), _ep("mano", "seqgrasp")]
    assert [ep.name for ep in _load_order(eps)] == ["allegro", "energies", "mano", "aaa",
                                                    "local", "zeta"]


def _clashing_module(name, allegro_spec):
    impostor = dataclasses.replace(allegro_spec, description="an impostor Allegro")
    extra = dataclasses.replace(allegro_spec, name=f"{name}-hand")
    return _module(name, register_hands=lambda register: (register(impostor),
                                                          register(extra)))


def _check_refused_clash(loaded, name, allegro_spec):
    assert loaded.hands.origin("allegro") == "allegro"
    assert loaded.hands.get("allegro").description == allegro_spec.description
    assert loaded.hands.get("allegro").description != "an impostor Allegro"
    assert loaded.hands.origin(f"{name}-hand") == name
    assert {"allegro-can", "allegro-sim"} <= set(loaded.backends.names())
    assert loaded.failures == {}
    assert loaded.refused == [
        f"hand 'allegro' from plugin {name!r} is refused: the bundled plugin 'allegro' "
        f"provides it — rename it in {name!r}"]
    assert loaded.info(name).refused == loaded.refused
    assert loaded.info(name).provides == [f"hand:{name}-hand"]


def test_a_third_party_name_clash_sorting_first_is_refused_alone(monkeypatch, allegro_spec):
    import seqgrasp_core.plugins.manager as plugins_mod

    real = plugins_mod.entry_points
    aaa = _ep("aaa", "seqgrasp-aaa", _clashing_module("aaa", allegro_spec))
    monkeypatch.setattr(plugins_mod, "entry_points", lambda group: [aaa, *real(group=group)])
    loaded = load_plugins()
    _check_refused_clash(loaded, "aaa", allegro_spec)
    assert loaded.info("aaa").distribution == "seqgrasp-aaa"

    from typer.testing import CliRunner

    from seqgrasp_cli.main import app

    rows = {r["name"]: r for r in json.loads(
        CliRunner().invoke(app, ["plugins", "--json"]).stdout)["plugins"]}
    assert rows["aaa"]["refused"] == loaded.refused and rows["allegro"]["refused"] == []


def test_a_clashing_extra_module_is_refused_item_by_item(allegro_spec, capsys):
    from seqgrasp_cli.errors import warn_plugin_failures

    loaded = load_plugins(extra_modules=(_clashing_module("aaa_hands", allegro_spec),))
    _check_refused_clash(loaded, "aaa_hands", allegro_spec)
    warn_plugin_failures(loaded)
    assert capsys.readouterr().err == f"warning: {loaded.refused[0]}\n"


@pytest.mark.parametrize("order", [("alpha", "beta"), ("beta", "alpha")])
def test_two_third_party_plugins_sharing_a_name_both_lose_it_in_any_order(allegro_spec,
                                                                          order):
    def plugin(name):
        shared = dataclasses.replace(allegro_spec, name="shared", description=name)
        own = dataclasses.replace(allegro_spec, name=f"{name}-own")
        return _module(name, register_hands=lambda register: (register(shared),
                                                              register(own)))

    loaded = load_plugins(extra_modules=tuple(plugin(n) for n in order))
    assert "shared" not in loaded.hands
    assert {"alpha-own", "beta-own"} <= set(loaded.hands.names())
    assert sorted(loaded.refused) == [
        f"hand 'shared' from plugin {a!r} is refused: plugin {b!r} registers it too, so "
        "neither is used — rename it in one of them, or block one with "
        "SEQGRASP_BLOCK_PLUGINS" for a, b in (("alpha", "beta"), ("beta", "alpha"))]
    assert loaded.failures == {}


def test_a_plugin_failing_half_way_registers_nothing(allegro_spec):
    from seqgrasp_core.bundled.energies.joint_limits import JointLimits

    class Half(JointLimits):
        name = "half-term"

    def boom(register):
        raise RuntimeError("CAN driver missing")

    twin = dataclasses.replace(allegro_spec, name="twin")
    loaded = load_plugins(extra_modules=(
        _module("half", register_hands=lambda register: register(
            dataclasses.replace(allegro_spec, name="half-hand")),
            register_energy_terms=lambda register: register(Half()),
            register_backends=boom),
        _module("twice", register_hands=lambda register: (
            register(dataclasses.replace(allegro_spec, name="twin-first")),
            register(twin), register(twin))),
    ))
    assert "CAN driver missing" in loaded.failures["half"]
    assert "registered hand 'twin' twice" in loaded.failures["twice"]
    assert not {"half-hand", "twin-first", "twin"} & set(loaded.hands.names())
    assert "half-term" not in loaded.energy_terms
    assert loaded.info("half") is None and loaded.info("twice") is None
    assert "allegro" in loaded.hands and loaded.refused == []


def test_a_run_records_which_plugin_provided_its_hand(plugins):
    from seqgrasp_core import __version__

    assert hand_plugin_record(plugins, "allegro") == {
        "plugin": "allegro", "distribution": "seqgrasp", "version": __version__}


def test_a_missing_hand_names_the_plugin_to_install(plugins):
    record = {"plugin": "foo", "distribution": "seqgrasp-foo", "version": "1.2"}
    line = missing_hand_hint({"hand": "foo", "hand_plugin": record}, plugins, "run.parquet")
    assert line == ("run.parquet is for hand 'foo', which no installed plugin provides — "
                    "install the plugin that provided it (distribution 'seqgrasp-foo' 1.2, "
                    "entry point 'foo'), or see `seqgrasp hands`")
    old = missing_hand_hint({"hand": "foo"}, plugins, "run.parquet")
    assert old.startswith("run.parquet is for hand 'foo', which no installed plugin provides "
                          "— install the plugin that provides hand 'foo' (installed hands: ")
    assert "allegro, mano, shadow" in old and "\n" not in old
    broken = Plugins(failures={"foo": "plugin 'foo' failed to import: ImportError: x"})
    assert "its plugin failed to load: plugin 'foo' failed to import" in missing_hand_hint(
        {"hand": "foo", "hand_plugin": record}, broken)


def test_opening_a_run_for_a_missing_hand_is_one_line(tmp_path):
    import pyarrow as pa

    from seqgrasp_cli.runs import open_run
    from seqgrasp_core.runs.runfile import REQUIRED_COLUMNS, write_run

    path = tmp_path / "run.parquet"
    write_run(path, pa.table({c: [1] for c in REQUIRED_COLUMNS}), {
        "hand": "foo", "hand_plugin": {"plugin": "foo", "distribution": "seqgrasp-foo",
                                       "version": "1.2"}})
    with pytest.raises(UnknownNameError, match=r"run.parquet is for hand 'foo', which no "
                       r"installed plugin provides — .*'seqgrasp-foo' 1.2, entry point 'foo'"):
        open_run(path)
