"""``seqgrasp hand import``: a hand plugin package from an MJCF or URDF model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import user_errors


@user_errors
def import_model(
    model: Annotated[Path, typer.Argument(help="The hand model: MJCF (.xml) or URDF (.urdf).")],
    out: Annotated[Path, typer.Option(
        "--out", help="Folder for the plugin package (new, empty, or an earlier import's).")],
    name: Annotated[Optional[str], typer.Option(
        "--name", help="The hand's name (lower-case, digits, _; default: from the model).")] = None,
    root: Annotated[Optional[str], typer.Option(
        "--root", help="Body that becomes the hand frame; joints on it and above are dropped "
                       "(default: the first body under the world with joints below it).")] = None,
    no_orient: Annotated[bool, typer.Option(
        "--no-orient", help="Keep the root body's frame instead of turning it so that the "
                            "palm faces +x and the fingers point +z.")] = False,
    check: Annotated[bool, typer.Option(
        "--check", help="Run the conformance suite (check_hand) on the result.")] = False,
) -> None:
    """Write a hand plugin (URDF with primitive collisions, hand.toml, contacts) for a
    MuJoCo or URDF hand model; mesh collisions are replaced by fitted primitives."""
    from rich.console import Console
    from rich.table import Table

    from seqgrasp_core.hands.importer import import_hand

    report = import_hand(model, out, name=name, root=root, orient=not no_orient)
    console = Console()
    table = Table(title=f"{report.name}: collision geometry")
    for column in ("link", "source", "primitive", "max dev. mm", "volume ratio"):
        table.add_column(column, justify="right" if column[0] in "mv" else "left")
    for row in report.fits:
        style = "bold red" if row.flagged else None
        table.add_row(row.link, row.source, row.primitive, f"{row.deviation_mm:.2f}",
                      f"{row.volume_ratio:.2f}", style=style)
    console.print(table)
    for line in report.warnings:
        typer.echo(f"warning: {line}", err=True)
    if report.flagged:
        typer.echo(f"warning: {len(report.flagged)} fitted primitives deviate more than "
                   "5 mm from their meshes (see README.md)", err=True)
    _warn_taken_name(report.name)
    typer.echo(f"root {report.root_body!r}, {len(report.joints)} joints, "
               f"{len(report.opposition_spaces)} opposition spaces; "
               f"rotation: {report.rotation_text()}")
    if check:
        from seqgrasp_core.hands.spec import HandSpec
        from seqgrasp_core.testing import check_hand

        try:
            check_hand(HandSpec.from_files(report.hand_file))
        except AssertionError as exc:
            from seqgrasp_core.errors import HandSpecError

            raise HandSpecError(f"the imported hand fails the conformance suite: {exc}",
                                f"adjust the files in {report.hand_file.parent} "
                                "(see README.md there)") from None
        typer.echo("conformance suite: passed")
    typer.echo(f"wrote {report.out_dir} (see its README.md; `pip install -e {report.out_dir}` "
               "makes the hand available)")


def _warn_taken_name(name: str) -> None:
    """A hand name an installed plugin already uses would be refused at load time."""
    from seqgrasp_core.plugins.manager import load_plugins

    loaded = load_plugins()
    if name not in loaded.hands.names():
        return
    info = loaded.info(loaded.hands.origin(name))
    if info is None or info.module != f"seqgrasp_{name}":  # not this folder, installed
        typer.echo(f"warning: an installed plugin already provides hand {name!r}: pick "
                   "another --name, or the two will clash", err=True)


def register(hand_app: typer.Typer) -> None:
    """Add ``import`` to the ``seqgrasp hand`` group."""
    hand_app.command("import")(import_model)
