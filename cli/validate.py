"""`seqgrasp validate`: physics-check a run file and print a Table III-style summary."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from seqgrasp_core.system.workers import usable_cores

from .errors import user_errors
from .options import OptionOpt
from .runs import open_run


def default_out(run: Path) -> Path:
    """``runs/x.parquet`` → ``runs/x_validated.parquet``."""
    return run.with_name(f"{run.stem}_validated.parquet")


@user_errors
def validate(
    run: Path = typer.Argument(..., help="Run file written by `seqgrasp generate` (.parquet)."),
    out: Optional[Path] = typer.Option(
        None, "--out",
        help="Where to write the validated run (default: <run>_validated.parquet)."),
    validator: str = typer.Option(
        "mujoco", "--validator", help="Physics validator: mujoco (default) or isaacgym."),
    workers: int = typer.Option(
        usable_cores(), "--workers", "-j", min=1, help="Worker processes."),
    objects: Optional[Path] = typer.Option(
        None, "--objects",
        help="Folder with the run's meshes, matched by content hash (when they moved)."),
    option: OptionOpt = None,
) -> None:
    """Validate every grasp step in physics (paper §V): adds `success` and
    `max_penetration_mm` columns and prints success rate, penetration and diversity
    per number of objects."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
    from rich.table import Table

    from seqgrasp_core.errors import RunFileError
    from seqgrasp_core.runs.runfile import write_run
    from seqgrasp_core.system.outputs import prepare_output
    from seqgrasp_core.system.options import parse_options
    from seqgrasp_core.system.workers import capped_workers
    from seqgrasp_core.validation import summarize, validate_table, with_results

    console = Console()
    table, metadata, plugins, hand = open_run(run)
    if table.num_rows == 0:
        raise RunFileError(f"{run} has no rows, so there is nothing to validate",
                           "validate a run that `seqgrasp generate` filled")
    checker = plugins.validators.get(validator).configured(parse_options(option or ()))
    workers = capped_workers(workers)
    target = prepare_output(out or default_out(run))
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                  transient=True) as bar:
        task = bar.add_task(f"validating with {validator}", total=table.num_rows)
        results = validate_table(
            table, metadata, hand, checker, workers=workers, objects_dir=objects,
            progress=lambda done, total: bar.update(task, completed=done, total=total))
    result = with_results(table, results)
    meta = {k: v for k, v in metadata.items() if k != "format_version"}
    write_run(target, result, meta)

    view = Table(title=f"{run.name}: {validator} validation")
    for name in ("objects", "grasps", "success %", "max pen. mm", "hand pen. mm",
                 "diversity rad"):
        view.add_column(name, justify="right")
    summary = summarize(result)
    for row in summary:
        view.add_row(str(row["objects"]), str(row["grasps"]), f"{row['success_rate']:.2f}",
                     f"{row['mean_max_penetration_mm']:.2f}",
                     f"{row['mean_hand_penetration_mm']:.2f}",
                     "–" if row["diversity_rad"] != row["diversity_rad"]
                     else f"{row['diversity_rad']:.3f}")
    console.print(view)
    unmeasured = sum(row["unmeasured"] for row in summary)
    if unmeasured:
        typer.echo(f"warning: {unmeasured} of {result.num_rows} grasps have no depth (not "
                   "simulated, see the `failure` column): failures, left out of the depth "
                   "means", err=True)
    console.print(f"wrote {target}")


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
