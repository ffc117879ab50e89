"""The SeqDiffuser models that ship with seqgrasp (``seqgrasp_core/data/models``)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from seqgrasp_core.errors import SeqGraspError


def model_path(hand: str) -> Path:
    """The bundled model of ``hand``; :class:`SeqGraspError` when none ships."""
    path = Path(str(files("seqgrasp_core") / "data" / "models" / f"seqdiffuser-{hand}.pt"))
    if not path.is_file():
        raise SeqGraspError(f"no SeqDiffuser model ships for the {hand!r} hand",
                            "train one with `seqgrasp diffuser train DATASET --out M.pt` "
                            "and pass --model M.pt")
    return path
