"""The built-in validators as a plugin module (entry point ``mujoco``)."""

from __future__ import annotations

from seqgrasp_core.plugins.hookspecs import hookimpl


@hookimpl
def register_validators(register):
    from seqgrasp_core.validation.isaacgym_validator import IsaacGymValidator
    from seqgrasp_core.validation.mujoco_validator import MuJoCoValidator

    register(MuJoCoValidator())
    register(IsaacGymValidator())
