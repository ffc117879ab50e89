"""The ``seqgrasp`` application: wires the command groups together."""

from __future__ import annotations

import typer

from . import dataset, diffuser, evaluate, generate, hand, listing, objects, replay, show, validate
from .errors import show_warnings_as_lines, stop_cleanly_on_sigterm

app = typer.Typer(name="seqgrasp", no_args_is_help=True, add_completion=False,
                  help="Sequential multi-object dexterous grasp generation (SeqGrasp).")


@app.callback()
def _before_every_command() -> None:
    show_warnings_as_lines()
    stop_cleanly_on_sigterm()


generate.register(app)
listing.register(app)
hand.register(app)
show.register(app)
replay.register(app)
validate.register(app)
evaluate.register(app)
dataset.register(app)
diffuser.register(app)
objects.register(app)
