"""Reading a hand model (MJCF or URDF) with MuJoCo, and picking the hand's tree out of it.

MuJoCo parses the file (:class:`mujoco.MjSpec`) and compiles it, so defaults, includes,
``fromto``, degrees, ``autolimits`` and mesh scaling mean exactly what they mean in
MuJoCo. Before compiling, mesh file names are resolved here (``package://`` prefixes
of URDFs are looked up next to the model and in its parent folders); a missing mesh
of a visual-only geom is dropped with a warning, a missing collision mesh is an error.

The *root* is the body that becomes the hand frame: ``--root`` (a body with a movable
joint below it; never the world body) or, by default, the first body under the world
with a movable joint below it. Joints on the root and
above it (a free joint, wrist joints) are dropped and reported; so is everything
outside the root's subtree.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seqgrasp_core.errors import HandSpecError
from seqgrasp_core.hands.importer.transforms import mj_pose

# MuJoCo's enum values (mjtJoint, mjtGeom), named once.
FREE, BALL, SLIDE, HINGE = 0, 1, 2, 3
GEOM_KINDS = {0: "plane", 1: "hfield", 2: "sphere", 3: "capsule", 4: "ellipsoid",
              5: "cylinder", 6: "box", 7: "mesh", 8: "sdf"}


@dataclass(frozen=True)
class SourceJoint:
    """One degree of freedom of the hand, as the URDF will have it.

    ``axis`` (unit) and ``anchor`` (m) are in the frame of body ``body``; the URDF
    value 0 is the source's ``ref`` (``qpos0``), so ``lower``/``upper`` are the
    source's range minus ``ref``. A ball joint gives three of these (``ball_axis``
    0, 1, 2, about the body's x, y, z).
    """

    name: str
    kind: str  # "revolute" or "prismatic"
    body: int
    mj_joint: int
    axis: np.ndarray
    anchor: np.ndarray
    lower: float
    upper: float
    ref: float
    damping: float
    friction: float
    effort: float
    ball_axis: int | None = None


@dataclass(frozen=True)
class SourceGeom:
    """A collision geom of ``body``: ``kind`` as MuJoCo names it, MuJoCo's ``size``,
    ``pose`` (4×4) in the body frame; for a mesh its vertices (in the geom frame, as
    MuJoCo compiled them) and faces."""

    body: int
    name: str
    kind: str
    size: np.ndarray
    pose: np.ndarray
    mesh: str = ""
    vertices: np.ndarray | None = None
    faces: np.ndarray | None = None


@dataclass
class Source:
    """The hand part of a compiled model: ``bodies`` are the root and its subtree in
    MuJoCo's (depth-first) order, ``names`` their link names."""

    path: Path
    model: object  # mujoco.MjModel
    root: int
    bodies: list[int]
    names: dict[int, str]
    joints: dict[int, list[SourceJoint]]
    geoms: dict[int, list[SourceGeom]]
    warnings: list[str] = field(default_factory=list)
    dropped_joints: list[str] = field(default_factory=list)
    model_name: str = ""

    @property
    def hand_joints(self) -> list[SourceJoint]:
        return [j for b in self.bodies for j in self.joints[b]]

    def parent(self, body: int) -> int:
        return int(self.model.body_parentid[body])

    def children(self, body: int) -> list[int]:
        return [b for b in self.bodies if b != self.root and self.parent(b) == body]

    def body_poses(self, q: np.ndarray) -> dict[int, np.ndarray]:
        """Body frames (4×4) relative to the root body's frame at the URDF joint values
        ``q`` (one per :attr:`hand_joints`, in that order)."""
        import mujoco

        m = self.model
        data = mujoco.MjData(m)
        qpos = m.qpos0.copy()
        balls: dict[int, np.ndarray] = {}
        for joint, value in zip(self.hand_joints, np.asarray(q, dtype=float)):
            adr = int(m.jnt_qposadr[joint.mj_joint])
            if joint.ball_axis is None:
                qpos[adr] = joint.ref + value
            else:  # x, then y, then z about the rotated axes, as the split chain does
                rot = balls.get(joint.mj_joint, np.eye(3))
                balls[joint.mj_joint] = rot @ _axis_rotation(np.eye(3)[joint.ball_axis], value)
        for j, rot in balls.items():
            adr = int(m.jnt_qposadr[j])
            quat = np.zeros(4)
            mujoco.mju_mat2Quat(quat, rot.ravel())
            qpos[adr:adr + 4] = quat
        data.qpos[:] = qpos
        mujoco.mj_kinematics(m, data)
        root = mj_pose(data.xpos[self.root], data.xquat[self.root])
        inv = np.linalg.inv(root)
        return {b: inv @ mj_pose(data.xpos[b], data.xquat[b]) for b in self.bodies}


def _axis_rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    x, y, z = axis
    k = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k


# --------------------------------------------------------------------------- reading

def model_kind(path: Path) -> str:
    """``"mjcf"`` or ``"urdf"`` from the file's root element; a one-line error otherwise."""
    if not path.is_file():
        raise HandSpecError(f"model file {path} not found",
                            "give the path of an MJCF (.xml) or URDF (.urdf) hand model")
    try:
        tag = next(ET.iterparse(path, events=("start",)))[1].tag
    except (ET.ParseError, OSError, StopIteration, UnicodeDecodeError) as exc:
        raise HandSpecError(f"{path.name} is not an MJCF or URDF model (not XML: {exc})",
                            "give a MuJoCo .xml (MJCF) or a .urdf file") from None
    if tag == "mujoco":
        return "mjcf"
    if tag == "robot":
        return "urdf"
    raise HandSpecError(f"{path.name} is not an MJCF or URDF model (its root element is "
                        f"<{tag}>)", "give a file whose root element is <mujoco> or <robot>")


def read_source(path: str | Path, root: str | None = None) -> Source:
    """Parse and compile ``path`` with MuJoCo and collect the hand below the root body."""
    import mujoco

    path = Path(path)
    model_kind(path)
    try:
        spec = mujoco.MjSpec.from_file(str(path))
    except ValueError as exc:
        raise HandSpecError(f"MuJoCo cannot read {path.name}: {_first_line(exc)}",
                            "fix the model file (MuJoCo's message names the element)") from None
    warnings: list[str] = []
    _resolve_meshes(spec, path, _spec_root(spec, root), warnings)
    _strip_appearance(spec)
    spec.compiler.fusestatic = False  # keep every body: fixed links stay links
    try:
        model = spec.compile()
    except ValueError as exc:
        raise HandSpecError(f"MuJoCo cannot compile {path.name}: {_first_line(exc)}",
                            "fix the model file (MuJoCo's message names the element)") from None
    return _collect(path, model, root, warnings, spec.modelname or "")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().removeprefix("Error:").strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _mesh_candidates(file: str, model_dir: Path, meshdir: str, strip: bool) -> list[Path]:
    if file.startswith("package://"):
        package, _, rest = file[len("package://"):].partition("/")
        found = []
        for folder in [model_dir, *model_dir.parents][:6]:
            found += [folder / rest, folder / package / rest]
            if folder.name == package:
                found.insert(0, folder / rest)
        return found
    file = file.removeprefix("file://")
    p = Path(file)
    if strip:
        p = Path(p.name)
    if p.is_absolute():
        return [p]
    base = Path(meshdir) if Path(meshdir).is_absolute() else model_dir / meshdir
    return [base / p, model_dir / p]


def _spec_root(spec, root: str | None):
    """The root body of the parsed model as :func:`_choose_root` will pick it after
    compiling, or ``None`` when there is none (the compiled model then says why)."""
    def moving_below(body) -> bool:
        return any(len(child.joints) or moving_below(child) for child in body.bodies)

    if root is not None:
        body = spec.body(root)
        names = [b.name for b in spec.bodies
                 if b.name and b != spec.worldbody and moving_below(b)]
        if body is None:
            raise HandSpecError(f"the model has no body {root!r}",
                                f"choose --root from: {', '.join(names)}")
        if body == spec.worldbody:
            raise _world_root(root, names)
        return body
    return next((b for b in spec.worldbody.bodies if moving_below(b)), None)


def _inside(body, root) -> bool:
    """Whether ``body`` is ``root`` or below it (every body is, without a root)."""
    if root is None:
        return True
    while body is not None:
        if body == root:
            return True
        body = body.parent
    return False


def _resolve_meshes(spec, path: Path, root, warnings: list[str]) -> None:
    """Give every mesh an absolute file name; drop missing meshes that only visual
    geoms or geoms outside the hand (not below ``root``) use; a missing collision mesh
    of the hand is an error."""
    model_dir = path.resolve().parent
    meshdir = spec.compiler.meshdir or spec.meshdir or ""
    users: dict[str, list] = {}
    for geom in spec.geoms:
        if geom.meshname:
            users.setdefault(geom.meshname, []).append(geom)
    missing = []
    for mesh in spec.meshes:
        if not mesh.file:
            continue  # vertices given inline
        found = next((p for p in _mesh_candidates(mesh.file, model_dir, meshdir,
                                                  bool(spec.strippath)) if p.is_file()), None)
        if found is not None:
            mesh.file = str(found)
            continue
        name = mesh.name or Path(mesh.file).stem
        colliding = [g for g in users.get(name, [])
                     if _collides(g) and _inside(g.parent, root)]
        if colliding:
            body = colliding[0].parent.name or "(unnamed)"
            raise HandSpecError(
                f"mesh file {mesh.file} not found (collision mesh {name!r} of body {body!r}; "
                f"looked in {model_dir / meshdir if meshdir else model_dir})",
                "put the model's mesh files where the model names them")
        missing.append((mesh, name))
    if not missing:
        return
    lost_mass = set()
    for mesh, name in missing:
        for geom in users.get(name, []):
            body = geom.parent
            spec.delete(geom)
            lost_mass.add(body.name)
            if not body.explicitinertial:
                rest = list(body.geoms)
                if rest and all(g.mass == 0 for g in rest):
                    for g in rest:  # let density give the body a mass
                        g.mass = math.nan
        spec.delete(mesh)
    example = missing[0][0].file
    warnings.append(f"{len(missing)} mesh file(s) of visual-only geoms or of bodies "
                    f"outside the hand not found (e.g. {example}): those geoms are skipped, "
                    "so the inertials of bodies "
                    f"{', '.join(sorted(n or '(unnamed)' for n in lost_mass)[:4])}"
                    f"{', …' if len(lost_mass) > 4 else ''} come from the remaining geoms")


def _collides(geom) -> bool:
    return bool(geom.contype or geom.conaffinity)


def _strip_appearance(spec) -> None:
    """Textures, skins and materials only colour things: dropped, so that their files
    (often not shipped with a model) are never opened."""
    for item in [*spec.geoms, *spec.sites, *spec.tendons]:
        item.material = ""
    for items in (spec.skins, spec.textures, spec.materials):
        for item in list(items):
            spec.delete(item)


# --------------------------------------------------------------------------- the tree

def _name(model, kind, i: int, fallback: str) -> str:
    import mujoco

    return mujoco.mj_id2name(model, kind, i) or fallback


def _world_root(root: str, candidates: list[str]) -> HandSpecError:
    return HandSpecError(f"--root {root!r} is the model's world body, not a body of the hand",
                         f"choose --root from: {', '.join(candidates)}")


def _choose_root(model, root: str | None, moving_below: dict[int, bool]) -> int:
    import mujoco

    if root is not None:
        rid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, root)
        candidates = [_name(model, mujoco.mjtObj.mjOBJ_BODY, b, "") for b in
                      range(1, model.nbody) if moving_below[b]]
        candidates = [c for c in candidates if c]
        if rid < 0:
            raise HandSpecError(f"the model has no body {root!r}",
                                f"choose --root from: {', '.join(candidates)}")
        if rid == 0:
            raise _world_root(root, candidates)
        if not moving_below[rid]:
            raise HandSpecError(f"body {root!r} has no movable joint below it",
                                "choose a body above the fingers (e.g. the palm) as --root")
        return rid
    for b in range(1, model.nbody):
        if model.body_parentid[b] == 0 and moving_below[b]:
            return b
    raise HandSpecError("the model has no movable joint below any body",
                        "import a hand model with hinge or slide joints")


def _collect(path: Path, model, root_name: str | None, warnings: list[str],
             model_name: str) -> Source:
    import mujoco

    nb = model.nbody
    parent = model.body_parentid
    own_moving = [False] * nb
    for j in range(model.njnt):
        own_moving[model.jnt_bodyid[j]] = True
    moving_below = {b: False for b in range(nb)}
    for b in range(nb - 1, 0, -1):  # children come after parents in MuJoCo's order
        if own_moving[b] or moving_below[b]:
            moving_below[int(parent[b])] = True
    root = _choose_root(model, root_name, moving_below)

    def inside(b: int) -> bool:
        while b > 0:
            if b == root:
                return True
            b = int(parent[b])
        return False

    bodies = [b for b in range(1, nb) if inside(b)]
    names: dict[int, str] = {}
    for b in bodies:
        name = _name(model, mujoco.mjtObj.mjOBJ_BODY, b, f"body{b}")
        names[b] = name if name not in names.values() else f"{name}_{b}"

    def jname(j: int) -> str:
        return _name(model, mujoco.mjtObj.mjOBJ_JOINT, j, f"joint{j}")

    dropped = [jname(j) for j in range(model.njnt)
               if not inside(int(model.jnt_bodyid[j])) or model.jnt_bodyid[j] == root]
    outside = [_name(model, mujoco.mjtObj.mjOBJ_BODY, b, f"body{b}")
               for b in range(1, nb) if not inside(b)]
    if dropped:
        warnings.append(f"joints on the root {names[root]!r} and above or outside the hand "
                        f"are dropped: {', '.join(dropped)}")
    if outside:
        warnings.append(f"{len(outside)} bodies above or beside the root {names[root]!r} are "
                        f"left out with their geometry: {', '.join(outside[:4])}"
                        f"{', …' if len(outside) > 4 else ''}")
    if root_name is None:
        _wrist_hint(model, root, bodies, names, moving_below, jname, warnings)
    couplings = [f"{n} {what}" for n, what in ((model.ntendon, "tendons"),
                                                (model.neq, "equality constraints")) if n]
    if couplings:
        warnings.append(f"{' and '.join(couplings)} (joint couplings) are ignored: the "
                        "imported joints move independently")

    joints: dict[int, list[SourceJoint]] = {b: [] for b in bodies}
    for b in bodies:
        if b == root:
            continue
        for j in range(model.body_jntadr[b], model.body_jntadr[b] + model.body_jntnum[b]):
            joints[b] += _joints_of(model, j, jname(j), names[b], warnings)
    if not any(joints.values()):
        raise HandSpecError(f"no movable joint below the root {names[root]!r}",
                            "choose a body above the fingers as --root")

    geoms: dict[int, list[SourceGeom]] = {b: [] for b in bodies}
    colliding = [g for g in range(model.ngeom) if model.geom_bodyid[g] in geoms
                 and (model.geom_contype[g] or model.geom_conaffinity[g])]
    if not colliding:
        colliding = [g for g in range(model.ngeom) if model.geom_bodyid[g] in geoms]
        if colliding:
            warnings.append("no geom of the hand collides (contype = conaffinity = 0 "
                            "everywhere): every geom is taken as collision geometry")
    for g in colliding:
        geom = _geom(model, g)
        if geom is None:
            warnings.append(f"geom {_name(model, mujoco.mjtObj.mjOBJ_GEOM, g, str(g))!r} "
                            f"({GEOM_KINDS.get(int(model.geom_type[g]), '?')}) is skipped: "
                            "not a shape a hand link can have")
            continue
        geoms[geom.body].append(geom)
    return Source(path=path, model=model, root=root, bodies=bodies, names=names,
                  joints=joints, geoms=geoms, warnings=warnings, dropped_joints=dropped,
                  model_name=model_name)


def _wrist_hint(model, root, bodies, names, moving_below, jname, warnings) -> None:
    """Joints between the root and the body where the fingers branch (wrist joints,
    usually) are worth a line: ``--root`` at the branching body drops them."""
    def own(b: int) -> list[int]:
        return list(range(model.body_jntadr[b], model.body_jntadr[b] + model.body_jntnum[b]))

    node, passed = root, []
    while True:
        kids = [b for b in bodies if model.body_parentid[b] == node
                and (moving_below[b] or own(b))]
        if len(kids) != 1:
            break
        node = kids[0]
        passed += own(node)
    if passed and node != root and len(kids) > 1:
        warnings.append(f"joints {', '.join(jname(j) for j in passed)} lie between the root "
                        f"{names[root]!r} and {names[node]!r}, where the fingers branch: "
                        f"to leave them out (wrist joints?), pass --root {names[node]}")


def _joints_of(model, j: int, name: str, body_name: str, warnings: list[str]
               ) -> list[SourceJoint]:
    kind = int(model.jnt_type[j])
    body = int(model.jnt_bodyid[j])
    dof = int(model.jnt_dofadr[j])
    common = {"body": body, "mj_joint": j, "anchor": model.jnt_pos[j].copy(),
                  "damping": float(model.dof_damping[dof]),
                  "friction": float(model.dof_frictionloss[dof]),
                  "effort": (float(np.abs(model.jnt_actfrcrange[j]).max())
                          if model.jnt_actfrclimited[j] else 10.0)}
    if kind == FREE:
        raise HandSpecError(f"body {body_name!r} below the root has a free joint ({name!r})",
                            "choose --root so that only finger joints lie below it")
    if kind == BALL:
        limit = float(model.jnt_range[j][1]) if model.jnt_limited[j] else math.pi
        warnings.append(f"ball joint {name!r} is split into three revolute joints "
                        f"{name}_x, {name}_y, {name}_z (±{limit:.3g} rad each) about the "
                        "body's axes: close to the source's motion, not the same")
        return [SourceJoint(name=f"{name}_{'xyz'[a]}", kind="revolute", axis=np.eye(3)[a],
                            lower=-limit, upper=limit, ref=0.0, ball_axis=a, **common)
                for a in range(3)]
    ref = float(model.qpos0[model.jnt_qposadr[j]])
    if model.jnt_limited[j]:
        lower, upper = (float(v) - ref for v in model.jnt_range[j])
    elif kind == HINGE:
        lower, upper = -math.pi - ref, math.pi - ref
        warnings.append(f"hinge {name!r} has no range: limited to ±π")
    else:
        raise HandSpecError(f"slide joint {name!r} has no range",
                            "give it a range in the model")
    if ref != 0:
        warnings.append(f"joint {name!r} has ref = {ref:g}: the URDF's 0 is the source's "
                        f"{ref:g} (its limits are shifted by it)")
    axis = model.jnt_axis[j] / np.linalg.norm(model.jnt_axis[j])
    return [SourceJoint(name=name, kind="revolute" if kind == HINGE else "prismatic",
                        axis=axis.copy(), lower=lower, upper=upper, ref=ref, **common)]


def _geom(model, g: int) -> SourceGeom | None:
    import mujoco

    kind = GEOM_KINDS.get(int(model.geom_type[g]))
    if kind not in ("sphere", "capsule", "ellipsoid", "cylinder", "box", "mesh"):
        return None
    name = _name(model, mujoco.mjtObj.mjOBJ_GEOM, g, f"geom{g}")
    pose = mj_pose(model.geom_pos[g], model.geom_quat[g])
    body = int(model.geom_bodyid[g])
    if kind != "mesh":
        return SourceGeom(body, name, kind, model.geom_size[g].copy(), pose)
    m = int(model.geom_dataid[g])
    v0, nv = model.mesh_vertadr[m], model.mesh_vertnum[m]
    f0, nf = model.mesh_faceadr[m], model.mesh_facenum[m]
    return SourceGeom(body, name, kind, model.geom_size[g].copy(), pose,
                      mesh=_name(model, mujoco.mjtObj.mjOBJ_MESH, m, f"mesh{m}"),
                      vertices=np.array(model.mesh_vert[v0:v0 + nv], dtype=float),
                      faces=np.array(model.mesh_face[f0:f0 + nf], dtype=np.int64))
