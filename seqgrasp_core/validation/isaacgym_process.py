"""The ``isaacgym`` validator's shaking runs, out of process.

Isaac Gym Preview 4 runs only in Python 3.8 (with an NVIDIA GPU), this package in
3.11 or later, so the simulation lives in :mod:`.isaacgym_worker`, a script run by
the interpreter that has Isaac Gym (``SEQGRASP_ISAACGYM_PYTHON``). This module never
imports isaacgym: it writes the worker's inputs into a folder (the objects as URDF
assets, the runs), runs the worker as a subprocess that dies with this process, and
reads the final states back.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from seqgrasp_core.errors import SeqGraspError
from seqgrasp_core.system.workers import PR_SET_PDEATHSIG
from seqgrasp_core.validation.protocol import ValidationProtocol
from seqgrasp_core.validation.steps import StepTask
from seqgrasp_core.validation.urdf_assets import object_urdf

ENV = "SEQGRASP_ISAACGYM_PYTHON"
WORKER = Path(__file__).with_name("isaacgym_worker.py")
SCENE, RUNS, FINALS = "scene.json", "runs.npz", "finals.npz"  # the worker's file names
CHECK_TIMEOUT = 120.0  # s for an interpreter to import isaacgym and numpy
TODO = (f"install Isaac Gym Preview 4 (NVIDIA GPU) in a Python 3.8 environment and set "
        f"{ENV}=/path/to/that/python, or use --validator mujoco")
FAILED_HINT = ("check that Isaac Gym's own examples run with that interpreter, "
               "or use --validator mujoco")
_IMPORT_PROBLEMS: dict[str, str] = {}  # interpreter → "" when it runs the worker, else why not


@dataclass(frozen=True)
class IsaacRun:
    """One row to shake: its task and its closed state (hand joint order, rad)."""

    task: StepTask
    joints: np.ndarray
    targets: np.ndarray


def interpreter(python: str | None = None) -> str | None:
    """``python``, else ``$SEQGRASP_ISAACGYM_PYTHON``; ``None`` when neither is set."""
    return python or os.environ.get(ENV) or None


def executable(python: str) -> str | None:
    """The path of ``python`` (a path or a command on ``PATH``), ``None`` when it is
    not an executable file."""
    return shutil.which(python)


def import_problem(python: str) -> str:
    """``""`` when ``python`` imports what the worker needs (isaacgym, numpy), else
    one line saying why not. One subprocess per interpreter, then cached."""
    path = executable(python)
    if path is None:
        return f"{python} is not an executable file"
    if path not in _IMPORT_PROBLEMS:
        try:
            done = subprocess.run([path, str(WORKER), "--check"], stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=CHECK_TIMEOUT, check=False,
                                  preexec_fn=_child_setup())
            _IMPORT_PROBLEMS[path] = ("" if done.returncode == 0 else
                                      _last_line(done.stderr, done.stdout))
        except subprocess.TimeoutExpired:
            _IMPORT_PROBLEMS[path] = f"importing isaacgym took over {CHECK_TIMEOUT:g} s"
        except OSError as err:
            _IMPORT_PROBLEMS[path] = f"cannot run it: {err.strerror or err}"
    return _IMPORT_PROBLEMS[path]


def unavailable_hint(python: str | None) -> str:
    """What to do, in one line, when ``python`` cannot run the worker."""
    if not python:
        return f"Isaac Gym runs in a Python 3.8 of its own: {TODO}"
    path = executable(python)
    if path is None:
        return f"the Isaac Gym interpreter {python} is not an executable file: {TODO}"
    problem = _IMPORT_PROBLEMS.get(path, "")
    if problem:
        return f"{python} cannot import Isaac Gym ({problem}): {TODO}"
    return TODO


def shake_runs(python: str, urdf_path: str, joint_names: tuple[str, ...], bodies: dict,
               runs: list[IsaacRun], protocol: ValidationProtocol, settings, folder: Path
               ) -> dict[int, list[tuple[np.ndarray, np.ndarray]]]:
    """``{row: [(final joints (K,), final object poses (n, 4, 4)) per direction]}``,
    from :mod:`.isaacgym_worker` run by ``python``.

    ``bodies`` maps each :data:`~.steps.ObjectKey` to its :class:`~.scene.SceneObject`;
    ``settings`` is an :class:`~.isaacgym_validator.IsaacGymSettings`; ``folder`` (empty)
    receives the worker's inputs, outputs and logs. :class:`SeqGraspError` when the
    worker fails.
    """
    if not runs:
        return {}
    in_dir, out_dir = folder / "in", folder / "out"
    out_dir.mkdir(parents=True)
    write_inputs(in_dir, urdf_path, joint_names, bodies, runs, protocol, settings)
    run_worker(python, in_dir, out_dir, folder)
    return read_finals(out_dir, runs)


def write_inputs(in_dir: Path, urdf_path: str, joint_names: tuple[str, ...], bodies: dict,
                 runs: list[IsaacRun], protocol: ValidationProtocol, settings) -> None:
    """``scene.json``, ``runs.npz`` and the objects' URDF assets in ``in_dir`` (the
    format in :mod:`.isaacgym_worker`)."""
    in_dir.mkdir(parents=True, exist_ok=True)
    keys = sorted({k for r in runs for k in r.task.objects})
    index = {k: i for i, k in enumerate(keys)}
    objects = [{"urdf": object_urdf(in_dir, f"object{i}", bodies[k]).name,
                "mass": float(bodies[k].mass)} for i, k in enumerate(keys)]
    scene = {"hand_urdf": str(Path(urdf_path).resolve()), "joint_names": list(joint_names),
             "objects": objects, "protocol": asdict(protocol), "settings": asdict(settings)}
    (in_dir / SCENE).write_text(json.dumps(scene, indent=1))
    np.savez(in_dir / RUNS,
             joints=np.stack([np.asarray(r.joints, dtype=float) for r in runs]),
             targets=np.stack([np.asarray(r.targets, dtype=float) for r in runs]),
             counts=np.array([len(r.task.objects) for r in runs], dtype=np.int64),
             objects=np.array([index[k] for r in runs for k in r.task.objects], dtype=np.int64),
             poses=np.concatenate([np.asarray(r.task.object_in_hand, dtype=float)
                                   for r in runs]))


def read_finals(out_dir: Path, runs: list[IsaacRun]
                ) -> dict[int, list[tuple[np.ndarray, np.ndarray]]]:
    """The worker's ``finals.npz`` as :func:`shake_runs` returns it."""
    path = out_dir / FINALS
    if not path.is_file():
        raise SeqGraspError(f"the Isaac Gym worker wrote no {FINALS}", FAILED_HINT)
    with np.load(path, allow_pickle=False) as data:
        joints, poses = data["joints"], data["poses"]
    out, start = {}, 0
    for i, run in enumerate(runs):
        n = len(run.task.objects)
        out[run.task.row] = [(joints[i, d], poses[start:start + n, d])
                             for d in range(joints.shape[1])]
        start += n
    return out


def run_worker(python: str, in_dir: Path, out_dir: Path, logs: Path) -> None:
    """Run :mod:`.isaacgym_worker` with ``python`` on ``in_dir``/``out_dir``, its
    stdout and stderr into ``logs``; killed when this process dies or is interrupted.
    :class:`SeqGraspError` with the last line of its stderr when it fails."""
    command = [python, str(WORKER), str(in_dir), str(out_dir)]
    with open(logs / "worker.stdout", "wb") as stdout, open(logs / "worker.stderr", "wb") as stderr:
        try:
            worker = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=stdout,
                                      stderr=stderr, preexec_fn=_child_setup())  # noqa: PLW1509
        except OSError as err:
            raise SeqGraspError(f"cannot run the Isaac Gym interpreter {python}: "
                                f"{err.strerror or err}", TODO) from None
        try:
            code = worker.wait()
        except BaseException:
            worker.kill()
            worker.wait()
            raise
    if code != 0:
        status = (f"was killed by {signal.Signals(-code).name}" if code < 0
                  else f"exited with status {code}")
        why = _last_line((logs / "worker.stderr").read_bytes(), (logs / "worker.stdout").read_bytes())
        raise SeqGraspError(f"the Isaac Gym worker ({python}) {status}: {why}", FAILED_HINT)


def _last_line(*outputs: bytes) -> str:
    """The last non-blank line of the first output that has one (at most 300 characters)."""
    for output in outputs:
        lines = [s.strip() for s in output.decode(errors="replace").splitlines() if s.strip()]
        if lines:
            return lines[-1][:300]
    return "no output"


def _child_setup():
    """A ``preexec_fn`` for a child that ignores Ctrl-C (this process kills it) and,
    on Linux, gets SIGKILL when this process dies; ``None`` where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork
    parent = os.getpid()

    def setup() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return setup
