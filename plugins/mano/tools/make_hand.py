"""Write ``plugins/mano/mano_right.urdf`` (kinematic MANO hand, mean shape) and the
self-collision list of ``hand.toml``.

    python plugins/mano/tools/make_hand.py

Then regenerate the contacts with the rule file::

    seqgrasp hand contacts plugins/mano/mano_right.urdf \
        --rules plugins/mano/contact_rules.toml --out plugins/mano/contacts.json
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("mano_model", HERE.parent / "model.py")
model = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(model)


def neighbour_pairs() -> list[tuple[str, str]]:
    """Segments that touch at a MANO joint (the dummy links between them hide the
    parent/child relation from the engine's own filter)."""
    pairs = []
    for finger in model.FINGERS:
        pairs.append(("palm", f"{finger}1"))
        pairs += [(f"{finger}1", f"{finger}2"), (f"{finger}2", f"{finger}3")]
    return pairs


if __name__ == "__main__":
    out = HERE.parent / "mano_right.urdf"
    out.write_text(model.build_urdf(model.MEAN_JOINTS))
    print(f"wrote {out}")
    print("exclude = [\n" + "\n".join(f'  ["{a}", "{b}"],' for a, b in neighbour_pairs()) + "\n]")
