"""`seqgrasp hand import`: an MJCF hand made here (palm, a two-link finger, a two-link
thumb whose first body has two joints; mesh and primitive collision geometry) becomes a
plugin whose URDF moves exactly as the source, whose meshes are fitted primitives, and
which passes the conformance suite, generates and validates."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from seqgrasp_core.hands.importer import import_hand
from seqgrasp_core.hands.importer.fit import WARN_MM, FitRow, fit_mesh

runner = CliRunner()

# Source frame: the fingers point +y and close towards -z, so the import has to turn
# the root (hand frame: fingers +z, palm +x). f_j2 and t_j1 have a joint `pos`; t1 has
# two joints; the palm floats (a free joint, dropped); one visual mesh is not shipped;
# the fingertips' bodies f2 and t2 are an <exclude> pair.
MODEL = """<mujoco model="Test Hand">
  <compiler angle="radian" meshdir="meshes" autolimits="true"/>
  <asset>
    <mesh name="palm" file="palm.stl"/>
    <mesh name="proximal" file="proximal.stl"/>
    <mesh name="distal" file="distal.stl"/>
    <mesh name="thumb_tip" file="thumb_tip.stl"/>
    <mesh name="pretty" file="not_shipped.stl"/>
  </asset>
  <worldbody>
    <body name="palm" pos="0.1 0.2 0.3" quat="0.9 0.2 -0.3 0.1">
      <freejoint name="float"/>
      <geom type="mesh" mesh="palm" density="800"/>
      <geom type="mesh" mesh="pretty" contype="0" conaffinity="0" group="2"/>
      <body name="f1" pos="0.02 0.04 0">
        <joint name="f_j1" axis="-1 0 0" range="-0.1 1.5"/>
        <geom type="mesh" mesh="proximal"/>
        <body name="f2" pos="0 0.05 0">
          <joint name="f_j2" axis="-1 0 0" range="-0.1 1.5" pos="0 0.004 0"/>
          <geom type="mesh" mesh="distal"/>
          <geom type="sphere" size="0.008" pos="0 0.036 0"/>
        </body>
      </body>
      <body name="t1" pos="-0.02 0.02 -0.035" quat="0.98 0 0 0.2">
        <joint name="t_j0" axis="0 0 1" range="-0.5 0.5"/>
        <joint name="t_j1" axis="1 0 0" range="-0.1 0.8" pos="0 0.003 0.001"/>
        <geom type="capsule" fromto="0 0 0 0 0.03 0" size="0.008"/>
        <body name="t2" pos="0 0.03 0">
          <joint name="t_j2" axis="1 0 0" range="0 0.9"/>
          <geom type="mesh" mesh="thumb_tip" pos="0 0.015 0" euler="1.5708 0 0"/>
        </body>
      </body>
    </body>
  </worldbody>
  <contact>
    <exclude body1="t2" body2="f2"/>
  </contact>
</mujoco>
"""


def make_model(folder: Path) -> Path:
    import trimesh

    meshes = folder / "meshes"
    meshes.mkdir(parents=True)
    trimesh.creation.box(extents=(0.07, 0.08, 0.02)).export(meshes / "palm.stl")
    proximal = trimesh.creation.capsule(height=0.032, radius=0.009)  # along y, 0…50 mm
    proximal.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0]))
    proximal.apply_translation([0, 0.025, 0])
    proximal.export(meshes / "proximal.stl")
    distal = trimesh.creation.box(extents=(0.016, 0.036, 0.016))
    distal.apply_translation([0.001, 0.018, 0.0])
    distal.export(meshes / "distal.stl")
    trimesh.creation.capsule(height=0.014, radius=0.008).export(meshes / "thumb_tip.stl")
    (folder / "LICENSE").write_text("Test licence: do what you like.\n")
    path = folder / "test_hand.xml"
    path.write_text(MODEL)
    return path


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return make_model(tmp_path_factory.mktemp("source"))


@pytest.fixture(scope="module")
def imported(model, tmp_path_factory):
    out = tmp_path_factory.mktemp("plugin") / "test-hand"
    return import_hand(model, out)


def _cli_app() -> typer.Typer:
    """The `seqgrasp` app when `hand import` is wired in, else one around `register`."""
    from seqgrasp_cli.hand import hand_app
    from seqgrasp_cli.main import app

    if any(c.name == "import" for c in hand_app.registered_commands):
        return app
    from seqgrasp_cli.hand_import import register

    group = typer.Typer()
    register(group)
    wrapper = typer.Typer()
    wrapper.add_typer(group, name="hand")
    return wrapper


def test_the_package_is_written(imported):
    out = imported.out_dir
    module = out / "seqgrasp_test_hand"
    assert imported.name == "test_hand"
    for rel in ("pyproject.toml", "README.md", "LICENSE", "seqgrasp-import.json"):
        assert (out / rel).is_file(), rel
    for rel in ("__init__.py", "test_hand.urdf", "hand.toml", "contact_rules.toml",
                "contacts.json"):
        assert (module / rel).is_file(), rel
    assert 'test_hand = "seqgrasp_test_hand"' in (out / "pyproject.toml").read_text()
    readme = (out / "README.md").read_text()
    assert imported.sha256 in readme and "test_hand.xml" in readme
    assert "| f1 | geom1 | mesh proximal | capsule |" in readme
    assert imported.joints == ["f_j1", "f_j2", "t_j0", "t_j1", "t_j2"]
    assert imported.dropped_joints == ["float"]
    assert any("not_shipped.stl" in w for w in imported.warnings)
    assert {"f1_pad", "t1_pad", "palm"} <= set(imported.groups)
    assert set(imported.opposition_spaces) == {"f1-t1", "f1-palm", "t1-palm"}
    # Fingers along source +y, closing towards source -z: snapped onto those axes.
    np.testing.assert_allclose(imported.rotation, [[0, -1, 0], [0, 0, 1], [-1, 0, 0]],
                               atol=1e-12)
    urdf = (module / "test_hand.urdf").read_text()
    assert "<mesh" not in urdf and "capsule" not in urdf


def test_the_models_exclude_pairs_are_carried_over(imported):
    """MuJoCo ≥ 3 stores an <exclude> as ``body1 << 16 | body2`` (ids as they are)."""
    import tomllib

    hand = tomllib.loads(imported.hand_file.read_text())
    pairs = {frozenset(pair) for pair in hand["self_collision"]["exclude"]}
    assert frozenset(("f2", "t2")) in pairs
    assert frozenset(("f1", "t1")) not in pairs  # what ids off by one would give
    assert '["f2", "t2"],  # the model\'s <exclude>' in imported.hand_file.read_text()


def test_the_readme_next_steps_install_first_and_use_the_public_api(imported):
    """`hand show` takes an installed plugin's name: `pip install -e .` comes first;
    the conformance one-liner imports the public API only, and runs as written."""
    import ast
    import re

    from seqgrasp_core import api

    readme = (imported.out_dir / "README.md").read_text()
    steps = readme[readme.index("## Next steps"):]
    order = ["pip install -e .", "seqgrasp hand show test_hand",
             "seqgrasp hand contacts seqgrasp_test_hand/test_hand.urdf --rules",
             "check_hand(", "seqgrasp generate --hand test_hand", "seqgrasp validate"]
    at = [steps.index(text) for text in order]
    assert at == sorted(at), dict(zip(order, at))
    snippets = re.findall(r'`python -c "([^"]+)"`', readme)
    assert len(snippets) == 1, snippets
    for node in ast.walk(ast.parse(snippets[0])):
        if isinstance(node, ast.Import):
            pytest.fail(f"the README imports {[a.name for a in node.names]}")
        if isinstance(node, ast.ImportFrom):
            assert node.module == "seqgrasp_core.api", node.module
            assert {a.name for a in node.names} <= set(api.__all__)
    assert "seqgrasp_core.plugins" not in readme
    assert "HandSpec.from_files('seqgrasp_test_hand/hand.toml')" in snippets[0]


def test_the_urdf_moves_as_the_source(imported, model):
    """Link frames of the URDF (pytorch_kinematics) = MuJoCo's body frames at the joint
    anchors, in the root body's frame turned as reported, at random joint values."""
    _assert_same_motion(imported, _compiled(model), "palm")


def _assert_same_motion(report, src, root: str, seed: int = 0) -> None:
    """The URDF's link frames match MuJoCo's at the zero pose and five random joint
    vectors (1e-6 m and 1e-6 in each rotation entry). A URDF value is the source's
    minus its ``ref``; a ball joint's three URDF angles turn it by Rx·Ry·Rz."""
    import re

    import mujoco
    import pytorch_kinematics as pk
    import torch
    from scipy.spatial.transform import Rotation

    from seqgrasp_core.hands.importer.transforms import inverse, pose

    data = mujoco.MjData(src)
    text = re.sub(rb"<mujoco>.*?</mujoco>", b"", report.urdf.read_bytes(), flags=re.DOTALL)
    chain = pk.build_chain_from_urdf(text).to(dtype=torch.float64)
    names = chain.get_joint_parameter_names()
    assert sorted(names) == sorted(report.joints)
    limits = _urdf_limits(report.urdf)
    lo, hi = (np.array([limits[n][i] for n in names]) for i in (0, 1))
    rng = np.random.default_rng(seed)
    r = src.body(root).id
    for q in [np.zeros(len(names)), *(lo + (hi - lo) * rng.random((5, len(names))))]:
        data.qpos[:] = src.qpos0
        balls: dict[int, list[float]] = {}
        for name, value in zip(names, q):
            base = name[:-2] if name[-2:] in ("_x", "_y", "_z") else name
            j = src.joint(base).id
            if src.jnt_type[j] == mujoco.mjtJoint.mjJNT_BALL:
                balls.setdefault(j, [0.0, 0.0, 0.0])["xyz".index(name[-1])] = value
            else:
                data.qpos[src.jnt_qposadr[j]] += value  # qpos0 holds the ref
        for j, angles in balls.items():
            x, y, z, w = Rotation.from_euler("XYZ", angles).as_quat()
            data.qpos[src.jnt_qposadr[j]:src.jnt_qposadr[j] + 4] = [w, x, y, z]
        mujoco.mj_kinematics(src, data)
        # The hand frame: the root body's frame turned as reported.
        hand = pose(data.xpos[r], data.xmat[r].reshape(3, 3)) @ pose(rot=report.rotation)
        frames = chain.forward_kinematics(torch.tensor(q)[None])
        for b in range(1, src.nbody):
            body = src.body(b).name
            if body not in frames:
                continue
            # The link sits at its body's last joint's anchor (`pos`), moving with the body.
            last = src.body_jntadr[b] + src.body_jntnum[b] - 1
            anchor = src.jnt_pos[last] if src.body_jntnum[b] else np.zeros(3)
            body_pose = pose(data.xpos[b], data.xmat[b].reshape(3, 3))
            expected = (np.eye(4) if b == r  # the root link is the hand frame
                        else inverse(hand) @ body_pose @ pose(anchor))
            got = frames[body].get_matrix()[0].numpy()
            np.testing.assert_allclose(got[:3, 3], expected[:3, 3], atol=1e-6, err_msg=body)
            np.testing.assert_allclose(got[:3, :3], expected[:3, :3], atol=1e-6, err_msg=body)


def _urdf_limits(urdf: Path) -> dict[str, tuple[float, float]]:
    import xml.etree.ElementTree as ET

    return {j.get("name"): (float(j.find("limit").get("lower")),
                            float(j.find("limit").get("upper")))
            for j in ET.parse(urdf).getroot().iter("joint") if j.get("type") != "fixed"}


def _compiled(model: Path):
    """The source as MuJoCo compiles it, less the visual mesh that is not shipped."""
    import mujoco

    spec = mujoco.MjSpec.from_file(str(model))
    for geom in list(spec.geoms):
        if geom.meshname == "pretty":
            spec.delete(geom)
    spec.delete(spec.mesh("pretty"))
    return spec.compile()


def test_meshes_become_fitted_primitives(imported):
    rows = {r.geom: r for r in imported.fits}
    by_source = {r.source: r for r in imported.fits}
    assert by_source["mesh palm"].primitive == "box"
    assert by_source["mesh distal"].primitive == "box"
    assert by_source["mesh palm"].deviation_mm < 1e-3
    assert by_source["mesh distal"].deviation_mm < 1e-3
    assert by_source["mesh distal"].volume_ratio == pytest.approx(1.0, abs=1e-4)
    # A tessellated capsule: within its facets' sagitta (9 mm radius, trimesh's default).
    for mesh in ("mesh proximal", "mesh thumb_tip"):
        assert by_source[mesh].primitive == "capsule"
        assert 0 < by_source[mesh].deviation_mm < 0.5
        assert by_source[mesh].volume_ratio == pytest.approx(1.0, abs=0.02)
    assert by_source["sphere"].deviation_mm == 0 and by_source["capsule"].deviation_mm == 0
    assert len(rows) == 6 and not imported.flagged


def test_a_mesh_no_primitive_fits_is_flagged():
    import trimesh

    cross = trimesh.util.concatenate([trimesh.creation.box(extents=(0.1, 0.01, 0.01)),
                                      trimesh.creation.box(extents=(0.01, 0.1, 0.01))])
    fit = fit_mesh(cross.vertices, cross.faces)
    row = FitRow("l", "g", "mesh cross", fit.shape.kind, fit.deviation * 1000, fit.volume_ratio)
    assert row.deviation_mm > WARN_MM and row.flagged
    assert set(fit.tried) == {"box", "capsule", "cylinder", "sphere"}


def test_the_plugin_conforms(imported):
    from seqgrasp_core.api import HandSpec, check_hand

    check_hand(HandSpec.from_files(imported.hand_file))


def _plugin_module(imported, monkeypatch):
    """The written plugin module, imported from its folder (no pip install)."""
    module_name = f"seqgrasp_{imported.name}"
    folder = imported.out_dir / module_name
    spec = importlib.util.spec_from_file_location(
        module_name, folder / "__init__.py", submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, module_name, module)
    spec.loader.exec_module(module)
    return module


def test_generate_and_validate_with_the_imported_hand(imported, tmp_path, monkeypatch):
    import trimesh

    from seqgrasp_core.plugins.manager import load_plugins
    from seqgrasp_core.runs.generate import GenerateRequest, run_generate
    from seqgrasp_core.runs.runfile import read_run
    from seqgrasp_core.validation import summarize, validate_table, with_results
    from seqgrasp_core.validation.mujoco_validator import MuJoCoValidator

    plugins = load_plugins(extra_modules=(_plugin_module(imported, monkeypatch),))
    assert "seqgrasp_test_hand" not in plugins.failures, plugins.failures
    spec = plugins.hand("test_hand")
    cube = tmp_path / "cube.stl"
    trimesh.creation.box(extents=(0.03, 0.03, 0.03)).export(cube)
    run = tmp_path / "run.parquet"
    run_generate(GenerateRequest(hand="test_hand", objects=[cube], batch=2, steps=20, seed=0,
                                 out=run, refine_steps=0), plugins)
    table, metadata = read_run(run)
    assert table.num_rows == 2 and metadata["hand"] == "test_hand"
    assert all(len(j) == 5 for j in table.column("joints").to_pylist())
    results = validate_table(table, metadata, spec, MuJoCoValidator(), workers=1)
    assert len(results) == 2 and all(isinstance(r.success, bool) for r in results)
    assert summarize(with_results(table, results))


def test_reimport_replaces_an_earlier_import_and_checks_it(model, tmp_path):
    out = tmp_path / "plugin"
    first = import_hand(model, out, name="first", orient=False)
    assert (out / "seqgrasp_first" / "hand.toml").is_file()
    np.testing.assert_allclose(first.rotation, np.eye(3))
    result = runner.invoke(_cli_app(), ["hand", "import", str(model), "--out", str(out),
                                        "--name", "second", "--check"])
    assert result.exit_code == 0, result.output
    assert "conformance suite: passed" in result.output
    assert "mesh proximal" in result.output  # the fit table
    assert not (out / "seqgrasp_first").exists()
    written = json.loads((out / "seqgrasp-import.json").read_text())["files"]
    assert "seqgrasp_second/hand.toml" in written


def test_a_name_an_installed_plugin_uses_is_refused_unless_imported_into_the_folder(
        model, tmp_path, monkeypatch):
    """`--name allegro` would write a second module `seqgrasp_allegro`: refused, and
    nothing written. The hand of an earlier import into the same --out folder (found
    by its module's file) may be imported again; into another folder it is refused."""
    from seqgrasp_core.plugins import manager

    for name, expected in (
            ("allegro", ("error: hand name 'allegro' is taken by the installed plugin "
                         "'allegro' — choose another with --name")),
            ("cli", "error: hand name 'cli' is taken: its plugin module 'seqgrasp_cli'")):
        result = runner.invoke(_cli_app(), ["hand", "import", str(model), "--out",
                                            str(tmp_path / "out"), "--name", name])
        assert result.exit_code == 2, result.output
        lines = [ln for ln in result.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith(expected), result.output
        assert not (tmp_path / "out").exists()

    out = tmp_path / "mine"
    first = import_hand(model, out, name="mine")
    module = _plugin_module(first, monkeypatch)
    load = manager.load_plugins
    monkeypatch.setattr(manager, "load_plugins", lambda: load(extra_modules=(module,)))
    assert "mine" in manager.load_plugins().hands.names()
    again = runner.invoke(_cli_app(), ["hand", "import", str(model), "--out", str(out),
                                       "--name", "mine"])
    assert again.exit_code == 0, again.output
    assert "taken" not in again.output
    elsewhere = runner.invoke(_cli_app(), ["hand", "import", str(model), "--out",
                                           str(tmp_path / "other"), "--name", "mine"])
    assert elsewhere.exit_code == 2, elsewhere.output
    assert "hand name 'mine' is taken by the installed plugin 'seqgrasp_mine'" in \
        elsewhere.output
    assert not (tmp_path / "other").exists()


def test_branches_are_named_after_their_first_link_less_a_suffix(model, tmp_path):
    from seqgrasp_core.hands.importer.layout import branch_names

    assert branch_names(["ff_base", "mf_base", "th_base", "f1"]) == {
        "ff_base": "ff", "mf_base": "mf", "th_base": "th", "f1": "f1"}
    assert branch_names(["rh_ffknuckle", "rh_thbase", "finger_link_0", "index_0",
                         "thumb_proximal", "F10"]) == {
        "rh_ffknuckle": "rh_ff", "rh_thbase": "rh_th", "finger_link_0": "finger",
        "index_0": "index", "thumb_proximal": "thumb", "F10": "F10"}
    # Nothing left, `palm`, or a name another branch has: the link's name, whole.
    assert branch_names(["base", "palm_base", "a_base", "a_link", "b", "b_base"]) == {
        "base": "base", "palm_base": "palm_base", "a_base": "a_base", "a_link": "a_link",
        "b": "b", "b_base": "b_base"}

    renamed = tmp_path / "src" / "renamed.xml"
    make_model(renamed.parent)
    renamed.write_text(model.read_text().replace('name="f1"', 'name="ff_base"')
                       .replace('name="t1"', 'name="th_proximal"'))
    report = import_hand(renamed, tmp_path / "plugin")
    assert set(report.groups) == {"ff_pad", "th_pad", "palm"}
    assert set(report.opposition_spaces) == {"ff-th", "ff-palm", "th-palm"}
    rules = (report.hand_file.parent / "contact_rules.toml").read_text()
    assert 'name = "ff_pad"' in rules and '"ff_base"' in rules  # links keep their names


QUIRKS = """<mujoco model="quirks">
  <compiler angle="radian" autolimits="true"/>
  <worldbody>
    <body name="palm">
      <geom type="box" size="0.01 0.04 0.04" pos="0 0 -0.04"/>
      <body name="fa" pos="0 0.03 0">
        <joint name="fa_ball" type="ball" range="0 0.5"/>
        <geom type="capsule" fromto="0 0 0.008 0 0 0.04" size="0.008"/>
      </body>
      <body name="fb" pos="0 0 0">
        <joint name="fb_slide" type="slide" axis="0 0 1" range="0 0.02"/>
        <geom type="box" size="0.008 0.008 0.01" pos="0 0 0.01"/>
        <body name="fb2" pos="0 0 0.02">
          <joint name="fb_free_turn" axis="0 1 0"/>
          <geom type="capsule" fromto="0 0 0.008 0 0 0.03" size="0.008"/>
        </body>
      </body>
      <body name="fc" pos="0 -0.03 0">
        <joint name="fc_flex" axis="0 1 0" range="-0.1 1.5" ref="0.2" pos="0 0 0.002"/>
        <geom type="ellipsoid" size="0.008 0.008 0.02" pos="0 0 0.025"/>
      </body>
    </body>
  </worldbody>
</mujoco>
"""


def test_ball_slide_unlimited_and_ref_joints(tmp_path):
    """A ball joint becomes three revolute joints, a slide joint a prismatic one, an
    unlimited hinge gets ±π, a ref shifts the limits; each is one warning line, and
    the URDF still moves as the source."""
    import mujoco

    path = tmp_path / "quirks.xml"
    path.write_text(QUIRKS)
    report = import_hand(path, tmp_path / "plugin")
    assert report.joints == ["fa_ball_x", "fa_ball_y", "fa_ball_z", "fb_slide",
                             "fb_free_turn", "fc_flex"]
    text = " | ".join(report.warnings)
    for expected in ("ball joint 'fa_ball' is split", "hinge 'fb_free_turn' has no range",
                     "joint 'fc_flex' has ref = 0.2"):
        assert expected in text
    limits = _urdf_limits(report.urdf)
    assert limits["fc_flex"] == pytest.approx((-0.3, 1.3))
    assert limits["fb_free_turn"] == pytest.approx((-np.pi, np.pi))
    assert limits["fa_ball_y"] == pytest.approx((-0.5, 0.5))
    assert 'type="prismatic"' in report.urdf.read_text()
    assert [r.primitive for r in report.fits if r.source == "ellipsoid"] == ["capsule"]
    _assert_same_motion(report, mujoco.MjModel.from_xml_string(QUIRKS), "palm", seed=1)


GRIPPER = """<robot name="pkg_gripper">
  <link name="base">
    <inertial><mass value="0.2"/><inertia ixx="1e-4" iyy="1e-4" izz="1e-4" ixy="0" ixz="0" iyz="0"/></inertial>
    <collision><origin xyz="0 0 -0.01"/><geometry><mesh filename="package://testpkg/meshes/base.stl"/></geometry></collision>
  </link>
  <link name="left">
    <inertial><origin xyz="0 0 0.025"/><mass value="0.02"/><inertia ixx="4e-6" iyy="4e-6" izz="1e-6" ixy="0" ixz="0" iyz="0"/></inertial>
    <collision><origin xyz="0 0 0.025"/><geometry><box size="0.02 0.014 0.05"/></geometry></collision>
  </link>
  <link name="right">
    <inertial><origin xyz="0 0 0.025"/><mass value="0.02"/><inertia ixx="4e-6" iyy="4e-6" izz="1e-6" ixy="0" ixz="0" iyz="0"/></inertial>
    <collision><origin xyz="0 0 0.025"/><geometry><box size="0.02 0.014 0.05"/></geometry></collision>
  </link>
  <joint name="left_j" type="revolute"><parent link="base"/><child link="left"/>
    <origin xyz="0 0.035 0.007"/><axis xyz="1 0 0"/><limit lower="-0.3" upper="1.2" effort="5" velocity="3"/></joint>
  <joint name="right_j" type="revolute"><parent link="base"/><child link="right"/>
    <origin xyz="0 -0.035 0.007"/><axis xyz="-1 0 0"/><limit lower="-0.3" upper="1.2" effort="5" velocity="3"/></joint>
</robot>
"""


def test_a_urdf_gripper_with_a_package_mesh(tmp_path):
    """URDF input; a `package://` mesh found above the file; a gripper's fingers close on
    each other, so there is no palm side to turn to +x: --no-orient, palm along +z."""
    import trimesh

    from seqgrasp_core.errors import HandSpecError
    from seqgrasp_core.hands.spec import HandSpec

    (tmp_path / "testpkg" / "meshes").mkdir(parents=True)
    (tmp_path / "testpkg" / "urdf").mkdir()
    trimesh.creation.box(extents=(0.04, 0.09, 0.02)).export(
        tmp_path / "testpkg" / "meshes" / "base.stl")
    urdf = tmp_path / "testpkg" / "urdf" / "gripper.urdf"
    urdf.write_text(GRIPPER)
    with pytest.raises(HandSpecError, match="cannot tell which side the palm faces"):
        import_hand(urdf, tmp_path / "oriented")
    report = import_hand(urdf, tmp_path / "plugin", orient=False)
    assert report.name == "pkg_gripper" and report.joints == ["left_j", "right_j"]
    assert [r.primitive for r in report.fits] == ["box", "box", "box"]
    assert report.fits[0].source == "mesh base" and report.fits[0].deviation_mm < 1e-3
    spec = HandSpec.from_files(report.hand_file)
    np.testing.assert_allclose(spec.palm_normal, [0, 0, 1])
    np.testing.assert_allclose(spec.palm_center, [0, 0, 0], atol=1e-6)  # the base's top face
    assert {o.name for o in spec.opposition_spaces} == {"left-right", "left-palm", "right-palm"}


@pytest.mark.parametrize("args, expected", [
    (["{missing}"], "not found"),
    (["{notes}"], "is not an MJCF or URDF model"),
    (["{model}", "--root", "wrist"],
     "the model has no body 'wrist' — choose --root from: palm, f1, t1"),
    (["{model}", "--root", "world"], ("--root 'world' is the model's world body, not a "
                                      "body of the hand — choose --root from: palm, f1, t1")),
    (["{model}", "--root", "t2"], "body 't2' has no movable joint below it"),
    (["{rigid}"], "no movable joint"),
    (["{model}", "--name", "My-Hand"], "--name 'My-Hand' cannot name a plugin module"),
    (["{model}", "--out", "{busy}"], "is a folder with other files in it"),
])
def test_bad_input_is_one_line(model, tmp_path, args, expected):
    notes = tmp_path / "notes.xml"
    notes.write_text("these are notes, not a model\n")
    rigid = tmp_path / "rigid.xml"
    rigid.write_text('<mujoco><worldbody><body name="a"><geom size="0.01"/></body>'
                     "</worldbody></mujoco>")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep me")
    values = {"missing": tmp_path / "missing.xml", "notes": notes, "model": model, "rigid": rigid,
                  "busy": busy}
    args = [a.format(**values) for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "out")]
    result = runner.invoke(_cli_app(), ["hand", "import", *args])
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and expected in lines[0], result.output
    assert not (tmp_path / "out").exists()
    assert (busy / "mine.txt").read_text() == "keep me"
