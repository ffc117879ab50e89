"""SeqDataset: the plan, a build on a local Ray, resuming it, and its folder."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from seqgrasp_cli.main import app
from seqgrasp_core.dataset.plan import derived_seed, plan_units, split_objects

DEMO = Path(str(files("seqgrasp_core") / "data" / "demo_objects"))


def _objects(n: int):
    return split_objects([(f"o{i}", f"o{i}.stl", f"{i:064x}", 1.0) for i in range(n)], seed=3)


def test_the_split_is_by_object_and_seeded():
    entries = _objects(10)
    assert sum(e.split == "test" for e in entries) == 2
    assert [e.split for e in entries] == [e.split for e in _objects(10)]
    assert [e.split for e in split_objects(
        [(f"o{i}", f"o{i}.stl", f"{i:064x}", 1.0) for i in reversed(range(10))], seed=3)] == \
        [e.split for e in entries]
    units = plan_units(entries, sets=20, permutations=3, objects_per_set=2, seed=5)
    split_of = {e.object_id: e.split for e in entries}
    assert {u.split for u in units} == {"train", "test"}
    for u in units:
        assert {split_of[o] for o in u.objects} == {u.split}  # no test object in training


def test_a_units_seed_depends_on_the_build_seed_and_its_index_only():
    entries = _objects(10)
    few = plan_units(entries, sets=2, permutations=2, objects_per_set=2, seed=7)
    more = plan_units(entries, sets=5, permutations=2, objects_per_set=2, seed=7)
    assert more[:len(few)] == few
    assert [u.seed for u in few] == [derived_seed(7, i) for i in range(len(few))]
    assert len({u.objects for u in few[:2]}) == 2  # two orders of one set
    assert plan_units(entries, sets=2, permutations=2, objects_per_set=2, seed=8) != few


@pytest.mark.slow
def test_a_build_writes_shards_that_load_as_one_table_and_resumes(tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "seqdataset"
    args = ["dataset", "build", str(DEMO), "--out", str(out), "--sets", "2",
            "--permutations", "2", "--objects-per-set", "2", "--batch", "2", "--steps", "5",
            "--preset", "paper", "--workers", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert [u["index"] for u in manifest["finished"]] == [0, 1, 2, 3]
    shards = sorted((out / "data").glob("unit_*.parquet"))
    assert len(shards) == 4 and (out / "README.md").is_file()
    for unit in manifest["finished"]:
        tried = sum(t for cells in unit["counts"].values() for t, _ in cells.values())
        held = sum(h for cells in unit["counts"].values() for _, h in cells.values())
        assert tried >= 2 * 1 and held == unit["rows"]  # 2 sequences reach step 1
    table = ds.dataset(out / "data", format="parquet").to_table()
    assert table.num_rows == sum(u["rows"] for u in manifest["finished"])
    assert {"success", "unit", "split", "pose", "joints"} <= set(table.column_names)

    first = pq.read_table(shards[1]).replace_schema_metadata(None)
    shards[1].unlink()
    (out / "manifest.json").write_text("{}")  # the shards, not the manifest, say what is done
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert pq.read_table(shards[1]).replace_schema_metadata(None).equals(first)
    assert len(json.loads((out / "manifest.json").read_text())["finished"]) == 4

    whole = pq.read_table(shards[2]).replace_schema_metadata(None)
    data = shards[2].read_bytes()
    shards[2].write_bytes(data[:len(data) // 2])  # a truncated shard is rebuilt, not read
    assert CliRunner().invoke(app, args).exit_code == 0
    assert pq.read_table(shards[2]).replace_schema_metadata(None).equals(whole)
    assert not [p for p in (out / "data").iterdir() if not p.name.startswith("unit_")]

    stats = json.loads(CliRunner().invoke(app, ["dataset", "stats", str(out), "--json"]).stdout)
    assert stats["finished"] == 4 and stats["rows"] == table.num_rows
    tried = sum(t for u in manifest["finished"] for c in u["counts"].values()
                for t, _ in c.values())
    assert sum(s["tried"] for s in stats["steps"].values()) == tried
    missing = CliRunner().invoke(app, ["dataset", "stats", str(tmp_path)])
    assert missing.exit_code == 2 and "has no readable manifest.json" in missing.output

    other = CliRunner().invoke(app, [*args[:-2], "--workers", "1", "--steps", "6"])
    assert other.exit_code == 2 and "holds a build with other settings" in other.output
