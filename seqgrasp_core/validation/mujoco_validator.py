"""The default physics validator: the paper's protocol in MuJoCo, on CPU workers.

Each worker process (``spawn``-safe, top-level functions only) builds one MuJoCo
model per combination of held objects and reuses it for every row with that
combination: object poses are free-joint states, not model data. Everything that
needs trimesh (sampling, hulls) or is the same for every worker (the hand's surface
samples) is computed once in the parent and sent with the :class:`Context`, so a
worker imports only numpy and mujoco and starts in well under a second.
"""

from __future__ import annotations

import os
from concurrent.futures import as_completed
from dataclasses import dataclass, field, replace
from typing import Callable, NamedTuple

import numpy as np

from seqgrasp_core.system.workers import deferred_signals, usable_cores, worker_pool
from seqgrasp_core.validation.convex import convex_pieces
from seqgrasp_core.validation.interface import StepResult, Validator
from seqgrasp_core.validation.kernels import library
from seqgrasp_core.validation.penetration import HandSurface, Solid, hand_primitives, solid
from seqgrasp_core.validation.protocol import PAPER_PROTOCOL, ValidationProtocol
from seqgrasp_core.validation.scene import MuJoCoSettings, SceneObject, build_model, scene_object
from seqgrasp_core.validation.steps import ObjectKey, StepTask, step_tasks

CHUNK = 8  # at most this many rows per job sent to a worker
_BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass
class ObjectData:
    """One object at one scale, as a worker needs it (object frame, metres)."""

    body: SceneObject  # convex pieces and mass properties, for the scene
    solid: Solid  # the real mesh for penetration depths


@dataclass
class Context:
    """What every worker receives once."""

    urdf_path: str
    joint_names: tuple[str, ...]
    objects: dict[ObjectKey, ObjectData]
    protocol: ValidationProtocol
    settings: MuJoCoSettings
    spacing: float = 0.001
    hand: HandSurface | None = None  # filled in by :func:`run_tasks` when missing


def with_hand(ctx: Context) -> Context:
    """``ctx`` with the hand's surface samples (from a hand-only scene) filled in."""
    if ctx.hand is not None:
        return ctx
    model, index = build_model(ctx.urdf_path, ctx.joint_names, [], ctx.protocol,
                               ctx.settings)
    return replace(ctx, hand=hand_primitives(model, index.hand_geoms, ctx.spacing))


@dataclass
class _Worker:
    ctx: Context
    scenes: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)  # per direction, for the run order


_STATE: _Worker | None = None


def init_process(ctx: Context) -> None:
    """Set up this process (a worker, or the parent for in-process work) for ``ctx``."""
    global _STATE
    _STATE = _Worker(with_hand(ctx), failures=[0] * len(ctx.protocol.directions))


def _scene(objects: tuple[ObjectKey, ...]):
    import mujoco

    st = _STATE
    if objects not in st.scenes:
        model, index = build_model(st.ctx.urdf_path, st.ctx.joint_names,
                                   [st.ctx.objects[k].body for k in objects],
                                   st.ctx.protocol, st.ctx.settings)
        st.scenes[objects] = (model, index, mujoco.MjData(model))
    return st.scenes[objects]


class ClosedState(NamedTuple):
    """A row up to the shaking: its depths (m) and, unless they fail it, its closed
    joints and the drives' targets (K,) rad."""

    depth: float          # the largest of the two below
    hand_depth: float     # hand–object only (the paper's "Pene.")
    joints: np.ndarray | None
    targets: np.ndarray | None


def closed_state(task: StepTask) -> ClosedState:
    """Row ``task`` up to the shaking, in this process's scenes (after :func:`init_process`);
    ``joints`` is ``None`` when the penetration alone fails the row.
    Simulator-independent (MuJoCo serves as the geometry engine), so every validator
    shares it."""
    import mujoco

    from seqgrasp_core.validation.penetration import penetration_depths
    from seqgrasp_core.validation.simulate import close_fingers, set_state

    st = _STATE
    model, index, data = _scene(task.objects)
    mujoco.mj_resetData(model, data)
    poses = list(task.object_in_hand)
    set_state(model, data, index, task.joints, poses)
    mujoco.mj_kinematics(model, data)
    hand, between = penetration_depths(st.ctx.hand, data.geom_xpos, data.geom_xmat,
                                       [st.ctx.objects[k].solid for k in task.objects], poses)
    depth = max(hand, between)
    if depth >= st.ctx.protocol.penetration_threshold:
        return ClosedState(depth, hand, None, None)
    closed, targets = close_fingers(model, data, index, task.joints, task.closing,
                                    st.ctx.protocol, st.ctx.settings)
    return ClosedState(depth, hand, closed, targets)


def still_holds(task: StepTask, joints, object_poses) -> bool:
    """Whether the hand at ``joints`` (K,) still touches every object at
    ``object_poses`` (n × 4×4, hand frame) at the end of a run, none having fallen away
    from where ``task`` placed it: the end-of-run test, for a simulator that reports
    its final state."""
    import mujoco

    from seqgrasp_core.validation.simulate import LOST_DISTANCE, set_state, touching

    model, index, data = _scene(task.objects)
    poses = np.asarray(object_poses, dtype=float)
    if not np.all(np.isfinite(poses)) or not np.all(np.isfinite(joints)):
        return False
    moved = np.linalg.norm(poses[:, :3, 3] - task.object_in_hand[:, :3, 3], axis=1)
    if np.any(moved > LOST_DISTANCE):
        return False
    set_state(model, data, index, joints, list(poses))
    mujoco.mj_kinematics(model, data)
    return bool(touching(model, data, index, _STATE.ctx.protocol.closing_distance).all())


def _validate_one(task: StepTask) -> tuple[bool, float, float, str]:
    """``(success, max penetration mm, hand–object penetration mm, failure)``."""
    from seqgrasp_core.validation.simulate import shake

    if task.fault:
        return False, float("nan"), float("nan"), task.fault
    st = _STATE
    depth, hand_depth, closed, targets = closed_state(task)
    if closed is None:
        return False, depth * 1000.0, hand_depth * 1000.0, penetration_failure(st.ctx.protocol)
    model, index, data = _scene(task.objects)
    # The six runs are independent (each starts from the closed state), so their
    # order cannot change the outcome; trying the direction that failed most often
    # so far first makes a failing row stop sooner.
    order = sorted(range(len(st.failures)), key=lambda k: -st.failures[k])
    failed = shake(model, data, index, closed, targets, list(task.object_in_hand),
                   st.ctx.protocol, st.ctx.settings, order)
    if failed is None:
        return True, depth * 1000.0, hand_depth * 1000.0, ""
    st.failures[failed] += 1
    return False, depth * 1000.0, hand_depth * 1000.0, \
        lost_failure(st.ctx.protocol.directions[failed])


def penetration_failure(protocol: ValidationProtocol) -> str:
    return f"penetration ≥ {protocol.penetration_threshold * 1000:g} mm"


def lost_failure(direction) -> str:
    """``"lost under acceleration along +x"`` for the unit vector ``direction``."""
    axes = [f"{'+' if v > 0 else '-'}{a}" for a, v in zip("xyz", direction) if v != 0]
    return f"lost under acceleration along {''.join(axes) or 'none'}"


def _validate_chunk(tasks: list[StepTask]) -> list[tuple[int, bool, float, float, str]]:
    return [(t.row, *_validate_one(t)) for t in tasks]


def prepare_objects(tasks: list[StepTask], meshes: dict, density: float
                    ) -> dict[ObjectKey, ObjectData]:
    """Scaled meshes, convex pieces (cached) and mass properties per (sha256, scale)."""
    out = {}
    for key in sorted({k for t in tasks for k in t.objects}):
        sha, scale = key
        mesh = meshes[sha].copy()
        mesh.apply_scale(scale)
        pieces = convex_pieces(mesh, sha, scale)
        out[key] = ObjectData(scene_object(mesh, pieces, density), solid(mesh))
    return out


def run_tasks(ctx: Context, tasks: list[StepTask], workers: int,
              progress: Callable[[int, int], None] | None = None) -> dict[int, tuple]:
    """``{row: (success, max_penetration_mm, hand_penetration_mm, failure)}``;
    ``workers`` processes (1 = in-process)."""
    ctx = with_hand(ctx)
    library()  # compiled here once, not by every worker at the same time
    results: dict[int, tuple] = {}
    size = max(1, min(CHUNK, len(tasks) // (4 * max(1, workers))))
    chunks = [tasks[i:i + size] for i in range(0, len(tasks), size)]
    done = 0
    if workers <= 1 or len(chunks) <= 1:
        init_process(ctx)
        for chunk in chunks:
            for row, *outcome in _validate_chunk(chunk):
                results[row] = tuple(outcome)
            done += len(chunk)
            if progress:
                progress(done, len(tasks))
        return results
    # One BLAS thread per worker: the workers already use every core, and idle BLAS
    # threads spinning next to them only steal time (spawned workers read these at
    # their numpy import; the parent's own setting is restored afterwards).
    saved = {k: os.environ.get(k) for k in _BLAS_THREADS}
    os.environ.update({k: "1" for k in _BLAS_THREADS})
    with worker_pool(min(workers, len(chunks)), init_process, (ctx,)) as pool:
        try:
            with deferred_signals():
                futures = {pool.submit(_validate_chunk, c): len(c) for c in chunks}
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        for fut in as_completed(futures):
            for row, *outcome in fut.result():
                results[row] = tuple(outcome)
            done += futures[fut]
            if progress:
                progress(done, len(tasks))
    return results


class MuJoCoValidator(Validator):
    """The paper's protocol in MuJoCo (CPU); see docs/validation.md."""

    name = "mujoco"
    description = "MuJoCo, CPU worker processes (default)"

    def __init__(self, protocol: ValidationProtocol = PAPER_PROTOCOL,
                 settings: MuJoCoSettings | None = None) -> None:
        self.protocol = protocol
        self.settings = settings or MuJoCoSettings()

    def validate(self, table, meshes, hand, *, workers: int = 1,
                 progress=None) -> list[StepResult]:
        tasks = step_tasks(table)
        if not tasks:
            return []
        ctx = Context(str(hand.urdf_path), tuple(hand.joint_names),
                      prepare_objects(tasks, meshes, self.protocol.density),
                      self.protocol, self.settings)
        results = run_tasks(ctx, tasks, max(1, min(workers, usable_cores())), progress)
        return [StepResult(bool(ok), float(pen), float(hand), failure)
                for ok, pen, hand, failure in (results[t.row] for t in tasks)]
