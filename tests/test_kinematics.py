"""The batch-last kinematics against pytorch_kinematics' own FK, and its helpers."""

from __future__ import annotations

import pytest
import torch

from seqgrasp_core.geometry.pose import pose_to_block, pose_to_matrix
from seqgrasp_core.geometry.transforms import apply, compose, cross, invert, take


def _random_joints(hand, b, seed):
    g = torch.Generator().manual_seed(seed)
    return hand.lower + (hand.upper - hand.lower) * torch.rand(b, hand.num_joints, generator=g)


@pytest.mark.parametrize("name", ["allegro", "shadow"])
def test_link_poses_match_pytorch_kinematics(plugins, allegro, name):
    """Values and joint gradients equal the chain's forward_kinematics_tensor."""
    from seqgrasp_core.hands.model import HandModel

    hand = allegro if name == "allegro" else HandModel(plugins.hand(name))
    joints = _random_joints(hand, 9, seed=4).requires_grad_(True)
    weights = torch.randn(9, len(hand.link_names), 3, 4, generator=torch.Generator().manual_seed(5))

    ours = hand.link_poses(joints.T.contiguous()).permute(3, 2, 0, 1)  # (B, L, 3, 4)
    (ours_grad,) = torch.autograd.grad((ours * weights).sum(), joints)
    ref = hand.reference_link_transforms(joints)[:, :, :3]
    (ref_grad,) = torch.autograd.grad((ref * weights).sum(), joints)

    assert torch.allclose(ours, ref, atol=2e-6)
    assert torch.allclose(ours_grad, ref_grad, atol=1e-4, rtol=1e-4)
    assert ref_grad.abs().max() > 0.1  # the comparison is not between zeros


def test_pose_block_matches_the_matrix_form():
    g = torch.Generator().manual_seed(0)
    pose = torch.cat((torch.randn(6, 3, generator=g), torch.randn(6, 6, generator=g)), dim=1)
    block = pose_to_block(pose)  # (3, 4, B)
    assert torch.allclose(block.permute(2, 0, 1), pose_to_matrix(pose)[:, :3], atol=1e-6)


def test_compose_and_apply_agree_with_matrix_products():
    g = torch.Generator().manual_seed(1)
    a = pose_to_matrix(torch.randn(5, 9, generator=g))
    b = pose_to_matrix(torch.randn(5, 9, generator=g))
    p = torch.randn(5, 3, generator=g)
    to_block = lambda m: m[:, :3].permute(1, 2, 0)  # (B, 4, 4) → (3, 4, B)
    assert torch.allclose(compose(to_block(a), to_block(b)), to_block(a @ b), atol=1e-6)
    moved = (a[:, :3, :3] @ p[..., None])[..., 0] + a[:, :3, 3]
    assert torch.allclose(apply(to_block(a), p.T), moved.T, atol=1e-6)
    assert torch.allclose(cross(p.T, moved.T), torch.linalg.cross(p, moved).T, atol=1e-6)
    assert torch.allclose(invert(to_block(a)), to_block(torch.linalg.inv(a)), atol=1e-5)


def test_take_is_indexing_the_last_dimension():
    x = torch.arange(2 * 3 * 5.0).reshape(2, 3, 5)
    index = torch.tensor([4, 0, 0, 2])
    assert torch.equal(take(x, index), x[..., index])


def test_pose_block_gradient_matches_autograd_of_the_matrix_form():
    g = torch.Generator().manual_seed(6)
    pose = torch.randn(7, 12, generator=g, dtype=torch.float64).requires_grad_(True)
    weights = torch.randn(7, 3, 4, generator=g, dtype=torch.float64)
    (ours,) = torch.autograd.grad((pose_to_block(pose).permute(2, 0, 1) * weights).sum(), pose)
    (ref,) = torch.autograd.grad((pose_to_matrix(pose)[:, :3] * weights).sum(), pose)
    assert torch.allclose(ours, ref, atol=1e-10)
    assert torch.all(ours[:, 9:] == 0) and ref[:, :9].abs().max() > 0.1


def test_place_points_gradient_matches_autograd():
    from seqgrasp_core.geometry.transforms import place_points

    g = torch.Generator().manual_seed(7)
    blocks = lambda *shape: pose_to_matrix(torch.randn(*shape, 9, generator=g, dtype=torch.float64)
                                           .reshape(-1, 9))[:, :3]
    frame = blocks(4).permute(1, 2, 0).contiguous().requires_grad_(True)  # (3, 4, B)
    links = blocks(5 * 4).reshape(5, 4, 3, 4).permute(2, 3, 0, 1).contiguous() \
        .requires_grad_(True)  # (3, 4, L, B)
    batch = torch.tensor([0, 3, 3, 1, 2, 0])
    link = torch.tensor([4, 0, 2, 2, 1, 4])
    local = torch.randn(3, 5, 6, generator=g, dtype=torch.float64)
    weights = torch.randn(3, 5, 6, generator=g, dtype=torch.float64)

    ours = place_points(frame, links, batch, link, local)
    ours_grads = torch.autograd.grad((ours * weights).sum(), [frame, links])
    ref = apply(compose(frame[..., batch], links[:, :, link, batch]).unsqueeze(2), local)
    ref_grads = torch.autograd.grad((ref * weights).sum(), [frame, links])
    assert torch.allclose(ours, ref, atol=1e-12)
    for a, b in zip(ours_grads, ref_grads):
        assert torch.allclose(a, b, atol=1e-10)
