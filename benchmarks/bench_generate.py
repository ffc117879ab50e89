"""Speed of the optimizer for the Allegro hand on the CPU.

Prints milliseconds per optimizer iteration at B=256:

- in one process (``--threads`` torch threads), in total and per energy term (each
  term alone minus the kinematics-only cost);
- with the batch split over ``--workers`` processes (``seqgrasp generate --workers``):
  the optimizer time of the slowest worker over a whole ``--worker-steps`` run from
  the initial poses (start-up excluded; this is the figure the speed target means);

and the seconds of a full ``generate`` of one object at the paper's 6000 steps with
those workers (optimizing, and wall time with start-up), against the paper's 900 s
per 256 grasps on an A100.

    python benchmarks/bench_generate.py [--batch 256] [--steps 6000] [--workers 2]

``SEQGRASP_NATIVE=0`` in the environment measures the torch code instead of the
native kernels (``seqgrasp_core/native``), for a comparison.
"""

from __future__ import annotations

import argparse
import time

import torch

from seqgrasp_core import native
from seqgrasp_core.hands.model import HandModel
from seqgrasp_core.objects.mesh import demo_object_paths, load_object
from seqgrasp_core.plugins.manager import load_plugins
from seqgrasp_core.runs.parallel import generate_in_workers
from seqgrasp_core.synthesis.initialization import initial_poses
from seqgrasp_core.synthesis.mala import MalaConfig, optimize
from seqgrasp_core.synthesis.sequence import GenerateConfig
from seqgrasp_core.synthesis.state import StepContext
from seqgrasp_core.synthesis.terms import WeightedEnergy


class _Baseline:
    """A zero energy: with ``kinematics``, it still runs FK and its backward pass."""

    name = "baseline"

    def __init__(self, kinematics: bool):
        self.kinematics = kinematics

    def weight_at(self, weight, step, steps):
        return weight

    def __call__(self, state):
        if self.kinematics:
            return 0.0 * state.links_hand_t.sum(dim=(0, 1, 2))
        return 0.0 * state.pose.sum(dim=1)


def ms_per_iteration(energy, ctx, pose, os_index, iterations, seed=0) -> float:
    g = torch.Generator().manual_seed(seed)
    optimize(energy, ctx, pose, os_index, MalaConfig(steps=3), g)  # warm-up
    t0 = time.perf_counter()
    optimize(energy, ctx, pose, os_index, MalaConfig(steps=iterations), g)
    return (time.perf_counter() - t0) / iterations * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=6000, help="steps of the full generate")
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--worker-steps", type=int, default=600,
                    help="steps of the run that times the worker processes")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of the worker timing (this machine's speed drifts)")
    ap.add_argument("--skip-full", action="store_true", help="skip the 6000-step generate")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    plugins = load_plugins()
    hand = HandModel(plugins.hand("allegro"))
    terms = {t.name: (t, t.default_weight) for t in plugins.energy_terms}
    obj = load_object(demo_object_paths()[0])
    b = args.batch
    g = torch.Generator().manual_seed(0)
    os_index = torch.randint(0, len(hand.os_names), (b,), generator=g)
    ctx = StepContext(hand, obj.sdf().to_torch(), hand.os_masks[os_index])
    start = initial_poses(obj.mesh, torch.tensor(hand.spec.palm_center),
                          torch.tensor(hand.spec.palm_normal),
                          hand.open_pose.expand(b, -1), g)
    # Time from a state near the object, as most of a run is.
    warm = optimize(WeightedEnergy(terms), ctx, start, os_index, MalaConfig(steps=300), g).pose

    full = ms_per_iteration(WeightedEnergy(terms), ctx, warm, os_index, args.iterations)
    mala = ms_per_iteration(WeightedEnergy({"b": (_Baseline(False), 1.0)}), ctx, warm,
                            os_index, args.iterations)
    fk = ms_per_iteration(WeightedEnergy({"b": (_Baseline(True), 1.0)}), ctx, warm,
                          os_index, args.iterations)
    kernels = "on" if native.enabled(warm) else "off (torch code)"
    print(f"Allegro, B={b}, one process, {args.threads} threads, CPU, native kernels {kernels}")
    print(f"  all six terms     : {full:7.2f} ms/iteration")
    print(f"  MALA step alone   : {mala:7.2f} ms/iteration (zero energy)")
    print(f"  + kinematics      : {fk - mala:7.2f} ms/iteration (FK and its backward)")
    for name, pair in terms.items():
        alone = ms_per_iteration(WeightedEnergy({name: pair}), ctx, warm, os_index,
                                 args.iterations)
        print(f"  term {name:<12} : {alone - mala:7.2f} ms/iteration over the MALA step "
              f"(FK included if it uses the hand)")
    weights = {name: w for name, (_, w) in terms.items()}

    def run(steps: int):
        """(optimizer seconds of the slowest worker, wall seconds) of one generate."""
        cfg = GenerateConfig(batch=b, mala=MalaConfig(steps=steps))
        t0 = time.perf_counter()
        outcomes = generate_in_workers("allegro", [obj], None, weights, cfg, args.workers)
        return outcomes[0].seconds, time.perf_counter() - t0

    steps = args.worker_steps
    per_iteration = sorted(run(steps)[0] / steps * 1000 for _ in range(args.repeat))
    print(f"  {args.workers} worker processes: {per_iteration[0]:7.2f} ms/iteration best, "
          f"{per_iteration[len(per_iteration) // 2]:.2f} median of {args.repeat} "
          f"(B={b} in total, a whole {steps}-step run from the initial poses, "
          f"slowest worker, start-up excluded)")
    if not args.skip_full:
        optimizer_s, seconds = run(args.steps)
        print(f"  generate, 1 object, {args.steps} steps, {args.workers} workers: "
              f"{optimizer_s:.1f} s optimizing "
              f"({optimizer_s / args.steps * 1000:.2f} ms/iteration)")
        print(f"  generate, 1 object, {args.steps} steps, {args.workers} workers: {seconds:.1f} s "
              f"wall (paper: 900 s per 256 grasps on an A100, ratio {900 / seconds:.1f}×)")


if __name__ == "__main__":
    main()
