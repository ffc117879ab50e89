"""``seqgrasp hands``, ``seqgrasp os list``, ``seqgrasp energies``, ``seqgrasp plugins``."""

from __future__ import annotations

import json

import typer

from .errors import user_errors, warn_plugin_failures
from .options import HandOpt, JsonOpt

os_app = typer.Typer(help="Opposition spaces of a hand.", no_args_is_help=True)


def _plugins():
    from seqgrasp_core.plugins.manager import load_plugins

    plugins = load_plugins()
    warn_plugin_failures(plugins)
    return plugins


def _emit(rows: list[dict], title: str, as_json: bool, key: str) -> None:
    if as_json:
        typer.echo(json.dumps({key: rows}, indent=2))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title)
    columns = list(rows[0]) if rows else []
    for col in columns:
        table.add_column(col.replace("_", " "))
    for row in rows:
        table.add_row(*[escape(", ".join(map(str, v)) if isinstance(v, list) else str(v))
                        for v in row.values()])
    Console().print(table)


@user_errors
def hands(as_json: JsonOpt = False) -> None:
    """List the installed hands."""
    plugins = _plugins()
    rows = [{"name": h.name, "joints": h.num_joints, "opposition_spaces":
             len(h.opposition_spaces), "plugin": plugins.hands.origin(h.name),
             "description": h.description} for h in plugins.hands]
    _emit(rows, "hands", as_json, "hands")


@os_app.command("list")
@user_errors
def os_list(hand: HandOpt = "allegro", as_json: JsonOpt = False) -> None:
    """List a hand's opposition spaces with their joints and contact pools."""
    spec = _plugins().hand(hand)
    rows = [{"name": o.name,
             "joints": [j for j, m in zip(spec.joint_names, o.joint_mask) if m],
             "contacts_a": list(o.contacts_a), "contacts_b": list(o.contacts_b)}
            for o in spec.opposition_spaces]
    _emit(rows, f"opposition spaces of {spec.name}", as_json, "opposition_spaces")


@user_errors
def energies(as_json: JsonOpt = False) -> None:
    """List the energy terms with their default weights and where they count (the
    optimizer, the refinement)."""
    plugins = _plugins()
    rows = [{"name": t.name, "default_weight": t.default_weight, "schedule": t.schedule,
             "stages": list(t.stages), "plugin": plugins.energy_terms.origin(t.name),
             "description": t.description}
            for t in plugins.energy_terms]
    _emit(rows, "energy terms", as_json, "energy_terms")


@user_errors
def plugins(as_json: JsonOpt = False) -> None:
    """List the loaded plugins, what they provide, what was refused, and the failures."""
    from seqgrasp_core.plugins.manager import load_plugins

    loaded = load_plugins()
    rows = [{"name": p.name, "version": p.version, "status": "ok", "provides": p.provides,
             "refused": p.refused} for p in loaded.loaded]
    rows += [{"name": name, "version": "", "status": "failed", "provides": [reason],
              "refused": []} for name, reason in loaded.failures.items()]
    _emit(rows, "plugins", as_json, "plugins")


def register(app: typer.Typer) -> None:
    app.command("hands")(hands)
    app.command("energies")(energies)
    app.command("plugins")(plugins)
    app.add_typer(os_app, name="os")
