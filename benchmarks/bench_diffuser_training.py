"""SeqDiffuser training: seconds per update, grasps drawn one by one against grasps
drawn a few per object orientation, in the same run.

    python benchmarks/bench_diffuser_training.py                     # data/seqdataset-allegro
    python benchmarks/bench_diffuser_training.py --groups 1 4 8 16 --updates 20

For each ``--groups`` value G, times ``--updates`` optimizer updates of batch
``--batch`` made of chunks of G grasps of one object orientation (``seqgrasp diffuser
train --grasps-per-object G``; G = 1 is plain shuffling), after two warm-up updates,
and prints the seconds per update, the distinct object orientations encoded per
update and the speed-up over the first G. The object encoder runs once per distinct
orientation in a batch, which is what the grouping saves.

Threads: torch's default (all usable cores) unless ``--threads``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="data/seqdataset-allegro")
    parser.add_argument("--hand", default="allegro")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--groups", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--updates", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    import torch

    from seqgrasp_core.diffuser.training import TrainConfig, object_batches, prepare
    from seqgrasp_core.plugins.manager import load_plugins

    if args.threads:
        torch.set_num_threads(args.threads)
    spec = load_plugins().hand(args.hand)
    config = TrainConfig(batch=args.batch)
    setup = prepare(Path(args.dataset), spec.name, tuple(o.name for o in spec.opposition_spaces),
                    len(spec.joint_names), config)
    optimizer = torch.optim.AdamW(setup.model.network.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(0)
    print(f"{setup.data.rows} train grasps of {len(setup.data.objects)} objects, "
          f"{config.rotations} orientations, batch {args.batch}, {torch.get_num_threads()} threads")
    first = None
    for group in args.groups:
        batches = object_batches(setup.data.item, config.rotations, args.batch, group, generator)
        batches = batches[:args.updates + 2]
        encoded = []
        for i, (rows, turn) in enumerate(batches):
            if i == 2:
                start = time.perf_counter()
            loss = setup.batch_loss(rows, turn, generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            encoded.append(len(set(zip(setup.data.item[rows].tolist(), turn.tolist()))))
        per_update = (time.perf_counter() - start) / (len(batches) - 2)
        first = first or per_update
        print(f"grasps per object orientation {group:3d}: {per_update:.3f} s per update, "
              f"{sum(encoded) / len(encoded):.0f} orientations encoded, "
              f"{first / per_update:.1f}x")


if __name__ == "__main__":
    main()
