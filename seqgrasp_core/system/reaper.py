"""A watcher that kills what a process started when that process dies without
cleaning up (``kill -9``, an out-of-memory kill).

Services started by a library (Ray's node agents, for one) can outlive a process
killed outright: they are reparented to init and run on. :func:`start_reaper`
starts a small process that notes the descendants of the watched process
twice a second and, once the watched process is gone, kills those still alive (each
checked by its start time, so a reused process id is never hit); then it exits.
Linux only (it reads ``/proc``); elsewhere it does nothing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

POLL_S = 0.5


def start_reaper() -> subprocess.Popen | None:
    """Watch this process; ``None`` where ``/proc`` is missing."""
    if not Path("/proc/self/stat").exists():
        return None
    return subprocess.Popen([sys.executable, "-m", "seqgrasp_core.system.reaper", str(os.getpid())],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _stat(pid: int) -> tuple[int, int] | None:
    """``(parent pid, start time)`` of a live process, else None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None
    return int(fields[1]), int(fields[19])


def descendants(root: int) -> dict[int, int]:
    """``{pid: start time}`` of every live descendant of ``root``."""
    children: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            children.setdefault(stat[0], []).append(int(entry))
            starts[int(entry)] = stat[1]
    found, todo = {}, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found[pid] = starts[pid]
        todo.extend(children.get(pid, []))
    return found


def watch(root: int) -> None:
    """Note ``root``'s descendants until it dies, then kill those still alive."""
    own = os.getpid()
    seen: dict[int, int] = {}
    start = (_stat(root) or (0, 0))[1]
    while (stat := _stat(root)) is not None and stat[1] == start:
        seen.update({p: s for p, s in descendants(root).items() if p != own})
        time.sleep(POLL_S)
    for pid, started in seen.items():
        stat = _stat(pid)
        if stat is not None and stat[1] == started:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the watched one's
    watch(int(sys.argv[1]))
