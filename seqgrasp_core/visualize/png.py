"""A static picture of a sequence, rendered with matplotlib's Agg backend.

Agg draws in memory, so this works on a machine with no screen and no GPU. One
panel per step (or just ``step``), same view and same scale in every panel, the
objects coloured in grasp order as in the paper's Fig. 5 and contacts as dots.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from seqgrasp_core.visualize.output import write_output
from seqgrasp_core.visualize.scene import CONTACT_COLOR, SequenceView

ELEVATION, AZIMUTH = 20.0, -40.0   # degrees: the palm (+x) turned towards the viewer
PANEL_INCHES, DPI = 3.6, 110


def _shaded(faces_xyz: np.ndarray, color, light=np.array((0.5, -0.35, 0.8))) -> np.ndarray:
    """RGBA per face ``(F, 4)``: Lambert shade of ``color`` under one light."""
    n = np.cross(faces_xyz[:, 1] - faces_xyz[:, 0], faces_xyz[:, 2] - faces_xyz[:, 0])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    shade = 0.45 + 0.55 * np.abs(n @ (light / np.linalg.norm(light)))
    rgb = np.clip(np.asarray(color)[None, :] * shade[:, None], 0, 1)
    return np.c_[rgb, np.ones(len(rgb))]


def render_png(view: SequenceView, step: int | None = None) -> bytes:
    """PNG bytes of one step, or of every step side by side when ``step`` is None."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    steps = [view.step_view(step)] if step is not None else list(view.steps)
    lo, hi = view.bounds()
    centre, half = (lo + hi) / 2, float(np.max(hi - lo)) / 2 * 1.05
    fig = Figure(figsize=(PANEL_INCHES * len(steps), PANEL_INCHES + 0.5), dpi=DPI)
    FigureCanvasAgg(fig)
    fig.suptitle(view.title, fontsize=9)
    for col, s in enumerate(steps):
        ax = fig.add_subplot(1, len(steps), col + 1, projection="3d")
        meshes = list(view.objects[:s.step]) + list(s.hand)
        tris = [m.vertices[m.faces] for m in meshes]
        colors = [_shaded(t, m.color) for t, m in zip(tris, meshes)]
        ax.add_collection3d(Poly3DCollection(np.concatenate(tris), facecolors=np.concatenate(colors),
                                             edgecolors="none", linewidths=0))
        if len(s.contacts):
            fill = [view.objects[i].color for i in s.contact_object]
            ax.scatter(*s.contacts.T, s=22, c=fill, edgecolors=[CONTACT_COLOR],
                       linewidths=1.2, depthshade=False, zorder=10)
        ax.set_xlim(centre[0] - half, centre[0] + half)
        ax.set_ylim(centre[1] - half, centre[1] + half)
        ax.set_zlim(centre[2] - half, centre[2] + half)
        ax.set_box_aspect((1, 1, 1))
        ax.view_init(elev=ELEVATION, azim=AZIMUTH)
        ax.set_axis_off()
        ax.set_title(f"step {s.step}: {s.object_id}\n({s.os_name})", fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", facecolor="white")
    return buf.getvalue()


def write_png(view: SequenceView, path: str | Path, *, step: int | None = None) -> None:
    """Render and write atomically to ``path``."""
    write_output(path, render_png(view, step))
