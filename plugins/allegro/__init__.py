"""The Wonik Allegro Hand (right) plugin: hand definition and hardware backends.

The hand is data (``hand.toml``, ``contacts.json``, ``allegro_right.urdf``); see this
folder's README for where the numbers come from. The backends are ``allegro-can``
(the real hand over CAN, :mod:`.can_backend`) and ``allegro-sim`` (a MuJoCo dry run,
:mod:`.sim_backend`); python-can and MuJoCo are imported only when one is opened
(python-can is the optional extra ``seqgrasp[can]``).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from seqgrasp_core.api import HandSpec, hookimpl

HAND_FILE = Path(str(files(__name__) / "hand.toml"))


@hookimpl
def register_hands(register):
    register(HandSpec.from_files(HAND_FILE))


@hookimpl
def register_backends(register):
    from .can_backend import AllegroCanBackend
    from .sim_backend import AllegroSimBackend

    register(AllegroCanBackend())
    register(AllegroSimBackend(HAND_FILE))
