"""Speed of the validator's penetration check: the C search against the numpy one.

For every row of a run file, the hand and objects are placed as the validator
places them (one process, one BLAS thread), and ``max_penetration`` is timed over
all rows with the C search (``seqgrasp_core/validation/depth.c``) and with the numpy
reference (both use the same exact mesh distance). Prints the CPU seconds of each,
their ratio, and the largest difference between the two depths.

    python benchmarks/bench_penetration.py --run RUN.parquet [--repeat 3]

Without ``--run`` a short run on four demo objects is generated first (as
``benchmarks/bench_validate.py`` does).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # as in the validator's workers


def placed_rows(table, metadata, spec):
    """``[(geom_xpos, geom_xmat, solids, poses)]`` per row, and the hand surface."""
    import mujoco

    from seqgrasp_core.validation import mujoco_validator as mv
    from seqgrasp_core.validation.protocol import PAPER_PROTOCOL
    from seqgrasp_core.validation.scene import MuJoCoSettings, build_model
    from seqgrasp_core.validation.simulate import set_state
    from seqgrasp_core.validation.steps import step_tasks
    from seqgrasp_core.validation.table import load_run_meshes

    tasks = step_tasks(table)
    objects = mv.prepare_objects(tasks, load_run_meshes(metadata), PAPER_PROTOCOL.density)
    ctx = mv.with_hand(mv.Context(str(spec.urdf_path), tuple(spec.joint_names), objects,
                                  PAPER_PROTOCOL, MuJoCoSettings()))
    scenes, rows = {}, []
    for task in tasks:
        if task.objects not in scenes:
            model, index = build_model(ctx.urdf_path, ctx.joint_names,
                                       [objects[k].body for k in task.objects],
                                       ctx.protocol, ctx.settings)
            scenes[task.objects] = (model, index, mujoco.MjData(model))
        model, index, data = scenes[task.objects]
        poses = list(task.object_in_hand)
        set_state(model, data, index, task.joints, poses)
        mujoco.mj_kinematics(model, data)
        rows.append((data.geom_xpos.copy(), data.geom_xmat.copy(),
                     [objects[k].solid for k in task.objects], poses))
    return ctx.hand, rows


def main() -> None:
    import statistics
    import time

    import numpy as np

    from seqgrasp_core.plugins.manager import load_plugins
    from seqgrasp_core.runs.runfile import read_run
    from seqgrasp_core.validation import penetration

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", help="run file (default: generate a short one first)")
    ap.add_argument("--repeat", type=int, default=3, help="timed repetitions of each")
    args = ap.parse_args()

    plugins = load_plugins()
    if args.run:
        table, metadata = read_run(args.run)
        spec = plugins.hand(metadata["hand"])
    else:
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_validate import generated_run
        table, metadata, spec = generated_run(256, 200)
    hand, rows = placed_rows(table, metadata, spec)
    if penetration.library() is None:
        raise SystemExit("the C search is not available (no compiler, or SEQGRASP_NATIVE=0)")

    def timed() -> tuple[float, np.ndarray]:
        t0 = time.process_time()
        depths = np.array([penetration.max_penetration(hand, *row) for row in rows])
        return time.process_time() - t0, depths

    native_library = penetration.library
    results = {}
    for name, library in (("C", native_library), ("numpy", lambda: None)):
        penetration.library = library
        try:
            runs = [timed() for _ in range(args.repeat)]
        finally:
            penetration.library = native_library
        results[name] = (statistics.median(t for t, _ in runs), runs[-1][1])
        print(f"  {name:5s}: {results[name][0]:.2f} CPU-s for {len(rows)} rows "
              f"(median of {args.repeat}), {1000 * results[name][0] / len(rows):.2f} ms per row")
    print(f"numpy / C: {results['numpy'][0] / results['C'][0]:.1f}x; largest depth difference "
          f"{np.abs(results['numpy'][1] - results['C'][1]).max():.2e} m; "
          f"mean max penetration {1000 * results['C'][1].mean():.2f} mm")


if __name__ == "__main__":
    main()
