"""`seqgrasp eval`: the paper's experiment (§VII-A) on an object set.

Random sequences of up to ``max_objects`` objects are drawn from the set, each is
generated for a batch and validated, and the rows are summarized per number of
objects held: success rate, mean max penetration, generation time per 256 grasps
and diversity — the columns of the paper's Table III.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pyarrow as pa

from seqgrasp_core.errors import SeqGraspError
from seqgrasp_core.objects.mesh import demo_object_paths, file_sha256, mesh_paths_in
from seqgrasp_core.plugins.manager import Plugins
from seqgrasp_core.runs.generate import GenerateRequest, SamplerChoice, run_generate
from seqgrasp_core.runs.runfile import read_run
from seqgrasp_core.runs.settings import Settings, as_metadata
from seqgrasp_core.runs.weights import parse_energy_overrides
from seqgrasp_core.synthesis.refine import RefineConfig
from seqgrasp_core.system.outputs import atomic_write_bytes, prepare_output
from seqgrasp_core.validation import summarize, validate_table, with_results


@dataclass
class EvalRequest:
    hand: str
    objects_dir: Path | None = None
    sequences: int = 10
    batch: int = 256
    max_objects: int = 4
    steps: int = 6000
    refine_steps: int = RefineConfig.steps
    energy: tuple[str, ...] = ()  # NAME=WEIGHT overrides, as for generate
    candidates: int = 1
    preset: str | None = None
    settings: Settings = field(default_factory=Settings)
    hand_options: dict[str, str] = field(default_factory=dict)
    seed: int = 0
    device: str = "cpu"
    workers: int = 1
    validator: str = "mujoco"
    validator_options: dict[str, str] = field(default_factory=dict)
    validate_workers: int = 1
    out: Path | None = None
    work_dir: Path = Path(".")
    sampler: SamplerChoice | None = None  # None: Algorithm 1's MALA
    test_split_of: Path | None = None  # a dataset folder: only its test objects


def draw_sequences(paths: list[Path], count: int, length: int, seed: int) -> list[list[Path]]:
    """``count`` random sequences of ``length`` distinct objects (fewer if the set is small)."""
    rng = random.Random(seed)
    length = min(length, len(paths))
    return [rng.sample(paths, length) for _ in range(count)]


def test_objects(paths: list[Path], dataset: Path) -> list[Path]:
    """The meshes of ``paths`` that are test objects of the dataset folder ``dataset``
    (by content hash, from its manifest), so that a learned sampler is evaluated on
    objects it never trained on."""
    try:
        objects = json.loads((Path(dataset) / "manifest.json").read_text())["objects"]
    except (OSError, ValueError, KeyError):
        raise SeqGraspError(f"{dataset} has no readable manifest.json",
                            "give a folder built by `seqgrasp dataset build`") from None
    test = {o["sha256"] for o in objects if o["split"] == "test"}
    chosen = [p for p in paths if file_sha256(p) in test]
    if not chosen:
        raise SeqGraspError(f"none of the {len(paths)} meshes given is a test object of "
                            f"{dataset}", "pass the folder the dataset was built from "
                                          "with --objects")
    return chosen


def run_file(work_dir: Path, index: int) -> Path:
    """Where sequence ``index``'s run file is written."""
    return Path(work_dir) / f"eval_sequence_{index:03d}.parquet"


def run_eval(request: EvalRequest, plugins: Plugins,
             on_sequence: Callable[[int, int, str], None] | None = None,
             progress=None) -> dict:
    """Generate and validate every sequence; returns ``{"rows": [...], ...}``."""
    if request.sequences < 1 or request.max_objects < 1:
        raise SeqGraspError("--sequences and --max-objects must be at least 1",
                            "e.g. --sequences 10 --max-objects 4")
    spec = plugins.hand(request.hand).configured(request.hand_options)
    if request.out is not None:
        prepare_output(request.out)
    prepare_output(run_file(request.work_dir, 0), "--keep-runs")
    validator = plugins.validators.get(request.validator).configured(request.validator_options)
    if not validator.available():
        raise SeqGraspError(f"validator {validator.name!r} is not available",
                            validator.unavailable_hint)
    paths = mesh_paths_in(request.objects_dir) if request.objects_dir else demo_object_paths()
    if request.test_split_of is not None:
        paths = test_objects(paths, request.test_split_of)
    sequences = draw_sequences(paths, request.sequences, request.max_objects, request.seed)
    tables, step_seconds = [], {}
    for i, seq in enumerate(sequences):
        if on_sequence is not None:
            on_sequence(i, len(sequences), " → ".join(p.stem for p in seq))
        run_path = run_file(request.work_dir, i)
        summary = run_generate(GenerateRequest(
            hand=spec.name, objects=seq, scale_objects=True, batch=request.batch,
            steps=request.steps, refine_steps=request.refine_steps, energy=request.energy,
            candidates=request.candidates, preset=request.preset, settings=request.settings,
            hand_options=request.hand_options, seed=request.seed + i, device=request.device,
            out=run_path, workers=request.workers, sampler=request.sampler), plugins,
            progress=progress)
        for out in summary["outcomes"]:
            step_seconds.setdefault(out.step, []).append(out.seconds * 256 / len(out.sequence))
        table, metadata = read_run(run_path)
        results = validate_table(table, metadata, spec, validator,
                                 workers=request.validate_workers)
        tables.append(with_results(table, results).replace_schema_metadata(None))
    rows = []
    for row in summarize(pa.concat_tables(tables)):
        times = step_seconds.get(row["objects"], [])
        rows.append({"objects": row["objects"], "grasps": row["grasps"],
                     "success_rate": row["success_rate"],
                     "penetration_mm": row["mean_max_penetration_mm"],
                     "hand_penetration_mm": row["mean_hand_penetration_mm"],
                     "seconds_per_256": sum(times) / len(times) if times else float("nan"),
                     "diversity": row["diversity_rad"], "unmeasured": row["unmeasured"]})
    report = {"hand": spec.name, "sequences": [[p.stem for p in s] for s in sequences],
              "batch": request.batch, "steps": request.steps,
              "preset": request.preset, "candidates": request.candidates,
              "refine_steps": request.refine_steps,
              "weights": parse_energy_overrides(list(request.energy), plugins),
              "settings": as_metadata(request.settings), "seed": request.seed,
              "validator": request.validator,
              "sampler": _sampler_record(request.sampler),
              "rows": rows}
    if request.out is not None:
        text = json.dumps(_nan_as_null(report), indent=2, allow_nan=False)
        atomic_write_bytes(Path(request.out), lambda tmp: Path(tmp).write_text(text))
    return report


def _sampler_record(choice: SamplerChoice | None) -> dict:
    if choice is None:
        return {"name": "mala"}
    return {"name": "diffuser", "model": str(choice.model) if choice.model else "bundled",
            "steps": choice.steps, "solver": choice.solver, "candidates": choice.candidates,
            "mala_steps": choice.mala_steps}


def _nan_as_null(value):
    """``value`` with every NaN float replaced by ``None`` (JSON has no NaN)."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _nan_as_null(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_as_null(v) for v in value]
    return value
