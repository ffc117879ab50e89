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
        "--name", help="The hand's name (lower-case, digits, _; default: from the model); "
                       "one an installed plugin uses is refused, unless it is an earlier "
                       "import into --out.")] = None,
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

    report = import_hand(model, out, name=name, root=root, orient=not no_orient,
                         check_name=lambda hand: refuse_taken_name(hand, out))
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


def refuse_taken_name(name: str, out: Path) -> None:
    """Refuse a hand name that an installed plugin already uses, unless that plugin is
    an earlier import into ``out`` (its module's file lies in ``out``, or its
    distribution was installed from ``out``). A name is used when a plugin registers
    that hand, has that entry-point name, or has the module ``seqgrasp_NAME`` the import
    writes; any other installed module ``seqgrasp_NAME`` is refused too: two packages
    with one module name break each other."""
    from importlib.metadata import entry_points

    from seqgrasp_core.errors import HandSpecError
    from seqgrasp_core.plugins.manager import ENTRY_POINT_GROUP, load_plugins

    module = f"seqgrasp_{name}"
    owners: list[tuple[str, str, str | None]] = []  # plugin, module, distribution
    loaded = load_plugins()
    if name in loaded.hands.names():
        plugin = loaded.hands.origin(name)
        info = loaded.info(plugin)
        owners.append((plugin, info.module if info else "", info and info.distribution))
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name or ep.module.split(".")[0] == module:
            dist = getattr(ep, "dist", None)
            owners.append((ep.name, ep.module, getattr(dist, "name", None)))
    for plugin, plugin_module, dist in owners:
        if not (_module_in(plugin_module, out) or _installed_from(dist, out)):
            raise HandSpecError(f"hand name {name!r} is taken by the installed plugin "
                                f"{plugin!r}", "choose another with --name")
    if _module_path(module) is not None and not _module_in(module, out):
        raise HandSpecError(f"hand name {name!r} is taken: its plugin module {module!r} is "
                            "an installed package's", "choose another with --name")


def _module_path(module: str) -> Path | None:
    """Where the top-level module of ``module`` is (its file or folder), if installed."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(module.split(".")[0]) if module else None
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.origin and spec.origin not in ("built-in", "frozen", "namespace"):
        return Path(spec.origin).resolve()
    locations = list(spec.submodule_search_locations or ())
    return Path(locations[0]).resolve() if locations else None


def _module_in(module: str, out: Path) -> bool:
    """Whether ``module`` is imported from the folder ``out``."""
    path = _module_path(module)
    return path is not None and out.resolve() in path.parents


def _installed_from(distribution: str | None, out: Path) -> bool:
    """Whether ``distribution`` was pip-installed from the folder ``out``."""
    import json
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import distribution as find

    if not distribution:
        return False
    try:
        text = find(distribution).read_text("direct_url.json")
        url = json.loads(text)["url"] if text else ""
    except (PackageNotFoundError, ValueError, KeyError, TypeError):
        return False
    return url == out.resolve().as_uri()


def register(hand_app: typer.Typer) -> None:
    """Add ``import`` to the ``seqgrasp hand`` group."""
    hand_app.command("import")(import_model)
