"""Turning user errors into one line and a non-zero exit."""

from __future__ import annotations

import functools
import sys

import typer

EXIT_USER_ERROR = 2


def fail(message: str) -> "typer.Exit":
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_USER_ERROR)


def user_errors(func):
    """Run a command; a :class:`SeqGraspError` becomes one line on stderr and exit 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from seqgrasp_core.errors import SeqGraspError

        try:
            return func(*args, **kwargs)
        except SeqGraspError as exc:
            raise fail(exc.one_line()) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper


def warn_plugin_failures(plugins) -> None:
    """One ``warning:`` line per failed plugin and per refused item."""
    for line in [*plugins.failures.values(), *plugins.refused]:
        print(f"warning: {line}", file=sys.stderr)


def show_warnings_as_lines() -> None:
    """Print the core's :class:`SeqGraspWarning` s as one ``warning: …`` line each."""
    import warnings

    from seqgrasp_core.errors import SeqGraspWarning

    original = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, SeqGraspWarning):
            print(f"warning: {message}", file=sys.stderr)
        else:
            original(message, category, filename, lineno, file, line)

    warnings.showwarning = show
