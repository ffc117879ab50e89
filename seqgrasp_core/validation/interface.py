"""The `Validator` interface: physics checks of generated grasp sequences."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, Mapping

from seqgrasp_core.system.options import check_options


@dataclass(frozen=True)
class StepResult:
    """The outcome of validating step ``n`` of a sequence (objects 1..n held).

    ``max_penetration_mm`` is the largest hand–object or object–object depth (what
    the 1 cm limit tests); ``hand_penetration_mm`` the largest hand–object depth
    alone, the paper's "Pene." (NaN from a validator that does not report it, and
    both NaN for a row that could not be simulated). ``failure`` says why a step
    failed (``""`` when it succeeded).
    """

    success: bool
    max_penetration_mm: float
    hand_penetration_mm: float = float("nan")
    failure: str = ""


class Validator(ABC):
    """Checks in physics whether a hand holds objects 1..n at step n.

    Implementations are registered through the ``register_validators`` hook.
    ``available()`` says whether the validator's dependency is installed; when it is
    not, ``unavailable_hint`` tells the user how to get it.
    """

    name: str = ""
    description: str = ""
    unavailable_hint: str = ""
    options: Mapping[str, str] = {}  # keys understood with -o KEY=VALUE (key → help)

    def configured(self, options: Mapping[str, str]) -> "Validator":
        """This validator with ``options`` applied; without options, itself."""
        check_options(options, self.options, f"validator {self.name!r}")
        return self

    def available(self) -> bool:
        return True

    @abstractmethod
    def validate(self, table, meshes: dict[str, object], hand, *, workers: int = 1,
                 progress: Callable[[int, int], None] | None = None) -> list[StepResult]:
        """Validate every row of a run table (see docs/data-format.md).

        ``meshes`` maps ``object_sha256`` to the mesh as read from its file (not
        scaled: each row's ``object_scale`` is applied); ``hand`` is the
        :class:`~seqgrasp_core.hands.spec.HandSpec`. ``progress(done, total)`` is
        called as rows finish. Returns one result per row, in row order.
        """

