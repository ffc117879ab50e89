"""Choosing among a sequence's candidates: the deepest overlap and the pick."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh

from seqgrasp_core.geometry.pose import matrix_to_rot6d, pose_to_matrix
from seqgrasp_core.objects.mesh import sample_surface
from seqgrasp_core.objects.sdf import SDFGrid
from seqgrasp_core.synthesis.candidates import best_candidates, deepest_penetration
from seqgrasp_core.synthesis.mala import OptimizationResult
from seqgrasp_core.synthesis.state import GraspState, HeldObject, StepContext


def _result(energy):
    pose = torch.arange(float(len(energy)))[:, None].expand(len(energy), 4).clone()
    contacts = torch.arange(2 * len(energy)).view(-1, 2)
    return OptimizationResult(pose, contacts, energy, {"fc": energy * 10}, 0.25)


def test_best_candidates_keeps_the_lowest_energy_of_each_group():
    best = best_candidates(_result(torch.tensor([3.0, 1.0, 2.0, float("nan"), 5.0, 4.0])), 3)
    assert best.pose[:, 0].tolist() == [1.0, 5.0]  # a NaN energy never wins
    assert best.contact_index.tolist() == [[2, 3], [10, 11]]
    assert best.energy.tolist() == [1.0, 4.0]
    assert best.terms["fc"].tolist() == [10.0, 40.0]
    assert best.acceptance == 0.25


def test_a_candidate_beyond_the_depth_limit_loses_to_any_within_it():
    energy = torch.tensor([3.0, 1.0, 2.0,     # the lowest energy is 9 mm deep
                           5.0, 4.0, 6.0,     # every candidate too deep: the shallowest
                           2.0, float("nan"), 7.0,  # the NaN is shallow but never wins
                           9.0, 8.0, 1.0])    # too deep, two equally: the lower energy
    deepest = torch.tensor([0.001, 0.009, 0.003,
                            0.005, 0.006, 0.007,
                            0.008, 0.0, 0.002,
                            0.006, 0.006, 0.011])
    best = best_candidates(_result(energy), 3, deepest, depth_limit=0.004)
    assert best.pose[:, 0].tolist() == [2.0, 3.0, 8.0, 10.0]
    assert best.energy.tolist() == [2.0, 5.0, 7.0, 8.0]
    # Without a limit, the energy alone decides.
    assert best_candidates(_result(energy), 3, deepest).pose[:, 0].tolist() == [1.0, 4.0, 6.0,
                                                                                 11.0]


def test_the_shallowest_of_buried_candidates_skips_a_nan_energy():
    energy = torch.tensor([float("nan"), 3.0, 2.0])
    deepest = torch.tensor([0.005, 0.007, 0.009])
    assert best_candidates(_result(energy), 3, deepest, 0.004).pose[:, 0].tolist() == [1.0]


def _pose(trans, joints):
    return torch.cat((torch.as_tensor(trans, dtype=torch.float32)[None],
                      matrix_to_rot6d(torch.eye(3))[None], joints[None]), dim=1)


def _hand_points(hand, pose):
    """All hand surface samples ``(N, 3)`` in the frame ``pose`` maps the hand into."""
    t = pose_to_matrix(pose).unsqueeze(1) @ hand.link_transforms(pose[:, 9:])
    return hand.surface(t)[0].T


BOX = trimesh.creation.box(extents=(0.06, 0.06, 0.06))


def test_deepest_is_the_deepest_hand_sample_in_the_current_object(allegro):
    """The hand half inside a box: the brute-force maximum over every surface sample."""
    sdf = SDFGrid.build(BOX, 32).to_torch()
    pose = torch.cat((_pose([0.0, 0.0, 0.05], allegro.open_pose),
                      _pose([0.0, 0.0, 0.3], allegro.open_pose)))  # the second far away
    ctx = StepContext(hand=allegro, sdf=sdf, active=allegro.os_masks[:2].clone())
    deepest = deepest_penetration(GraspState(ctx, pose, torch.zeros(2, 2, dtype=torch.long)))
    with torch.no_grad():
        expected = (-sdf(_hand_points(allegro, pose[:1]))).max()
    assert expected > 0.01  # centimetres deep
    assert deepest[0].item() == pytest.approx(expected.item(), rel=1e-5)
    assert deepest[1].item() == 0.0


def test_deepest_counts_held_objects_only_for_the_links_that_move(allegro):
    """A held box around the hand: its depth counts when the step moves every joint and
    not when it moves none (those links are the same for every candidate)."""
    far = SDFGrid.build(trimesh.creation.icosphere(radius=0.01), 16).to_torch()
    held_sdf = SDFGrid.build(BOX, 32).to_torch()
    into_held = _pose([0.0, 0.0, 0.05], allegro.open_pose)  # hand frame -> held box
    held = HeldObject.attach(held_sdf, into_held,
                             torch.as_tensor(sample_surface(BOX, 200), dtype=torch.float32))
    pose = _pose([0.0, 0.0, 0.5], allegro.open_pose)  # the current object is far away
    with torch.no_grad():
        expected = (-held_sdf(_hand_points(allegro, into_held))).max()
    for active, want in ((torch.ones(1, allegro.num_joints, dtype=torch.bool), expected.item()),
                         (torch.zeros(1, allegro.num_joints, dtype=torch.bool), 0.0)):
        ctx = StepContext(hand=allegro, sdf=far, active=active, held=[held])
        deepest = deepest_penetration(GraspState(ctx, pose, torch.zeros(1, 2, dtype=torch.long)))
        assert deepest.item() == pytest.approx(want, rel=1e-5, abs=1e-9)


def test_deepest_counts_the_current_object_inside_a_held_one(allegro):
    """A 1 cm box centred in a held sphere of radius 3 cm, the hand 20 cm away: none of
    the sphere's surface is in the box, so only the box's own points see the overlap,
    as deep as 3 cm less the distance of the box's nearest point to the centre."""
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=0.03)
    pose = _pose([0.0, 0.0, 0.2], allegro.open_pose)  # both objects' frames
    held = HeldObject.attach(SDFGrid.build(sphere, 48).to_torch(), pose,
                             torch.as_tensor(sample_surface(sphere, 300), dtype=torch.float32))
    small = trimesh.creation.box(extents=(0.01, 0.01, 0.01))
    surface = torch.as_tensor(sample_surface(small, 100), dtype=torch.float32)
    ctx = StepContext(hand=allegro, sdf=SDFGrid.build(small, 24).to_torch(),
                      active=torch.ones(1, allegro.num_joints, dtype=torch.bool),
                      held=[held], surface=surface)
    deepest = deepest_penetration(GraspState(ctx, pose, torch.zeros(1, 2, dtype=torch.long)))
    expected = 0.03 - surface.norm(dim=1).min().item()
    assert deepest.item() == pytest.approx(expected, abs=1e-3)
    ctx.surface = None  # without the current object's points the overlap goes unseen
    ctx.__dict__.pop("surface_clusters", None)
    deepest = deepest_penetration(GraspState(ctx, pose, torch.zeros(1, 2, dtype=torch.long)))
    assert deepest.item() == 0.0


@pytest.mark.parametrize("kind", ["box", "cylinder"])
def test_deepest_counts_an_object_that_pierces_a_link(allegro, allegro_spec, kind):
    """A 5 mm ball in the middle of the largest box (the palm) or cylinder (a
    fingertip): none of the hand's surface is in the ball, so only the ball's points
    see the overlap, as deep as their signed distance to the link's mesh (brute force
    with trimesh; its cylinder is a 24-gon, 0.1 mm inside the true one)."""
    from seqgrasp_core.hands.primitives import read_collision_primitives

    prims, _ = read_collision_primitives(allegro_spec.urdf_path)
    links = allegro.link_transforms(allegro.open_pose[None])[0].double().numpy()
    meshes = [p.trimesh().apply_transform(links[allegro.link_names.index(p.link)])
              for p in prims]
    target = max((m for m, p in zip(meshes, prims) if p.kind == kind), key=lambda m: m.volume)
    centre = np.array(target.bounding_box_oriented.centroid)
    ball = trimesh.creation.icosphere(subdivisions=3, radius=0.005)
    surface = torch.as_tensor(sample_surface(ball, 200), dtype=torch.float32)
    pose = _pose(-torch.as_tensor(centre, dtype=torch.float32), allegro.open_pose)
    ctx = StepContext(hand=allegro, sdf=SDFGrid.build(ball, 16).to_torch(),
                      active=allegro.os_masks[:1].clone(), surface=surface)
    deepest = deepest_penetration(GraspState(ctx, pose, torch.zeros(1, 2, dtype=torch.long)))
    points = surface.double().numpy() + centre
    expected = max(trimesh.proximity.signed_distance(m, points).max() for m in meshes)
    assert expected > 0.003  # millimetres inside the link
    assert deepest.item() == pytest.approx(expected, abs=2e-4)
    ctx.surface = None  # the hand's own points alone do not see it
    deepest = deepest_penetration(GraspState(ctx, pose, torch.zeros(1, 2, dtype=torch.long)))
    assert deepest.item() == 0.0
