"""``seqgrasp show``: draw one sequence of a run file as HTML (interactive) or PNG."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import user_errors
from .runs import open_run

FORMATS = {".html": "html", ".htm": "html", ".png": "png"}


class View(str, Enum):
    """The camera views of ``seqgrasp_core.visualize.camera.VIEWS``."""

    palm = "palm"
    side = "side"
    top = "top"


ViewOpt = Annotated[View, typer.Option(
    "--view", help="Camera, from the hand's palm normal n and finger direction f: palm "
                   "(facing the palm, fingers up), side (along n × f) or top (down the "
                   "fingers). The PNG's view; the HTML page opens at it.")]


def output_kind(out: Path) -> str:
    """``html`` or ``png`` from ``out``'s suffix; one error line for any other."""
    from seqgrasp_core.errors import SeqGraspError

    kind = FORMATS.get(out.suffix.lower())
    if kind is None:
        raise SeqGraspError(f"cannot tell the format of {out} from its suffix "
                            f"{out.suffix or '(none)'!r}", "use --out FILE.html or FILE.png")
    return kind


@user_errors
def show(
    run: Annotated[Path, typer.Argument(help="Run file written by `seqgrasp generate` (.parquet).")],
    sequence: Annotated[int, typer.Option("--sequence", "-s", help="Sequence id to show.")],
    out: Annotated[Path, typer.Option(
        "--out", help="FILE.html (interactive, offline) or FILE.png (static).")],
    step: Annotated[Optional[int], typer.Option(
        "--step", min=1, help="Only this step (PNG) or open at this step (HTML). "
                              "Default: every step (PNG), the last step (HTML).")] = None,
    objects: Annotated[Optional[Path], typer.Option(
        "--objects", help="Folder with the run's meshes, matched by content hash "
                          "(when they moved).")] = None,
    view: ViewOpt = View.palm,
) -> None:
    """Show the hand at each step with its objects (light → dark in grasp order) and
    the contact points."""
    from seqgrasp_core.system.outputs import prepare_output
    from seqgrasp_core.visualize import sequence_view, write_html, write_png

    kind = output_kind(out)
    table, metadata, _, spec = open_run(run)
    prepare_output(out)
    seq = sequence_view(table, metadata, spec, sequence, objects_dir=objects, source=str(run))
    if step is not None:
        seq.step_view(step)  # a bad --step fails before anything is written
    (write_html if kind == "html" else write_png)(seq, out, step=step, camera=view.value)
    shown = f"step {step}" if step is not None else f"{len(seq.steps)} steps"
    typer.echo(f"wrote {out} ({seq.title}; {shown}; {view.value} view)")


def register(app: typer.Typer) -> None:
    app.command("show")(show)
