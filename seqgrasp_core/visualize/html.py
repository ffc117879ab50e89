"""A self-contained HTML page for one sequence or one hand: embedded data and a
canvas renderer.

The page loads nothing from anywhere: the meshes are embedded as JSON and the
renderer (``viewer.js``, plain canvas 2D, written for this project) is inlined, so
the file works offline and can be mailed around. After drawing, the page writes its
state into ``<body>``: ``data-rendered`` (``ok`` or ``error``, with ``data-error``),
``data-step``, ``data-nonblank-pixels``, and ``data-markers`` / ``data-segments``
(the dots and segments it drew); the headless browser test reads them back.

The embedded data (:func:`page_data`, :func:`hand_page_data`): ``steps`` of hand
vertices sharing ``handFaces``, ``objects``, per-step ``contacts``; optional static
``markers`` (coloured dots), ``segments`` (coloured lines, optionally arrows) and
``legend`` entries; and ``camera``, the initial view's rotation (rows right, up,
towards the viewer, see :mod:`.camera`), so the page opens looking at the palm.
"""

from __future__ import annotations

import html
import json
import re
from importlib.resources import files
from pathlib import Path

import numpy as np

from seqgrasp_core.visualize.camera import view_rotation
from seqgrasp_core.visualize.output import write_output
from seqgrasp_core.visualize.scene import CONTACT_COLOR, HAND_COLOR, SequenceView

DECIMALS = 5  # coordinates rounded to 10 µm


def _flat(a: np.ndarray, decimals: int | None = DECIMALS) -> list:
    a = np.asarray(a)
    return (np.round(a, decimals) if decimals is not None else a).reshape(-1).tolist()


def _camera(rotation: np.ndarray) -> list:
    return np.round(np.asarray(rotation, dtype=np.float64), 6).tolist()


def _rgb(color) -> list:
    return [round(float(c), 4) for c in color]


def _markers(markers) -> list:
    return [{"label": m.label, "color": _rgb(m.color), "points": _flat(m.points),
             "size": m.size, "overlay": m.overlay} for m in markers]


def _segments(segments) -> list:
    return [{"label": s.label, "color": _rgb(s.color), "starts": _flat(s.starts),
             "ends": _flat(s.ends), "width": s.width, "arrow": s.arrow, "overlay": s.overlay}
            for s in segments]


def page_data(view: SequenceView, step: int | None = None, camera: str = "palm") -> dict:
    """The JSON the page embeds for a sequence (flat coordinate lists, hand frame, metres)."""
    first = view.steps[0].hand
    offsets = np.cumsum([0] + [len(m.vertices) for m in first])[:-1]
    hand_faces = np.concatenate([m.faces + o for m, o in zip(first, offsets)])
    lo, hi = view.bounds()
    return {
        "title": view.title,
        "initialStep": view.step_view(step).step if step is not None else len(view.steps),
        "bounds": [_flat(lo), _flat(hi)],
        "camera": _camera(view_rotation(view.axes, camera)),
        "handColor": list(HAND_COLOR),
        "contactColor": "rgb(%d,%d,%d)" % tuple(round(255 * c) for c in CONTACT_COLOR),
        "handFaces": _flat(hand_faces, None),
        "objects": [{"name": m.name, "color": list(m.color), "vertices": _flat(m.vertices),
                     "faces": _flat(m.faces, None)} for m in view.objects],
        "steps": [{"step": s.step, "object": s.object_id, "os": s.os_name,
                   "hand": _flat(np.concatenate([m.vertices for m in s.hand])),
                   "contacts": _flat(s.contacts), "contactObject": _flat(s.contact_object, None)}
                  for s in view.steps],
        "markers": [], "segments": [], "legend": [],
    }


def hand_page_data(view, camera: str = "palm") -> dict:
    """The JSON the page embeds for a :class:`~.hand_view.HandView`: one step (the open
    pose), no objects, the contact candidates as ``markers``, their normals, the palm
    normal and the frame axes as ``segments``, and the legend."""
    offsets = np.cumsum([0] + [len(m.vertices) for m in view.meshes])[:-1]
    faces = np.concatenate([m.faces + o for m, o in zip(view.meshes, offsets)])
    lo, hi = view.bounds()
    return {
        "title": view.title,
        "initialStep": 1,
        "bounds": [_flat(lo), _flat(hi)],
        "camera": _camera(view.camera(camera)),
        "handColor": _rgb(view.meshes[0].color),
        "contactColor": "rgb(%d,%d,%d)" % tuple(round(255 * c) for c in CONTACT_COLOR),
        "handFaces": _flat(faces, None),
        "objects": [],
        "steps": [{"step": 1, "object": "open pose", "os": "", "label": "open pose",
                   "hand": _flat(np.concatenate([m.vertices for m in view.meshes])),
                   "contacts": [], "contactObject": []}],
        "markers": _markers(view.markers),
        "segments": _segments(view.segments),
        "legend": [{"label": e.label, "color": _rgb(e.color), "count": e.count}
                   for e in view.legend],
        "hint": "Drag to rotate, wheel to zoom, r to reset. Hand frame (root link), metres. "
                "Contact candidates are dots coloured by group, each with a 5 mm segment "
                "along its outward normal; the black arrow is the palm normal (3 cm) from "
                "the palm centre; x, y, z arrows (red, green, blue, 3 cm) are the hand frame.",
    }


def _page(data: dict) -> str:
    here = files(__package__)
    template = (here / "viewer.html").read_text(encoding="utf-8")
    script = (here / "viewer.js").read_text(encoding="utf-8")
    payload = json.dumps(data, separators=(",", ":"))
    payload = payload.replace("</", "<\\/")  # never close the <script> element early
    parts = {"TITLE": html.escape(data["title"]), "SCRIPT": script, "DATA": payload}
    return re.sub(r"__(TITLE|SCRIPT|DATA)__", lambda m: parts[m.group(1)], template)


def render_html(view: SequenceView, step: int | None = None, camera: str = "palm") -> str:
    """The page of a sequence as a string."""
    return _page(page_data(view, step, camera))


def render_hand_html(view, camera: str = "palm") -> str:
    """The page of a :class:`~.hand_view.HandView` as a string."""
    return _page(hand_page_data(view, camera))


def write_html(view: SequenceView, path: str | Path, *, step: int | None = None,
               camera: str = "palm") -> None:
    """Write a sequence's page atomically to ``path`` (a half-written page is never left)."""
    write_output(path, render_html(view, step, camera).encode("utf-8"))


def write_hand_html(view, path: str | Path, *, camera: str = "palm") -> None:
    """Write a hand's page atomically to ``path``."""
    write_output(path, render_hand_html(view, camera).encode("utf-8"))
