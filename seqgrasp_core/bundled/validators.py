"""The built-in validators as a plugin module (entry point ``mujoco``)."""

from __future__ import annotations

from seqgrasp_core.api import hookimpl


@hookimpl
def register_validators(register):
    from seqgrasp_core.api import IsaacGymValidator, MuJoCoValidator

    register(MuJoCoValidator())
    register(IsaacGymValidator())
