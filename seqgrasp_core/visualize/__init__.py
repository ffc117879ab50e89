"""Looking at grasp sequences (``seqgrasp show``) and at hand plugins (``seqgrasp hand show``).

:mod:`.scene` turns one sequence of a run file into meshes in the hand frame,
:mod:`.hand_view` a hand plugin into its open pose with its contact candidates, palm
and frame (``hand_view.hand_view(spec)``); :mod:`.camera` defines the views (``palm``, ``side``, ``top``) from the
hand's palm normal and finger direction; :mod:`.html` writes a self-contained
interactive page (its own canvas renderer, no network), :mod:`.png` a static picture
rendered headless with matplotlib.
"""

from seqgrasp_core.visualize.camera import VIEWS, HandAxes, hand_axes, view_rotation
from seqgrasp_core.visualize.scene import (
    Markers,
    MeshView,
    Segments,
    SequenceView,
    StepView,
    object_colors,
    sequence_view,
)

__all__ = ["VIEWS", "HandAxes", "Markers", "MeshView", "Segments", "SequenceView", "StepView",
           "hand_axes", "object_colors", "sequence_view", "view_rotation",
           "write_hand_html", "write_hand_png", "write_html", "write_png"]


def write_html(view: SequenceView, path, *, step: int | None = None,
               camera: str = "palm") -> None:
    """Write the interactive page for ``view`` to ``path``, opening at ``camera``
    (one of :data:`VIEWS`; see :mod:`.html`)."""
    from seqgrasp_core.visualize.html import write_html as _write

    _write(view, path, step=step, camera=camera)


def write_png(view: SequenceView, path, *, step: int | None = None,
              camera: str = "palm") -> None:
    """Render ``view`` (one step, or every step side by side) from ``camera`` to ``path``
    (see :mod:`.png`)."""
    from seqgrasp_core.visualize.png import write_png as _write

    _write(view, path, step=step, camera=camera)


def write_hand_html(view, path, *, camera: str = "palm") -> None:
    """Write the interactive page of a :class:`~.hand_view.HandView` to ``path``."""
    from seqgrasp_core.visualize.html import write_hand_html as _write

    _write(view, path, camera=camera)


def write_hand_png(view, path, *, camera: str = "palm") -> None:
    """Render a :class:`~.hand_view.HandView` from ``camera`` to ``path``."""
    from seqgrasp_core.visualize.png import write_hand_png as _write

    _write(view, path, camera=camera)
