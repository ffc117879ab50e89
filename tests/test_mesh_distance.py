"""The validator's exact mesh distance and the penetration search built on it, in C
and in the numpy reference."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from trimesh.triangles import closest_point

from seqgrasp_core.validation import kernels
from seqgrasp_core.validation.mesh_distance import MeshDistance
from seqgrasp_core.validation.penetration import (
    BOX,
    CAPSULE,
    CYLINDER,
    SPHERE,
    Cloud,
    Primitive,
    depth_into,
    depth_into_primitive,
    depth_into_primitive_reference,
    depth_into_reference,
    primitive_sdf,
    solid,
)


def brute_distance(mesh: trimesh.Trimesh, points: np.ndarray) -> np.ndarray:
    """Unsigned distance to the nearest of all triangles, one point at a time."""
    tri = mesh.triangles
    return np.array([np.linalg.norm(closest_point(tri, np.repeat(p[None], len(tri), 0)) - p,
                                    axis=1).min() for p in points])


@pytest.fixture(scope="module")
def torus() -> trimesh.Trimesh:
    return trimesh.creation.torus(0.03, 0.01, major_sections=24, minor_sections=12)


def test_native_kernels_are_built():
    lib = kernels.library()
    assert lib is not None
    assert lib.mesh_signed_distance and lib.depth_into_solid and lib.depth_into_primitive


def test_unit_cube_distances_are_the_analytic_ones():
    cube = trimesh.creation.box((1.0, 1.0, 1.0))
    points = np.array([[0.0, 0.0, 0.0], [0.3, 0.1, -0.2], [0.8, 0.0, 0.0],
                       [0.8, 0.9, 0.0], [0.8, 0.9, -1.1], [0.5, 0.5, 0.5]])
    expected = [-0.5, -0.2, 0.3, np.hypot(0.3, 0.4), np.sqrt(0.3 ** 2 + 0.4 ** 2 + 0.6 ** 2), 0.0]
    assert np.allclose(MeshDistance(cube.vertices, cube.faces)(points), expected, atol=1e-12)


def test_torus_matches_brute_force_and_the_inside_test(torus):
    rng = np.random.default_rng(0)
    lo, hi = torus.bounds
    points = np.concatenate((rng.uniform(lo - 0.01, hi + 0.01, (400, 3)),
                             torus.vertices[:50],                      # on corners
                             torus.triangles[:50, :2].mean(axis=1),    # on edges
                             torus.vertices[:50] + rng.normal(0, 1e-4, (50, 3))))
    sd = MeshDistance(torus.vertices, torus.faces)(points)
    assert np.allclose(np.abs(sd), brute_distance(torus, points), atol=1e-12)
    clear = np.abs(sd) > 1e-4                  # away from the surface the sign is unambiguous
    assert np.array_equal(sd[clear] < 0, torus.contains(points[clear]))
    assert (sd[clear] < 0).sum() > 20          # the hole (outside) and the tube (inside) both met


def test_without_the_kernel_point_cloud_utils_answers(torus, monkeypatch):
    rng = np.random.default_rng(1)
    points = rng.uniform(*torus.bounds, (300, 3))
    distance = MeshDistance(torus.vertices, torus.faces)
    native = distance(points)
    monkeypatch.setenv("SEQGRASP_NATIVE", "0")
    fallback = distance(points)
    # point-cloud-utils is itself off by up to about 0.5 % (the kernel matches brute force)
    assert np.allclose(fallback, native, rtol=1e-2, atol=1e-6)
    assert np.array_equal(fallback < 0, native < 0)


def test_penetration_search_into_a_non_convex_mesh_equals_brute_force(torus):
    body = solid(torus, n_samples=200)
    assert body.distance is not None and not body.convex
    rng = np.random.default_rng(2)
    cloud = Cloud.of(rng.uniform(-0.045, 0.045, (3000, 3)) * [1, 1, 0.3])
    for k in range(5):
        angle = rng.uniform(0, np.pi)
        t = np.eye(4)
        t[:3, :3] = trimesh.transformations.rotation_matrix(angle, [1, 0, 0])[:3, :3]
        t[:3, 3] = rng.uniform(-0.01, 0.01, 3)
        placed = cloud.points @ t[:3, :3].T + t[:3, 3]
        brute = max(0.0, -float(body.distance(placed).min()))
        assert brute > 0                       # some points are inside the tube
        for search in (depth_into, depth_into_reference):
            assert search(body, cloud, t) == pytest.approx(brute, abs=1e-12)
            assert search(body, cloud, t, best=brute + 1e-3) == brute + 1e-3


def _pose(rng, shift: float) -> np.ndarray:
    t = np.eye(4)
    t[:3, :3] = trimesh.transformations.random_rotation_matrix(rng.uniform(size=3))[:3, :3]
    t[:3, 3] = rng.uniform(-shift, shift, 3)
    return t


def test_penetration_search_with_one_frame_per_owner_equals_brute_force():
    """A convex solid (its face planes decide) against points of three owners, each in
    its own frame, one owner switched off: C, numpy and brute force agree."""
    box = trimesh.creation.box((0.04, 0.03, 0.02))
    body = solid(box, n_samples=100)
    assert body.convex and body.distance is None
    rng = np.random.default_rng(3)
    points = rng.uniform(-0.03, 0.03, (1500, 3))
    owner = rng.integers(0, 3, len(points))
    cloud = Cloud.of(points, owner=owner)
    active = np.array([True, False, True])
    for _ in range(5):
        frames = np.stack([_pose(rng, 0.01) for _ in range(3)])
        placed = np.einsum("pij,pj->pi", frames[owner, :3, :3], points) + frames[owner, :3, 3]
        inside = np.abs(placed) < [0.02, 0.015, 0.01]
        depth = np.min([0.02, 0.015, 0.01] - np.abs(placed), axis=1)
        brute = max(0.0, depth[inside.all(axis=1) & active[owner]].max(initial=0.0))
        assert brute > 0
        for search in (depth_into, depth_into_reference):
            assert search(body, cloud, frames, 0.0, active) == pytest.approx(brute, abs=1e-12)


@pytest.mark.parametrize("kind,size", [(BOX, [0.01, 0.02, 0.005]), (SPHERE, [0.012, 0, 0]),
                                       (CAPSULE, [0.008, 0.015, 0]),
                                       (CYLINDER, [0.01, 0.012, 0])])
def test_depth_into_each_primitive_equals_brute_force(kind, size):
    size = np.array(size, dtype=float)
    prim = Primitive(geom=0, kind=kind, size=size, rbound=float(np.linalg.norm(size)) + 0.02)
    rng = np.random.default_rng(kind)
    cloud = Cloud.of(rng.uniform(-0.03, 0.03, (2000, 3)))
    for _ in range(5):
        t = _pose(rng, 0.005)
        placed = cloud.points @ t[:3, :3].T + t[:3, 3]
        brute = max(0.0, -float(primitive_sdf(kind, size, placed).min()))
        assert brute > 0
        for search in (depth_into_primitive, depth_into_primitive_reference):
            assert search(prim, cloud, t) == pytest.approx(brute, abs=1e-12)
            assert search(prim, cloud, t, best=brute + 1e-3) == brute + 1e-3
