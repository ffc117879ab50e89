"""Hook specifications of the ``seqgrasp`` plugin system.

Every hook receives a ``register`` callback; the core owns the registries and
plugins never touch global state. A plugin module implements any subset::

    from seqgrasp_core.plugins.hookspecs import hookimpl

    @hookimpl
    def register_hands(register):
        register(HandSpec.from_files(files("my_hand") / "hand.toml"))

Plugins are found through the ``seqgrasp`` entry-point group; see
:mod:`seqgrasp_core.plugins.manager`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import pluggy

if TYPE_CHECKING:
    from seqgrasp_core.hands.spec import HandSpec
    from seqgrasp_core.hardware.interface import HardwareBackend
    from seqgrasp_core.synthesis.terms import EnergyTerm
    from seqgrasp_core.validation.interface import Validator

PROJECT = "seqgrasp"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_hands(register: "Callable[[HandSpec], None]") -> None:
    """Register hand definitions.

    Called once when the plugin manager loads. Call ``register(spec)`` once per hand;
    a name another plugin registered first is refused with a warning (see
    :mod:`seqgrasp_core.plugins.manager` for the order), and the plugin's other items stay.
    """


@hookspec
def register_energy_terms(register: "Callable[[EnergyTerm], None]") -> None:
    """Register energy terms (instances of :class:`~seqgrasp_core.synthesis.terms.EnergyTerm`).

    The built-in six terms of the paper come from :mod:`seqgrasp_core.bundled.energies`;
    a plugin may add new terms, which are then selectable with ``--energy NAME=W``.
    """


@hookspec
def register_validators(register: "Callable[[Validator], None]") -> None:
    """Register physics validators (:class:`~seqgrasp_core.validation.interface.Validator`)."""


@hookspec
def register_backends(register: "Callable[[HardwareBackend], None]") -> None:
    """Register hardware backends (:class:`~seqgrasp_core.hardware.interface.HardwareBackend`)."""
