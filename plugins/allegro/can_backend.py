"""`AllegroCanBackend`: drive an Allegro Hand V4 over CAN with host-side PD control.

The hand streams the four finger position frames every 3 ms (333 Hz). A receive
thread collects them and, each time all four have arrived, runs one PD step and
sends four SET_TORQUE frames:

    q_f ← α·q + (1 − α)·q_f                        (position IIR, α = 0.5)
    v_f ← β·(q_f − q_f_prev)/dt + (1 − β)·v_f      (velocity IIR, β = 0.25)
    τ   = kp·(s − q_f) − kd·v_f                    (N·m)

where ``s`` is the set-point, which ramps towards the target at no more than
``max_speed`` rad/s, and ``dt`` is the streaming period (s).

Safety: targets are clamped to the joint limits; every PWM is clamped to its joint's
cap (:data:`~seqgrasp_allegro.can_protocol.PWM_CAPS`); no position frames for
``watchdog_s`` (50 ms) → zero torque and SYSTEM_OFF; HAND_INFO is polled and an
over-temperature or internal-fault flag stops the hand the same way. ``move_to``
then raises; any error or Ctrl-C inside ``open``/``move_to`` closes the hand first.

python-can is the optional extra ``seqgrasp[can]``: it is imported by ``open``, so
the plugin loads and ``allegro-sim`` runs without it, and ``open`` without it is one
line naming ``pip install "seqgrasp[can]"``.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Sequence

import numpy as np

from seqgrasp_core.api import HandSpecError, HardwareBackend, PluginError, SeqGraspError

from . import can_protocol as proto

if TYPE_CHECKING:
    import can

INSTALL_CAN = 'pip install "seqgrasp[can]"'
"""How to get python-can, which is the optional extra ``can`` of seqgrasp."""


def _can():
    """python-can, imported when the bus is opened: loading the plugin, listing the
    backends and ``allegro-sim`` work without it (it is the extra ``seqgrasp[can]``).

    Raises :class:`~seqgrasp_core.api.PluginError` (one line naming the pip command)
    when python-can is not installed.
    """
    try:
        import can
    except ImportError:
        raise PluginError("the allegro-can backend needs python-can, which is not installed",
                          f"{INSTALL_CAN}  (or: pip install python-can)") from None
    return can

# --------------------------------------------------------------------------- errors


class HardwareError(SeqGraspError):
    """The hand or its CAN interface cannot be reached or stopped working."""


class WatchdogError(HardwareError):
    """The hand stopped streaming positions; torque was released."""


class HandFaultError(HardwareError):
    """The hand reported over-temperature or an internal fault; torque was released."""


# --------------------------------------------------------------------------- defaults

_FINGER_LOWER = (-0.47, -0.196, -0.174, -0.227)
_FINGER_UPPER = (0.47, 1.61, 1.709, 1.618)
_THUMB_LOWER = (0.263, -0.105, -0.189, -0.162)
_THUMB_UPPER = (1.396, 1.163, 1.644, 1.719)

DEFAULT_LOWER = np.array(_FINGER_LOWER * 3 + _THUMB_LOWER)
"""Lower joint limits (rad), joint order index 0-3, middle 4-7, ring 8-11, thumb 12-15."""
DEFAULT_UPPER = np.array(_FINGER_UPPER * 3 + _THUMB_UPPER)
"""Upper joint limits (rad), same order as :data:`DEFAULT_LOWER`."""

DEFAULT_KP = np.array((3.0, 4.0, 3.0, 2.0) * 3 + (4.0, 3.0, 2.5, 2.0))
"""Proportional gains (N·m/rad): finger roll, proximal, middle, distal; thumb 0-3.

At 1200 PWM per N·m the torque caps are reached at errors of about 0.1-0.14 rad.
"""
DEFAULT_KD = np.array((0.10, 0.12, 0.10, 0.06) * 3 + (0.12, 0.10, 0.08, 0.06))
"""Derivative gains (N·m·s/rad), same order as :data:`DEFAULT_KP`."""

POSITION_ALPHA = 0.5
"""Position IIR weight of the newest sample (≈ 37 Hz cut-off at 333 Hz)."""
VELOCITY_BETA = 0.25
"""Velocity IIR weight of the newest difference (≈ 15 Hz cut-off at 333 Hz)."""

_HINTS = {
    "socketcan": "check that the interface exists and is up: "
                 "`sudo ip link set {channel} up type can bitrate 1000000`",
    "pcan": "check that the PEAK PCAN driver and PCAN-Basic library are installed, "
            "the adapter is plugged in and the channel name is right (e.g. PCAN_USBBUS1)",
    "virtual": "check that something (e.g. the simulated firmware) serves this channel",
}


def _from_text(text: str, kind: type):
    """A value given as ``-o KEY=TEXT``: ``kind`` of it, or floats for a comma list."""
    try:
        if kind is float and "," in text:
            return [float(v) for v in text.split(",")]
        return kind(text)
    except ValueError:
        raise HardwareError(f"option value {text!r} is not a {kind.__name__}",
                            "e.g. -o max_speed=0.5 or -o kp=1,1,…") from None


def _interface_hint(interface: str, channel: str) -> str:
    return _HINTS.get(interface, "check that the CAN adapter is plugged in and its "
                      "driver is installed").format(channel=channel)


# --------------------------------------------------------------------------- backend


class AllegroCanBackend(HardwareBackend):
    """Allegro Hand V4 over CAN (python-can: socketcan, pcan, virtual, …).

    Parameters (all may also be given to :meth:`open` as options):

    ``interface``, ``channel``: python-can interface and channel; ``device_id``: CAN
    device id of the hand (0-3); ``bitrate``: bit/s (1 Mbit/s); ``lower``/``upper``:
    joint limits (rad, 16 each); ``kp`` (N·m/rad), ``kd`` (N·m·s/rad): PD gains (16
    each); ``max_speed``: set-point speed limit (rad/s); ``tolerance``: tracking error
    at which ``move_to`` is done (rad); ``watchdog_s``: longest allowed gap between
    position frames (s); ``reply_timeout_s``: how long to wait for HAND_INFO and the
    first positions (s); ``status_poll_s``: HAND_INFO polling interval (s).
    """

    name = "allegro-can"
    hand = "allegro"
    description = "Allegro Hand V4 over CAN (SocketCAN / PEAK PCAN), host-side PD at 333 Hz"

    options = {
        "interface": "python-can interface: socketcan, pcan, virtual, …",
        "channel": "CAN channel, e.g. can0 or PCAN_USBBUS1",
        "device_id": "CAN device id of the hand, 0-3",
        "bitrate": "bit/s (1000000)",
        "lower": "16 joint lower limits, rad, comma-separated",
        "upper": "16 joint upper limits, rad, comma-separated",
        "kp": "16 proportional gains, N·m/rad, comma-separated",
        "kd": "16 damping gains, N·m·s/rad, comma-separated",
        "max_speed": "set-point speed limit, rad/s",
        "tolerance": "tracking error at which a move is done, rad",
        "watchdog_s": "longest gap between position frames, s",
        "reply_timeout_s": "wait for HAND_INFO and the first positions, s",
        "status_poll_s": "HAND_INFO polling interval, s",
    }
    _OPTIONS = tuple(options)
    _TEXT = {"interface": str, "channel": str, "device_id": int, "bitrate": int}

    def __init__(self, interface: str = "socketcan", channel: str = "can0", *,
                 device_id: int = 0, bitrate: int = proto.BITRATE,
                 lower: Sequence[float] | None = None,
                 upper: Sequence[float] | None = None,
                 kp: Sequence[float] | None = None, kd: Sequence[float] | None = None,
                 max_speed: float = 1.0, tolerance: float = 0.02,
                 watchdog_s: float = 0.05, reply_timeout_s: float = 0.5,
                 status_poll_s: float = 0.25) -> None:
        self.interface = interface
        self.channel = channel
        self.device_id = device_id
        self.bitrate = bitrate
        self.lower = DEFAULT_LOWER if lower is None else lower
        self.upper = DEFAULT_UPPER if upper is None else upper
        self.kp = DEFAULT_KP if kp is None else kp
        self.kd = DEFAULT_KD if kd is None else kd
        self.max_speed = max_speed
        self.tolerance = tolerance
        self.watchdog_s = watchdog_s
        self.reply_timeout_s = reply_timeout_s
        self.status_poll_s = status_poll_s

        self.hand_info: proto.HandInfo | None = None
        self.serial: str | None = None
        self._bus: can.BusABC | None = None
        self._send_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._first_positions = threading.Event()
        self._fault: HardwareError | None = None
        self._torque_enabled = False
        self._reset_state()

    # ------------------------------------------------------------------ setup

    def _reset_state(self) -> None:
        n = proto.NUM_JOINTS
        self._q = np.zeros(n)            # latest measured angles (rad)
        self._qf = np.zeros(n)           # filtered angles (rad)
        self._vf = np.zeros(n)           # filtered velocities (rad/s)
        self._setpoint = np.zeros(n)     # ramped set-point (rad)
        self._goal = np.zeros(n)         # clamped target (rad)
        self._pending: list[tuple[float, ...] | None] = [None] * proto.NUM_FINGERS
        self._have_state = False
        self._last_position_t = 0.0
        self._period_s = proto.DEFAULT_PERIOD_MS / 1000.0

    def _configure(self, options: dict) -> None:
        unknown = sorted(set(options) - set(self._OPTIONS))
        if unknown:
            raise HardwareError(f"unknown allegro-can option(s): {', '.join(unknown)}",
                                f"use one of: {', '.join(self._OPTIONS)}")
        for key, value in options.items():
            setattr(self, key, _from_text(value, self._TEXT.get(key, float))
                    if isinstance(value, str) else value)
        arrays = {}
        for key in ("lower", "upper", "kp", "kd"):
            a = np.asarray(getattr(self, key), dtype=float).reshape(-1)
            if a.shape != (proto.NUM_JOINTS,) or not np.all(np.isfinite(a)):
                raise HandSpecError(f"allegro-can option {key} needs 16 finite numbers, "
                                    f"got {a.size}",
                                    "give one value per joint: index, middle, ring, thumb")
            arrays[key] = a
        if np.any(arrays["lower"] > arrays["upper"]):
            raise HandSpecError("allegro-can joint limits have lower > upper",
                                "swap or fix the offending limits")
        if np.any(arrays["kp"] < 0) or np.any(arrays["kd"] < 0):
            raise HandSpecError("allegro-can PD gains must not be negative",
                                "use kp, kd ≥ 0")
        for key in ("max_speed", "tolerance", "watchdog_s", "reply_timeout_s",
                    "status_poll_s"):
            value = float(getattr(self, key))
            if not (value > 0 and np.isfinite(value)):
                raise HardwareError(f"allegro-can option {key} must be a positive "
                                    f"number, got {value}", "use a value above 0")
        self._lower, self._upper = arrays["lower"], arrays["upper"]
        self._kp, self._kd = arrays["kp"], arrays["kd"]

    def open(self, **options) -> None:
        """Open the bus and run the start-up sequence.

        flush → SYSTEM_OFF → request HAND_INFO (wait) → request SERIAL (wait) →
        SET_PERIOD {3, 0, 0} → SYSTEM_ON, then start the control thread and wait
        for the first full set of positions.
        """
        if self._bus is not None:
            raise HardwareError(f"the Allegro hand on {self._where()} is already open",
                                "close it before opening it again")
        can = _can()  # python-can is needed from here on; without it, one line
        self._configure(options)
        self._reset_state()
        self._fault = None
        self._stop.clear()
        self._first_positions.clear()
        try:
            self._bus = can.Bus(interface=self.interface, channel=self.channel,
                                bitrate=self.bitrate)
        except Exception as exc:  # CanError, OSError, ImportError, ValueError, …
            self._bus = None
            if isinstance(exc, can.CanInterfaceNotImplementedError) and \
                    self.interface not in can.interfaces.VALID_INTERFACES:
                raise HardwareError(
                    f"unknown CAN interface {self.interface!r}",
                    "use one of python-can's interfaces, e.g. socketcan, pcan, "
                    "virtual") from exc
            raise HardwareError(
                f"cannot open CAN interface {self.interface!r} channel "
                f"{self.channel!r}: {exc}",
                _interface_hint(self.interface, self.channel)) from exc
        try:
            self._startup()
        except BaseException:
            self.close()
            raise

    def _where(self) -> str:
        return f"{self.interface} channel {self.channel!r}"

    def _startup(self) -> None:
        self._flush()
        self._send(proto.system_off(self.device_id))
        self._send(proto.request_hand_info(self.device_id))
        reply = self._await_reply(proto.HAND_INFO)
        if reply is None:
            raise HardwareError(
                f"no answer from the Allegro hand (device {self.device_id}) on "
                f"{self._where()} within {self.reply_timeout_s:g} s",
                "check the hand is powered, the CAN cable and termination, and the bus "
                f"bit rate (1 Mbit/s); {_interface_hint(self.interface, self.channel)}")
        self.hand_info = proto.decode_hand_info(reply)
        self._send(proto.request_serial(self.device_id))
        serial = self._await_reply(proto.SERIAL)
        self.serial = proto.decode_serial(serial) if serial is not None else None
        self._check_status(self.hand_info)
        if self._fault is not None:
            raise self._fault
        self._send(proto.set_period(proto.DEFAULT_PERIOD_MS, 0, 0, self.device_id))
        self._send(proto.system_on(self.device_id))
        self._torque_enabled = True
        self._thread = threading.Thread(target=self._run, name="allegro-can-rx",
                                        daemon=True)
        self._thread.start()
        if not self._first_positions.wait(max(self.reply_timeout_s, 0.2)):
            if self._fault is not None:
                raise self._fault
            raise HardwareError(
                f"the Allegro hand on {self._where()} answered but streams no positions",
                "power-cycle the hand and check its firmware is V4")

    def _flush(self) -> None:
        try:
            self._bus.flush_tx_buffer()
        except (NotImplementedError, _can().CanError):
            pass
        while self._bus.recv(timeout=0) is not None:
            pass

    def _await_reply(self, command: int) -> bytes | None:
        """Payload of the next non-remote frame with ``command`` (or None on timeout)."""
        deadline = time.monotonic() + self.reply_timeout_s
        while (left := deadline - time.monotonic()) > 0:
            msg = self._bus.recv(timeout=left)
            if msg is None:
                break
            cmd, dev = proto.split_id(msg.arbitration_id)
            if cmd == command and dev == self.device_id and not msg.is_remote_frame:
                return bytes(msg.data)
        return None

    def _send(self, frame: proto.Frame) -> None:
        bus = self._bus
        if bus is None:
            raise HardwareError(f"the Allegro hand on {self._where()} is not open",
                                "call open() first")
        msg = _can().Message(arbitration_id=frame.arbitration_id, data=frame.data,
                             is_extended_id=False, is_remote_frame=frame.remote,
                             dlc=frame.dlc if frame.remote else None)
        with self._send_lock:
            bus.send(msg, timeout=0.05)

    # ------------------------------------------------------------------ control thread

    def _run(self) -> None:
        last_poll = time.monotonic()
        try:
            while not self._stop.is_set():
                msg = self._bus.recv(timeout=0.005)
                now = time.monotonic()
                if msg is not None:
                    self._dispatch(msg, now)
                if self._fault is not None:
                    break
                if self._have_state and now - self._last_position_t > self.watchdog_s:
                    gap_ms = (now - self._last_position_t) * 1000
                    self._trip(WatchdogError(
                        f"the Allegro hand on {self._where()} sent no positions for "
                        f"{gap_ms:.0f} ms (limit {self.watchdog_s * 1000:.0f} ms); "
                        "torque released",
                        "check the CAN cable, the hand's power supply and the bus load"))
                    break
                if now - last_poll > self.status_poll_s:
                    last_poll = now
                    self._send(proto.request_hand_info(self.device_id))
        except Exception as exc:  # the bus broke: stop safely and report
            self._trip(HardwareError(f"CAN communication with the Allegro hand on "
                                     f"{self._where()} failed: {exc}",
                                     "check the CAN adapter and cable"))

    def _dispatch(self, msg: can.Message, now: float) -> None:
        if msg.is_remote_frame:
            return
        cmd, dev = proto.split_id(msg.arbitration_id)
        if dev != self.device_id:
            return
        finger = proto.finger_of(cmd, proto.FINGER_POSE_BASE)
        if finger is not None and len(msg.data) >= 8:
            self._pending[finger] = proto.decode_positions(bytes(msg.data))
            self._last_position_t = now
            if all(p is not None for p in self._pending):
                q = np.concatenate([np.asarray(p) for p in self._pending])
                self._pending = [None] * proto.NUM_FINGERS
                self._control_step(q)
        elif cmd == proto.HAND_INFO and len(msg.data) >= 7:
            info = proto.decode_hand_info(bytes(msg.data))
            self.hand_info = info
            self._check_status(info)

    def _check_status(self, info: proto.HandInfo) -> None:
        if info.over_temperature:
            self._trip(HandFaultError(
                f"the Allegro hand on {self._where()} reports over-temperature "
                f"({info.temperature_c} °C); torque released",
                "let the motors cool down and reduce sustained grasp forces"))
        elif info.comm_fault:
            self._trip(HandFaultError(
                f"the Allegro hand on {self._where()} reports an internal "
                "communication fault; torque released",
                "power-cycle the hand; contact the vendor if it persists"))

    def _control_step(self, q: np.ndarray) -> None:
        """One PD step on a full set of measured angles ``q`` (rad)."""
        dt = self._period_s
        with self._state_lock:
            if not self._have_state:
                self._qf = q.copy()
                self._vf[:] = 0.0
                self._setpoint = np.clip(q, self._lower, self._upper)
                self._goal = self._setpoint.copy()
                self._have_state = True
            else:
                qf = POSITION_ALPHA * q + (1.0 - POSITION_ALPHA) * self._qf
                self._vf = (VELOCITY_BETA * (qf - self._qf) / dt
                            + (1.0 - VELOCITY_BETA) * self._vf)
                self._qf = qf
            self._q = q
            step = self.max_speed * dt
            self._setpoint += np.clip(self._goal - self._setpoint, -step, step)
            tau = self._kp * (self._setpoint - self._qf) - self._kd * self._vf
        self._first_positions.set()
        if self._torque_enabled and self._fault is None:
            self._send_torques(tau)

    def _send_torques(self, tau: np.ndarray) -> None:
        hw = self.hand_info.hardware_version if self.hand_info else 4
        for f in range(proto.NUM_FINGERS):
            pwm = proto.torque_to_pwm(tau[4 * f:4 * f + 4], hw, first_joint=4 * f)
            self._send(proto.set_torque(f, pwm, self.device_id))

    def _send_zero_torque(self) -> None:
        for f in range(proto.NUM_FINGERS):
            self._send(proto.set_torque(f, (0, 0, 0, 0), self.device_id))

    def _trip(self, error: HardwareError) -> None:
        """Release torque, switch the servos off and remember ``error``."""
        if self._fault is None:
            self._fault = error
        self._torque_enabled = False
        try:
            self._send_zero_torque()
            self._send(proto.system_off(self.device_id))
        except Exception:
            pass

    # ------------------------------------------------------------------ interface

    def _require_open(self) -> None:
        if self._fault is not None:
            raise self._fault
        if self._bus is None:
            raise HardwareError("the Allegro hand is not open", "call open() first")

    def joint_positions(self) -> list[float]:
        """Latest measured joint angles (rad, index 0-3, middle 4-7, ring 8-11, thumb 12-15)."""
        self._require_open()
        with self._state_lock:
            return [float(x) for x in self._q]

    def move_to(self, targets: Sequence[float], active: Sequence[bool], *,
                timeout_s: float = 5.0) -> float:
        """Drive the ``active`` joints to ``targets`` (rad, clamped to the limits).

        Inactive joints hold their current set-point. Returns once the set-point has
        reached the targets and the largest active tracking error is below
        ``tolerance``, or after ``timeout_s``; the return value is that error (rad).
        Raises :class:`WatchdogError` / :class:`HandFaultError` if the hand stops;
        on any error or Ctrl-C the hand is closed before the exception propagates.
        """
        try:
            return self._move_to(targets, active, timeout_s)
        except BaseException:
            self.close()
            raise

    def _move_to(self, targets: Sequence[float], active: Sequence[bool],
                 timeout_s: float) -> float:
        self._require_open()
        t = np.asarray(targets, dtype=float).reshape(-1)
        mask = np.asarray(active, dtype=bool).reshape(-1)
        n = proto.NUM_JOINTS
        if t.shape != (n,) or mask.shape != (n,):
            raise HandSpecError(f"allegro-can needs 16 targets and 16 active flags, got "
                                f"{t.size} and {mask.size}",
                                "pass one value per Allegro joint")
        if not np.all(np.isfinite(t[mask])):
            raise HandSpecError("allegro-can targets must be finite numbers",
                                "check the grasp file for NaN joint angles")
        goal = np.clip(np.where(np.isfinite(t), t, 0.0), self._lower, self._upper)
        with self._state_lock:
            self._goal = np.where(mask, goal, self._setpoint)
        deadline = time.monotonic() + timeout_s
        while True:
            if self._fault is not None:
                raise self._fault
            with self._state_lock:
                err = np.abs(self._goal - self._qf)[mask]
                ramp_done = np.allclose(self._setpoint[mask], self._goal[mask])
            worst = float(err.max()) if err.size else 0.0
            if ramp_done and worst < self.tolerance:
                return worst
            if time.monotonic() >= deadline:
                return worst
            time.sleep(0.01)

    def close(self) -> None:
        """Zero torque, SET_PERIOD {0,0,0}, SYSTEM_OFF, shut the bus. Safe to call twice."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1.0)
        self._thread = None
        self._torque_enabled = False
        bus = self._bus
        if bus is None:
            return
        try:
            self._send_zero_torque()
            self._send(proto.set_period(0, 0, 0, self.device_id))
            self._send(proto.system_off(self.device_id))
        except Exception:
            pass
        finally:
            self._bus = None
            bus.shutdown()
