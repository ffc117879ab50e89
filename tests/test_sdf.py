"""The SDF grid against trimesh's exact signed distance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh

from seqgrasp_core.objects.sdf import SDFGrid


@pytest.fixture(scope="module")
def shapes():
    ring = trimesh.creation.torus(major_radius=0.03, minor_radius=0.012, major_sections=48,
                                  minor_sections=24)
    box = trimesh.creation.box(extents=(0.04, 0.06, 0.08))
    return {"ring": ring, "box": box}


@pytest.mark.parametrize("name", ["ring", "box"])
def test_grid_matches_exact_sign_and_magnitude(shapes, name):
    mesh = shapes[name]
    grid = SDFGrid.build(mesh, 64).to_torch(torch.float64)
    rng = np.random.default_rng(0)
    lo, hi = mesh.bounds[0] - 0.02, mesh.bounds[1] + 0.02
    pts = rng.uniform(lo, hi, size=(3000, 3))
    exact = -trimesh.proximity.signed_distance(mesh, pts)  # trimesh: positive inside
    ours = grid(torch.as_tensor(pts)).numpy()
    spacing = float(np.max((hi - lo + 0.04) / 63))
    clear = np.abs(exact) > spacing  # away from the surface the sign must agree
    assert np.all(np.sign(ours[clear]) == np.sign(exact[clear]))
    assert np.abs(ours - exact).max() < 0.5 * spacing
    assert np.abs(ours - exact).mean() < 0.1 * spacing


def test_points_outside_the_grid_grow_with_distance(shapes):
    grid = SDFGrid.build(shapes["box"], 32).to_torch(torch.float64)
    far = torch.tensor([[0.5, 0.0, 0.0], [0.0, 0.0, -0.4]], dtype=torch.float64)
    exact = -trimesh.proximity.signed_distance(shapes["box"], far.numpy())
    assert grid(far).numpy() == pytest.approx(exact, abs=2e-3)


def test_gradient_points_away_from_the_object(shapes):
    grid = SDFGrid.build(shapes["box"], 48).to_torch(torch.float64)
    p = torch.tensor([[0.03, 0.0, 0.0], [0.0, 0.0, -0.05]], dtype=torch.float64,
                     requires_grad=True)
    grid(p).sum().backward()
    assert p.grad[0] @ torch.tensor([1.0, 0, 0], dtype=torch.float64) > 0.9
    assert p.grad[1] @ torch.tensor([0, 0, -1.0], dtype=torch.float64) > 0.9


def test_grids_are_cached_by_content_hash(tmp_path, monkeypatch, mesh_dir):
    from seqgrasp_core.objects import sdf as sdf_module
    from seqgrasp_core.objects.mesh import load_object

    monkeypatch.setenv("SEQGRASP_CACHE_DIR", str(tmp_path))
    obj = load_object(mesh_dir / "a.obj")
    first = obj.sdf(24)
    calls = []
    monkeypatch.setattr(sdf_module.SDFGrid, "build",
                        classmethod(lambda cls, *a, **k: calls.append(1)))
    again = load_object(mesh_dir / "a.obj").sdf(24)
    assert calls == []  # read from the cache, not rebuilt
    assert np.array_equal(first.values, again.values)
    assert len(list((tmp_path / "sdf").glob("*.npz"))) == 1


def test_gradient_is_the_interpolants_own(shapes):
    """The analytic gradient equals central differences of the sampled values."""
    grid = SDFGrid.build(shapes["ring"], 32).to_torch(torch.float64)
    rng = np.random.default_rng(3)
    lo, hi = shapes["ring"].bounds
    pts = torch.as_tensor(rng.uniform(lo, hi, size=(200, 3)))
    # Away from cell faces, where the interpolant's derivative jumps.
    cell = (pts.T - grid.lo) * grid.per_metre
    pts = pts[((cell - cell.round()).abs() > 1e-3).all(0)]
    value, grad = grid.sample(pts.T)
    h = 1e-7
    for axis in range(3):
        step = torch.zeros(3, dtype=torch.float64)
        step[axis] = h
        numeric = (grid(pts + step) - grid(pts - step)) / (2 * h)
        assert torch.allclose(grad[axis], numeric, atol=1e-4)


def test_outside_bound_never_exceeds_the_sampled_distance(shapes):
    """The cheap nearest-node bound is a lower bound of the interpolated distance."""
    grid = SDFGrid.build(shapes["ring"], 32).to_torch(torch.float64)
    rng = np.random.default_rng(4)
    lo, hi = shapes["ring"].bounds
    pts = torch.as_tensor(rng.uniform(lo - 0.03, hi + 0.03, size=(5000, 3))).T
    value, _ = grid.sample(pts)
    bound = grid.outside_bound(pts)
    assert torch.all(bound <= value)
    assert (value - bound).max() < 3 * grid.cell_diagonal  # and not uselessly loose


def test_smooth_sample_is_continuous_and_points_outward(shapes):
    """The contacts' distance equals the plain sample; its gradient is the smoothed
    normal, which changes little across a cell face, unlike the interpolant's own."""
    grid = SDFGrid.build(shapes["ring"], 32).to_torch(torch.float64)
    face = float(grid.lo[0] + 11 / grid.per_metre[0])  # x on a cell face
    p = torch.tensor([[face - 1e-6, face + 1e-6], [0.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    p.requires_grad_(True)
    value, normal = grid.smooth_sample(p)
    assert torch.allclose(value, grid.sample(p.detach())[0])
    (g,) = torch.autograd.grad(value.sum(), p)
    assert torch.allclose(g / g.norm(dim=0), normal, atol=1e-9)
    assert (normal[:, 0] - normal[:, 1]).norm() < 1e-3
    assert torch.allclose(normal.norm(dim=0), torch.ones(2, dtype=torch.float64))


def test_shrunk_grid_counts_only_depth_beyond_the_allowance():
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=0.03)
    sdf = SDFGrid.build(sphere, 48).to_torch(torch.float64)
    shrunk = sdf.shrunk(0.001)
    # Points 3 mm deep, 0.5 mm deep and 2 mm outside, along one axis.
    points = torch.tensor([[0.027, 0.0, 0.0], [0.0295, 0.0, 0.0], [0.032, 0.0, 0.0]],
                          dtype=torch.float64)
    assert torch.allclose(shrunk(points), sdf(points) + 0.001, atol=1e-12)
    assert shrunk(points).tolist() == pytest.approx([-0.002, 0.0005, 0.003], abs=2e-4)
    assert torch.equal(shrunk.box_lo, sdf.box_lo) and torch.equal(shrunk.box_hi, sdf.box_hi)
