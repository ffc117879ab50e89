"""Energy terms against known answers."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import trimesh

from seqgrasp_core.bundled.energies.force_closure import ForceClosure, force_closure
from seqgrasp_core.geometry.pose import matrix_to_rot6d
from seqgrasp_core.objects.mesh import GraspObject, sample_surface
from seqgrasp_core.objects.sdf import SDFGrid
from seqgrasp_core.synthesis.state import GraspState, HeldObject, StepContext


def to_frame(transform: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Apply ``(B, 4, 4)`` transforms to ``(B, N, 3)`` points (the brute-force reference)."""
    return points @ transform[:, :3, :3].transpose(1, 2) + transform[:, None, :3, 3]


def _object(mesh) -> GraspObject:
    return GraspObject("obj", "0" * 64, 1.0, mesh, sample_surface(mesh, 256))


@pytest.fixture(scope="module")
def sphere_sdf():
    return SDFGrid.build(trimesh.creation.icosphere(subdivisions=4, radius=0.03), 48).to_torch()


def test_force_closure_of_antipodal_contacts_is_zero():
    x = torch.tensor([[[0.03, 0.0, 0.0], [-0.03, 0.0, 0.0]]])  # (B, n, 3)
    inward = -torch.nn.functional.normalize(x, dim=-1)
    fc = force_closure(x.permute(2, 1, 0), inward.permute(2, 1, 0))  # batch-last (3, n, B)
    assert fc.item() == pytest.approx(0.0, abs=1e-12)


def test_force_closure_of_same_side_contacts_is_positive():
    x = torch.tensor([[[0.03, 0.0, 0.0], [0.0, 0.03, 0.0]]])
    inward = -torch.nn.functional.normalize(x, dim=-1)
    # Net force -(e_x + e_y), net moment zero for radial normals: |F|² = 2.
    fc = force_closure(x.permute(2, 1, 0), inward.permute(2, 1, 0))
    assert fc.item() == pytest.approx(2.0, rel=1e-6)


def test_force_closure_term_uses_object_normals(sphere_sdf):
    """On a sphere SDF: antipodal contacts ≈ 0; two contacts on one side clearly > 0."""

    class State:  # the two things the term reads, batch-last
        def __init__(self, contacts):
            self.contacts_t = contacts.permute(2, 1, 0)
            value, grad = sphere_sdf.sample(self.contacts_t)
            self.contact_surface_t = (value, torch.nn.functional.normalize(grad, dim=0))

    term = ForceClosure()
    d = torch.nn.functional.normalize(torch.tensor([0.3, -0.5, 0.8]), dim=0) * 0.03
    antipodal = term(State(torch.stack((d, -d))[None]))
    same_side = term(State(torch.stack((d, d * torch.tensor([1.0, 1.0, -1.0])))[None]))
    assert antipodal.item() < 1e-3
    assert same_side.item() > 0.5


def _ctx(hand, sdf, held=()):
    active = hand.os_masks[:1].clone()
    return StepContext(hand=hand, sdf=sdf, active=active, held=list(held))


def _pose(rot, trans, joints):
    return torch.cat((torch.as_tensor(trans, dtype=torch.float32)[None],
                      matrix_to_rot6d(torch.as_tensor(rot, dtype=torch.float32))[None],
                      joints[None]), dim=1)


def test_hand_inside_object_penetrates_and_far_hand_does_not(allegro):
    from seqgrasp_core.bundled.energies.hand_object_penetration import HandObjectPenetration

    box = trimesh.creation.box(extents=(0.06, 0.06, 0.06))
    sdf = SDFGrid.build(box, 32).to_torch()
    term = HandObjectPenetration()
    ctx = _ctx(allegro, sdf)
    inside = GraspState(ctx, _pose(np.eye(3), [0.0, 0.0, 0.02], allegro.open_pose),
                        torch.zeros(1, 2, dtype=torch.long))
    far = GraspState(ctx, _pose(np.eye(3), [0.5, 0.0, 0.0], allegro.open_pose),
                     torch.zeros(1, 2, dtype=torch.long))
    assert term(inside).item() > 0.1  # many points, centimetres deep
    assert term(far).item() == 0.0


@pytest.mark.parametrize("allowance", [0.0, 0.002])
def test_hop_with_a_depth_allowance_sums_only_the_depth_beyond_it(allegro, allowance):
    """hop equals the brute-force sum of max(0, depth − allowance) over the hand's
    surface samples, for a hand half inside a box."""
    from seqgrasp_core.bundled.energies.hand_object_penetration import HandObjectPenetration
    from seqgrasp_core.geometry.pose import pose_to_matrix

    box = trimesh.creation.box(extents=(0.06, 0.06, 0.06))
    sdf = SDFGrid.build(box, 32).to_torch()
    pose = _pose(np.eye(3), [0.0, 0.0, 0.05], allegro.open_pose)
    ctx = StepContext(hand=allegro, sdf=sdf, active=allegro.os_masks[:1].clone(),
                      depth_allowance=allowance)
    value = HandObjectPenetration()(GraspState(ctx, pose, torch.zeros(1, 2, dtype=torch.long)))
    with torch.no_grad():
        t = pose_to_matrix(pose).unsqueeze(1) @ allegro.link_transforms(pose[:, 9:])
        points = allegro.surface(t)[0].T  # (N, 3), box frame
        depth = -sdf(points)
    expected = (depth - allowance).clamp_min(0.0).sum()
    assert expected > 0.01  # the set-up has points deeper than the allowance
    assert value.item() == pytest.approx(expected.item(), rel=1e-4)


def test_object_inside_held_object_gives_positive_oop(allegro):
    """A held object overlapping the current one: its points inside count, depth > 0."""
    from seqgrasp_core.bundled.energies.object_object_penetration import ObjectObjectPenetration

    current = trimesh.creation.box(extents=(0.04, 0.04, 0.04))
    sdf = SDFGrid.build(current, 32).to_torch()
    held_mesh = trimesh.creation.icosphere(radius=0.02)
    held_pts = torch.as_tensor(sample_surface(held_mesh, 200), dtype=torch.float32)
    # The held object sits at the hand origin (hand frame = held object's frame).
    held = HeldObject.attach(sdf, _pose(np.eye(3), [0.0, 0.0, 0.0], allegro.open_pose), held_pts)

    def energy(offset):
        pose = _pose(np.eye(3), [offset, 0.0, 0.0], allegro.open_pose)
        state = GraspState(_ctx(allegro, sdf, [held]), pose, torch.zeros(1, 2, dtype=torch.long))
        return ObjectObjectPenetration()(state).item()

    assert energy(0.0) > 0.1     # sphere of radius 2 cm centred in a 4 cm box
    assert energy(0.2) == 0.0    # 20 cm apart


def test_current_object_inside_a_larger_held_object_gives_positive_oop(allegro):
    """A 1 cm box (the current object) inside a held sphere of radius 3 cm: none of the
    sphere's surface is in the box, so only the box's own points, tested against the
    sphere, see the overlap; their summed depth is known from the geometry."""
    from seqgrasp_core.bundled.energies.object_object_penetration import ObjectObjectPenetration

    sphere = trimesh.creation.icosphere(subdivisions=4, radius=0.03)
    held_sdf = SDFGrid.build(sphere, 48).to_torch()
    held_pts = torch.as_tensor(sample_surface(sphere, 300), dtype=torch.float32)
    held = HeldObject.attach(held_sdf, _pose(np.eye(3), [0.0, 0.0, 0.0], allegro.open_pose),
                             held_pts)
    box = trimesh.creation.box(extents=(0.01, 0.01, 0.01))
    box_sdf = SDFGrid.build(box, 24).to_torch()
    box_pts = torch.as_tensor(sample_surface(box, 100), dtype=torch.float32)

    def energy(offset, surface):
        pose = _pose(np.eye(3), [offset, 0.0, 0.0], allegro.open_pose)
        ctx = StepContext(hand=allegro, sdf=box_sdf, active=allegro.os_masks[:1].clone(),
                          held=[held], surface=surface)
        return ObjectObjectPenetration()(GraspState(ctx, pose, torch.zeros(1, 2, dtype=torch.long)))

    expected = float((0.03 - box_pts.norm(dim=1)).sum())  # depth of each box point in the sphere
    assert energy(0.0, None).item() == 0.0                 # eq. 10 alone: blind to it
    assert energy(0.0, box_pts).item() == pytest.approx(expected, rel=0.02)
    assert energy(0.2, box_pts).item() == 0.0              # 20 cm apart
    # The gradient pushes the box out of the sphere: from an off-centre start, the
    # energy falls along +x (the pose's translation moves the hand, hence the sphere).
    pose = _pose(np.eye(3), [0.01, 0.0, 0.0], allegro.open_pose).requires_grad_(True)
    ctx = StepContext(hand=allegro, sdf=box_sdf, active=allegro.os_masks[:1].clone(),
                      held=[held], surface=box_pts)
    ObjectObjectPenetration()(GraspState(ctx, pose, torch.zeros(1, 2, dtype=torch.long))).sum().backward()
    step = -pose.grad[0, :3]
    assert step.norm() > 0
    lower = _pose(np.eye(3), (torch.tensor([0.01, 0.0, 0.0]) + 1e-3 * step / step.norm()).tolist(),
                  allegro.open_pose)
    ctx2 = StepContext(hand=allegro, sdf=box_sdf, active=allegro.os_masks[:1].clone(),
                       held=[held], surface=box_pts)
    after = ObjectObjectPenetration()(GraspState(ctx2, lower, torch.zeros(1, 2, dtype=torch.long)))
    assert after.item() < energy(0.01, box_pts).item()


def test_joint_limit_energy_counts_violation_in_radians(allegro):
    from seqgrasp_core.bundled.energies.joint_limits import JointLimits

    joints = allegro.open_pose.clone()
    joints[1] = allegro.upper[1] + 0.25
    joints[2] = allegro.lower[2] - 0.5
    state = GraspState(_ctx(allegro, None), _pose(np.eye(3), [0, 0, 0], joints),
                       torch.zeros(1, 2, dtype=torch.long))
    assert JointLimits()(state).item() == pytest.approx(0.75, abs=1e-5)


def test_open_pose_has_no_self_penetration_and_curled_fingers_do(allegro):
    from seqgrasp_core.bundled.energies.self_penetration import SelfPenetration

    term = SelfPenetration()
    ctx = _ctx(allegro, None)
    open_state = GraspState(ctx, _pose(np.eye(3), [0, 0, 0], allegro.open_pose),
                            torch.zeros(1, 2, dtype=torch.long))
    assert term(open_state).item() == 0.0
    names = list(allegro.spec.joint_names)

    def flexed(index_roll, middle_roll):
        joints = allegro.open_pose.clone()
        joints[names.index("ffj1")] = joints[names.index("mfj1")] = 0.5
        joints[names.index("ffj0")], joints[names.index("mfj0")] = index_roll, middle_roll
        return term(GraspState(ctx, _pose(np.eye(3), [0, 0, 0], joints),
                               torch.zeros(1, 2, dtype=torch.long))).item()

    assert flexed(-0.47, 0.47) > 0.01  # index and middle swung into each other
    assert flexed(0.47, -0.47) == 0.0  # swung apart


def test_hop_weight_ramps_from_w_to_w_e_squared():
    from seqgrasp_core.bundled.energies.hand_object_penetration import HandObjectPenetration

    term = HandObjectPenetration()
    assert term.weight_at(5.0, 0, 6000) == pytest.approx(5.0)
    assert term.weight_at(5.0, 6000, 6000) == pytest.approx(5.0 * np.e ** 2)


def test_held_points_in_box_match_brute_force(allegro):
    """The bounding-sphere shortcut finds exactly the held points inside the box."""
    from seqgrasp_core.geometry.pose import pose_to_matrix

    g = torch.Generator().manual_seed(2)
    b = 8
    held_mesh = trimesh.creation.box(extents=(0.05, 0.03, 0.04))
    pts = torch.as_tensor(sample_surface(held_mesh, 300), dtype=torch.float32)
    rot6 = torch.randn(b, 6, generator=g)
    held_pose = torch.cat((torch.randn(b, 3, generator=g) * 0.04, rot6), 1)
    held = HeldObject.attach(None, held_pose, pts)
    current = SDFGrid.build(trimesh.creation.box(extents=(0.06, 0.06, 0.06)), 16).to_torch()
    pose = torch.cat((torch.randn(b, 3, generator=g) * 0.05, torch.randn(b, 6, generator=g),
                      allegro.open_pose.expand(b, -1)), dim=1)
    state = GraspState(_ctx(allegro, current), pose, torch.zeros(b, 2, dtype=torch.long))
    batch, found = state.held_points_in_box(held, current)
    found = found.T
    # Brute force: every held point through the inverse of its grasp, then this grasp.
    in_hand = to_frame(torch.linalg.inv(pose_to_matrix(held_pose)), pts.expand(b, -1, -1))
    everything = to_frame(state.hand_to_object, in_hand)
    inside = ((everything >= current.box_lo) & (everything <= current.box_hi)).all(-1)
    assert len(batch) == int(inside.sum()) > 0
    for i in range(b):
        ours = found[batch == i].sort(dim=0).values
        ref = everything[i][inside[i]].sort(dim=0).values
        assert torch.allclose(ours, ref, atol=1e-5)


def test_force_closure_gradient_matches_autograd_of_the_formula():
    g = torch.Generator().manual_seed(8)
    x = torch.randn(3, 2, 5, generator=g, dtype=torch.float64).requires_grad_(True)
    n = torch.nn.functional.normalize(torch.randn(3, 2, 5, generator=g, dtype=torch.float64), dim=0)
    (ours,) = torch.autograd.grad(force_closure(x, n).sum(), x)
    moment = torch.linalg.cross(x, n, dim=0).sum(1)
    ref_value = (n.sum(1) ** 2).sum(0) + (moment ** 2).sum(0)
    (ref,) = torch.autograd.grad(ref_value.sum(), x)
    assert torch.allclose(force_closure(x, n), ref_value)
    assert torch.allclose(ours, ref, atol=1e-12) and ref.abs().max() > 0.1


def test_self_penetration_overlap_matches_brute_force():
    """The sparse overlap sum and its gradient equal a dense computation over all pairs."""
    from seqgrasp_core.bundled.energies.self_penetration import _Overlap

    g = torch.Generator().manual_seed(9)
    centres = (torch.rand(3, 12, 4, generator=g, dtype=torch.float64) * 0.05).requires_grad_(True)
    pairs = torch.combinations(torch.arange(12), 2)
    reach = torch.full((len(pairs),), 0.02, dtype=torch.float64)
    ours = _Overlap.apply(centres, pairs.repeat(4, 1), reach.repeat(4),
                          torch.arange(4).repeat_interleave(len(pairs)))
    (ours_grad,) = torch.autograd.grad(ours.sum(), centres)
    d = centres[:, pairs[:, 0]] - centres[:, pairs[:, 1]]
    dense = torch.relu(reach[:, None] - d.norm(dim=0)).sum(0)
    (ref_grad,) = torch.autograd.grad(dense.sum(), centres)
    assert (dense > 0).all()  # every sequence has overlapping pairs
    assert torch.allclose(ours, dense, atol=1e-9)
    assert torch.allclose(ours_grad, ref_grad, atol=1e-9)


def _two_balls(allegro, offset: float, sparse: int, dense: int):
    """A held ball (radius 3 cm, at the hand origin) and the current ball of the same
    size ``offset`` m along x, each with ``sparse`` surface points and ``dense`` ones:
    the context MALA sees and the one the refinement sees (``densified``)."""
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=0.03)
    sdf = SDFGrid.build(sphere, 48).to_torch()

    def points(n):
        return torch.as_tensor(sample_surface(sphere, n), dtype=torch.float32)

    held = HeldObject.attach(sdf, _pose(np.eye(3), [0.0, 0.0, 0.0], allegro.open_pose),
                             points(sparse), points(dense).T.contiguous())
    ctx = StepContext(hand=allegro, sdf=sdf, active=allegro.os_masks[:1].clone(),
                      held=[held], surface=points(sparse),
                      dense_surface=points(dense).T.contiguous())
    return ctx, _pose(np.eye(3), [offset, 0.0, 0.0], allegro.open_pose)


def _ball_depths(pose: torch.Tensor, held_points: torch.Tensor,
                 current_points: torch.Tensor) -> torch.Tensor:
    """Exact depth (m) of each point in the other 3 cm ball of :func:`_two_balls`:
    the held ball's ``(N, 3)`` points in the current one and the current ball's
    ``(M, 3)`` points in the held one, ``(N + M,)`` (negative outside)."""
    from seqgrasp_core.geometry.pose import pose_to_matrix

    t = pose_to_matrix(pose)[0]  # hand (= held ball's frame) -> current ball's frame
    held_in_current = held_points @ t[:3, :3].T + t[:3, 3]
    current_in_held = (current_points - t[:3, 3]) @ t[:3, :3]
    return torch.cat((0.03 - held_in_current.norm(dim=1), 0.03 - current_in_held.norm(dim=1)))


def test_the_refinements_context_tests_oop_on_the_dense_points(allegro):
    """``densified`` hands ``oop`` the dense points of both objects: its value is the
    depth summed over them, each ball's points inside the other (2 cm apart)."""
    from seqgrasp_core.bundled.energies.object_object_penetration import ObjectObjectPenetration

    ctx, pose = _two_balls(allegro, 0.02, sparse=64, dense=2000)
    dense = ctx.densified()
    assert dense.surface.shape == (2000, 3)
    assert dense.held[0].surface.points.shape == (3, 2000)
    plain = replace(ctx, dense_surface=None)
    assert plain.densified() is plain  # nothing to densify with

    value = ObjectObjectPenetration()(GraspState(dense, pose, torch.zeros(1, 2, dtype=torch.long)))
    expected = float(_ball_depths(pose, ctx.held[0].dense.T, ctx.dense_surface.T)
                     .clamp_min(0).sum())
    assert expected > 1.0  # hundreds of points, millimetres deep
    assert value.item() == pytest.approx(expected, rel=0.03)
    sparse = ObjectObjectPenetration()(GraspState(ctx, pose, torch.zeros(1, 2, dtype=torch.long)))
    assert sparse.item() < 0.1 * value.item()  # 64 points per ball sum to far less


@pytest.mark.parametrize("allowance", [0.0, 0.002])
def test_oop_with_a_depth_allowance_sums_only_the_depth_beyond_it(allegro, allowance):
    """Each ball's points inside the other (2 cm apart) count by max(0, depth − a)."""
    from seqgrasp_core.bundled.energies.object_object_penetration import ObjectObjectPenetration

    ctx, pose = _two_balls(allegro, 0.02, sparse=300, dense=300)
    ctx = replace(ctx, depth_allowance=allowance)
    value = ObjectObjectPenetration()(GraspState(ctx, pose, torch.zeros(1, 2, dtype=torch.long)))
    depth = _ball_depths(pose, ctx.held[0].surface.points.T, ctx.surface)
    expected = float((depth - allowance).clamp_min(0).sum())
    assert expected > 0.1
    assert value.item() == pytest.approx(expected, rel=0.03)


def test_refining_oop_on_the_dense_points_pulls_two_balls_apart(allegro):
    """Two 3 cm balls 6 mm into each other: the refinement with only ``oop`` moves the
    hand (and the held ball with it) until they overlap by no more than its 1 mm
    depth allowance (its last, growing step may carry them further apart)."""
    from seqgrasp_core.bundled.energies.object_object_penetration import ObjectObjectPenetration
    from seqgrasp_core.synthesis.refine import RefineConfig, refine
    from seqgrasp_core.synthesis.terms import WeightedEnergy

    ctx, pose = _two_balls(allegro, 0.054, sparse=64, dense=3000)
    energy = WeightedEnergy({"oop": (ObjectObjectPenetration(), 150.0)})
    config = RefineConfig(steps=100)
    assert config.depth_allowance == 0.001
    refined, before, after = refine(energy, ctx.densified(), pose,
                                    torch.zeros(1, 2, dtype=torch.long), config, 1, 1)
    assert before.item() > 0.0
    assert after.item() < before.item()
    assert torch.equal(refined[:, 9:], pose[:, 9:])  # oop does not depend on the joints
    overlap = 0.06 - float(refined[0, :3].norm())  # the balls' centres are |t| apart
    assert overlap < 0.001 + 0.0002
