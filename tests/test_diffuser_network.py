"""SeqDiffuser's object features (FPS, BPS) and denoiser: checked against brute force
and for the properties a sampler relies on (row independence, object conditioning,
a training signal)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqgrasp_core.diffuser.bps import basis_points, bps_encode
from seqgrasp_core.diffuser.network import Denoiser, NetworkConfig
from seqgrasp_core.objects.mesh import farthest_point_sample as fps_indices
from seqgrasp_core.objects.mesh import sample_surface


def farthest_point_sample(points: np.ndarray, count: int, seed: int) -> np.ndarray:
    return points[fps_indices(points, count, seed)]

L, D = 3, 3 + 9 + 4  # opposition spaces, grasp vector (one-hot, pose, 4 joints)


def _clusters(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    centres = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    label = np.repeat(np.arange(3), [40, 25, 35])
    return centres[label] + rng.normal(scale=1e-3, size=(len(label), 3)), label


def test_fps_takes_one_point_from_each_far_cluster():
    points, label = _clusters(np.random.default_rng(0))
    for seed in range(5):
        picked = farthest_point_sample(points, 3, seed)
        rows = [int(np.flatnonzero((points == p).all(axis=1))[0]) for p in picked]
        assert sorted(label[rows]) == [0, 1, 2]


def test_fps_is_a_seeded_subset():
    points = np.random.default_rng(1).random((200, 3))
    picked = farthest_point_sample(points, 30, seed=7)
    assert picked.shape == (30, 3)
    assert all((points == p).all(axis=1).any() for p in picked)
    assert len({tuple(p) for p in picked}) == 30                  # no point twice
    assert np.array_equal(picked, farthest_point_sample(points, 30, seed=7))
    assert not np.array_equal(picked[0], farthest_point_sample(points, 30, seed=8)[0])


def test_surface_samples_lie_on_the_mesh():
    trimesh = pytest.importorskip("trimesh")
    mesh = trimesh.creation.icosphere(subdivisions=2, radius=0.04)
    points = sample_surface(mesh, 64, seed=3, oversample=4)
    assert points.shape == (64, 3)
    assert np.allclose(np.linalg.norm(points, axis=1), 0.04, atol=2e-3)  # faceted sphere
    assert np.array_equal(points, sample_surface(mesh, 64, seed=3, oversample=4))


def test_basis_points_fill_the_ball_reproducibly():
    basis = basis_points(500, radius=0.15, seed=2)
    assert basis.shape == (500, 3) and basis.dtype == np.float32
    norm = np.linalg.norm(basis, axis=1)
    assert norm.max() <= 0.15 + 1e-6
    assert 0.5 < np.mean(norm < 0.15 * 0.5 ** (1 / 3)) * 2 < 1.5  # half the volume, ~half
    assert np.array_equal(basis, basis_points(500, radius=0.15, seed=2))
    assert not np.array_equal(basis, basis_points(500, radius=0.15, seed=3))


def test_bps_encode_matches_a_loop_and_batches():
    g = torch.Generator().manual_seed(0)
    surface = torch.rand(2, 3, 20, 3, generator=g) - 0.5          # (2, 3, P, 3)
    basis = torch.rand(7, 3, generator=g) - 0.5
    code = bps_encode(surface, basis)
    assert code.shape == (2, 3, 7, 4)
    for i in range(2):
        for j in range(3):
            for n, b in enumerate(basis):
                gaps = [float(torch.linalg.norm(p - b)) for p in surface[i, j]]
                nearest = surface[i, j, int(np.argmin(gaps))]
                assert torch.allclose(code[i, j, n, :3], nearest - b, atol=1e-6)
                assert code[i, j, n, 3].item() == pytest.approx(min(gaps), abs=1e-6)
            assert torch.equal(bps_encode(surface[i, j], basis), code[i, j])


def _network(os_encoding: str = "onehot", seed: int = 0) -> Denoiser:
    torch.manual_seed(seed)
    config = NetworkConfig(grasp_dim=D, num_spaces=L, basis=64, width=32, latents=8,
                           queries=2, depth=2, heads=4, os_encoding=os_encoding)
    return Denoiser(config, torch.as_tensor(basis_points(64, 0.15, seed)))


def _inputs(rows: int, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, D, generator=g)
    k = (torch.rand(rows, D, generator=g) > 0.5).float()
    t = torch.randint(0, 1000, (rows,), generator=g)
    os_index = torch.randint(0, L, (rows,), generator=g)
    return x, k, t, os_index


@pytest.mark.parametrize("os_encoding", ["onehot", "embedding"])
def test_denoiser_rows_are_independent(os_encoding):
    net = _network(os_encoding).eval()
    x, k, t, os_index = _inputs(6)
    with torch.no_grad():
        objects = net.encode_object(torch.randn(1, 64, 4))
        assert objects.shape == (1, 8, 32)
        eps = net(x, k, t, objects, os_index)
        assert eps.shape == (6, D) and eps.dtype == torch.float32
        for i in range(6):
            alone = net(x[i:i + 1], k[i:i + 1], t[i:i + 1], objects, os_index[i:i + 1])
            assert torch.allclose(alone, eps[i:i + 1], atol=1e-5)
        # one object per row gives the same as one object shared by all rows
        assert torch.allclose(net(x, k, t, objects.expand(6, -1, -1).clone(), os_index),
                              eps, atol=1e-5)


def test_denoiser_reads_the_object_the_timestep_and_the_os():
    net = _network("embedding").eval()
    x, k, t, os_index = _inputs(4)
    with torch.no_grad():
        objects = net.encode_object(torch.randn(2, 64, 4))
        eps = net(x, k, t, objects[:1], os_index)
        assert not torch.allclose(eps, net(x, k, t, objects[1:], os_index), atol=1e-4)
        assert not torch.allclose(eps, net(x, k, (t + 100) % 1000, objects[:1], os_index),
                                  atol=1e-4)
        assert not torch.allclose(eps, net(x, k, t, objects[:1], (os_index + 1) % L),
                                  atol=1e-4)
        with pytest.raises(ValueError):
            net(x, k, t, objects[:1])                            # embedding needs os_index


def test_denoiser_learns_a_fixed_target():
    net = _network()
    x, k, t, _ = _inputs(16)
    bps = torch.randn(1, 64, 4, generator=torch.Generator().manual_seed(5))
    target = torch.randn(16, D, generator=torch.Generator().manual_seed(6))
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)

    def loss() -> torch.Tensor:
        return ((k * (net(x, k, t, net.encode_object(bps)) - target)) ** 2).mean()

    first = loss().item()
    for _ in range(30):
        optimizer.zero_grad()
        value = loss()
        value.backward()
        optimizer.step()
    assert loss().item() < 0.5 * first
    assert net.object_encoder.latents.grad.abs().sum() > 0      # the object path learns too


def test_config_refuses_inconsistent_sizes():
    with pytest.raises(ValueError):
        NetworkConfig(grasp_dim=D, num_spaces=L, os_encoding="text")
    with pytest.raises(ValueError):
        NetworkConfig(grasp_dim=L + 8, num_spaces=L)
    with pytest.raises(ValueError):
        NetworkConfig(grasp_dim=D, num_spaces=L, width=30, heads=4)
    with pytest.raises(ValueError):
        Denoiser(NetworkConfig(grasp_dim=D, num_spaces=L, basis=64), torch.zeros(32, 3))
