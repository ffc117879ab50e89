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
from seqgrasp_core.system.outputs import atomic_write_bytes

SHARDS = "data"


def shard_path(root: Path, index: int) -> Path:
    return Path(root) / SHARDS / f"unit_{index:05d}.parquet"


def write_shard(root: Path, index: int, table: pa.Table, record: dict) -> None:
    write_run(shard_path(root, index), table, {"unit": record})


def finished_units(root: Path, settings: dict) -> dict[int, dict]:
    """``{unit index: record}`` of the shards on disk built with ``settings`` (a file
    that is not a finished shard counts as not done); :class:`SeqGraspError` when a
    shard was built with other settings."""
    out = {}
    for path in sorted((Path(root) / SHARDS).glob("unit_*.parquet")):
        try:
            meta = pq.read_schema(path).metadata or {}
            record = json.loads(meta[b"seqgrasp"])["unit"]
        except Exception:  # not a finished shard: the unit runs again
            continue
        if record.get("settings") != settings:
            raise SeqGraspError(f"{root} holds a build with other settings ({path.name})",
                                "use the same settings to resume, or another --out")
        out[int(record["index"])] = record
    return out


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
