"""Dataset builder efficiency: validated grasp steps per CPU-hour, per setting.

Runs the dataset builder's work unit (generate one grasp order of a set of objects ×
a batch, validate it, keep the steps that hold; ``seqgrasp_core.dataset.unit``) for
each preset and each number of optimizer steps, on the same synthetic objects, in
this process with one torch thread (as a Ray task with one CPU runs it), and prints
per setting: the steps held and tried, the held rate per number of objects, CPU
seconds, and held steps per CPU-hour — the builder's figure of merit.

    python benchmarks/bench_dataset.py                       # B=128, 4 objects, 2 sets
    python benchmarks/bench_dataset.py --steps 1000 6000 --presets best --batch 64

``--sets`` sets of ``--objects`` synthetic objects (seed ``--seed``) are tried for
every setting, so the settings compare on the same sequences of objects.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[1000, 2000, 4000, 6000])
    parser.add_argument("--presets", nargs="+", default=["paper", "best"])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--objects", type=int, default=4, help="objects per sequence")
    parser.add_argument("--sets", type=int, default=2, help="object sets per setting")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    import torch

    from seqgrasp_core.dataset.plan import Unit, derived_seed
    from seqgrasp_core.dataset.unit import UnitSettings, run_unit
    from seqgrasp_core.objects.catalog import write_synthetic_set
    from seqgrasp_core.runs.settings import PRESETS, Settings

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="bench-dataset-") as tmp:
        catalog = write_synthetic_set(tmp, args.objects * args.sets, args.seed)
        meshes = {o["name"]: (o["file"], (Path(tmp) / o["file"]).read_bytes())
                  for o in catalog["objects"]}
    names = list(meshes)
    units = [Unit(i, tuple(names[i * args.objects:(i + 1) * args.objects]), "train",
                  derived_seed(args.seed, i)) for i in range(args.sets)]
    print(f"B={args.batch}, {args.objects} objects per sequence, {args.sets} sets of "
          f"synthetic objects (seed {args.seed}), 1 torch thread")
    header = (f"{'preset':>6} {'steps':>6} {'held':>6} {'tried':>6} "
              + " ".join(f"{f'{n} obj %':>8}" for n in range(1, args.objects + 1))
              + f" {'CPU s':>8} {'wall s':>8} {'held/CPU-h':>11}")
    print(header)
    rows = []
    for preset in args.presets:
        for steps in args.steps:
            config = UnitSettings(batch=args.batch, steps=steps, preset=preset,
                                  settings=Settings(threads=1), **PRESETS[preset])
            cpu0, wall0 = cpu_seconds(), time.perf_counter()
            per_step: dict[str, list[int]] = {}
            for unit in units:
                _, counts, _ = run_unit(unit, meshes, config)
                for step, cells in counts.items():
                    cell = per_step.setdefault(step, [0, 0])
                    for tried, held in cells.values():
                        cell[0] += tried
                        cell[1] += held
            cpu, wall = cpu_seconds() - cpu0, time.perf_counter() - wall0
            held = sum(h for _, h in per_step.values())
            tried = sum(t for t, _ in per_step.values())
            rates = [100.0 * per_step[s][1] / per_step[s][0] if per_step.get(s, [0])[0] else 0.0
                     for s in map(str, range(1, args.objects + 1))]
            row = {"preset": preset, "steps": steps, "held": held, "tried": tried,
                   "rate % by objects": rates, "cpu_s": cpu, "wall_s": wall,
                   "held per CPU-hour": held / cpu * 3600.0}
            rows.append(row)
            print(f"{preset:>6} {steps:>6} {held:>6} {tried:>6} "
                  + " ".join(f"{r:>8.1f}" for r in rates)
                  + f" {cpu:>8.0f} {wall:>8.0f} {row['held per CPU-hour']:>11.0f}", flush=True)
    best = max(rows, key=lambda r: r["held per CPU-hour"])
    print(f"most held per CPU-hour: --preset {best['preset']} --steps {best['steps']}")
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)},
                                         "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
