"""What a dataset folder holds, as the paper's Table II: how often each opposition
space held, and how often the hand was *consumed* (no opposition space left) after
each number of objects — both from the shards' records, beside the paper's figures."""

from __future__ import annotations

import json
from pathlib import Path

from seqgrasp_core.dataset.store import shard_records
from seqgrasp_core.errors import SeqGraspError

PAPER_TABLE_II = {
    "hand": "allegro",
    "spaces": {  # held, tried (thousands of grasps), rate %
        "middle-ring": (100.83, 704.97, 14.30), "index-middle": (97.43, 700.90, 13.90),
        "thumb-index": (97.29, 1691.41, 5.75), "ring-palm": (147.33, 323.31, 45.57),
        "middle-palm": (152.77, 404.84, 37.74), "index-palm": (194.13, 546.60, 35.52),
        "thumb-palm": (85.86, 485.80, 17.67)},
    "objects": {  # consumed, held (thousands of grasps), consumed rate %
        "1": (0.00, 444.72, 0.00), "2": (9.75, 251.52, 3.88), "3": (69.20, 139.31, 49.68),
        "4": (40.09, 40.09, 100.00)},
}
"""SeqDataset's statistics (SeqGrasp, Table II): 4.9 M grasps tried, 870 K held."""


def _rate(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def dataset_stats(root: str | Path) -> dict:
    """Table II of a built dataset folder.

    Returns ``{"units", "finished", "rows", "objects": {split: n}, "hand",
    "spaces": {os: {"held", "tried", "rate %"}}, "objects grasped": {n: {"tried",
    "held", "rate %", "consumed", "consumed %"}}, "paper": PAPER_TABLE_II or None}``:
    per opposition space the steps tried and held; per number of objects grasped
    the steps tried, held, and held with no opposition space left.
    """
    path = Path(root) / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
        settings = manifest["settings"]
    except (OSError, ValueError, KeyError):
        raise SeqGraspError(f"{root} has no readable manifest.json",
                            "build it with `seqgrasp dataset build`, or resume the build") from None
    records = shard_records(root)
    spaces: dict[str, dict] = {}
    grasped: dict[str, dict] = {}
    for record in records.values():
        for step, cells in record["counts"].items():
            by_n = grasped.setdefault(step, {"tried": 0, "held": 0, "consumed": 0})
            for space, (tried, held, *rest) in cells.items():
                consumed = rest[0] if rest else 0  # shards from before consumption counts
                cell = spaces.setdefault(space, {"held": 0, "tried": 0})
                cell["tried"] += tried
                cell["held"] += held
                by_n["tried"] += tried
                by_n["held"] += held
                by_n["consumed"] += consumed
    for cell in spaces.values():
        cell["rate %"] = _rate(cell["held"], cell["tried"])
    for cell in grasped.values():
        cell["rate %"] = _rate(cell["held"], cell["tried"])
        cell["consumed %"] = _rate(cell["consumed"], cell["held"])
    splits: dict[str, int] = {}
    for obj in manifest.get("objects", []):
        splits[obj["split"]] = splits.get(obj["split"], 0) + 1
    hand = settings.get("hand")
    return {"units": manifest.get("units"), "finished": len(records),
            "rows": sum(r["rows"] for r in records.values()), "objects": splits,
            "hand": hand, "spaces": dict(sorted(spaces.items())),
            "objects grasped": dict(sorted(grasped.items(), key=lambda kv: int(kv[0]))),
            "paper": PAPER_TABLE_II if hand == PAPER_TABLE_II["hand"] else None}
