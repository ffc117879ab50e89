"""SeqDiffuser's speed: grasps per second, against the optimizer in the same run.

    python benchmarks/bench_diffuser.py                        # the bundled Allegro model
    python benchmarks/bench_diffuser.py --model M.pt --device cuda
    python benchmarks/bench_diffuser.py --optimizer-steps 0    # skip the optimizer

Prints, for B grasps (default 256) of one demo object:

- the sampler alone: seconds for B grasps (the paper's SeqDiffuser: 0.8 s per 256 on
  an A100), median and best of ``--repeat`` calls, object features included;
- one whole step of Algorithm 1 with the sampler in MALA's place (contacts, energy,
  ``--sample-candidates``, ``--mala-steps`` and, for each ``--refine-steps``, the
  penetration refinement included), as grasps per second;
- the same step with the optimizer at its best preset (``--optimizer-steps`` MALA
  iterations, 3 candidates, 200 refinement steps), as grasps per second.

Threads: torch's default (all usable cores) unless ``--threads``.
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model file (default: bundled)")
    parser.add_argument("--hand", default="allegro")
    parser.add_argument("--object", default="box", help="demo object name")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--sampler-steps", type=int, default=10)
    parser.add_argument("--solver", default="dpm++")
    parser.add_argument("--refine-steps", type=int, nargs="+", default=[0, 50, 200])
    parser.add_argument("--sample-candidates", type=int, default=1)
    parser.add_argument("--mala-steps", type=int, default=0)
    parser.add_argument("--optimizer-steps", type=int, default=6000)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import torch

    from seqgrasp_core.diffuser.bundled import model_path
    from seqgrasp_core.diffuser.model import SURFACE_SAMPLES, SeqDiffuser
    from seqgrasp_core.diffuser.proposer import SamplerSettings, diffuser_proposer
    from seqgrasp_core.hands.model import HandModel
    from seqgrasp_core.objects.mesh import (
        PAPER_SIZE_RANGE,
        demo_object_paths,
        load_object,
        sample_surface,
    )
    from seqgrasp_core.plugins.manager import load_plugins
    from seqgrasp_core.runs.settings import PRESETS
    from seqgrasp_core.runs.weights import build_energy, parse_energy_overrides
    from seqgrasp_core.synthesis.mala import MalaConfig
    from seqgrasp_core.synthesis.refine import RefineConfig
    from seqgrasp_core.synthesis.sequence import GenerateConfig, generate

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    plugins = load_plugins()
    spec = plugins.hand(args.hand)
    model = SeqDiffuser.load(args.model or model_path(args.hand), hand=spec.name,
                             device=str(device))
    path = next(p for p in demo_object_paths() if p.stem == args.object)
    obj = load_object(path, size_range=PAPER_SIZE_RANGE)
    hand = HandModel(spec, device=device)
    b = args.batch
    surface = torch.as_tensor(sample_surface(obj.mesh, SURFACE_SAMPLES), dtype=torch.float32)
    os_index = torch.randint(0, len(spec.opposition_spaces), (b,),
                             generator=torch.Generator().manual_seed(0))
    masks = hand.os_masks.cpu()[os_index]
    joints = hand.open_pose.detach().cpu().float().expand(b, -1).clone()
    print(f"{spec.name}, {obj.object_id}, B={b}, {args.sampler_steps} {args.solver} steps, "
          f"device {device}, {torch.get_num_threads()} torch threads")

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    times = []
    for i in range(args.repeat + 1):
        sync()
        t0 = time.perf_counter()
        model.sample(surface.to(device), os_index, joints, masks,
                     torch.Generator().manual_seed(i), args.sampler_steps, args.solver)
        sync()
        if i:  # the first call warms up
            times.append(time.perf_counter() - t0)
    print(f"sampler alone: {statistics.median(times):.3f} s per {b} grasps (median of "
          f"{len(times)}; best {min(times):.3f} s); the paper's SeqDiffuser: 0.8 s per 256 "
          "on an A100")

    weights = parse_energy_overrides([], plugins)
    energy = build_energy(plugins, weights)

    def one_step(refine_steps: int, proposer=None, candidates: int = 1,
                 steps: int = args.optimizer_steps) -> float:
        config = GenerateConfig(batch=b, seed=0, device=str(device),
                                mala=MalaConfig(steps=max(steps, 1)),
                                refine=RefineConfig(steps=refine_steps),
                                candidates=candidates)
        t0 = time.perf_counter()
        outcomes = generate(hand, [obj], energy, config, proposer=proposer)
        sync()
        return len(outcomes[0].sequence) / (time.perf_counter() - t0)

    for refine_steps in args.refine_steps:
        settings = SamplerSettings(args.sampler_steps, args.solver, args.sample_candidates,
                                   args.mala_steps)
        proposer = diffuser_proposer(model, hand, energy.for_stage("optimize"), 6000, settings)
        rate = one_step(refine_steps, proposer, steps=6000)
        print(f"SeqDiffuser, best of {args.sample_candidates}, {args.mala_steps} MALA + "
              f"{refine_steps:>3} refinement steps: {rate:8.1f} grasps/s")
    if args.optimizer_steps:
        best = PRESETS["best"]
        rate = one_step(best["refine_steps"], candidates=best["candidates"])
        print(f"optimizer, best preset, {args.optimizer_steps} steps: {rate:8.2f} grasps/s")


if __name__ == "__main__":
    main()
