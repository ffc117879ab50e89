"""A static picture of a sequence or of a hand, rendered with matplotlib's Agg backend.

Agg draws in memory, so this works on a machine with no screen and no GPU. The
geometry is first turned into the camera's frame (:mod:`.camera`: right, up, towards
the viewer), so the camera follows the hand's palm whatever the hand frame, and then
drawn orthographically in 2D with the painter's algorithm: every triangle, dot and
segment sorted back to front in one collection, so that the hand hides what lies
behind it (matplotlib's 3D axes sort whole artists, not their parts). Shading is a
Lambert term under a light near the camera.

A sequence: one panel per step (or just ``step``), same view and same scale in every
panel, the objects coloured in grasp order as in the paper's Fig. 5 and contacts as
dots. A hand (:mod:`.hand_view`): one panel and a legend.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from seqgrasp_core.visualize.output import write_output
from seqgrasp_core.visualize.scene import CONTACT_COLOR, MeshView, Segments, SequenceView

PANEL_INCHES, DPI = 3.6, 110
HAND_INCHES = (8.4, 6.4)
LIGHT = np.array((0.35, 0.55, 0.75)) / np.linalg.norm((0.35, 0.55, 0.75))  # camera frame
RUN_DOT, HAND_DOT = 0.013, 0.0048   # dot radius as a share of the picture's extent
_NONE = (0.0, 0.0, 0.0, 0.0)


class _Painter:
    """Polygons of one panel in the camera frame, drawn back to front.

    Coordinates are ``(x right, y up)`` in metres after :meth:`to_camera`; ``depth``
    grows towards the viewer.
    """

    def __init__(self, rotation: np.ndarray) -> None:
        self.rotation = np.asarray(rotation, dtype=np.float64)
        self.paths: list[np.ndarray] = []
        self.depth: list[float] = []
        self.face: list[tuple] = []
        self.edge: list[tuple] = []
        self.width: list[float] = []

    def to_camera(self, p: np.ndarray) -> np.ndarray:
        return np.asarray(p, dtype=np.float64).reshape(-1, 3) @ self.rotation.T

    def _add(self, path, depth, face, edge, width) -> None:
        self.paths.append(path)
        self.depth.append(depth)
        self.face.append(face)
        self.edge.append(edge)
        self.width.append(width)

    def mesh(self, m: MeshView) -> None:
        tri = self.to_camera(m.vertices)[m.faces]                          # (F, 3, 3)
        n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        shade = 0.42 + 0.58 * np.abs(n @ LIGHT)
        rgb = np.clip(np.asarray(m.color)[None, :] * shade[:, None], 0, 1)
        for xy, d, c in zip(tri[:, :, :2], tri[:, :, 2].mean(axis=1), rgb):
            colour = (*c, 1.0)
            self._add(xy, float(d), colour, colour, 0.25)

    def dots(self, points: np.ndarray, fill, edge, radius: float, edge_width: float,
             overlay: bool = False) -> None:
        """``points`` ``(M, 3)`` (hand frame) as discs; ``fill`` one RGB or ``(M, 3)``."""
        ring = np.stack([np.cos(np.linspace(0, 2 * np.pi, 13)[:-1]),
                         np.sin(np.linspace(0, 2 * np.pi, 13)[:-1])], axis=1) * radius
        fills = np.broadcast_to(np.asarray(fill, dtype=float), (len(points), 3))
        for q, c in zip(self.to_camera(points), fills):
            # A dot lies on a surface: nudge it forward so that it wins ties with it.
            depth = math.inf if overlay else float(q[2]) + 2 * radius
            self._add(q[:2] + ring, depth, (*c, 1.0), (*edge, 1.0), edge_width)

    def segments(self, s: Segments, head: float) -> None:
        a, b = self.to_camera(s.starts), self.to_camera(s.ends)
        width = s.width * 72 / DPI
        colour = (*s.color, 1.0)
        for p, q in zip(a, b):
            depth = math.inf if s.overlay else float(p[2] + q[2]) / 2
            self._add(np.stack([p[:2], q[:2]]), depth, _NONE, colour, width)
            shown = q[:2] - p[:2]
            length = float(np.linalg.norm(shown))
            if s.arrow and length > 1e-9:
                back = -shown / length * min(head, 0.45 * length)
                for angle in (0.45, -0.45):
                    c, si = math.cos(angle), math.sin(angle)
                    tip = q[:2] + np.array((c * back[0] - si * back[1], si * back[0] + c * back[1]))
                    self._add(np.stack([q[:2], tip]), depth, _NONE, colour, width)

    def extent(self) -> tuple[np.ndarray, np.ndarray]:
        pts = np.concatenate(self.paths)
        return pts.min(axis=0), pts.max(axis=0)

    def draw(self, ax) -> None:
        from matplotlib.collections import PolyCollection

        order = np.argsort(np.asarray(self.depth), kind="stable")

        def pick(items):
            return [items[i] for i in order]

        ax.add_collection(PolyCollection(pick(self.paths), facecolors=pick(self.face),
                                         edgecolors=pick(self.edge),
                                         linewidths=pick(self.width), closed=False,
                                         joinstyle="round", capstyle="round"))


def _frame(ax, lo: np.ndarray, hi: np.ndarray, aspect: float = 1.0) -> None:
    """Square-pixel limits around ``lo``…``hi`` (2D) for an axes ``aspect`` wide:tall."""
    centre = (lo + hi) / 2
    half_h = max((hi[1] - lo[1]) / 2, (hi[0] - lo[0]) / 2 / aspect) * 1.06
    ax.set_xlim(centre[0] - half_h * aspect, centre[0] + half_h * aspect)
    ax.set_ylim(centre[1] - half_h, centre[1] + half_h)
    ax.set_aspect("equal")
    ax.set_axis_off()


def _scene_extent(rotation: np.ndarray, points: list[np.ndarray]) -> float:
    xy = (np.concatenate(points) @ rotation.T)[:, :2]
    return float(np.max(xy.max(axis=0) - xy.min(axis=0)))


def render_png(view: SequenceView, step: int | None = None, *, camera: str = "palm") -> bytes:
    """PNG bytes of one step, or of every step side by side when ``step`` is None,
    seen from ``camera`` (:data:`~.camera.VIEWS`)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from seqgrasp_core.visualize.camera import view_rotation

    rotation = view_rotation(view.axes, camera)
    steps = [view.step_view(step)] if step is not None else list(view.steps)
    extent = _scene_extent(rotation, [m.vertices for m in view.objects]
                           + [m.vertices for s in view.steps for m in s.hand])
    fig = Figure(figsize=(PANEL_INCHES * len(steps), PANEL_INCHES + 0.5), dpi=DPI)
    FigureCanvasAgg(fig)
    fig.suptitle(view.title, fontsize=9)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.84, wspace=0.04)
    painters = []
    for s in steps:
        painter = _Painter(rotation)
        for m in list(view.objects[:s.step]) + list(s.hand):
            painter.mesh(m)
        if len(s.contacts):
            painter.dots(s.contacts, [view.objects[i].color for i in s.contact_object],
                         CONTACT_COLOR, RUN_DOT * extent, 1.2, overlay=True)
        painters.append(painter)
    # The same scale and centre in every panel: the union of all panels' extents.
    lo = np.min([p.extent()[0] for p in painters], axis=0)
    hi = np.max([p.extent()[1] for p in painters], axis=0)
    for col, (s, painter) in enumerate(zip(steps, painters)):
        ax = fig.add_subplot(1, len(steps), col + 1)
        painter.draw(ax)
        _frame(ax, lo, hi)
        ax.set_title(f"step {s.step}: {s.object_id}\n({s.os_name})", fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", facecolor="white")
    return buf.getvalue()


def render_hand_png(view, *, camera: str = "palm") -> bytes:
    """PNG bytes of a :class:`~.hand_view.HandView` seen from ``camera``, with a legend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    rotation = view.camera(camera)
    extent = _scene_extent(rotation, [m.vertices for m in view.meshes])
    painter = _Painter(rotation)
    for m in view.meshes:
        painter.mesh(m)
    for mk in view.markers:
        painter.dots(mk.points, mk.color, tuple(0.45 * c for c in mk.color),
                     HAND_DOT * extent * mk.size, 0.5, mk.overlay)
    for seg in view.segments:
        painter.segments(seg, 0.02 * extent)
    fig = Figure(figsize=HAND_INCHES, dpi=DPI)
    FigureCanvasAgg(fig)
    fig.suptitle(f"{view.title} · {camera} view", fontsize=10)
    width = 0.70
    ax = fig.add_axes((0.01, 0.01, width, 0.92))
    painter.draw(ax)
    _frame(ax, *painter.extent(), aspect=width * HAND_INCHES[0] / (0.92 * HAND_INCHES[1]))
    handles = [Line2D([], [], marker="o", linestyle="", markersize=7, color=e.color,
                      markeredgecolor=tuple(0.45 * c for c in e.color))
               if e.count is not None else Line2D([], [], color=e.color, linewidth=2.2)
               for e in view.legend]
    labels = [f"{e.label} ({e.count})" if e.count is not None else e.label for e in view.legend]
    fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(width + 0.01, 0.93),
               fontsize=8, frameon=False, title="contact groups", title_fontsize=8,
               alignment="left")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", facecolor="white")
    return buf.getvalue()


def write_png(view: SequenceView, path: str | Path, *, step: int | None = None,
              camera: str = "palm") -> None:
    """Render a sequence and write atomically to ``path``."""
    write_output(path, render_png(view, step, camera=camera))


def write_hand_png(view, path: str | Path, *, camera: str = "palm") -> None:
    """Render a hand view and write atomically to ``path``."""
    write_output(path, render_hand_png(view, camera=camera))
