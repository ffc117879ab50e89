"""Running one work unit: generate a batch of sequences, validate them, keep the holds."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from seqgrasp_core.dataset.plan import Unit
from seqgrasp_core.plugins.manager import load_plugins
from seqgrasp_core.runs.generate import GenerateRequest, run_generate
from seqgrasp_core.runs.runfile import read_run
from seqgrasp_core.runs.settings import Settings
from seqgrasp_core.validation import validate_table, with_results


@dataclass(frozen=True)
class UnitSettings:
    """What every unit of a build shares (see ``seqgrasp dataset build``)."""

    hand: str = "allegro"
    batch: int = 256
    steps: int = 6000
    candidates: int = 3
    refine_steps: int = 200
    preset: str = "best"
    settings: Settings = field(default_factory=Settings)
    validator: str = "mujoco"


def run_unit(unit: Unit, meshes: dict[str, tuple[str, bytes]], config: UnitSettings
             ) -> tuple[pa.Table, dict, dict]:
    """``(validated steps, counts, run metadata)`` of ``unit``.

    ``meshes`` maps each object id to ``(file name, file bytes)``: the files travel
    with the task, so a worker needs no shared file system. The table holds the
    steps that held in physics, in the run-file format plus ``unit`` and ``split``;
    ``counts`` the steps tried and held per step and opposition space.
    """
    plugins = load_plugins()
    with tempfile.TemporaryDirectory(prefix="seqgrasp-unit-") as tmp:
        paths = []
        for object_id in unit.objects:
            name, data = meshes[object_id]
            path = Path(tmp) / name
            path.write_bytes(data)
            paths.append(path)
        out = Path(tmp) / "run.parquet"
        run_generate(GenerateRequest(
            hand=config.hand, objects=paths, scale_objects=True, batch=config.batch,
            steps=config.steps, seed=unit.seed, out=out, workers=1,
            candidates=config.candidates, refine_steps=config.refine_steps,
            preset=config.preset, settings=config.settings), plugins)
        table, metadata = read_run(out)
        spec = plugins.hand(config.hand)
        results = validate_table(table, metadata, spec, plugins.validators.get(config.validator))
    validated = with_results(table, results)
    counts = _counts(validated)
    held = validated.filter(validated.column("success"))
    held = held.append_column("unit", pa.array([unit.index] * held.num_rows, pa.int32()))
    held = held.append_column("split", pa.array([unit.split] * held.num_rows, pa.string()))
    for entry in metadata.get("objects", []):
        entry["source"] = Path(entry.get("source", "")).name  # the worker's path means nothing
    return held.replace_schema_metadata(None), counts, metadata


def _counts(table: pa.Table) -> dict[str, dict[str, list[int]]]:
    """``{step: {os: [tried, held]}}`` over the validated rows of one run."""
    out: dict[str, dict[str, list[int]]] = {}
    for step, os_name, ok in zip(table.column("step").to_pylist(),
                                 table.column("os_name").to_pylist(),
                                 table.column("success").to_pylist()):
        cell = out.setdefault(str(step), {}).setdefault(os_name, [0, 0])
        cell[0] += 1
        cell[1] += int(bool(ok))
    return out


__all__ = ["UnitSettings", "run_unit"]
