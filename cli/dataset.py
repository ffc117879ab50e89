"""``seqgrasp dataset build``: SeqDataset on this machine or a Ray cluster."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from seqgrasp_core.system.workers import usable_cores

from .errors import user_errors
from .options import BatchOpt, ConfigOpt, SeedOpt

dataset_app = typer.Typer(help="Build a SeqDataset.", no_args_is_help=True)


@dataset_app.command("build")
@user_errors
def build(
    objects: Annotated[Path, typer.Argument(help="Folder of meshes (see `seqgrasp objects`).")],
    out: Annotated[Path, typer.Option("--out", help="Dataset folder (created; resumed if it "
                                                    "holds the same build).")],
    sets: Annotated[int, typer.Option("--sets", min=1, help="Random object sets.")] = 10,
    permutations: Annotated[int, typer.Option(
        "--permutations", min=1, help="Grasp orders per set (one unit each).")] = 4,
    objects_per_set: Annotated[int, typer.Option(
        "--objects-per-set", min=1, help="Objects per set (the paper: up to 4).")] = 4,
    hand: Annotated[str, typer.Option("--hand", help="Hand plugin name.")] = "allegro",
    batch: BatchOpt = 256,
    steps: Annotated[int, typer.Option(
        "--steps", min=1, help="Optimizer iterations per grasp (default: the most validated "
                               "grasps per CPU-hour measured, docs/dataset.md).")] = 2000,
    preset: Annotated[str, typer.Option(
        "--preset", help="paper (default: the most validated grasps per CPU-hour) or best "
                         "(higher success per sequence, at more than twice the cost).")] = "paper",
    seed: SeedOpt = 0,
    config: ConfigOpt = None,
    address: Annotated[Optional[str], typer.Option(
        "--address", help="A running Ray cluster (ray://host:10001 or auto); default: Ray "
                          "in this process.")] = None,
    workers: Annotated[int, typer.Option(
        "--workers", min=1, help="CPUs for the local Ray (one unit each).")] = usable_cores(),
) -> None:
    """Generate, validate and keep the grasp steps that hold, unit by unit (one unit:
    one grasp order of a set × batch), as Parquet shards with a manifest and a card."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from seqgrasp_core.dataset.build import BuildRequest
    from seqgrasp_core.dataset.build import build as run_build
    from seqgrasp_core.dataset.unit import UnitSettings
    from seqgrasp_core.runs.settings import load_settings, preset_choice

    from seqgrasp_core.plugins.manager import load_plugins

    load_plugins().hand(hand)  # an unknown hand fails here, not in every unit
    candidates, refine_steps = preset_choice(preset, None, None)
    request = BuildRequest(
        objects_dir=objects, out=out, sets=sets, permutations=permutations,
        objects_per_set=objects_per_set, seed=seed, address=address, workers=workers,
        command="seqgrasp " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        unit=UnitSettings(hand=hand, batch=batch, steps=steps, candidates=candidates,
                          refine_steps=refine_steps, preset=preset,
                          settings=load_settings(config)))
    console = Console(stderr=True)
    bar = Progress(TextColumn("units"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[held]} steps held"), TimeElapsedColumn(),
                   console=console, disable=not console.is_terminal)
    task = bar.add_task("units", total=None, held=0)
    with bar:
        manifest = run_build(request, progress=lambda done, total, held: bar.update(
            task, completed=done, total=total, held=held))
    held = sum(u["rows"] for u in manifest["finished"])
    typer.echo(f"wrote {out}: {len(manifest['finished'])} of {manifest['units']} units, "
               f"{held} grasp steps held")


@dataset_app.command("stats")
@user_errors
def stats(
    folder: Annotated[Path, typer.Argument(help="A dataset folder (`seqgrasp dataset build`).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """The paper's Table II for the folder: per opposition space the steps tried and
    held; per number of objects grasped the steps held and how many left the hand
    with no opposition space (consumed); the paper's figures beside them."""
    import json

    from rich.console import Console

    from seqgrasp_core.dataset.stats import dataset_stats

    summary = dataset_stats(folder)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    console = Console()
    for table in _table_ii(folder, summary):
        console.print(table)


def _table_ii(folder: Path, summary: dict) -> list:
    from rich.table import Table

    paper = summary["paper"] or {"spaces": {}, "objects": {}}
    splits = ", ".join(f"{n} {split}" for split, n in sorted(summary["objects"].items()))
    spaces = Table(title=f"{folder}: {summary['finished']} of {summary['units']} units, "
                         f"{summary['rows']} steps held; objects: {splits}")
    for col in ("opposition space", "held", "tried", "rate %", "paper held K",
                "paper tried K", "paper rate %"):
        spaces.add_column(col, justify="left" if col == "opposition space" else "right")
    order = [*paper["spaces"], *sorted(set(summary["spaces"]) - set(paper["spaces"]))]
    for name in order:
        cell = summary["spaces"].get(name, {"held": 0, "tried": 0, "rate %": 0.0})
        ref = paper["spaces"].get(name)
        spaces.add_row(name, str(cell["held"]), str(cell["tried"]), f"{cell['rate %']:.1f}",
                       *(_paper(ref) if ref else ("", "", "")))
    grasped = Table(title="objects grasped: steps held, and held with no opposition "
                          "space left (consumed)")
    for col in ("objects", "tried", "held", "rate %", "consumed", "consumed %",
                "paper consumed K", "paper held K", "paper consumed %"):
        grasped.add_column(col, justify="right")
    for n, cell in summary["objects grasped"].items():
        ref = paper["objects"].get(n)
        grasped.add_row(n, str(cell["tried"]), str(cell["held"]), f"{cell['rate %']:.1f}",
                        str(cell["consumed"]), f"{cell['consumed %']:.1f}",
                        *(_paper(ref) if ref else ("", "", "")))
    return [spaces, grasped]


def _paper(ref: tuple[float, float, float]) -> tuple[str, str, str]:
    return f"{ref[0]:.2f}", f"{ref[1]:.2f}", f"{ref[2]:.2f}"


def register(app: typer.Typer) -> None:
    app.add_typer(dataset_app, name="dataset")
