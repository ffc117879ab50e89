"""The `HardwareBackend` interface: executing grasp sequences on a hand.

A backend opens a connection, moves joints, reports joint angles and always leaves
the hand safe on close (no torque applied).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Mapping, Sequence


class HardwareBackend(ABC):
    """A real or simulated hand that can follow joint targets.

    ``name`` is what ``seqgrasp replay --backend`` selects; ``hand`` names the
    :class:`~seqgrasp_core.hands.spec.HandSpec` it drives. Use it as a context
    manager: ``__exit__`` calls :meth:`close` on any error, so torque is released.
    """

    name: str = ""
    hand: str = ""
    description: str = ""
    options: Mapping[str, str] = {}
    """Keys :meth:`open` understands, given with ``-o KEY=VALUE`` (key → help)."""

    @abstractmethod
    def open(self, **options) -> None:
        """Connect and start up (e.g. CAN start-up sequence); ``options`` are the
        declared keys the user gave, as strings."""

    @abstractmethod
    def joint_positions(self) -> Sequence[float]:
        """Current joint angles (radians, the hand spec's joint order)."""

    @abstractmethod
    def move_to(self, targets: Sequence[float], active: Sequence[bool], *,
                timeout_s: float = 5.0) -> float:
        """Drive the ``active`` joints to ``targets`` (radians) while the others hold.

        Returns the final largest absolute tracking error over active joints (radians).
        """

    def place_object(self, step: int, object_id: str, pose) -> None:
        """Object ``step`` (1-based) is being placed at ``pose`` (4×4, hand frame, metres).

        Called by a replay before the step's joints close. A real hand ignores it (a
        person places the object); a simulated one may put the object in its scene.
        """

    @abstractmethod
    def close(self) -> None:
        """Release torque and disconnect. Safe to call twice."""

    def __enter__(self) -> "HardwareBackend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
