"""The Isaac Gym validator without Isaac Gym: its object assets, the end-of-run test
it shares with MuJoCo, and its orchestration against a stand-in for ``gymapi``
whose "physics" holds every body still and drives each joint to its target (so the
verdicts must be those of the shared checks on the pressed, closed state)."""

from __future__ import annotations

import importlib.machinery
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import trimesh
from test_validation import PALM_FACE_X, _cache, hand, mask_of, pinched_box, translation  # noqa: F401 (fixtures)

from seqgrasp_core.validation import PAPER_PROTOCOL
from seqgrasp_core.validation import mujoco_validator as shared
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


class _FakeGym:
    """Records what the validator asks of Isaac Gym; bodies stay put, joints reach
    their targets when simulated. Its DOF order is the reverse of the hand spec's."""

    def __init__(self, dof_names, gymapi):
        self.dof_names, self.api = list(reversed(dof_names)), gymapi
        self.forces, self.envs, self.sims, self.destroyed = [], [], 0, 0

    def create_sim(self, *args):
        self.sims += 1
        return object()

    def load_asset(self, sim, root, name, options):
        return {"file": Path(root) / name, "options": options}

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


@pytest.fixture
def fake_isaacgym(hand, monkeypatch):
    class Vec3:
        def __init__(self, x=0.0, y=0.0, z=0.0):
            self.x, self.y, self.z = x, y, z

    class Quat:
        def __init__(self, x=0.0, y=0.0, z=0.0, w=1.0):
            self.x, self.y, self.z, self.w = x, y, z, w

    class Transform:
        def __init__(self):
            self.p, self.r = Vec3(), Quat()

    gymapi = types.ModuleType("isaacgym.gymapi")
    gymapi.Vec3, gymapi.Quat, gymapi.Transform = Vec3, Quat, Transform
    gymapi.SimParams = lambda: types.SimpleNamespace(physx=types.SimpleNamespace())
    gymapi.AssetOptions = types.SimpleNamespace
    gymapi.DofState = types.SimpleNamespace(dtype=np.dtype([("pos", "f4"), ("vel", "f4")]))
    for i, name in enumerate(("DOF_MODE_POS", "STATE_ALL", "STATE_POS", "UP_AXIS_Z",
                              "SIM_PHYSX", "ENV_SPACE")):
        setattr(gymapi, name, i + 1)
    gym = _FakeGym(hand.joint_names, gymapi)
    gymapi.acquire_gym = lambda: gym
    package = types.ModuleType("isaacgym")
    package.gymapi = gymapi
    package.__spec__ = importlib.machinery.ModuleSpec("isaacgym", None)
    monkeypatch.setitem(sys.modules, "isaacgym", package)
    monkeypatch.setitem(sys.modules, "isaacgym.gymapi", gymapi)
    monkeypatch.delitem(sys.modules, "seqgrasp_core.validation.isaacgym_sim", raising=False)
    yield gym
    sys.modules.pop("seqgrasp_core.validation.isaacgym_sim", None)  # bound to the stand-in


def test_isaacgym_validator_shakes_each_row_in_six_directions(hand, fake_isaacgym):
    """Three rows: the pinched box (held), the box beside the open hand (not touching)
    and a box 2 cm deep in the palm (failed by penetration, never simulated)."""
    from seqgrasp_core.validation.isaacgym_validator import IsaacGymValidator

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
    assert results[2].max_penetration_mm == pytest.approx(20.0, abs=3.0)
    assert results[2].hand_penetration_mm == results[2].max_penetration_mm
    gym = fake_isaacgym
    assert len(gym.envs) == 12 and gym.sims == gym.destroyed == 2  # the deep row: no sim
    steps = PAPER_PROTOCOL.steps
    assert len(gym.forces) == 12 * steps
    mass = scene_object(box, [], 500.0).mass
    pushed = {env: np.array(f) for env, _, f in gym.forces[:6]}
    for env, force in pushed.items():
        assert force == pytest.approx(mass * 9.8 * np.array(PAPER_PROTOCOL.directions[env]))
    first = gym.envs[0]
    assert first["props"]["stiffness"].tolist() == [1000.0] * len(hand.joint_names)
    assert first["actors"][0]["friction"] == first["actors"][1]["friction"] == 2.0
    # The stand-in's DOF order is reversed: the hand must start at the row's joints.
    task, _ = _task(hand, [(box, pose)], q, mask_of(hand, "ff"))
    assert np.allclose(first["targets"][::-1], shared.closed_state(task).targets, atol=1e-6)


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
