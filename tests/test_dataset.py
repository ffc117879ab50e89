"""SeqDataset: the plan, a build on a local Ray, resuming it, and its folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from seqgrasp_cli.main import app
from seqgrasp_core.dataset.plan import derived_seed, plan_units, split_objects

ray = pytest.importorskip("ray")


def _build_args(objects: Path, out: Path, *extra: str) -> list[str]:
    """A small build: 2 sets of 2 synthetic objects × 2 orders, B=8, 200 steps."""
    return ["dataset", "build", str(objects), "--out", str(out), "--sets", "2",
            "--permutations", "2", "--objects-per-set", "2", "--batch", "8", "--steps", "200",
            "--preset", "best", "--seed", "4", *extra]


def _shards(out: Path) -> dict[str, object]:
    """``{file name: table without metadata}`` of a build's shards."""
    return {p.name: pq.read_table(p).replace_schema_metadata(None)
            for p in sorted((out / "data").glob("*.parquet"))}


@pytest.fixture(scope="module")
def objects(tmp_path_factory) -> Path:
    from seqgrasp_core.objects.catalog import write_synthetic_set

    folder = tmp_path_factory.mktemp("synth")
    write_synthetic_set(folder, 5, seed=11)
    return folder


@pytest.fixture(scope="module")
def built(objects, tmp_path_factory) -> Path:
    """The small build, uninterrupted, on a local Ray with two workers."""
    out = tmp_path_factory.mktemp("built") / "seqdataset"
    result = CliRunner().invoke(app, _build_args(objects, out, "--workers", "2"))
    assert result.exit_code == 0, result.output
    return out


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
def test_a_build_writes_shards_that_load_as_one_table(built):
    manifest = json.loads((built / "manifest.json").read_text())
    assert [u["index"] for u in manifest["finished"]] == [0, 1, 2, 3]
    assert (built / "README.md").is_file()
    assert sorted(_shards(built)) == [f"unit_{i:05d}.parquet" for i in range(4)]
    for unit in manifest["finished"]:
        tried = sum(c[0] for cells in unit["counts"].values() for c in cells.values())
        held = sum(c[1] for cells in unit["counts"].values() for c in cells.values())
        assert tried >= 2 * 8 and held == unit["rows"]  # 8 sequences × 2 objects, at most
    table = ds.dataset(built / "data", format="parquet").to_table()
    assert table.num_rows == sum(u["rows"] for u in manifest["finished"]) > 0
    assert {"success", "unit", "split", "spaces_left", "pose", "joints"} <= set(table.column_names)
    assert all(table.column("success").to_pylist())


@pytest.mark.slow
def test_a_ray_cluster_builds_the_same_shards(objects, built, tmp_path):
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)  # a second raylet: two worker nodes
    try:
        out = tmp_path / "on-cluster"
        result = CliRunner().invoke(app, _build_args(objects, out, "--address",
                                                     cluster.address))
        assert result.exit_code == 0, result.output
    finally:
        cluster.shutdown()
    assert _shards(out).keys() == _shards(built).keys()
    for name, table in _shards(built).items():
        assert _shards(out)[name].equals(table), name


def _session(sid: int) -> list[int]:
    """Live processes of session ``sid``."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        state, _, _, sid_of = stat[stat.rindex(")") + 2:].split()[:4]
        if int(sid_of) == sid and state != "Z":
            found.append(int(entry))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads Linux's /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_build_killed_part_way_resumes_to_the_same_shards(objects, built, tmp_path, sig):
    out = tmp_path / "killed"
    args = _build_args(objects, out, "--workers", "1")
    proc = subprocess.Popen([sys.executable, "-c", "from seqgrasp_cli.main import app; app()",
                             *args], start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while not list((out / "data").glob("unit_*.parquet")):
        assert proc.poll() is None, proc.communicate()[1][-500:]
        assert time.monotonic() < deadline, "no unit finished in 3 minutes"
        time.sleep(0.05)
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=20)
    if sig == signal.SIGTERM:  # a clean stop: one line, the usual exit code
        assert proc.returncode == 143 and err.strip().splitlines()[-1] == "terminated", err
    deadline = time.monotonic() + 20
    while (alive := _session(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    assert alive == [], "Ray processes outlived the killed build"
    assert 1 <= len(_shards(out)) < 4, "the build was not killed part-way"

    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert _shards(out).keys() == _shards(built).keys()
    for name, table in _shards(built).items():
        assert _shards(out)[name].equals(table), name
    strays = [p.name for p in out.rglob("*") if p.is_file()
              and not (p.name.startswith("unit_")
                       or p.name in ("manifest.json", "README.md", "objects.parquet"))]
    assert strays == []


@pytest.mark.slow
def test_a_lost_or_truncated_shard_is_rebuilt_not_read(objects, built, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(built, out)
    args = _build_args(objects, out, "--workers", "2")
    shards = sorted((out / "data").glob("unit_*.parquet"))
    before = _shards(out)
    shards[1].unlink()
    data = shards[2].read_bytes()
    shards[2].write_bytes(data[:len(data) // 2])
    (out / "manifest.json").write_text("{}")  # the shards, not the manifest, say what is done
    killed_mid_write = [out / ".manifest.json.k1a2b3.part", out / "data" / ".unit_00001.parquet.x9.part"]
    for stale in killed_mid_write:
        stale.write_bytes(b"half")
    hook, on_term = os.environ.get("PYTHONBREAKPOINT"), signal.getsignal(signal.SIGTERM)
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert not any(p.exists() for p in killed_mid_write)
    # Ray ran in this process: its PYTHONBREAKPOINT (which every process started later
    # would inherit) and its SIGTERM handler are gone
    assert os.environ.get("PYTHONBREAKPOINT") == hook
    assert signal.getsignal(signal.SIGTERM) == on_term
    assert _shards(out).keys() == before.keys()
    for name, table in before.items():
        assert _shards(out)[name].equals(table), name
    assert len(json.loads((out / "manifest.json").read_text())["finished"]) == 4

    other = CliRunner().invoke(app, _build_args(objects, out, "--workers", "1", "--batch", "9"))
    assert other.exit_code == 2 and "holds a build with other settings" in other.output

    changed = tmp_path / "changed"
    shutil.copytree(objects, changed)
    first = sorted(changed.glob("*.stl"))[0]
    first.write_bytes(sorted(changed.glob("*.stl"))[1].read_bytes())
    surfaces = (out / "objects.parquet").read_bytes()
    mixed = CliRunner().invoke(app, _build_args(changed, out, "--workers", "2"))
    assert mixed.exit_code == 2 and "holds a build of other objects" in mixed.output
    assert (out / "objects.parquet").read_bytes() == surfaces  # nothing rewritten
    unknown = CliRunner().invoke(app, _build_args(objects, tmp_path / "x", "--hand", "allegr0"))
    assert unknown.exit_code == 2 and "allegr0" in unknown.output
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_stats_equal_counts_recomputed_from_the_shards(built, allegro_spec):
    from seqgrasp_core.dataset.unit import spaces_left

    result = CliRunner().invoke(app, ["dataset", "stats", str(built), "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    table = ds.dataset(built / "data", format="parquet").to_table().to_pylist()
    held_by_space: dict[str, int] = {}
    held_by_n: dict[str, list[int]] = {}
    for row in table:
        held_by_space[row["os_name"]] = held_by_space.get(row["os_name"], 0) + 1
        cell = held_by_n.setdefault(str(row["step"]), [0, 0])
        cell[0] += 1
        cell[1] += row["spaces_left"] == 0
    assert {k: v["held"] for k, v in stats["spaces"].items() if v["held"]} == held_by_space
    assert {k: [v["held"], v["consumed"]] for k, v in stats["objects grasped"].items()
            if v["held"]} == held_by_n
    tried = sum(c[0] for p in sorted((built / "data").glob("*.parquet"))
                for cells in json.loads(pq.read_schema(p).metadata[b"seqgrasp"])["unit"]
                ["counts"].values() for c in cells.values())
    assert sum(v["tried"] for v in stats["spaces"].values()) == tried
    assert stats["rows"] == len(table) and stats["paper"]["hand"] == "allegro"

    # spaces_left after a first step: the other spaces with a joint the first left free
    masks = {o.name: set(np.flatnonzero(o.joint_mask)) for o in allegro_spec.opposition_spaces}
    for row in table:
        if row["step"] != 1:
            continue
        used = masks[row["os_name"]]
        free = [n for n, m in masks.items() if n != row["os_name"] and m - used]
        assert row["spaces_left"] == len(free)
    one = pa.table({"sequence_id": [0, 0, 0], "step": [1, 2, 3],
                    "os_name": ["index-palm", "middle-ring", "thumb-palm"]})
    assert spaces_left(one, allegro_spec).tolist() == [6, 2, 0]

    missing = CliRunner().invoke(app, ["dataset", "stats", str(built / "data")])
    assert missing.exit_code == 2 and "has no readable manifest.json" in missing.output
    shown = CliRunner().invoke(app, ["dataset", "stats", str(built)])
    assert shown.exit_code == 0 and "thumb-index" in shown.output and "5.75" in shown.output
