"""The plugin manager: finds plugins, calls their hooks, fills the registries.

Plugins come from the ``seqgrasp`` entry-point group (the bundled ones too, through
the root ``pyproject.toml``). ``SEQGRASP_PLUGINS=a,b`` loads only the named entry
points; ``SEQGRASP_BLOCK_PLUGINS=a,b`` skips them. A plugin that fails to import or
registers something invalid is recorded in :attr:`Plugins.failures` with a one-line
reason; the other plugins keep working.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib.metadata import entry_points

import pluggy

from . import hookspecs
from .energy import EnergyTerm
from .errors import PluginError, SeqGraspError
from .hand_spec import HandSpec, urdf_link_names
from .hardware import HardwareBackend
from .registry import Registry
from .validator import Validator

ENTRY_POINT_GROUP = "seqgrasp"


@dataclass
class PluginInfo:
    name: str
    module: str
    version: str
    provides: list[str] = field(default_factory=list)


@dataclass
class Plugins:
    """The registries filled by the loaded plugins."""

    hands: Registry[HandSpec] = field(default_factory=lambda: Registry("hand"))
    energy_terms: Registry[EnergyTerm] = field(default_factory=lambda: Registry("energy term"))
    validators: Registry[Validator] = field(default_factory=lambda: Registry("validator"))
    backends: Registry[HardwareBackend] = field(default_factory=lambda: Registry("backend"))
    loaded: list[PluginInfo] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)

    def hand(self, name: str) -> HandSpec:
        return self.hands.get(name)


def _names(var: str) -> set[str] | None:
    value = os.environ.get(var)
    return {v.strip() for v in value.split(",") if v.strip()} if value else None


def _checked(kind: str, cls: type):
    def check(item):
        if not isinstance(item, cls):
            raise PluginError(f"registered a {type(item).__name__} as a {kind}",
                              f"register a {cls.__name__}")
        if isinstance(item, HandSpec):  # contacts must lie on links the URDF has
            item.check(urdf_link_names(item.urdf_path))
        return item
    return check


def load_plugins(extra_modules: tuple = ()) -> Plugins:
    """Load every plugin and return the filled registries.

    ``extra_modules`` are plugin modules (objects with hook implementations) to load
    in addition to the entry points, e.g. in tests.
    """
    only, blocked = _names("SEQGRASP_PLUGINS"), _names("SEQGRASP_BLOCK_PLUGINS")
    out = Plugins()
    candidates = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if (only is not None and ep.name not in only) or (blocked and ep.name in blocked):
            continue
        dist = getattr(ep, "dist", None)
        version = dist.version if dist is not None else "?"
        try:
            module = ep.load()
        except Exception as exc:  # a broken plugin must not take the others down
            out.failures[ep.name] = (f"plugin {ep.name!r} ({ep.value}) failed to import: "
                                     f"{type(exc).__name__}: {exc}")
            continue
        candidates.append((ep.name, module, version))
    for i, module in enumerate(extra_modules):
        candidates.append((getattr(module, "__name__", f"extra{i}"), module, "-"))

    for name, module, version in candidates:
        _load_one(out, name, module, version)
    return out


def _load_one(out: Plugins, name: str, module, version: str) -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    try:
        pm.register(module, name=name)
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        out.failures[name] = f"plugin {name!r} has an invalid hook: {exc}"
        return
    staged: dict[str, list] = {"hands": [], "energy_terms": [], "validators": [], "backends": []}
    hooks = (("register_hands", "hands", HandSpec), ("register_energy_terms", "energy_terms",
             EnergyTerm), ("register_validators", "validators", Validator),
             ("register_backends", "backends", HardwareBackend))
    try:
        for hook, key, cls in hooks:
            check = _checked(key[:-1].replace("_", " "), cls)
            getattr(pm.hook, hook)(register=lambda item, _k=key, _c=check:
                                   staged[_k].append(_c(item)))
        provides = []
        for key, items in staged.items():
            for item in items:
                getattr(out, key).register(item, plugin=name)
                provides.append(f"{key.rstrip('s').replace('_', ' ')}:{item.name}")
    except SeqGraspError as exc:
        out.failures[name] = f"plugin {name!r}: {exc.one_line()}"
        return
    except Exception as exc:
        out.failures[name] = f"plugin {name!r} failed while registering: " \
                             f"{type(exc).__name__}: {exc}"
        return
    out.loaded.append(PluginInfo(name, getattr(module, "__name__", str(module)), version,
                                 provides))
