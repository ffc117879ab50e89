"""`HandSpec`: the data that defines a hand, loaded from files a plugin ships.

A hand plugin ships three files next to its code:

``hand.toml``
    name, URDF file, joint order, open-hand pose, palm frame for initialization,
    surface sampling settings, self-collision exclusions and the opposition spaces.
``contacts.json``
    contact candidates in named groups: ``{"groups": {"index_pad": [{"link": ...,
    "point": [x, y, z], "normal": [x, y, z]}, ...], ...}}``. Points are in the link
    frame (metres); normals are unit vectors pointing *into* the link (inward), so
    that the force the hand applies at the point is ``-normal``.
``<hand>.urdf``
    kinematics, limits and collision geometry (boxes, capsules, spheres, cylinders).

``hand.toml`` is read strictly: an unknown key is an error, and the URDF is read
(cheaply, as XML) to check the joints, the open pose's limits and the self-collision
exclusions when the plugin loads. Nothing here needs torch;
:class:`seqgrasp_core.hands.model.HandModel` turns a spec into batched tensors.
"""

from __future__ import annotations

import difflib
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Mapping

import numpy as np

from seqgrasp_core.errors import HandSpecError
from seqgrasp_core.system.options import check_options

#: The keys ``hand.toml`` may hold, by section (``None``: the top level), in the order
#: docs/reference-hand-toml.md lists them.
HAND_KEYS: dict[str | None, tuple[str, ...]] = {
    None: ("name", "description", "urdf", "contacts", "max_object_size", "joints",
           "open_pose", "palm", "surface", "self_collision", "opposition_spaces"),
    "palm": ("center", "normal"),
    "surface": ("points",),
    "self_collision": ("exclude",),
    "opposition_spaces": ("name", "joints", "contacts_a", "contacts_b"),
}
LIMIT_SLACK = 1e-9  # rad or m: an open pose this far past a joint limit is still within it
UNIT_TOLERANCE = 1e-3  # a palm normal's length may differ from 1 by this much


@dataclass(frozen=True)
class ContactGroup:
    """Contact candidates of one named group.

    ``links[i]`` is the link of point ``points[i]`` (link frame, metres, ``(M, 3)``)
    with inward unit normal ``normals[i]`` (``(M, 3)``).
    """

    name: str
    links: tuple[str, ...]
    points: np.ndarray
    normals: np.ndarray

    def __len__(self) -> int:
        return len(self.links)


@dataclass(frozen=True)
class OppositionSpace:
    """An opposition space: the joints it moves and the two opposing contact pools.

    ``joint_mask`` has one bool per hand joint (the hand's joint order). The two
    contacts of the force-closure term are drawn one from ``contacts_a`` and one from
    ``contacts_b`` (each a tuple of contact-group names).
    """

    name: str
    joint_mask: tuple[bool, ...]
    contacts_a: tuple[str, ...]
    contacts_b: tuple[str, ...]

    def with_mask(self, mask: tuple[bool, ...]) -> "OppositionSpace":
        return OppositionSpace(self.name, tuple(mask), self.contacts_a, self.contacts_b)

    @property
    def joint_count(self) -> int:
        return sum(self.joint_mask)


@dataclass(frozen=True)
class HandSpec:
    """Everything that defines a hand; see the module docstring for the files.

    Frames: the hand frame is the URDF's root link. ``palm_center`` (metres) and
    ``palm_normal`` (unit, pointing away from the palm towards a grasped object) are in
    that frame and are used to place the hand facing the object at initialization.
    """

    options: ClassVar[Mapping[str, str]] = {}
    """Keys a plugin's hand understands with ``-o KEY=VALUE`` (key → help)."""

    name: str
    urdf_path: Path
    joint_names: tuple[str, ...]
    open_pose: tuple[float, ...]
    palm_center: tuple[float, float, float]
    palm_normal: tuple[float, float, float]
    contact_groups: dict[str, ContactGroup]
    opposition_spaces: tuple[OppositionSpace, ...]
    surface_points: int = 1000
    self_collision_exclude: tuple[tuple[str, str], ...] = ()
    max_object_size: float = 0.12
    description: str = ""
    extra: dict = field(default_factory=dict)
    #: Optional ``(points (N, 3) in link frames (m), link names (N,))`` to draw the hand's
    #: surface points from instead of sampling the URDF's collision primitives (e.g. the
    #: vertices of a skinned mesh, each on the link of its largest skinning weight).
    surface_samples: tuple | None = None

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def opposition_space(self, name: str) -> OppositionSpace:
        for os_ in self.opposition_spaces:
            if os_.name == name:
                return os_
        from seqgrasp_core.errors import UnknownNameError

        known = ", ".join(o.name for o in self.opposition_spaces)
        raise UnknownNameError(f"hand {self.name!r} has no opposition space {name!r}",
                               f"choose one of: {known}")

    def check(self, link_names: set[str] | None = None) -> None:
        """Raise :class:`HandSpecError` if the spec is inconsistent.

        With ``link_names`` (from the URDF), also checks that every contact lies on a
        link that exists.
        """
        k = self.num_joints
        if len(self.open_pose) != k:
            raise HandSpecError(f"hand {self.name!r}: open_pose has {len(self.open_pose)} "
                                f"values for {k} joints", "give one angle per joint")
        if not self.opposition_spaces:
            raise HandSpecError(f"hand {self.name!r} defines no opposition space",
                                "add [[opposition_spaces]] to hand.toml")
        for os_ in self.opposition_spaces:
            if len(os_.joint_mask) != k:
                raise HandSpecError(
                    f"hand {self.name!r}: opposition space {os_.name!r} has a joint mask of "
                    f"length {len(os_.joint_mask)}, the hand has {k} joints",
                    "list only joints of this hand")
            if not any(os_.joint_mask):
                raise HandSpecError(f"hand {self.name!r}: opposition space {os_.name!r} "
                                    "moves no joint", "give it at least one joint")
            for group in os_.contacts_a + os_.contacts_b:
                if group not in self.contact_groups:
                    raise HandSpecError(
                        f"hand {self.name!r}: opposition space {os_.name!r} names contact "
                        f"group {group!r}, which the contact file lacks",
                        f"use one of: {', '.join(sorted(self.contact_groups))}")
            if not os_.contacts_a or not os_.contacts_b:
                raise HandSpecError(f"hand {self.name!r}: opposition space {os_.name!r} "
                                    "needs two contact pools", "set contacts_a and contacts_b")
        centre = np.asarray(self.palm_center, dtype=float)
        normal = np.asarray(self.palm_normal, dtype=float)
        if centre.shape != (3,) or not np.isfinite(centre).all():
            raise HandSpecError(f"hand {self.name!r}: palm_center {self.palm_center!r} is not "
                                "three finite numbers", "give a point in the hand frame (m)")
        if (normal.shape != (3,) or not np.isfinite(normal).all()
                or abs(np.linalg.norm(normal) - 1) > UNIT_TOLERANCE):
            raise HandSpecError(f"hand {self.name!r}: palm_normal {self.palm_normal!r} is not "
                                "a unit vector", "give a finite vector of length 1")
        names = [o.name for o in self.opposition_spaces]
        if len(set(names)) != len(names):
            raise HandSpecError(f"hand {self.name!r} has duplicate opposition space names",
                                "make each name unique")
        for group in self.contact_groups.values():
            if len(group) == 0:
                raise HandSpecError(f"hand {self.name!r}: contact group {group.name!r} is empty",
                                    "add points or remove the group")
            norms = np.linalg.norm(group.normals, axis=1)
            if not np.allclose(norms, 1.0, atol=1e-3):
                raise HandSpecError(f"hand {self.name!r}: contact group {group.name!r} has "
                                    "normals that are not unit vectors", "normalize them")
            if link_names is not None:
                missing = sorted(set(group.links) - link_names)
                if missing:
                    raise HandSpecError(
                        f"hand {self.name!r}: contact group {group.name!r} lies on link "
                        f"{missing[0]!r}, which the URDF does not have",
                        "fix the link name in the contact file")
        if link_names is not None:
            for pair in self.self_collision_exclude:
                for link in pair:
                    if link not in link_names:
                        raise HandSpecError(
                            f"hand {self.name!r}: self_collision_exclude names link {link!r}, "
                            "which the URDF does not have",
                            f"use links of the URDF: {_some(sorted(link_names))}")

    def configured(self, options: Mapping[str, str]) -> "HandSpec":
        """This hand with ``options`` applied (a subclass that declares ``options``
        overrides this); without options, itself."""
        check_options(options, self.options, f"hand {self.name!r}")
        return self

    @classmethod
    def from_files(cls, hand_toml: str | Path) -> "HandSpec":
        """Load a spec from ``hand.toml``; other files are resolved next to it.

        Every problem is one :class:`HandSpecError` naming the file: an unknown key in
        any section, a missing required key, a value of the wrong type, a palm that is not
        finite or whose normal is not a unit vector, a URDF that is missing or an MJCF
        model, ``joints`` that are not the URDF's movable joints, an open pose outside the
        URDF's joint limits, a self-collision exclusion naming a link the URDF lacks, and
        whatever :meth:`check` finds.
        """
        hand_toml = Path(hand_toml)
        base = hand_toml.parent
        file = hand_toml.name
        try:
            data = tomllib.loads(hand_toml.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise HandSpecError(f"cannot read hand file {hand_toml.name}: {exc}",
                                "check the plugin's hand.toml") from None
        check_known_keys(file, "at the top level", data, HAND_KEYS[None])
        for section in ("palm", "surface", "self_collision"):
            check_known_keys(file, f"in [{section}]", data.get(section), HAND_KEYS[section])
        spaces_raw = data.get("opposition_spaces", [])
        for i, entry in enumerate(spaces_raw if isinstance(spaces_raw, list) else []):
            check_known_keys(file, f"in [[opposition_spaces]] {i + 1}", entry,
                             HAND_KEYS["opposition_spaces"])
        try:
            if not (isinstance(data["joints"], list)
                    and all(isinstance(j, str) for j in data["joints"])):
                raise TypeError("`joints` must be an array of joint names")
            joint_names = tuple(data["joints"])
            open_pose_raw = data["open_pose"]
            if isinstance(open_pose_raw, dict):
                check_known_keys(file, "in [open_pose]", open_pose_raw, joint_names,
                                 what="known keys (the joints)")
                open_pose = tuple(float(open_pose_raw[j]) for j in joint_names)
            else:
                open_pose = tuple(float(v) for v in open_pose_raw)
            contacts = _load_contacts(base / data["contacts"])
            spaces = []
            for entry in data["opposition_spaces"]:
                unknown = sorted(set(entry["joints"]) - set(joint_names))
                if unknown:
                    raise HandSpecError(
                        f"hand {data['name']!r}: opposition space {entry['name']!r} names "
                        f"joint {unknown[0]!r}, which is not a joint of this hand",
                        "list only joints from `joints`")
                mask = tuple(j in entry["joints"] for j in joint_names)
                spaces.append(OppositionSpace(entry["name"], mask,
                                              tuple(entry["contacts_a"]),
                                              tuple(entry["contacts_b"])))
            palm = data["palm"]
            exclude = data.get("self_collision", {}).get("exclude", [])
            for pair in exclude:
                if not (isinstance(pair, list) and len(pair) == 2
                        and all(isinstance(link, str) for link in pair)):
                    raise HandSpecError(f"{file}: [self_collision] exclude entry {pair!r} is "
                                        "not a pair of link names",
                                        'write exclude = [["link_a", "link_b"], ...]')
            spec = cls(
                name=data["name"],
                urdf_path=base / data["urdf"],
                joint_names=joint_names,
                open_pose=open_pose,
                palm_center=tuple(float(c) for c in _palm_vector(file, "center", palm["center"])),
                palm_normal=tuple(float(c) for c in _unit(_palm_normal(file, palm["normal"]))),
                contact_groups=contacts,
                opposition_spaces=tuple(spaces),
                surface_points=int(data.get("surface", {}).get("points", 1000)),
                self_collision_exclude=tuple(tuple(p) for p in exclude),
                max_object_size=float(data.get("max_object_size", 0.12)),
                description=str(data.get("description", "")),
            )
        except KeyError as exc:
            raise HandSpecError(f"hand file {hand_toml} lacks the key {exc}",
                                "see docs/writing-a-hand-plugin.md") from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise HandSpecError(f"{file}: a value has the wrong type ({exc})",
                                "see docs/reference-hand-toml.md for each key's type") from None
        if not spec.urdf_path.is_file():
            raise HandSpecError(f"hand {spec.name!r}: URDF {spec.urdf_path.name} not found",
                                "ship the URDF next to hand.toml")
        urdf = read_urdf_outline(spec.urdf_path, shown=f"{file}: urdf = {data['urdf']!r}")
        _check_against_urdf(spec, urdf, file)
        spec.check(set(urdf.links))
        return spec


@dataclass(frozen=True)
class UrdfJoint:
    """A URDF ``<joint>``: its ``type`` and, where it has a ``<limit>``, its bounds."""

    name: str
    type: str
    lower: float | None = None
    upper: float | None = None


@dataclass(frozen=True)
class UrdfOutline:
    """The names a URDF defines, read cheaply: links and joints (in file order)."""

    links: tuple[str, ...]
    joints: dict[str, UrdfJoint]

    @property
    def movable(self) -> tuple[str, ...]:
        return tuple(n for n, j in self.joints.items() if j.type != "fixed")


def read_urdf_outline(urdf_path: str | Path, shown: str | None = None) -> UrdfOutline:
    """The links and joints (type, limits) of a URDF, read as XML (no kinematics, no
    meshes). An MJCF model, or any file whose root element is not ``<robot>``, is a
    :class:`HandSpecError`; ``shown`` is how its message names the file (default: the
    path)."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(urdf_path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise HandSpecError(f"cannot read URDF {Path(urdf_path).name}: {exc}",
                            "fix the URDF") from None
    _refuse_non_urdf(urdf_path, root.tag, shown)
    joints = {}
    for joint in root.findall("joint"):
        limit = joint.find("limit")
        lower = upper = None
        if limit is not None:
            lower, upper = (_float_or_none(limit.get(k)) for k in ("lower", "upper"))
        name = joint.get("name")
        joints[name] = UrdfJoint(name, joint.get("type", ""), lower, upper)
    return UrdfOutline(tuple(link.get("name") for link in root.findall("link")), joints)


def urdf_link_names(urdf_path: str | Path) -> set[str]:
    """The ``<link>`` names of a URDF, read cheaply (no kinematics, no meshes)."""
    return set(read_urdf_outline(urdf_path).links)


def refuse_mjcf(path: str | Path, shown: str | None = None) -> None:
    """Raise :class:`HandSpecError` when ``path`` is an MJCF model (root ``<mujoco>``, or
    a ``.xml`` file whose root is not ``<robot>``) or another XML that is not a URDF.
    A file that cannot be read or parsed passes: the URDF reader names that problem."""
    import xml.etree.ElementTree as ET

    try:
        _, element = next(ET.iterparse(path, events=("start",)))
    except (OSError, ET.ParseError, StopIteration):
        return
    _refuse_non_urdf(path, element.tag, shown)


def _refuse_non_urdf(path, tag: str, shown: str | None) -> None:
    shown = shown or str(path)
    if tag == "mujoco" or (Path(path).suffix.lower() == ".xml" and tag != "robot"):
        raise HandSpecError(f"{shown} is an MJCF (MuJoCo) model, not a URDF",
                            f"convert it with `seqgrasp hand import {path} --out DIR`")
    if tag != "robot":
        raise HandSpecError(f"{shown} is not a URDF: its root element is <{tag}>, not <robot>",
                            "give the hand's URDF file")


def check_known_keys(file: str, where: str, table, known, what: str = "known keys") -> None:
    """Raise :class:`HandSpecError` for the first key of ``table`` not in ``known``:
    ``"{file}: unknown key 'x' {where} — {what}: a, b, …"`` (with a close match, if
    any, as a suggestion). ``table`` that is not a dict is left to the caller."""
    if not isinstance(table, dict):
        return
    for key in table:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"{what}: {_some(known)}" + (f" (did you mean {close[0]!r}?)" if close else "")
            raise HandSpecError(f"{file}: unknown key {key!r} {where}", hint)


def _some(names, limit: int = 20) -> str:
    """``names`` joined by commas, the first ``limit`` of them when there are more."""
    names = list(names)
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f", … ({len(names)} in all)"


def _float_or_none(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _palm_vector(file: str, key: str, value) -> np.ndarray:
    try:
        v = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        v = np.zeros(0)
    if v.shape != (3,):
        raise HandSpecError(f"{file}: [palm] {key} = {value!r} is not three numbers",
                            f"e.g. {key} = [0.0, 0.0, 1.0]")
    if not np.isfinite(v).all():
        raise HandSpecError(f"{file}: [palm] {key} = {value!r} is not finite",
                            "give three finite numbers")
    return v


def _palm_normal(file: str, value) -> np.ndarray:
    v = _palm_vector(file, "normal", value)
    length = float(np.linalg.norm(v))
    if abs(length - 1) > UNIT_TOLERANCE:
        example = (f", e.g. {[round(float(c), 4) for c in v / length]}" if length > 0 else "")
        raise HandSpecError(f"{file}: [palm] normal = {value!r} has length {length:.4g}, "
                            "not 1", f"give a unit vector{example}")
    return v


def _check_against_urdf(spec: HandSpec, urdf: UrdfOutline, file: str) -> None:
    """``joints``, the open pose and the self-collision exclusions of ``hand.toml``
    against the URDF's joints, limits and links."""
    urdf_name = spec.urdf_path.name
    seen: set[str] = set()
    for joint in spec.joint_names:
        if joint in seen:
            raise HandSpecError(f"{file}: `joints` lists {joint!r} twice", "list each joint once")
        seen.add(joint)
        if joint not in urdf.joints:
            raise HandSpecError(f"{file}: joint {joint!r} in `joints` is not a joint of "
                                f"{urdf_name}", f"its movable joints: {_some(urdf.movable)}")
        if urdf.joints[joint].type == "fixed":
            raise HandSpecError(f"{file}: joint {joint!r} in `joints` is a fixed joint of "
                                f"{urdf_name}", "list only movable joints")
    missing = [j for j in urdf.movable if j not in seen]
    if missing:
        raise HandSpecError(f"{file}: `joints` lacks {urdf_name}'s movable joint {missing[0]!r}",
                            "list every movable joint of the URDF once")
    for joint, value in zip(spec.joint_names, spec.open_pose):
        info = urdf.joints[joint]
        if not math.isfinite(value):
            raise HandSpecError(f"{file}: open_pose {joint} = {value} is not finite",
                                "give a finite angle (rad) or position (m)")
        if info.type not in ("revolute", "prismatic") or None in (info.lower, info.upper):
            continue
        if not info.lower - LIMIT_SLACK <= value <= info.upper + LIMIT_SLACK:
            raise HandSpecError(
                f"{file}: open_pose {joint} = {value} is outside the joint's limits "
                f"[{info.lower}, {info.upper}] in {urdf_name}",
                "choose a value within the limits")
    links = set(urdf.links)
    for pair in spec.self_collision_exclude:
        for link in pair:
            if link not in links:
                raise HandSpecError(f"{file}: [self_collision] exclude names link {link!r}, "
                                    f"which {urdf_name} does not have",
                                    f"use links of the URDF: {_some(urdf.links)}")


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


def _load_contacts(path: Path) -> dict[str, ContactGroup]:
    try:
        raw = json.loads(path.read_text())["groups"]
    except (OSError, ValueError, KeyError) as exc:
        raise HandSpecError(f"cannot read contact file {path.name}: {exc}",
                            "regenerate it (see the plugin's README)") from None
    groups = {}
    for name, entries in raw.items():
        groups[name] = ContactGroup(
            name=name,
            links=tuple(e["link"] for e in entries),
            points=np.asarray([e["point"] for e in entries], dtype=float).reshape(-1, 3),
            normals=np.asarray([e["normal"] for e in entries], dtype=float).reshape(-1, 3),
        )
    return groups
