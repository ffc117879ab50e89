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
import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from seqgrasp_core import __version__
from seqgrasp_core.dataset.plan import ObjectEntry, Unit, plan_units, split_objects
from seqgrasp_core.dataset.store import (
    SURFACE_SAMPLES,
    finished_units,
    object_surfaces,
    remove_stale_temporaries,
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
    settings = _settings(request)
    done = finished_units(request.out, settings)  # before anything is written
    objects = _objects(request, resuming=bool(done))
    remove_stale_temporaries(request.out)  # a killed build's half-written files
    units = plan_units(objects, request.sets, request.permutations, request.objects_per_set,
                       request.seed)
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


def _objects(request: BuildRequest, resuming: bool) -> list[ObjectEntry]:
    """The folder's meshes, each checked (a bad one stops the build before any unit),
    split; their surface samples written to ``objects.parquet`` once. A build with
    finished units resumes only with the same meshes (its units and split name them)."""
    paths = mesh_paths_in(request.objects_dir)
    known = object_surfaces(request.out)
    hashes = {p.stem: file_sha256(p) for p in paths}
    if known is not None and {k: v[0] for k, v in known.items()} == hashes:
        return split_objects([(p.stem, p.name, hashes[p.stem], known[p.stem][1])
                              for p in paths], request.seed)
    if resuming:
        raise SeqGraspError(f"{request.out} holds a build of other objects than the meshes "
                            f"in {request.objects_dir}",
                            "resume with the same objects folder, or build into another --out")
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
    settings = _settings(request)  # what each shard records
    breakpoint_hook = os.environ.get("PYTHONBREAKPOINT")
    on_term = signal.getsignal(signal.SIGTERM)
    try:
        if started_here:
            if not request.address:  # Ray's node agents outlive a driver killed outright
                reaper = start_reaper()
            _start_ray(ray, request)
        folder = Path(request.objects_dir)
        meshes = ray.put({o.object_id: (o.file, (folder / o.file).read_bytes())
                          for o in objects})
        task = ray.remote(num_cpus=1)(_unit_task)
        pending = {task.remote(u, meshes, request.unit): u for u in todo}
        while pending:
            # Short waits: Python runs a Ctrl-C's handler only between them.
            try:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            except KeyboardInterrupt:
                _Relayed.reraise()  # SIGTERM's own exception, if that is what it was
                raise
            if not ready:
                continue
            unit = pending.pop(ready[0])
            table, counts = _result(ray, ready[0], unit)
            record = {**unit.as_dict(), "rows": table.num_rows, "counts": counts,
                      "settings": settings}
            write_shard(request.out, unit.index, table, record)
            done[unit.index] = record
            _record(request.out, manifest, done)
            if progress:
                progress(len(done), len(units), _held(done))
    finally:
        if started_here:
            ray.shutdown()
            _restore(breakpoint_hook, on_term)
        if reaper is not None:
            reaper.kill()
            reaper.wait()


def _result(ray, ref, unit: Unit):
    """A finished unit's ``(table, counts)``; a failed one as one line."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, SeqGraspError):
            raise cause from None
        raise SeqGraspError(f"unit {unit.index} failed: {type(cause).__name__}: {cause}",
                            "the finished units are kept; fix the cause and run the same "
                            "command again") from None


def _restore(breakpoint_hook: str | None, on_term) -> None:
    """Undo what ``ray.init`` left in this process that would change it or the
    processes it starts later: ``PYTHONBREAKPOINT`` pointing at Ray's debugger, and its
    SIGTERM handler. (Ray's ``RAY_*`` variables stay: a later Ray in this process
    needs them.)"""
    if breakpoint_hook is None:
        os.environ.pop("PYTHONBREAKPOINT", None)
    else:
        os.environ["PYTHONBREAKPOINT"] = breakpoint_hook
    if threading.current_thread() is threading.main_thread() and on_term is not None:
        signal.signal(signal.SIGTERM, on_term)


def _start_ray(ray, request: BuildRequest) -> None:
    """Ray in this process with ``workers`` CPUs, or connected to ``address``.

    ``ray.init`` replaces the process's SIGTERM handler with one that dumps a stack
    trace and dies; the handler it found (the command's clean stop) is put back."""
    on_term = signal.getsignal(signal.SIGTERM)
    try:
        if request.address:
            ray.init(address=request.address, log_to_driver=False, logging_level=logging.ERROR)
        else:
            ray.init(address="local", num_cpus=request.workers, include_dashboard=False,
                     log_to_driver=False, logging_level=logging.ERROR)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = request.address or "this machine"
        raise SeqGraspError(f"could not start Ray on {where}: {str(exc).splitlines()[0]}",
                            "check --address (ray://HOST:10001 or auto, with `ray start` "
                            "run there)") from None
    if callable(on_term) and threading.current_thread() is threading.main_thread():
        _Relayed.received = False
        signal.signal(signal.SIGTERM, _Relayed(on_term))


class _Relayed:
    """A SIGTERM handler that notes the signal before running ``handler``: an
    exception raised inside Ray's blocking calls reaches the caller as a plain
    KeyboardInterrupt, and :meth:`reraise` then raises the handler's own again."""

    received = False

    def __init__(self, handler):
        self.handler = handler

    def __call__(self, signum, frame):
        _Relayed.received = True
        self.handler(signum, frame)

    @classmethod
    def reraise(cls) -> None:
        handler = signal.getsignal(signal.SIGTERM)
        if cls.received and isinstance(handler, cls):
            handler.handler(signal.SIGTERM, None)


def _unit_task(unit: Unit, meshes: dict, config: UnitSettings):
    table, counts, _ = run_unit(unit, meshes, config)
    return table, counts
