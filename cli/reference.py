"""The command-line reference (docs/reference-cli.md), written from the Typer app itself.

``python tools/make_cli_reference.py`` rewrites the page; a test checks that the page
in the repository is what the app says, so the reference cannot drift from the code.
"""

from __future__ import annotations

import typer


def markdown(app: typer.Typer) -> str:
    """The reference page: every command and sub-command, its arguments and options."""
    root = typer.main.get_command(app)
    lines = ["# Command-line reference", "",
             "Written from the `seqgrasp` application by `python tools/make_cli_reference.py`;",
             "`seqgrasp COMMAND --help` prints the same.", ""]
    for path, command in _commands(root, []):
        lines += _command(path, command)
    return "\n".join(lines).rstrip() + "\n"


def _commands(command, path: list[str]):
    """``(path, command)`` of every leaf command below ``command``, in the app's order."""
    if hasattr(command, "list_commands"):  # a group (Typer ships its own click)
        ctx = command.context_class(command)
        for name in command.list_commands(ctx):
            yield from _commands(command.get_command(ctx, name), [*path, name])
    elif path:
        yield path, command


def _command(path: list[str], command) -> list[str]:
    lines = [f"## `seqgrasp {' '.join(path)}`", ""]
    help_text = " ".join((command.help or "").split())
    if help_text:
        lines += [help_text, ""]
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    options = [p for p in command.params if p.param_type_name == "option"
               and p.name != "help"]
    if arguments:
        lines += ["| argument | meaning |", "| --- | --- |"]
        lines += [f"| `{p.name.upper()}` | {_help(p)} |" for p in arguments]
        lines.append("")
    if options:
        lines += ["| option | default | meaning |", "| --- | --- | --- |"]
        for p in options:
            names = ", ".join(f"`{o}`" for o in [*p.opts, *p.secondary_opts])
            lines.append(f"| {names} | {_default(p)} | {_help(p)} |")
        lines.append("")
    return lines


def _help(param) -> str:
    text = getattr(param, "help", None) or ""
    return " ".join(text.split()).replace("|", "\\|")


def _default(option) -> str:
    if option.is_flag:
        return "on" if option.default else "off"
    default = option.default
    if default is None or default == () or default == []:
        return "–"
    if option.name == "workers" and default != 1:
        return "the usable cores"  # read on the machine that runs the command
    return f"`{default}`"
