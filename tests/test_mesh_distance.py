"""The validator's exact mesh distance and the penetration search built on it."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from trimesh.triangles import closest_point

from seqgrasp_core.validation import mesh_distance
from seqgrasp_core.validation.mesh_distance import MeshDistance
from seqgrasp_core.validation.penetration import Cloud, depth_into, solid


def brute_distance(mesh: trimesh.Trimesh, points: np.ndarray) -> np.ndarray:
    """Unsigned distance to the nearest of all triangles, one point at a time."""
    tri = mesh.triangles
    return np.array([np.linalg.norm(closest_point(tri, np.repeat(p[None], len(tri), 0)) - p,
                                    axis=1).min() for p in points])


@pytest.fixture(scope="module")
def torus() -> trimesh.Trimesh:
    return trimesh.creation.torus(0.03, 0.01, major_sections=24, minor_sections=12)


def test_native_kernel_is_built():
    assert mesh_distance.compiled_kernel() is not None


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
        assert depth_into(body, cloud, t) == pytest.approx(brute, abs=1e-12)
        assert depth_into(body, cloud, t, best=brute + 1e-3) == brute + 1e-3
