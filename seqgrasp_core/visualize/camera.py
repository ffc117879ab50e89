"""Where the camera looks from: views defined by the hand's palm, whatever its frame.

Hands do not agree on their frames: the Allegro's palm faces +x, the Shadow hand's
and MANO's face -y. A fixed camera shows one hand's palm and another's back, so the
views are built from two directions of the hand itself, both in the hand frame:

``n``, the palm normal
    ``HandSpec.palm_normal`` (unit, away from the palm, towards a grasped object).
``f``, the finger direction
    from the palm centre to the mean of all contact candidates placed at the open
    pose, made orthogonal to ``n`` and unit. Every hand has contact candidates, most of
    them lie on the fingers, and at the open pose the fingers stretch away from the
    palm, so this points from the wrist towards the fingertips without naming any link.
    (When the mean lies on the palm normal, any direction orthogonal to ``n`` is used.)

A view is a rotation ``R`` ``(3, 3)`` whose rows are the camera's axes in the hand
frame: right, up, and *towards the viewer*. ``R @ (p - centre)`` gives a point's
screen coordinates (right, up) and its depth (larger is nearer); the renderers
project orthographically. With ``s = n × f``:

``palm``
    looking at the palm along ``-n``, fingers up, turned 25° about ``f`` and raised
    20° towards the fingertips so that the fingers' depth shows.
``side``
    looking along ``s`` (``n × f``), fingers up; the palm faces left.
``top``
    looking down the fingers along ``-f``, the palm facing up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

VIEWS = ("palm", "side", "top")
PALM_TURN_DEG = 25.0   # about f, so that the palm is seen a little from the side
PALM_RAISE_DEG = 20.0  # towards the fingertips, so that the camera looks slightly down


@dataclass(frozen=True)
class HandAxes:
    """The hand's own directions in the hand frame: ``palm_center`` ``(3,)`` metres,
    ``palm_normal`` ``(3,)`` and ``finger`` ``(3,)`` unit vectors, orthogonal."""

    palm_center: np.ndarray
    palm_normal: np.ndarray
    finger: np.ndarray


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def hand_axes(palm_center, palm_normal, contact_points: np.ndarray) -> HandAxes:
    """The palm normal and the finger direction (module docstring) from the palm and the
    contact candidates ``(C, 3)`` placed at the open pose (hand frame, metres)."""
    c = np.asarray(palm_center, dtype=np.float64).reshape(3)
    n = _unit(np.asarray(palm_normal, dtype=np.float64).reshape(3))
    pts = np.asarray(contact_points, dtype=np.float64).reshape(-1, 3)
    reach = pts.mean(axis=0) - c if len(pts) else np.zeros(3)
    f = reach - (reach @ n) * n
    if np.linalg.norm(f) < 1e-6 * max(1.0, float(np.linalg.norm(reach))) or \
            np.linalg.norm(f) < 1e-9:
        axis = np.eye(3)[int(np.argmin(np.abs(n)))]  # the frame axis least along n
        f = axis - (axis @ n) * n
    return HandAxes(c, n, _unit(f))


def _rotate(v: np.ndarray, axis: np.ndarray, degrees: float) -> np.ndarray:
    """``v`` turned by ``degrees`` about unit ``axis`` (Rodrigues)."""
    a = math.radians(degrees)
    return v * math.cos(a) + np.cross(axis, v) * math.sin(a) + axis * (axis @ v) * (1 - math.cos(a))


def view_rotation(axes: HandAxes, view: str = "palm") -> np.ndarray:
    """The camera rotation ``(3, 3)`` of ``view`` (one of :data:`VIEWS`): rows right, up,
    towards the viewer, in the hand frame (a proper rotation: ``det = +1``)."""
    n, f = axes.palm_normal, axes.finger
    if view == "palm":
        back = _rotate(n, f, PALM_TURN_DEG)                 # still orthogonal to f
        right = np.cross(f, back)
        up = _rotate(f, right, -PALM_RAISE_DEG)
        back = _rotate(back, right, -PALM_RAISE_DEG)        # the camera rises towards f
    elif view == "side":
        up, back = f, np.cross(f, n)                        # looking along n × f
    elif view == "top":
        up, back = n, f                                     # looking along -f
    else:
        from seqgrasp_core.errors import SeqGraspError

        raise SeqGraspError(f"unknown view {view!r}", f"choose one of: {', '.join(VIEWS)}")
    right = np.cross(up, back)
    return np.stack([_unit(right), _unit(up), _unit(back)])
