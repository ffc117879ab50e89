"""The public plugin API: everything a plugin may use, and nothing else.

A plugin (a hand, an energy term, a validator, a hardware backend) imports from
this module only; the bundled plugins do too, and the project's import contract
(``lint-imports``) checks it. Names here keep their meaning across releases; the
modules behind them may move.

- Hooks: :data:`hookimpl` marks ``register_hands``, ``register_energy_terms``,
  ``register_validators`` and ``register_backends`` (see
  :mod:`seqgrasp_core.plugins.hookspecs`).
- Hands: :class:`HandSpec` and its parts; :func:`load_rules` and
  :func:`sample_contacts` for a hand's contact candidates.
- Energy terms: :class:`EnergyTerm`, :class:`ExponentialRamp`, the state a term
  reads (:class:`GraspState`, :class:`StepContext`, :class:`HeldObject`) and the
  batch-last transform helpers it computes with.
- Validators: :class:`Validator`, :class:`StepResult`, the protocol; the bundled
  :class:`MuJoCoValidator` and :class:`IsaacGymValidator`, and the MuJoCo scene of a
  hand (:func:`build_model`, :class:`MuJoCoSettings`), loaded on first use.
- Hardware: :class:`HardwareBackend`.
- Files: :func:`cache_dir`, :func:`atomic_write_bytes`.
- Errors: :class:`SeqGraspError` and its family.
- The conformance suite for a hand plugin's tests: :func:`check_hand`, its single
  checks and :data:`CHECKS` (all of them), loaded on first use.
"""

from __future__ import annotations

import importlib

from seqgrasp_core.errors import (
    DuplicateNameError,
    HandSpecError,
    MeshError,
    ObjectTooLargeError,
    OppositionSpaceError,
    PluginError,
    RunFileError,
    SeqGraspError,
    SeqGraspWarning,
    UnknownNameError,
)
from seqgrasp_core.geometry.transforms import apply, compose, cross, dot, invert, rotate
from seqgrasp_core.hands.spec import ContactGroup, HandSpec, OppositionSpace
from seqgrasp_core.hardware.interface import HardwareBackend
from seqgrasp_core.plugins.hookspecs import hookimpl
from seqgrasp_core.synthesis.state import GraspState, HeldObject, StepContext
from seqgrasp_core.synthesis.terms import EnergyTerm, ExponentialRamp
from seqgrasp_core.system.cache import cache_dir
from seqgrasp_core.system.outputs import atomic_write_bytes
from seqgrasp_core.validation.interface import StepResult, Validator
from seqgrasp_core.validation.protocol import PAPER_PROTOCOL, ValidationProtocol

# Heavy or optional names (MuJoCo, trimesh, the generator), imported when first used
# so that loading a plugin stays cheap.
_LAZY = {
    "MuJoCoValidator": "seqgrasp_core.validation.mujoco_validator",
    "IsaacGymValidator": "seqgrasp_core.validation.isaacgym_validator",
    "MuJoCoSettings": "seqgrasp_core.validation.scene",
    "build_model": "seqgrasp_core.validation.scene",
    "load_rules": "seqgrasp_core.hands.contacts",
    "sample_contacts": "seqgrasp_core.hands.contacts",
    "write_contacts": "seqgrasp_core.hands.contacts",
    "CHECKS": "seqgrasp_core.testing",
    "check_hand": "seqgrasp_core.testing",
    "check_urdf_loads": "seqgrasp_core.testing",
    "check_joint_masks": "seqgrasp_core.testing",
    "check_contacts_on_links": "seqgrasp_core.testing",
    "check_normals_inward": "seqgrasp_core.testing",
    "check_fk_batched": "seqgrasp_core.testing",
    "check_masks_own_joints": "seqgrasp_core.testing",
    "check_generate_runs": "seqgrasp_core.testing",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "ContactGroup", "DuplicateNameError", "EnergyTerm", "ExponentialRamp", "GraspState",
    "HandSpec", "HandSpecError", "HardwareBackend", "HeldObject", "MeshError",
    "ObjectTooLargeError", "OppositionSpace", "OppositionSpaceError", "PAPER_PROTOCOL",
    "PluginError", "RunFileError", "SeqGraspError", "SeqGraspWarning", "StepContext",
    "StepResult", "UnknownNameError", "ValidationProtocol", "Validator", "apply",
    "atomic_write_bytes", "cache_dir", "compose", "cross", "dot", "hookimpl", "invert",
    "rotate", *_LAZY,
]
