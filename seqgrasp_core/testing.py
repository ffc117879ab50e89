"""Conformance checks for hand plugins, importable from a plugin's own tests.

Every check takes a :class:`~seqgrasp_core.hands.spec.HandSpec` and raises
``AssertionError`` with a one-line reason when the hand breaks the contract::

    import pytest
    from seqgrasp_core.testing import CHECKS, check_hand
    from my_hand import HAND_FILE
    from seqgrasp_core.hands.spec import HandSpec

    def test_my_hand_conforms():
        check_hand(HandSpec.from_files(HAND_FILE))

    # or one test per check:
    @pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
    def test_my_hand(check):
        check(HandSpec.from_files(HAND_FILE))

The checks: the URDF loads (pytorch_kinematics, yourdfpy, MuJoCo); the joints and the
masks agree; contact groups lie on real links; contact normals point inward; forward
kinematics is batched and differentiable; opposition-space masks index only this
hand's joints; and a short ``generate`` runs (B = 2, a few steps, on one demo object).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from seqgrasp_core.hands.spec import HandSpec, urdf_link_names

PROBE = 0.002  # m: along the inward normal is inside the link, against it outside

_models: dict[tuple[str, str], object] = {}


class ConformanceError(AssertionError):
    """A hand plugin breaks the contract (raised, not asserted: it holds under ``python -O``)."""


def require(condition, message: str = "conformance check failed") -> None:
    if not condition:
        raise ConformanceError(message)


def _model(spec: HandSpec):
    from seqgrasp_core.hands.model import HandModel

    key = (spec.name, str(spec.urdf_path))
    if key not in _models:
        _models[key] = HandModel(spec, surface_points=min(spec.surface_points, 300))
    return _models[key]


def check_urdf_loads(spec: HandSpec) -> None:
    """pytorch_kinematics, yourdfpy and MuJoCo all load the URDF; collisions are primitives."""
    import mujoco
    import pytorch_kinematics as pk

    from seqgrasp_core.hands.primitives import read_collision_primitives

    require(spec.urdf_path.is_file(), f"{spec.name}: URDF {spec.urdf_path} missing")
    text = spec.urdf_path.read_bytes()
    chain = pk.build_chain_from_urdf(re.sub(rb"<mujoco>.*?</mujoco>", b"", text, flags=re.S))
    require(chain.n_joints == spec.num_joints,
            f"{spec.name}: URDF moves {chain.n_joints} joints, hand.toml lists {spec.num_joints}")
    prims, _ = read_collision_primitives(spec.urdf_path)
    require(prims, f"{spec.name}: the URDF has no collision geometry")
    model = mujoco.MjModel.from_xml_path(str(spec.urdf_path))
    require(model.njnt == spec.num_joints,
            f"{spec.name}: MuJoCo sees {model.njnt} joints, hand.toml lists {spec.num_joints}")


def check_joint_masks(spec: HandSpec) -> None:
    """The joints are the URDF's movable joints; open pose and every mask have one entry
    per joint; the open pose is within the limits."""
    hand = _model(spec)
    require(len(set(spec.joint_names)) == spec.num_joints, f"{spec.name}: duplicate joint names")
    require(len(spec.open_pose) == spec.num_joints, f"{spec.name}: open_pose length")
    for os_ in spec.opposition_spaces:
        require(len(os_.joint_mask) == spec.num_joints,
                f"{spec.name}: OS {os_.name!r} mask has {len(os_.joint_mask)} entries")
        require(any(os_.joint_mask), f"{spec.name}: OS {os_.name!r} moves no joint")
    lo, hi = hand.lower.numpy(), hand.upper.numpy()
    pose = np.asarray(spec.open_pose)
    bad = [spec.joint_names[i] for i in np.flatnonzero((pose < lo - 1e-6) | (pose > hi + 1e-6))]
    require(not bad, f"{spec.name}: open pose outside the limits for {bad}")


def check_contacts_on_links(spec: HandSpec) -> None:
    """Every contact group used by an OS exists, is non-empty and lies on URDF links
    with collision geometry."""
    from seqgrasp_core.hands.primitives import read_collision_primitives

    links = urdf_link_names(spec.urdf_path)
    with_geometry = {p.link for p in read_collision_primitives(spec.urdf_path)[0]}
    for os_ in spec.opposition_spaces:
        for g in os_.contacts_a + os_.contacts_b:
            require(g in spec.contact_groups, f"{spec.name}: OS {os_.name!r} needs group {g!r}")
    for group in spec.contact_groups.values():
        require(len(group) > 0, f"{spec.name}: contact group {group.name!r} is empty")
        missing = set(group.links) - links
        require(not missing,
                f"{spec.name}: group {group.name!r} on unknown links {sorted(missing)}")
        bare = set(group.links) - with_geometry
        require(not bare,
                f"{spec.name}: group {group.name!r} on links without geometry {sorted(bare)}")


def check_normals_inward(spec: HandSpec) -> None:
    """2 mm along each contact's normal is inside its link, 2 mm against it is outside
    (for hands whose surface is the URDF's collision primitives)."""
    from seqgrasp_core.hands.contacts import link_sdf
    from seqgrasp_core.hands.primitives import read_collision_primitives

    if spec.surface_samples is not None:  # contacts are on a mesh, not the primitives
        for group in spec.contact_groups.values():
            require(np.allclose(np.linalg.norm(group.normals, axis=1), 1, atol=1e-3))
        return
    prims, _ = read_collision_primitives(spec.urdf_path)
    for group in spec.contact_groups.values():
        for link in set(group.links):
            sel = np.array([lk == link for lk in group.links])
            own = [p for p in prims if p.link == link]
            pts, nrm = group.points[sel], group.normals[sel]
            inside = link_sdf(own, pts + PROBE * nrm) < 0
            outside = link_sdf(own, pts - PROBE * nrm) > 0
            require(inside.all(), f"{spec.name}: {group.name!r} on {link}: " \
                                 f"{int((~inside).sum())} normals do not point into the link")
            require(outside.all(), f"{spec.name}: {group.name!r} on {link}: " \
                                  f"{int((~outside).sum())} points are buried in the link")


def check_fk_batched(spec: HandSpec) -> None:
    """Forward kinematics takes ``(B, K)`` joints, gives ``(B, L, 4, 4)`` poses and
    gradients; each batch row is independent."""
    import torch

    hand = _model(spec)
    gen = torch.Generator().manual_seed(0)
    q = hand.lower + (hand.upper - hand.lower) * torch.rand(3, hand.num_joints, generator=gen)
    q.requires_grad_(True)
    t = hand.link_transforms(q)
    require(t.shape == (3, len(hand.link_names), 4, 4), f"{spec.name}: FK shape {tuple(t.shape)}")
    t[:, :, :3, 3].sum().backward()
    require(q.grad is not None and torch.isfinite(q.grad).all(), f"{spec.name}: FK gradient")
    with torch.no_grad():
        single = hand.link_transforms(q[1:2])
        require(torch.allclose(single[0], t[1], atol=1e-5), f"{spec.name}: batch rows interact")
        require(torch.isfinite(hand.surface(t)).all())


def check_masks_own_joints(spec: HandSpec) -> None:
    """OS masks index only this hand's joints: each OS's contacts move with joints it
    owns or sit on the root (so freezing other joints never freezes its contacts), and
    the engine's mask matrix has this hand's width."""
    hand = _model(spec)
    require(tuple(hand.os_masks.shape) == (len(spec.opposition_spaces), spec.num_joints),
            f"{spec.name}: OS mask matrix {tuple(hand.os_masks.shape)}")
    for o, os_ in enumerate(spec.opposition_spaces):
        mask = hand.os_masks[o]
        for side in ("a", "b"):
            pool = getattr(hand, f"pool_{side}")[o]
            idx = pool[pool >= 0]
            deps = hand.link_joints[hand.contact_link[idx]]  # (M, K)
            moving = deps.any(1)
            owned = (deps & mask).any(1)
            require(bool((owned | ~moving).all()),
                    f"{spec.name}: OS {os_.name!r} pool {side} has contacts moved only by other joints")


def check_generate_runs(spec: HandSpec, steps: int = 3) -> None:
    """A short ``generate`` (B = 2, ``steps`` iterations, one demo object) runs and gives
    finite energies and poses."""
    from seqgrasp_core.plugins.manager import Plugins, load_plugins
    from seqgrasp_core.runs.generate import GenerateRequest, run_generate

    loaded = load_plugins()
    plugins = Plugins(energy_terms=loaded.energy_terms, validators=loaded.validators,
                      backends=loaded.backends)
    import dataclasses

    plugins.hands.register(dataclasses.replace(spec, surface_points=min(spec.surface_points, 300)),
                           plugin="conformance")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run.parquet"
        summary = run_generate(GenerateRequest(hand=spec.name, objects=None, object_count=1,
                                               batch=2, steps=steps, seed=0, out=out), plugins)
        require(out.is_file(), f"{spec.name}: generate wrote no run file")
    for outcome in summary["outcomes"]:
        require(np.isfinite(np.asarray(outcome.energy)).all(), f"{spec.name}: energy not finite")


CHECKS = (check_urdf_loads, check_joint_masks, check_contacts_on_links, check_normals_inward,
          check_fk_batched, check_masks_own_joints, check_generate_runs)


def check_hand(spec: HandSpec) -> None:
    """Run every check in :data:`CHECKS` on ``spec``."""
    for check in CHECKS:
        check(spec)
