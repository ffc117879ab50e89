"""The ``seqgrasp`` application: wires the command groups together."""

from __future__ import annotations

import typer

from . import generate, hand, listing, replay, show

app = typer.Typer(name="seqgrasp", no_args_is_help=True, add_completion=False,
                  help="Sequential multi-object dexterous grasp generation (SeqGrasp).")
generate.register(app)
listing.register(app)
hand.register(app)
show.register(app)
replay.register(app)

try:  # commands of later components register only when present
    from . import validate
except ImportError:  # pragma: no cover
    validate = None
if validate is not None:
    validate.register(app)
