"""Rewrite docs/reference-cli.md from the `seqgrasp` Typer application."""

from pathlib import Path

from seqgrasp_cli.main import app
from seqgrasp_cli.reference import markdown

PAGE = Path(__file__).resolve().parents[1] / "docs" / "reference-cli.md"

if __name__ == "__main__":
    PAGE.write_text(markdown(app))
    print(f"wrote {PAGE}")
