"""The plugin package an import writes, file by file, and writing it.

```
OUT/
├── pyproject.toml            # the seqgrasp entry point
├── README.md                 # source, sha256, command, fit table, conventions, next steps
├── LICENSE…                  # the source's licence files, copied
├── seqgrasp-import.json      # what the import wrote (so a re-import may replace it)
└── seqgrasp_NAME/
    ├── __init__.py           # register_hands
    ├── NAME.urdf
    ├── hand.toml
    ├── contact_rules.toml
    └── contacts.json
```

Every file is written atomically. ``OUT`` must be new, empty, or an earlier import's
folder (it has ``seqgrasp-import.json``); files the earlier import wrote and this one
does not are removed.
"""

from __future__ import annotations

import json
from pathlib import Path

from seqgrasp_core.errors import HandSpecError
from seqgrasp_core.hands.importer.layout import Layout
from seqgrasp_core.hands.importer.report import ImportReport
from seqgrasp_core.system.outputs import atomic_write_bytes

MANIFEST = "seqgrasp-import.json"


def check_out_dir(out_dir: Path) -> None:
    """Refuse an ``--out`` that is a file, or a folder with files no import wrote."""
    if out_dir.exists() and not out_dir.is_dir():
        raise HandSpecError(f"--out {out_dir} is a file", "give a folder for the plugin")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / MANIFEST).is_file():
        raise HandSpecError(f"--out {out_dir} is a folder with other files in it",
                            "give a new or empty folder, or one an earlier "
                            "`seqgrasp hand import` wrote")


def _toml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _toml_list(items) -> str:
    return "[" + ", ".join(_toml_str(i) for i in items) + "]"


def _nums(v) -> str:
    return "[" + ", ".join(f"{float(c):.6g}" for c in v) + "]"


def hand_toml(name: str, description: str, urdf: str, layout: Layout) -> str:
    lines = ["# Written by `seqgrasp hand import` (see ../README.md). Adjust freely.",
             f"name = {_toml_str(name)}",
             f"description = {_toml_str(description)}",
             f"urdf = {_toml_str(urdf)}",
             'contacts = "contacts.json"',
             "# Half the longest edge of the hand's bounding box at the open pose (m).",
             f"max_object_size = {layout.max_object_size:g}",
             "",
             "# The URDF's movable joints, in its order.",
             "joints = ["]
    lines += [f"  {_toml_str(j)}," for j in layout.joints]
    lines += ["]", "", "# Every joint at 0, clamped into its limits.", "[open_pose]"]
    lines += [f"{_toml_str(j)} = {v:.6g}" for j, v in zip(layout.joints, layout.open_pose)]
    lines += ["",
              "# Hand frame: the palm faces +x, the fingers point +z. The centre is where the",
              "# palm normal leaves the root link's geometry.",
              "[palm]",
              f"center = {_nums(layout.palm_center)}",
              f"normal = {_nums(layout.palm_normal)}",
              "", "[surface]", "points = 1000", ""]
    if layout.exclude:
        lines += ["[self_collision]", "exclude = ["]
        lines += [f"  [{_toml_str(a)}, {_toml_str(b)}],  # {why}" for a, b, why in layout.exclude]
        lines += ["]", ""]
    lines.append("# Pairs of finger branches that oppose (pads facing directions far apart, "
                 "or tips that\n# close in on each other), and each branch with the palm.")
    for space in layout.spaces:
        lines += ["[[opposition_spaces]]",
                  f"name = {_toml_str(space.name)}",
                  f"joints = {_toml_list(space.joints)}",
                  f"contacts_a = {_toml_list(space.contacts_a)}",
                  f"contacts_b = {_toml_list(space.contacts_b)}", ""]
    return "\n".join(lines)


def rules_toml(layout: Layout, urdf: str, spacing_mm: float) -> str:
    lines = [f"# seqgrasp hand contacts {urdf} --rules contact_rules.toml --out contacts.json",
             "# One pad group per finger branch, facing the way its tips move when its joints",
             "# close (hand frame, zero pose), and the palm facing +x.",
             f"spacing_mm = {spacing_mm:g}", ""]
    for rule in layout.rules:
        lines += ["[[group]]",
                  f"name = {_toml_str(rule.group)}",
                  f"links = {_toml_list(rule.links)}",
                  'frame = "root"',
                  f"direction = {_nums(layout.directions[rule.group])}",
                  f"max_angle = {rule.max_angle:g}", ""]
    return "\n".join(lines)


def pyproject(name: str, module: str, licences: list[str]) -> str:
    lic = f"license-files = {_toml_list(licences)}\n" if licences else ""
    return f"""[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "seqgrasp-{name.replace('_', '-')}"
version = "0.1.0"
description = "seqgrasp hand plugin: {name} (imported with `seqgrasp hand import`)"
requires-python = ">=3.11"
{lic}dependencies = ["seqgrasp"]

[project.entry-points.seqgrasp]
{name} = "{module}"

[tool.setuptools]
packages = ["{module}"]

[tool.setuptools.package-data]
{module} = ["*.urdf", "*.toml", "*.json"]
"""


def module_init(name: str) -> str:
    return f'''"""seqgrasp hand plugin: {name} (written by `seqgrasp hand import`)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from seqgrasp_core.api import HandSpec, hookimpl

HAND_FILE = Path(str(files(__name__) / "hand.toml"))


@hookimpl
def register_hands(register):
    register(HandSpec.from_files(HAND_FILE))
'''


def readme(report: ImportReport, module: str, urdf: str, licences: list[str],
           warnings: list[str]) -> str:
    name = report.name
    lic = (", ".join(f"`{x}`" for x in licences) + " (copied from beside the model)"
           if licences else "none found beside the model: check the model's licence "
                            "before you share this plugin")
    warn = "\n".join(f"- {w}" for w in warnings) or "- none"
    conformance = ("from seqgrasp_core.api import HandSpec, check_hand; "
                   f"check_hand(HandSpec.from_files('{module}/hand.toml'))")
    return f"""# seqgrasp-{name.replace('_', '-')}

A seqgrasp hand plugin written by `seqgrasp hand import` from `{report.source.name}`.

- source: `{report.source.name}`, sha256 `{report.sha256}`
- command: `{report.command}`
- licence: {lic}
- root body (the hand frame): `{report.root_body}`; {len(report.joints)} joints
- dropped joints (on the root and above): {', '.join(report.dropped_joints) or 'none'}
- rotation applied: {report.rotation_text()}

## Conventions

The hand frame is the URDF's root link: the palm faces +x, the fingers point +z. The
URDF's joint value 0 is the source's `ref`. Collision geometry is primitives only:
the source's boxes, spheres, capsules (a cylinder and two spheres) and cylinders are
carried over exactly; each mesh (and ellipsoid) is replaced by the box, capsule,
cylinder or sphere whose surface deviates least from the mesh's (the largest distance,
measured both ways). Each candidate starts as the one enclosing the mesh's convex hull
(the surface MuJoCo collides) and is then adjusted to deviate less, so a volume ratio
below 1 means the primitive cuts into the mesh somewhere. Rows deviating more than
5 mm are flagged: look at those links.

## Collision geometry

{report.fit_table()}

## Warnings

{warn}

## Next steps

Run these from this folder.

1. Install the plugin (editable: your edits below take effect without reinstalling):
   `pip install -e .`
2. Look at the hand: `seqgrasp hand show {name} --out {name}.png` (see its `--help`).
3. Adjust `{module}/contact_rules.toml` (pad directions, angles, regions), then
   regenerate the contacts:
   `seqgrasp hand contacts {module}/{urdf} --rules {module}/contact_rules.toml --out {module}/contacts.json`;
   adjust `{module}/hand.toml`: the open pose, the palm, the opposition spaces.
4. Check it with the conformance suite:
   `python -c "{conformance}"`
   (or `seqgrasp hand import … --check` when importing again).
5. Generate: `seqgrasp generate --hand {name} --first 2 --batch 8 --steps 200 --out run.parquet`
6. Validate: `seqgrasp validate run.parquet`
"""


def write_files(out_dir: Path, files: dict[str, bytes]) -> list[Path]:
    """Write ``files`` (relative path → content) under ``out_dir`` atomically, with the
    manifest; remove what an earlier import wrote there and this one does not."""
    old = _previous(out_dir)
    files = dict(files)
    files[MANIFEST] = (json.dumps({"written_by": "seqgrasp hand import",
                                   "files": sorted(files)}, indent=1) + "\n").encode()
    written = []
    for rel, data in files.items():
        path = out_dir / rel
        atomic_write_bytes(path, lambda tmp, d=data: tmp.write_bytes(d))
        written.append(path)
    for rel in sorted(set(old) - set(files)):
        stale = (out_dir / rel).resolve()
        if stale.is_file() and out_dir.resolve() in stale.parents:
            stale.unlink()
            parent = stale.parent
            if parent != out_dir.resolve() and not any(parent.iterdir()):
                parent.rmdir()
    return written


def _previous(out_dir: Path) -> list[str]:
    try:
        return [str(f) for f in json.loads((out_dir / MANIFEST).read_text())["files"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []
