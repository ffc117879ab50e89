"""``seqgrasp generate``: run Algorithm 1 and write a run file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import user_errors, warn_plugin_failures
from .options import (
    BatchOpt,
    CandidatesOpt,
    ConfigOpt,
    DeviceOpt,
    EnergyOpt,
    FirstOpt,
    HandOpt,
    ObjectOpt,
    ObjectsDirOpt,
    OptionOpt,
    PresetOpt,
    RefineOpt,
    SeedOpt,
    StepsOpt,
    check_one_object_source,
)


@user_errors
def generate(
    hand: HandOpt = "allegro",
    object_: ObjectOpt = None,
    objects: ObjectsDirOpt = None,
    first: FirstOpt = None,
    preset: PresetOpt = "best",
    candidates: CandidatesOpt = None,
    refine_steps: RefineOpt = None,
    batch: BatchOpt = 256,
    steps: StepsOpt = 6000,
    seed: SeedOpt = 0,
    device: DeviceOpt = "cpu",
    energy: EnergyOpt = None,
    os_: Annotated[Optional[list[str]], typer.Option(
        "--os", help="Fix the opposition space of each step instead of sampling (repeat).")] = None,
    scale_objects: Annotated[bool, typer.Option(
        "--scale-objects", help="Scale each object's longest edge into 0.06–0.10 m (paper).")] = False,
    out: Annotated[Path, typer.Option("--out", help="Run file to write (Parquet).")] = Path("run.parquet"),
    workers: Annotated[int, typer.Option(
        "--workers", min=1, help="Split the batch over N local processes (CPU speed-up; "
                                 "at most one per core).")] = 1,
    config: ConfigOpt = None,
    option: OptionOpt = None,
) -> None:
    """Generate sequential multi-object grasps for a sequence of objects."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from seqgrasp_core.plugins.manager import load_plugins
    from seqgrasp_core.runs.generate import GenerateRequest, run_generate
    from seqgrasp_core.runs.settings import load_settings, preset_choice
    from seqgrasp_core.system.options import parse_options

    check_one_object_source(object_, objects)
    chosen_candidates, chosen_refine = preset_choice(preset, candidates, refine_steps)
    settings = load_settings(config)
    plugins = load_plugins()
    warn_plugin_failures(plugins)
    request = GenerateRequest(hand=hand, objects=object_, objects_dir=objects, object_count=first,
                              scale_objects=scale_objects, batch=batch, steps=steps, seed=seed,
                              device=device, energy=tuple(energy or ()), os_order=tuple(os_ or ()),
                              out=out, workers=workers, refine_steps=chosen_refine,
                              candidates=chosen_candidates, preset=preset, settings=settings,
                              hand_options=parse_options(option or ()))
    console = Console(stderr=True)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("E={task.fields[energy]:.4g}"), TimeElapsedColumn(),
                        console=console, transient=False)
    tasks: dict[int, int] = {}
    names: list[str] = []

    def on_ready(objs):
        names.extend(o.object_id for o in objs)

    def report(step_n, os_label, iteration, iterations, mean_energy):
        if step_n not in tasks:
            tasks[step_n] = progress.add_task(
                f"object {step_n}/{len(names)} {names[step_n - 1]} · {os_label}",
                total=iterations, energy=float("nan"))
        progress.update(tasks[step_n], completed=iteration, energy=mean_energy)

    with progress:
        summary = run_generate(request, plugins, progress=report, on_ready=on_ready)
    _print_summary(console, summary)


def _print_summary(console, summary) -> None:
    from rich.table import Table

    table = Table(title=f"wrote {summary['out']} ({summary['rows']} rows, "
                        f"{summary['seconds']:.1f} s)")
    for col in ("step", "object", "sequences", "mean energy", "opposition spaces"):
        table.add_column(col)
    for out in summary["outcomes"]:
        counts: dict[str, int] = {}
        for name in out.os_name:
            counts[name] = counts.get(name, 0) + 1
        spaces = ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
        table.add_row(str(out.step), out.obj.object_id, str(len(out.sequence)),
                      f"{float(out.energy.mean()):.4g}", spaces)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
