"""Pure encode/decode of the Allegro Hand V4 CAN protocol.

No bus access happens here: every function maps numbers to frame payloads (``bytes``)
or back, so the backend and the simulated firmware share one definition of the wire
format.

Wire facts (Allegro Hand V4, Wonik's ``allegro_hand_ros_v4`` driver):

* 1 Mbit/s, standard 11-bit identifiers, arbitration id = ``(command << 2) | device``
  (device id 0 by default). All multi-byte fields are little-endian.
* Joint order used throughout: finger ``f`` (0 index, 1 middle, 2 ring, 3 thumb),
  joint ``j`` (0..3, base to tip) is joint ``4 * f + j``.
* Positions: int16 counts, 1 count = 333.3 / 65536 degrees.
* Torque is sent as a PWM duty value (int16): ``PWM = tau [N·m] × 1200`` on hardware
  version 4 (800 otherwise), capped per joint and globally at 1200.

V5 hands use other units (current in mA, 0.088° per count); do not use this module
for them.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import NamedTuple, Sequence

# --------------------------------------------------------------------------- commands

SYSTEM_ON = 0x40
"""Switch the servos on and start streaming (no data)."""
SYSTEM_OFF = 0x41
"""Switch the servos off and stop streaming (no data)."""
SET_TORQUE_BASE = 0x60
"""SET_TORQUE for finger ``f`` is ``0x60 + f``; data 4 × int16 PWM."""
SET_PERIOD = 0x81
"""Streaming periods; data 3 × int16 milliseconds (position, IMU, temperature)."""
HAND_INFO = 0x80
"""Remote request / answer: versions, handedness, temperature, status."""
SERIAL = 0x88
"""Remote request / answer: serial number (ASCII, up to 8 bytes)."""
FINGER_POSE_BASE = 0x20
"""Remote request / position frame for finger ``f`` is ``0x20 + f``; 4 × int16."""
IMU = 0x30
"""Remote request for the IMU reading."""
TEMPERATURE_BASE = 0x38
"""Remote request / answer for finger ``f``'s temperature is ``0x38 + f``."""

NUM_FINGERS = 4
JOINTS_PER_FINGER = 4
NUM_JOINTS = NUM_FINGERS * JOINTS_PER_FINGER
FINGER_NAMES = ("index", "middle", "ring", "thumb")

DEFAULT_DEVICE_ID = 0
BITRATE = 1_000_000
"""CAN bit rate of the hand (bit/s)."""

DEFAULT_PERIOD_MS = 3
"""Position streaming period used by the start-up sequence (ms) → 333 Hz."""

# --------------------------------------------------------------------------- scaling

COUNTS_TO_DEG = 333.3 / 65536.0
"""Degrees per position count."""
COUNTS_TO_RAD = COUNTS_TO_DEG * math.pi / 180.0
"""Radians per position count (≈ 8.876e-5 rad)."""

PWM_PER_NM_V4 = 1200.0
"""PWM units per N·m on hardware version 4."""
PWM_PER_NM_OTHER = 800.0
"""PWM units per N·m on other hardware versions."""
PWM_GLOBAL_CAP = 1200
"""No PWM magnitude above this is ever sent."""

FINGER_PWM_CAPS = (375, 675, 450, 285)
"""Per-joint PWM caps of index, middle and ring: roll, proximal, middle, distal."""
THUMB_PWM_CAPS = (525, 405, 270, 270)
"""Per-joint PWM caps of the thumb (joints 0..3)."""
PWM_CAPS: tuple[int, ...] = FINGER_PWM_CAPS * 3 + THUMB_PWM_CAPS
"""PWM cap of each of the 16 joints, in joint order (all ≤ :data:`PWM_GLOBAL_CAP`)."""

# HAND_INFO status bits (byte 6)
STATUS_SERVO_ON = 0x01
STATUS_OVER_TEMPERATURE = 0x02
STATUS_COMM_FAULT = 0x04

_INT16_MIN, _INT16_MAX = -32768, 32767


# --------------------------------------------------------------------------- ids

class Frame(NamedTuple):
    """One CAN frame, independent of any CAN library.

    ``arbitration_id`` is the 11-bit id, ``data`` the payload, ``remote`` whether it
    is a remote (RTR) request; ``dlc`` is the requested length of a remote frame.
    """

    arbitration_id: int
    data: bytes = b""
    remote: bool = False
    dlc: int = 0


def arbitration_id(command: int, device_id: int = DEFAULT_DEVICE_ID) -> int:
    """Arbitration id of ``command`` for hand ``device_id`` (0..3)."""
    if not 0 <= device_id <= 3:
        raise ValueError(f"device id must be 0..3, got {device_id}")
    if not 0 <= command <= 0x1FF:
        raise ValueError(f"command must fit 9 bits, got {command:#x}")
    return (command << 2) | device_id


def split_id(arb_id: int) -> tuple[int, int]:
    """``(command, device_id)`` of a received arbitration id."""
    return (arb_id & ~0x3) >> 2, arb_id & 0x3


def finger_of(command: int, base: int) -> int | None:
    """Finger index ``f`` if ``command == base + f`` for ``f`` in 0..3, else ``None``."""
    f = command - base
    return f if 0 <= f < NUM_FINGERS else None


# --------------------------------------------------------------------------- frames

def system_on(device_id: int = DEFAULT_DEVICE_ID) -> Frame:
    """SYSTEM_ON frame (servos on, start streaming)."""
    return Frame(arbitration_id(SYSTEM_ON, device_id))


def system_off(device_id: int = DEFAULT_DEVICE_ID) -> Frame:
    """SYSTEM_OFF frame (servos off, stop streaming)."""
    return Frame(arbitration_id(SYSTEM_OFF, device_id))


def _clamp_int16(v: int) -> int:
    return max(_INT16_MIN, min(_INT16_MAX, int(v)))


def encode_int16s(values: Sequence[int]) -> bytes:
    """Little-endian int16 array (values are clamped to the int16 range)."""
    return struct.pack(f"<{len(values)}h", *(_clamp_int16(v) for v in values))


def decode_int16s(data: bytes, count: int) -> tuple[int, ...]:
    """First ``count`` little-endian int16 values of ``data``."""
    if len(data) < 2 * count:
        raise ValueError(f"need {2 * count} bytes, got {len(data)}")
    return struct.unpack_from(f"<{count}h", bytes(data))


def set_torque(finger: int, pwm: Sequence[int],
               device_id: int = DEFAULT_DEVICE_ID) -> Frame:
    """SET_TORQUE frame for ``finger`` (0..3) with 4 PWM values (int16 duty units).

    The values are sent as given (apart from int16 clamping); apply
    :func:`torque_to_pwm` first so that the caps hold.
    """
    if finger_of(SET_TORQUE_BASE + finger, SET_TORQUE_BASE) is None:
        raise ValueError(f"finger must be 0..3, got {finger}")
    if len(pwm) != JOINTS_PER_FINGER:
        raise ValueError(f"need 4 PWM values, got {len(pwm)}")
    return Frame(arbitration_id(SET_TORQUE_BASE + finger, device_id), encode_int16s(pwm))


def decode_torque(data: bytes) -> tuple[int, int, int, int]:
    """The 4 PWM values of a SET_TORQUE payload."""
    return decode_int16s(data, 4)  # type: ignore[return-value]


def set_period(position_ms: int, imu_ms: int = 0, temperature_ms: int = 0,
               device_id: int = DEFAULT_DEVICE_ID) -> Frame:
    """SET_PERIOD frame: streaming periods in milliseconds (0 = off)."""
    return Frame(arbitration_id(SET_PERIOD, device_id),
                 encode_int16s((position_ms, imu_ms, temperature_ms)))


def decode_period(data: bytes) -> tuple[int, int, int]:
    """``(position_ms, imu_ms, temperature_ms)`` of a SET_PERIOD payload."""
    return decode_int16s(data, 3)  # type: ignore[return-value]


def request(command: int, device_id: int = DEFAULT_DEVICE_ID, dlc: int = 8) -> Frame:
    """A remote (RTR) request for ``command`` (HAND_INFO, SERIAL, FINGER_POSE+f, …)."""
    return Frame(arbitration_id(command, device_id), b"", True, dlc)


def request_hand_info(device_id: int = DEFAULT_DEVICE_ID) -> Frame:
    """Remote request for HAND_INFO."""
    return request(HAND_INFO, device_id)


def request_serial(device_id: int = DEFAULT_DEVICE_ID) -> Frame:
    """Remote request for the serial number."""
    return request(SERIAL, device_id)


def request_finger_pose(finger: int, device_id: int = DEFAULT_DEVICE_ID) -> Frame:
    """Remote request for one finger's joint positions."""
    return request(FINGER_POSE_BASE + finger, device_id)


def request_temperature(finger: int, device_id: int = DEFAULT_DEVICE_ID) -> Frame:
    """Remote request for one finger's temperature."""
    return request(TEMPERATURE_BASE + finger, device_id)


# --------------------------------------------------------------------------- positions

def counts_to_rad(raw: int) -> float:
    """Joint angle in radians of a raw position count."""
    return raw * COUNTS_TO_RAD


def rad_to_counts(angle: float) -> int:
    """Nearest raw position count of ``angle`` (radians), clamped to int16."""
    return _clamp_int16(round(angle / COUNTS_TO_RAD))


def decode_positions(data: bytes) -> tuple[float, float, float, float]:
    """The 4 joint angles (radians) of one finger's position frame."""
    return tuple(counts_to_rad(r) for r in decode_int16s(data, 4))  # type: ignore


def encode_positions(angles: Sequence[float]) -> bytes:
    """Position-frame payload of 4 joint angles (radians)."""
    if len(angles) != JOINTS_PER_FINGER:
        raise ValueError(f"need 4 angles, got {len(angles)}")
    return encode_int16s([rad_to_counts(a) for a in angles])


def position_frame(finger: int, angles: Sequence[float],
                   device_id: int = DEFAULT_DEVICE_ID) -> Frame:
    """The position frame a hand sends for ``finger`` (angles in radians)."""
    return Frame(arbitration_id(FINGER_POSE_BASE + finger, device_id),
                 encode_positions(angles))


# --------------------------------------------------------------------------- torque

def is_v4(hardware_version: int) -> bool:
    """Whether a HAND_INFO hardware version denotes a V4 hand.

    Accepts the plain value 4 and a major.minor word whose high byte is 4 (0x04xx).
    """
    return hardware_version == 4 or (hardware_version >> 8) == 4


def pwm_per_nm(hardware_version: int) -> float:
    """PWM units per N·m: 1200 on hardware version 4, 800 otherwise."""
    return PWM_PER_NM_V4 if is_v4(hardware_version) else PWM_PER_NM_OTHER


def pwm_cap(joint: int) -> int:
    """Largest PWM magnitude that may be sent to ``joint`` (0..15)."""
    return min(PWM_CAPS[joint], PWM_GLOBAL_CAP)


def torque_to_pwm(torques: Sequence[float], hardware_version: int = 4,
                  first_joint: int = 0) -> list[int]:
    """PWM values of joint torques (N·m), rounded and clamped to each joint's cap.

    ``torques[i]`` belongs to joint ``first_joint + i`` (so a single finger's 4 torques
    pass ``first_joint = 4 * f``). Non-finite torques become 0.
    """
    scale = pwm_per_nm(hardware_version)
    out = []
    for i, tau in enumerate(torques):
        cap = pwm_cap(first_joint + i)
        if not math.isfinite(tau):
            out.append(0)
            continue
        out.append(max(-cap, min(cap, int(round(tau * scale)))))
    return out


def pwm_to_torque(pwm: int, hardware_version: int = 4) -> float:
    """Joint torque (N·m) corresponding to a PWM value."""
    return pwm / pwm_per_nm(hardware_version)


# --------------------------------------------------------------------------- hand info

@dataclass(frozen=True)
class HandInfo:
    """Decoded HAND_INFO answer.

    ``temperature_c`` is in °C; the flags come from the status byte.
    """

    hardware_version: int
    firmware_version: int
    is_right: bool
    temperature_c: int
    servo_on: bool
    over_temperature: bool
    comm_fault: bool

    @property
    def status(self) -> int:
        """The raw status byte."""
        return ((STATUS_SERVO_ON if self.servo_on else 0)
                | (STATUS_OVER_TEMPERATURE if self.over_temperature else 0)
                | (STATUS_COMM_FAULT if self.comm_fault else 0))

    @property
    def faulted(self) -> bool:
        """Over-temperature or internal communication fault."""
        return self.over_temperature or self.comm_fault


def decode_hand_info(data: bytes) -> HandInfo:
    """HAND_INFO payload: hw version (bytes 0–1), fw version (2–3), type (4, 0 = right),
    temperature °C (5), status (6)."""
    if len(data) < 7:
        raise ValueError(f"HAND_INFO needs 7 bytes, got {len(data)}")
    hw, fw = struct.unpack_from("<HH", bytes(data))
    status = data[6]
    return HandInfo(hardware_version=hw, firmware_version=fw, is_right=data[4] == 0,
                    temperature_c=data[5], servo_on=bool(status & STATUS_SERVO_ON),
                    over_temperature=bool(status & STATUS_OVER_TEMPERATURE),
                    comm_fault=bool(status & STATUS_COMM_FAULT))


def encode_hand_info(info: HandInfo) -> bytes:
    """HAND_INFO payload (8 bytes, last one 0) of ``info``."""
    temp = max(0, min(255, int(info.temperature_c)))
    return struct.pack("<HHBBBB", info.hardware_version & 0xFFFF,
                       info.firmware_version & 0xFFFF, 0 if info.is_right else 1,
                       temp, info.status, 0)


def decode_serial(data: bytes) -> str:
    """Serial number text of a SERIAL answer (ASCII, NUL padding stripped)."""
    return bytes(data).split(b"\x00", 1)[0].decode("ascii", errors="replace").strip()


def encode_serial(serial: str) -> bytes:
    """SERIAL answer payload (ASCII, at most 8 bytes)."""
    return serial.encode("ascii", errors="replace")[:8]


def decode_temperature(data: bytes) -> int:
    """Temperature (°C) of a TEMPERATURE answer.

    The payload layout is not part of the documented facts; this module (and the
    simulated firmware) use one little-endian int32 in °C.
    """
    if len(data) < 4:
        raise ValueError(f"TEMPERATURE needs 4 bytes, got {len(data)}")
    return struct.unpack_from("<i", bytes(data))[0]


def encode_temperature(temperature_c: int) -> bytes:
    """TEMPERATURE answer payload (see :func:`decode_temperature`)."""
    return struct.pack("<i", int(temperature_c))
