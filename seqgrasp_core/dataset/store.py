"""The dataset folder: one Parquet shard per finished unit, a manifest, a card.

``DIR/data/unit_00042.parquet`` holds unit 42's held steps (run-file columns plus
``success``, ``unit``, ``split``), written atomically; its file metadata holds the
unit's record, so the shards on disk *are* the list of finished units and a build
resumes from them whatever happened to the manifest. ``DIR/manifest.json`` (settings,
object table, finished units) and ``DIR/README.md`` (the dataset card) are rewritten
atomically after every unit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from seqgrasp_core.errors import SeqGraspError
from seqgrasp_core.runs.runfile import write_run
from seqgrasp_core.system.outputs import atomic_write_bytes, partial_writes

SHARDS = "data"
OBJECTS = "objects.parquet"
SURFACE_SAMPLES = 2048
"""Farthest-point samples of each object's surface kept in ``objects.parquet``."""


def remove_stale_temporaries(root: Path) -> list[Path]:
    """Delete the temporary files a killed build left behind (``.NAME.XXXX.part``, the
    atomic writes of the manifest, card, object table and shards); returns them. Only
    for a folder this build owns: no other process writes into it meanwhile."""
    root = Path(root)
    stale = (partial_writes(root, ("manifest.json.", "README.md.", f"{OBJECTS}."))
             + partial_writes(root / SHARDS, ("unit_",)))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def shard_path(root: Path, index: int) -> Path:
    return Path(root) / SHARDS / f"unit_{index:05d}.parquet"


def write_shard(root: Path, index: int, table: pa.Table, record: dict) -> None:
    write_run(shard_path(root, index), table, {"unit": record})


def shard_records(root: Path) -> dict[int, dict]:
    """``{unit index: record}`` of the finished shards on disk (a file that is not a
    finished shard, e.g. a truncated one, is left out: its unit runs again)."""
    out = {}
    for path in sorted((Path(root) / SHARDS).glob("unit_*.parquet")):
        try:
            meta = pq.read_schema(path).metadata or {}
            record = json.loads(meta[b"seqgrasp"])["unit"]
        except Exception:
            continue
        out[int(record["index"])] = record
    return out


def finished_units(root: Path, settings: dict) -> dict[int, dict]:
    """:func:`shard_records`, after checking every shard was built with ``settings``
    (:class:`SeqGraspError` otherwise)."""
    records = shard_records(root)
    for index, record in records.items():
        if record.get("settings") != settings:
            raise SeqGraspError(f"{root} holds a build with other settings "
                                f"({shard_path(root, index).name})",
                                "use the same settings to resume, or another --out")
    return records


def write_object_surfaces(root: Path, entries, surfaces: dict) -> None:
    """``objects.parquet``: per object its id, sha256, scale, split and ``surface``,
    :data:`SURFACE_SAMPLES` farthest-point samples of its scaled surface ``(P·3,)``
    (m, the object's frame), so that a learned sampler trains from the folder alone."""
    table = pa.table({
        "object_id": [e.object_id for e in entries], "sha256": [e.sha256 for e in entries],
        "scale": [e.scale for e in entries], "split": [e.split for e in entries],
        "surface": pa.array([surfaces[e.object_id].astype("float32").reshape(-1)
                             for e in entries], pa.list_(pa.float32(), 3 * SURFACE_SAMPLES)),
    })
    atomic_write_bytes(Path(root) / OBJECTS, lambda tmp: pq.write_table(table, tmp))


def object_surfaces(root: Path) -> dict[str, tuple[str, float]] | None:
    """``{object_id: (sha256, scale)}`` of a readable ``objects.parquet``, else None."""
    try:
        table = pq.read_table(Path(root) / OBJECTS, columns=["object_id", "sha256", "scale"])
    except Exception:
        return None
    return {oid: (sha, scale) for oid, sha, scale in zip(*(table.column(c).to_pylist()
                                                          for c in table.column_names))}


def write_manifest(root: Path, manifest: dict) -> None:
    text = json.dumps(manifest, indent=1)
    atomic_write_bytes(Path(root) / "manifest.json", lambda tmp: tmp.write_text(text))


def write_card(root: Path, manifest: dict) -> None:
    """The dataset card (README.md): what the folder holds and how to load it."""
    units = manifest["finished"]
    rows = sum(u["rows"] for u in units)
    objects = manifest["objects"]
    s = manifest["settings"]
    text = f"""# SeqDataset built with seqgrasp {manifest['version']}

Sequential multi-object grasps for the `{s['hand']}` hand that held in physics
(`{s['validator']}` validator, the SeqGrasp protocol): {rows} grasp steps from
{len(units)} of {manifest['units']} work units, over {len(objects)} objects
({sum(o['split'] == 'train' for o in objects)} train, {sum(o['split'] == 'test' for o in objects)} test,
split by object: no test object is in a training sequence).

- `data/unit_*.parquet`: one shard per unit, the run-file columns
  (docs/data-format.md) plus `success`, `unit` and `split`.
- `objects.parquet`: per object its id, sha256, scale, split and 2048
  farthest-point samples of its scaled surface (m, the object's frame).
- `manifest.json`: the build settings, the object table (id, sha256, scale, split)
  and each finished unit (objects in grasp order, seed, steps tried and held per step
  and opposition space).

Load it as one table:

```python
import pyarrow.dataset as ds
table = ds.dataset("{Path(root).name}/data", format="parquet").to_table()
```

or with DuckDB (`SELECT * FROM '{Path(root).name}/data/*.parquet'`), pandas
(`pd.read_parquet`) or Hugging Face datasets
(`load_dataset("parquet", data_dir="{Path(root).name}/data")`).

Rebuild or extend it with: `{manifest['command']}`
"""
    atomic_write_bytes(Path(root) / "README.md", lambda tmp: tmp.write_text(text))
