"""The MANO hand as a kinematic URDF, and the real MANO surface when the user has it.

MANO (Romero et al., 2017) has 16 joints: the wrist (root) and three per finger, in
the order index, middle, pinky, ring, thumb. Each finger joint turns in 3 DoF
(axis-angle, in frames aligned with the root at the rest pose). Here each MANO joint is
three revolute joints about the root-aligned x, y and z axes, joined by two small dummy
links (``<joint>_x``, ``<joint>_y``), so the link of MANO joint ``index1`` is the segment
from ``index1`` to ``index2``. Frames: MANO's own (metres, rest pose: fingers along -x,
palm facing -y, thumb towards +z); the root link ``palm`` has its origin at the wrist.

Nothing here imports ``smplx`` unless :func:`load_mano_surface` is called.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from pathlib import Path

import numpy as np

from seqgrasp_core.api import HandSpecError, PluginError

INSTALL_MANO = 'pip install "seqgrasp[mano]"'
"""How to get smplx (the real MANO surface), which is the optional extra ``mano``."""

FINGERS = ("index", "middle", "pinky", "ring", "thumb")
JOINTS16 = ("wrist",) + tuple(f"{f}{i}" for f in FINGERS for i in (1, 2, 3))
# Rest-pose joint positions of the mean MANO right hand (J_regressor · v_template of
# MANO_RIGHT.pkl, metres, MANO order), as published in several open projects (the wrist
# value is the well-known MANO "wrist offset" 0.0957, 0.0064, 0.0062).
MEAN_JOINTS = np.array([
    [0.09566994, 0.00638343, 0.0061863],
    [0.00757268, 0.00118307, 0.0268723],
    [-0.02510622, 0.00519243, 0.02908936],
    [-0.04726213, 0.003894, 0.02897524],
    [0.00100949, 0.00490447, 0.00282876],
    [-0.03017318, 0.00676579, -0.00276574],
    [-0.05307782, 0.00551369, -0.00671026],
    [0.02688296, -0.0035569, -0.03702303],
    [0.00986855, -0.00349507, -0.04952181],
    [-0.00599835, -0.00418623, -0.05985371],
    [0.01393437, 0.00242601, -0.02048689],
    [-0.0143799, 0.00449301, -0.02558542],
    [-0.03790042, 0.0028049, -0.03321924],
    [0.07158022, -0.00913891, 0.03199915],
    [0.05194698, -0.00824762, 0.0556987],
    [0.02972924, -0.01368059, 0.07022282],
])
DISTAL_RATIO = 0.9    # distal segment length / middle segment length (anatomical choice)
# Capsule radius of each finger's first segment (m); the second and third are 90 % and
# 80 % of it (typical adult finger widths: index ~17 mm, little ~14 mm at the base).
RADIUS = {"index": 0.0085, "middle": 0.0085, "ring": 0.008, "pinky": 0.007, "thumb": 0.0095}
PALM_RADIUS = 0.0105  # metacarpal capsules of the palm (palm ~21 mm thick)
# Joint limits (rad) per axis (x = twist, y = spread, z = flexion for the fingers):
# chosen anatomical ranges, generous on purpose; the thumb flexes about a mix of x and z.
LIMITS = {
    1: {"x": (-0.2, 0.2), "y": (-0.4, 0.4), "z": (-0.3, 1.6)},
    2: {"x": (-0.1, 0.1), "y": (-0.1, 0.1), "z": (0.0, 1.8)},
    3: {"x": (-0.1, 0.1), "y": (-0.1, 0.1), "z": (0.0, 1.4)},
}
THUMB_LIMITS = {
    1: {"x": (-0.8, 1.0), "y": (-0.6, 0.6), "z": (-0.8, 1.0)},
    2: {"x": (-0.3, 1.2), "y": (-0.3, 0.3), "z": (-0.3, 1.2)},
    3: {"x": (-0.3, 1.2), "y": (-0.3, 0.3), "z": (-0.3, 1.2)},
}
DENSITY = 1000.0  # kg/m³, for the inertials


def joint_names() -> list[str]:
    """The 45 revolute joints in MANO's hand-pose order (joint, then x, y, z)."""
    return [f"{j}_{a}" for j in JOINTS16[1:] for a in "xyz"]


def tips_from_joints(joints: np.ndarray) -> np.ndarray:
    """Fingertip positions ``(5, 3)``: the distal segment continues the middle one."""
    out = []
    for k in range(5):
        j2, j3 = joints[1 + 3 * k + 1], joints[1 + 3 * k + 2]
        out.append(j3 + DISTAL_RATIO * (j3 - j2))
    return np.array(out)


def _f(v) -> str:
    return " ".join(f"{float(x):.7g}" if abs(x) > 1e-12 else "0" for x in np.atleast_1d(v))


def _inertial(mass: float, com, ixx: float) -> str:
    return (f'    <inertial><origin xyz="{_f(com)}" rpy="0 0 0"/><mass value="{mass:.6g}"/>'
            f'<inertia ixx="{ixx:.6g}" ixy="0" ixz="0" iyy="{ixx:.6g}" iyz="0" izz="{ixx:.6g}"/>'
            "</inertial>")


def _capsule(a: np.ndarray, b: np.ndarray, r: float) -> list[str]:
    """Cylinder plus two end spheres from ``a`` to ``b`` (link frame)."""
    d = b - a
    length = float(np.linalg.norm(d))
    z = d / length
    pitch = np.arccos(np.clip(z[2], -1, 1))
    yaw = np.arctan2(z[1], z[0])
    # R = Rz(yaw) · Ry(pitch) maps +z to d; as URDF rpy (fixed x, y, z) = (0, pitch, yaw).
    out = []
    for geom, xyz, rpy in ((f'<cylinder radius="{r:.6g}" length="{length:.7g}"/>', (a + b) / 2,
                            (0.0, pitch, yaw)),
                           (f'<sphere radius="{r:.6g}"/>', a, (0, 0, 0)),
                           (f'<sphere radius="{r:.6g}"/>', b, (0, 0, 0))):
        for tag in ("visual", "collision"):
            out.append(f'    <{tag}><origin xyz="{_f(xyz)}" rpy="{_f(rpy)}"/>'
                       f"<geometry>{geom}</geometry></{tag}>")
    return out


def _palm_segments(joints: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Four metacarpal capsules from near the wrist to just short of each finger's
    first joint, in the palm frame (origin at the wrist)."""
    wrist = joints[0]
    segs = []
    for k, finger in enumerate(FINGERS[:4]):
        mcp = joints[1 + 3 * k]
        d = mcp - wrist
        u = d / np.linalg.norm(d)
        start = wrist + 0.15 * d
        end = mcp - u * (RADIUS[finger] + 0.002)
        segs.append((start - wrist, end - wrist))
    return segs


def build_urdf(joints: np.ndarray, tips: np.ndarray | None = None, name: str = "mano_right") -> str:
    """URDF text of the kinematic MANO hand for rest joints ``(16, 3)`` (MANO order, m)."""
    joints = np.asarray(joints, dtype=float)
    tips = tips_from_joints(joints) if tips is None else np.asarray(tips, dtype=float)
    lines = ['<?xml version="1.0"?>',
             "<!-- Kinematic MANO right hand written by plugins/mano/model.py (seqgrasp);",
             "     joint positions of the mean MANO shape, see README.md. -->",
             f'<robot name="{name}">',
             '  <mujoco><compiler discardvisual="true" fusestatic="false" angle="radian"/></mujoco>',
             '  <link name="palm">',
             _inertial(0.25, (joints[1:13:3].mean(0) + joints[0]) / 2 - joints[0], 2e-4)]
    for a, b in _palm_segments(joints):
        lines += _capsule(a, b, PALM_RADIUS)
    lines.append("  </link>")
    joint_xml = []
    for k, finger in enumerate(FINGERS):
        limits = THUMB_LIMITS if finger == "thumb" else LIMITS
        parent, parent_pos = "palm", joints[0]
        for i in (1, 2, 3):
            idx = 1 + 3 * k + (i - 1)
            here = joints[idx]
            nxt = joints[idx + 1] if i < 3 else tips[k]
            seg = f"{finger}{i}"
            r = RADIUS[finger] * (1.0, 0.9, 0.8)[i - 1]
            for axis_i, axis in enumerate("xyz"):
                child = seg if axis == "z" else f"{seg}_{axis}"
                origin = here - parent_pos if axis == "x" else np.zeros(3)
                lo, hi = limits[i][axis]
                vec = np.eye(3)[axis_i]
                joint_xml.append(
                    f'  <joint name="{seg}_{axis}" type="revolute"><parent link="{parent}"/>'
                    f'<child link="{child}"/><origin xyz="{_f(origin)}" rpy="0 0 0"/>'
                    f'<axis xyz="{_f(vec)}"/><limit lower="{lo}" upper="{hi}" effort="2.0" '
                    f'velocity="6.0"/><dynamics damping="0.05"/></joint>')
                if axis != "z":  # dummy link between two of the three rotations
                    lines.append(f'  <link name="{child}">{_inertial(1e-3, (0, 0, 0), 1e-8).strip()}</link>')
                parent = child
            length = float(np.linalg.norm(nxt - here))
            mass = DENSITY * np.pi * r * r * (length + 4 / 3 * r)
            lines.append(f'  <link name="{seg}">')
            lines.append(_inertial(mass, (nxt - here) / 2, mass * (length ** 2 + 3 * r * r) / 12))
            lines += _capsule(np.zeros(3), nxt - here, r)
            lines.append("  </link>")
            parent_pos = here
    return "\n".join(lines + joint_xml + ["</robot>", ""])


# --------------------------------------------------------------------------- real MANO

def mano_file(model: str | Path) -> Path:
    """The ``MANO_RIGHT.pkl`` in a model folder (or the file itself)."""
    model = Path(model).expanduser()
    path = model / "MANO_RIGHT.pkl" if model.is_dir() else model
    if not path.is_file():
        raise HandSpecError(f"MANO model {path} not found",
                            "point -o model=PATH / SEQGRASP_MANO_MODEL at the folder with "
                            "MANO_RIGHT.pkl (from mano.is.tue.mpg.de)")
    return path


def load_mano_surface(model: str | Path) -> dict:
    """The mean-shape MANO right hand at the rest pose, through ``smplx``.

    Returns ``joints (16, 3)``, ``vertices (V, 3)``, ``normals (V, 3)`` (outward),
    ``faces (F, 3)``, ``part (V,)`` (index of the joint with the largest skinning
    weight), all in MANO's frame (metres), and ``digest`` (of the model file).
    """
    try:
        import smplx
    except ImportError:
        raise PluginError("the real MANO surface needs smplx, which is not installed",
                          f"{INSTALL_MANO}  (or: pip install smplx)") from None
    import torch
    import trimesh

    path = mano_file(model)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # smplx prints notes on stdout
            layer = smplx.MANO(str(path), is_rhand=True, use_pca=False, flat_hand_mean=True)
        with torch.no_grad():
            out = layer(betas=torch.zeros(1, layer.num_betas),
                        global_orient=torch.zeros(1, 3), hand_pose=torch.zeros(1, 45))
    except Exception as exc:  # a wrong or damaged model file
        raise HandSpecError(f"smplx cannot load the MANO model {path.name}: "
                            f"{type(exc).__name__}: {exc}",
                            "use MANO_RIGHT.pkl from mano.is.tue.mpg.de") from None
    vertices = out.vertices[0].double().numpy()
    joints = out.joints[0, :16].double().numpy()
    faces = np.asarray(layer.faces, dtype=np.int64)
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    part = layer.lbs_weights.argmax(dim=1).numpy()
    return {"joints": joints, "vertices": vertices, "normals": np.asarray(mesh.vertex_normals),
            "faces": faces, "part": part,
            "digest": hashlib.sha256(path.read_bytes()).hexdigest()[:16]}


def mesh_tips(surface: dict) -> np.ndarray:
    """Fingertips ``(5, 3)``: the vertex of each distal part farthest along the finger."""
    tips = []
    for k in range(5):
        j2, j3 = surface["joints"][1 + 3 * k + 1], surface["joints"][1 + 3 * k + 2]
        u = (j3 - j2) / np.linalg.norm(j3 - j2)
        verts = surface["vertices"][surface["part"] == 1 + 3 * k + 2]
        if len(verts) == 0:
            tips.append(j3 + DISTAL_RATIO * (j3 - j2))
            continue
        reach = float(((verts - j3) @ u).max())
        tips.append(j3 + u * max(reach, 0.005))
    return np.array(tips)


def surface_in_link_frames(surface: dict) -> tuple[np.ndarray, tuple[str, ...]]:
    """Vertices in the frame of their link (largest skinning weight), with link names.

    At the rest pose every link frame is the root frame moved to its MANO joint, so a
    vertex's link-frame position is its offset from that joint.
    """
    links = ("palm",) + JOINTS16[1:]
    part = surface["part"]
    local = surface["vertices"] - surface["joints"][part]
    return local, tuple(links[p] for p in part)
