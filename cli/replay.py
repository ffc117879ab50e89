"""``seqgrasp replay``: execute one grasp sequence on a hand, or dry-run it in simulation."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import user_errors
from .options import OptionOpt, finite
from .runs import open_run

WARN_ERROR_RAD = 0.05  # a larger final tracking error is worth a look (blocked finger?)


@user_errors
def replay(
    run: Annotated[Path, typer.Argument(help="Run file written by `seqgrasp generate` (.parquet).")],
    sequence: Annotated[int, typer.Option("--sequence", "-s", help="Sequence id to replay.")],
    backend: Annotated[str, typer.Option(
        "--backend", "-b", help="Hardware backend: allegro-can (real hand; e.g. -o "
                                "interface=pcan -o channel=PCAN_USBBUS1) or allegro-sim "
                                "(MuJoCo dry run); see `seqgrasp plugins`.")] = "allegro-sim",
    option: OptionOpt = None,
    max_speed: Annotated[Optional[float], typer.Option(
        "--max-speed", callback=finite, min=0.01,
        help="Joint speed limit on the way to each target (rad/s; "
             "backend default 1.0).")] = None,
    yes: Annotated[bool, typer.Option(
        "--yes", "-y", help="Do not ask before each step (objects are placed already, or "
                            "it is a dry run).")] = False,
    release: Annotated[bool, typer.Option(
        "--release", help="Open the hand again after the last step.")] = False,
    hold: Annotated[float, typer.Option(
        "--hold", callback=finite, min=0.0,
        help="With --yes and without --release: seconds to keep holding "
             "before torque is released.")] = 0.0,
    timeout: Annotated[float, typer.Option(
        "--timeout", callback=finite, min=0.1, help="Longest time for one move (s).")] = 15.0,
) -> None:
    """Replay a sequence: open the hand, then for each step ask for the object and
    close that step's joints while the earlier ones hold; end holding (or --release)."""
    import logging
    import time

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.table import Table

    from seqgrasp_core.hardware.replay import replay as run_replay
    from seqgrasp_core.system.options import check_options, parse_options
    from seqgrasp_core.hardware.replay import replay_plan
    from seqgrasp_core.runs.runfile import sequence_rows

    logging.getLogger("can").setLevel(logging.ERROR)  # our errors say what matters
    table, metadata, plugins, spec = open_run(run)
    hw = plugins.backends.get(backend)
    plan = replay_plan(sequence_rows(table, sequence, str(run)), spec)
    options = parse_options(option or ())
    if hw.options:
        check_options(options, hw.options, f"backend {backend!r}")
    if max_speed is not None:
        options["max_speed"] = max_speed

    console = Console(stderr=True)
    # Not on a terminal, a progress bar only leaves blank lines around the messages.
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        console=console, transient=True, disable=not console.is_terminal)
    task = progress.add_task(f"{backend}: sequence {sequence}", total=len(plan) + 1 + release)
    view = Table(title=f"{run.name} · sequence {sequence} on {backend}")
    for name in ("move", "joints moved", "tracking error rad", "°"):
        view.add_column(name, justify="left" if name == "move" else "right")

    def on_progress(label, done, total):
        progress.update(task, description=f"{backend}: {label}", completed=done, total=total)

    def on_result(r):
        style = "red" if r.error_rad > WARN_ERROR_RAD else ""
        view.add_row(r.label, str(r.joints_moved), f"[{style}]{r.error_rad:.4f}[/]" if style
                     else f"{r.error_rad:.4f}", f"{math.degrees(r.error_rad):.2f}")
        progress.console.print(f"{r.label}: tracking error {r.error_rad:.4f} rad")

    def confirm(s):
        progress.stop()
        try:
            return typer.confirm(f"Place object {s.step} ({s.object_id}) in the hand as "
                                 "`seqgrasp show` draws it; close the fingers?", default=True)
        finally:
            progress.start()

    def keep_holding():
        progress.stop()
        try:
            if yes:
                time.sleep(hold)
            else:
                typer.prompt("Holding the objects. Press Enter to release torque and exit",
                             default="", show_default=False)
        finally:
            progress.start()

    with progress:
        results = run_replay(hw, spec, plan, options=options, confirm=None if yes else confirm,
                             progress=on_progress, on_result=on_result, hold=keep_holding,
                             release=release, timeout_s=timeout)
    Console().print(view)
    worst = max(r.error_rad for r in results if r.phase == "step")
    typer.echo(f"replayed sequence {sequence} ({len(plan)} steps) on {backend}: largest step "
               f"tracking error {worst:.4f} rad ({math.degrees(worst):.2f}°); "
               + ("hand opened and released" if release else "torque released"))
    if worst > WARN_ERROR_RAD:
        typer.echo(f"warning: a tracking error above {WARN_ERROR_RAD} rad: a finger may be "
                   "blocked by an object, or the move needs more time (--timeout)", err=True)


def register(app: typer.Typer) -> None:
    app.command("replay")(replay)
