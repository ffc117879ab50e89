"""The plugin manager and registries."""

from __future__ import annotations

import dataclasses
import types

import pytest

from seqgrasp_core.errors import DuplicateNameError, UnknownNameError
from seqgrasp_core.hookspecs import hookimpl
from seqgrasp_core.plugins import load_plugins
from seqgrasp_core.registry import Registry


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
    from seqgrasp_core.energies.joint_limits import JointLimits

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
