"""The hand frame of an imported hand, and how its joints move its fingertips.

Convention: the hand frame is the URDF's root link; **the palm faces +x and the
fingers point +z** (as the bundled Allegro hand), the origin is the source root
body's origin. The import turns the root link (its geometry, its inertial and its
child joints' origins) so that the source hand meets the convention:

- finger direction ``f``: from the root's origin to the mean of the *tips* at the open
  pose. A tip is a leaf body of the hand that some joint moves, at the centroid of its
  collision geometry (its origin when it has none). With three tips or more, the tip
  farthest in angle from the mean (the thumb, usually) is left out of the mean.
- palm normal ``n``: the direction the tips move when the hand closes, made
  orthogonal to ``f``. A joint *closes* towards the far side of its range from the
  open pose: its weight is ``((upper − open) − (open − lower)) / (upper − lower)``, so
  a flexion joint (range mostly on one side) counts fully and a joint with a range
  symmetric about the open pose (abduction, most wrist joints) not at all. ``n`` is
  the weighted sum over joints of the summed tip velocities (finite differences in
  MuJoCo's kinematics). If every range is symmetric, the joints count towards their
  upper limits instead. If the motions cancel (a gripper whose fingers close on each
  other), there is no such ``n``: the import asks for ``--no-orient``, and without
  orienting, the palm normal is ``f``.

Each estimate within :data:`SNAP_DEG` of an axis of the source root frame is taken to be
that axis (``f`` first, then ``n`` among the axes orthogonal to it), so that a model
built square to its palm stays square. Then ``n`` becomes +x and ``f`` +z.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqgrasp_core.errors import HandSpecError

STEP = 1e-4  # finite-difference step of a joint (rad or m)
CANCEL = 0.1  # joint motions whose sum is shorter than this share of their lengths cancel
SNAP_DEG = 20.0  # an estimated direction this close to a source axis becomes that axis


@dataclass(frozen=True)
class HandFrame:
    """``rotation`` (3×3): the hand frame's x, y, z axes as columns, in the source root
    body's frame (points map to the hand frame by ``rotation.T @ p``); ``finger`` and
    ``palm`` are the estimated ``f`` and ``n`` in the source root frame."""

    rotation: np.ndarray
    finger: np.ndarray
    palm: np.ndarray
    oriented: bool


def tips(source, shapes) -> dict[int, np.ndarray]:
    """The tip point (body frame) of each leaf body some joint moves: the volume-weighted
    centre of its shapes, or its origin."""
    out = {}
    for b in source.bodies:
        if source.children(b) or b == source.root or not _moved(source, b):
            continue
        own = shapes.get(b, [])
        weights = np.array([max(s.volume, 1e-12) for s in own])
        out[b] = (np.average([s.pose[:3, 3] for s in own], axis=0, weights=weights)
                  if own else np.zeros(3))
    return out


def _moved(source, b: int) -> bool:
    while b != source.root:
        if source.joints[b]:
            return True
        b = source.parent(b)
    return False


def _snap(v: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """``v`` (unit), or the nearest of ``±axes`` when within :data:`SNAP_DEG`."""
    if not len(axes):
        return v
    dots = axes @ v
    i = int(np.argmax(np.abs(dots)))
    if abs(dots[i]) >= np.cos(np.radians(SNAP_DEG)):
        return np.sign(dots[i]) * axes[i]
    return v


def closing_weights(lower, upper, open_pose) -> np.ndarray:
    lower, upper, q0 = (np.asarray(v, dtype=float) for v in (lower, upper, open_pose))
    span = np.maximum(upper - lower, 1e-12)
    return ((upper - q0) - (q0 - lower)) / span


def tip_motion(body_poses, tips: dict[int, np.ndarray], q: np.ndarray) -> np.ndarray:
    """``(K, 3)``: for each joint, the summed velocity of the tips (root frame) per unit
    of joint motion at ``q``. ``body_poses(q)`` gives body frames relative to the root;
    ``tips`` maps a body to its tip point in its own frame."""
    def points(qq):
        poses = body_poses(qq)
        return np.array([poses[b][:3, :3] @ p + poses[b][:3, 3] for b, p in tips.items()])

    out = np.zeros((len(q), 3))
    for j in range(len(q)):  # central differences
        ahead, behind = np.array(q, dtype=float), np.array(q, dtype=float)
        ahead[j] += STEP
        behind[j] -= STEP
        out[j] = (points(ahead) - points(behind)).sum(axis=0) / (2 * STEP)
    return out


def closing_direction(motion: np.ndarray, weights: np.ndarray, upper_side: np.ndarray,
                      joints: list[int]) -> np.ndarray | None:
    """The weighted tip motion of ``joints`` (indices into ``motion``), unit; ``None``
    when those joints move no tip or their motions cancel (the sum is shorter than
    :data:`CANCEL` times the summed lengths). ``upper_side`` (upper − open) weighs the
    joints when every weight is zero."""
    for w in (weights, np.sign(upper_side)):
        parts = w[joints, None] * motion[joints]
        scale = float(np.linalg.norm(parts, axis=1).sum())
        if scale > 1e-9:
            v = parts.sum(axis=0)
            return v / np.linalg.norm(v) if np.linalg.norm(v) > CANCEL * scale else None
    return None


def hand_frame(body_poses, tips: dict[int, np.ndarray], open_pose: np.ndarray,
               weights: np.ndarray, upper_side: np.ndarray, orient: bool = True) -> HandFrame:
    """Estimate ``f`` and ``n`` (see the module docstring) and the rotation that takes
    them to +z and +x; with ``orient=False`` the rotation is the identity."""
    poses = body_poses(open_pose)
    ends = np.array([poses[b][:3, :3] @ p + poses[b][:3, 3] for b, p in tips.items()])
    f = ends.mean(axis=0)
    if len(ends) >= 3 and np.linalg.norm(f) > 1e-6:
        unit = ends / np.maximum(np.linalg.norm(ends, axis=1, keepdims=True), 1e-12)
        odd = int(np.argmin(unit @ (f / np.linalg.norm(f))))
        f = np.delete(ends, odd, axis=0).mean(axis=0)
    if np.linalg.norm(f) < 1e-6:
        if not orient:
            return HandFrame(np.eye(3), np.array([0.0, 0.0, 1.0]), np.array([1.0, 0, 0]), False)
        raise HandSpecError("cannot tell which way the fingers point: the fingertips' "
                            "mean is at the root's origin",
                            "pass --no-orient, or choose another --root")
    f = _snap(f / np.linalg.norm(f), np.eye(3))
    motion = tip_motion(body_poses, tips, open_pose)
    n = closing_direction(motion, weights, upper_side, list(range(len(open_pose))))
    n = None if n is None else n - (n @ f) * f
    if n is None or np.linalg.norm(n) < 1e-6:
        if not orient:  # a gripper: the fingers close on each other in front of the palm
            return HandFrame(np.eye(3), f, f, False)
        raise HandSpecError("cannot tell which side the palm faces: closing the joints "
                            "moves the fingertips only along the fingers, or the fingers "
                            "close on each other (a gripper)",
                            "pass --no-orient: the palm then faces along the fingers")
    n = n / np.linalg.norm(n)
    n = _snap(n, np.array([a for a in np.eye(3) if abs(a @ f) < 1e-9]).reshape(-1, 3))
    if not orient:
        return HandFrame(np.eye(3), f, n, False)
    return HandFrame(np.stack([n, np.cross(f, n), f], axis=1), f, n, True)
