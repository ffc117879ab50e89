"""Speed of the MuJoCo validator: seconds to validate 256 four-object sequences.

Target (issue 3): at most 20 s on a 2-core machine. The input is a run file of 256
four-object sequences, made once with

    seqgrasp generate --preset paper --first 4 --batch 256 --steps 500 --workers 2 --out bench_run.parquet
    python benchmarks/bench_validate.py --run bench_run.parquet [--repeat 3] [--workers N]

(without ``--run`` the script generates such a run itself first, on four demo
objects; that takes minutes). Every row is validated, as ``seqgrasp validate`` does.
Prints, per repetition and as best / median: wall seconds for all sequences, seconds
per sequence and per row, and CPU seconds (this process and its workers; on a shared
machine, CPU seconds / workers is what the wall time would be with the cores free),
then the success table of the last repetition.

Heavy imports live inside ``main``: validation workers are spawned and re-import
this file, and should not pay for torch.
"""

from __future__ import annotations

import argparse
import os

DEMO = ("ball", "box", "bracket", "can")  # the first four demo objects, as `generate`


def generated_run(batch: int, steps: int):
    """``(table, metadata, hand spec)`` of a fresh short generate on the demo objects."""
    import time

    from seqgrasp_core.hands.model import HandModel
    from seqgrasp_core.objects.mesh import demo_object_paths, load_object
    from seqgrasp_core.plugins.manager import load_plugins
    from seqgrasp_core.runs.runfile import outcomes_to_table
    from seqgrasp_core.synthesis.mala import MalaConfig
    from seqgrasp_core.synthesis.sequence import GenerateConfig, generate
    from seqgrasp_core.synthesis.terms import WeightedEnergy

    plugins = load_plugins()
    spec = plugins.hand("allegro")
    paths = {p.stem: p for p in demo_object_paths()}
    objects = [load_object(paths[name], size_range=(0.06, 0.10)) for name in DEMO]
    terms = {t.name: (t, t.default_weight) for t in plugins.energy_terms}
    t0 = time.perf_counter()
    outcomes = generate(HandModel(spec), objects, WeightedEnergy(terms),
                        GenerateConfig(batch=batch, mala=MalaConfig(steps=steps)))
    table = outcomes_to_table(outcomes, spec.name, list(terms))
    metadata = {"hand": spec.name, "objects": [
        {"object_id": o.object_id, "sha256": o.sha256, "scale": o.scale, "source": o.source}
        for o in objects]}
    print(f"generated {table.num_rows} rows ({steps} steps) in "
          f"{time.perf_counter() - t0:.0f} s")
    return table, metadata, spec


def main() -> None:
    import resource
    import statistics
    import time

    import torch

    from seqgrasp_core.plugins.manager import load_plugins
    from seqgrasp_core.runs.runfile import read_run
    from seqgrasp_core.validation import summarize, validate_table, with_results

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", help="run file to validate (default: generate one first)")
    ap.add_argument("--batch", type=int, default=256, help="sequences (when generating)")
    ap.add_argument("--steps", type=int, default=200,
                    help="optimizer steps per object (when generating)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--repeat", type=int, default=3, help="timed repetitions")
    ap.add_argument("--validator", default="mujoco")
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)

    plugins = load_plugins()
    if args.run:
        table, metadata = read_run(args.run)
        spec = plugins.hand(metadata["hand"])
    else:
        table, metadata, spec = generated_run(args.batch, args.steps)
    sequences = len(set(table.column("sequence_id").to_pylist()))
    rows = table.num_rows
    validator = plugins.validators.get(args.validator)

    def cpu() -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    walls, cpus = [], []
    for i in range(args.repeat):
        c0, t0 = cpu(), time.perf_counter()
        results = validate_table(table, metadata, spec, validator, workers=args.workers)
        walls.append(time.perf_counter() - t0)
        cpus.append(cpu() - c0)
        print(f"  run {i + 1}: {walls[-1]:.1f} s wall, {cpus[-1]:.1f} s CPU, "
              f"{sum(r.success for r in results)} of {rows} rows pass")
    for name, value in (("best", min(walls)), ("median", statistics.median(walls))):
        print(f"{args.validator}, {args.workers} workers, {name}: {value:.1f} s for "
              f"{sequences} sequences ({rows} rows): {value / max(sequences, 1):.3f} s per "
              f"sequence, {value / max(rows, 1) * 1000:.1f} ms per row")
    print(f"CPU seconds: best {min(cpus):.1f}, median {statistics.median(cpus):.1f} "
          f"(target: 256 four-object sequences in <= 20 s wall on 2 cores)")
    for row in summarize(with_results(table, results)):
        print(f"  {row['objects']} objects: {row['grasps']:4d} grasps, success "
              f"{row['success_rate']:6.2f} %, mean max pen. {row['mean_max_penetration_mm']:.2f}"
              f" mm, diversity {row['diversity_rad']:.3f} rad")


if __name__ == "__main__":
    main()
