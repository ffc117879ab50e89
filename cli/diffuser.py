"""``seqgrasp diffuser train | sample``: the learned sampler SeqDiffuser."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import user_errors, warn_plugin_failures
from .options import (
    BatchOpt,
    DeviceOpt,
    FirstOpt,
    HandOpt,
    ObjectOpt,
    ObjectsDirOpt,
    SeedOpt,
    check_one_object_source,
)

diffuser_app = typer.Typer(help="SeqDiffuser: train and sample the learned sampler.",
                           no_args_is_help=True)

ModelOpt = Annotated[Optional[Path], typer.Option(
    "--model", help="SeqDiffuser model file (default: the one bundled for the hand).")]
SamplerStepsOpt = Annotated[int, typer.Option(
    "--sampler-steps", min=1, help="Denoising steps per grasp.")]
SolverOpt = Annotated[str, typer.Option("--solver", help="dpm++ (DPM-Solver++) or ddim.")]
SampleCandidatesOpt = Annotated[int, typer.Option(
    "--sample-candidates", min=1, help="Samples per sequence and object; the lowest-energy "
                                       "one without a deep overlap is kept.")]
MalaStepsOpt = Annotated[int, typer.Option(
    "--mala-steps", min=0, help="MALA iterations from each kept sample, at the end of the "
                                "optimizer's cooling schedule (0: none).")]


@diffuser_app.command("train")
@user_errors
def train(
    dataset: Annotated[Path, typer.Argument(help="A SeqDataset folder (`seqgrasp dataset build`).")],
    out: Annotated[Path, typer.Option("--out", help="Model file to write.")],
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Passes over the data.")] = 200,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Grasps per update.")] = 256,
    lr: Annotated[float, typer.Option("--lr", min=0.0, help="AdamW learning rate.")] = 5e-4,
    rotations: Annotated[int, typer.Option(
        "--rotations", min=1, help="Orientations each object (with its grasps) is seen in.")] = 8,
    grasps_per_object: Annotated[int, typer.Option(
        "--grasps-per-object", min=1,
        help="Grasps of one object orientation side by side in a batch (fewer objects to "
             "encode per update).")] = 8,
    width: Annotated[int, typer.Option("--width", min=8, help="Network width.")] = 128,
    depth: Annotated[int, typer.Option("--depth", min=1, help="Denoiser blocks.")] = 3,
    os_encoding: Annotated[str, typer.Option(
        "--os-encoding", help="onehot (in the grasp vector, as the paper) or embedding.")] = "onehot",
    seed: SeedOpt = 0,
    device: DeviceOpt = "cpu",
) -> None:
    """Train on the dataset's train split (never a test object); checkpoints after each
    epoch next to --out and resumes from there when run again."""
    import json

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from seqgrasp_core.diffuser.training import TrainConfig
    from seqgrasp_core.diffuser.training import train as run_train
    from seqgrasp_core.errors import SeqGraspError
    from seqgrasp_core.plugins.manager import load_plugins
    from seqgrasp_core.runs.generate import resolve_device
    from seqgrasp_core.system.outputs import prepare_output

    if os_encoding not in ("onehot", "embedding"):
        raise SeqGraspError(f"unknown --os-encoding {os_encoding!r}", "choose onehot or embedding")
    try:
        hand_name = json.loads((dataset / "manifest.json").read_text())["settings"]["hand"]
    except (OSError, ValueError, KeyError):
        raise SeqGraspError(f"{dataset} has no readable manifest.json",
                            "give a folder built by `seqgrasp dataset build`") from None
    plugins = load_plugins()
    warn_plugin_failures(plugins)
    spec = plugins.hand(hand_name)
    prepare_output(out)
    device_name = str(resolve_device(device))
    config = TrainConfig(epochs=epochs, batch=batch, lr=lr, rotations=rotations,
                         grasps_per_object=grasps_per_object, seed=seed,
                         width=width, depth=depth, os_encoding=os_encoding)
    console = Console(stderr=True)
    bar = Progress(TextColumn("epochs"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("loss {task.fields[loss]:.4f}"), TimeElapsedColumn(),
                   console=console, disable=not console.is_terminal)
    task = bar.add_task("epochs", total=epochs, loss=float("nan"))
    with bar:
        model = run_train(dataset, out, spec.name,
                          tuple(o.name for o in spec.opposition_spaces), len(spec.joint_names),
                          config, device_name,
                          progress=lambda e, n, loss: bar.update(task, completed=e, loss=loss))
    training = model.record["training"]
    test = training.get("test loss")
    typer.echo(f"wrote {out}: {model.record['dataset']['rows']} grasps of "
               f"{model.record['dataset']['objects']} train objects, final loss "
               f"{training['losses'][-1]:.4f}"
               + (f", test-split loss {test:.4f}" if test is not None else ""))


@diffuser_app.command("sample")
@user_errors
def sample(
    model: ModelOpt = None,
    hand: HandOpt = "allegro",
    object_: ObjectOpt = None,
    objects: ObjectsDirOpt = None,
    first: FirstOpt = None,
    batch: BatchOpt = 256,
    refine_steps: Annotated[int, typer.Option(
        "--refine-steps", min=0, help="Penetration refinement steps after sampling (0: off).")] = 0,
    sampler_steps: SamplerStepsOpt = 10,
    solver: SolverOpt = "dpm++",
    sample_candidates: SampleCandidatesOpt = 1,
    mala_steps: MalaStepsOpt = 0,
    scale_objects: Annotated[bool, typer.Option(
        "--scale-objects/--no-scale-objects",
        help="Scale each object's longest edge into 0.06–0.10 m, as the training objects "
             "were (off: the file's units are metres).")] = True,
    seed: SeedOpt = 0,
    device: DeviceOpt = "cpu",
    out: Annotated[Path, typer.Option("--out", help="Run file to write (Parquet).")] = Path("run.parquet"),
) -> None:
    """Sample sequential grasps (Algorithm 1 with SeqDiffuser in MALA's place); writes a
    run file that `validate`, `eval`, `show` and `replay` read like any other."""
    from rich.console import Console

    from seqgrasp_core.plugins.manager import load_plugins
    from seqgrasp_core.runs.generate import GenerateRequest, SamplerChoice, run_generate

    from .generate import _print_summary

    check_one_object_source(object_, objects)
    plugins = load_plugins()
    warn_plugin_failures(plugins)
    request = GenerateRequest(hand=hand, objects=object_, objects_dir=objects, object_count=first,
                              scale_objects=scale_objects, batch=batch, seed=seed, device=device,
                              out=out, refine_steps=refine_steps, candidates=1,
                              sampler=SamplerChoice(model, sampler_steps, solver,
                                                    sample_candidates, mala_steps))
    summary = run_generate(request, plugins)
    _print_summary(Console(stderr=True), summary)


def register(app: typer.Typer) -> None:
    app.add_typer(diffuser_app, name="diffuser")
