"""The shaking runs in Isaac Gym (imported only when ``isaacgym`` is installed).

One environment per row and direction, many per simulation: the hand (root fixed,
no gravity, position drives) and the row's objects at their hand-frame poses, the
fingers already closed (by the shared closing procedure) with their drive targets
set past contact. Gravity is off; each object is pushed by ``mass × acceleration``
along its environment's direction at every step, so the test acceleration acts on
the objects only, as in the MuJoCo validator. Results are the final joints and
object poses of every run; the end-of-run test is shared with MuJoCo.

This module could not be run where it was written (no Isaac Gym, no NVIDIA GPU);
the calls are those of Isaac Gym Preview 4's documented Python API.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from isaacgym import gymapi  # noqa: F401  (only imported when installed)

from seqgrasp_core.validation.protocol import ValidationProtocol
from seqgrasp_core.validation.steps import ObjectKey, StepTask
from seqgrasp_core.validation.urdf_assets import object_urdf

HAND_FILTER = 1  # shapes of one actor sharing a filter bit do not collide: no hand self-contact


@dataclass(frozen=True)
class IsaacRun:
    """One row to shake: its task and its closed state (hand joint order, rad)."""

    task: StepTask
    joints: np.ndarray
    targets: np.ndarray


def _quat_xyzw(rotation: np.ndarray) -> tuple[float, float, float, float]:
    """Isaac Gym's quaternion order (x, y, z, w) of a rotation matrix."""
    import mujoco

    wxyz = np.empty(4)
    mujoco.mju_mat2Quat(wxyz, np.ascontiguousarray(rotation, dtype=float).ravel())
    return float(wxyz[1]), float(wxyz[2]), float(wxyz[3]), float(wxyz[0])


def _pose_matrix(p, r) -> np.ndarray:
    """4×4 from Isaac Gym's position (x, y, z) and quaternion (x, y, z, w) fields."""
    import mujoco

    rotation = np.empty(9)
    mujoco.mju_quat2Mat(rotation, np.array([r["w"], r["x"], r["y"], r["z"]], dtype=float))
    out = np.eye(4)
    out[:3, :3] = rotation.reshape(3, 3)
    out[:3, 3] = [p["x"], p["y"], p["z"]]
    return out


def _sim(gym, protocol: ValidationProtocol, settings):
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


def shake_runs(urdf_path: str, joint_names: tuple[str, ...], bodies: dict, runs: list[IsaacRun],
               protocol: ValidationProtocol, settings, folder: Path
               ) -> dict[int, list[tuple[np.ndarray, np.ndarray]]]:
    """``{row: [(final joints (K,), final object poses (n, 4, 4)) per direction]}``.

    ``bodies`` maps each :data:`ObjectKey` to its :class:`~.scene.SceneObject`;
    ``folder`` receives the objects' URDF assets.
    """
    gym = gymapi.acquire_gym()
    out: dict[int, list] = {}
    per_sim = max(1, settings.envs_per_sim // len(protocol.directions))
    for start in range(0, len(runs), per_sim):
        out.update(_shake_batch(gym, urdf_path, joint_names, bodies,
                                runs[start:start + per_sim], protocol, settings, folder))
    return out


def _shake_batch(gym, urdf_path, joint_names, bodies, runs, protocol, settings, folder):
    sim = _sim(gym, protocol, settings)
    try:
        hand_options = gymapi.AssetOptions()
        hand_options.fix_base_link = True
        hand_options.disable_gravity = True
        hand_options.default_dof_drive_mode = gymapi.DOF_MODE_POS
        hand_options.collapse_fixed_joints = False
        urdf = Path(urdf_path)
        hand = gym.load_asset(sim, str(urdf.parent), urdf.name, hand_options)
        dof_names = list(gym.get_asset_dof_names(hand))
        order = np.array([joint_names.index(n) for n in dof_names])  # asset dof -> ours
        dof_props = gym.get_asset_dof_properties(hand)
        dof_props["driveMode"].fill(gymapi.DOF_MODE_POS)
        dof_props["stiffness"].fill(settings.stiffness)
        dof_props["damping"].fill(settings.damping)

        object_options = gymapi.AssetOptions()
        object_options.override_com = False
        object_options.override_inertia = False
        assets: dict[ObjectKey, object] = {}
        for i, key in enumerate(sorted({k for r in runs for k in r.task.objects})):
            path = object_urdf(folder, f"object{i}", bodies[key])
            assets[key] = gym.load_asset(sim, str(folder), path.name, object_options)

        spacing = 0.5
        lower, upper = gymapi.Vec3(-spacing, -spacing, -spacing), gymapi.Vec3(spacing, spacing, spacing)
        per_row = int(np.ceil(np.sqrt(len(runs) * len(protocol.directions))))
        envs = []  # (env, hand actor, [(object actor, body handle, force)], run)
        for run in runs:
            for direction in protocol.directions:
                env = gym.create_env(sim, lower, upper, per_row)
                envs.append((env, *_populate(gym, env, len(envs), hand, dof_props, order, assets,
                                             bodies, run, protocol, direction), run))

        no_torque = gymapi.Vec3(0.0, 0.0, 0.0)
        for _ in range(protocol.steps):
            for env, _, held, _ in envs:
                for _, body, force in held:
                    gym.apply_body_forces(env, body, force, no_torque, gymapi.ENV_SPACE)
            gym.simulate(sim)
            gym.fetch_results(sim, True)

        out: dict[int, list] = {}
        for env, actor, held, run in envs:
            q = np.empty(len(dof_names))
            q[order] = gym.get_actor_dof_states(env, actor, gymapi.STATE_POS)["pos"]
            poses = []
            for obj, _, _ in held:
                pose = gym.get_actor_rigid_body_states(env, obj, gymapi.STATE_POS)["pose"][0]
                poses.append(_pose_matrix(pose["p"], pose["r"]))
            out.setdefault(run.task.row, []).append((q, np.stack(poses)))
        return out
    finally:
        gym.destroy_sim(sim)


def _populate(gym, env, group: int, hand, dof_props, order, assets, bodies, run: IsaacRun,
              protocol: ValidationProtocol, direction) -> tuple:
    """The hand and the row's objects in ``env`` (collision group ``group``), the hand
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
    accel = np.asarray(direction) * protocol.acceleration
    held = []
    for k, (key, pose) in enumerate(zip(run.task.objects, run.task.object_in_hand)):
        place = gymapi.Transform()
        place.p = gymapi.Vec3(*map(float, pose[:3, 3]))
        place.r = gymapi.Quat(*_quat_xyzw(pose[:3, :3]))
        obj = gym.create_actor(env, assets[key], place, f"object{k}", group, 0)
        _set_friction(gym, env, obj, protocol.friction)
        held.append((obj, gym.get_actor_rigid_body_handle(env, obj, 0),
                     gymapi.Vec3(*map(float, bodies[key].mass * accel))))
    return actor, held


def _set_friction(gym, env, actor, friction: float) -> None:
    props = gym.get_actor_rigid_shape_properties(env, actor)
    for p in props:
        p.friction = friction
    gym.set_actor_rigid_shape_properties(env, actor, props)
