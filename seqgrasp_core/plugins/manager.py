"""The plugin manager: finds plugins, calls their hooks, fills the registries.

Plugins come from the ``seqgrasp`` entry-point group (the bundled ones too, through
the root ``pyproject.toml``). ``SEQGRASP_PLUGINS=a,b`` loads only the named entry
points; ``SEQGRASP_BLOCK_PLUGINS=a,b`` skips them.

Who keeps a name never depends on the order plugins load in. A name registered by
several plugins goes to the one bundled with seqgrasp when one of them is; otherwise
none of them gets it. Each refused item is left out on its own, with one line naming
the plugins in :attr:`Plugins.refused`; every other item of those plugins stays.

A plugin that fails to import, whose hook raises, or that registers something invalid
fails as a whole: none of its items are registered, and :attr:`Plugins.failures` holds
a one-line reason; the other plugins keep working.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from importlib.metadata import entry_points

import pluggy

from seqgrasp_core.errors import PluginError, SeqGraspError
from seqgrasp_core.hands.spec import HandSpec, urdf_link_names
from seqgrasp_core.hardware.interface import HardwareBackend
from seqgrasp_core.plugins import hookspecs
from seqgrasp_core.plugins.registry import Registry
from seqgrasp_core.synthesis.terms import EnergyTerm
from seqgrasp_core.validation.interface import Validator

ENTRY_POINT_GROUP = "seqgrasp"
DISTRIBUTION = "seqgrasp"

_HOOKS = (("register_hands", "hands", HandSpec),
          ("register_energy_terms", "energy_terms", EnergyTerm),
          ("register_validators", "validators", Validator),
          ("register_backends", "backends", HardwareBackend))


@dataclass
class PluginInfo:
    name: str
    module: str
    version: str
    provides: list[str] = field(default_factory=list)
    distribution: str | None = None
    refused: list[str] = field(default_factory=list)


@dataclass
class Plugins:
    """The registries filled by the loaded plugins.

    ``failures`` maps a plugin that failed as a whole to its reason; ``refused`` holds
    one line per item left out because an earlier plugin had taken its name.
    """

    hands: Registry[HandSpec] = field(default_factory=lambda: Registry("hand"))
    energy_terms: Registry[EnergyTerm] = field(default_factory=lambda: Registry("energy term"))
    validators: Registry[Validator] = field(default_factory=lambda: Registry("validator"))
    backends: Registry[HardwareBackend] = field(default_factory=lambda: Registry("backend"))
    loaded: list[PluginInfo] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)

    def hand(self, name: str) -> HandSpec:
        """The registered hand ``name``; for a hand whose plugin (of the same name)
        failed to load, the error says why."""
        if name not in self.hands and name in self.failures:
            raise PluginError(f"hand {name!r} is unavailable, {self.failures[name]}")
        return self.hands.get(name)

    def info(self, name: str) -> PluginInfo | None:
        return next((p for p in self.loaded if p.name == name), None)


def _names(var: str) -> set[str] | None:
    value = os.environ.get(var)
    return {v.strip() for v in value.split(",") if v.strip()} if value else None


def _dist_name(ep) -> str | None:
    dist = getattr(ep, "dist", None)
    return getattr(dist, "name", None) if dist is not None else None


def _is_bundled_distribution(name: str | None) -> bool:
    return name is not None and re.sub(r"[-_.]+", "-", name).lower() == DISTRIBUTION


def _is_bundled(ep) -> bool:
    return _is_bundled_distribution(_dist_name(ep))


def _load_order(eps) -> list:
    """Entry points in a fixed order (bundled, then third-party by name), so that
    listings and failures read the same on every machine."""
    return sorted(eps, key=lambda ep: (not _is_bundled(ep), ep.name, ep.value))


def _checked(kind: str, cls: type):
    def check(item):
        if not isinstance(item, cls):
            raise PluginError(f"registered a {type(item).__name__} as a {kind}",
                              f"register a {cls.__name__}")
        name = getattr(item, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(f"registered a {kind} without a name",
                              "give it a non-empty `name`")
        if isinstance(item, HandSpec):  # contacts must lie on links the URDF has
            item.check(urdf_link_names(item.urdf_path))
        if isinstance(item, EnergyTerm):
            weight = item.default_weight
            if not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight >= 0):
                raise PluginError(f"energy term {name!r} has default weight {weight!r}",
                                  "give it a finite number ≥ 0")
        return item
    return check


def load_plugins(extra_modules: tuple = ()) -> Plugins:
    """Load every plugin and return the filled registries.

    ``extra_modules`` are plugin modules (objects with hook implementations) to load
    after the entry points, e.g. in tests.
    """
    only, blocked = _names("SEQGRASP_PLUGINS"), _names("SEQGRASP_BLOCK_PLUGINS")
    out = Plugins()
    candidates = []
    for ep in _load_order(entry_points(group=ENTRY_POINT_GROUP)):
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
        candidates.append((ep.name, module, version, _dist_name(ep)))
    for i, module in enumerate(extra_modules):
        candidates.append((getattr(module, "__name__", f"extra{i}"), module, "-", None))

    staged = [(info, items) for info, items in (
        _stage_plugin(out, *candidate) for candidate in candidates) if items is not None]
    _register(out, staged)
    return out


def _stage(pm) -> dict[str, list]:
    """Call every hook and check every item; raises before anything is registered."""
    staged: dict[str, list] = {key: [] for _, key, _ in _HOOKS}
    for hook, key, cls in _HOOKS:
        kind = key[:-1].replace("_", " ")
        check = _checked(kind, cls)
        getattr(pm.hook, hook)(register=lambda item, _k=key, _c=check:
                               staged[_k].append(_c(item)))
        seen: set[str] = set()
        for item in staged[key]:
            if item.name in seen:
                raise PluginError(f"registered {kind} {item.name!r} twice",
                                  "give each one its own name")
            seen.add(item.name)
    return staged


def _stage_plugin(out: Plugins, name: str, module, version: str,
                  distribution: str | None) -> tuple[PluginInfo, dict[str, list] | None]:
    """The plugin's checked items, or ``None`` (and a line in ``out.failures``)."""
    info = PluginInfo(name, getattr(module, "__name__", str(module)), version,
                      distribution=distribution)
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    try:
        pm.register(module, name=name)
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        out.failures[name] = f"plugin {name!r} has an invalid hook: {exc}"
        return info, None
    try:
        return info, _stage(pm)
    except SeqGraspError as exc:
        out.failures[name] = f"plugin {name!r}: {exc.one_line()}"
    except Exception as exc:
        out.failures[name] = f"plugin {name!r} failed while registering: " \
                             f"{type(exc).__name__}: {exc}"
    return info, None


def _register(out: Plugins, staged: list[tuple[PluginInfo, dict[str, list]]]) -> None:
    """Fill the registries from every staged plugin, settling shared names."""
    providers: dict[tuple[str, str], list[PluginInfo]] = {}
    for info, items in staged:
        for key, entries in items.items():
            for item in entries:
                providers.setdefault((key, item.name), []).append(info)
    for info, items in staged:
        for key, entries in items.items():
            registry = getattr(out, key)
            for item in entries:
                owners = providers[(key, item.name)]
                winner = _winner(owners)
                if winner is info:
                    registry.register(item, plugin=info.name)
                    info.provides.append(f"{key.rstrip('s').replace('_', ' ')}:{item.name}")
                    continue
                line = _refusal(registry.kind, item.name, info, owners, winner)
                info.refused.append(line)
                out.refused.append(line)
        out.loaded.append(info)


def _winner(owners: list[PluginInfo]) -> PluginInfo | None:
    """Who keeps a name: its only provider, else its only bundled provider, else none."""
    if len(owners) == 1:
        return owners[0]
    bundled = [o for o in owners if _is_bundled_distribution(o.distribution)]
    return bundled[0] if len(bundled) == 1 else None


def _refusal(kind: str, name: str, info: PluginInfo, owners: list[PluginInfo],
             winner: PluginInfo | None) -> str:
    if winner is not None:
        return (f"{kind} {name!r} from plugin {info.name!r} is refused: the bundled plugin "
                f"{winner.name!r} provides it — rename it in {info.name!r}")
    others = ", ".join(repr(o.name) for o in owners if o is not info)
    return (f"{kind} {name!r} from plugin {info.name!r} is refused: plugin {others} "
            "registers it too, so neither is used — rename it in one of them, or block one "
            "with SEQGRASP_BLOCK_PLUGINS")


def hand_plugin_record(plugins: Plugins, hand: str) -> dict:
    """Where a registered hand came from, as written into run files (``hand_plugin``)."""
    plugin = plugins.hands.origin(hand)
    info = plugins.info(plugin)
    return {"plugin": plugin, "distribution": info.distribution if info else None,
            "version": info.version if info else None}


def missing_hand_hint(metadata: dict, plugins: Plugins, source: str = "this run file") -> str:
    """One line for a run file whose hand no loaded plugin provides."""
    hand = metadata.get("hand")
    installed = ", ".join(plugins.hands.names()) or "none"
    head = f"{source} is for hand {hand!r}, which no installed plugin provides"
    record = metadata.get("hand_plugin")
    if not isinstance(record, dict) or not record.get("plugin"):
        return (f"{head} — install the plugin that provides hand {hand!r} "
                f"(installed hands: {installed}), or see `seqgrasp hands`")
    plugin = record["plugin"]
    if plugin in plugins.failures:
        return f"{head} — its plugin failed to load: {plugins.failures[plugin]}"
    only, blocked = _names("SEQGRASP_PLUGINS"), _names("SEQGRASP_BLOCK_PLUGINS")
    if blocked and plugin in blocked:
        return f"{head} — plugin {plugin!r} is blocked by SEQGRASP_BLOCK_PLUGINS; unblock it"
    if only is not None and plugin not in only:
        return f"{head} — plugin {plugin!r} is not in SEQGRASP_PLUGINS; add it"
    dist, version = record.get("distribution"), record.get("version")
    origin = (f"distribution {dist!r} {version}, entry point {plugin!r}" if dist
              else f"plugin {plugin!r}")
    return f"{head} — install the plugin that provided it ({origin}), or see `seqgrasp hands`"
