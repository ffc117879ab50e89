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

Nothing here needs torch; :class:`seqgrasp_core.hands.model.HandModel` turns a spec
into batched tensors.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Mapping

import numpy as np

from seqgrasp_core.errors import HandSpecError
from seqgrasp_core.system.options import check_options


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

    def configured(self, options: Mapping[str, str]) -> "HandSpec":
        """This hand with ``options`` applied (a subclass that declares ``options``
        overrides this); without options, itself."""
        check_options(options, self.options, f"hand {self.name!r}")
        return self

    @classmethod
    def from_files(cls, hand_toml: str | Path) -> "HandSpec":
        """Load a spec from ``hand.toml``; other files are resolved next to it."""
        hand_toml = Path(hand_toml)
        base = hand_toml.parent
        try:
            data = tomllib.loads(hand_toml.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise HandSpecError(f"cannot read hand file {hand_toml.name}: {exc}",
                                "check the plugin's hand.toml") from None
        try:
            joint_names = tuple(data["joints"])
            open_pose_raw = data["open_pose"]
            open_pose = (tuple(float(open_pose_raw[j]) for j in joint_names)
                         if isinstance(open_pose_raw, dict)
                         else tuple(float(v) for v in open_pose_raw))
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
            spec = cls(
                name=data["name"],
                urdf_path=base / data["urdf"],
                joint_names=joint_names,
                open_pose=open_pose,
                palm_center=tuple(float(v) for v in data["palm"]["center"]),
                palm_normal=tuple(float(v) for v in _unit(data["palm"]["normal"])),
                contact_groups=contacts,
                opposition_spaces=tuple(spaces),
                surface_points=int(data.get("surface", {}).get("points", 1000)),
                self_collision_exclude=tuple(
                    tuple(p) for p in data.get("self_collision", {}).get("exclude", [])),
                max_object_size=float(data.get("max_object_size", 0.12)),
                description=data.get("description", ""),
            )
        except KeyError as exc:
            raise HandSpecError(f"hand file {hand_toml} lacks the key {exc}",
                                "see docs/writing-a-hand-plugin.md") from None
        if not spec.urdf_path.is_file():
            raise HandSpecError(f"hand {spec.name!r}: URDF {spec.urdf_path.name} not found",
                                "ship the URDF next to hand.toml")
        spec.check()
        return spec


def urdf_link_names(urdf_path: str | Path) -> set[str]:
    """The ``<link>`` names of a URDF, read cheaply (no kinematics, no meshes)."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(urdf_path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise HandSpecError(f"cannot read URDF {Path(urdf_path).name}: {exc}",
                            "fix the URDF") from None
    return {link.get("name") for link in root.iter("link")}


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
