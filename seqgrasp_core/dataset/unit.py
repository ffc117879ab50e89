"""Running one work unit: generate a batch of sequences, validate them, keep the holds."""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from seqgrasp_core.dataset.plan import Unit
from seqgrasp_core.hands.spec import HandSpec
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
    steps: int = 2000  # with the paper preset: the most held steps per CPU-hour measured
    candidates: int = 1
    refine_steps: int = 0
    preset: str = "paper"
    settings: Settings = field(default_factory=Settings)
    validator: str = "mujoco"


def run_unit(unit: Unit, meshes: dict[str, tuple[str, bytes]], config: UnitSettings
             ) -> tuple[pa.Table, dict, dict]:
    """``(validated steps, counts, run metadata)`` of ``unit``.

    ``meshes`` maps each object id to ``(file name, file bytes)``: the files travel
    with the task, so a worker needs no shared file system. The table holds the
    steps that held in physics, in the run-file format plus ``unit`` and ``split``;
    ``counts`` the steps tried and held per step and opposition space.

    Torch runs one thread unless the settings say otherwise (a unit is one task on
    one CPU), so a unit's grasps are the same on any machine and any number of
    workers.
    """
    settings = config.settings
    if settings.threads is None:
        settings = dataclasses.replace(settings, threads=1)
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
            preset=config.preset, settings=settings), plugins)
        table, metadata = read_run(out)
        spec = plugins.hand(config.hand)
        results = validate_table(table, metadata, spec, plugins.validators.get(config.validator))
    validated = with_results(table, results)
    validated = validated.append_column("spaces_left", pa.array(spaces_left(validated, spec),
                                                                  pa.int8()))
    counts = _counts(validated)
    held = validated.filter(validated.column("success"))
    held = held.append_column("unit", pa.array([unit.index] * held.num_rows, pa.int32()))
    held = held.append_column("split", pa.array([unit.split] * held.num_rows, pa.string()))
    for entry in metadata.get("objects", []):
        entry["source"] = Path(entry.get("source", "")).name  # the worker's path means nothing
    return held.replace_schema_metadata(None), counts, metadata


def spaces_left(table: pa.Table, spec: HandSpec) -> np.ndarray:
    """``(rows,)`` int: the opposition spaces still available after each row's step.

    A space is available while it is unused and some of its joints are not yet
    used by the sequence (Algorithm 1, lines 10–14); 0 means the step *consumed*
    the hand (Table II). Needs every earlier step of a sequence in ``table``.
    """
    full = np.array([o.joint_mask for o in spec.opposition_spaces], dtype=bool)  # (O, K)
    index = {o.name: i for i, o in enumerate(spec.opposition_spaces)}
    seq = table.column("sequence_id").to_numpy()
    step = table.column("step").to_numpy()
    names = table.column("os_name").to_pylist()
    out = np.zeros(len(seq), dtype=np.int8)
    for s in np.unique(seq):
        rows = np.flatnonzero(seq == s)
        rows = rows[np.argsort(step[rows], kind="stable")]
        used_spaces = np.zeros(len(full), dtype=bool)
        used_joints = np.zeros(full.shape[1], dtype=bool)
        for r in rows:
            used_spaces[index[names[r]]] = True
            used_joints |= full[index[names[r]]]
            out[r] = int((~used_spaces & (full & ~used_joints).any(axis=1)).sum())
    return out


def _counts(table: pa.Table) -> dict[str, dict[str, list[int]]]:
    """``{step: {os: [tried, held, held with no space left]}}`` over the validated rows
    of one run."""
    out: dict[str, dict[str, list[int]]] = {}
    for step, os_name, ok, left in zip(table.column("step").to_pylist(),
                                       table.column("os_name").to_pylist(),
                                       table.column("success").to_pylist(),
                                       table.column("spaces_left").to_pylist()):
        cell = out.setdefault(str(step), {}).setdefault(os_name, [0, 0, 0])
        cell[0] += 1
        cell[1] += int(bool(ok))
        cell[2] += int(bool(ok) and left == 0)
    return out


__all__ = ["UnitSettings", "run_unit"]
