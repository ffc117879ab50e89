"""The paper's own simulator, Isaac Gym, as an optional validator.

Isaac Gym Preview 4 is on no package registry; it needs an NVIDIA GPU and Python
3.8, this package Python 3.11 or later. So Isaac Gym runs in a process of its own:
the interpreter named by ``python`` (default ``$SEQGRASP_ISAACGYM_PYTHON``) runs
:mod:`.isaacgym_worker`, and this process never imports isaacgym
(:mod:`.isaacgym_process`). Without such an interpreter the validator reports itself
unavailable with a one-line hint.

Everything but the shaking is shared with the MuJoCo validator and done in this
process, so the two differ only in their physics: the rows' tasks, the penetration
check on the real meshes, the closing procedure (kinematic, with MuJoCo as the
geometry engine), the convex pieces and mass properties of the objects, and the
end-of-run test (every object within 2 mm of the hand and none fallen away). Isaac
Gym then runs the protocol's own step, 100 × 1/60 s with 2 substeps, with the peers'
drive stiffness.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from seqgrasp_core.errors import SeqGraspError
from seqgrasp_core.validation import isaacgym_process as process
from seqgrasp_core.validation.interface import StepResult, Validator
from seqgrasp_core.validation.protocol import PAPER_PROTOCOL, ValidationProtocol


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
    description = "Isaac Gym (Python 3.8 and an NVIDIA GPU, optional), the paper's simulator"
    options = {"python": "the Python 3.8 interpreter with Isaac Gym "
                         "(default: $SEQGRASP_ISAACGYM_PYTHON)"}

    def __init__(self, protocol: ValidationProtocol = PAPER_PROTOCOL,
                 settings: IsaacGymSettings | None = None, python: str | None = None) -> None:
        """``python``: the Python 3.8 interpreter that has Isaac Gym (a path or a
        command), ``$SEQGRASP_ISAACGYM_PYTHON`` when ``None``."""
        self.protocol = protocol
        self.settings = settings or IsaacGymSettings()
        self._python = python

    def configured(self, options) -> "IsaacGymValidator":
        super().configured(options)
        if "python" not in options:
            return self
        return IsaacGymValidator(self.protocol, self.settings, python=options["python"])

    @property
    def python(self) -> str | None:
        """The interpreter that runs Isaac Gym; ``None`` when none is set."""
        return process.interpreter(self._python)

    @property
    def unavailable_hint(self) -> str:
        return process.unavailable_hint(self.python)

    def available(self) -> bool:
        """Whether :attr:`python` is set, exists and imports isaacgym (checked once per
        interpreter, in a subprocess)."""
        python = self.python
        return bool(python) and not process.import_problem(python)

    def validate(self, table, meshes, hand, *, workers: int = 1,
                 progress=None) -> list[StepResult]:
        if not self.available():
            raise SeqGraspError("the isaacgym validator is not available", self.unavailable_hint)
        from seqgrasp_core.validation import mujoco_validator as shared
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
                runs.append(process.IsaacRun(task, state.joints, state.targets))
        with tempfile.TemporaryDirectory(prefix="seqgrasp-isaacgym-") as folder:
            finals = process.shake_runs(self.python, ctx.urdf_path, ctx.joint_names,
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
