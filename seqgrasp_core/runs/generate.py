"""`seqgrasp generate` as a function: inputs checked first, then Algorithm 1, then a table.

Everything a user can get wrong (hand, energy names and weights, device, meshes,
opposition-space order, output folder) is checked before any optimization runs.
"""

from __future__ import annotations

import datetime as _dt
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from seqgrasp_core import __version__
from seqgrasp_core.errors import SeqGraspError, SeqGraspWarning
from seqgrasp_core.hands.model import HandModel
from seqgrasp_core.objects.mesh import (PAPER_SIZE_RANGE, GraspObject, demo_object_paths,
                                        load_object, mesh_paths_in)
from seqgrasp_core.plugins.manager import Plugins, hand_plugin_record
from seqgrasp_core.runs.parallel import generate_in_workers, shard_sizes, threads_per_worker
from seqgrasp_core.runs.runfile import outcomes_to_table, write_run
from seqgrasp_core.runs.settings import Settings, as_metadata
from seqgrasp_core.runs.weights import build_energy, parse_energy_overrides
from seqgrasp_core.synthesis.mala import MalaConfig
from seqgrasp_core.synthesis.opposition import check_fixed_order
from seqgrasp_core.synthesis.refine import RefineConfig
from seqgrasp_core.synthesis.sequence import GenerateConfig, ProgressFn, generate
from seqgrasp_core.system.outputs import prepare_output
from seqgrasp_core.system.workers import capped_workers

def resolve_device(name: str) -> torch.device:
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SeqGraspError(f"unknown device {name!r}", "use cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SeqGraspError("CUDA is not available in this torch build or machine",
                            "use --device cpu, or install a CUDA build of torch")
    if device.type not in ("cpu", "cuda"):
        raise SeqGraspError(f"device {name!r} is not supported", "use cpu or cuda")
    return device


def load_objects(paths: list[Path] | None, count: int | None, scale_to_paper: bool,
                 hand_name: str, max_size: float) -> list[GraspObject]:
    """The object sequence: ``paths`` (or the demo set), the first ``count`` of them."""
    paths = list(paths) if paths else demo_object_paths()
    if count is not None:
        if count < 1:
            raise SeqGraspError("--first must be at least 1", "e.g. --first 4")
        if count > len(paths):
            raise SeqGraspError(f"--first {count} asks for more objects than the "
                                f"{len(paths)} given", "pass more objects or a smaller N")
        paths = paths[:count]
    return [load_object(p, size_range=PAPER_SIZE_RANGE if scale_to_paper else None,
                        max_size=max_size, hand_name=f"the {hand_name} hand") for p in paths]


@dataclass
class GenerateRequest:
    """Everything ``seqgrasp generate`` asks for. ``candidates`` and ``refine_steps``
    are what the preset resolved to (:func:`~seqgrasp_core.runs.settings.preset_choice`);
    ``preset`` is recorded with them."""

    hand: str
    objects: list[Path] | None = None  # the sequence, in order
    objects_dir: Path | None = None  # or: the meshes of this folder, by name
    object_count: int | None = None  # only the first N
    scale_objects: bool = False
    batch: int = 256
    steps: int = 6000
    seed: int = 0
    device: str = "cpu"
    energy: tuple[str, ...] = ()
    os_order: tuple[str, ...] = ()
    out: Path = Path("run.parquet")
    workers: int = 1
    refine_steps: int = RefineConfig.steps
    candidates: int = 1  # grasps optimized per sequence and object (best kept)
    preset: str | None = None
    settings: Settings = field(default_factory=Settings)
    hand_options: dict[str, str] = field(default_factory=dict)
    sampler: SamplerChoice | None = None  # None: Algorithm 1's MALA


@dataclass(frozen=True)
class SamplerChoice:
    """A learned sampler in MALA's place: SeqDiffuser's ``model`` file (None: the one
    bundled for the hand), ``steps`` denoising steps of ``solver``, the best of
    ``candidates`` samples kept, then ``mala_steps`` of MALA from it."""

    model: Path | None = None
    steps: int = 10
    solver: str = "dpm++"
    candidates: int = 1
    mala_steps: int = 0


def _load_model(choice: SamplerChoice, hand_name: str, device: torch.device):
    """The SeqDiffuser model ``choice`` names, checked for ``hand_name``."""
    from seqgrasp_core.diffuser.bundled import model_path
    from seqgrasp_core.diffuser.model import SeqDiffuser, make_solver

    make_solver(choice.solver)  # an unknown solver fails here, before any work
    if choice.steps < 1 or choice.candidates < 1 or choice.mala_steps < 0:
        raise SeqGraspError("--sampler-steps and --candidates must be at least 1, "
                            "--mala-steps at least 0", "e.g. --sampler-steps 10")
    return SeqDiffuser.load(choice.model or model_path(hand_name), hand=hand_name,
                            device=str(device))


def _diffuser(choice: SamplerChoice, model, hand: HandModel, energy, config
              ) -> tuple[object, dict]:
    """SeqDiffuser's proposer for ``hand`` and the run file's record of it."""
    from seqgrasp_core.diffuser.proposer import SamplerSettings, diffuser_proposer

    settings = SamplerSettings(choice.steps, choice.solver, choice.candidates,
                               choice.mala_steps, config.candidate_depth_limit)
    proposer = diffuser_proposer(model, hand, energy.for_stage("optimize"), config.mala.steps,
                                 settings)
    return proposer, {"name": "diffuser", "model": model.record.get("file"),
                      "steps": choice.steps, "solver": choice.solver,
                      "candidates": choice.candidates, "mala_steps": choice.mala_steps,
                      "dataset": model.record.get("dataset")}


def run_generate(request: GenerateRequest, plugins: Plugins,
                 progress: ProgressFn | None = None, on_ready=None) -> dict:
    """Check inputs, run Algorithm 1, write the run file; returns a summary dict.

    ``on_ready(objects)`` is called once the inputs are checked and loaded.
    """
    spec = plugins.hand(request.hand).configured(request.hand_options)
    weights = parse_energy_overrides(list(request.energy), plugins)
    device = resolve_device(request.device)
    if request.os_order:
        check_fixed_order(spec, list(request.os_order))
    workers = capped_workers(request.workers)
    model = _load_model(request.sampler, spec.name, device) if request.sampler else None
    settings = request.settings
    surface_points = settings.surface_points or spec.surface_points
    if request.candidates < 1 or request.refine_steps < 0:
        raise SeqGraspError("--candidates must be at least 1 and --refine-steps at least 0",
                            "e.g. --candidates 3 --refine-steps 200")
    prepare_output(request.out)
    paths = request.objects or (mesh_paths_in(request.objects_dir) if request.objects_dir
                                else None)
    objects = load_objects(paths, request.object_count, request.scale_objects,
                           spec.name, spec.max_object_size)
    if len(request.os_order) > len(objects):
        raise SeqGraspError(f"{len(request.os_order)} --os given for {len(objects)} objects",
                            "give at most one --os per object, in grasp order")
    if on_ready is not None:
        on_ready(objects)
    energy = build_energy(plugins, weights)
    config = GenerateConfig(batch=request.batch, seed=request.seed, device=str(device),
                            os_order=tuple(request.os_order) or None,
                            mala=MalaConfig(steps=request.steps),
                            refine=RefineConfig(
                                steps=request.refine_steps,
                                depth_allowance=settings.refine_allowance_mm / 1000.0),
                            candidates=request.candidates,
                            candidate_depth_limit=settings.candidate_depth_mm / 1000.0)
    sampler, proposer, sampler_record = None, None, None
    if request.sampler is not None:  # fast: one process, no MALA
        workers, sampler = 1, request.sampler
    shards = len(shard_sizes(request.batch, workers))
    threads = settings.threads or (threads_per_worker(shards) if shards > 1
                                   else torch.get_num_threads())
    t0 = time.perf_counter()
    if shards > 1:
        size_range = PAPER_SIZE_RANGE if request.scale_objects else None
        outcomes = generate_in_workers(spec.name, objects, size_range,
                                       {k: w for k, w in weights.items() if w != 0.0}, config,
                                       workers, progress, surface_points, threads,
                                       request.hand_options)
    else:
        torch.set_num_threads(threads)
        hand = HandModel(spec, device=device, surface_points=surface_points)
        if sampler is not None:
            proposer, sampler_record = _diffuser(sampler, model, hand, energy, config)
        outcomes = generate(hand, objects, energy, config, progress, proposer)
    seconds = time.perf_counter() - t0
    broken = sum(int((~torch.isfinite(o.pose).all(dim=1)).sum()) for o in outcomes)
    if broken:
        warnings.warn(f"{broken} grasps came out of the optimizer with values that are not "
                      "finite numbers (a weight too large?); validation fails them",
                      SeqGraspWarning, stacklevel=2)
    optimized = sorted(n for n in weights if "optimize" in plugins.energy_terms.get(n).stages)
    table = outcomes_to_table(outcomes, spec.name, optimized)
    metadata = {
        "hand": spec.name, "hand_plugin": hand_plugin_record(plugins, spec.name),
        "seed": request.seed, "batch": request.batch,
        "steps": request.steps, "device": str(device), "weights": weights,
        "schedules": {n: plugins.energy_terms.get(n).schedule for n in weights},
        "os_order": list(request.os_order) or None, "version": __version__,
        "workers": shards, "threads": threads, "surface_points": surface_points,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
        "objects": [{"object_id": o.object_id, "sha256": o.sha256, "scale": o.scale,
                     "source": o.source} for o in objects],
        "mala": config.mala.__dict__,
        "refine": config.refine.__dict__,
        "candidates": config.candidates,
        "candidate_depth_limit": config.candidate_depth_limit,
        "preset": request.preset, "settings": as_metadata(settings),
        "hand_options": dict(request.hand_options),
        "sampler": sampler_record or {"name": "mala"},
    }
    write_run(request.out, table, metadata)
    return {"rows": table.num_rows, "seconds": seconds, "outcomes": outcomes,
            "out": str(request.out)}
