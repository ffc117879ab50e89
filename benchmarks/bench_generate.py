"""Speed of the optimizer for the Allegro hand on the CPU.

Prints milliseconds per optimizer iteration at B=256 — in total and per energy term
(each term alone, kinematics included, minus the kinematics-only cost) — and the
seconds of a full ``generate`` of one object at the paper's 6000 steps.

    python benchmarks/bench_generate.py [--batch 256] [--steps 6000] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import torch

from seqgrasp_core.energy import StepContext, WeightedEnergy
from seqgrasp_core.hand_model import HandModel
from seqgrasp_core.objects import demo_object_paths, load_object
from seqgrasp_core.optimizer import MalaConfig, optimize
from seqgrasp_core.plugins import load_plugins
from seqgrasp_core.sequence import GenerateConfig, generate
from seqgrasp_core.initialization import initial_poses


class _Kinematics:
    """A zero energy that still runs the forward kinematics and its backward pass."""

    name = "fk-only"

    def weight_at(self, weight, step, steps):
        return weight

    def __call__(self, state):
        return 0.0 * state.link_transforms.sum(dim=(1, 2, 3))


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
    base = ms_per_iteration(WeightedEnergy({"fk": (_Kinematics(), 1.0)}), ctx, warm,
                            os_index, args.iterations)
    print(f"Allegro, B={b}, {args.threads} threads, CPU")
    print(f"  all six terms : {full:7.2f} ms/iteration")
    print(f"  kinematics    : {base:7.2f} ms/iteration (FK, its backward, the MALA step)")
    for name, pair in terms.items():
        alone = ms_per_iteration(WeightedEnergy({name: pair}), ctx, warm, os_index,
                                 args.iterations)
        print(f"  {name:<14}: {alone - base:7.2f} ms/iteration beyond kinematics")
    if not args.skip_full:
        cfg = GenerateConfig(batch=b, mala=MalaConfig(steps=args.steps))
        t0 = time.perf_counter()
        generate(hand, [obj], WeightedEnergy(terms), cfg)
        seconds = time.perf_counter() - t0
        print(f"  generate, 1 object, {args.steps} steps: {seconds:.1f} s "
              f"({seconds / 900:.3f} × the paper's 900 s per 256 grasps on an A100)")


if __name__ == "__main__":
    main()
