"""`AllegroSimBackend`: the Allegro Hand in MuJoCo, for dry runs of ``seqgrasp replay``.

The hand is the plugin's URDF in the same MuJoCo scene the validator builds
(:func:`seqgrasp_core.validation.scene.build_model`: root fixed, gravity off, one
position drive per joint). It follows targets the way :class:`AllegroCanBackend`
does: targets are clamped to the joint limits, the set-point moves towards them at
no more than ``max_speed`` rad/s while joints that are not active hold their
set-point, and each drive's torque is capped at the real hand's cap
(:data:`~seqgrasp_allegro.can_protocol.PWM_CAPS` at 1200 PWM per N·m).

Objects are not simulated: :meth:`place_object` records where the operator would
put each object (its pose in the hand frame) but the fingers close in free space,
so the tracking error measures the drives, not contact. Simulated time runs as fast
as the CPU allows unless ``realtime=True``.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Sequence

import numpy as np

from seqgrasp_core.api import HandSpecError, HardwareBackend, SeqGraspError

from . import can_protocol as proto

HAND_FILE = Path(str(files(__package__) / "hand.toml"))

TORQUE_CAPS = np.array([c / proto.PWM_PER_NM_V4 for c in proto.PWM_CAPS])
"""Per-joint torque caps (N·m) of the real hand's PWM caps, joint order of hand.toml."""


class SimulationError(SeqGraspError):
    """The simulated hand was used wrongly (not open, bad option, bad target)."""


def _from_text(key: str, text: str):
    """An option given as ``-o KEY=TEXT``, converted to what the simulation reads."""
    try:
        if key == "realtime":
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return text.lower() in ("true", "1", "yes")
        if key == "initial":
            return [float(v) for v in text.split(",")]
        return float(text)
    except ValueError:
        raise SimulationError(f"allegro-sim option {key}={text!r} is not valid",
                              "e.g. -o max_speed=0.5, -o realtime=true") from None


class AllegroSimBackend(HardwareBackend):
    """Allegro Hand (right) in MuJoCo, a dry run of a replay.

    Options (constructor or :meth:`open`): ``max_speed`` set-point speed limit (rad/s);
    ``tolerance`` tracking error at which ``move_to`` is done (rad); ``kp`` drive
    stiffness (N·m/rad, critically damped); ``timestep`` MuJoCo step (s);
    ``realtime`` sleep so simulated time keeps pace with the clock; ``initial``
    starting joint angles (rad, 16; default: zeros clamped to the limits).
    """

    name = "allegro-sim"
    hand = "allegro"
    description = "Allegro Hand in MuJoCo (dry run): position drives, speed limit, torque caps"

    options = {
        "max_speed": "set-point speed limit, rad/s",
        "tolerance": "tracking error at which a move is done, rad",
        "kp": "position gain of the simulated drives, N·m/rad",
        "timestep": "simulation step, s",
        "realtime": "true: run at wall-clock speed",
        "initial": "16 starting joint angles, rad, comma-separated",
    }
    _OPTIONS = tuple(options)

    def __init__(self, hand_file: str | Path = HAND_FILE, *, max_speed: float = 1.0,
                 tolerance: float = 0.005, kp: float = 3.0, timestep: float = 0.002,
                 realtime: bool = False, initial: Sequence[float] | None = None) -> None:
        self.hand_file = Path(hand_file)
        self.max_speed = max_speed
        self.tolerance = tolerance
        self.kp = kp
        self.timestep = timestep
        self.realtime = realtime
        self.initial = initial
        self.placed: list[tuple[int, str, np.ndarray]] = []
        self.sim_time = 0.0
        self._model = self._data = self._index = None

    # ------------------------------------------------------------------ set-up

    def open(self, **options) -> None:
        """Build the MuJoCo scene and start at ``initial`` (or zeros within the limits)."""
        import mujoco

        from seqgrasp_core.api import PAPER_PROTOCOL, HandSpec, MuJoCoSettings, build_model

        unknown = sorted(set(options) - set(self._OPTIONS))
        if unknown:
            raise SimulationError(f"unknown allegro-sim option(s): {', '.join(unknown)}",
                                  f"use one of: {', '.join(self._OPTIONS)}")
        for key, value in options.items():
            setattr(self, key, _from_text(key, value) if isinstance(value, str) else value)
        for key in ("max_speed", "tolerance", "kp", "timestep"):
            value = float(getattr(self, key))
            if not (value > 0 and np.isfinite(value)):
                raise SimulationError(f"allegro-sim option {key} must be a positive number, "
                                      f"got {value}", "use a value above 0")
        spec = HandSpec.from_files(self.hand_file)
        self.joint_names = spec.joint_names
        settings = MuJoCoSettings(timestep=float(self.timestep), kp=float(self.kp))
        model, index = build_model(str(spec.urdf_path), spec.joint_names, [],
                                   PAPER_PROTOCOL, settings)
        caps = TORQUE_CAPS if len(TORQUE_CAPS) == spec.num_joints else \
            np.full(spec.num_joints, float(TORQUE_CAPS.max()))
        model.actuator_forcelimited[index.actuator] = 1
        model.actuator_forcerange[index.actuator] = np.c_[-caps, caps]
        data = mujoco.MjData(model)
        self._model, self._data, self._index = model, data, index
        start = np.zeros(spec.num_joints) if self.initial is None else \
            self._vector(self.initial, "initial")
        start = np.clip(start, index.lower, index.upper)
        data.qpos[index.qpos] = start
        self._setpoint = start.copy()
        data.ctrl[index.actuator] = start
        mujoco.mj_forward(model, data)
        self.placed = []
        self.sim_time = 0.0

    def _vector(self, values, what: str) -> np.ndarray:
        k = len(self._index.qpos)
        v = np.asarray(values, dtype=float).reshape(-1)
        if v.shape != (k,):
            raise HandSpecError(f"allegro-sim needs {k} {what} values, got {v.size}",
                                "pass one value per Allegro joint")
        return v

    def _require_open(self) -> None:
        if self._model is None:
            raise SimulationError("the simulated Allegro hand is not open", "call open() first")

    # ------------------------------------------------------------------ interface

    def joint_positions(self) -> list[float]:
        """Simulated joint angles (rad, hand.toml order)."""
        self._require_open()
        return [float(x) for x in self._data.qpos[self._index.qpos]]

    def place_object(self, step: int, object_id: str, pose) -> None:
        """Record object ``step`` at ``pose`` (4×4, hand frame, metres); not simulated."""
        self._require_open()
        self.placed.append((int(step), str(object_id), np.asarray(pose, dtype=float)))

    def move_to(self, targets: Sequence[float], active: Sequence[bool], *,
                timeout_s: float = 5.0) -> float:
        """Drive the ``active`` joints to ``targets`` (rad, clamped) while the others hold.

        Steps the simulation until the set-point has reached the targets and the
        largest active tracking error is below ``tolerance``, or ``timeout_s``
        simulated seconds passed; returns that error (rad).
        """
        import time

        import mujoco

        self._require_open()
        index, model, data = self._index, self._model, self._data
        t = self._vector(targets, "targets")
        mask = self._vector(active, "active flags").astype(bool)
        if not np.all(np.isfinite(t[mask])):
            raise HandSpecError("allegro-sim targets must be finite numbers",
                                "check the grasp file for NaN joint angles")
        goal = np.where(mask, np.clip(np.where(np.isfinite(t), t, 0.0), index.lower,
                                      index.upper), self._setpoint)
        dt = model.opt.timestep
        step = float(self.max_speed) * dt
        elapsed, wall0 = 0.0, time.monotonic()
        while True:
            self._setpoint += np.clip(goal - self._setpoint, -step, step)
            data.ctrl[index.actuator] = self._setpoint
            mujoco.mj_step(model, data)
            elapsed += dt
            self.sim_time += dt
            err = np.abs(goal - data.qpos[index.qpos])[mask]
            worst = float(err.max()) if err.size else 0.0
            if (np.allclose(self._setpoint, goal) and worst < self.tolerance) \
                    or elapsed >= timeout_s:
                return worst
            if self.realtime:
                ahead = elapsed - (time.monotonic() - wall0)
                if ahead > 0.01:
                    time.sleep(ahead)

    def close(self) -> None:
        """Forget the scene (a simulated hand has no torque to release). Safe twice."""
        self._model = self._data = self._index = None
