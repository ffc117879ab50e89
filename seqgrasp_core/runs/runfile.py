"""Run files: one Parquet row per grasp step (see ``docs/data-format.md``).

Columns: ``sequence_id, step (1-based), hand, object_id, object_sha256,
object_scale, os_name, joint_mask (K bools), pose (9: p in m, 6D rotation), joints
(K, rad), contact_index (2), energy_<term>…, energy_total``; validation adds
``success`` and ``max_penetration_mm``. The run's settings are JSON under the
``seqgrasp`` key of the file's key-value metadata. Files are written to a temporary
name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from seqgrasp_core.errors import RunFileError
from seqgrasp_core.system.outputs import atomic_write_bytes

METADATA_KEY = b"seqgrasp"
FORMAT_VERSION = 1
REQUIRED_COLUMNS = ("sequence_id", "step", "hand", "object_id", "object_sha256",
                    "object_scale", "os_name", "joint_mask", "pose", "joints")


def outcomes_to_table(outcomes, hand_name: str, term_names: list[str]) -> pa.Table:
    """Rows of :class:`~seqgrasp_core.synthesis.sequence.StepOutcome` s, sorted by sequence, step."""
    rows: dict[str, list] = {k: [] for k in (*REQUIRED_COLUMNS, "contact_index")}
    energies: dict[str, list] = {f"energy_{t}": [] for t in term_names}
    energies["energy_total"] = []
    for out in outcomes:
        for i, seq in enumerate(out.sequence.tolist()):
            rows["sequence_id"].append(seq)
            rows["step"].append(out.step)
            rows["hand"].append(hand_name)
            rows["object_id"].append(out.obj.object_id)
            rows["object_sha256"].append(out.obj.sha256)
            rows["object_scale"].append(out.obj.scale)
            rows["os_name"].append(out.os_name[i])
            rows["joint_mask"].append(out.joint_mask[i].tolist())
            rows["pose"].append(out.pose[i, :9].tolist())
            rows["joints"].append(out.pose[i, 9:].tolist())
            rows["contact_index"].append(out.contact_index[i].tolist())
            for t in term_names:
                value = out.terms.get(t)
                energies[f"energy_{t}"].append(float(value[i]) if value is not None else 0.0)
            energies["energy_total"].append(float(out.energy[i]))
    k = len(rows["joints"][0]) if rows["joints"] else 0
    schema = pa.schema([
        ("sequence_id", pa.int32()), ("step", pa.int16()), ("hand", pa.string()),
        ("object_id", pa.string()), ("object_sha256", pa.string()),
        ("object_scale", pa.float64()), ("os_name", pa.string()),
        ("joint_mask", pa.list_(pa.bool_(), k)), ("pose", pa.list_(pa.float32(), 9)),
        ("joints", pa.list_(pa.float32(), k)), ("contact_index", pa.list_(pa.int32(), 2)),
        *[(name, pa.float32()) for name in energies],
    ])
    table = pa.table({**rows, **energies}, schema=schema)
    return table.sort_by([("sequence_id", "ascending"), ("step", "ascending")])


def write_run(path: str | Path, table: pa.Table, metadata: dict) -> None:
    """Write ``table`` with ``metadata`` (JSON-able) atomically to ``path``."""
    meta = dict(table.schema.metadata or {})
    meta[METADATA_KEY] = json.dumps({"format_version": FORMAT_VERSION, **metadata}).encode()
    table = table.replace_schema_metadata(meta)
    atomic_write_bytes(Path(path), lambda tmp: pq.write_table(table, tmp))


def read_run(path: str | Path) -> tuple[pa.Table, dict]:
    """``(table, metadata)`` of a run file; :class:`RunFileError` if it is not one."""
    path = Path(path)
    if path.is_dir():
        raise RunFileError(f"{path} is a folder, not a run file",
                           "give a .parquet file written by `seqgrasp generate`")
    if not path.is_file():
        raise RunFileError(f"run file {path} not found", "check the path")
    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise RunFileError(f"{path} is not a readable Parquet file ({type(exc).__name__})",
                           "regenerate it with `seqgrasp generate`") from None
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if raw is None or missing:
        raise RunFileError(f"{path} is a Parquet file but not a seqgrasp run"
                           + (f" (no column {missing[0]!r})" if missing else ""),
                           "pass a file written by `seqgrasp generate`")
    try:
        metadata = json.loads(raw)
    except ValueError:
        raise RunFileError(f"{path} has corrupt seqgrasp metadata",
                           "regenerate it with `seqgrasp generate`") from None
    return table, metadata


def sequence_rows(table: pa.Table, sequence_id: int, source: str = "the run file") -> list[dict]:
    """The rows of one sequence as dicts, ordered by ``step`` (1, 2, …, n).

    :class:`RunFileError` when ``sequence_id`` is not in ``table`` (the message names
    the ids that are) or its steps have a gap.
    """
    ids = table.column("sequence_id").to_pylist()
    picked = [i for i, s in enumerate(ids) if s == sequence_id]
    if not picked:
        known = sorted(set(ids))
        have = (f"{known[0]}…{known[-1]}" if len(known) > 3 and known == list(
            range(known[0], known[-1] + 1)) else ", ".join(map(str, known))) or "none"
        raise RunFileError(f"{source} has no sequence {sequence_id}",
                           f"choose one of its sequence ids: {have}")
    rows = table.take(picked).to_pylist()
    rows.sort(key=lambda r: r["step"])
    steps = [int(r["step"]) for r in rows]
    if steps != list(range(1, len(rows) + 1)):
        raise RunFileError(f"sequence {sequence_id} in {source} has steps {steps}, "
                           "not 1…n", "regenerate the run with `seqgrasp generate`")
    return rows
