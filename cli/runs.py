"""Opening a run file together with the plugins and the hand it was made for."""

from __future__ import annotations

import sys
from pathlib import Path

from .errors import warn_plugin_failures


def open_run(run: Path):
    """``(table, metadata, plugins, hand spec)`` of a run file; user errors are
    :class:`~seqgrasp_core.errors.SeqGraspError` s (one line at the CLI)."""
    from seqgrasp_core.errors import RunFileError, UnknownNameError
    from seqgrasp_core.plugins.manager import load_plugins, missing_hand_hint
    from seqgrasp_core.runs.runfile import read_run

    table, metadata = read_run(run)
    hand_name = metadata.get("hand")
    if not hand_name:
        raise RunFileError(f"{run} does not say which hand it is for",
                           "regenerate it with `seqgrasp generate`")
    plugins = load_plugins()
    warn_plugin_failures(plugins)
    if hand_name not in plugins.hands:
        raise UnknownNameError(missing_hand_hint(metadata, plugins, Path(run).name))
    recorded = (metadata.get("hand_plugin") or {}).get("plugin")
    if recorded and recorded != plugins.hands.origin(hand_name):
        print(f"warning: {Path(run).name} was made with hand {hand_name!r} of plugin "
              f"{recorded!r}; plugin {plugins.hands.origin(hand_name)!r} provides it here",
              file=sys.stderr)
    return table, metadata, plugins, \
        plugins.hand(hand_name).configured(metadata.get("hand_options") or {})
