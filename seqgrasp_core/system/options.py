"""Options for one plugin object, given on the command line as ``-o KEY=VALUE``.

A hand, validator or hardware backend declares the keys it understands in its
``options`` mapping (key → one line of help); the CLI parses ``KEY=VALUE`` pairs with
:func:`parse_options` and the object checks them with :func:`check_options`, so an
unknown key is one line that names the known ones. Values stay strings: the object
that declares a key converts it.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from seqgrasp_core.errors import SeqGraspError, UnknownNameError


def parse_options(items: Sequence[str]) -> dict[str, str]:
    """``["interface=pcan", "channel=PCAN_USBBUS1"]`` → ``{"interface": "pcan", …}``."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SeqGraspError(f"--option {item!r} is not KEY=VALUE", "e.g. -o channel=can0")
        if key in out:
            raise SeqGraspError(f"--option {key} is given twice", "give each key once")
        out[key] = value.strip()
    return out


def check_options(given: Mapping[str, str], known: Mapping[str, str], owner: str) -> None:
    """Raise :class:`UnknownNameError` for a key of ``given`` that ``owner`` (e.g.
    ``"backend 'allegro-can'"``) does not declare in ``known``."""
    unknown = sorted(set(given) - set(known))
    if unknown:
        keys = ", ".join(f"{k} ({known[k]})" for k in sorted(known)) or "none"
        raise UnknownNameError(f"{owner} has no option {unknown[0]!r}",
                               f"its options: {keys}")


def split_options(given: Mapping[str, str], owners: Sequence[tuple[str, object]]
                  ) -> list[dict[str, str]]:
    """``given`` divided among ``owners`` (``(kind, object)`` pairs, each object with an
    ``options`` mapping and a ``name``): each key goes to the owner that declares it;
    a key none declares is refused, naming every owner's keys."""
    parts: list[dict[str, str]] = [{} for _ in owners]
    for key, value in given.items():
        takers = [i for i, (_, obj) in enumerate(owners) if key in obj.options]
        if not takers:
            known = "; ".join(f"{kind} {obj.name!r}: {', '.join(sorted(obj.options)) or 'none'}"
                              for kind, obj in owners)
            raise UnknownNameError(f"no option {key!r} here", f"options: {known}")
        parts[takers[0]][key] = value
    return parts
