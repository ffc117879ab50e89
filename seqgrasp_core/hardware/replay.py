"""Replaying a grasp sequence on a hand (paper §VII-B), through any `HardwareBackend`.

The procedure: open the hand (the hand spec's open pose, all joints); then for each
step in order, wait for the operator to place object ``n`` (``confirm``), tell the
backend where it goes (:meth:`HardwareBackend.place_object`) and close that step's
opposition-space joints (``joint_mask``) to the grasp while every other joint holds
its set-point, so earlier objects stay gripped. At the end the hand holds the
objects (``hold`` is called while torque is still on) or, with ``release``, opens
again. The backend is closed however the replay ends — success, an error, a refusal
at a prompt or Ctrl-C — and a backend's ``close`` releases torque.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from seqgrasp_core.errors import RunFileError, SeqGraspError
from seqgrasp_core.hardware.interface import HardwareBackend


class ReplayAborted(SeqGraspError):
    """The operator stopped the replay at a prompt; the hand was released."""


@dataclass(frozen=True)
class ReplayStep:
    """One step to execute: close ``active`` joints to ``targets`` (rad, hand order).

    ``object_pose`` ``(4, 4)`` is where object ``step`` sits in the hand frame
    (metres): the inverse of the row's hand-in-object pose.
    """

    step: int
    object_id: str
    os_name: str
    targets: np.ndarray
    active: np.ndarray
    object_pose: np.ndarray


@dataclass(frozen=True)
class MoveResult:
    """The outcome of one move: ``phase`` is ``open``, ``step`` or ``release``.

    ``error_rad`` is the backend's final largest tracking error over the moved joints.
    """

    phase: str
    step: int
    label: str
    joints_moved: int
    error_rad: float


def replay_plan(rows: list[dict], spec) -> list[ReplayStep]:
    """The steps of one sequence (rows from :func:`~seqgrasp_core.runs.runfile.sequence_rows`)."""
    import torch

    from seqgrasp_core.geometry.pose import pose_to_matrix

    k = spec.num_joints
    plan = []
    for row in rows:
        joints = np.asarray(row["joints"], dtype=float)
        mask = np.asarray(row["joint_mask"], dtype=bool)
        if joints.shape != (k,) or mask.shape != (k,):
            raise RunFileError(f"step {row['step']} has {joints.size} joints and a mask of "
                               f"{mask.size}, but hand {spec.name!r} has {k} joints",
                               "replay it on the hand it was generated for")
        if not (np.all(np.isfinite(joints)) and np.all(np.isfinite(row["pose"]))):
            raise RunFileError(f"step {row['step']} has a pose or joint angle that is not a "
                               "finite number", "regenerate the run with `seqgrasp generate`")
        hand_in_object = pose_to_matrix(torch.as_tensor([row["pose"]], dtype=torch.float64))[0]
        plan.append(ReplayStep(int(row["step"]), str(row["object_id"]), str(row["os_name"]),
                               joints, mask, np.linalg.inv(hand_in_object.numpy())))
    return plan


def replay(backend: HardwareBackend, spec, plan: list[ReplayStep], *,
           options: dict | None = None,
           confirm: Callable[[ReplayStep], bool] | None = None,
           progress: Callable[[str, int, int], None] | None = None,
           on_result: Callable[[MoveResult], None] | None = None,
           hold: Callable[[], None] | None = None,
           release: bool = False, timeout_s: float = 15.0) -> list[MoveResult]:
    """Run the procedure of the module docstring; returns every move's result.

    ``options`` go to ``backend.open``. ``confirm(step)`` is asked before each step
    (``False`` stops the replay with :class:`ReplayAborted`); ``progress(label,
    done, total)`` is called before each move and once at the end; ``on_result``
    after each move; ``hold()`` after the last step unless ``release``, while the
    hand still holds. ``timeout_s`` bounds each move (s).
    """
    if backend.hand and backend.hand != spec.name:
        raise SeqGraspError(f"backend {backend.name!r} drives hand {backend.hand!r}, but the "
                            f"run is for hand {spec.name!r}",
                            "choose a backend for the run's hand (`seqgrasp plugins`)")
    k = spec.num_joints
    open_pose = np.asarray(spec.open_pose, dtype=float)
    everything = np.ones(k, dtype=bool)
    total = 1 + len(plan) + (1 if release else 0)
    results: list[MoveResult] = []

    def move(phase, step, label, targets, active):
        if progress:
            progress(label, len(results), total)
        error = float(backend.move_to(targets, active, timeout_s=timeout_s))
        result = MoveResult(phase, step, label, int(np.count_nonzero(active)), error)
        results.append(result)
        if on_result:
            on_result(result)

    with backend:
        backend.open(**(options or {}))
        move("open", 0, "open hand", open_pose, everything)
        for s in plan:
            if confirm is not None and not confirm(s):
                raise ReplayAborted(f"stopped before step {s.step}: object {s.object_id!r} "
                                    "was not confirmed as placed",
                                    "torque was released; run the replay again when ready")
            backend.place_object(s.step, s.object_id, s.object_pose)
            move("step", s.step, f"step {s.step}: {s.object_id} ({s.os_name})",
                 s.targets, s.active)
        if release:
            move("release", 0, "release (open hand)", open_pose, everything)
        elif hold is not None:
            hold()
        if progress:
            progress("done", len(results), total)
    return results
