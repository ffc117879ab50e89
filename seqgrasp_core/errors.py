"""The error family that the CLI turns into one line.

Every error a user can cause by their input derives from :class:`SeqGraspError` and
carries a ``hint`` saying what to do about it. Anything else is a bug and may show a
traceback.
"""

from __future__ import annotations


class SeqGraspError(Exception):
    """A problem with the user's input, with a one-line fix in ``hint``."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message, hint)  # both in ``args``: survives pickling from a worker
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message

    def __str__(self) -> str:
        return self.one_line()


class MeshError(SeqGraspError):
    """A mesh file is missing, unreadable, empty, or not a closed surface."""


class ObjectTooLargeError(SeqGraspError):
    """An object does not fit in the hand."""


class HandSpecError(SeqGraspError):
    """A hand definition is inconsistent (mask length, unknown link, bad file)."""


class PluginError(SeqGraspError):
    """A plugin failed to import or registered something invalid."""


class UnknownNameError(SeqGraspError):
    """A name (hand, opposition space, energy term, validator, backend) is not registered."""


class DuplicateNameError(SeqGraspError):
    """Two plugins registered the same name in one registry."""


class RunFileError(SeqGraspError):
    """A run file is missing, corrupt or not a seqgrasp file."""


class OppositionSpaceError(SeqGraspError):
    """A requested opposition space cannot be used at this step."""


class SeqGraspWarning(UserWarning):
    """Something the user should know that does not stop the command (one line)."""
