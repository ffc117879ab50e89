"""Reference pages that are written from the code stay what the code says."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_the_cli_reference_is_the_apps_own():
    from seqgrasp_cli.main import app
    from seqgrasp_cli.reference import markdown

    page = (DOCS / "reference-cli.md").read_text()
    assert page == markdown(app), "run `python tools/make_cli_reference.py`"
    for command in ("generate", "validate", "eval", "show", "replay", "hand contacts"):
        assert f"## `seqgrasp {command}`" in page
    assert "`--preset` | `best`" in page


def test_the_settings_reference_lists_exactly_the_settings_keys():
    from seqgrasp_core.runs.settings import KEYS, Settings

    page = (DOCS / "reference-settings.md").read_text()
    documented = set(re.findall(r"^\| `(\w+)` \|", page, flags=re.M))
    assert documented == set(KEYS) == set(Settings.__dataclass_fields__)
