"""Hand-plugin contract: the conformance suite on the Allegro, load-time errors, and
`seqgrasp hand contacts`."""

from __future__ import annotations

import dataclasses
import json
import types
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from seqgrasp_cli.main import app
from seqgrasp_core.api import CHECKS
from seqgrasp_core.plugins.hookspecs import hookimpl
from seqgrasp_core.plugins.manager import load_plugins

runner = CliRunner()


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_allegro_conforms(allegro_spec, check):
    check(allegro_spec)


def test_bundled_hands_are_listed_with_joint_and_os_counts():
    result = runner.invoke(app, ["hands", "--json"])
    assert result.exit_code == 0, result.output
    hands = {h["name"]: h for h in json.loads(result.stdout)["hands"]}
    assert (hands["allegro"]["joints"], hands["allegro"]["opposition_spaces"]) == (16, 7)
    assert (hands["shadow"]["joints"], hands["shadow"]["opposition_spaces"]) == (22, 9)
    assert (hands["mano"]["joints"], hands["mano"]["opposition_spaces"]) == (45, 12)


def _module(name, fn):
    mod = types.ModuleType(name)
    mod.register_hands = hookimpl(fn)
    return mod


def test_a_contact_on_a_missing_link_is_caught_at_load(allegro_spec):
    group = allegro_spec.contact_groups["palm"]
    moved = dataclasses.replace(group, links=("palm",) * (len(group) - 1) + ("wrist",))
    bad = dataclasses.replace(allegro_spec, name="ghost-link",
                              contact_groups={**allegro_spec.contact_groups, "palm": moved})
    loaded = load_plugins(extra_modules=(_module("ghost", lambda register: register(bad)),))
    line = loaded.failures["ghost"]
    assert "'ghost'" in line and "link 'wrist'" in line and "\n" not in line
    assert "ghost-link" not in loaded.hands and "allegro" in loaded.hands


def test_a_plugin_that_fails_to_import_is_named_in_one_line(monkeypatch):
    import seqgrasp_core.plugins.manager as plugins_mod

    real = plugins_mod.entry_points

    class Broken:
        name, value, dist = "broken", "seqgrasp_broken_hand", None

        def load(self):
            raise ModuleNotFoundError("No module named 'seqgrasp_broken_hand'")

    monkeypatch.setattr(plugins_mod, "entry_points",
                        lambda group: list(real(group=group)) + [Broken()])
    loaded = load_plugins()
    assert loaded.failures["broken"].startswith("plugin 'broken' (seqgrasp_broken_hand) failed "
                                                "to import: ModuleNotFoundError")
    assert {"allegro", "shadow", "mano"} <= set(loaded.hands.names())
    result = runner.invoke(app, ["os", "list", "--hand", "shadow"])
    assert result.exit_code == 0 and "thumb-index" in result.output
    assert "warning: plugin 'broken'" in result.output


def test_contacts_from_a_rule_file_point_inward(tmp_path, allegro_spec):
    from seqgrasp_core.hands.contacts import link_sdf
    from seqgrasp_core.hands.primitives import read_collision_primitives

    rules = tmp_path / "rules.toml"
    rules.write_text('spacing_mm = 5\n[[group]]\nname = "index_pad"\n'
                     'links = ["ff_proximal", "ff_medial", "ff_distal", "ff_tip"]\n'
                     'direction = "+x"\nmax_angle = 30\n'
                     '[[group]]\nname = "palm"\nlinks = ["palm"]\ndirection = [1, 0, 0]\n'
                     'max_angle = 5\nmin = [-1, -1, -0.08]\nmax = [1, 1, -0.02]\n')
    out = tmp_path / "contacts.json"
    result = runner.invoke(app, ["hand", "contacts", str(allegro_spec.urdf_path), "--rules",
                                 str(rules), "--out", str(out)])
    assert result.exit_code == 0, result.output
    groups = json.loads(out.read_text())["groups"]
    prims, _ = read_collision_primitives(allegro_spec.urdf_path)
    for name, entries in groups.items():
        assert entries, name
        for e in entries:
            own = [p for p in prims if p.link == e["link"]]
            p, n = np.array([e["point"]]), np.array([e["normal"]])
            assert link_sdf(own, p + 0.002 * n)[0] < 0 < link_sdf(own, p - 0.002 * n)[0]
            assert np.dot(-n[0], [1, 0, 0]) > 0.86
            if name == "palm":
                assert -0.08 <= e["point"][2] <= -0.02
    again = tmp_path / "again.json"
    runner.invoke(app, ["hand", "contacts", str(allegro_spec.urdf_path), "--rules", str(rules),
                        "--out", str(again)])
    assert again.read_text() == out.read_text()  # deterministic


def test_contacts_per_finger_branch_with_pad_axis(tmp_path, allegro_spec):
    out = tmp_path / "c.json"
    result = runner.invoke(app, ["hand", "contacts", str(allegro_spec.urdf_path), "--pad-axis",
                                 "+x", "--palm-axis", "+x", "--spacing", "6", "--out", str(out)])
    assert result.exit_code == 0, result.output
    groups = json.loads(out.read_text())["groups"]
    assert set(groups) == {"ff_base_pad", "mf_base_pad", "rf_base_pad", "th_base_pad", "palm"}
    assert {e["link"] for e in groups["palm"]} == {"palm"}


@pytest.mark.parametrize("args, expected", [
    (["missing.urdf", "--pad-axis", "x"], "missing.urdf not found"),
    (["{urdf}"], "no facing rules given"),
    (["{urdf}", "--pad-axis", "sideways"], "cannot read the axis 'sideways'"),
    (["{urdf}", "--rules", "{rules}"], "names link 'wrist', which the URDF does not have"),
])
def test_hand_contacts_bad_input_is_one_line(tmp_path, allegro_spec, args, expected):
    rules = tmp_path / "r.toml"
    rules.write_text('[[group]]\nname = "x"\nlinks = ["wrist"]\ndirection = "+x"\n')
    args = [a.format(urdf=allegro_spec.urdf_path, rules=rules) for a in args]
    result = runner.invoke(app, ["hand", "contacts", *args, "--out", str(tmp_path / "o.json")])
    assert result.exit_code == 2
    assert expected in result.output and len(result.output.strip().splitlines()) == 1


def test_the_conformance_checks_raise_and_hold_under_python_dash_o(allegro_spec):
    """``python -O`` strips assert statements: the suite has none, and a broken hand
    makes a check raise ConformanceError (an AssertionError, so pytest reports it)."""
    import ast
    import dataclasses

    from seqgrasp_core import testing
    from seqgrasp_core.api import check_joint_masks

    tree = ast.parse(Path(testing.__file__).read_text())
    assert not [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Assert)]
    bad = dataclasses.replace(allegro_spec)
    object.__setattr__(bad, "open_pose", (10.0,) * 16)  # 10 rad: past every joint's limit
    with pytest.raises(testing.ConformanceError, match="open pose outside the limits"):
        check_joint_masks(bad)
