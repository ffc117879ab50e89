"""Interrupted runs: workers die with the command, Ctrl-C stops at once, nothing is left.

Each test starts a real ``seqgrasp`` command in its own session, waits until its
worker processes run, signals the main process alone, and then looks in ``/proc``
for anything of that session still alive.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest
from test_validation import make_run

from seqgrasp_core.runs.runfile import write_run
from seqgrasp_core.system.workers import usable_cores


@pytest.fixture()
def hand(allegro_spec):
    return allegro_spec


pytestmark = [
    pytest.mark.skipif(not Path("/proc/self/stat").exists(),
                       reason="finds a session's processes in Linux's /proc"),
    pytest.mark.skipif(usable_cores() < 2, reason="two workers need two cores"),
]
STOP_WITHIN = 10.0  # s from the signal to the last process gone; the work left is minutes

WORKERS_RUNNING = 1.0  # s to let the started workers get into their work


def session(sid: int) -> list[tuple[int, str]]:
    """``(pid, command line)`` of the live processes in session ``sid``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            state, _, _, sid_of = stat[stat.rindex(")") + 2:].split()[:4]
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:  # ended while we looked
            continue
        if int(sid_of) == sid and state != "Z":
            found.append((int(entry), cmdline.decode(errors="replace")))
    return found


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    """``seqgrasp ARGS`` in a new session; returns once two workers have run a while.
    It starts as from a terminal: with SIGINT's default action, even when this test
    run was itself started in the background, where SIGINT is ignored and a program
    inherits that; without the ``RAY_*`` variables an in-process Ray of an earlier test
    leaves in this process; with no stdin."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    proc = subprocess.Popen([sys.executable, "-c", "from seqgrasp_cli.main import app; app()",
                             *args], cwd=cwd, start_new_session=True, text=True, env=env,
                            stdin=subprocess.DEVNULL, preexec_fn=_default_sigint,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while sum("spawn_main" in cmd for _, cmd in session(proc.pid)) < 2:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the workers never started: {proc.communicate()[1][-500:]}")
        time.sleep(0.1)
    time.sleep(WORKERS_RUNNING)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    return proc


def left_behind(sid: int, since: float) -> list[tuple[int, str]]:
    """What of session ``sid`` is still alive ``STOP_WITHIN`` s after ``since``."""
    deadline = since + STOP_WITHIN
    while (alive := session(sid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid, _ in alive:  # do not leave them to the next test either
        os.kill(pid, signal.SIGKILL)
    return alive


def check_stopped_cleanly(proc: subprocess.Popen, sig: int, code: int, word: str,
                          out: Path, group: bool = False) -> None:
    """Send ``sig`` to the main process (or, like a terminal's Ctrl-C, to the whole
    process ``group``) and check the run ended as a user expects."""
    sent = time.monotonic()
    (os.killpg if group else os.kill)(proc.pid, sig)
    try:
        _, err = proc.communicate(timeout=STOP_WITHIN)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"the run did not stop within {STOP_WITHIN} s")
    assert proc.returncode == code, err[-500:]
    assert err.strip().splitlines()[-1] == word
    assert "Traceback" not in err
    assert not out.exists()
    assert not list(out.parent.glob(f".{out.name}.*")), "a temporary file was left"
    assert left_behind(proc.pid, sent) == []


@pytest.fixture()
def long_generate(tmp_path):
    out = tmp_path / "run.parquet"
    args = ["generate", "--preset", "paper", "--first", "1", "--batch", "4", "--steps", "200000",
            "--workers", "2", "--out", str(out)]
    return args, out


@pytest.mark.parametrize("sig, code, word, group", [
    (signal.SIGINT, 130, "interrupted", False),   # SIGINT to the main process alone
    (signal.SIGINT, 130, "interrupted", True),    # Ctrl-C in a terminal
    (signal.SIGTERM, 143, "terminated", False)])
@pytest.mark.slow
def test_generate_stops_at_once_on_a_signal(long_generate, tmp_path, sig, code, word, group):
    args, out = long_generate
    check_stopped_cleanly(start(args, tmp_path), sig, code, word, out, group)


@pytest.fixture()
def long_validate(hand, tmp_path):
    """A run of 6000 copies of a held grasp: a minute of work for two workers."""
    table, metadata, _ = make_run(hand, tmp_path, order=(0,))
    copies = 6000
    table = pa.concat_tables([table] * copies)
    table = table.set_column(0, "sequence_id", pa.array(range(copies), pa.int32()))
    run = tmp_path / "run.parquet"
    write_run(run, table, {k: v for k, v in metadata.items() if k != "format_version"})
    out = tmp_path / "validated.parquet"
    return ["validate", str(run), "--workers", "2", "--out", str(out)], out


@pytest.mark.slow
@pytest.mark.parametrize("command", ["long_generate", "long_validate"])
def test_workers_die_when_the_command_is_killed(command, request, tmp_path):
    args, out = request.getfixturevalue(command)
    proc = start(args, tmp_path)
    sent = time.monotonic()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert left_behind(proc.pid, sent) == []
    assert not out.exists()


@pytest.mark.slow
def test_validate_stops_at_once_on_ctrl_c_to_the_main_process(long_validate, tmp_path):
    args, out = long_validate
    check_stopped_cleanly(start(args, tmp_path), signal.SIGINT, 130, "interrupted", out)
