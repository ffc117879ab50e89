"""Looking at grasp sequences: the hand and its objects at each step (``seqgrasp show``).

:mod:`.scene` turns one sequence of a run file into meshes in the hand frame,
:mod:`.html` writes a self-contained interactive page (its own canvas renderer,
no network), :mod:`.png` a static picture rendered headless with matplotlib.
"""

from seqgrasp_core.visualize.scene import (
    MeshView,
    SequenceView,
    StepView,
    object_colors,
    sequence_view,
)

__all__ = ["MeshView", "SequenceView", "StepView", "object_colors", "sequence_view",
           "write_html", "write_png"]


def write_html(view: SequenceView, path, *, step: int | None = None) -> None:
    """Write the interactive page for ``view`` to ``path`` (see :mod:`.html`)."""
    from seqgrasp_core.visualize.html import write_html as _write

    _write(view, path, step=step)


def write_png(view: SequenceView, path, *, step: int | None = None) -> None:
    """Render ``view`` (one step, or every step side by side) to ``path`` (see :mod:`.png`)."""
    from seqgrasp_core.visualize.png import write_png as _write

    _write(view, path, step=step)
