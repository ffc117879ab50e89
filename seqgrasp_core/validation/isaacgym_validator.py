"""The paper's own simulator, Isaac Gym, as an optional validator.

Isaac Gym Preview 4 is on no package registry; it needs an NVIDIA GPU and Python
3.8. This module imports it only when it is installed (in :mod:`.isaacgym_sim`);
otherwise the validator reports itself unavailable with a one-line hint.

Everything but the shaking is shared with the MuJoCo validator, so the two differ
only in their physics: the rows' tasks, the penetration check on the real meshes,
the closing procedure (kinematic, with MuJoCo as the geometry engine), the convex
pieces and mass properties of the objects, and the end-of-run test (every object
within 2 mm of the hand and none fallen away). Isaac Gym then runs the protocol's
own step, 100 × 1/60 s with 2 substeps, with the peers' drive stiffness.
"""

from __future__ import annotations

import importlib.util
import tempfile
from dataclasses import dataclass
from pathlib import Path

from seqgrasp_core.errors import SeqGraspError
from seqgrasp_core.validation.interface import StepResult, Validator
from seqgrasp_core.validation.protocol import PAPER_PROTOCOL, ValidationProtocol

HINT = ("Isaac Gym is not installed: download Isaac Gym Preview 4 from NVIDIA's developer "
        "site and `pip install -e isaacgym/python` (needs an NVIDIA GPU and Python 3.8), "
        "or use --validator mujoco")


@dataclass(frozen=True)
class IsaacGymSettings:
    """How the protocol is realised in PhysX. ``stiffness`` (N·m/rad) is the peers'
    drive (SeqGrasp's and DexGraspNet's set-up); ``damping`` (N·m·s/rad) is this
    package's choice, the peers' is not published. ``envs_per_sim`` bounds one
    simulation's environments (one per row and direction)."""

    stiffness: float = 1000.0
    damping: float = 10.0
    position_iterations: int = 8
    velocity_iterations: int = 0
    use_gpu: bool = True
    device_id: int = 0
    envs_per_sim: int = 3072


class IsaacGymValidator(Validator):
    """The paper's protocol in Isaac Gym (PhysX), sharing all but the physics."""

    name = "isaacgym"
    description = "Isaac Gym (NVIDIA GPU, optional), the paper's simulator"
    unavailable_hint = HINT

    def __init__(self, protocol: ValidationProtocol = PAPER_PROTOCOL,
                 settings: IsaacGymSettings | None = None) -> None:
        self.protocol = protocol
        self.settings = settings or IsaacGymSettings()

    def available(self) -> bool:
        try:
            return importlib.util.find_spec("isaacgym") is not None
        except (ImportError, ValueError):
            return False

    def validate(self, table, meshes, hand, *, workers: int = 1,
                 progress=None) -> list[StepResult]:
        if not self.available():
            raise SeqGraspError("the isaacgym validator is not available", HINT)
        from seqgrasp_core.validation import mujoco_validator as shared
        from seqgrasp_core.validation.isaacgym_sim import IsaacRun, shake_runs
        from seqgrasp_core.validation.scene import MuJoCoSettings
        from seqgrasp_core.validation.steps import step_tasks

        tasks = step_tasks(table)
        if not tasks:
            return []
        ctx = shared.Context(str(hand.urdf_path), tuple(hand.joint_names),
                             shared.prepare_objects(tasks, meshes, self.protocol.density),
                             self.protocol, MuJoCoSettings())
        shared.init_process(ctx)  # this process: scenes for closing and the end-of-run test
        depths, runs = {}, []
        faults = {}
        for task in tasks:
            if task.fault:
                depths[task.row], faults[task.row] = (float("nan"),) * 2, task.fault
                continue
            state = shared.closed_state(task)
            depths[task.row] = (state.depth * 1000.0, state.hand_depth * 1000.0)
            if state.joints is None:
                faults[task.row] = shared.penetration_failure(self.protocol)
            else:
                runs.append(IsaacRun(task, state.joints, state.targets))
        with tempfile.TemporaryDirectory() as folder:
            finals = shake_runs(ctx.urdf_path, ctx.joint_names,
                                {k: o.body for k, o in ctx.objects.items()}, runs,
                                self.protocol, self.settings, Path(folder))
        passed = {run.task.row: all(shared.still_holds(run.task, q, poses)
                                    for q, poses in finals[run.task.row])
                  for run in runs}
        if progress:
            progress(len(tasks), len(tasks))
        return [StepResult(passed.get(t.row, False), *depths[t.row],
                           faults.get(t.row) or ("" if passed.get(t.row) else "lost an object"))
                for t in tasks]
