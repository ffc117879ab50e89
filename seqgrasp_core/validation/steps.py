"""From run-table rows to self-contained validation tasks.

Row ``r`` at step ``n`` of sequence ``s`` becomes one :class:`StepTask`: the hand at
row ``r``'s joints holding objects ``1..n`` of ``s``, where object ``i`` sits in the
hand frame at the inverse of row ``i``'s pose (the pose is the hand in object ``i``'s
frame, and held objects move rigidly with the hand). The joints to close are those
of every opposition space used so far (the union of the masks of rows ``1..n``).

A row whose joints, or the pose or scale of any object it holds, are not finite
numbers (or whose rotation is degenerate, or scale not positive) cannot be simulated: its task carries a
``fault`` saying why, and every validator fails it without running it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqgrasp_core.errors import RunFileError

ObjectKey = tuple[str, float]  # (sha256, scale)
IDENTITY_POSE = np.array([0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0])  # p, 6D rotation


@dataclass(frozen=True)
class StepTask:
    """Everything a worker needs to validate one row (hand frame, metres, radians)."""

    row: int
    objects: tuple[ObjectKey, ...]
    object_in_hand: np.ndarray   # (n, 4, 4)
    joints: np.ndarray           # (K,)
    closing: np.ndarray          # (K,) bool
    fault: str = ""              # why the row cannot be simulated ("" when it can)


def pose_matrices(poses: np.ndarray) -> np.ndarray:
    """``(R, 9)`` pose column values → ``(R, 4, 4)`` hand-to-object transforms."""
    import torch

    from seqgrasp_core.geometry.pose import pose_to_matrix

    return pose_to_matrix(torch.as_tensor(poses, dtype=torch.float64)).numpy()


def step_tasks(table) -> list[StepTask]:
    """One task per row of a run table, in row order; :class:`RunFileError` on gaps."""
    seq = table.column("sequence_id").to_numpy()
    step = table.column("step").to_numpy().astype(int)
    sha = table.column("object_sha256").to_pylist()
    scale = table.column("object_scale").to_pylist()
    joints = np.asarray(table.column("joints").to_pylist(), dtype=np.float64)
    masks = np.asarray(table.column("joint_mask").to_pylist(), dtype=bool)
    poses = np.asarray(table.column("pose").to_pylist(), np.float64).reshape(len(seq), 9)
    finite_pose = np.isfinite(poses).all(axis=1)
    # Unusable poses are replaced by the identity (their rows are faults anyway), so
    # that no NaN or singular matrix reaches numpy's linear algebra.
    hand_to_object = pose_matrices(np.where(finite_pose[:, None], poses, IDENTITY_POSE))
    # A 6D rotation with a zero or repeated column gives a singular matrix.
    usable_pose = finite_pose & (np.abs(np.linalg.det(hand_to_object[:, :3, :3]) - 1) < 1e-3)
    hand_to_object[~usable_pose] = np.eye(4)
    object_in_hand = np.linalg.inv(hand_to_object)
    finite_joints = np.isfinite(joints).all(axis=1) if joints.ndim == 2 \
        else np.ones(len(seq), dtype=bool)
    scales = np.asarray(scale, dtype=np.float64)
    usable_scale = np.isfinite(scales) & (scales > 0)
    rows: dict[tuple[int, int], int] = {}
    for r, (s, n) in enumerate(zip(seq.tolist(), step.tolist())):
        if (s, n) in rows:
            raise RunFileError(f"sequence {s} has step {n} twice",
                               "regenerate the run with `seqgrasp generate`")
        rows[(s, n)] = r
    tasks = []
    for r, (s, n) in enumerate(zip(seq.tolist(), step.tolist())):
        try:
            held = [rows[(s, k)] for k in range(1, n + 1)]
        except KeyError:
            missing = next(k for k in range(1, n + 1) if (s, k) not in rows)
            raise RunFileError(f"sequence {s} has step {n} but not step {missing}",
                               "validate the whole run file, not a filtered part") from None
        tasks.append(StepTask(
            row=r, objects=tuple((sha[k], float(scale[k])) for k in held),
            object_in_hand=object_in_hand[held], joints=joints[r],
            closing=np.logical_or.reduce(masks[held], axis=0),
            fault=_fault(r, held, finite_joints, finite_pose, usable_pose, usable_scale)))
    return tasks


def _fault(row: int, held: list[int], finite_joints, finite_pose, usable_pose,
           usable_scale) -> str:
    """Why row ``row`` (holding the objects placed by rows ``held``) cannot be
    simulated, or ``""``."""
    if not finite_joints[row]:
        return "non-finite joint angles"
    for step, k in enumerate(held, start=1):
        if not usable_scale[k]:
            return f"object scale at step {step} is not a positive finite number"
        if not finite_pose[k]:
            return f"non-finite pose at step {step}"
        if not usable_pose[k]:
            return f"degenerate rotation at step {step}"
    return ""


def row_faults(table) -> dict[int, str]:
    """``{row: why}`` for the rows of a run table that cannot be simulated."""
    return {t.row: t.fault for t in step_tasks(table) if t.fault}
