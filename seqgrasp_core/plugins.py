"""The plugin manager: finds plugins, calls their hooks, fills the registries.

Plugins come from the ``seqgrasp`` entry-point group (the bundled ones too, through
the root ``pyproject.toml``). ``SEQGRASP_PLUGINS=a,b`` loads only the named entry
points; ``SEQGRASP_BLOCK_PLUGINS=a,b`` skips them.

Load order decides who keeps a name, so it is fixed: the entry points of the
``seqgrasp`` distribution itself (the bundled plugins) first, then third-party entry
points sorted by name, then ``extra_modules`` (tests). An item whose name an earlier
plugin already registered is refused on its own: it is left out, one line naming both
plugins goes to :attr:`Plugins.refused`, and every other item of both plugins stays.

A plugin that fails to import, whose hook raises, or that registers something invalid
fails as a whole: none of its items are registered, and :attr:`Plugins.failures` holds
a one-line reason; the other plugins keep working.
"""

from __future__ import annotations

import os
import re
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
        return self.hands.get(name)

    def info(self, name: str) -> PluginInfo | None:
        return next((p for p in self.loaded if p.name == name), None)


def _names(var: str) -> set[str] | None:
    value = os.environ.get(var)
    return {v.strip() for v in value.split(",") if v.strip()} if value else None


def _dist_name(ep) -> str | None:
    dist = getattr(ep, "dist", None)
    return getattr(dist, "name", None) if dist is not None else None


def _is_bundled(ep) -> bool:
    name = _dist_name(ep)
    return name is not None and re.sub(r"[-_.]+", "-", name).lower() == DISTRIBUTION


def _load_order(eps) -> list:
    """Entry points in load order: the bundled ones, then third-party ones by name."""
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

    for name, module, version, distribution in candidates:
        _load_one(out, name, module, version, distribution)
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


def _load_one(out: Plugins, name: str, module, version: str,
              distribution: str | None = None) -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    try:
        pm.register(module, name=name)
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        out.failures[name] = f"plugin {name!r} has an invalid hook: {exc}"
        return
    try:
        staged = _stage(pm)
    except SeqGraspError as exc:
        out.failures[name] = f"plugin {name!r}: {exc.one_line()}"
        return
    except Exception as exc:
        out.failures[name] = f"plugin {name!r} failed while registering: " \
                             f"{type(exc).__name__}: {exc}"
        return
    info = PluginInfo(name, getattr(module, "__name__", str(module)), version,
                      distribution=distribution)
    for key, items in staged.items():
        registry = getattr(out, key)
        for item in items:
            if item.name in registry:
                line = (f"{registry.kind} {item.name!r} from plugin {name!r} is refused: "
                        f"plugin {registry.origin(item.name)!r} already registered it — "
                        "rename it, or block one plugin with SEQGRASP_BLOCK_PLUGINS")
                info.refused.append(line)
                out.refused.append(line)
                continue
            registry.register(item, plugin=name)
            info.provides.append(f"{key.rstrip('s').replace('_', ' ')}:{item.name}")
    out.loaded.append(info)


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
