"""The native kernels against the torch code they replace: same values and gradients."""

from __future__ import annotations

import shutil

import pytest
import torch

from seqgrasp_core import native
from seqgrasp_core.geometry.pose import pose_to_block
from seqgrasp_core.geometry.transforms import place_points

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")


def both(monkeypatch, fn):
    """``(torch result, native result)`` of ``fn()``."""
    monkeypatch.setenv("SEQGRASP_NATIVE", "0")
    reference = fn()
    monkeypatch.setenv("SEQGRASP_NATIVE", "1")
    return reference, fn()


def close(a, b, dtype, scale=1.0):
    tol = 1e-5 if dtype == torch.float32 else 1e-11
    return all(torch.allclose(x, y, atol=tol * scale, rtol=tol) for x, y in zip(a, b))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_kernels_build_for_both_float_types(dtype):
    assert native.enabled(torch.zeros(2, dtype=dtype))
    assert not native.enabled(torch.zeros(2, dtype=torch.float16))
    assert not native.enabled(torch.zeros(2, dtype=dtype), torch.zeros(2, dtype=torch.float16))


def test_the_switch_turns_them_off(monkeypatch):
    monkeypatch.setenv("SEQGRASP_NATIVE", "0")
    assert not native.enabled(torch.zeros(2))


def test_without_a_compiler_the_torch_code_runs(monkeypatch, tmp_path):
    monkeypatch.setenv("SEQGRASP_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CC", "no-such-compiler")
    native._library.cache_clear()
    try:
        assert not native.enabled(torch.zeros(2))
        pose = torch.randn(4, 9, generator=torch.Generator().manual_seed(0))
        block = pose_to_block(pose)
        assert torch.allclose(block[:, :3].permute(2, 0, 1).det(), torch.ones(4), atol=1e-5)
    finally:
        native._library.cache_clear()


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc besides cc")
def test_a_new_build_replaces_the_stale_one(monkeypatch, tmp_path):
    monkeypatch.setenv("SEQGRASP_CACHE_DIR", str(tmp_path))
    folder = tmp_path / "native"
    try:
        for compiler in ("cc", "gcc"):  # another command: another key
            monkeypatch.setenv("CC", compiler)
            native._library.cache_clear()
            assert native.enabled(torch.zeros(2))
            assert len(list(folder.glob("kernels_f32_*.so"))) == 1
        native._library.cache_clear()
        assert native.enabled(torch.zeros(2, dtype=torch.float64))
        assert len(list(folder.glob("*.so"))) == 2  # one per float type
    finally:
        native._library.cache_clear()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pose_to_block_and_its_gradient(monkeypatch, dtype):
    g = torch.Generator().manual_seed(1)
    pose = torch.randn(37, 25, generator=g, dtype=dtype)
    weights = torch.randn(3, 4, 37, generator=g, dtype=dtype)

    def run():
        x = pose.clone().requires_grad_(True)
        block = pose_to_block(x)
        (grad,) = torch.autograd.grad((block * weights).sum(), x)
        return block.detach(), grad

    reference, ours = both(monkeypatch, run)
    assert close(reference, ours, dtype)
    assert ours[1][:, 9:].abs().max() == 0 and ours[1][:, 3:9].abs().max() > 0.1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["allegro", "shadow"])
def test_link_poses_and_their_gradient(monkeypatch, plugins, name, dtype):
    from seqgrasp_core.hands.model import HandModel

    hand = HandModel(plugins.hand(name), dtype=dtype, surface_points=200)
    g = torch.Generator().manual_seed(2)
    joints = hand.lower + (hand.upper - hand.lower) * torch.rand(11, hand.num_joints,
                                                                 generator=g, dtype=dtype)
    weights = torch.randn(3, 4, len(hand.link_names), 11, generator=g, dtype=dtype)

    def run():
        x = joints.clone().requires_grad_(True)
        links = hand.link_poses(x.T.contiguous())
        (grad,) = torch.autograd.grad((links * weights).sum(), x)
        return links.detach(), grad

    reference, ours = both(monkeypatch, run)
    assert close(reference, ours, dtype, scale=10)
    assert ours[1].abs().max() > 0.1


@pytest.mark.parametrize("points_per_group", [1, 5])
def test_placing_points_and_its_gradient(monkeypatch, points_per_group):
    g = torch.Generator().manual_seed(3)
    b, links, m = 6, 4, 20
    pose = torch.randn(b, 9, generator=g)
    frame = pose_to_block(pose).detach()
    link_pose = pose_to_block(torch.randn(links * b, 9, generator=g)).detach()
    link_pose = link_pose.reshape(3, 4, links, b)
    batch = torch.randint(0, b, (m,), generator=g)
    link = torch.randint(0, links, (m,), generator=g)
    local = torch.randn(3, points_per_group, m, generator=g)
    weights = torch.randn(3, points_per_group, m, generator=g)

    def run():
        f = frame.clone().requires_grad_(True)
        lp = link_pose.clone().requires_grad_(True)
        points = place_points(f, lp, batch, link, local)
        return (points.detach(), *torch.autograd.grad((points * weights).sum(), (f, lp)))

    reference, ours = both(monkeypatch, run)
    assert close(reference, ours, torch.float32, scale=10)
    assert ours[2].abs().max() > 0.1  # link gradients reach the links used


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_grid_distance_gradient_and_smooth_normal(monkeypatch, dtype):
    import trimesh

    from seqgrasp_core.objects.sdf import SDFGrid

    sdf = SDFGrid.build(trimesh.creation.capsule(radius=0.02, height=0.04), resolution=24)
    sdf = sdf.to_torch(dtype=dtype)
    g = torch.Generator().manual_seed(4)
    # Inside, near the surface and beyond the grid's box (outside handling).
    points = (torch.rand(3, 300, generator=g, dtype=dtype) - 0.5) * 0.16

    def run():
        x = points.clone().requires_grad_(True)
        value, spatial = sdf.sample(x)
        (grad,) = torch.autograd.grad(value.sum(), x)
        y = points.clone().requires_grad_(True)
        smooth, normal = sdf.smooth_sample(y)
        (smooth_grad,) = torch.autograd.grad(smooth.sum(), y)
        return value.detach(), spatial, grad, smooth.detach(), normal, smooth_grad

    reference, ours = both(monkeypatch, run)
    assert close(reference, ours, dtype)
    assert (ours[0] < 0).any() and (ours[0] > 0.03).any()


def test_all_six_terms_give_the_same_energy_and_gradient(monkeypatch, allegro, plugins):
    from seqgrasp_core.objects.mesh import demo_object_paths, load_object
    from seqgrasp_core.synthesis.initialization import initial_poses
    from seqgrasp_core.synthesis.mala import MalaConfig, optimize
    from seqgrasp_core.synthesis.state import GraspState, StepContext
    from seqgrasp_core.synthesis.terms import WeightedEnergy

    demo_ball = load_object(demo_object_paths()[0])

    g = torch.Generator().manual_seed(5)
    os_index = torch.randint(0, len(allegro.os_names), (16,), generator=g)
    ctx = StepContext(allegro, demo_ball.sdf().to_torch(), allegro.os_masks[os_index])
    energy = WeightedEnergy({t.name: (t, t.default_weight) for t in plugins.energy_terms})
    start = initial_poses(demo_ball.mesh, torch.tensor(allegro.spec.palm_center),
                          torch.tensor(allegro.spec.palm_normal),
                          allegro.open_pose.expand(16, -1), g)
    monkeypatch.setenv("SEQGRASP_NATIVE", "0")
    near = optimize(energy, ctx, start, os_index, MalaConfig(steps=40), g)

    def run():
        x = near.pose.clone().requires_grad_(True)
        total, terms = energy(GraspState(ctx, x, near.contact_index), 30, 40)
        (grad,) = torch.autograd.grad(total.sum(), x)
        return total.detach(), grad, *(v.detach() for v in terms.values())

    reference, ours = both(monkeypatch, run)
    assert close(reference, ours, torch.float32, scale=100)
    assert (reference[0] > 0).all() and reference[1].abs().max() > 1


def test_the_same_surface_points_are_found_inside_an_object(monkeypatch, allegro):
    """Native and torch selection: the same (sequence, point) set, with and without a
    link mask, and the same placed points and gradients."""
    from seqgrasp_core.objects.mesh import demo_object_paths, load_object

    box = load_object(next(p for p in demo_object_paths() if p.stem == "box"),
                      size_range=(0.06, 0.10))
    sdf = box.sdf(48).to_torch()
    g = torch.Generator().manual_seed(6)
    b = 24
    joints = allegro.lower + (allegro.upper - allegro.lower) * torch.rand(b, 16, generator=g)
    rot = torch.linalg.qr(torch.randn(b, 3, 3, generator=g))[0]
    pose = torch.cat((torch.randn(b, 3, generator=g) * 0.03,
                      rot[:, :, :2].transpose(1, 2).reshape(b, 6), joints), dim=1)
    mask = torch.rand(b, len(allegro.link_names), generator=g) < 0.5

    def run(link_mask):
        def select():
            x = pose.clone().requires_grad_(True)
            links = allegro.link_poses(x[:, 9:].T.contiguous())
            points, batch = allegro.surface_inside(links, pose_to_block(x), sdf, link_mask)
            key = sorted(zip(batch.tolist(), points[:, 0].T.tolist()))
            (grad,) = torch.autograd.grad(sdf.depth_sum(points, batch, b).sum(), x)
            return key, grad
        return select

    for link_mask in (None, mask):
        (ref_key, ref_grad), (key, grad) = both(monkeypatch, run(link_mask))
        assert len(key) == len(ref_key) > 20
        assert [k[0] for k in key] == [k[0] for k in ref_key]
        assert torch.allclose(torch.tensor([k[1] for k in key]),
                              torch.tensor([k[1] for k in ref_key]), atol=1e-6)
        assert torch.allclose(grad, ref_grad, rtol=1e-4, atol=1e-5)
