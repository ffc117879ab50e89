"""The Isaac Gym validator without Isaac Gym: its object assets, the end-of-run test
it shares with MuJoCo, and its orchestration against a stand-in package
``isaacgym`` (written to a temporary folder and put on the worker's PYTHONPATH)
whose "physics" holds every body still and drives each joint to its target (so the
verdicts must be those of the shared checks on the pressed, closed state). The
worker really runs, as a subprocess of this interpreter or of
``$SEQGRASP_TEST_WORKER_PYTHON`` (e.g. a Python 3.8 with numpy)."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import trimesh
from test_validation import PALM_FACE_X, _cache, hand, mask_of, pinched_box, translation  # noqa: F401 (fixtures)

from seqgrasp_core.errors import SeqGraspError
from seqgrasp_core.validation import PAPER_PROTOCOL
from seqgrasp_core.validation import isaacgym_process as process
from seqgrasp_core.validation import mujoco_validator as shared
from seqgrasp_core.validation.isaacgym_validator import IsaacGymValidator
from seqgrasp_core.validation.scene import MuJoCoSettings, scene_object
from seqgrasp_core.validation.steps import StepTask
from seqgrasp_core.validation.urdf_assets import object_urdf


def test_object_urdf_carries_the_pieces_and_the_real_mass(tmp_path):
    """Two pieces of an L-shaped solid: the URDF's inertial is the real mesh's at 500
    kg/m³, and each collision OBJ holds one piece's vertices; MuJoCo's URDF importer
    reads it."""
    import mujoco

    a = trimesh.creation.box(extents=(0.04, 0.01, 0.01))
    b = trimesh.creation.box(extents=(0.01, 0.03, 0.01))
    b.apply_translation((0.015, 0.02, 0.0))
    solid = trimesh.boolean.union([a, b], engine="manifold")
    pieces = [(np.asarray(m.vertices), np.asarray(m.faces, dtype=np.int32)) for m in (a, b)]
    body = scene_object(solid, pieces, 500.0)
    path = object_urdf(tmp_path, "object0", body)
    link = ET.parse(path).getroot().find("link")
    inertial = link.find("inertial")
    assert float(inertial.find("mass").get("value")) == pytest.approx(solid.volume * 500.0)
    xyz = [float(v) for v in inertial.find("origin").get("xyz").split()]
    assert xyz == pytest.approx(solid.center_mass.tolist(), abs=1e-9)
    izz = float(inertial.find("inertia").get("izz"))
    assert izz == pytest.approx(body.inertia[2, 2], rel=1e-6)
    meshes = [c.find("geometry/mesh").get("filename") for c in link.findall("collision")]
    assert len(meshes) == 2
    for name, (vertices, _) in zip(meshes, pieces):
        loaded = trimesh.load(tmp_path / name, force="mesh", process=False)
        assert np.allclose(loaded.vertices, vertices, atol=1e-9)
    model = mujoco.MjModel.from_xml_path(str(path))  # a URDF importer reads it
    assert model.ngeom == model.nmesh == 2
    assert sorted(model.mesh_vertnum.tolist()) == sorted(len(v) for v, _ in pieces)


def _task(hand, objects, q, closing):
    meshes = {f"obj{i}": m for i, (m, _) in enumerate(objects)}
    task = StepTask(0, tuple((f"obj{i}", 1.0) for i in range(len(objects))),
                    np.stack([p for _, p in objects]), q, closing)
    ctx = shared.Context(str(hand.urdf_path), hand.joint_names,
                         shared.prepare_objects([task], meshes, PAPER_PROTOCOL.density),
                         PAPER_PROTOCOL, MuJoCoSettings())
    shared.init_process(ctx)
    return task, meshes


def test_the_end_of_run_test_sees_a_held_a_moved_and_a_lost_object(hand):
    """The pinched box in its closed state passes; moved out of reach, fallen away
    or lost to NaN, it fails."""
    q, box, pose = pinched_box(hand)
    task, _ = _task(hand, [(box, pose)], q, mask_of(hand, "ff"))
    state = shared.closed_state(task)
    closed = state.joints
    assert state.depth < 0.0005 and closed is not None
    assert shared.still_holds(task, closed, task.object_in_hand)
    slid = task.object_in_hand.copy()
    slid[0, 0, 3] += 0.12  # 12 cm off the palm: out of reach, yet not fallen (15 cm)
    assert not shared.still_holds(task, closed, slid)
    fallen = task.object_in_hand.copy()
    fallen[0, :3, 3] += [0.0, 0.0, -0.2]
    assert not shared.still_holds(task, closed, fallen)
    assert not shared.still_holds(task, closed, np.full_like(slid, np.nan))


STAND_IN = '''"""A stand-in for Isaac Gym's gymapi (Python 3.8 syntax, like the worker): bodies
stay put, joints reach their targets when simulated, and the DOF order is the
reverse of $FAKE_GYM_DOFS (the hand spec's joint names, JSON). What it was asked is
appended to $FAKE_GYM_RECORD as one JSON line when the process ends.
$FAKE_GYM_FAIL makes acquire_gym raise; $FAKE_GYM_SLEEP (a file) makes the import
write the process id there and sleep."""
import atexit
import json
import os
import time
import types

import numpy as np

if os.environ.get("FAKE_GYM_SLEEP"):
    with open(os.environ["FAKE_GYM_SLEEP"], "w") as f:
        f.write(str(os.getpid()))
    time.sleep(60)


class Vec3(object):
    def __init__(self, x=0.0, y=0.0, z=0.0):
        self.x, self.y, self.z = x, y, z


class Quat(object):
    def __init__(self, x=0.0, y=0.0, z=0.0, w=1.0):
        self.x, self.y, self.z, self.w = x, y, z, w


class Transform(object):
    def __init__(self):
        self.p, self.r = Vec3(), Quat()


def SimParams():
    return types.SimpleNamespace(physx=types.SimpleNamespace())


AssetOptions = types.SimpleNamespace
DofState = types.SimpleNamespace(dtype=np.dtype([("pos", "f4"), ("vel", "f4")]))
DOF_MODE_POS, STATE_ALL, STATE_POS, UP_AXIS_Z, SIM_PHYSX, ENV_SPACE = range(1, 7)


class _FakeGym(object):
    def __init__(self):
        self.dof_names = list(reversed(json.loads(os.environ["FAKE_GYM_DOFS"])))
        self.forces, self.envs, self.sims, self.destroyed = [], [], 0, 0

    def create_sim(self, *args):
        self.sims += 1
        return object()

    def load_asset(self, sim, root, name, options):
        return {"file": os.path.join(root, name)}

    def get_asset_dof_names(self, asset):
        return self.dof_names

    def get_asset_dof_properties(self, asset):
        return np.zeros(len(self.dof_names), dtype=[("driveMode", "i4"), ("stiffness", "f4"),
                                                      ("damping", "f4")])

    def create_env(self, sim, lower, upper, per_row):
        self.envs.append({"actors": []})
        return self.envs[-1]

    def create_actor(self, env, asset, transform, name, group, filter_bits):
        env["actors"].append({"asset": asset, "pose": transform, "name": name, "group": group})
        return len(env["actors"]) - 1

    def set_actor_dof_properties(self, env, actor, props):
        env["props"] = props.copy()

    def set_actor_dof_states(self, env, actor, state, flags):
        env["q"] = state["pos"].astype(float).copy()

    def set_actor_dof_position_targets(self, env, actor, targets):
        env["targets"] = np.asarray(targets, dtype=float)

    def get_actor_rigid_shape_properties(self, env, actor):
        return [types.SimpleNamespace(friction=0.0)]

    def set_actor_rigid_shape_properties(self, env, actor, props):
        env["actors"][actor]["friction"] = props[0].friction

    def get_actor_rigid_body_handle(self, env, actor, index):
        return actor

    def apply_body_forces(self, env, body, force, torque, space):
        self.forces.append((self.envs.index(env), body, (force.x, force.y, force.z)))

    def simulate(self, sim):
        for env in self.envs:
            env["q"] = env["targets"].copy()

    def fetch_results(self, sim, wait):
        pass

    def get_actor_dof_states(self, env, actor, flags):
        state = np.zeros(len(env["q"]), dtype=[("pos", "f4"), ("vel", "f4")])
        state["pos"] = env["q"]
        return state

    def get_actor_rigid_body_states(self, env, actor, flags):
        t = env["actors"][actor]["pose"]
        pose = np.zeros(1, dtype=[("p", [("x", "f8"), ("y", "f8"), ("z", "f8")]),
                                  ("r", [("x", "f8"), ("y", "f8"), ("z", "f8"), ("w", "f8")])])
        pose["p"] = (t.p.x, t.p.y, t.p.z)
        pose["r"] = (t.r.x, t.r.y, t.r.z, t.r.w)
        return {"pose": pose}

    def destroy_sim(self, sim):
        self.destroyed += 1

    def record(self):
        envs = [{"stiffness": e["props"]["stiffness"].tolist(), "targets": e["targets"].tolist(),
                 "friction": [a["friction"] for a in e["actors"]],
                 "files": [a["asset"]["file"] for a in e["actors"]],
                 "poses": [[a["pose"].p.x, a["pose"].p.y, a["pose"].p.z, a["pose"].r.x,
                            a["pose"].r.y, a["pose"].r.z, a["pose"].r.w] for a in e["actors"]]}
                for e in self.envs]
        return {"sims": self.sims, "destroyed": self.destroyed, "forces": self.forces,
                "envs": envs}


_GYM = []


def acquire_gym():
    if os.environ.get("FAKE_GYM_FAIL"):
        raise RuntimeError(os.environ["FAKE_GYM_FAIL"])
    if not _GYM:
        _GYM.append(_FakeGym())
        atexit.register(_save)
    return _GYM[0]


def _save():
    if os.environ.get("FAKE_GYM_RECORD"):
        with open(os.environ["FAKE_GYM_RECORD"], "a") as f:
            f.write(json.dumps(_GYM[0].record()) + "\\n")
'''


def _stand_in(folder: Path) -> Path:
    """``folder`` holding the stand-in package ``isaacgym``."""
    package = folder / "isaacgym"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "gymapi.py").write_text(STAND_IN)
    return folder


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def worker_python() -> str:
    return os.environ.get("SEQGRASP_TEST_WORKER_PYTHON") or sys.executable


@pytest.fixture
def fake_isaacgym(hand, tmp_path, monkeypatch, worker_python):
    """The stand-in on the worker's PYTHONPATH, ``$SEQGRASP_ISAACGYM_PYTHON`` set to
    the test's worker interpreter, no interpreter checked yet; yields the record file."""
    folder = _stand_in(tmp_path / "stand_in")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(folder), os.environ.get("PYTHONPATH")) if p))
    monkeypatch.setenv(process.ENV, worker_python)
    monkeypatch.setenv("FAKE_GYM_DOFS", json.dumps(list(hand.joint_names)))
    monkeypatch.setenv("FAKE_GYM_RECORD", str(tmp_path / "record.jsonl"))
    monkeypatch.setattr(process, "_IMPORT_PROBLEMS", {})
    yield tmp_path / "record.jsonl"


def test_isaacgym_validator_shakes_each_row_in_six_directions(hand, fake_isaacgym):
    """Three rows: the pinched box (held), the box beside the open hand (not touching)
    and a box 2 cm deep in the palm (failed by penetration, never simulated), each
    validated by its own call, so two worker runs."""
    import mujoco

    q, box, pose = pinched_box(hand)
    small = trimesh.creation.box(extents=[0.02, 0.025, 0.02])
    cube = trimesh.creation.box(extents=[0.05, 0.05, 0.05])
    rows = [(box, pose, q),
            (small, translation(PALM_FACE_X + 0.03, -0.0565 - 0.03, -0.05),
             np.array(hand.open_pose)),
            (cube, translation(PALM_FACE_X - 0.02 + 0.025, 0.0, -0.045), np.array(hand.open_pose))]
    validator = IsaacGymValidator()
    assert validator.available()
    results = []
    for mesh, at, joints in rows:
        results.append(validator.validate(_table(hand, at, joints), {"obj0": mesh}, hand)[0])
    assert [r.success for r in results] == [True, False, False]
    assert [r.failure for r in results[:2]] == ["", "lost an object"]
    assert results[2].max_penetration_mm == pytest.approx(20.0, abs=3.0)
    assert results[2].hand_penetration_mm == results[2].max_penetration_mm
    records = _records(fake_isaacgym)
    assert len(records) == 2  # the deep row: no worker run
    assert sum(len(r["envs"]) for r in records) == 12
    assert sum(r["sims"] for r in records) == sum(r["destroyed"] for r in records) == 2
    steps = PAPER_PROTOCOL.steps
    assert [len(r["forces"]) for r in records] == [6 * steps] * 2
    mass = scene_object(box, [], 500.0).mass
    pushed = {env: np.array(f) for env, _, f in records[0]["forces"][:6]}
    assert sorted(pushed) == list(range(6))
    for env, force in pushed.items():
        assert force == pytest.approx(mass * 9.8 * np.array(PAPER_PROTOCOL.directions[env]))
    first = records[0]["envs"][0]
    assert first["stiffness"] == [1000.0] * len(hand.joint_names)
    assert first["friction"] == [2.0, 2.0]
    assert Path(first["files"][0]) == Path(hand.urdf_path).resolve()
    assert Path(first["files"][1]).name == "object0.urdf"
    # The stand-in's DOF order is reversed: the hand must start at the row's joints.
    task, _ = _task(hand, [(box, pose)], q, mask_of(hand, "ff"))
    assert np.allclose(np.array(first["targets"])[::-1], shared.closed_state(task).targets,
                       atol=1e-6)
    placed = np.array(first["poses"][1])
    assert placed[:3] == pytest.approx(pose[:3, 3])
    wxyz = np.empty(4)
    mujoco.mju_mat2Quat(wxyz, np.ascontiguousarray(pose[:3, :3]).ravel())
    assert abs(np.dot(placed[3:], np.roll(wxyz, -1))) == pytest.approx(1.0)


@pytest.fixture
def worker_module(tmp_path, monkeypatch):
    """The worker script imported here, against the stand-in."""
    monkeypatch.syspath_prepend(str(_stand_in(tmp_path / "stand_in")))
    spec = importlib.util.spec_from_file_location("isaacgym_worker_under_test", process.WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    for name in ("isaacgym.gymapi", "isaacgym"):
        sys.modules.pop(name, None)


def test_worker_quaternions_are_mujocos(worker_module):
    """The worker's numpy quaternions (x, y, z, w) are MuJoCo's, up to sign, on every
    branch (half turns about each axis included), and invert to the rotation."""
    import mujoco

    rng = np.random.default_rng(3)
    quats = [rng.normal(size=4) for _ in range(40)]
    quats += [np.array(q, dtype=float) for q in ((1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0),
                                                  (0, 0, 0, 1), (0.1, 0.9, 0.3, 0.2))]
    for wxyz in quats:
        wxyz = wxyz / np.linalg.norm(wxyz)
        rotation = np.empty(9)
        mujoco.mju_quat2Mat(rotation, wxyz)
        rotation = rotation.reshape(3, 3)
        xyzw = np.array(worker_module.quat_xyzw(rotation))
        assert abs(np.dot(xyzw, np.roll(wxyz, -1))) == pytest.approx(1.0)
        p = {"x": 0.1, "y": -0.2, "z": 0.3}
        r = dict(zip("xyzw", xyzw * 2.0))  # not normalised
        matrix = worker_module.pose_matrix(p, r)
        assert np.allclose(matrix[:3, :3], rotation, atol=1e-12)
        assert np.allclose(matrix[:3, 3], [0.1, -0.2, 0.3]) and np.allclose(matrix[3], [0, 0, 0, 1])
    nan = worker_module.pose_matrix(p, dict(zip("xyzw", [float("nan")] * 4)))
    assert np.isnan(nan[:3, :3]).all()


def test_worker_is_python_3_8_importing_only_stdlib_numpy_and_isaacgym():
    source = process.WORKER.read_text()
    tree = ast.parse(source, feature_version=(3, 8))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "a relative import"
            imported.add(node.module.split(".")[0])
    assert "isaacgym" in imported and "numpy" in imported
    assert imported <= sys.stdlib_module_names | {"numpy", "isaacgym"}, imported
    for node in ast.walk(tree):  # 3.9+ built-ins and subscripted built-in types
        if isinstance(node, ast.Attribute):
            assert node.attr not in {"removeprefix", "removesuffix", "is_relative_to"}
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            assert node.value.id not in {"list", "dict", "tuple", "set", "type"}
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            assert not any(isinstance(s, (ast.Dict, ast.DictComp)) for s in (node.left, node.right))


def test_parent_side_never_imports_isaacgym():
    for name in ("isaacgym_validator", "isaacgym_process"):
        path = Path(process.__file__).with_name(f"{name}.py")
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] == "isaacgym" for n in names), name


@pytest.mark.parametrize("setting", ["unset", "nowhere", "without isaacgym"])
def test_unavailable_without_an_isaac_gym_interpreter(setting, tmp_path, monkeypatch):
    """No interpreter, one that does not exist, one that cannot import isaacgym: not
    available, with one line saying what to do (the last checked once)."""
    monkeypatch.setattr(process, "_IMPORT_PROBLEMS", {})
    monkeypatch.delenv(process.ENV, raising=False)
    if setting == "nowhere":
        monkeypatch.setenv(process.ENV, str(tmp_path / "nowhere" / "python"))
    elif setting == "without isaacgym":
        monkeypatch.setenv(process.ENV, sys.executable)
    validator = IsaacGymValidator()
    assert not validator.available()
    hint = validator.unavailable_hint
    assert "\n" not in hint
    assert "Isaac Gym Preview 4" in hint and "Python 3.8" in hint and "--validator mujoco" in hint
    assert f"{process.ENV}=/path/to/that/python" in hint
    if setting == "nowhere":
        assert str(tmp_path / "nowhere" / "python") in hint
    if setting == "without isaacgym":
        assert "No module named 'isaacgym'" in hint
        assert list(process._IMPORT_PROBLEMS) == [sys.executable]
        monkeypatch.setattr(subprocess, "run", None)  # cached: no second check
        assert not validator.available()
    with pytest.raises(SeqGraspError) as err:
        validator.validate(None, {}, None)
    assert "\n" not in str(err.value)


def test_a_failing_worker_is_one_line(hand, fake_isaacgym, monkeypatch):
    monkeypatch.setenv("FAKE_GYM_FAIL", "no CUDA-capable device is detected")
    q, box, pose = pinched_box(hand)
    with pytest.raises(SeqGraspError) as err:
        IsaacGymValidator().validate(_table(hand, pose, q), {"obj0": box}, hand)
    message = str(err.value)
    assert "\n" not in message
    assert "exited with status 1: RuntimeError: no CUDA-capable device is detected" in message


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] == "Z"


@pytest.fixture
def sleeping_worker(fake_isaacgym, tmp_path, monkeypatch):
    """``run_worker``'s folders for a worker that sleeps, and where it writes its pid
    (a worker still alive at the end is killed)."""
    pid_file = tmp_path / "pid"
    monkeypatch.setenv("FAKE_GYM_SLEEP", str(pid_file))
    for name in ("in", "out"):
        (tmp_path / name).mkdir()
    yield [tmp_path / "in", tmp_path / "out", tmp_path], pid_file
    if pid_file.exists() and pid_file.read_text() and not _gone(int(pid_file.read_text())):
        os.kill(int(pid_file.read_text()), signal.SIGKILL)


def _wait_for(path: Path, within: float = 20.0) -> int:
    end = time.monotonic() + within
    while not (path.exists() and path.read_text()):
        assert time.monotonic() < end, "the worker never started"
        time.sleep(0.05)
    return int(path.read_text())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_the_worker_dies_with_the_parent(sleeping_worker, worker_python):
    folders, pid_file = sleeping_worker
    parent = subprocess.Popen(
        [sys.executable, "-c", ("import sys; from pathlib import Path; "
                                "from seqgrasp_core.validation.isaacgym_process import run_worker; "
                                "run_worker(sys.argv[1], *map(Path, sys.argv[2:]))"),
         worker_python, *map(str, folders)])
    try:
        pid = _wait_for(pid_file)
        parent.kill()
        parent.wait()
        end = time.monotonic() + 5.0
        while not _gone(pid):
            assert time.monotonic() < end, "the worker outlived its parent"
            time.sleep(0.05)
    finally:
        parent.kill()


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="interrupts with SIGALRM")
def test_ctrl_c_kills_the_worker(sleeping_worker, worker_python):
    folders, pid_file = sleeping_worker

    def interrupt(*_):
        if pid_file.exists() and pid_file.read_text():
            signal.setitimer(signal.ITIMER_REAL, 0)
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.1, 0.1)
    try:
        with pytest.raises(KeyboardInterrupt):
            process.run_worker(worker_python, *folders)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert _gone(int(pid_file.read_text()))


def _table(hand, object_in_hand, joints):
    """A one-row run table holding ``obj0`` at ``object_in_hand`` with ``joints``."""
    import pyarrow as pa
    import torch

    from seqgrasp_core.geometry.pose import matrix_to_rot6d

    hand_to_object = np.linalg.inv(object_in_hand)
    t = torch.as_tensor(hand_to_object, dtype=torch.float64)
    pose = torch.cat((t[:3, 3], matrix_to_rot6d(t[:3, :3]))).tolist()
    mask = mask_of(hand, "ff").tolist()
    return pa.table({"sequence_id": [0], "step": pa.array([1], pa.int16()),
                     "object_sha256": ["obj0"], "object_scale": [1.0], "pose": [pose],
                     "joints": [list(map(float, joints))], "joint_mask": [mask]})


def test_the_interpreter_is_a_validator_option(tmp_path):
    from seqgrasp_core.errors import UnknownNameError

    validator = IsaacGymValidator()
    chosen = validator.configured({"python": str(tmp_path / "python3.8")})
    assert chosen.python == str(tmp_path / "python3.8") and not chosen.available()
    assert validator.configured({}) is validator
    with pytest.raises(UnknownNameError, match="has no option 'gpu' — its options: python"):
        validator.configured({"gpu": "1"})
