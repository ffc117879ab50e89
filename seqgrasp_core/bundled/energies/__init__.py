"""The six energy terms of the paper (eq. 3–10) and ``ohp``, registered as a plugin.

Each term lives in its own module; this package is the plugin module that the
``seqgrasp`` entry point ``energies`` loads.
"""

from __future__ import annotations

from seqgrasp_core.api import hookimpl
from seqgrasp_core.bundled.energies.contact_distance import ContactDistance
from seqgrasp_core.bundled.energies.force_closure import ForceClosure
from seqgrasp_core.bundled.energies.hand_object_penetration import HandObjectPenetration
from seqgrasp_core.bundled.energies.joint_limits import JointLimits
from seqgrasp_core.bundled.energies.object_hand_penetration import ObjectHandPenetration
from seqgrasp_core.bundled.energies.object_object_penetration import ObjectObjectPenetration
from seqgrasp_core.bundled.energies.self_penetration import SelfPenetration

BUILTIN_TERMS = (ForceClosure, ContactDistance, HandObjectPenetration, SelfPenetration,
                 JointLimits, ObjectObjectPenetration, ObjectHandPenetration)


@hookimpl
def register_energy_terms(register):
    for cls in BUILTIN_TERMS:
        register(cls())
