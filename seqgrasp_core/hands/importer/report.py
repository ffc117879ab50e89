"""What an import did: :class:`ImportReport`, and its fit table as Markdown."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seqgrasp_core.hands.importer.fit import WARN_MM, FitRow
from seqgrasp_core.hands.importer.transforms import rpy


@dataclass
class ImportReport:
    """The result of :func:`~seqgrasp_core.hands.importer.import_hand`.

    ``rotation`` (3×3) holds the hand frame's x, y, z axes (columns) in the source root
    body's frame: a point ``p`` of that frame is ``rotation.T @ p`` in the hand frame
    (the identity with ``--no-orient``). ``hand_file`` is the written ``hand.toml``.
    """

    name: str
    source: Path
    sha256: str
    out_dir: Path
    hand_file: Path
    urdf: Path
    root_body: str
    joints: list[str]
    dropped_joints: list[str]
    rotation: np.ndarray
    oriented: bool
    fits: list[FitRow]
    opposition_spaces: list[str]
    groups: dict[str, int]
    command: str
    warnings: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    @property
    def flagged(self) -> list[FitRow]:
        return [r for r in self.fits if r.flagged]

    def rotation_text(self) -> str:
        if not self.oriented:
            return "none (--no-orient: the hand frame is the source root body's frame)"
        def num(c: float) -> str:
            return f"{round(float(c), 4) + 0.0:.4f}"  # no "-0.0000"

        axes = ", ".join(f"{a} = [{', '.join(num(c) for c in self.rotation[:, i])}]"
                         for i, a in enumerate("xyz"))
        return (f"hand-frame axes in the source root body's frame: {axes} "
                f"(rpy {' '.join(num(c) for c in rpy(self.rotation))} rad)")

    def fit_table(self) -> str:
        """One Markdown row per collision geom of the source."""
        lines = ["| link | geom | source | primitive | max deviation mm | volume ratio | |",
                 "| --- | --- | --- | --- | ---: | ---: | --- |"]
        for r in self.fits:
            flag = f"> {WARN_MM:g} mm" if r.flagged else ""
            lines.append(f"| {r.link} | {r.geom} | {r.source} | {r.primitive} | "
                         f"{r.deviation_mm:.2f} | {r.volume_ratio:.2f} | {flag} |")
        return "\n".join(lines)
