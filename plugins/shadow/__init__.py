"""The Shadow Dexterous Hand (right) plugin: hand definition only.

The hand is data (``hand.toml``, ``contacts.json``, ``shadow_right.urdf``); see this
folder's README for where the numbers come from.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from seqgrasp_core.api import HandSpec, hookimpl

HAND_FILE = Path(str(files(__name__) / "hand.toml"))


@hookimpl
def register_hands(register):
    register(HandSpec.from_files(HAND_FILE))
