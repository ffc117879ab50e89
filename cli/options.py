"""Option aliases shared by several commands."""

from __future__ import annotations

import math
from pathlib import Path
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
PresetOpt = Annotated[str, typer.Option(
    "--preset", help="best: the best measured configuration (3 candidates, 200 refinement "
                     "steps; docs/results.md); paper: Algorithm 1 as the paper writes it.")]
CandidatesOpt = Annotated[Optional[int], typer.Option(
    "--candidates", min=1,
    help="Grasps optimized per sequence and object, the lowest-energy one kept (default: "
         "the preset's; 1 is the paper's single run).")]
RefineOpt = Annotated[Optional[int], typer.Option(
    "--refine-steps", min=0,
    help="Penetration refinement steps after the optimizer (default: the preset's; 0: "
         "off): trims what reaches more than 1 mm into an object.")]
ConfigOpt = Annotated[Optional[Path], typer.Option(
    "--config", help="Settings file (TOML) for the research settings: "
                     "docs/reference-settings.md lists its keys.")]
# `-o` is --option in every command: no other option may take it (tests/test_cli.py).
OptionOpt = Annotated[Optional[list[str]], typer.Option(
    "--option", "-o", help="KEY=VALUE for the chosen plugin (hand, validator or backend; "
                           "repeat). An unknown key is refused with the known ones.")]
EnergyOpt = Annotated[Optional[list[str]], typer.Option(
    "--energy", help="Override a term's weight: NAME=WEIGHT (0 disables it; `seqgrasp "
                     "energies` lists the terms, e.g. ohp=0 leaves the refinement's "
                     "object-into-hand term out).")]
ObjectOpt = Annotated[Optional[list[Path]], typer.Option(
    "--object", help="Mesh file to grasp, in order (repeat). Default: the demo objects.")]
ObjectsDirOpt = Annotated[Optional[Path], typer.Option(
    "--objects", help="Folder of meshes: grasp them in name order (instead of --object).")]
FirstOpt = Annotated[Optional[int], typer.Option(
    "--first", min=1, help="Use only the first N objects of the sequence.")]


def check_one_object_source(object_: list[Path] | None, objects: Path | None) -> None:
    """Refuse ``--object`` and ``--objects`` together."""
    if object_ and objects is not None:
        from seqgrasp_core.errors import SeqGraspError

        raise SeqGraspError("--object and --objects both given", "give the files or a folder")
