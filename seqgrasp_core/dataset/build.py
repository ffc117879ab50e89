"""``seqgrasp dataset build``: the units of a plan run as Ray tasks, shards written as
they finish.

Ray runs in this process with ``workers`` CPUs unless ``address`` names a running
cluster. The object files travel to the tasks through Ray's object store. Units
already on disk are skipped, so the same command resumes a build after a crash,
Ctrl-C or ``kill -9``; each unit's result depends on its seed alone, so the shards do
not depend on how many workers ran them or where.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from seqgrasp_core import __version__
from seqgrasp_core.dataset.plan import ObjectEntry, Unit, plan_units, split_objects
from seqgrasp_core.dataset.store import (
    SURFACE_SAMPLES,
    finished_units,
    object_surfaces,
    write_card,
    write_manifest,
    write_object_surfaces,
    write_shard,
)
from seqgrasp_core.dataset.unit import UnitSettings, run_unit
from seqgrasp_core.errors import SeqGraspError
from seqgrasp_core.objects.mesh import PAPER_SIZE_RANGE, file_sha256, load_object, mesh_paths_in
from seqgrasp_core.system.outputs import prepare_output
from seqgrasp_core.system.reaper import start_reaper

RAY_HINT = 'pip install "seqgrasp[scale]"'


@dataclass
class BuildRequest:
    objects_dir: Path
    out: Path
    sets: int = 10
    permutations: int = 4
    objects_per_set: int = 4
    seed: int = 0
    unit: UnitSettings = dataclasses.field(default_factory=UnitSettings)
    address: str | None = None  # None: Ray in this process
    workers: int = 1
    command: str = "seqgrasp dataset build"


Progress = Callable[[int, int, int], None]
"""``progress(units done, units in the plan, steps held so far)``."""


def build(request: BuildRequest, progress: Progress | None = None) -> dict:
    """Run every unit of the plan not yet on disk; returns the manifest."""
    prepare_output(Path(request.out) / "manifest.json")
    objects = _objects(request)
    units = plan_units(objects, request.sets, request.permutations, request.objects_per_set,
                       request.seed)
    settings = _settings(request)
    done = finished_units(request.out, settings)
    manifest = {"version": __version__, "settings": {**settings, "sets": request.sets},
                "units": len(units),
                "objects": [dataclasses.asdict(o) for o in objects],
                "command": request.command, "finished": []}
    _record(request.out, manifest, done)
    todo = [u for u in units if u.index not in done]
    if progress:
        progress(len(done), len(units), _held(done))
    if todo:
        _run(request, todo, objects, manifest, done, units, progress)
    return manifest


def _objects(request: BuildRequest) -> list[ObjectEntry]:
    """The folder's meshes, each checked (a bad one stops the build before any unit),
    split; their surface samples written to ``objects.parquet`` once."""
    paths = mesh_paths_in(request.objects_dir)
    known = object_surfaces(request.out)
    hashes = {p.stem: file_sha256(p) for p in paths}
    if known is not None and {k: v[0] for k, v in known.items()} == hashes:
        return split_objects([(p.stem, p.name, hashes[p.stem], known[p.stem][1])
                              for p in paths], request.seed)
    loaded = [load_object(p, size_range=PAPER_SIZE_RANGE, surface_points=SURFACE_SAMPLES)
              for p in paths]
    entries = split_objects([(o.object_id, Path(o.source).name, o.sha256, o.scale)
                             for o in loaded], request.seed)
    write_object_surfaces(request.out, entries, {o.object_id: o.surface_points for o in loaded})
    return entries


def _settings(request: BuildRequest) -> dict:
    """What every shard of the folder must share. ``--sets`` is not part of it: unit
    ``i`` is the same in a plan of any length, so a build grows with a larger
    ``--sets``."""
    unit = dataclasses.asdict(request.unit)
    return {"permutations": request.permutations, "objects_per_set": request.objects_per_set,
            "seed": request.seed, **unit}


def _record(root: Path, manifest: dict, done: dict[int, dict]) -> None:
    manifest["finished"] = [{k: v for k, v in done[i].items() if k != "settings"}
                            for i in sorted(done)]
    manifest["updated"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    write_manifest(root, manifest)
    write_card(root, manifest)


def _held(done: dict[int, dict]) -> int:
    return sum(r["rows"] for r in done.values())


def _run(request: BuildRequest, todo: list[Unit], objects: list[ObjectEntry], manifest: dict,
         done: dict[int, dict], units: list[Unit], progress: Progress | None) -> None:
    try:
        import ray
    except ImportError:
        raise SeqGraspError("building a dataset needs Ray, which is not installed",
                            RAY_HINT) from None
    started_here = not ray.is_initialized()
    reaper = None
    if started_here:
        if request.address:
            ray.init(address=request.address, log_to_driver=False, logging_level=logging.ERROR)
        else:  # Ray's node agents outlive a driver killed outright: the reaper ends them
            reaper = start_reaper()
            ray.init(address="local", num_cpus=request.workers, include_dashboard=False,
                     log_to_driver=False, logging_level=logging.ERROR)
    try:
        folder = Path(request.objects_dir)
        meshes = ray.put({o.object_id: (o.file, (folder / o.file).read_bytes())
                          for o in objects})
        task = ray.remote(num_cpus=1)(_unit_task)
        pending = {task.remote(u, meshes, request.unit): u for u in todo}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            unit = pending.pop(ready[0])
            table, counts = ray.get(ready[0])
            record = {**unit.as_dict(), "rows": table.num_rows, "counts": counts,
                      "settings": _settings(request)}
            write_shard(request.out, unit.index, table, record)
            done[unit.index] = record
            _record(request.out, manifest, done)
            if progress:
                progress(len(done), len(units), _held(done))
    finally:
        if started_here:
            ray.shutdown()
        if reaper is not None:
            reaper.kill()
            reaper.wait()


def _unit_task(unit: Unit, meshes: dict, config: UnitSettings):
    table, counts, _ = run_unit(unit, meshes, config)
    return table, counts
