"""A typed, name-keyed registry that refuses duplicates."""

from __future__ import annotations

from typing import Generic, Iterator, TypeVar

from seqgrasp_core.errors import DuplicateNameError, UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Items of one kind (``kind`` names it in messages), keyed by ``item.name``.

    Each entry remembers which plugin registered it, so listings and error messages
    can name the plugin.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._origin: dict[str, str] = {}

    def register(self, item: T, plugin: str = "?") -> None:
        name = getattr(item, "name")
        if not isinstance(name, str) or not name:
            raise DuplicateNameError(f"a {self.kind} from plugin {plugin!r} has no name",
                                     "give it a non-empty `name`")
        if name in self._items:
            raise DuplicateNameError(
                f"{self.kind} {name!r} from plugin {plugin!r} is already registered by "
                f"plugin {self._origin[name]!r}",
                "rename one of them or block one plugin with SEQGRASP_BLOCK_PLUGINS")
        self._items[name] = item
        self._origin[name] = plugin

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise UnknownNameError(f"unknown {self.kind} {name!r}",
                                   f"choose one of: {known}") from None

    def origin(self, name: str) -> str:
        return self._origin[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[T]:
        return iter(self._items[k] for k in sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)
