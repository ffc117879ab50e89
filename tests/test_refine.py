"""The penetration refinement after MALA: monotone, mask-respecting, and it works."""

from __future__ import annotations

import pytest
import torch

from seqgrasp_core.hands.model import HandModel
from seqgrasp_core.objects.mesh import demo_object_paths, load_object
from seqgrasp_core.objects.sdf import exact_signed_distance
from seqgrasp_core.synthesis.initialization import initial_poses
from seqgrasp_core.synthesis.refine import RefineConfig, refine, refinement_energy
from seqgrasp_core.synthesis.state import GraspState, StepContext
from seqgrasp_core.synthesis.terms import WeightedEnergy


@pytest.fixture(scope="module")
def dense_allegro(allegro_spec):
    return HandModel(allegro_spec, surface_points=2000)


@pytest.fixture(scope="module")
def ball():
    path = next(p for p in demo_object_paths() if p.stem == "ball")
    return load_object(path, size_range=(0.06, 0.10))


def _deepest(hand: HandModel, pose: torch.Tensor, mesh) -> torch.Tensor:
    """Largest exact depth (m) of the hand's surface points inside ``mesh``, per grasp."""
    from seqgrasp_core.geometry.pose import pose_to_matrix

    with torch.no_grad():
        t = pose_to_matrix(pose).unsqueeze(1) @ hand.link_transforms(pose[:, 9:])  # (B, L, 4, 4)
        points = hand.surface(t).transpose(1, 2)  # (B, N, 3)
    depth = [max(0.0, -float(exact_signed_distance(mesh, p.double().numpy()).min()))
             for p in points]
    return torch.tensor(depth)


def test_refinement_lowers_penetration_never_raises_energy_keeps_frozen_joints(
        allegro, dense_allegro, plugins, ball):
    b = 6
    generator = torch.Generator().manual_seed(3)
    joints = allegro.open_pose.unsqueeze(0).expand(b, -1).clone()
    # The palm starts 4–8 mm inside the ball's hull: the hand penetrates it.
    pose = initial_poses(ball.mesh, torch.tensor(allegro.spec.palm_center),
                         torch.tensor(allegro.spec.palm_normal), joints, generator,
                         distance=(-0.008, -0.004)).float()
    os_index = allegro.os_names.index("index-palm")
    active = allegro.os_masks[os_index].unsqueeze(0).expand(b, -1).clone()
    ctx = StepContext(hand=dense_allegro, sdf=ball.sdf(64).to_torch(torch.float32, "cpu"),
                      active=active)
    contacts = torch.stack((allegro.pool_a[os_index, :b], allegro.pool_b[os_index, :b]), dim=1)
    energy = WeightedEnergy({t.name: (t, t.default_weight) for t in plugins.energy_terms})
    config = RefineConfig(steps=60)
    refined, before, after = refine(refinement_energy(energy, config), ctx, pose, contacts,
                                    config, step=100, steps=100)

    assert torch.all(after <= before)
    assert torch.all(after < before)
    frozen = ~active
    assert torch.equal(refined[:, 9:][frozen], pose[:, 9:][frozen])  # exact
    deep_before = _deepest(dense_allegro, pose, ball.mesh)
    deep_after = _deepest(dense_allegro, refined, ball.mesh)
    assert deep_before.min() > 0.003  # the set-up really penetrates
    assert deep_after.mean() < 0.5 * deep_before.mean()
    # The paper's hop term falls too (the others may rise a little: that is the trade).
    with torch.no_grad():
        _, terms_pose = energy(GraspState(ctx, pose, contacts), 100, 100)
        _, terms_refined = energy(GraspState(ctx, refined, contacts), 100, 100)
    assert terms_refined["hop"].mean() < 0.5 * terms_pose["hop"].mean()


def test_refinement_energy_rescales_the_named_terms_and_drops_zeros(plugins):
    energy = WeightedEnergy({t.name: (t, t.default_weight) for t in plugins.energy_terms})
    scaled = refinement_energy(energy, RefineConfig(scales=(("hop", 30.0), ("fc", 0.0))))
    assert "fc" not in scaled.terms
    for name, (term, weight) in energy.terms.items():
        if name != "fc":
            assert scaled.terms[name][0] is term
            assert scaled.terms[name][1] == (weight * 30.0 if name == "hop" else weight)


def test_zero_refine_steps_return_the_grasps_unchanged(allegro, plugins, ball):
    generator = torch.Generator().manual_seed(0)
    joints = allegro.open_pose.unsqueeze(0).expand(2, -1).clone()
    pose = initial_poses(ball.mesh, torch.tensor(allegro.spec.palm_center),
                         torch.tensor(allegro.spec.palm_normal), joints, generator).float()
    ctx = StepContext(hand=allegro, sdf=ball.sdf(64).to_torch(torch.float32, "cpu"),
                      active=allegro.os_masks[:2].clone())
    energy = WeightedEnergy({t.name: (t, t.default_weight) for t in plugins.energy_terms})
    contacts = torch.stack((allegro.pool_a[:2, 0], allegro.pool_b[:2, 0]), dim=1)
    out, before, after = refine(energy, ctx, pose, contacts, RefineConfig(steps=0), 1, 1)
    assert torch.equal(out, pose) and torch.equal(before, after)


def test_generate_with_refinement_keeps_frozen_joints_and_moves_the_grasps(allegro, plugins):
    from seqgrasp_core.synthesis.mala import MalaConfig
    from seqgrasp_core.synthesis.sequence import GenerateConfig, generate

    objects = [load_object(p) for p in demo_object_paths()[:2]]
    energy = WeightedEnergy({t.name: (t, t.default_weight) for t in plugins.energy_terms})

    def run(steps):
        config = GenerateConfig(batch=6, seed=2, mala=MalaConfig(steps=60),
                                refine=RefineConfig(steps=steps, surface_points=1500))
        return {o.step: o for o in generate(allegro, objects, energy, config)}

    plain, refined = run(0), run(20)
    assert not torch.equal(plain[1].pose, refined[1].pose)
    # Step 1 is identical before the refinement, so its frozen joints match exactly.
    frozen = ~refined[1].joint_mask
    assert torch.equal(refined[1].pose[:, 9:][frozen], plain[1].pose[:, 9:][frozen])
    prev, cur = refined[1], refined[2]
    for row, seq in enumerate(cur.sequence.tolist()):
        before = prev.pose[prev.sequence.tolist().index(seq), 9:]
        keep = ~cur.joint_mask[row]
        assert torch.equal(cur.pose[row, 9:][keep], before[keep])


def test_ohp_is_a_term_like_the_others_that_counts_only_in_the_refinement(plugins):
    import json

    from typer.testing import CliRunner

    from seqgrasp_cli.main import app
    from seqgrasp_core.runs.weights import build_energy, parse_energy_overrides

    listed = json.loads(CliRunner().invoke(app, ["energies", "--json"]).stdout)
    rows = {r["name"]: r for r in listed["energy_terms"]}
    assert sorted(rows) == ["dis", "fc", "hop", "hsp", "joint", "ohp", "oop"]
    assert rows["ohp"]["stages"] == ["refine"] and rows["hop"]["stages"] == ["optimize", "refine"]

    energy = build_energy(plugins, parse_energy_overrides([], plugins))
    assert "ohp" not in energy.for_stage("optimize").terms
    refining = refinement_energy(energy, RefineConfig(steps=1))
    assert refining.terms["ohp"][1] == 150.0
    # The optimizer's terms, then the refinement's own: the sum's order fixes its rounding.
    assert list(refining.terms) == ["dis", "hop", "hsp", "joint", "oop", "ohp"]
    off = build_energy(plugins, parse_energy_overrides(["ohp=0"], plugins))
    assert "ohp" not in refinement_energy(off, RefineConfig(steps=1)).terms
    assert "hop" in refinement_energy(off, RefineConfig(steps=1)).terms
