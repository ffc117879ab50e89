"""Option aliases shared by several commands."""

from __future__ import annotations

import math
from typing import Annotated, Optional

import typer


def finite(value: float | None) -> float | None:
    """Typer callback: refuse ``inf`` and ``nan`` (``min=`` lets ``inf`` through)."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


HandOpt = Annotated[str, typer.Option("--hand", help="Hand plugin name (see `seqgrasp hands`).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed.")]
DeviceOpt = Annotated[str, typer.Option("--device", help="Torch device: cpu or cuda[:N].")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
BatchOpt = Annotated[int, typer.Option("--batch", min=1, help="Sequences optimized together.")]
StepsOpt = Annotated[int, typer.Option("--steps", min=1,
                                       help="Optimizer iterations per grasp (paper: 6000).")]
SurfacePointsOpt = Annotated[Optional[int], typer.Option(
    "--surface-points",
    help="Hand surface samples for the penetration term (default: the hand's own, 3000 "
         "for the Allegro; fewer is faster and deeper, see docs/energies-and-optimizer.md).")]
AllowanceOpt = Annotated[float, typer.Option(
    "--refine-allowance", callback=finite, min=0.0,
    help="Depth in mm that the refinement leaves alone (default 1: keeps the success "
         "rate; 0 pushes the hand out of the object, shallower but less often held).")]
CandidatesOpt = Annotated[int, typer.Option(
    "--candidates", min=1,
    help="Grasps optimized per sequence and object, keeping the lowest-energy one (1: the "
         "paper's single run; K runs K times the rows in one batch, see "
         "docs/energies-and-optimizer.md).")]
CandidateDepthOpt = Annotated[float, typer.Option(
    "--candidate-depth", callback=finite, min=0.0,
    help="With --candidates K: a candidate reaching more than this many mm into an "
         "object (or one object into another) loses to any that does not (default 4: "
         "catches links buried in the object, see docs/energies-and-optimizer.md).")]
RefineOpt = Annotated[int, typer.Option(
    "--refine-steps", min=0,
    help="Penetration refinement steps after the optimizer, e.g. 200 (0: off, the default): "
         "trims what reaches more than 1 mm into an object, see "
         "docs/energies-and-optimizer.md.")]
EnergyOpt = Annotated[Optional[list[str]], typer.Option(
    "--energy", help="Override a term's weight: NAME=WEIGHT (0 disables it; `seqgrasp "
                     "energies` lists the terms, e.g. ohp=0 leaves the refinement's "
                     "object-into-hand term out).")]
