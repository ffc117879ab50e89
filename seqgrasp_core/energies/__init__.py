"""The six energy terms of the paper (eq. 3–10), registered as a plugin.

Each term lives in its own module; this package is the plugin module that the
``seqgrasp`` entry point ``energies`` loads.
"""

from __future__ import annotations

from ..hookspecs import hookimpl
from .contact_distance import ContactDistance
from .force_closure import ForceClosure
from .hand_object_penetration import HandObjectPenetration
from .joint_limits import JointLimits
from .object_object_penetration import ObjectObjectPenetration
from .self_penetration import SelfPenetration

BUILTIN_TERMS = (ForceClosure, ContactDistance, HandObjectPenetration, SelfPenetration,
                 JointLimits, ObjectObjectPenetration)


@hookimpl
def register_energy_terms(register):
    for cls in BUILTIN_TERMS:
        register(cls())
