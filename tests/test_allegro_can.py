"""Allegro V4 CAN backend against the simulated firmware on python-can's virtual bus."""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
import uuid

import numpy as np
import pytest

from seqgrasp_allegro import can_protocol as proto
from seqgrasp_allegro.can_backend import (
    DEFAULT_LOWER,
    DEFAULT_UPPER,
    AllegroCanBackend,
    HandFaultError,
    HardwareError,
    WatchdogError,
)
from seqgrasp_allegro.sim_firmware import SimulatedAllegroFirmware
from seqgrasp_core.errors import SeqGraspError

ALL = [True] * 16


def _channel() -> str:
    return f"allegro-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def rig():
    """A started simulated hand and an (unopened) backend on a fresh virtual channel."""
    channel = _channel()
    fw = SimulatedAllegroFirmware(channel).start()
    backends = []

    def make(**kw) -> AllegroCanBackend:
        b = AllegroCanBackend("virtual", channel, **kw)
        backends.append(b)
        return b

    yield fw, make
    for b in backends:
        b.close()
    fw.stop()


def _torques(records):
    """(finger, pwm tuple) of every recorded SET_TORQUE frame."""
    out = []
    for r in records:
        f = proto.finger_of(r.command, proto.SET_TORQUE_BASE)
        if f is not None and not r.remote:
            out.append((f, proto.decode_torque(r.data)))
    return out


def _wait_for(predicate, timeout=2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def _after(fw, t):
    return [r for r in fw.recorded() if r.time >= t]


def _assert_released(fw, since):
    """After ``since``: the last torque frame of each finger is zero, SYSTEM_OFF was
    sent, and no non-zero torque follows the SYSTEM_OFF."""
    assert _wait_for(lambda: any(r.command == proto.SYSTEM_OFF for r in _after(fw, since)))
    recs = _after(fw, since)
    last = {}
    for f, pwm in _torques(recs):
        last[f] = pwm
    assert set(last) == {0, 1, 2, 3}
    assert all(pwm == (0, 0, 0, 0) for pwm in last.values())
    first_off = next(i for i, r in enumerate(recs) if r.command == proto.SYSTEM_OFF)
    assert all(pwm == (0, 0, 0, 0) for _, pwm in _torques(recs[first_off:]))
    assert not fw.servo_on


# --------------------------------------------------------------------------- protocol


def test_arbitration_ids():
    assert proto.arbitration_id(proto.SYSTEM_ON) == 0x100
    assert proto.arbitration_id(proto.SYSTEM_OFF) == 0x104
    assert proto.arbitration_id(proto.HAND_INFO) == 0x200
    assert proto.arbitration_id(proto.SET_PERIOD) == 0x204
    assert proto.arbitration_id(proto.SERIAL) == 0x220
    assert proto.arbitration_id(proto.SET_TORQUE_BASE + 3, device_id=2) == 0x18E
    assert proto.split_id(0x18E) == (0x63, 2)
    assert proto.split_id(0x80 | 1) == (0x20, 1)  # index finger position, device 1


def test_position_frame_decodes_known_raw():
    raw = (0, 1000, -2000, 32767)
    data = proto.encode_int16s(raw)
    assert data == bytes([0x00, 0x00, 0xE8, 0x03, 0x30, 0xF8, 0xFF, 0x7F])
    angles = proto.decode_positions(data)
    expected = [r * (333.3 / 65536) * math.pi / 180 for r in raw]
    assert angles == pytest.approx(expected, abs=1e-12)
    # worked numbers: 1000 counts = 5.0858° = 0.088763 rad; 32767 = 166.645° = 2.908502 rad
    assert angles[1] == pytest.approx(0.0887632, abs=1e-6)
    assert angles[2] == pytest.approx(-0.1775263, abs=1e-6)
    assert angles[3] == pytest.approx(2.908502, abs=1e-5)
    # encode → decode round trip is within half a count
    back = proto.decode_positions(proto.encode_positions([0.5, -0.25, 1.6, 0.0]))
    assert back == pytest.approx([0.5, -0.25, 1.6, 0.0], abs=proto.COUNTS_TO_RAD)


def test_torque_to_pwm_scale_and_caps():
    assert proto.torque_to_pwm([0.1, -0.1, 0.2, 0.05], hardware_version=4) == \
        [120, -120, 240, 60]
    assert proto.torque_to_pwm([0.1, -0.1, 0.2, 0.05], hardware_version=3) == \
        [80, -80, 160, 40]
    big = proto.torque_to_pwm([10.0] * 16)
    assert big == [375, 675, 450, 285] * 3 + [525, 405, 270, 270]
    assert proto.torque_to_pwm([-10.0] * 4, first_joint=12) == [-525, -405, -270, -270]
    assert proto.torque_to_pwm([float("nan")] * 4) == [0, 0, 0, 0]
    assert max(proto.PWM_CAPS) <= proto.PWM_GLOBAL_CAP == 1200


def test_frames_and_hand_info():
    f = proto.set_torque(1, [100, -200, 0, 285])
    assert f.arbitration_id == 0x184 and proto.decode_torque(f.data) == (100, -200, 0, 285)
    p = proto.set_period(3, 0, 0)
    assert p.arbitration_id == 0x204 and p.data == bytes([3, 0, 0, 0, 0, 0])
    r = proto.request_hand_info()
    assert r.remote and r.arbitration_id == 0x200 and r.data == b""
    info = proto.decode_hand_info(bytes([0x04, 0x00, 0x10, 0x02, 0x01, 48, 0x03, 0]))
    assert info == proto.HandInfo(hardware_version=4, firmware_version=0x0210,
                                  is_right=False, temperature_c=48, servo_on=True,
                                  over_temperature=True, comm_fault=False)
    assert info.faulted and info.status == 0x03
    assert proto.decode_hand_info(proto.encode_hand_info(info)) == info
    assert proto.decode_serial(b"SAH040\x00\x00") == "SAH040"


# --------------------------------------------------------------------------- start-up


def test_startup_sequence_on_wire(rig):
    fw, make = rig
    b = make()
    b.open()
    recs = fw.recorded()
    head = [(r.arbitration_id, r.remote) for r in recs[:5]]
    assert head == [(0x104, False),   # SYSTEM_OFF
                    (0x200, True),    # HAND_INFO request
                    (0x220, True),    # SERIAL request
                    (0x204, False),   # SET_PERIOD
                    (0x100, False)]   # SYSTEM_ON
    assert proto.decode_period(recs[3].data) == (3, 0, 0)
    assert b.hand_info.hardware_version == 4 and b.hand_info.is_right
    assert b.serial == "SAH040S1"
    assert fw.servo_on and fw.period_ms == 3
    q = b.joint_positions()
    assert len(q) == 16
    assert q == pytest.approx(fw.positions(), abs=0.01)


def test_close_sequence_and_idempotent(rig):
    fw, make = rig
    b = make()
    b.open()
    t = time.monotonic()
    b.close()
    b.close()
    assert _wait_for(lambda: any(r.command == proto.SYSTEM_OFF for r in _after(fw, t)))
    tail = [(r.command, bytes(r.data)) for r in _after(fw, t)][-6:]
    zero = bytes(8)
    assert tail == [(0x60, zero), (0x61, zero), (0x62, zero), (0x63, zero),
                    (proto.SET_PERIOD, bytes(6)), (proto.SYSTEM_OFF, b"")]
    assert b._bus is None
    assert _wait_for(lambda: fw.period_ms == 0 and not fw.servo_on)
    with pytest.raises(HardwareError):
        b.joint_positions()


# --------------------------------------------------------------------------- control


def test_reaches_target_and_inactive_joints_hold(rig):
    fw, make = rig
    b = make()
    b.open()
    q0 = np.array(b.joint_positions())
    target = q0.copy()
    active = np.zeros(16, bool)
    active[[1, 2, 5, 13, 14]] = True
    target[[1, 2, 5, 13, 14]] = [0.8, 0.6, 0.7, 0.5, 0.9]
    err = b.move_to(target, active, timeout_s=6.0)
    assert err < 0.05
    q = np.array(b.joint_positions())
    assert np.abs(q[active] - target[active]).max() < 0.05
    assert np.abs(q[~active] - q0[~active]).max() < 0.02
    assert np.abs(fw.positions()[active] - target[active]).max() < 0.05


def test_targets_clamped_to_joint_limits(rig):
    fw, make = rig
    b = make(max_speed=4.0)
    b.open()
    target = np.array(b.joint_positions())
    target[1] = 5.0    # index proximal, upper limit 1.61
    target[12] = -3.0  # thumb roll, lower limit 0.263
    active = np.zeros(16, bool)
    active[[1, 12]] = True
    err = b.move_to(target, active, timeout_s=6.0)
    assert err < 0.05
    q = np.array(b.joint_positions())
    assert q[1] == pytest.approx(DEFAULT_UPPER[1], abs=0.05)
    assert q[12] == pytest.approx(DEFAULT_LOWER[12], abs=0.05)


def test_max_joint_speed_ramps_targets(rig):
    fw, make = rig
    b = make(max_speed=0.5)
    b.open()
    target = np.array(b.joint_positions())
    target[5] += 0.5
    t0 = time.monotonic()
    err = b.move_to(target, ALL, timeout_s=6.0)
    # 0.5 rad at 0.5 rad/s takes at least 1 s of 3 ms hand ticks
    assert time.monotonic() - t0 > 0.9
    assert err < 0.05


def test_torque_never_above_cap(rig):
    fw, make = rig
    # stiff gains and a fast set-point so the PD output saturates every joint
    b = make(kp=[60.0] * 16, kd=[0.2] * 16, max_speed=20.0)
    b.open()
    start = np.array(b.joint_positions())
    target = np.clip(start + np.where(np.arange(16) % 2 == 0, 1.0, -1.0),
                     DEFAULT_LOWER, DEFAULT_UPPER)
    b.move_to(target, ALL, timeout_s=1.0)
    b.move_to(start, ALL, timeout_s=1.0)
    b.close()
    frames = _torques(fw.recorded())
    assert len(frames) > 100
    pwm = np.array([[*p] for _, p in frames])
    fingers = np.array([f for f, _ in frames])
    caps = np.array(proto.PWM_CAPS).reshape(4, 4)[fingers]
    assert np.all(np.abs(pwm) <= caps)
    assert np.all(np.abs(pwm) <= 1200)
    assert np.any(np.abs(pwm) == caps)  # the caps were actually reached


# --------------------------------------------------------------------------- safety


def _far_target(b):
    target = np.array(b.joint_positions())
    target[1] = 1.5
    target[5] = 1.5
    return target


def test_silence_trips_watchdog(rig):
    fw, make = rig
    b = make()
    b.open()
    timer = threading.Timer(0.3, fw.go_silent)
    timer.start()
    t_start = time.monotonic()
    try:
        with pytest.raises(WatchdogError) as exc:
            b.move_to(_far_target(b), ALL, timeout_s=8.0)
    finally:
        timer.cancel()
    assert time.monotonic() - t_start < 3.0
    assert "no positions" in exc.value.message and exc.value.hint
    assert isinstance(exc.value, SeqGraspError)
    _assert_released(fw, t_start)
    assert b._bus is None


def test_over_temperature_stops_safely(rig):
    fw, make = rig
    b = make()
    b.open()
    timer = threading.Timer(0.3, fw.set_over_temperature, args=(True,))
    timer.start()
    t_start = time.monotonic()
    try:
        with pytest.raises(HandFaultError) as exc:
            b.move_to(_far_target(b), ALL, timeout_s=8.0)
    finally:
        timer.cancel()
    assert "over-temperature" in exc.value.message
    _assert_released(fw, t_start)
    assert b._bus is None


def test_over_temperature_at_open_refuses(rig):
    fw, make = rig
    fw.set_over_temperature(True)
    b = make()
    with pytest.raises(HandFaultError):
        b.open()
    assert b._bus is None
    assert not any(r.command == proto.SYSTEM_ON for r in fw.recorded())


def test_keyboard_interrupt_shuts_down_cleanly(rig, monkeypatch):
    fw, make = rig
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        b = make()
        b.open()
        t_start = time.monotonic()
        timer = threading.Timer(0.3, signal.raise_signal, args=(signal.SIGINT,))
        timer.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                b.move_to(_far_target(b), ALL, timeout_s=8.0)
        finally:
            timer.cancel()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert b._bus is None
    _assert_released(fw, t_start)
    assert _wait_for(lambda: fw.period_ms == 0)


# --------------------------------------------------------------------------- errors


def test_unreachable_hand_gives_clear_error():
    channel = _channel()
    b = AllegroCanBackend("virtual", channel)
    t0 = time.monotonic()
    with pytest.raises(HardwareError) as exc:
        b.open()
    assert time.monotonic() - t0 < 1.5
    assert channel in exc.value.message and "no answer" in exc.value.message
    assert "powered" in exc.value.hint
    assert b._bus is None


def test_unknown_interface_gives_clear_error():
    b = AllegroCanBackend("no-such-can-interface", "can0")
    with pytest.raises(HardwareError) as exc:
        b.open()
    assert "no-such-can-interface" in exc.value.message
    assert "socketcan" in exc.value.hint and "pcan" in exc.value.hint


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SocketCAN is Linux-only")
def test_missing_socketcan_interface_gives_clear_error():
    b = AllegroCanBackend("socketcan", "seqgrasp-nocan9")
    with pytest.raises(HardwareError) as exc:
        b.open()
    assert "seqgrasp-nocan9" in exc.value.message
    assert "ip link set seqgrasp-nocan9 up type can bitrate 1000000" in exc.value.hint
