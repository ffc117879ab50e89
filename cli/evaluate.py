"""``seqgrasp eval``: generate and validate random sequences, print Table III."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Optional

import typer

from seqgrasp_core.system.workers import usable_cores

from .diffuser import MalaStepsOpt, ModelOpt, SampleCandidatesOpt, SamplerStepsOpt, SolverOpt
from .errors import user_errors, warn_plugin_failures
from .options import (
    BatchOpt,
    CandidatesOpt,
    ConfigOpt,
    DeviceOpt,
    EnergyOpt,
    HandOpt,
    OptionOpt,
    PresetOpt,
    RefineOpt,
    SeedOpt,
    StepsOpt,
)


@user_errors
def evaluate(
    hand: HandOpt = "allegro",
    objects: Annotated[Optional[Path], typer.Option(
        "--objects", help="Folder of meshes to draw from (default: the demo objects).")] = None,
    sequences: Annotated[int, typer.Option("--sequences", help="Random sequences.")] = 10,
    batch: BatchOpt = 256,
    max_objects: Annotated[int, typer.Option("--max-objects", help="Objects per sequence.")] = 4,
    steps: StepsOpt = 6000,
    preset: PresetOpt = "best",
    candidates: CandidatesOpt = None,
    refine_steps: RefineOpt = None,
    energy: EnergyOpt = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "cpu",
    workers: Annotated[int, typer.Option(
        "--workers", min=1, help="Processes for generation and validation (at most one "
                                 "per core).")] = usable_cores(),
    out: Annotated[Optional[Path], typer.Option("--out", help="Report (JSON).")] = None,
    keep_runs: Annotated[Optional[Path], typer.Option(
        "--keep-runs", help="Folder to keep each sequence's run file in.")] = None,
    validator: Annotated[str, typer.Option(
        "--validator", help="Physics validator: mujoco (default) or isaacgym.")] = "mujoco",
    config: ConfigOpt = None,
    option: OptionOpt = None,
    test_split_of: Annotated[Optional[Path], typer.Option(
        "--test-split-of", help="A dataset folder: draw only its test objects from "
                                "--objects (objects a sampler never trained on).")] = None,
    sampler: Annotated[str, typer.Option(
        "--sampler", help="mala (Algorithm 1, the optimizer) or diffuser (SeqDiffuser; "
                          "--refine-steps then defaults to 0).")] = "mala",
    model: ModelOpt = None,
    sampler_steps: SamplerStepsOpt = 10,
    solver: SolverOpt = "dpm++",
    sample_candidates: SampleCandidatesOpt = 1,
    mala_steps: MalaStepsOpt = 0,
) -> None:
    """The paper's experiment: SR %, penetration, time per 256 grasps, diversity."""
    from rich.console import Console
    from rich.table import Table

    from seqgrasp_core.plugins.manager import load_plugins
    from seqgrasp_core.runs.evaluation import EvalRequest, run_eval
    from seqgrasp_core.runs.settings import load_settings, preset_choice
    from seqgrasp_core.system.options import parse_options, split_options

    from seqgrasp_core.errors import SeqGraspError
    from seqgrasp_core.runs.generate import SamplerChoice

    if sampler not in ("mala", "diffuser"):
        raise SeqGraspError(f"unknown --sampler {sampler!r}", "choose mala or diffuser")
    choice = None
    if sampler == "diffuser":
        if candidates is not None:
            raise SeqGraspError("--candidates is the optimizer's; with --sampler diffuser "
                                "use --sample-candidates", "e.g. --sample-candidates 4")
        choice = SamplerChoice(model, sampler_steps, solver, sample_candidates, mala_steps)
        candidates, refine_steps = 1, refine_steps or 0
    chosen_candidates, chosen_refine = preset_choice(preset, candidates, refine_steps)
    settings = load_settings(config)
    plugins = load_plugins()
    warn_plugin_failures(plugins)
    hand_options, validator_options = split_options(
        parse_options(option or ()), [("hand", plugins.hand(hand)),
                                      ("validator", plugins.validators.get(validator))])
    console = Console(stderr=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = keep_runs or Path(tmp)
        request = EvalRequest(hand=hand, objects_dir=objects, sequences=sequences, batch=batch,
                              max_objects=max_objects, steps=steps, seed=seed, device=device,
                              workers=workers, validate_workers=workers, out=out,
                              refine_steps=chosen_refine, candidates=chosen_candidates,
                              preset=preset, settings=settings, energy=tuple(energy or ()),
                              hand_options=hand_options, validator=validator,
                              validator_options=validator_options, work_dir=work,
                              sampler=choice, test_split_of=test_split_of)
        report = run_eval(request, plugins, on_sequence=lambda i, n, names: console.print(
            f"sequence {i + 1}/{n}: {names}"))
    how = (f"SeqDiffuser, {sampler_steps} {solver} steps, best of {sample_candidates}, "
           f"{mala_steps} MALA and {chosen_refine} refinement steps" if choice
           else f"{steps} steps")
    table = Table(title=f"{hand}: {sequences} sequences × {batch} grasps, {how}")
    for col in ("objects", "grasps", "SR %", "max pen. mm", "hand pen. mm", "s per 256",
                "diversity rad"):
        table.add_column(col, justify="right")
    for r in report["rows"]:
        table.add_row(str(r["objects"]), str(r["grasps"]), f"{r['success_rate']:.2f}",
                      f"{r['penetration_mm']:.2f}", f"{r['hand_penetration_mm']:.2f}",
                      f"{r['seconds_per_256']:.1f}",
                      "–" if r["diversity"] != r["diversity"] else f"{r['diversity']:.3f}")
    Console().print(table)
    unmeasured = sum(r["unmeasured"] for r in report["rows"])
    if unmeasured:
        typer.echo(f"warning: {unmeasured} grasps have no depth (see the `failure` column of "
                   "--keep-runs files): failures, left out of the depth means", err=True)
    if out is not None:
        console.print(f"wrote {out}")


def register(app: typer.Typer) -> None:
    app.command("eval")(evaluate)
