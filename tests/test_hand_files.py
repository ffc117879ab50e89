"""Strict hand files: each mistake in a plugin's hand.toml, URDF or contact-rule file is
one line when the plugin loads, and the CLI lists the plugin as failed with it."""

from __future__ import annotations

import json
import re
import shutil
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seqgrasp_cli.main import app
from seqgrasp_core.errors import HandSpecError
from seqgrasp_core.hands.contacts import load_rules
from seqgrasp_core.hands.primitives import read_collision_primitives
from seqgrasp_core.hands.spec import HandSpec
from seqgrasp_core.plugins.hookspecs import hookimpl
from seqgrasp_core.plugins.manager import load_plugins

GRIPPER = Path(__file__).resolve().parents[1] / "examples" / "gripper-hand" / "seqgrasp_gripper"
MJCF = '<mujoco model="gripper">\n  <worldbody><body name="base"/></worldbody>\n</mujoco>\n'

runner = CliRunner()


@pytest.fixture
def hand(tmp_path) -> Path:
    """A copy of the example gripper's files; returns its hand.toml."""
    for name in ("hand.toml", "contacts.json", "gripper.urdf", "contact_rules.toml"):
        shutil.copy(GRIPPER / name, tmp_path / name)
    return tmp_path / "hand.toml"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))


def load_error(hand_toml: Path) -> str:
    with pytest.raises(HandSpecError) as info:
        HandSpec.from_files(hand_toml)
    line = info.value.one_line()
    assert "\n" not in line
    return line


def assert_user_error(result) -> None:
    """The CLI stopped on a user error: exit 2, no exception other than the exit."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output


def test_the_unedited_copy_loads(hand):
    spec = HandSpec.from_files(hand)
    assert spec.name == "gripper" and spec.palm_normal == (0.0, 0.0, 1.0)


# -- unknown keys in hand.toml ------------------------------------------------------

@pytest.mark.parametrize("old, new, expected", [
    ('max_object_size = 0.08', 'max_object_sise = 0.08',
     ("hand.toml: unknown key 'max_object_sise' at the top level — known keys: name, "
      "description, urdf, contacts, max_object_size, joints, open_pose, palm, surface, "
      "self_collision, opposition_spaces (did you mean 'max_object_size'?)")),
    ('normal = [0.0, 0.0, 1.0]', 'normal = [0.0, 0.0, 1.0]\nnormals = [0.0, 0.0, 1.0]',
     "hand.toml: unknown key 'normals' in [palm] — known keys: center, normal"),
    ('points = 300', 'point = 300',
     "hand.toml: unknown key 'point' in [surface] — known keys: points"),
    ('[[opposition_spaces]]\nname = "pinch"',
     '[self_collision]\nexclude = []\nexlude = []\n\n[[opposition_spaces]]\nname = "pinch"',
     "hand.toml: unknown key 'exlude' in [self_collision] — known keys: exclude"),
    ('contacts_b = ["palm"]\n\n[[opposition_spaces]]\nname = "right-palm"',
     'contacts_b = ["palm"]\n\n[[opposition_spaces]]\nname = "right-palm"\ncontact_b = ["x"]',
     ("hand.toml: unknown key 'contact_b' in [[opposition_spaces]] 3 — known keys: name, "
      "joints, contacts_a, contacts_b")),
    ('right_j2 = 0.0', 'right_j2 = 0.0\nright_j3 = 0.0',
     ("hand.toml: unknown key 'right_j3' in [open_pose] — known keys (the joints): "
      "left_j1, left_j2, right_j1, right_j2")),
], ids=["top", "palm", "surface", "self_collision", "opposition_space", "open_pose"])
def test_an_unknown_key_is_named_with_its_section_and_the_known_keys(hand, old, new, expected):
    edit(hand, old, new)
    assert load_error(hand).startswith(expected)


def test_a_misspelt_required_key_is_named_as_unknown(hand):
    edit(hand, 'name = "gripper"', 'nmae = "gripper"')
    assert load_error(hand).startswith("hand.toml: unknown key 'nmae' at the top level")


def test_a_missing_required_key_still_says_so(hand):
    edit(hand, 'normal = [0.0, 0.0, 1.0]', '')
    assert re.search(r"hand file .*hand\.toml lacks the key 'normal'", load_error(hand))


def test_a_value_of_the_wrong_type_is_one_line(hand):
    edit(hand, 'points = 300', 'points = "many"')
    assert load_error(hand).startswith("hand.toml: a value has the wrong type")


# -- contact-rule files ---------------------------------------------------------------

def test_an_unknown_key_in_a_rule_group_is_named(hand):
    rules = hand.parent / "contact_rules.toml"
    edit(rules, 'direction = "+z"\nmax_angle = 10', 'direction = "+z"\nmax_angel = 10')
    with pytest.raises(HandSpecError) as info:
        load_rules(rules)
    assert info.value.one_line() == (
        "contact_rules.toml: unknown key 'max_angel' in [[group]] 3 — known keys: name, "
        "links, direction, max_angle, frame, min, max (did you mean 'max_angle'?)")


def test_an_unknown_top_level_key_in_a_rule_file_is_named(hand):
    rules = hand.parent / "contact_rules.toml"
    edit(rules, 'spacing_mm = 5', 'spacing = 5')
    with pytest.raises(HandSpecError, match=r"^contact_rules\.toml: unknown key 'spacing' at "
                                            r"the top level — known keys: spacing_mm, group"):
        load_rules(rules)


def test_a_rule_frame_other_than_link_or_root_is_refused(hand):
    rules = hand.parent / "contact_rules.toml"
    edit(rules, 'direction = "+y"', 'direction = "+y"\nframe = "world"')
    with pytest.raises(HandSpecError) as info:
        load_rules(rules)
    assert info.value.one_line() == ("contact_rules.toml: [[group]] 2 has frame = 'world' — "
                                     'use frame = "link" (the default) or frame = "root"')


def test_the_bundled_rule_files_load():
    root = GRIPPER.parents[2]
    for path in (GRIPPER / "contact_rules.toml", root / "plugins/shadow/contact_rules.toml",
                 root / "plugins/mano/contact_rules.toml"):
        assert load_rules(path)[0]


# -- against the URDF ---------------------------------------------------------------

def test_an_excluded_link_the_urdf_lacks_is_named_at_load(hand):
    edit(hand, '[[opposition_spaces]]\nname = "pinch"',
         '[self_collision]\nexclude = [["base", "left_tip"]]\n\n'
         '[[opposition_spaces]]\nname = "pinch"')
    assert load_error(hand) == (
        "hand.toml: [self_collision] exclude names link 'left_tip', which gripper.urdf does "
        "not have — use links of the URDF: base, left_proximal, left_distal, right_proximal, "
        "right_distal")


def test_an_open_pose_outside_the_limits_names_joint_value_and_limits(hand):
    edit(hand, 'left_j1 = 0.0', 'left_j1 = 1.25')
    assert load_error(hand) == (
        "hand.toml: open_pose left_j1 = 1.25 is outside the joint's limits [-0.3, 1.2] in "
        "gripper.urdf — choose a value within the limits")


def test_an_open_pose_on_a_limit_is_within_it(hand):
    edit(hand, 'left_j2 = 0.0', 'left_j2 = 1.4000000001')  # 1e-10 past: within the slack
    assert HandSpec.from_files(hand).open_pose[1] == pytest.approx(1.4)


def test_a_joint_the_urdf_lacks_is_named(hand):
    edit(hand, '"right_j2"]\n\n[open_pose]', '"right_j2", "right_j3"]\n\n[open_pose]')
    edit(hand, 'right_j2 = 0.0', 'right_j2 = 0.0\nright_j3 = 0.0')
    assert load_error(hand) == (
        "hand.toml: joint 'right_j3' in `joints` is not a joint of gripper.urdf — its movable "
        "joints: left_j1, left_j2, right_j1, right_j2")


def test_a_fixed_joint_in_joints_is_named(hand):
    edit(hand.parent / "gripper.urdf", '<joint name="right_j2" type="revolute">',
         '<joint name="right_j2" type="fixed">')
    assert load_error(hand) == ("hand.toml: joint 'right_j2' in `joints` is a fixed joint of "
                                "gripper.urdf — list only movable joints")


def test_a_movable_urdf_joint_missing_from_joints_is_named(hand):
    text = hand.read_text()
    assert text.count(', "right_j2"]') == 3  # joints, pinch, right-palm
    hand.write_text(text.replace(', "right_j2"]', ']').replace("right_j2 = 0.0\n", ""))
    assert load_error(hand) == ("hand.toml: `joints` lacks gripper.urdf's movable joint "
                                "'right_j2' — list every movable joint of the URDF once")


def test_a_hand_built_in_code_is_checked_when_its_plugin_registers(hand):
    import dataclasses

    spec = HandSpec.from_files(hand)
    ghost = dataclasses.replace(spec, name="ghost", self_collision_exclude=(("base", "tip"),))
    tilted = dataclasses.replace(spec, name="tilted", palm_normal=(0.0, 0.0, 2.0))
    loaded = load_plugins(extra_modules=tuple(
        _module(s.name, s) for s in (ghost, tilted)))
    assert loaded.failures["ghost"] == (
        "plugin 'ghost': hand 'ghost': self_collision_exclude names link 'tip', which the URDF "
        "does not have — use links of the URDF: base, left_distal, left_proximal, "
        "right_distal, right_proximal")
    assert loaded.failures["tilted"] == (
        "plugin 'tilted': hand 'tilted': palm_normal (0.0, 0.0, 2.0) is not a unit vector — "
        "give a finite vector of length 1")


def _module(name: str, spec: HandSpec) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.register_hands = hookimpl(lambda register: register(spec))
    return mod


@pytest.mark.parametrize("normal, expected", [
    ("[0.0, 0.0, 2.0]", ("hand.toml: [palm] normal = [0.0, 0.0, 2.0] has length 2, not 1 — "
                         "give a unit vector, e.g. [0.0, 0.0, 1.0]")),
    ("[0.0, nan, 1.0]", "hand.toml: [palm] normal = [0.0, nan, 1.0] is not finite"),
    ("[0.0, 1.0]", "hand.toml: [palm] normal = [0.0, 1.0] is not three numbers"),
], ids=["not-unit", "nan", "two-numbers"])
def test_a_palm_normal_must_be_a_finite_unit_vector(hand, normal, expected):
    edit(hand, "normal = [0.0, 0.0, 1.0]", f"normal = {normal}")
    assert load_error(hand).startswith(expected)


def test_a_nearly_unit_palm_normal_is_normalized(hand):
    edit(hand, "normal = [0.0, 0.0, 1.0]", "normal = [0.0, 0.0, 1.0005]")
    assert HandSpec.from_files(hand).palm_normal == (0.0, 0.0, 1.0)


def test_a_non_finite_palm_centre_is_refused(hand):
    edit(hand, "center = [0.0, 0.0, 0.0]", "center = [0.0, inf, 0.0]")
    assert load_error(hand).startswith("hand.toml: [palm] center = [0.0, inf, 0.0] is not finite")


def test_an_mjcf_named_as_the_urdf_is_refused_with_the_import_command(hand):
    (hand.parent / "gripper.xml").write_text(MJCF)
    edit(hand, 'urdf = "gripper.urdf"', 'urdf = "gripper.xml"')
    line = load_error(hand)
    assert line.startswith("hand.toml: urdf = 'gripper.xml' is an MJCF (MuJoCo) model, not a "
                           "URDF — convert it with `seqgrasp hand import ")
    assert line.endswith(f"{hand.parent / 'gripper.xml'} --out DIR`")


def test_an_xml_that_is_not_a_robot_is_refused_as_mjcf(tmp_path):
    path = tmp_path / "scene.xml"
    path.write_text("<scene/>\n")
    with pytest.raises(HandSpecError, match=r"scene\.xml is an MJCF \(MuJoCo\) model, not a URDF"):
        read_collision_primitives(path)


def test_hand_contacts_on_an_mjcf_is_one_line_naming_the_import_command(hand, tmp_path):
    mjcf = tmp_path / "gripper.xml"
    mjcf.write_text(MJCF)
    result = runner.invoke(app, ["hand", "contacts", str(mjcf), "--rules",
                                 str(hand.parent / "contact_rules.toml"),
                                 "--out", str(tmp_path / "c.json")])
    assert_user_error(result)
    assert result.output.strip() == (
        f"error: {mjcf} is an MJCF (MuJoCo) model, not a URDF — convert it with "
        f"`seqgrasp hand import {mjcf} --out DIR`")
    assert not (tmp_path / "c.json").exists()


# -- through the plugin manager and the CLI -------------------------------------------

def _gripper_plugin(hand_toml: Path) -> types.ModuleType:
    """The example plugin's module, reading its hand from ``hand_toml``."""
    mod = types.ModuleType("seqgrasp_gripper_copy")
    mod.register_hands = hookimpl(lambda register: register(HandSpec.from_files(hand_toml)))
    return mod


class _EntryPoint:
    """An installed plugin's entry point, without installing it."""

    def __init__(self, name: str, module: types.ModuleType) -> None:
        self.name, self.value, self.dist, self._module = name, module.__name__, None, module

    def load(self):
        return self._module


@pytest.fixture
def broken_gripper(hand, monkeypatch):
    """Installs (as an entry point) a gripper plugin whose hand.toml has a typo."""
    from seqgrasp_core.plugins import manager

    edit(hand, "points = 300", "point = 300")
    real = manager.entry_points
    ep = _EntryPoint("gripper", _gripper_plugin(hand))
    monkeypatch.setattr(manager, "entry_points", lambda group: [*real(group=group), ep])
    return hand


REASON = ("plugin 'gripper': hand.toml: unknown key 'point' in [surface] — known keys: "
          "points (did you mean 'points'?)")


def test_the_plugin_manager_records_the_bad_file_as_the_plugins_failure(hand):
    edit(hand, "points = 300", "point = 300")
    loaded = load_plugins(extra_modules=(_gripper_plugin(hand),))
    assert loaded.failures == {"seqgrasp_gripper_copy": REASON.replace(
        "plugin 'gripper'", "plugin 'seqgrasp_gripper_copy'")}
    assert "gripper" not in loaded.hands and "allegro" in loaded.hands


def test_seqgrasp_hands_and_plugins_list_the_broken_plugin_as_failed(broken_gripper):
    hands = runner.invoke(app, ["hands", "--json"])
    assert hands.exit_code == 0, hands.output
    assert "gripper" not in {h["name"] for h in json.loads(hands.stdout)["hands"]}
    assert f"warning: {REASON}" in hands.stderr.splitlines()

    plugins = runner.invoke(app, ["plugins", "--json"])
    assert plugins.exit_code == 0, plugins.output
    rows = {p["name"]: p for p in json.loads(plugins.stdout)["plugins"]}
    assert rows["gripper"]["status"] == "failed" and rows["gripper"]["provides"] == [REASON]
    assert rows["allegro"]["status"] == "ok"
    table = runner.invoke(app, ["plugins"], env={"COLUMNS": "400"})
    assert "unknown key 'point' in [surface]" in table.stdout  # not eaten as rich markup


def test_generate_with_the_broken_plugins_hand_is_one_error_line(broken_gripper, tmp_path):
    result = runner.invoke(app, ["generate", "--hand", "gripper", "--first", "1", "--batch", "2",
                                 "--steps", "1", "--out", str(tmp_path / "run.parquet")])
    assert_user_error(result)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(
        "error: hand 'gripper' is unavailable, plugin 'gripper': hand.toml: unknown key")
    assert f"warning: {REASON}" in result.stderr.splitlines()
    assert not (tmp_path / "run.parquet").exists()
