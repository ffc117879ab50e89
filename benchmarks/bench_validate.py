"""Speed of the MuJoCo validator: seconds to validate 256 four-object sequences.

The sequences come from a short ``generate`` (few optimizer steps) on four bundled
demo objects, so their grasps are plausible but mostly not converged; every row is
validated, as ``seqgrasp validate`` does. Prints the total seconds, seconds per
sequence and per row, and the success table.

    python benchmarks/bench_validate.py [--batch 256] [--steps 200] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from seqgrasp_core.energy import WeightedEnergy
from seqgrasp_core.hand_model import HandModel
from seqgrasp_core.objects import demo_object_paths, load_object
from seqgrasp_core.optimizer import MalaConfig
from seqgrasp_core.plugins import load_plugins
from seqgrasp_core.runfile import outcomes_to_table
from seqgrasp_core.sequence import GenerateConfig, generate
from seqgrasp_core.validation import summarize, validate_table, with_results

DEMO = ("box", "ball", "can", "capsule")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=256, help="sequences")
    ap.add_argument("--steps", type=int, default=200, help="optimizer steps per object")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--validator", default="mujoco")
    args = ap.parse_args()

    plugins = load_plugins()
    spec = plugins.hand("allegro")
    paths = {p.stem: p for p in demo_object_paths()}
    objects = [load_object(paths[name], size_range=(0.06, 0.10)) for name in DEMO]
    terms = {t.name: (t, t.default_weight) for t in plugins.energy_terms}
    t0 = time.perf_counter()
    outcomes = generate(HandModel(spec), objects, WeightedEnergy(terms),
                        GenerateConfig(batch=args.batch, mala=MalaConfig(steps=args.steps)))
    gen_s = time.perf_counter() - t0
    table = outcomes_to_table(outcomes, spec.name, list(terms))
    metadata = {"hand": spec.name, "objects": [
        {"object_id": o.object_id, "sha256": o.sha256, "scale": o.scale, "source": o.source}
        for o in objects]}
    sequences = len(set(table.column("sequence_id").to_pylist()))
    print(f"generated {table.num_rows} rows ({sequences} sequences, {args.steps} steps) "
          f"in {gen_s:.0f} s")

    validator = plugins.validators.get(args.validator)
    t0 = time.perf_counter()
    success, pen = validate_table(table, metadata, spec, validator, workers=args.workers)
    seconds = time.perf_counter() - t0
    print(f"{args.validator}, {args.workers} workers: {seconds:.1f} s for {sequences} "
          f"sequences ({table.num_rows} rows): {seconds / max(sequences, 1):.3f} s per "
          f"sequence, {seconds / max(table.num_rows, 1) * 1000:.0f} ms per row")
    for row in summarize(with_results(table, success, pen)):
        print(f"  {row['objects']} objects: {row['grasps']:4d} grasps, success "
              f"{row['success_rate']:6.2f} %, mean max pen. {row['mean_max_penetration_mm']:.2f}"
              f" mm, diversity {row['diversity_rad']:.3f} rad")


if __name__ == "__main__":
    torch.set_num_threads(os.cpu_count() or 1)
    main()
