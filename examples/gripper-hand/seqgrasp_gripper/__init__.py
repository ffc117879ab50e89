"""An example seqgrasp hand plugin: a two-finger gripper, two joints per finger."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from seqgrasp_core.api import HandSpec, hookimpl

HAND_FILE = Path(str(files(__name__) / "hand.toml"))


@hookimpl
def register_hands(register):
    register(HandSpec.from_files(HAND_FILE))
