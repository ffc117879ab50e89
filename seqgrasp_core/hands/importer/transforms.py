"""Rigid transforms as 4×4 numpy matrices (metres), and URDF's roll-pitch-yaw."""

from __future__ import annotations

import math

import numpy as np


def quat_matrix(quat) -> np.ndarray:
    """The rotation ``(3, 3)`` of a unit quaternion ``(w, x, y, z)`` (MuJoCo's order)."""
    w, x, y, z = np.asarray(quat, dtype=float) / np.linalg.norm(quat)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def pose(pos=(0.0, 0.0, 0.0), rot=None) -> np.ndarray:
    """The transform ``(4, 4)`` with translation ``pos`` and rotation ``rot`` (3×3)."""
    t = np.eye(4)
    if rot is not None:
        t[:3, :3] = rot
    t[:3, 3] = pos
    return t


def mj_pose(pos, quat) -> np.ndarray:
    """A MuJoCo ``pos``/``quat`` pair as a transform."""
    return pose(pos, quat_matrix(quat))


def inverse(t: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = t[:3, :3].T
    out[:3, 3] = -t[:3, :3].T @ t[:3, 3]
    return out


def apply(t: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points ``(N, 3)`` moved by ``t``."""
    return np.asarray(points) @ t[:3, :3].T + t[:3, 3]


def rpy(rot: np.ndarray) -> tuple[float, float, float]:
    """URDF roll, pitch, yaw (rad) of a rotation: ``R = Rz(yaw) Ry(pitch) Rx(roll)``."""
    r = np.asarray(rot)
    cos_pitch = math.hypot(r[0, 0], r[1, 0])
    pitch = math.atan2(-r[2, 0], cos_pitch)
    if cos_pitch > 1e-9:
        return math.atan2(r[2, 1], r[2, 2]), pitch, math.atan2(r[1, 0], r[0, 0])
    # Gimbal lock (pitch = ±90°): only roll ∓ yaw is defined; put it all in roll.
    return math.atan2(-r[1, 2], r[1, 1]), pitch, 0.0


def rpy_matrix(roll: float, pitch: float, yaw: float) -> np.ndarray:
    cr, sr, cp, sp, cy, sy = (math.cos(roll), math.sin(roll), math.cos(pitch),
                              math.sin(pitch), math.cos(yaw), math.sin(yaw))
    return np.array([[cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
                     [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
                     [-sp, cp * sr, cp * cr]])
