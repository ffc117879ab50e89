"""``seqgrasp hand contacts`` and ``seqgrasp hand show``: tools for hand-plugin authors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from . import hand_import
from .errors import user_errors, warn_plugin_failures
from .options import OptionOpt, finite
from .show import View, ViewOpt, output_kind

hand_app = typer.Typer(help="Tools for writing hand plugins: import a model, sample contacts, look at the result.", no_args_is_help=True)


@hand_app.command("contacts")
@user_errors
def contacts(
    urdf: Annotated[Path, typer.Argument(help="The hand's URDF (collision primitives only).")],
    out: Annotated[Path, typer.Option("--out", help="Contact file to write.")] = Path("contacts.json"),
    rules: Annotated[Optional[Path], typer.Option(
        "--rules", help="TOML file of facing rules ([[group]] name, links, direction, ...).")] = None,
    spacing: Annotated[Optional[float], typer.Option(
        "--spacing", callback=finite, min=0.5,
        help="Sample spacing in mm (default: the rule file's, or 4).")] = None,
    pad_axis: Annotated[Optional[str], typer.Option(
        "--pad-axis", help="Without --rules: one <branch>_pad group per finger branch, facing "
                           "this link-frame axis (+x, -y, or 0,-1,0).")] = None,
    palm_axis: Annotated[Optional[str], typer.Option(
        "--palm-axis", help="Without --rules: a palm group on the root link facing this axis.")] = None,
    max_angle: Annotated[float, typer.Option(
        "--max-angle", callback=finite,
        help="With --pad-axis: largest angle (deg) between normal and axis.")] = 45.0,
) -> None:
    """Sample contact candidates on a URDF's collision surfaces, grouped by facing direction."""
    from seqgrasp_core.errors import HandSpecError
    from seqgrasp_core.hands.contacts import (
        branch_rules,
        load_rules,
        sample_contacts,
        write_contacts,
    )
    from seqgrasp_core.system.outputs import prepare_output

    if not urdf.is_file():
        raise HandSpecError(f"URDF {urdf} not found", "give the path of the hand's URDF")
    prepare_output(out)
    file_spacing = None
    if rules is not None:
        rule_list, file_spacing = load_rules(rules)
    elif pad_axis is not None:
        rule_list = branch_rules(urdf, pad_axis, palm_axis, max_angle)
    else:
        raise HandSpecError("no facing rules given", "pass --rules FILE or --pad-axis AXIS")
    spacing_m = spacing / 1000 if spacing is not None else (file_spacing or 0.004)
    groups = sample_contacts(urdf, rule_list, spacing_m)
    source = f"--rules {rules.name}" if rules is not None else f"--pad-axis {pad_axis}"
    write_contacts(groups, out, note=f"seqgrasp hand contacts {urdf.name} {source} "
                                     f"--spacing {spacing_m * 1000:g}")
    for name, entries in groups.items():
        typer.echo(f"{name}: {len(entries)} points on {len({e['link'] for e in entries})} links")
    typer.echo(f"wrote {out}")


@hand_app.command("show")
@user_errors
def show_hand(
    hand: Annotated[str, typer.Argument(help="Hand plugin name (see `seqgrasp hands`).")],
    out: Annotated[Path, typer.Option(
        "--out", help="FILE.html (interactive, offline) or FILE.png (static).")],
    view: ViewOpt = View.palm,
    option: OptionOpt = None,
) -> None:
    """Draw a hand at its open pose: its collision primitives, every contact candidate
    (coloured by group, with its outward normal), the palm centre and normal, and the
    hand frame's axes (x red, y green, z blue)."""
    from seqgrasp_core.plugins.manager import load_plugins
    from seqgrasp_core.system.options import parse_options
    from seqgrasp_core.system.outputs import prepare_output
    from seqgrasp_core.visualize import write_hand_html, write_hand_png
    from seqgrasp_core.visualize.hand_view import hand_view

    kind = output_kind(out)
    options = parse_options(option or ())
    plugins = load_plugins()
    warn_plugin_failures(plugins)
    spec = plugins.hand(hand).configured(options)
    prepare_output(out)
    drawn = hand_view(spec)
    (write_hand_html if kind == "html" else write_hand_png)(drawn, out, camera=view.value)
    typer.echo(f"wrote {out} ({drawn.title}; {view.value} view)")


hand_import.register(hand_app)


def register(app: typer.Typer) -> None:
    app.add_typer(hand_app, name="hand")
