"""A hardware-backend plugin: ``joint-log``, a dry run that records what it is sent.

It drives no hand. Every call of a replay is written as one JSON line to ``path``
(``joint-log.jsonl`` in the current folder unless ``-o path=FILE``), flushed at once
so that the log is complete up to a Ctrl-C; ``close`` writes a last line. Joint
angles are radians in the hand's joint order, poses 4×4 in the hand frame (metres).

It keeps the set-points a hand would hold: the joints a move leaves out keep theirs,
so ``joint_positions`` reports them and ``move_to`` reports a tracking error of 0.
Each move's line says how long a hand whose set-points move at ``max_speed`` rad/s
(``--max-speed``, 1.0 by default) would take (0 for the first move: the angles it
starts from are not known). It refuses what a real backend must
refuse: a target that is not a finite number, a move before ``open``, a move with a
different number of joints than the first, and a first move that leaves a joint out.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from seqgrasp_core.api import HardwareBackend, SeqGraspError, hookimpl


class JointLog(HardwareBackend):
    name = "joint-log"
    hand = ""  # any hand: the replay checks the run's joint count, the log records it
    description = "dry run: writes every target to a JSON Lines file, moves nothing"
    options = {"path": "the log file; default joint-log.jsonl",
               "max_speed": "set-point speed (rad/s) for the move times; default 1.0"}

    def __init__(self, path: str | Path = "joint-log.jsonl", max_speed: float = 1.0) -> None:
        self.path, self.max_speed = Path(path), max_speed
        self.setpoints: list[float] | None = None
        self._file = None

    def open(self, **options) -> None:
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise SeqGraspError(f"joint-log has no option {unknown[0]!r}",
                                f"use one of: {', '.join(self.options)}")
        self.close()
        self.path = Path(options.get("path", self.path))
        self.max_speed = float(options.get("max_speed", self.max_speed))
        if not (math.isfinite(self.max_speed) and self.max_speed > 0):
            raise SeqGraspError(f"joint-log max_speed {self.max_speed} is not above 0",
                                "e.g. --max-speed 0.5")
        self.setpoints = None
        self._file = self.path.open("w", encoding="utf-8")
        self._write(event="open", max_speed=self.max_speed)

    def joint_positions(self) -> list[float]:
        if self.setpoints is None:
            raise SeqGraspError("joint-log has no joint angles before its first move",
                                "call open() and move_to() first")
        return list(self.setpoints)

    def move_to(self, targets, active, *, timeout_s=5.0) -> float:
        if self._file is None:
            raise SeqGraspError("joint-log is not open", "call open() first")
        targets = [float(t) for t in targets]
        active = [bool(a) for a in active]
        known = len(targets) if self.setpoints is None else len(self.setpoints)
        if len(targets) != known or len(active) != known:
            raise SeqGraspError(f"joint-log got {len(targets)} targets and {len(active)} "
                                f"flags for {known} joints", "send one per joint")
        if not all(math.isfinite(t) for t, on in zip(targets, active) if on):
            raise SeqGraspError("joint-log got a target that is not a finite number",
                                "check the run file's joint angles")
        if self.setpoints is None and not all(active):
            raise SeqGraspError("joint-log's first move leaves joints out",
                                "move every joint first (the replay opens the hand)")
        before = self.setpoints or targets
        self.setpoints = [t if on else s for t, on, s in zip(targets, active, before)]
        travel = max((abs(t - s) for t, on, s in zip(targets, active, before) if on), default=0.0)
        self._write(event="move", targets=self.setpoints, active=active,
                    seconds=travel / self.max_speed, timeout_s=timeout_s)
        return 0.0

    def place_object(self, step, object_id, pose) -> None:
        self._write(event="place", step=int(step), object_id=str(object_id),
                    pose=[[float(v) for v in row] for row in pose])

    def close(self) -> None:
        if self._file is not None:
            self._write(event="close")
            self._file.close()
            self._file = None

    def _write(self, **record) -> None:
        if self._file is None:
            raise SeqGraspError("joint-log is not open", "call open() first")
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()


@hookimpl
def register_backends(register):
    register(JointLog())
