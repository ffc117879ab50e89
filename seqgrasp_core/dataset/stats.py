"""What a dataset folder holds: units, objects, and how often each step held."""

from __future__ import annotations

import json
from pathlib import Path

from seqgrasp_core.errors import SeqGraspError


def dataset_stats(root: str | Path) -> dict:
    """Totals and per-step, per-opposition-space success of a built dataset, from its
    manifest: ``{"units", "finished", "rows", "objects": {split: n}, "steps":
    {step: {"tried", "held", "rate %", "spaces": {os: [tried, held]}}}}``."""
    path = Path(root) / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
        finished = manifest["finished"]
    except (OSError, ValueError, KeyError):
        raise SeqGraspError(f"{root} has no readable manifest.json",
                            "build it with `seqgrasp dataset build`, or resume the build") from None
    steps: dict[str, dict] = {}
    for unit in finished:
        for step, cells in unit["counts"].items():
            entry = steps.setdefault(step, {"tried": 0, "held": 0, "spaces": {}})
            for space, (tried, held) in cells.items():
                entry["tried"] += tried
                entry["held"] += held
                cell = entry["spaces"].setdefault(space, [0, 0])
                cell[0] += tried
                cell[1] += held
    for entry in steps.values():
        entry["rate %"] = 100.0 * entry["held"] / entry["tried"] if entry["tried"] else 0.0
    splits: dict[str, int] = {}
    for obj in manifest.get("objects", []):
        splits[obj["split"]] = splits.get(obj["split"], 0) + 1
    return {"units": manifest.get("units"), "finished": len(finished),
            "rows": sum(u["rows"] for u in finished), "objects": splits,
            "steps": dict(sorted(steps.items(), key=lambda kv: int(kv[0])))}
