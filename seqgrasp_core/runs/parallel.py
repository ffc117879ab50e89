"""Data-parallel generation: the batch split over local worker processes.

The B sequences of Algorithm 1 are independent, so a batch can be cut into shards
that run in separate processes (each with its own torch threads) and be put back
together with their sequence ids offset. On a CPU this beats one process with
several threads, since most of an iteration is small tensor operations that one
thread runs anyway. Shard ``k`` uses seed ``seed + 7919·k``, so one worker
reproduces the single-process run exactly.
"""

from __future__ import annotations

import dataclasses
import queue as queue_module
from dataclasses import dataclass

import torch

from seqgrasp_core.hands.model import HandModel
from seqgrasp_core.objects.mesh import load_object
from seqgrasp_core.plugins.manager import load_plugins
from seqgrasp_core.runs.weights import build_energy
from seqgrasp_core.synthesis.sequence import GenerateConfig, ProgressFn, StepOutcome, generate
from seqgrasp_core.system.workers import deferred_signals, message_queue, usable_cores, worker_pool

SHARD_SEED_STRIDE = 7919


@dataclass(frozen=True)
class ShardJob:
    """What a worker needs to rebuild the run: names, paths and numbers only."""

    hand: str
    object_paths: tuple[str, ...]
    size_range: tuple[float, float] | None
    weights: dict
    config: GenerateConfig
    first_sequence: int
    threads: int
    surface_points: int | None = None  # the hand's own count when None
    hand_options: dict | None = None


def threads_per_worker(workers: int) -> int:
    """Torch threads each of ``workers`` processes uses: the usable cores shared out."""
    return max(1, usable_cores() // workers)


def shard_sizes(batch: int, workers: int) -> list[int]:
    workers = max(1, min(workers, batch))
    base, extra = divmod(batch, workers)
    return [base + (1 if k < extra else 0) for k in range(workers)]


_MESSAGES = None  # this worker's progress queue, set by :func:`_init_worker`


def _init_worker(messages) -> None:
    global _MESSAGES
    _MESSAGES = messages


def _run_shard(job: ShardJob) -> list[dict]:
    torch.set_num_threads(job.threads)
    plugins = load_plugins()
    spec = plugins.hand(job.hand).configured(job.hand_options or {})
    hand = HandModel(spec, device=job.config.device, surface_points=job.surface_points)
    objects = [load_object(p, size_range=job.size_range) for p in job.object_paths]

    def report(n, label, i, steps, energy):
        _MESSAGES.put((job.first_sequence, n, label, i, steps, energy))

    outcomes = generate(hand, objects, build_energy(plugins, job.weights), job.config, report)
    return [{**{f.name: getattr(o, f.name) for f in dataclasses.fields(o) if f.name != "obj"},
             "object_index": next(i for i, x in enumerate(objects) if x is o.obj)}
            for o in outcomes]


def generate_in_workers(hand: str, objects, size_range, weights: dict, config: GenerateConfig,
                        workers: int, progress: ProgressFn | None = None,
                        surface_points: int | None = None, threads: int | None = None,
                        hand_options: dict | None = None) -> list[StepOutcome]:
    """Run :func:`~seqgrasp_core.synthesis.sequence.generate` over ``workers`` processes
    (``surface_points`` overrides the hand's count of surface samples, ``threads`` the
    torch threads of each worker, ``hand_options`` configure the hand). The workers
    end with this process, and at once on an exception here (Ctrl-C)."""
    sizes = shard_sizes(config.batch, workers)
    threads = threads or threads_per_worker(len(sizes))
    starts = [sum(sizes[:k]) for k in range(len(sizes))]
    jobs = [ShardJob(hand, tuple(str(o.source) for o in objects), size_range, weights,
                     dataclasses.replace(config, batch=size,
                                         seed=config.seed + SHARD_SEED_STRIDE * k),
                     start, threads, surface_points, dict(hand_options or {}))
            for k, (size, start) in enumerate(zip(sizes, starts))]
    messages = message_queue()
    with worker_pool(len(jobs), _init_worker, (messages,)) as pool:
        with deferred_signals():
            futures = [pool.submit(_run_shard, job) for job in jobs]
        latest: dict[int, tuple] = {}
        while not all(f.done() for f in futures):
            if any(f.done() and f.exception() is not None for f in futures):
                break  # one shard failed: the others' work is lost anyway
            try:
                msg = messages.get(timeout=0.2)
            except queue_module.Empty:
                continue
            latest[msg[0]] = msg
            if progress is not None:
                slowest = min(latest.values(), key=lambda m: (m[1], m[3]))
                energy = sum(m[5] for m in latest.values()) / len(latest)
                progress(slowest[1], slowest[2], slowest[3], slowest[4], energy)
        results = [f.result() for f in futures]  # raises a failed shard's error
    return _merge(results, starts, objects)


def _merge(results: list[list[dict]], starts: list[int], objects) -> list[StepOutcome]:
    merged: list[StepOutcome] = []
    steps = sorted({r["step"] for shard in results for r in shard})
    for step in steps:
        parts = [(start, r) for start, shard in zip(starts, results) for r in shard
                 if r["step"] == step]
        first = parts[0][1]
        cat = lambda key: torch.cat([r[key] for _, r in parts])  # noqa: E731
        merged.append(StepOutcome(
            step=step, obj=objects[first["object_index"]],
            sequence=torch.cat([r["sequence"] + start for start, r in parts]),
            os_index=cat("os_index"), os_name=[n for _, r in parts for n in r["os_name"]],
            joint_mask=cat("joint_mask"), pose=cat("pose"), contact_index=cat("contact_index"),
            energy=cat("energy"),
            terms={k: torch.cat([r["terms"][k] for _, r in parts]) for k in first["terms"]},
            acceptance=sum(r["acceptance"] for _, r in parts) / len(parts),
            seconds=max(r["seconds"] for _, r in parts)))
    return merged


__all__ = ["generate_in_workers", "shard_sizes", "threads_per_worker"]
