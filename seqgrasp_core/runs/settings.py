"""Presets and the settings file: what ``generate`` and ``eval`` run by default.

``--preset best`` (the default) runs the best configuration measured (docs/results.md):
three candidates per sequence and object, the lowest-energy one kept, then 200 steps
of penetration refinement. ``--preset paper`` runs Algorithm 1 exactly as the paper
writes it: one candidate, no refinement. ``--candidates`` and ``--refine-steps`` on
the command line override the preset.

The research settings live in a TOML file (``--config FILE``), one key each, all
optional; an unknown key is an error that names the known ones. The resolved
settings go into the run file's metadata.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from seqgrasp_core.errors import SeqGraspError, UnknownNameError

PRESETS: dict[str, dict[str, int]] = {
    "best": {"candidates": 3, "refine_steps": 200},
    "paper": {"candidates": 1, "refine_steps": 0},
}


@dataclass(frozen=True)
class Settings:
    """The settings file's keys (units in the names); defaults are the measured best."""

    refine_allowance_mm: float = 1.0
    """Depth the refinement leaves alone: 0 pushes the hand fully out of the object,
    shallower but held less often in physics."""
    candidate_depth_mm: float = 4.0
    """With several candidates: one reaching deeper into an object (or one object into
    another) loses to any that does not (a buried link)."""
    surface_points: int | None = None
    """Hand surface samples for ``hop`` during the optimization (default: the hand's
    own, 3000 for the Allegro; fewer is faster and deeper)."""
    threads: int | None = None
    """Torch threads per process (default: the usable cores shared out)."""


KEYS: dict[str, str] = {
    "refine_allowance_mm": "float ≥ 0, mm (default 1)",
    "candidate_depth_mm": "float ≥ 0, mm (default 4)",
    "surface_points": "int ≥ 50 (default: the hand's own)",
    "threads": "int ≥ 1 (default: the usable cores shared out)",
}


def preset_choice(preset: str, candidates: int | None, refine_steps: int | None
                  ) -> tuple[int, int]:
    """``(candidates, refine_steps)`` of ``preset``, each replaced when given."""
    if preset not in PRESETS:
        raise UnknownNameError(f"unknown preset {preset!r}",
                               f"choose one of: {', '.join(PRESETS)}")
    chosen = PRESETS[preset]
    return (chosen["candidates"] if candidates is None else candidates,
            chosen["refine_steps"] if refine_steps is None else refine_steps)


def load_settings(path: str | Path | None) -> Settings:
    """The settings of the TOML file ``path`` (defaults for the keys it leaves out);
    ``None``: the defaults. One-line :class:`SeqGraspError` on a bad file or value."""
    if path is None:
        return Settings()
    path = Path(path)
    if not path.is_file():
        raise SeqGraspError(f"settings file {path} not found", "check the --config path")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SeqGraspError(f"settings file {path} is not valid TOML ({exc})",
                            "see docs/reference-settings.md") from None
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise UnknownNameError(f"settings file {path}: unknown key {unknown[0]!r}",
                               f"known keys: {', '.join(KEYS)}")
    for key, value in data.items():
        _check(path, key, value)
    return Settings(**data)


def _check(path: Path, key: str, value) -> None:
    kind = {f.name: f.type for f in fields(Settings)}[key]
    integer = "int" in str(kind)
    ok = (isinstance(value, int) and not isinstance(value, bool)) if integer else \
        (isinstance(value, (int, float)) and not isinstance(value, bool))
    ok = ok and math.isfinite(value)
    lowest = {"surface_points": 50, "threads": 1}.get(key, 0)
    if not ok or value < lowest:
        raise SeqGraspError(f"settings file {path}: {key} = {value!r} is not valid",
                            f"{key} is {KEYS[key]}")


def as_metadata(settings: Settings) -> dict:
    return asdict(settings)
