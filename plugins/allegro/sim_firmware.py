"""A simulated Allegro Hand V4 firmware on python-can's in-process virtual bus.

:class:`SimulatedAllegroFirmware` joins ``can.Bus(interface="virtual", channel=…)``
and, in a background thread, behaves like the hand's firmware:

* answers remote requests: HAND_INFO, SERIAL, FINGER_POSE+f, TEMPERATURE+f;
* honours SYSTEM_ON / SYSTEM_OFF (servos on/off) and SET_PERIOD (position streaming
  period in ms; 0 stops streaming). The simulated hand starts with period 0, so it
  only streams after the host sends SET_PERIOD and SYSTEM_ON;
* while on, every period it integrates each joint as an inertia with viscous
  damping driven by the last SET_TORQUE PWM (converted to N·m with the hardware
  version's scale), keeps joints within their limits, and sends the four finger
  position frames;
* records every frame it receives (:meth:`recorded`), for tests;
* can be told to fall silent (:meth:`go_silent`) or to report over-temperature in
  HAND_INFO (:meth:`set_over_temperature`).

The joint model is deliberately simple (no gravity, no contacts, no friction).
python-can (the extra ``seqgrasp[can]``) is imported by :meth:`start`, as by the
backend's ``open``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from . import can_protocol as proto
from .can_backend import DEFAULT_LOWER, DEFAULT_UPPER, _can

if TYPE_CHECKING:
    import can


@dataclass(frozen=True)
class RecordedFrame:
    """A frame the simulated hand received.

    ``time`` is ``time.monotonic()`` at reception (s); ``command`` and ``device_id``
    are split from ``arbitration_id``.
    """

    time: float
    arbitration_id: int
    data: bytes
    remote: bool

    @property
    def command(self) -> int:
        return proto.split_id(self.arbitration_id)[0]

    @property
    def device_id(self) -> int:
        return proto.split_id(self.arbitration_id)[1]


class SimulatedAllegroFirmware:
    """Simulated V4 hand on virtual channel ``channel``; a context manager.

    Joint model per joint: ``inertia · dv/dt = tau − damping · v`` with ``inertia`` in
    kg·m² and ``damping`` in N·m·s/rad, integrated with semi-implicit Euler once per
    streaming period; positions are clamped to ``[lower, upper]`` (rad).
    """

    def __init__(self, channel: str, *, device_id: int = 0, hardware_version: int = 4,
                 firmware_version: int = 0x0100, serial: str = "SAH040S1",
                 right_hand: bool = True, temperature_c: int = 35,
                 initial_positions: Sequence[float] | None = None,
                 lower: Sequence[float] | None = None,
                 upper: Sequence[float] | None = None,
                 inertia: float = 0.002, damping: float = 0.05) -> None:
        self.channel = channel
        self.device_id = device_id
        self.hardware_version = hardware_version
        self.firmware_version = firmware_version
        self.serial = serial
        self.right_hand = right_hand
        self.temperature_c = temperature_c
        self.lower = np.asarray(DEFAULT_LOWER if lower is None else lower, float)
        self.upper = np.asarray(DEFAULT_UPPER if upper is None else upper, float)
        if initial_positions is None:
            initial_positions = np.clip(0.0, self.lower, self.upper)
        self.inertia = float(inertia)
        self.damping = float(damping)

        self._lock = threading.Lock()
        self._q = np.clip(np.asarray(initial_positions, float), self.lower, self.upper)
        self._v = np.zeros(proto.NUM_JOINTS)
        self._pwm = np.zeros(proto.NUM_JOINTS)
        self._servo_on = False
        self._period_ms = 0
        self._silent = False
        self._over_temperature = False
        self._comm_fault = False
        self._records: list[RecordedFrame] = []
        self._frames_sent = 0

        self._bus: can.BusABC | None = None
        self._can = None  # the python-can module, once started
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "SimulatedAllegroFirmware":
        """Join the virtual bus and start the firmware thread."""
        if self._thread is not None:
            return self
        self._can = _can()
        self._bus = self._can.Bus(interface="virtual", channel=self.channel)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sim-allegro-fw",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and leave the bus. Safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self._bus is not None:
            self._bus.shutdown()
            self._bus = None

    def __enter__(self) -> "SimulatedAllegroFirmware":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ test controls

    def go_silent(self, silent: bool = True) -> None:
        """Stop (or resume) sending anything: no position stream, no answers.

        Received frames are still recorded.
        """
        with self._lock:
            self._silent = silent

    def set_over_temperature(self, flag: bool = True) -> None:
        """Report (or clear) over-temperature in HAND_INFO (status bit 0x02, 80 °C)."""
        with self._lock:
            self._over_temperature = flag

    def set_comm_fault(self, flag: bool = True) -> None:
        """Report (or clear) an internal communication fault (status bit 0x04)."""
        with self._lock:
            self._comm_fault = flag

    # ------------------------------------------------------------------ inspection

    def recorded(self) -> list[RecordedFrame]:
        """Every frame received so far, in order."""
        with self._lock:
            return list(self._records)

    def clear_records(self) -> None:
        """Forget the recorded frames."""
        with self._lock:
            self._records.clear()

    def positions(self) -> np.ndarray:
        """Current simulated joint angles (rad, 16)."""
        with self._lock:
            return self._q.copy()

    @property
    def servo_on(self) -> bool:
        """Whether SYSTEM_ON is in effect."""
        with self._lock:
            return self._servo_on

    @property
    def period_ms(self) -> int:
        """Position streaming period set by SET_PERIOD (ms, 0 = off)."""
        with self._lock:
            return self._period_ms

    @property
    def frames_sent(self) -> int:
        """Number of position frames sent so far."""
        with self._lock:
            return self._frames_sent

    def hand_info(self) -> proto.HandInfo:
        """What a HAND_INFO answer would report now."""
        with self._lock:
            return self._hand_info_locked()

    def _hand_info_locked(self) -> proto.HandInfo:
        return proto.HandInfo(
            hardware_version=self.hardware_version,
            firmware_version=self.firmware_version, is_right=self.right_hand,
            temperature_c=80 if self._over_temperature else self.temperature_c,
            servo_on=self._servo_on, over_temperature=self._over_temperature,
            comm_fault=self._comm_fault)

    # ------------------------------------------------------------------ thread

    def _run(self) -> None:
        next_tick: float | None = None
        while not self._stop.is_set():
            with self._lock:
                period_s = self._period_ms / 1000.0
                streaming = self._servo_on and period_s > 0
            now = time.monotonic()
            if streaming:
                if next_tick is None:
                    next_tick = now + period_s
                timeout = max(0.0, next_tick - now)
            else:
                next_tick = None
                timeout = 0.02
            try:
                msg = self._bus.recv(timeout=timeout) if self._bus else None
            except self._can.CanError:
                break
            if msg is not None:
                self._handle(msg)
            now = time.monotonic()
            if next_tick is not None and now >= next_tick:
                self._step(period_s)
                self._send_positions()
                next_tick += period_s
                if now - next_tick > 5 * period_s:  # fell far behind: resynchronise
                    next_tick = now + period_s

    def _send(self, frame: proto.Frame) -> None:
        with self._lock:
            if self._silent:
                return
        if self._bus is None:
            return
        try:
            self._bus.send(self._can.Message(arbitration_id=frame.arbitration_id,
                                             data=frame.data, is_extended_id=False,
                                             is_remote_frame=frame.remote))
        except self._can.CanError:
            pass

    def _send_positions(self) -> None:
        q = self.positions()
        for f in range(proto.NUM_FINGERS):
            self._send(proto.position_frame(f, q[4 * f:4 * f + 4], self.device_id))
        with self._lock:
            self._frames_sent += proto.NUM_FINGERS

    def _step(self, dt: float) -> None:
        """Advance the joint model by ``dt`` seconds under the last PWM command."""
        with self._lock:
            if self._servo_on:
                tau = self._pwm / proto.pwm_per_nm(self.hardware_version)
            else:
                tau = np.zeros(proto.NUM_JOINTS)
            self._v += dt * (tau - self.damping * self._v) / self.inertia
            q = self._q + dt * self._v
            at_low, at_high = q <= self.lower, q >= self.upper
            self._v[(at_low & (self._v < 0)) | (at_high & (self._v > 0))] = 0.0
            self._q = np.clip(q, self.lower, self.upper)

    def _handle(self, msg: can.Message) -> None:
        frame = RecordedFrame(time.monotonic(), msg.arbitration_id, bytes(msg.data),
                              bool(msg.is_remote_frame))
        with self._lock:
            self._records.append(frame)
        command, dev = frame.command, frame.device_id
        if dev != self.device_id:
            return
        if command == proto.SYSTEM_ON:
            with self._lock:
                self._servo_on = True
        elif command == proto.SYSTEM_OFF:
            with self._lock:
                self._servo_on = False
                self._pwm[:] = 0.0
        elif command == proto.SET_PERIOD and len(frame.data) >= 6:
            with self._lock:
                self._period_ms = max(0, proto.decode_period(frame.data)[0])
        elif (f := proto.finger_of(command, proto.SET_TORQUE_BASE)) is not None \
                and not frame.remote and len(frame.data) >= 8:
            with self._lock:
                self._pwm[4 * f:4 * f + 4] = proto.decode_torque(frame.data)
        elif frame.remote:
            self._answer(command)

    def _answer(self, command: int) -> None:
        if command == proto.HAND_INFO:
            data = proto.encode_hand_info(self.hand_info())
        elif command == proto.SERIAL:
            data = proto.encode_serial(self.serial)
        elif (f := proto.finger_of(command, proto.FINGER_POSE_BASE)) is not None:
            data = proto.encode_positions(self.positions()[4 * f:4 * f + 4])
        elif proto.finger_of(command, proto.TEMPERATURE_BASE) is not None:
            data = proto.encode_temperature(self.hand_info().temperature_c)
        else:
            return
        self._send(proto.Frame(proto.arbitration_id(command, self.device_id), data))
