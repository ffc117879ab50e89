"""The hand model: kinematics, contact candidates and surface points."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqgrasp_core.hands.primitives import read_collision_primitives


def test_fk_matches_yourdfpy(allegro):
    """pytorch_kinematics (ours) against yourdfpy's independent FK, random joints."""
    import yourdfpy

    robot = yourdfpy.URDF.load(str(allegro.spec.urdf_path), load_meshes=False)
    rng = np.random.default_rng(1)
    lo, hi = allegro.lower.numpy(), allegro.upper.numpy()
    joints = rng.uniform(lo, hi, size=(5, allegro.num_joints))
    ours = allegro.link_transforms(torch.as_tensor(joints, dtype=torch.float32)).double()
    for b in range(len(joints)):
        cfg = {name: joints[b, i] for i, name in enumerate(allegro.spec.joint_names)}
        robot.update_cfg(cfg)
        for li, link in enumerate(allegro.link_names):
            ref = robot.get_transform(link, robot.base_link)
            assert np.abs(ours[b, li].numpy() - ref).max() < 1e-5, link


def test_fk_is_batched_and_differentiable(allegro):
    joints = allegro.open_pose.expand(7, -1).clone().requires_grad_(True)
    t = allegro.link_transforms(joints)
    assert t.shape == (7, len(allegro.link_names), 4, 4)
    t[:, :, :3, 3].sum().backward()
    assert joints.grad is not None and torch.isfinite(joints.grad).all()


def _inside_any(prims, link, pts):
    hits = np.zeros(len(pts), dtype=bool)
    for p in prims:
        if p.link == link:
            hits |= p.trimesh().contains(pts)
    return hits


def test_contact_normals_point_into_their_link(allegro):
    """A point 2 mm along the inward normal is inside the link; 2 mm against it is not."""
    prims, _ = read_collision_primitives(allegro.spec.urdf_path)
    for group in allegro.spec.contact_groups.values():
        for link in set(group.links):
            sel = np.array([lk == link for lk in group.links])
            pts, normals = group.points[sel], group.normals[sel]
            assert _inside_any(prims, link, pts + 0.002 * normals).all(), (group.name, link)
            assert not _inside_any(prims, link, pts - 0.002 * normals).any(), (group.name, link)


def test_surface_points_lie_on_the_collision_geometry(allegro):
    import trimesh

    prims, _ = read_collision_primitives(allegro.spec.urdf_path)
    for link in set(allegro.link_names):
        idx = (allegro.surface_link == allegro.link_names.index(link)).nonzero()[:, 0]
        if len(idx) == 0:
            continue
        pts = allegro.surface_local[idx].double().numpy()
        meshes = [p.trimesh() for p in prims if p.link == link]
        dist = np.min([np.abs(trimesh.proximity.signed_distance(m, pts)) for m in meshes], axis=0)
        assert dist.max() < 1e-3, link


def test_link_joint_dependencies_follow_the_tree(allegro):
    names = allegro.link_names
    joints = list(allegro.spec.joint_names)
    tip = allegro.link_joints[names.index("ff_tip")]
    assert [joints[i] for i in tip.nonzero()[:, 0]] == ["ffj0", "ffj1", "ffj2", "ffj3"]
    assert not allegro.link_joints[names.index("palm")].any()


def test_chunked_surface_query_finds_the_same_points_as_brute_force(allegro):
    """The chunked box query returns every point inside the box (and no point twice)."""
    from seqgrasp_core.geometry.pose import matrix_to_rot6d, pose_to_block, pose_to_matrix

    g = torch.Generator().manual_seed(3)
    b = 6
    joints = allegro.lower + (allegro.upper - allegro.lower) * torch.rand(b, 16, generator=g)
    links = allegro.link_transforms(joints)
    pose = torch.cat((torch.randn(b, 3, generator=g) * 0.03,
                      matrix_to_rot6d(torch.linalg.qr(torch.randn(b, 3, 3, generator=g))[0]),
                      joints), dim=1)
    frame = pose_to_matrix(pose)
    lo, hi = torch.tensor([-0.03, -0.04, -0.02]), torch.tensor([0.05, 0.03, 0.06])
    points, chunk_batch, valid = allegro.surface_near_box(
        allegro.link_poses(joints.T.contiguous()), pose_to_block(pose), lo, hi)
    # Flatten the chunks to points, drop the padding, keep those in the box.
    pts = points.permute(2, 1, 0).reshape(-1, 3)
    batch = chunk_batch[:, None].expand(-1, points.shape[1]).reshape(-1)
    keep = (valid.T.reshape(-1) > 0) & ((pts >= lo) & (pts <= hi)).all(-1)
    pts, batch = pts[keep], batch[keep]
    full = allegro.surface(frame.unsqueeze(1) @ links).transpose(1, 2)  # (B, N, 3)
    inside = ((full >= lo) & (full <= hi)).all(-1)
    assert len(batch) == int(inside.sum()) > 0
    for i in range(b):
        ours = pts[batch == i].sort(dim=0).values
        ref = full[i][inside[i]].sort(dim=0).values
        assert torch.allclose(ours, ref, atol=1e-6)


@pytest.mark.parametrize("native", ["1", "0"])
def test_points_inside_an_object_match_brute_force_in_value_and_gradient(allegro, monkeypatch,
                                                                         native):
    """surface_inside finds exactly the surface points with a negative signed distance,
    and their summed depth has the gradient of the brute-force sum over all points
    (with the native kernels and with the torch code)."""
    monkeypatch.setenv("SEQGRASP_NATIVE", native)
    from seqgrasp_core.geometry.pose import pose_to_block, pose_to_matrix
    from seqgrasp_core.objects.mesh import demo_object_paths, load_object

    ball = load_object(next(p for p in demo_object_paths() if p.stem == "ball"),
                       size_range=(0.06, 0.10))
    sdf = ball.sdf(64).to_torch(torch.float32, "cpu")
    g = torch.Generator().manual_seed(5)
    b = 8
    joints = allegro.lower + (allegro.upper - allegro.lower) * torch.rand(b, 16, generator=g)
    rot = torch.linalg.qr(torch.randn(b, 3, 3, generator=g))[0]
    # Hand origins 2-6 cm from the ball's centre: some fingers inside, some not.
    pose = torch.cat((torch.randn(b, 3, generator=g) * 0.03, rot[:, :, :2].transpose(1, 2)
                      .reshape(b, 6), joints), dim=1).requires_grad_(True)
    links = allegro.link_poses(pose[:, 9:].T.contiguous())
    points, batch = allegro.surface_inside(links, pose_to_block(pose), sdf)
    ours = sdf.depth_sum(points, batch, b)
    (grad_ours,) = torch.autograd.grad(ours.sum(), pose)

    full = allegro.surface(pose_to_matrix(pose).unsqueeze(1)
                           @ allegro.link_transforms(pose[:, 9:]))  # (B, 3, N)
    value, _ = sdf.sample(full.permute(1, 2, 0))  # (N, B)
    ref = (-value).clamp_min(0).sum(0)
    (grad_ref,) = torch.autograd.grad(ref.sum(), pose)
    assert (ref > 0).sum() >= 3 and (ref == 0).sum() >= 1  # both cases occur
    assert len(batch) == int((value < 0).sum())
    assert torch.allclose(ours, ref, rtol=1e-5, atol=1e-7)
    assert torch.allclose(grad_ours, grad_ref, rtol=1e-4, atol=1e-5)


def test_link_level_test_keeps_every_overlapping_sphere_pair(allegro):
    """Random joints: every overlapping sphere pair is among the link-level candidates."""
    g = torch.Generator().manual_seed(5)
    joints = allegro.lower + (allegro.upper - allegro.lower) * torch.rand(64, 16, generator=g)
    links = allegro.link_poses(joints.T.contiguous())
    centres = allegro.spheres(links)  # (3, S, B)
    pairs = allegro.sphere_pairs
    d = (centres[:, pairs[:, 0]] - centres[:, pairs[:, 1]]).norm(dim=0)  # (P, B)
    overlapping = set(map(tuple, (d < allegro.sphere_pair_reach).nonzero().tolist()))
    pair, batch = allegro.sphere_pair_candidates(links)
    candidates = set(zip(pair.tolist(), batch.tolist()))
    assert overlapping and overlapping <= candidates
    assert len(candidates) < 0.5 * pairs.shape[0] * 64  # and the test prunes


def test_a_dense_surface_covers_every_link_evenly(allegro_spec):
    """Beyond the farthest-point limit the samples are a random subset of area samples:
    exactly the count asked for, and no part of the surface far from a sample."""
    from scipy.spatial import cKDTree

    from seqgrasp_core.hands.model import FARTHEST_POINT_LIMIT, HandModel
    from seqgrasp_core.hands.primitives import sample_primitives

    count = FARTHEST_POINT_LIMIT + 4000
    dense = HandModel(allegro_spec, surface_points=count)
    assert dense.surface_local.shape == (count, 3)
    prims, _ = read_collision_primitives(allegro_spec.urdf_path)
    probe, links = sample_primitives(prims, 20000, seed=7)  # an independent area sample
    # Nominal spacing (m): the primitives' total area per sample. Random points at that
    # density leave a random surface point a median 0.47 spacings from the nearest.
    spacing = np.sqrt(sum(p.trimesh().area for p in prims) / count)
    for link in set(links):
        mine = dense.surface_local[dense.surface_link == dense.link_names.index(link)]
        theirs = probe[[k for k, name in enumerate(links) if name == link]]
        gap, _ = cKDTree(mine.double().numpy()).query(theirs)
        assert gap.max() < 2.5 * spacing, (link, gap.max() / spacing)
        assert np.median(gap) < 0.6 * spacing, (link, np.median(gap) / spacing)
