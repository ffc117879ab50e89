"""The ``seqgrasp`` command line (Typer + rich). Thin: parses, calls the core, renders."""
