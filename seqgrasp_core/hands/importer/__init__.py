"""``seqgrasp hand import``: a hand plugin from an MJCF or URDF model.

:func:`import_hand` reads the model with MuJoCo (:mod:`.source`), replaces mesh
collision geometry by fitted primitives (:mod:`.fit`), turns the root so that the palm
faces +x and the fingers point +z (:mod:`.frame`), builds the URDF's links and joints
(:mod:`.tree`, written by :mod:`.urdf`), derives the hand file's open pose, palm,
contact rules and opposition spaces (:mod:`.layout`) and writes the plugin package
(:mod:`.skeleton`). :class:`~.report.ImportReport` says what it did.

Hand frame convention: the hand frame is the URDF's root link; the palm faces +x and
the fingers point +z (as the bundled Allegro hand). See :mod:`.frame` for how the
import finds the source hand's palm and finger directions.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from seqgrasp_core.errors import HandSpecError
from seqgrasp_core.hands.contacts import write_contacts
from seqgrasp_core.hands.importer.fit import collision_shapes
from seqgrasp_core.hands.importer.frame import closing_weights, hand_frame, tips
from seqgrasp_core.hands.importer.layout import SPACING, plan, sample_groups
from seqgrasp_core.hands.importer.report import ImportReport
from seqgrasp_core.hands.importer.skeleton import (
    MANIFEST,
    check_out_dir,
    hand_toml,
    module_init,
    pyproject,
    readme,
    rules_toml,
    write_files,
)
from seqgrasp_core.hands.importer.source import read_source
from seqgrasp_core.hands.importer.tree import build_robot
from seqgrasp_core.hands.importer.urdf import urdf_text
from seqgrasp_core.hands.spec import HandSpec, urdf_link_names
from seqgrasp_core.system.outputs import prepare_output

__all__ = ["ImportReport", "import_hand"]

NAME = re.compile(r"^[a-z][a-z0-9_]*$")
LICENCE = re.compile(r"^(licen[cs]e|copying)", re.IGNORECASE)


def hand_name(name: str | None, fallback: str) -> str:
    """``name`` checked, or one made from ``fallback`` (the model's name or file stem)."""
    if name is not None:
        if not NAME.match(name):
            raise HandSpecError(f"--name {name!r} cannot name a plugin module",
                                "use lower-case letters, digits and _, starting with a letter")
        return name
    made = re.sub(r"[^a-z0-9]+", "_", fallback.lower()).strip("_") or "hand"
    return made if made[0].isalpha() else f"hand_{made}"


def _command(model: Path, out: Path, name: str, root: str | None, orient: bool) -> str:
    parts = ["seqgrasp", "hand", "import", model.name, "--out", str(out), "--name", name]
    parts += ["--root", root] if root else []
    parts += [] if orient else ["--no-orient"]
    return shlex.join(parts)


def import_hand(model_path: str | Path, out_dir: str | Path, name: str | None = None,
                root: str | None = None, *, orient: bool = True,
                check_name: Callable[[str], None] | None = None) -> ImportReport:
    """Write a hand plugin for the MJCF/URDF model ``model_path`` into ``out_dir``.

    ``root`` names the body that becomes the hand frame (default: the first body under
    the world with a movable joint below it); ``name`` the hand (default: from the
    model). With ``orient=False`` the hand frame is the root body's own frame.
    ``check_name``, when given, is called with the hand's name before anything is
    written (the CLI refuses names installed plugins use). A user mistake raises
    :class:`HandSpecError` and writes nothing.
    """
    model_path, out_dir = Path(model_path), Path(out_dir)
    check_out_dir(out_dir)
    source = read_source(model_path, root)
    name = hand_name(name, source.model_name or model_path.stem)
    if check_name is not None:
        check_name(name)
    warnings = list(source.warnings)

    shapes, fits = collision_shapes(source)
    if not any(shapes.values()):
        raise HandSpecError(f"{model_path.name} has no collision geometry in the hand",
                            "give the model collision geoms (boxes, capsules or meshes)")
    joints = source.hand_joints
    lower = np.array([j.lower for j in joints])
    upper = np.array([j.upper for j in joints])
    q_open = np.clip(0.0, lower, upper)
    weights = closing_weights(lower, upper, q_open)
    tip_points = tips(source, shapes)
    frame = hand_frame(source.body_poses, tip_points, q_open, weights, upper - q_open, orient)
    robot = build_robot(source, shapes, frame.rotation, name)
    layout = plan(source, robot, tip_points, frame.rotation.T @ frame.palm, weights,
                  upper - q_open, warnings)
    report = ImportReport(
        name=name, source=model_path, sha256=hashlib.sha256(model_path.read_bytes()).hexdigest(),
        out_dir=out_dir, hand_file=out_dir / f"seqgrasp_{name}" / "hand.toml",
        urdf=out_dir / f"seqgrasp_{name}" / f"{name}.urdf",
        root_body=source.names[source.root], joints=[j.name for j in robot.movable],
        dropped_joints=source.dropped_joints, rotation=frame.rotation,
        oriented=frame.oriented, fits=fits, opposition_spaces=[], groups={},
        command=_command(model_path, out_dir, name, root, orient), warnings=warnings)

    existed = out_dir.exists()
    prepare_output(out_dir / MANIFEST, "--out")
    try:
        report.files = write_files(out_dir, _package(report, robot, layout))
    except BaseException:
        if not existed and out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()  # a failed import leaves nothing behind
        raise
    return report


def _package(report: ImportReport, robot, layout) -> dict[str, bytes]:
    """Every file of the plugin (relative path → content). The URDF, contacts and hand
    file are staged in a temporary folder first: contacts are sampled on the URDF, and
    the hand file is loaded as the plugin will load it."""
    name, module, urdf_name = report.name, f"seqgrasp_{report.name}", report.urdf.name
    files: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="seqgrasp-import-") as tmp:
        staged = Path(tmp)
        (staged / urdf_name).write_text(urdf_text(robot, (
            f"{name}: written by `{report.command}` from {report.source.name}; root body "
            f"{report.root_body!r}; collision geometry is primitives only")))
        has_palm = any(link.shapes for link in robot.links if link.name == robot.root)
        sample_groups(staged / urdf_name, layout, robot.root if has_palm else None,
                      report.warnings)
        write_contacts(layout.groups, staged / "contacts.json",
                       note=f"seqgrasp hand contacts {urdf_name} --rules contact_rules.toml "
                            f"--spacing {SPACING * 1000:g}")
        description = (f"{name}: imported from {report.source.name} (root "
                       f"{report.root_body}), {len(report.joints)} joints")
        (staged / "hand.toml").write_text(hand_toml(name, description, urdf_name, layout))
        spec = HandSpec.from_files(staged / "hand.toml")
        spec.check(urdf_link_names(spec.urdf_path))
        for rel in (urdf_name, "contacts.json", "hand.toml"):
            files[f"{module}/{rel}"] = (staged / rel).read_bytes()
    report.opposition_spaces = [s.name for s in layout.spaces]
    report.groups = {g: len(e) for g, e in layout.groups.items()}
    licences = sorted(p for p in report.source.resolve().parent.iterdir()
                      if p.is_file() and LICENCE.match(p.name))
    files[f"{module}/contact_rules.toml"] = rules_toml(layout, urdf_name,
                                                      SPACING * 1000).encode()
    files[f"{module}/__init__.py"] = module_init(name).encode()
    files["pyproject.toml"] = pyproject(name, module, [p.name for p in licences]).encode()
    files["README.md"] = readme(report, module, urdf_name, [p.name for p in licences],
                                report.warnings).encode()
    for lic in licences:
        files[lic.name] = lic.read_bytes()
    return files
