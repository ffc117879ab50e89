"""The shaking runs of the ``isaacgym`` validator, in Isaac Gym's own interpreter.

Run by the Python 3.8 interpreter that has Isaac Gym Preview 4 (NVIDIA GPU)::

    PYTHON isaacgym_worker.py IN_DIR OUT_DIR
    PYTHON isaacgym_worker.py --check       (exits 0 when isaacgym imports)

It imports only the standard library, numpy and isaacgym, in Python 3.8 syntax.
``IN_DIR`` (written by :mod:`.isaacgym_process`) holds ``scene.json`` (the hand's
URDF path and joint names, the objects' URDF files beside it and their masses in kg,
the protocol, the settings) and ``runs.npz``: ``joints`` and ``targets`` (R, K) rad in
the hand's joint order, ``counts`` (R,) objects per run, ``objects`` (N,) indices
into the scene's objects and ``poses`` (N, 4, 4) their hand-frame poses (m), runs
one after the other. It writes ``OUT_DIR/finals.npz`` (atomically): ``joints``
(R, D, K) and ``poses`` (N, D, 4, 4), the final state per run and direction.

One environment per run and direction, many per simulation: the hand (root fixed,
no gravity, position drives) and the run's objects at their hand-frame poses, the
fingers already closed with their drive targets set past contact. Gravity is off;
each object is pushed by ``mass × acceleration`` along its environment's direction
at every step, so the test acceleration acts on the objects only, as in the MuJoCo
validator. The worker drops its own folder from ``sys.path``, so that the package's
modules beside it shadow nothing it imports.
"""

import json
import math
import os
import sys
import types

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import numpy as np
from isaacgym import gymapi

HAND_FILTER = 1  # shapes of one actor sharing a filter bit do not collide: no hand self-contact
SCENE, RUNS, FINALS = "scene.json", "runs.npz", "finals.npz"


class Run:
    """One run: closed joints and drive targets (K,) rad, object indices (n,) and
    their hand-frame poses (n, 4, 4) m."""

    def __init__(self, joints, targets, objects, poses):
        self.joints, self.targets, self.objects, self.poses = joints, targets, objects, poses


def read_inputs(in_dir):
    """``(scene dict, protocol, settings, [Run])`` from ``in_dir``."""
    with open(os.path.join(in_dir, SCENE)) as f:
        scene = json.load(f)
    with np.load(os.path.join(in_dir, RUNS), allow_pickle=False) as data:
        joints, targets = data["joints"], data["targets"]
        counts, objects, poses = data["counts"], data["objects"], data["poses"]
    starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(int)
    runs = [Run(joints[i], targets[i], objects[s:s + n].tolist(), poses[s:s + n])
            for i, (s, n) in enumerate(zip(starts, counts.astype(int)))]
    return (scene, types.SimpleNamespace(**scene["protocol"]),
            types.SimpleNamespace(**scene["settings"]), runs)


def write_finals(out_dir, finals, runs, n_joints, n_directions):
    """``finals`` ({run index: [(joints (K,), poses (n, 4, 4)) per direction]}) as
    ``out_dir``/finals.npz, written to a temporary file first, then renamed."""
    joints = np.full((len(runs), n_directions, n_joints), np.nan)
    poses = np.full((sum(len(r.objects) for r in runs), n_directions, 4, 4), np.nan)
    start = 0
    for i, run in enumerate(runs):
        for d, (q, p) in enumerate(finals[i]):
            joints[i, d] = q
            poses[start:start + len(run.objects), d] = p
        start += len(run.objects)
    path = os.path.join(out_dir, FINALS)
    partial = path + ".partial"
    with open(partial, "wb") as f:
        np.savez(f, joints=joints, poses=poses)
    os.replace(partial, path)


def quat_xyzw(rotation):
    """Isaac Gym's quaternion (x, y, z, w) of a rotation matrix (3, 3)."""
    m = np.asarray(rotation, dtype=float)
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0.0:
        s = 2.0 * math.sqrt(trace + 1.0)
        q = (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, s / 4.0
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = s / 4.0, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = (m[0, 1] + m[1, 0]) / s, s / 4.0, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s
    else:
        s = 2.0 * math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, s / 4.0, (m[1, 0] - m[0, 1]) / s
    norm = math.sqrt(sum(v * v for v in q))
    return tuple(float(v / norm) for v in q)


def pose_matrix(p, r):
    """4×4 from Isaac Gym's position (x, y, z) and quaternion (x, y, z, w) fields
    (NaN where the quaternion is not a rotation)."""
    x, y, z, w = (float(r[k]) for k in "xyzw")
    norm2 = x * x + y * y + z * z + w * w
    s = 2.0 / norm2 if norm2 > 0.0 else float("nan")
    out = np.eye(4)
    out[:3, :3] = [[1.0 - s * (y * y + z * z), s * (x * y - z * w), s * (x * z + y * w)],
                   [s * (x * y + z * w), 1.0 - s * (x * x + z * z), s * (y * z - x * w)],
                   [s * (x * z - y * w), s * (y * z + x * w), 1.0 - s * (x * x + y * y)]]
    out[:3, 3] = [p["x"], p["y"], p["z"]]
    return out


def _sim(gym, protocol, settings):
    params = gymapi.SimParams()
    params.dt = protocol.step_dt
    params.substeps = protocol.substeps
    params.up_axis = gymapi.UP_AXIS_Z
    params.gravity = gymapi.Vec3(0.0, 0.0, 0.0)
    params.use_gpu_pipeline = False  # the CPU-side state API below needs it off
    params.physx.use_gpu = settings.use_gpu
    params.physx.solver_type = 1
    params.physx.num_position_iterations = settings.position_iterations
    params.physx.num_velocity_iterations = settings.velocity_iterations
    params.physx.contact_offset = protocol.closing_distance
    params.physx.rest_offset = 0.0
    sim = gym.create_sim(settings.device_id, -1, gymapi.SIM_PHYSX, params)
    if sim is None:
        raise RuntimeError("Isaac Gym could not create a PhysX simulation")
    return sim


def shake_runs(scene, protocol, settings, runs, in_dir):
    """``{run index: [(final joints (K,), final object poses (n, 4, 4)) per direction]}``."""
    gym = gymapi.acquire_gym()
    out = {}
    per_sim = max(1, settings.envs_per_sim // len(protocol.directions))
    for start in range(0, len(runs), per_sim):
        batch = [(i, runs[i]) for i in range(start, min(start + per_sim, len(runs)))]
        out.update(_shake_batch(gym, scene, batch, protocol, settings, in_dir))
    return out


def _shake_batch(gym, scene, batch, protocol, settings, in_dir):
    sim = _sim(gym, protocol, settings)
    try:
        hand_options = gymapi.AssetOptions()
        hand_options.fix_base_link = True
        hand_options.disable_gravity = True
        hand_options.default_dof_drive_mode = gymapi.DOF_MODE_POS
        hand_options.collapse_fixed_joints = False
        urdf = scene["hand_urdf"]
        hand = gym.load_asset(sim, os.path.dirname(urdf), os.path.basename(urdf), hand_options)
        dof_names = list(gym.get_asset_dof_names(hand))
        joint_names = list(scene["joint_names"])
        order = np.array([joint_names.index(n) for n in dof_names])  # asset dof -> ours
        dof_props = gym.get_asset_dof_properties(hand)
        dof_props["driveMode"].fill(gymapi.DOF_MODE_POS)
        dof_props["stiffness"].fill(settings.stiffness)
        dof_props["damping"].fill(settings.damping)

        object_options = gymapi.AssetOptions()
        object_options.override_com = False
        object_options.override_inertia = False
        assets = {}
        for key in sorted({k for _, r in batch for k in r.objects}):
            assets[key] = gym.load_asset(sim, in_dir, scene["objects"][key]["urdf"], object_options)
        masses = [o["mass"] for o in scene["objects"]]

        spacing = 0.5
        lower, upper = gymapi.Vec3(-spacing, -spacing, -spacing), gymapi.Vec3(spacing, spacing, spacing)
        per_row = int(np.ceil(np.sqrt(len(batch) * len(protocol.directions))))
        envs = []  # (env, hand actor, [(object actor, body handle, force)], run index)
        for index, run in batch:
            for direction in protocol.directions:
                env = gym.create_env(sim, lower, upper, per_row)
                actor, held = _populate(gym, env, len(envs), hand, dof_props, order, assets,
                                        masses, run, protocol, direction)
                envs.append((env, actor, held, index))

        no_torque = gymapi.Vec3(0.0, 0.0, 0.0)
        for _ in range(protocol.steps):
            for env, _, held, _ in envs:
                for _, body, force in held:
                    gym.apply_body_forces(env, body, force, no_torque, gymapi.ENV_SPACE)
            gym.simulate(sim)
            gym.fetch_results(sim, True)

        out = {}
        for env, actor, held, index in envs:
            q = np.empty(len(dof_names))
            q[order] = gym.get_actor_dof_states(env, actor, gymapi.STATE_POS)["pos"]
            poses = []
            for obj, _, _ in held:
                pose = gym.get_actor_rigid_body_states(env, obj, gymapi.STATE_POS)["pose"][0]
                poses.append(pose_matrix(pose["p"], pose["r"]))
            out.setdefault(index, []).append((q, np.stack(poses)))
        return out
    finally:
        gym.destroy_sim(sim)


def _populate(gym, env, group, hand, dof_props, order, assets, masses, run, protocol, direction):
    """The hand and the run's objects in ``env`` (collision group ``group``), the hand
    closed and its drives set; returns ``(hand actor, [(object actor, body handle,
    force)])``, the force being the object's mass × the test acceleration along
    ``direction`` (N, env frame = hand frame)."""
    actor = gym.create_actor(env, hand, gymapi.Transform(), "hand", group, HAND_FILTER)
    gym.set_actor_dof_properties(env, actor, dof_props)
    state = np.zeros(len(order), dtype=gymapi.DofState.dtype)
    state["pos"] = run.joints[order]
    gym.set_actor_dof_states(env, actor, state, gymapi.STATE_ALL)
    gym.set_actor_dof_position_targets(env, actor, run.targets[order].astype(np.float32))
    _set_friction(gym, env, actor, protocol.friction)
    accel = np.asarray(direction, dtype=float) * protocol.acceleration
    held = []
    for k, (key, pose) in enumerate(zip(run.objects, run.poses)):
        place = gymapi.Transform()
        place.p = gymapi.Vec3(*map(float, pose[:3, 3]))
        place.r = gymapi.Quat(*quat_xyzw(pose[:3, :3]))
        obj = gym.create_actor(env, assets[key], place, f"object{k}", group, 0)
        _set_friction(gym, env, obj, protocol.friction)
        held.append((obj, gym.get_actor_rigid_body_handle(env, obj, 0),
                     gymapi.Vec3(*map(float, masses[key] * accel))))
    return actor, held


def _set_friction(gym, env, actor, friction):
    props = gym.get_actor_rigid_shape_properties(env, actor)
    for p in props:
        p.friction = friction
    gym.set_actor_rigid_shape_properties(env, actor, props)


def main(argv):
    if argv == ["--check"]:
        return 0
    if len(argv) != 2:
        sys.stderr.write("usage: isaacgym_worker.py IN_DIR OUT_DIR | --check\n")
        return 2
    in_dir, out_dir = (os.path.abspath(a) for a in argv)
    scene, protocol, settings, runs = read_inputs(in_dir)
    finals = shake_runs(scene, protocol, settings, runs, in_dir)
    write_finals(out_dir, finals, runs, len(scene["joint_names"]), len(protocol.directions))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
