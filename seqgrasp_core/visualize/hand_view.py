"""One hand plugin at a glance (``seqgrasp hand show``): is the plugin right?

The hand at its open pose (``HandSpec.open_pose``), drawn with its URDF's collision
primitives placed by forward kinematics, and on it:

- every contact candidate (``HandSpec.contact_groups``: points in link frames, placed
  by the same forward kinematics), a dot coloured by its group, with a 5 mm segment
  along its normal drawn *outward* (the files store inward normals);
- the palm centre (``palm_center``) as a black dot and the palm normal
  (``palm_normal``) as a 3 cm black arrow from it;
- the hand frame's axes at its origin, 3 cm arrows: x red, y green, z blue.

Everything is in the hand frame (the URDF's root link), metres. The legend names each
contact group with its number of candidates. The camera is one of :mod:`.camera`'s
views, built from the palm normal and the finger direction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqgrasp_core.visualize.camera import HandAxes, view_rotation
from seqgrasp_core.visualize.scene import (
    Markers,
    MeshView,
    Segments,
    hand_shapes,
    open_pose_links,
    place_hand,
    placed_contacts,
    spec_axes,
)

NORMAL_LENGTH = 0.005  # m, each contact's outward normal segment
ARROW_LENGTH = 0.03    # m, the palm normal and the frame axes
HAND_VIEW_COLOR = (0.84, 0.84, 0.86)  # lighter than a run's hand: the dots stand out
PALM_COLOR = (0.0, 0.0, 0.0)
AXIS_COLORS = ((0.9, 0.0, 0.0), (0.0, 0.65, 0.0), (0.0, 0.1, 0.95))  # x, y, z
#: Contact group colours, in the spec's group order (cycled beyond 15 groups). No grey
#: (the hand) and no black (the palm).
GROUP_COLORS = (
    (1.00, 0.50, 0.05), (0.58, 0.40, 0.74), (0.09, 0.75, 0.81), (0.89, 0.47, 0.76),
    (0.74, 0.74, 0.13), (0.55, 0.34, 0.29), (0.12, 0.47, 0.71), (0.17, 0.63, 0.17),
    (0.84, 0.15, 0.16), (0.00, 0.42, 0.40), (0.22, 0.23, 0.47), (0.60, 0.87, 0.54),
    (1.00, 0.60, 0.59), (0.39, 0.47, 0.22), (0.77, 0.69, 0.84),
)


def group_color(i: int) -> tuple[float, float, float]:
    """RGB (0–1) of the ``i``-th contact group."""
    return GROUP_COLORS[i % len(GROUP_COLORS)]


@dataclass(frozen=True)
class LegendEntry:
    """One legend line: a colour swatch, a label and, for a group, its point count."""

    label: str
    color: tuple[float, float, float]
    count: int | None = None


@dataclass(frozen=True)
class HandView:
    """What ``seqgrasp hand show`` draws, in the hand frame (metres).

    ``meshes``: the collision primitives at the open pose; ``markers``: one
    :class:`~.scene.Markers` per contact group (its points ``(M, 3)``), then the palm
    centre; ``segments``: one :class:`~.scene.Segments` per contact group (its outward
    normals, ``NORMAL_LENGTH`` long), the palm normal and the three frame axes (arrows,
    ``ARROW_LENGTH`` long); ``axes``: the palm and finger directions the camera is
    built from (:func:`camera`).
    """

    title: str
    hand_name: str
    meshes: tuple[MeshView, ...]
    markers: tuple[Markers, ...]
    segments: tuple[Segments, ...]
    legend: tuple[LegendEntry, ...]
    axes: HandAxes

    def camera(self, view: str = "palm") -> np.ndarray:
        """The rotation ``(3, 3)`` of ``view`` (rows right, up, towards the viewer)."""
        return view_rotation(self.axes, view)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """``(lower, upper)`` corners ``(3,)`` of everything drawn."""
        pts = [m.vertices for m in self.meshes] + [m.points for m in self.markers]
        pts += [s.starts for s in self.segments] + [s.ends for s in self.segments]
        allp = np.concatenate(pts)
        return allp.min(axis=0), allp.max(axis=0)


def hand_view(spec) -> HandView:
    """Build the view of :class:`~seqgrasp_core.hands.spec.HandSpec` ``spec``."""
    from seqgrasp_core.hands.model import HandModel

    model = HandModel(spec, surface_points=16)
    links = open_pose_links(model)
    meshes = place_hand(hand_shapes(spec, model), links, HAND_VIEW_COLOR)
    points, inward = placed_contacts(model, links)
    markers, segments, legend = [], [], []
    start = 0
    for i, group in enumerate(spec.contact_groups.values()):
        end = start + len(group)
        color = group_color(i)
        p, n = points[start:end], inward[start:end]
        markers.append(Markers(group.name, p, color))
        segments.append(Segments(f"{group.name} normals", p, p - NORMAL_LENGTH * n, color))
        legend.append(LegendEntry(group.name, color, len(group)))
        start = end
    axes = spec_axes(spec, model)
    centre = axes.palm_center
    markers.append(Markers("palm centre", centre[None], PALM_COLOR, size=1.6, overlay=True))
    segments.append(Segments("palm normal", centre[None],
                             (centre + ARROW_LENGTH * axes.palm_normal)[None], PALM_COLOR,
                             width=2.5, arrow=True, overlay=True))
    legend.append(LegendEntry("palm centre → normal (3 cm)", PALM_COLOR))
    for name, axis, color in zip("xyz", np.eye(3), AXIS_COLORS):
        segments.append(Segments(f"hand frame {name}", np.zeros((1, 3)),
                                 (ARROW_LENGTH * axis)[None], color, width=2.0, arrow=True,
                                 overlay=True))
        legend.append(LegendEntry(f"hand frame {name} (3 cm)", color))
    count = sum(len(g) for g in spec.contact_groups.values())
    title = (f"{spec.name} · open pose · {count} contact candidates in "
             f"{len(spec.contact_groups)} groups")
    return HandView(title, spec.name, meshes, tuple(markers), tuple(segments), tuple(legend),
                    axes)
