"""The protocol in MuJoCo: close the fingers, then shake along each axis.

Closing is kinematic and hand-agnostic. The joints being closed are grouped into
*chains* (the joints under one child of the hand's root body, i.e. one finger). For
each chain, its hand point closest to any object is found (``mj_geomDistance``) and
the chain's closing joints move along ``Jᵀ n`` (``J`` the point's Jacobian, ``n``
the unit vector to the object) until the gap is at most half the closing distance,
a joint limit stops it, or nothing lies within 3 cm. The drives' targets are then
set ``squeeze`` past contact along the same direction, so each closed finger presses.
"""

from __future__ import annotations

import numpy as np

from seqgrasp_core.validation.protocol import ValidationProtocol
from seqgrasp_core.validation.scene import MuJoCoSettings, SceneIndex

REACH = 0.03          # m: a chain with no object this close is left where it is
LOST_DISTANCE = 0.15  # m: an object this far from its start has fallen away


def set_state(model, data, index: SceneIndex, joints: np.ndarray,
              object_poses: list[np.ndarray]) -> None:
    """Hand joints (K, rad) and objects' hand-frame poses (4×4) into ``data.qpos``."""
    import mujoco

    data.qpos[:] = 0.0
    data.qpos[index.qpos] = joints
    quat = np.empty(4)
    for adr, pose in zip(index.object_qpos, object_poses):
        data.qpos[adr:adr + 3] = pose[:3, 3]
        mujoco.mju_mat2Quat(quat, np.ascontiguousarray(pose[:3, :3]).ravel())
        data.qpos[adr + 3:adr + 7] = quat
    data.qvel[:] = 0.0


def _chains(model, index: SceneIndex, closing: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(joint slots (hand order), hand geom ids)]``, one per finger with closing joints."""
    parent = model.body_parentid
    root = {b for b in range(1, model.nbody) if parent[b] == 0}

    def top(body):  # the ancestor of ``body`` that is a child of a root body
        while parent[body] not in root and parent[body] != 0:
            body = parent[body]
        return body

    joint_body = model.jnt_bodyid[[int(np.nonzero(model.jnt_qposadr == a)[0][0])
                                   for a in index.qpos]]
    geom_top = {g: top(model.geom_bodyid[g]) for g in index.hand_geoms
                if model.geom_bodyid[g] not in root}
    out = []
    for t in sorted({top(b) for b, c in zip(joint_body, closing) if c}):
        slots = np.array([k for k, b in enumerate(joint_body) if closing[k] and top(b) == t])
        geoms = np.array([g for g, gt in geom_top.items() if gt == t])
        if len(geoms):
            out.append((slots, geoms))
    return out


def _closest(model, data, geoms, object_geoms, reach):
    import mujoco

    best, best_ft, best_g = reach, None, -1
    fromto = np.zeros(6)
    for g in geoms:
        for o in object_geoms:
            dist = mujoco.mj_geomDistance(model, data, int(g), int(o), reach, fromto)
            if dist < best:
                best, best_ft, best_g = dist, fromto.copy(), int(g)
    return best, best_ft, best_g


def _approach(data, fromto, geom, dist):
    """Unit vector from the hand point towards the object (None if undefined)."""
    normal = fromto[3:] - fromto[:3]
    length = np.linalg.norm(normal)
    if length > 1e-7:
        return normal / length if dist > 0 else -normal / length
    # Touching: the segment has no direction; go from the geom's centre to the point.
    normal = fromto[:3] - data.geom_xpos[geom]
    length = np.linalg.norm(normal)
    return normal / length if length > 1e-9 else None


def close_fingers(model, data, index: SceneIndex, joints: np.ndarray, closing: np.ndarray,
                  protocol: ValidationProtocol, settings: MuJoCoSettings
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``(closed joints, drive targets)`` (K, rad) for the state already in ``data``."""
    import mujoco

    q = np.array(joints, dtype=float)
    targets = q.copy()
    all_objects = np.concatenate(index.object_geoms) if index.object_geoms else np.array([])
    jacp = np.zeros((3, model.nv))
    goal = protocol.closing_distance / 2
    for slots, geoms in _chains(model, index, np.asarray(closing, dtype=bool)):
        dofs = index.dof[slots]
        direction = None
        for _ in range(settings.close_iterations):
            data.qpos[index.qpos] = q
            mujoco.mj_kinematics(model, data)
            mujoco.mj_comPos(model, data)  # for mj_jac
            dist, fromto, g = _closest(model, data, geoms, all_objects, REACH)
            if fromto is None:
                break
            normal = _approach(data, fromto, g, dist)
            if normal is None:
                break
            mujoco.mj_jac(model, data, jacp, None, fromto[:3], int(model.geom_bodyid[g]))
            v = jacp[:, dofs].T @ normal
            gain = float(v @ v)
            if gain < 1e-10:
                break
            direction = v / gain  # joint change per metre of approach
            if dist <= goal * 2:
                break
            dq = direction * (dist - goal)
            dq *= min(1.0, settings.close_step / np.max(np.abs(dq)))
            new = np.clip(q[slots] + dq, index.lower[slots], index.upper[slots])
            if np.max(np.abs(new - q[slots])) < 1e-6:
                break
            q[slots] = new
        if direction is not None:
            data.qpos[index.qpos] = q
            mujoco.mj_kinematics(model, data)
            dist, _, _ = _closest(model, data, geoms, all_objects, REACH)
            if dist <= protocol.closing_distance:
                push = direction * (max(dist, 0.0) + settings.squeeze)
                targets[slots] = np.clip(q[slots] + push, index.lower[slots],
                                         index.upper[slots])
                continue
        targets[slots] = q[slots]
    targets[~np.asarray(closing, dtype=bool)] = q[~np.asarray(closing, dtype=bool)]
    data.qpos[index.qpos] = q
    return q, targets


def touching(model, data, index: SceneIndex, margin: float) -> np.ndarray:
    """``(n,)`` bool: object i is within ``margin`` metres of some hand geom.

    Uses ``mj_geomDistance`` (exact for primitives and convex pieces) after a
    bounding-sphere test; needs ``mj_kinematics`` to have run.
    """
    import mujoco

    hand = index.hand_geoms
    hand_pos, hand_r = data.geom_xpos[hand], model.geom_rbound[hand]
    out = np.zeros(len(index.object_geoms), dtype=bool)
    for i, geoms in enumerate(index.object_geoms):
        for o in geoms:
            gap = (np.linalg.norm(hand_pos - data.geom_xpos[o], axis=1) - hand_r
                   - model.geom_rbound[o])
            for h in hand[gap <= margin]:
                if mujoco.mj_geomDistance(model, data, int(h), int(o), margin, None) <= margin:
                    out[i] = True
                    break
            if out[i]:
                break
    return out


CHECK_EVERY = 10  # steps between checks for a lost object (a cheap read of qpos)


def shake(model, data, index: SceneIndex, joints: np.ndarray, targets: np.ndarray,
          object_poses: list[np.ndarray], protocol: ValidationProtocol,
          settings: MuJoCoSettings, order: list[int] | None = None) -> int | None:
    """Run every direction from the closed state, in ``order`` (indices into
    ``protocol.directions``; protocol order by default), stopping at the first that
    fails. Returns ``None`` when every object stays in touch in every run, else the
    index of the failing direction.

    Each run starts from the same closed state with fresh ``data``, so the runs are
    independent and their order changes only how soon a failing row stops.
    """
    import mujoco

    n_steps = max(1, int(round(protocol.duration / settings.timestep)))
    position = (np.asarray(index.object_qpos)[:, None] + np.arange(3)).ravel()
    free_dof = model.jnt_dofadr[model.body_jntadr[np.asarray(index.object_body, dtype=int)]]
    velocity = (free_dof[:, None] + np.arange(3)).ravel()  # a free joint's linear part
    settle = settings.settle_speed
    for k in (range(len(protocol.directions)) if order is None else order):
        mujoco.mj_resetData(model, data)
        set_state(model, data, index, joints, object_poses)
        data.ctrl[index.actuator] = targets
        model.opt.gravity[:] = np.asarray(protocol.directions[k]) * protocol.acceleration
        start = data.qpos[position]
        still = 0  # consecutive checks with every object slower than ``settle``
        for done in range(0, n_steps, CHECK_EVERY):
            count = min(CHECK_EVERY, n_steps - done)
            mujoco.mj_step(model, data, count)  # the steps between checks, in C
            if count == CHECK_EVERY:
                moved2 = np.square(data.qpos[position] - start).reshape(-1, 3).sum(1)
                if not np.all(moved2 <= LOST_DISTANCE ** 2):  # also false for NaN
                    return k
                if settle is not None:
                    speed2 = np.square(data.qvel[velocity]).reshape(-1, 3).sum(1)
                    still = still + 1 if np.all(speed2 < settle ** 2) else 0
                    if still >= settings.settle_checks:
                        break  # at rest: the run's end state is already reached
        mujoco.mj_kinematics(model, data)
        if not touching(model, data, index, protocol.closing_distance).all():
            return k
    return None
