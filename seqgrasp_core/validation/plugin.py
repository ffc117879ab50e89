"""The built-in validators as a plugin module (entry point ``mujoco``)."""

from __future__ import annotations

from ..hookspecs import hookimpl


@hookimpl
def register_validators(register):
    from .isaacgym_validator import IsaacGymValidator
    from .mujoco_validator import MuJoCoValidator

    register(MuJoCoValidator())
    register(IsaacGymValidator())
