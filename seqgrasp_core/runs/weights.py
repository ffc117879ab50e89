"""The energy's weights: the registered terms' defaults, with the user's overrides."""

from __future__ import annotations

import math

from seqgrasp_core.errors import SeqGraspError, UnknownNameError
from seqgrasp_core.plugins.manager import Plugins
from seqgrasp_core.synthesis.terms import WeightedEnergy


def parse_energy_overrides(items: list[str], plugins: Plugins) -> dict[str, float]:
    """``["hop=0", "fc=20"]`` → weights for every registered term (defaults + overrides)."""
    weights = {t.name: t.default_weight for t in plugins.energy_terms}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep:
            raise SeqGraspError(f"--energy {item!r} is not NAME=WEIGHT", "e.g. --energy hop=0")
        if name not in weights:
            raise UnknownNameError(f"unknown energy term {name!r} in --energy",
                                   f"choose from: {', '.join(sorted(weights))}")
        try:
            weight = float(value)
        except ValueError:
            raise SeqGraspError(f"--energy {item!r}: {value!r} is not a number",
                                "e.g. --energy hop=0") from None
        if not math.isfinite(weight) or weight < 0:
            raise SeqGraspError(f"--energy {item!r}: a weight must be a finite number ≥ 0",
                                "e.g. --energy hop=10, or 0 to disable the term")
        weights[name] = weight
    return weights


def build_energy(plugins: Plugins, weights: dict[str, float]) -> WeightedEnergy:
    return WeightedEnergy({name: (plugins.energy_terms.get(name), w)
                           for name, w in weights.items() if w != 0.0})
