"""Procedural objects for users without meshes: seeded, watertight, paper-sized.

Five families (see ``docs/objects.md``): superquadrics (cube, sphere, cylinder and
everything between, stretched or flattened), tori, bent tubes (a capped torus
segment), cups (a cylinder minus a smaller one) and unions of two or three
primitives. Object ``i`` of seed ``s`` is drawn from its own generator
``default_rng([s, i])``, so it does not depend on how many objects are made; its
family is ``order[i % 5]`` for a seeded permutation ``order``, so any three
consecutive objects are of three families. Every mesh is centred on its bounding
box and scaled so that its longest bounding-box edge (metres) is uniform in
:data:`~seqgrasp_core.objects.mesh.PAPER_SIZE_RANGE`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqgrasp_core.objects.mesh import PAPER_SIZE_RANGE

FAMILIES = ("superquadric", "torus", "bent", "cup", "union")
MAX_FACES = 4000
MAX_ATTEMPTS = 8


@dataclass
class SynthObject:
    """One generated object: ``mesh`` in metres (longest edge ``size``), the
    ``family`` that made it and its ``params`` (lengths in metres before scaling)."""

    name: str
    family: str
    params: dict
    scale: float
    mesh: object

    @property
    def size(self) -> float:
        """Longest bounding-box edge, metres."""
        return float(np.max(self.mesh.extents))


def _r(x: float) -> float:
    return round(float(x), 6)


def superquadric(rng: np.random.Generator):
    """A superquadric ``(|x/a|^(2/e2) + |y/b|^(2/e2))^(e2/e1) + |z/c|^(2/e1) = 1``:
    ``e1, e2`` near 0.2 square, 1 round (e1 small, e2 = 1: a cylinder); axes
    ``a = 1``, ``b, c`` in 0.35–1.6 make it elongated or flat."""
    import trimesh

    e1, e2 = rng.uniform(0.2, 1.0, size=2)
    a, b, c = 1.0, *np.exp(rng.uniform(np.log(0.35), np.log(1.6), size=2))
    mesh = trimesh.creation.icosphere(subdivisions=3)
    d = np.abs(np.asarray(mesh.vertices))
    inside = ((d[:, 0] / a) ** (2 / e2) + (d[:, 1] / b) ** (2 / e2)) ** (e2 / e1) \
        + (d[:, 2] / c) ** (2 / e1)
    mesh.vertices = mesh.vertices * (inside ** (-e1 / 2))[:, None]
    return mesh, {"e1": _r(e1), "e2": _r(e2), "axes": [_r(a), _r(b), _r(c)]}


def torus(rng: np.random.Generator):
    """A ring: tube radius ``minor`` 0.2–0.45 of ``major`` = 1, squashed along its
    axis by ``height`` 0.6–1."""
    import trimesh

    minor, height = rng.uniform(0.2, 0.45), rng.uniform(0.6, 1.0)
    mesh = trimesh.creation.torus(major_radius=1.0, minor_radius=minor,
                                  major_sections=40, minor_sections=20)
    mesh.apply_scale((1.0, 1.0, height))
    return mesh, {"major": 1.0, "minor": _r(minor), "height": _r(height)}


def bent(rng: np.random.Generator):
    """A bent tube: a circle of radius ``tube`` 0.15–0.35 swept ``angle`` 60–240°
    about an axis at ``bend`` = 1, with flat end caps."""
    import trimesh

    tube, angle = rng.uniform(0.15, 0.35), rng.uniform(60.0, 240.0)
    t = np.linspace(0.0, 2 * np.pi, 20, endpoint=False)
    ring = np.c_[1.0 + tube * np.cos(t), tube * np.sin(t)]
    mesh = trimesh.creation.revolve(np.vstack([ring, ring[:1]]), angle=np.radians(angle),
                                    sections=max(8, int(angle / 6)), cap=True)
    return mesh, {"bend": 1.0, "tube": _r(tube), "angle_deg": _r(angle)}


def cup(rng: np.random.Generator):
    """An open cup: a cylinder of ``radius`` 1 and ``height`` 1.2–3 minus a smaller
    one, leaving a side ``wall`` 0.08–0.2 and a ``base`` 0.1–0.3 thick."""
    import trimesh

    height, wall, base = rng.uniform(1.2, 3.0), rng.uniform(0.08, 0.2), rng.uniform(0.1, 0.3)
    outer = trimesh.creation.cylinder(radius=1.0, height=height, sections=40)
    inner = trimesh.creation.cylinder(radius=1.0 - wall, height=height, sections=40)
    inner.apply_translation((0.0, 0.0, base))
    mesh = trimesh.boolean.difference([outer, inner], engine="manifold")
    return mesh, {"radius": 1.0, "height": _r(height), "wall": _r(wall), "base": _r(base)}


def _primitive(rng: np.random.Generator):
    import trimesh

    kind = str(rng.choice(["box", "cylinder", "sphere", "capsule"]))
    dims = rng.uniform(0.3, 1.0, size=3)
    if kind == "box":
        mesh = trimesh.creation.box(extents=dims * 2)
    elif kind == "cylinder":
        mesh = trimesh.creation.cylinder(radius=dims[0], height=dims[1] * 2, sections=32)
    elif kind == "sphere":
        mesh = trimesh.creation.icosphere(subdivisions=2, radius=dims[0])
    else:
        mesh = trimesh.creation.capsule(height=dims[1] * 2, radius=dims[0] * 0.6,
                                        count=(16, 8))
    rotation = trimesh.transformations.random_rotation_matrix(rng.random(3))
    offset = rng.uniform(-0.6, 0.6, size=3)
    mesh.apply_transform(rotation)
    mesh.apply_translation(offset)
    return mesh, {"kind": kind, "dims": [_r(x) for x in dims],
                  "offset": [_r(x) for x in offset]}


def union(rng: np.random.Generator):
    """Two or three primitives (box, cylinder, sphere, capsule) of half-sizes 0.3–1,
    each randomly turned and moved by up to 0.6, unioned into one body."""
    import trimesh

    parts = [_primitive(rng) for _ in range(int(rng.integers(2, 4)))]
    mesh = trimesh.boolean.union([m for m, _ in parts], engine="manifold")
    return mesh, {"parts": [p for _, p in parts]}


MAKERS = {"superquadric": superquadric, "torus": torus, "bent": bent, "cup": cup,
          "union": union}


def usable(mesh) -> bool:
    """Watertight, one body, positive volume and at most :data:`MAX_FACES` faces."""
    return (mesh is not None and len(mesh.faces) <= MAX_FACES and mesh.is_watertight
            and mesh.body_count == 1 and mesh.volume > 0)


def make_object(seed: int, index: int, family: str,
                size_range: tuple[float, float] = PAPER_SIZE_RANGE) -> SynthObject:
    """Object ``index`` of ``seed`` from ``family``; a draw that is not :func:`usable`
    is redrawn from the same generator, and after :data:`MAX_ATTEMPTS` the object
    falls back to a superquadric (which always is)."""
    rng = np.random.default_rng([seed, index])
    mesh = params = None
    for _ in range(MAX_ATTEMPTS):
        try:
            mesh, params = MAKERS[family](rng)
        except ValueError:
            mesh = None
        if usable(mesh):
            break
    else:
        family = "superquadric"
        mesh, params = superquadric(rng)
    mesh.apply_translation(-mesh.bounding_box.centroid)
    target = rng.uniform(*size_range)
    scale = float(target / np.max(mesh.extents))
    mesh.apply_scale(scale)
    return SynthObject(name=f"obj_{index:03d}", family=family, params=params,
                       scale=_r(scale), mesh=mesh)


def synth_objects(count: int, seed: int,
                  size_range: tuple[float, float] = PAPER_SIZE_RANGE):
    """Yield ``count`` :class:`SynthObject` s of ``seed``, families taking turns."""
    order = np.random.default_rng([seed]).permutation(len(FAMILIES))
    for i in range(count):
        yield make_object(seed, i, FAMILIES[order[i % len(FAMILIES)]], size_range)
