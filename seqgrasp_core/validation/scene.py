"""MuJoCo scenes: the hand from its URDF plus the objects held so far.

The hand's URDF is imported as it is (its collision primitives, inertials and joint
limits); its root link is fixed to the world, so the world frame is the hand frame.
Each hand joint gets a position actuator, every hand body gets gravity compensation
(the test acceleration acts on the objects only), and each object is a free body
made of its convex pieces with the inertia of its real mesh at the protocol's
density. Hand geoms do not collide with each other; hand–object and object–object
pairs do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqgrasp_core.validation.convex import Piece
from seqgrasp_core.validation.protocol import ValidationProtocol

HAND_BITS, OBJECT_BITS = 1, 2


@dataclass(frozen=True)
class MuJoCoSettings:
    """How the protocol is realised in MuJoCo (see docs/validation.md).

    ``timestep`` is MuJoCo's step (s); ``kp`` (N·m/rad) and ``dampratio`` define the
    joints' position drives, ``force_limit`` (N·m) their torque limit (the URDF's
    effort when ``None``). ``armature`` (kg·m²) is each joint's added rotor inertia:
    with ``kp`` it sets the drive's natural frequency, √(kp / armature) = 112 rad/s,
    and MuJoCo integrates a drive's position term explicitly, so that frequency times
    ``timestep`` must stay well below 2 (here 0.93). ``squeeze`` (m) is how far past first contact the closing
    procedure sets each finger's target, so the drives press on the object.
    ``noslip_iterations`` runs MuJoCo's noslip post-processor, which makes friction
    hard (0: off; see docs/validation.md for how much it moves success rates).
    ``settle_speed`` (m/s), off by default, ends a run as soon as every object has
    moved slower than it at ``settle_checks`` consecutive checks (10 steps apart), and
    tests touch there: faster, but not the protocol, since an object at rest for half
    a second can still slip out later (docs/validation.md measures how often).
    """

    timestep: float = 1.0 / 120.0
    kp: float = 50.0
    dampratio: float = 1.0
    armature: float = 0.004
    force_limit: float | None = None
    squeeze: float = 0.003
    impratio: float = 10.0
    condim: int = 4
    torsional_friction: float = 0.01
    close_iterations: int = 40
    close_step: float = 0.05  # rad, largest joint change per closing iteration
    noslip_iterations: int = 0
    settle_speed: float | None = None  # m/s; None (default): every run takes the full time
    settle_checks: int = 5


@dataclass(frozen=True)
class SceneObject:
    """An object for the scene: convex pieces and mass properties (object frame)."""

    pieces: tuple[Piece, ...]
    mass: float
    com: np.ndarray          # (3,) metres
    inertia: np.ndarray      # (3, 3) kg·m² about ``com``


def scene_object(mesh, pieces: list[Piece], density: float) -> SceneObject:
    """Mass properties from the real (watertight) mesh at ``density`` kg/m³."""
    m = mesh.copy()
    m.density = density
    return SceneObject(tuple(pieces), float(m.mass), np.asarray(m.center_mass, dtype=float),
                       np.asarray(m.moment_inertia, dtype=float))


@dataclass
class SceneIndex:
    """Where things are in a compiled scene (all in the hand spec's joint order)."""

    qpos: np.ndarray          # (K,) qpos address of each hand joint
    dof: np.ndarray           # (K,) dof address of each hand joint
    actuator: np.ndarray      # (K,) actuator id of each hand joint
    lower: np.ndarray         # (K,) joint limits, rad
    upper: np.ndarray
    object_qpos: list[int]    # free-joint qpos address of object i
    object_body: list[int]
    hand_geoms: np.ndarray    # geom ids of the hand
    object_geoms: list[np.ndarray]


def build_model(urdf_path: str, joint_names: tuple[str, ...], objects: list[SceneObject],
                protocol: ValidationProtocol, settings: MuJoCoSettings):
    """Compile the scene; returns ``(mujoco.MjModel, SceneIndex)``."""
    import mujoco

    spec = mujoco.MjSpec.from_file(str(urdf_path))
    spec.option.timestep = settings.timestep
    spec.option.gravity = [0.0, 0.0, 0.0]
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.option.impratio = settings.impratio
    spec.option.noslip_iterations = settings.noslip_iterations
    friction = [protocol.friction, settings.torsional_friction, 0.0001]
    for body in spec.bodies:
        if body.name != "world":
            body.gravcomp = 1.0
    for geom in spec.geoms:
        geom.contype, geom.conaffinity = HAND_BITS, OBJECT_BITS
        geom.friction = friction
        geom.condim = settings.condim
    for joint in spec.joints:
        joint.damping = [0.0, 0.0, 0.0]
        joint.armature = settings.armature
    for name in joint_names:
        act = spec.add_actuator()
        act.name = f"drive_{name}"
        act.target = name
        act.trntype = mujoco.mjtTrn.mjTRN_JOINT
        act.set_to_position(kp=settings.kp, dampratio=settings.dampratio)
        if settings.force_limit is not None:
            act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
            act.forcerange = [-settings.force_limit, settings.force_limit]
    for i, obj in enumerate(objects):
        body = spec.worldbody.add_body()
        body.name = f"object{i}"
        body.explicitinertial = True
        body.mass = obj.mass
        body.ipos = obj.com
        inertia = obj.inertia
        body.fullinertia = [inertia[0, 0], inertia[1, 1], inertia[2, 2],
                            inertia[0, 1], inertia[0, 2], inertia[1, 2]]
        body.add_freejoint().name = f"object{i}_free"
        for j, (verts, faces) in enumerate(obj.pieces):
            mesh = spec.add_mesh()
            mesh.name = f"object{i}_piece{j}"
            mesh.uservert = np.asarray(verts, dtype=np.float64).ravel()
            mesh.userface = np.asarray(faces, dtype=np.int32).ravel()
            mesh.inertia = mujoco.mjtMeshInertia.mjMESH_INERTIA_SHELL
            geom = body.add_geom()
            geom.type = mujoco.mjtGeom.mjGEOM_MESH
            geom.meshname = mesh.name
            geom.contype, geom.conaffinity = OBJECT_BITS, HAND_BITS | OBJECT_BITS
            geom.friction = friction
            geom.condim = settings.condim
            geom.mass = 0.0
    model = spec.compile()
    return model, _index(model, joint_names, len(objects))


def _index(model, joint_names, n_objects: int) -> SceneIndex:
    import mujoco

    jid = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, n) for n in joint_names]
    aid = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, f"drive_{n}")
           for n in joint_names]
    bodies = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, f"object{i}")
              for i in range(n_objects)]
    geom_body = model.geom_bodyid
    object_geoms = [np.nonzero(geom_body == b)[0] for b in bodies]
    hand = np.nonzero(~np.isin(geom_body, bodies) & (geom_body > 0))[0]
    return SceneIndex(
        qpos=model.jnt_qposadr[jid].copy(), dof=model.jnt_dofadr[jid].copy(),
        actuator=np.asarray(aid), lower=model.jnt_range[jid, 0].copy(),
        upper=model.jnt_range[jid, 1].copy(),
        object_qpos=[int(model.jnt_qposadr[model.body_jntadr[b]]) for b in bodies],
        object_body=bodies, hand_geoms=hand, object_geoms=object_geoms)
