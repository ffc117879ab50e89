"""One sequence of a run file as coloured meshes in the hand frame.

The hand frame (the URDF's root link) is the common frame of every step: object
``i`` is rigidly attached to the hand at the inverse of row ``i``'s pose, so it stays
where it is while later steps add objects and move other fingers. At step ``n`` the
hand's links are placed by forward kinematics of row ``n``'s joints, with the URDF's
collision primitives as their shapes; the contact points of steps ``1…n`` are the
run's ``contact_index`` candidates on the links at step ``n``.

Colours follow the paper's Fig. 5: objects go from light (first grasped) to dark
(last grasped); each contact point takes its object's colour, outlined in red.

:class:`Markers` and :class:`Segments` are the renderers' other shapes (coloured dots
and line segments, e.g. ``seqgrasp hand show``'s contact candidates and normals);
the camera looks at the palm (:mod:`.camera`), from the run's hand spec.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqgrasp_core.errors import HandSpecError, RunFileError
from seqgrasp_core.runs.runfile import sequence_rows
from seqgrasp_core.visualize.camera import HandAxes, hand_axes

HAND_COLOR = (0.72, 0.72, 0.74)
CONTACT_COLOR = (0.86, 0.08, 0.08)
_LIGHT = np.array((0.74, 0.86, 0.98))   # first object
_DARK = np.array((0.04, 0.19, 0.47))    # last object


def object_colors(n: int) -> list[tuple[float, float, float]]:
    """``n`` RGB colours (0–1) from light to dark blue, in grasp order."""
    if n <= 1:
        return [tuple(float(c) for c in (_LIGHT + _DARK) / 2)] * n
    return [tuple(float(c) for c in _LIGHT + (_DARK - _LIGHT) * i / (n - 1)) for i in range(n)]


@dataclass(frozen=True)
class MeshView:
    """A triangle mesh: ``vertices`` ``(V, 3)`` metres (hand frame), ``faces`` ``(F, 3)``."""

    name: str
    vertices: np.ndarray
    faces: np.ndarray
    color: tuple[float, float, float]


@dataclass(frozen=True)
class Markers:
    """Dots of one colour: ``points`` ``(M, 3)`` metres (hand frame); ``size`` is the
    dot's radius relative to the usual contact dot (1.0); ``overlay``: drawn over
    everything (not hidden by the meshes)."""

    label: str
    points: np.ndarray
    color: tuple[float, float, float]
    size: float = 1.0
    overlay: bool = False


@dataclass(frozen=True)
class Segments:
    """Line segments of one colour from ``starts`` ``(S, 3)`` to ``ends`` ``(S, 3)``
    (metres, hand frame); ``width`` in pixels; ``arrow``: a head at each end;
    ``overlay``: drawn over everything (not hidden by the meshes)."""

    label: str
    starts: np.ndarray
    ends: np.ndarray
    color: tuple[float, float, float]
    width: float = 1.0
    arrow: bool = False
    overlay: bool = False


@dataclass(frozen=True)
class StepView:
    """The scene after step ``step``: the hand, objects ``1…step`` and their contacts.

    ``hand`` are the collision primitives placed for this step's joints;
    ``contacts`` ``(2·step, 3)`` metres, hand frame, and ``contact_object`` ``(2·step,)``
    the 0-based object each contact belongs to.
    """

    step: int
    object_id: str
    os_name: str
    hand: tuple[MeshView, ...]
    contacts: np.ndarray
    contact_object: np.ndarray


@dataclass(frozen=True)
class SequenceView:
    """Everything needed to draw one sequence (all in the hand frame, metres)."""

    title: str
    hand_name: str
    sequence_id: int
    objects: tuple[MeshView, ...]
    steps: tuple[StepView, ...]
    axes: HandAxes  # the hand's palm and finger directions, for the camera

    def step_view(self, step: int) -> StepView:
        """The view of 1-based ``step``; :class:`RunFileError` if the sequence lacks it."""
        if not 1 <= step <= len(self.steps):
            raise RunFileError(f"sequence {self.sequence_id} has steps 1…{len(self.steps)}, "
                               f"not {step}", f"pass --step between 1 and {len(self.steps)}")
        return self.steps[step - 1]

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """``(lower, upper)`` corners ``(3,)`` of everything in every step."""
        pts = [m.vertices for m in self.objects]
        pts += [m.vertices for s in self.steps for m in s.hand]
        allp = np.concatenate(pts)
        return allp.min(axis=0), allp.max(axis=0)


def _transform(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    return p @ t[:3, :3].T + t[:3, 3]


def hand_shapes(spec, model) -> list[tuple[str, int, np.ndarray, np.ndarray]]:
    """The URDF's collision primitives as meshes in their link frames: ``(link, index of
    the link in model.link_names, vertices (V, 3) m, faces (F, 3))`` each."""
    from seqgrasp_core.hands.primitives import read_collision_primitives

    prims, _ = read_collision_primitives(spec.urdf_path)
    link_index = {name: i for i, name in enumerate(model.link_names)}
    shapes = []
    for prim in prims:
        if prim.link not in link_index:
            raise HandSpecError(f"hand {spec.name!r}: collision link {prim.link!r} is not in "
                                "its kinematic chain", "fix the URDF")
        m = prim.trimesh()
        shapes.append((prim.link, link_index[prim.link], np.asarray(m.vertices, np.float64),
                       np.asarray(m.faces, np.int64)))
    return shapes


def place_hand(shapes, links: np.ndarray, color=HAND_COLOR) -> tuple[MeshView, ...]:
    """:func:`hand_shapes` placed by link poses ``links`` ``(L, 4, 4)`` (hand frame)."""
    return tuple(MeshView(name, _transform(links[li], v), f, color) for name, li, v, f in shapes)


def placed_contacts(model, links: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every contact candidate of ``model`` placed by link poses ``links`` ``(L, 4, 4)``:
    points ``(C, 3)`` metres and inward unit normals ``(C, 3)``, hand frame, in the
    order of ``model.contact_local`` (the spec's groups, in order)."""
    local = model.contact_local.detach().double().cpu().numpy()
    normal = model.contact_normal_local.detach().double().cpu().numpy()
    t = links[model.contact_link.cpu().numpy()]                      # (C, 4, 4)
    points = np.einsum("cij,cj->ci", t[:, :3, :3], local) + t[:, :3, 3]
    return points, np.einsum("cij,cj->ci", t[:, :3, :3], normal)


def open_pose_links(model) -> np.ndarray:
    """Link poses ``(L, 4, 4)`` (hand frame) at the spec's open pose."""
    import torch

    with torch.no_grad():
        return model.link_transforms(model.open_pose.unsqueeze(0))[0].double().cpu().numpy()


def spec_axes(spec, model) -> HandAxes:
    """The hand's palm normal and finger direction (see :mod:`.camera`)."""
    points, _ = placed_contacts(model, open_pose_links(model))
    return hand_axes(spec.palm_center, spec.palm_normal, points)


def sequence_view(table, metadata: dict, spec, sequence_id: int, *,
                  objects_dir: str | Path | None = None, source: str = "the run file"
                  ) -> SequenceView:
    """Build the view of sequence ``sequence_id`` of a run ``table``.

    ``spec`` is the run's :class:`~seqgrasp_core.hands.spec.HandSpec`. Meshes are found
    as ``seqgrasp validate`` finds them: at each object's ``source`` path when the
    content hash matches, else in ``objects_dir`` by hash (:class:`MeshError` if not).
    """
    import torch

    from seqgrasp_core.geometry.pose import pose_to_matrix
    from seqgrasp_core.hands.model import HandModel
    from seqgrasp_core.validation.table import load_run_meshes

    rows = sequence_rows(table, sequence_id, source)
    k = spec.num_joints
    if any(len(r["joints"]) != k for r in rows):
        raise RunFileError(f"{source} has joint vectors that do not fit hand {spec.name!r} "
                           f"({k} joints)", "show it with the hand it was generated for")
    for r in rows:
        scale = r["object_scale"]
        if not (np.all(np.isfinite(np.concatenate((r["pose"], r["joints"]))))
                and math.isfinite(scale) and scale > 0):
            raise RunFileError(f"step {r['step']} of sequence {sequence_id} in {source} has a "
                               "pose, joint angle or scale that is not a finite number, so it "
                               "cannot be drawn", "show another sequence, or regenerate the run")
    meshes = load_run_meshes(metadata, objects_dir)
    colors = object_colors(len(rows))
    poses = np.asarray([r["pose"] for r in rows], dtype=np.float64)
    hand_to_object = pose_to_matrix(torch.as_tensor(poses)).numpy()
    objects = []
    for i, (row, t) in enumerate(zip(rows, hand_to_object)):
        mesh = meshes.get(row["object_sha256"])
        if mesh is None:
            raise RunFileError(f"row {i + 1} of sequence {sequence_id} names an object that "
                               "the run's metadata does not list", "regenerate the run file")
        verts = np.asarray(mesh.vertices, dtype=np.float64) * float(row["object_scale"])
        objects.append(MeshView(f"{i + 1}. {row['object_id']}",
                                _transform(np.linalg.inv(t), verts),
                                np.asarray(mesh.faces, dtype=np.int64), colors[i]))

    model = HandModel(spec, surface_points=16)
    shapes = hand_shapes(spec, model)
    joints = torch.as_tensor(np.asarray([r["joints"] for r in rows]), dtype=model.lower.dtype)
    contact_index = [list(r.get("contact_index") or []) for r in rows]
    with torch.no_grad():
        links = model.link_transforms(joints)  # (n, L, 4, 4)
        poses = model.link_poses(joints.T.contiguous())  # (3, 4, L, n)
        steps = []
        for n, row in enumerate(rows):
            hand = place_hand(shapes, links[n].double().numpy())
            idx = [(c, i) for i in range(n + 1) for c in contact_index[i]
                   if 0 <= c < model.contact_local.shape[0]]
            if idx:
                ci = torch.tensor([[c for c, _ in idx]], dtype=torch.long)
                identity = torch.eye(4, dtype=poses.dtype)[:3].unsqueeze(-1)  # (3, 4, 1)
                pts, _ = model.contacts(poses[..., n:n + 1], ci, identity)  # (3, c, 1)
                contacts = pts[:, :, 0].T.double().numpy()
            else:
                contacts = np.zeros((0, 3))
            steps.append(StepView(int(row["step"]), str(row["object_id"]), str(row["os_name"]),
                                  hand, contacts, np.asarray([i for _, i in idx], dtype=np.int64)))
    title = f"{spec.name} · sequence {sequence_id} · " + " → ".join(r["object_id"] for r in rows)
    return SequenceView(title, spec.name, sequence_id, tuple(objects), tuple(steps),
                        spec_axes(spec, model))
