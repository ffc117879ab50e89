"""`seqgrasp replay`: the procedure (with a recording backend), the MuJoCo dry run,
the CAN backend against the simulated firmware, and the error paths."""

from __future__ import annotations

import re
import time
import uuid

import numpy as np
import pytest
from typer.testing import CliRunner

from seqgrasp_cli.main import app
from seqgrasp_core.errors import SeqGraspError
from seqgrasp_core.hardware.interface import HardwareBackend

SIM_TOLERANCE = 0.005   # rad, allegro-sim's default `tolerance`
CAN_TOLERANCE = 0.02    # rad, allegro-can's default `tolerance`


def _run(*args, input=None):
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def _error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


@pytest.fixture(scope="module")
def run_file(mesh_dir, tmp_path_factory):
    """A tiny generated run: 2 sequences of 2 objects."""
    out = tmp_path_factory.mktemp("replay") / "run.parquet"
    result = _run("generate", "--object", mesh_dir / "a.obj", "--object", mesh_dir / "b.stl",
                  "--batch", 2, "--steps", 3, "--seed", 2, "--out", out)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def plan(run_file, allegro_spec):
    from seqgrasp_core.hardware.replay import replay_plan
    from seqgrasp_core.runs.runfile import read_run, sequence_rows

    table, _ = read_run(run_file)
    return replay_plan(sequence_rows(table, 0), allegro_spec)


# ----------------------------------------------------------------------------- procedure


class Recorder(HardwareBackend):
    """A backend that records every call; ``interrupt_at`` raises Ctrl-C at that move."""

    name, hand = "recorder", "allegro"

    def __init__(self, interrupt_at: int | None = None) -> None:
        self.calls: list[tuple] = []
        self.interrupt_at = interrupt_at
        self.q = np.zeros(16)

    def open(self, **options):
        self.calls.append(("open", options))

    def joint_positions(self):
        return self.q.tolist()

    def move_to(self, targets, active, *, timeout_s=5.0):
        moves = sum(1 for c in self.calls if c[0] == "move")
        if moves == self.interrupt_at:
            raise KeyboardInterrupt
        active = np.asarray(active, bool)
        self.calls.append(("move", np.asarray(targets, float).copy(), active.copy()))
        self.q[active] = np.asarray(targets, float)[active]
        return 0.001

    def place_object(self, step, object_id, pose):
        self.calls.append(("place", step, object_id, np.asarray(pose)))

    def close(self):
        self.calls.append(("close",))


def test_procedure_opens_then_closes_each_step_and_holds_earlier_joints(plan, allegro_spec):
    from seqgrasp_core.hardware.replay import replay

    hw = Recorder()
    results = replay(hw, allegro_spec, plan, options={"max_speed": 0.5})
    kinds = [c[0] for c in hw.calls]
    assert kinds == ["open", "move", "place", "move", "place", "move", "close"]
    assert hw.calls[0][1] == {"max_speed": 0.5}
    open_pose = np.asarray(allegro_spec.open_pose)
    assert np.allclose(hw.calls[1][1], open_pose) and hw.calls[1][2].all()
    for s, place, move in zip(plan, hw.calls[2::2], hw.calls[3::2]):
        assert place[1:3] == (s.step, s.object_id)
        assert np.allclose(place[3], s.object_pose)
        assert np.array_equal(move[2], s.active)          # only this step's OS joints move
        assert np.allclose(move[1][s.active], s.targets[s.active])
    # step 1's joints are not in step 2's mask: they keep step 1's grasp values
    first = plan[0].active & ~plan[1].active
    assert first.any()
    assert np.allclose(hw.q[first], plan[0].targets[first])
    assert [r.phase for r in results] == ["open", "step", "step"]
    assert [r.joints_moved for r in results] == [16, int(plan[0].active.sum()),
                                                 int(plan[1].active.sum())]


def test_object_pose_is_the_inverse_of_the_row_pose(plan, run_file):
    from seqgrasp_core.runs.runfile import read_run, sequence_rows
    from seqgrasp_core.validation.steps import pose_matrices

    table, _ = read_run(run_file)
    for s, row in zip(plan, sequence_rows(table, 0)):
        hand_in_object = pose_matrices(np.asarray([row["pose"]]))[0]
        assert np.allclose(s.object_pose @ hand_in_object, np.eye(4), atol=1e-9)


def test_refusing_a_step_stops_and_releases(plan, allegro_spec):
    from seqgrasp_core.hardware.replay import ReplayAborted, replay

    hw = Recorder()
    asked = []
    with pytest.raises(ReplayAborted, match="stopped before step 2"):
        replay(hw, allegro_spec, plan, confirm=lambda s: asked.append(s.step) or s.step < 2)
    assert asked == [1, 2]
    assert hw.calls[-1] == ("close",)
    assert sum(1 for c in hw.calls if c[0] == "move") == 2


def test_ctrl_c_mid_move_closes_the_backend(plan, allegro_spec):
    from seqgrasp_core.hardware.replay import replay

    hw = Recorder(interrupt_at=2)
    with pytest.raises(KeyboardInterrupt):
        replay(hw, allegro_spec, plan)
    assert hw.calls[-1] == ("close",)


def test_release_opens_the_hand_and_hold_runs_otherwise(plan, allegro_spec):
    from seqgrasp_core.hardware.replay import replay

    held = []
    hw = Recorder()
    results = replay(hw, allegro_spec, plan, release=True, hold=lambda: held.append(1))
    assert results[-1].phase == "release" and held == []
    assert np.allclose(hw.q, allegro_spec.open_pose)
    hw = Recorder()
    replay(hw, allegro_spec, plan, hold=lambda: held.append(len(hw.calls)))
    assert held == [len(hw.calls) - 1]  # after the last move, before close


def test_backend_for_another_hand_is_refused(plan, allegro_spec):
    from seqgrasp_core.hardware.replay import replay

    hw = Recorder()
    hw.hand = "shadow"
    with pytest.raises(SeqGraspError, match="drives hand 'shadow'"):
        replay(hw, allegro_spec, plan)
    assert hw.calls == []


# ----------------------------------------------------------------------------- allegro-sim


def test_sim_backend_reaches_every_step_and_holds(plan, allegro_spec):
    from seqgrasp_allegro.sim_backend import AllegroSimBackend
    from seqgrasp_core.hardware.replay import replay

    hw = AllegroSimBackend()
    results = replay(hw, allegro_spec, plan, options={"max_speed": 2.0})
    assert all(r.error_rad < SIM_TOLERANCE for r in results), results
    assert [p[:2] for p in hw.placed] == [(1, plan[0].object_id), (2, plan[1].object_id)]
    # Speed limit: moving ~Δ rad at 2 rad/s takes at least Δ/2 simulated seconds.
    travel = sum(np.max(np.abs(b.targets - a.targets)[b.active])
                 for a, b in zip(plan, plan[1:]))
    assert hw.sim_time >= travel / 2.0


def test_sim_holds_inactive_joints_and_clamps_targets():
    from seqgrasp_allegro.sim_backend import AllegroSimBackend

    hw = AllegroSimBackend()
    hw.open(initial=[0.1] * 12 + [0.5, 0.1, 0.1, 0.1])
    start = np.array(hw.joint_positions())
    target = start.copy()
    target[:4] = [5.0, 1.0, 1.0, 1.0]        # ffj0 far above its 0.47 rad limit
    active = np.zeros(16, bool)
    active[:4] = True
    err = hw.move_to(target, active)
    q = np.array(hw.joint_positions())
    assert err < SIM_TOLERANCE
    assert abs(q[0] - 0.47) < SIM_TOLERANCE                    # clamped to the limit
    assert np.allclose(q[4:], start[4:], atol=1e-3)             # the others held
    hw.close()
    hw.close()
    with pytest.raises(SeqGraspError, match="not open"):
        hw.joint_positions()


def test_replay_allegro_sim_yes_runs_a_generated_sequence(run_file):
    result = _run("replay", run_file, "--sequence", 1, "--backend", "allegro-sim", "--yes")
    assert result.exit_code == 0, result.output
    m = re.search(r"largest step tracking error ([0-9.]+) rad", result.output)
    assert m and float(m.group(1)) < SIM_TOLERANCE, result.output
    for move in ("open hand", "step 1:", "step 2:"):
        assert move in result.output


def test_replay_asks_before_each_step(run_file):
    result = _run("replay", run_file, "--sequence", 0, "--release", input="y\ny\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("Place object") == 2
    assert "release (open hand)" in result.output
    result = _run("replay", run_file, "--sequence", 0, input="y\nn\n")
    assert result.exit_code == 2
    lines = _error_lines(result.output)
    assert len(lines) == 1 and "stopped before step 2" in lines[0], result.output


# ----------------------------------------------------------------------------- allegro-can


def _eventually(condition, timeout: float = 2.0) -> bool:
    """Whether ``condition()`` becomes true within ``timeout`` seconds (polled)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_replay_allegro_can_on_the_simulated_firmware(run_file):
    from seqgrasp_allegro import can_protocol as proto
    from seqgrasp_allegro.sim_firmware import SimulatedAllegroFirmware

    channel = f"replay-{uuid.uuid4().hex[:8]}"
    with SimulatedAllegroFirmware(channel) as fw:
        result = _run("replay", run_file, "--sequence", 0, "--backend", "allegro-can",
                      "-o", "interface=virtual", "-o", f"channel={channel}", "--max-speed", 2.0,
                      "--yes", "--release")
        assert result.exit_code == 0, result.output
        m = re.search(r"largest step tracking error ([0-9.]+) rad", result.output)
        assert m and float(m.group(1)) < CAN_TOLERANCE + 0.01, result.output
        # Shut down cleanly: the firmware thread reads the last frames off the bus
        # shortly after the command returns, so give it a moment.
        assert _eventually(lambda: not fw.servo_on and fw.period_ms == 0)
        torques = [(proto.finger_of(r.command, proto.SET_TORQUE_BASE), proto.decode_torque(r.data))
                   for r in fw.recorded()
                   if proto.finger_of(r.command, proto.SET_TORQUE_BASE) is not None]
    assert len(torques) > 100
    caps = np.asarray(proto.PWM_CAPS).reshape(4, 4)
    assert all(np.all(np.abs(pwm) <= caps[f]) for f, pwm in torques)
    assert all(pwm == (0, 0, 0, 0) for _, pwm in torques[-4:])


@pytest.mark.parametrize("interface, channel, expected", [
    ("socketcan", "seqgrasp-missing0", "ip link set seqgrasp-missing0 up"),
    ("virtual", "nobody-answers", "no answer from the Allegro hand"),
    ("no-such-bus", "x", "unknown CAN interface 'no-such-bus'"),
])
def test_missing_interface_or_hand_is_one_line(run_file, interface, channel, expected):
    result = _run("replay", run_file, "--sequence", 0, "--backend", "allegro-can",
                  "-o", f"interface={interface}", "-o", f"channel={channel}", "--yes")
    assert result.exit_code == 2, result.output
    lines = _error_lines(result.output)
    assert len(lines) == 1, result.output
    assert expected in lines[0] and interface in lines[0]
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args, expected", [
    (("--sequence", 7), "has no sequence 7 — choose one of its sequence ids: 0, 1"),
    (("--sequence", 0, "--backend", "nope"), "unknown backend 'nope'"),
    (("--sequence", 0, "-o", "interface=socketcan"),
     "backend 'allegro-sim' has no option 'interface' — its options: initial"),
    (("--sequence", 0, "-o", "realtime=maybe"), "allegro-sim option realtime='maybe' is not"),
])
def test_bad_requests_are_one_line(run_file, args, expected):
    result = _run("replay", run_file, *args, "--yes")
    assert result.exit_code == 2
    lines = _error_lines(result.output)
    assert len(lines) == 1 and expected in lines[0], result.output


def test_plugin_registers_both_backends(plugins):
    names = plugins.backends.names()
    assert {"allegro-can", "allegro-sim"} <= set(names)
    assert plugins.backends.get("allegro-can").hand == "allegro"
    assert plugins.backends.origin("allegro-sim") == "allegro"


def test_ctrl_c_in_the_command_exits_130_and_closes(run_file, monkeypatch):
    from seqgrasp_allegro.sim_backend import AllegroSimBackend

    closed = []
    original = AllegroSimBackend.close

    def interrupted(self, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(AllegroSimBackend, "move_to", interrupted)
    monkeypatch.setattr(AllegroSimBackend, "close",
                        lambda self: closed.append(1) or original(self))
    result = _run("replay", run_file, "--sequence", 0, "--yes")
    assert result.exit_code == 130 and "interrupted" in result.output
    assert closed


def test_loading_the_plugin_imports_neither_python_can_nor_mujoco():
    import subprocess
    import sys

    code = ("import sys; from seqgrasp_core.plugins.manager import load_plugins; "
            "p = load_plugins(); assert 'allegro-can' in p.backends; "
            "print(sorted(m for m in ('can', 'mujoco') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env={**__import__("os").environ,
                                           "SEQGRASP_PLUGINS": "allegro"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_doc_examples_of_replay_run_on_the_simulator(run_file):
    from test_show import doc_examples

    examples = doc_examples("replay")
    assert len(examples) == 4
    sim = [a for a in examples if "allegro-sim" in a]
    assert len(sim) == 2
    for args in sim:
        result = _run(*[str(run_file) if a == "run.parquet" else a for a in args])
        assert result.exit_code == 0, (args, result.output)
