"""A self-contained HTML page for one sequence: embedded data and a canvas renderer.

The page loads nothing from anywhere: the sequence's meshes are embedded as JSON and
the renderer (``viewer.js``, plain canvas 2D, written for this project) is inlined,
so the file works offline and can be mailed around. After drawing, the page writes
its state into ``<body>``: ``data-rendered`` (``ok`` or ``error``, with
``data-error``), ``data-step`` and ``data-nonblank-pixels``; the headless browser
test reads them back.
"""

from __future__ import annotations

import html
import json
import re
from importlib.resources import files
from pathlib import Path

import numpy as np

from seqgrasp_core.visualize.output import write_output
from seqgrasp_core.visualize.scene import CONTACT_COLOR, HAND_COLOR, SequenceView

DECIMALS = 5  # coordinates rounded to 10 µm


def _flat(a: np.ndarray, decimals: int | None = DECIMALS) -> list:
    a = np.asarray(a)
    return (np.round(a, decimals) if decimals is not None else a).reshape(-1).tolist()


def page_data(view: SequenceView, step: int | None = None) -> dict:
    """The JSON the page embeds (flat coordinate lists, hand frame, metres)."""
    first = view.steps[0].hand
    offsets = np.cumsum([0] + [len(m.vertices) for m in first])[:-1]
    hand_faces = np.concatenate([m.faces + o for m, o in zip(first, offsets)])
    lo, hi = view.bounds()
    return {
        "title": view.title,
        "initialStep": view.step_view(step).step if step is not None else len(view.steps),
        "bounds": [_flat(lo), _flat(hi)],
        "handColor": list(HAND_COLOR),
        "contactColor": "rgb(%d,%d,%d)" % tuple(round(255 * c) for c in CONTACT_COLOR),
        "handFaces": _flat(hand_faces, None),
        "objects": [{"name": m.name, "color": list(m.color), "vertices": _flat(m.vertices),
                     "faces": _flat(m.faces, None)} for m in view.objects],
        "steps": [{"step": s.step, "object": s.object_id, "os": s.os_name,
                   "hand": _flat(np.concatenate([m.vertices for m in s.hand])),
                   "contacts": _flat(s.contacts), "contactObject": _flat(s.contact_object, None)}
                  for s in view.steps],
    }


def render_html(view: SequenceView, step: int | None = None) -> str:
    """The page as a string."""
    here = files(__package__)
    template = (here / "viewer.html").read_text(encoding="utf-8")
    script = (here / "viewer.js").read_text(encoding="utf-8")
    payload = json.dumps(page_data(view, step), separators=(",", ":"))
    payload = payload.replace("</", "<\\/")  # never close the <script> element early
    parts = {"TITLE": html.escape(view.title), "SCRIPT": script, "DATA": payload}
    return re.sub(r"__(TITLE|SCRIPT|DATA)__", lambda m: parts[m.group(1)], template)


def write_html(view: SequenceView, path: str | Path, *, step: int | None = None) -> None:
    """Write the page atomically to ``path`` (a half-written page is never left)."""
    write_output(path, render_html(view, step).encode("utf-8"))
