"""``E_ohp``: the objects' points inside the hand's collision primitives."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import trimesh

from seqgrasp_core.bundled.energies.object_hand_penetration import (
    ObjectHandPenetration,
    find_overlaps,
)
from seqgrasp_core.geometry.pose import matrix_to_rot6d
from seqgrasp_core.hands.primitives import read_collision_primitives
from seqgrasp_core.objects.mesh import sample_surface
from seqgrasp_core.objects.sdf import SDFGrid
from seqgrasp_core.synthesis.refine import RefineConfig, refine
from seqgrasp_core.synthesis.state import GraspState, HeldObject, StepContext
from seqgrasp_core.synthesis.terms import WeightedEnergy

BALL = trimesh.creation.icosphere(subdivisions=3, radius=0.005)
NO_CONTACTS = torch.zeros(1, 2, dtype=torch.long)


def _pose(trans, joints):
    return torch.cat((torch.as_tensor(trans, dtype=torch.float32)[None],
                      matrix_to_rot6d(torch.eye(3))[None], joints[None]), dim=1)


def _link_meshes(hand, spec):
    """Each collision primitive as a mesh, posed at the open hand (hand frame);
    cylinders and spheres finer than ``Primitive.trimesh`` makes them (within a few
    µm of the true surface, not 0.1–0.2 mm)."""
    prims, _ = read_collision_primitives(spec.urdf_path)
    links = hand.link_transforms(hand.open_pose[None])[0].double().numpy()
    meshes = []
    for p in prims:
        mesh = p.trimesh()
        if p.kind == "cylinder":
            mesh = trimesh.creation.cylinder(radius=p.size[0], height=p.size[1], sections=512)
            mesh.apply_transform(p.origin)
        elif p.kind == "sphere":
            mesh = trimesh.creation.icosphere(subdivisions=4, radius=p.size[0])
            mesh.apply_transform(p.origin)
        meshes.append((p, mesh.apply_transform(links[hand.link_names.index(p.link)])))
    return meshes


def _centre_of(meshes, kind):
    """The centre of the largest primitive of ``kind`` (the palm's box, a fingertip)."""
    prim, mesh = max(((p, m) for p, m in meshes if p.kind == kind), key=lambda pm: pm[1].volume)
    return prim, np.array(mesh.bounding_box_oriented.centroid)


def _brute_force(meshes, points, allowance):
    """Σ over primitives and points of (depth − allowance)⁺, by trimesh."""
    return sum(np.clip(trimesh.proximity.signed_distance(m, points) - allowance, 0, None).sum()
               for _, m in meshes)


@pytest.mark.parametrize("allowance", [0.0, 0.001])
def test_ohp_sums_the_depth_of_a_ball_inside_the_palm(allegro, allegro_spec, allowance):
    """A 5 mm ball in the middle of the palm's box: the summed depth of its points
    equals brute force with trimesh, with or without an allowance, and with the pairs
    found ahead (a margin) or not."""
    meshes = _link_meshes(allegro, allegro_spec)
    _, centre = _centre_of(meshes, "box")
    points = torch.as_tensor(sample_surface(BALL, 200), dtype=torch.float32)
    ctx = StepContext(hand=allegro, sdf=SDFGrid.build(BALL, 16).to_torch(),
                      active=allegro.os_masks[:1].clone(), surface=points,
                      depth_allowance=allowance)
    state = GraspState(ctx, _pose(-torch.as_tensor(centre, dtype=torch.float32),
                                  allegro.open_pose), NO_CONTACTS)
    energy = ObjectHandPenetration()(state)
    expected = _brute_force(meshes, points.double().numpy() + centre, allowance)
    assert expected > 0.2  # 200 points, millimetres deep
    assert energy.item() == pytest.approx(expected, rel=1e-3)
    found = replace(ctx, searches={"ohp": ObjectHandPenetration().search(state)})
    assert ObjectHandPenetration()(GraspState(found, state.pose, NO_CONTACTS)).item() == \
        pytest.approx(energy.item(), rel=1e-6)


def test_ohp_is_zero_far_from_the_hand_and_without_points(allegro):
    points = torch.as_tensor(sample_surface(BALL, 50), dtype=torch.float32)
    far = StepContext(hand=allegro, sdf=SDFGrid.build(BALL, 16).to_torch(),
                      active=allegro.os_masks[:1].clone(), surface=points)
    pose = _pose([0.0, 0.0, 0.5], allegro.open_pose)
    assert ObjectHandPenetration()(GraspState(far, pose, NO_CONTACTS)).item() == 0.0
    bare = replace(far, surface=None)
    assert ObjectHandPenetration()(GraspState(bare, pose, NO_CONTACTS)).item() == 0.0


@pytest.mark.slow
def test_ohp_counts_a_held_object_only_in_the_links_that_move(allegro, allegro_spec):
    """A held ball in a fingertip: it counts when the step moves every joint, not when
    it moves none; the dense points replace the surface points when given."""
    meshes = _link_meshes(allegro, allegro_spec)
    _, centre = _centre_of(meshes, "cylinder")
    surface = torch.as_tensor(sample_surface(BALL, 50), dtype=torch.float32)
    dense = torch.as_tensor(sample_surface(BALL, 400), dtype=torch.float32)
    into_ball = _pose(-torch.as_tensor(centre, dtype=torch.float32), allegro.open_pose)
    held = HeldObject.attach(SDFGrid.build(BALL, 16).to_torch(), into_ball, surface,
                             dense.T.contiguous())
    far = _pose([0.0, 0.0, 0.5], allegro.open_pose)  # the current object far away
    expected = _brute_force(meshes, dense.double().numpy() + centre, 0.0)
    assert expected > 0.1
    for active, want in ((torch.ones(1, allegro.num_joints, dtype=torch.bool), expected),
                         (torch.zeros(1, allegro.num_joints, dtype=torch.bool), 0.0)):
        ctx = StepContext(hand=allegro, sdf=SDFGrid.build(BALL, 16).to_torch(), active=active,
                          held=[held], surface=surface)
        energy = ObjectHandPenetration()(GraspState(ctx, far, NO_CONTACTS))
        assert energy.item() == pytest.approx(want, rel=1e-3, abs=1e-9)


def test_refining_ohp_pushes_a_ball_out_of_the_palm(allegro, allegro_spec):
    """Descent on ``ohp`` alone, its pairs searched every few steps, moves the hand off
    a ball buried in its palm; the joints outside the step's opposition space keep
    their values bit for bit."""
    meshes = _link_meshes(allegro, allegro_spec)
    _, centre = _centre_of(meshes, "box")
    points = torch.as_tensor(sample_surface(BALL, 200), dtype=torch.float32)
    active = allegro.os_masks[:1].clone()
    ctx = StepContext(hand=allegro, sdf=SDFGrid.build(BALL, 16).to_torch(), active=active,
                      surface=points)
    pose = _pose(-torch.as_tensor(centre, dtype=torch.float32), allegro.open_pose)
    energy = WeightedEnergy({"ohp": (ObjectHandPenetration(), 1.0)})
    config = RefineConfig(steps=60, reselect=10, depth_allowance=0.0)
    refined, before, after = refine(energy, ctx, pose, NO_CONTACTS, config, 1, 1)
    assert before.item() > 0.2
    assert after.item() < 0.1 * before.item()
    moved = (refined[0, :3] - pose[0, :3]).norm().item()
    assert moved > 0.002  # the hand moved off by millimetres
    frozen = ~active[0]
    assert torch.equal(refined[0, 9:][frozen], pose[0, 9:][frozen])
    exact = ObjectHandPenetration()(GraspState(replace(ctx, depth_allowance=0.0), refined,
                                               NO_CONTACTS))
    assert exact.item() == pytest.approx(after.item(), abs=1e-6)
