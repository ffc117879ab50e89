"""The paper's own simulator, Isaac Gym, as an optional validator.

Isaac Gym Preview 4 is on no package registry; it needs an NVIDIA GPU and Python
3.8. This module imports it only when it is installed; otherwise the validator
reports itself unavailable with a one-line hint and the MuJoCo validator is used.
"""

from __future__ import annotations

import importlib.util

from ..errors import SeqGraspError
from ..validator import StepResult, Validator
from .protocol import PAPER_PROTOCOL, ValidationProtocol

HINT = ("Isaac Gym is not installed: download Isaac Gym Preview 4 from NVIDIA's developer "
        "site and `pip install -e isaacgym/python` (needs an NVIDIA GPU and Python 3.8), "
        "or use --validator mujoco")


class IsaacGymValidator(Validator):
    """Placeholder for the peers' Isaac Gym set-up, sharing :class:`ValidationProtocol`."""

    name = "isaacgym"
    description = "Isaac Gym (NVIDIA GPU, optional), the paper's simulator"
    unavailable_hint = HINT

    def __init__(self, protocol: ValidationProtocol = PAPER_PROTOCOL) -> None:
        self.protocol = protocol

    def available(self) -> bool:
        try:
            return importlib.util.find_spec("isaacgym") is not None
        except (ImportError, ValueError):
            return False

    def validate(self, table, meshes, hand, *, workers: int = 1,
                 progress=None) -> list[StepResult]:
        if not self.available():
            raise SeqGraspError("the isaacgym validator is not available", HINT)
        raise SeqGraspError(
            "the isaacgym validator's simulation is not written yet (it could not be "
            "tested without Isaac Gym)", "use --validator mujoco")
