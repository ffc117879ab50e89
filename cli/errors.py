"""Turning user errors into one line and a non-zero exit."""

from __future__ import annotations

import functools
import signal
import sys

import typer

EXIT_USER_ERROR = 2


def fail(message: str) -> "typer.Exit":
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_USER_ERROR)


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so that a run stops as on Ctrl-C: workers
    killed, temporary files removed, one line."""


def _terminate(signum, frame):
    raise Terminated()


def stop_cleanly_on_sigterm() -> None:
    import threading

    if threading.current_thread() is threading.main_thread():  # signal.signal's rule
        signal.signal(signal.SIGTERM, _terminate)


def user_errors(func):
    """Run a command; a :class:`SeqGraspError` becomes one line on stderr and exit 2,
    Ctrl-C exit 130 and SIGTERM exit 143 (after :func:`stop_cleanly_on_sigterm`)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from seqgrasp_core.errors import SeqGraspError

        try:
            return func(*args, **kwargs)
        except SeqGraspError as exc:
            raise fail(exc.one_line()) from None
        except Terminated:
            typer.echo("terminated", err=True)
            raise typer.Exit(128 + signal.SIGTERM) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(128 + signal.SIGINT) from None

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
