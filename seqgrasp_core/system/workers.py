"""Local worker processes that never outlive the command that started them.

Generation (:mod:`.parallel`) and validation fan work out over ``spawn``-started
processes. :func:`worker_pool` gives such a pool with two guarantees:

* a worker dies with its parent, however the parent ends (``kill -9`` included):
  on Linux the kernel sends it ``SIGKILL`` when the parent dies
  (``PR_SET_PDEATHSIG``); everywhere, a watchdog thread exits when the parent's
  pid is gone;
* an exception in the parent while the pool runs (Ctrl-C's ``KeyboardInterrupt``
  first of all) kills the workers at once instead of waiting for their work, and
  the workers ignore ``SIGINT`` themselves, so a Ctrl-C in a terminal (sent to the
  whole process group) gives the parent's one line, not a traceback per worker.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Callable, Iterator

from seqgrasp_core.errors import SeqGraspError, SeqGraspWarning

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
WATCHDOG_PERIOD = 0.5  # s between checks that the parent still exists


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def capped_workers(workers: int) -> int:
    """``workers``, at most one per usable core (with a warning when capped): more
    processes than cores only share them, each with its own copy of the model."""
    if workers < 1:
        raise SeqGraspError("--workers must be at least 1", "e.g. --workers 2")
    cores = usable_cores()
    if workers > cores:
        warnings.warn(f"--workers {workers} is more than the {cores} usable CPU cores: "
                      f"using {cores}", SeqGraspWarning, stacklevel=2)
        return cores
    return workers


def die_with_parent(parent_pid: int) -> None:
    """Make this process end when ``parent_pid`` (its parent) ends."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True,
                     name="parent-watchdog").start()
    if os.getppid() != parent_pid:  # the parent died before the line above
        os._exit(1)


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(WATCHDOG_PERIOD)
    os._exit(1)


_GONE = (BrokenPipeError, ConnectionError, EOFError)  # the parent closed its end


def _quiet_when_orphaned(hook):
    """An excepthook that ends the worker silently when its pipes to the parent broke
    (the parent is stopping or gone: a traceback would only land in its output)."""
    def handle(*args):
        exc = args[0].exc_value if len(args) == 1 else args[1]
        if isinstance(exc, _GONE):
            os._exit(1)
        hook(*args)
    return handle


def _start_worker(parent_pid: int, initializer: Callable | None, initargs: tuple) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.excepthook = _quiet_when_orphaned(sys.excepthook)
    threading.excepthook = _quiet_when_orphaned(threading.excepthook)
    die_with_parent(parent_pid)
    if initializer is not None:
        initializer(*initargs)


@contextmanager
def worker_pool(workers: int, initializer: Callable | None = None,
                initargs: tuple = ()) -> Iterator[ProcessPoolExecutor]:
    """A ``spawn`` process pool of ``workers`` processes, bound to this process.

    Leaving the block normally waits for the submitted work; leaving it by an
    exception kills the workers first (a worker that died, e.g. killed for memory,
    becomes a one-line :class:`SeqGraspError`). Workers start in ``submit``: submit
    from a thread that lives as long as the pool, since the kernel's parent-death
    signal follows the thread that started a worker.
    """
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                               initializer=_start_worker,
                               initargs=(os.getpid(), initializer, initargs))
    try:
        yield pool
    except BrokenProcessPool:
        stop(pool)
        raise SeqGraspError("a worker process died (killed by the system, e.g. out of memory?)",
                            "retry with fewer --workers or a smaller --batch") from None
    except BaseException:
        stop(pool)
        raise
    pool.shutdown(wait=True)


@contextmanager
def deferred_signals(signums: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)
                     ) -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block ends, then deliver them.

    For ``pool.submit``: starting a worker writes its setup to a pipe, and an
    interrupt in the middle of that write leaves the new worker half a message
    (and a traceback on the terminal). Outside the main thread it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {s: signal.getsignal(s) or signal.SIG_DFL for s in signums}  # None: set in C
    for s in signums:
        signal.signal(s, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if received:
            signal.raise_signal(received[0])


def stop(pool: ProcessPoolExecutor) -> None:
    """Kill ``pool``'s workers now and drop its queued work."""
    # ``ProcessPoolExecutor`` gains ``kill_workers`` only in Python 3.14; before, the
    # processes are reachable only through this attribute.
    processes = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)
    previous = threading.excepthook

    def quiet(args):  # a worker killed while sending leaves the manager half a message
        if args.thread is not manager:
            previous(args)

    threading.excepthook = quiet
    try:
        for process in processes:
            if process.is_alive():
                process.kill()
        # With the workers dead the pool's manager thread ends at once; waiting for it
        # here, not at interpreter exit, keeps its pipes from being written after closing.
        pool.shutdown(wait=True, cancel_futures=True)
    finally:
        threading.excepthook = previous
    for process in processes:
        process.join(timeout=5)


def message_queue():
    """A queue workers can put progress messages on: pass it through ``initargs``."""
    return mp.get_context("spawn").Queue()
