"""Initial hand placements (paper §IV-B, Fig. 4a).

The palm is put at a random point of the object's convex hull inflated outward,
facing the object, with a random roll about the facing direction and a small
random tilt.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from seqgrasp_core.geometry.pose import matrix_to_rot6d


def _rotation_between(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(B, 3, 3)`` rotations taking unit vectors ``a`` ``(3,)`` onto ``b`` ``(B, 3)``."""
    a = a.expand_as(b)
    v = torch.cross(a, b, dim=-1)
    c = (a * b).sum(-1)
    vx = torch.zeros(b.shape[0], 3, 3, dtype=b.dtype)
    vx[:, 0, 1], vx[:, 0, 2], vx[:, 1, 2] = -v[:, 2], v[:, 1], -v[:, 0]
    vx = vx - vx.transpose(1, 2)
    eye = torch.eye(3, dtype=b.dtype).expand_as(vx)
    k = (1.0 / (1.0 + c).clamp_min(1e-6))[:, None, None]
    r = eye + vx + vx @ vx * k
    # a ≈ -b: rotate by π about any axis perpendicular to a.
    flip = c < -1 + 1e-6
    if flip.any():
        perp = torch.linalg.svd(a[:1].T @ a[:1])[0][:, -1]
        r[flip] = 2 * torch.outer(perp, perp) - torch.eye(3, dtype=b.dtype)
    return r


def _axis_angle(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """``(B, 3, 3)`` Rodrigues rotations for unit ``axis`` ``(B, 3)`` and ``angle`` ``(B,)``."""
    kx = torch.zeros(axis.shape[0], 3, 3, dtype=axis.dtype)
    kx[:, 0, 1], kx[:, 0, 2], kx[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    kx = kx - kx.transpose(1, 2)
    s, c = torch.sin(angle)[:, None, None], torch.cos(angle)[:, None, None]
    return torch.eye(3, dtype=axis.dtype) + s * kx + (1 - c) * kx @ kx


def initial_poses(mesh, palm_center: torch.Tensor, palm_normal: torch.Tensor,
                  joints: torch.Tensor, generator: torch.Generator,
                  distance: tuple[float, float] = (0.02, 0.04),
                  max_tilt: float = math.radians(15)) -> torch.Tensor:
    """``(B, 9+K)`` grasp vectors in the object frame with the given ``joints`` ``(B, K)``.

    ``palm_center``/``palm_normal`` ``(3,)`` are in the hand frame; the palm centre
    lands ``distance`` metres (uniform) outside the convex hull, its normal pointing
    at the hull.
    """
    import trimesh

    b, dtype = joints.shape[0], torch.float64
    hull = mesh.convex_hull
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    points, faces = trimesh.sample.sample_surface(hull, b, seed=seed)
    outward = torch.as_tensor(np.asarray(hull.face_normals[faces]), dtype=dtype)
    surface = torch.as_tensor(np.asarray(points), dtype=dtype)

    align = _rotation_between(palm_normal.to(dtype), -outward)
    roll = torch.rand(b, generator=generator, dtype=dtype) * 2 * math.pi
    tilt_axis = torch.nn.functional.normalize(torch.randn(b, 3, generator=generator,
                                                          dtype=dtype), dim=-1)
    tilt = torch.rand(b, generator=generator, dtype=dtype) * max_tilt
    rot = _axis_angle(tilt_axis, tilt) @ _axis_angle(-outward, roll) @ align

    lo, hi = distance
    d = lo + (hi - lo) * torch.rand(b, generator=generator, dtype=dtype)
    target = surface + outward * d[:, None]
    translation = target - (rot @ palm_center.to(dtype)[:, None])[..., 0]
    pose = torch.cat((translation, matrix_to_rot6d(rot)), dim=1).to(joints.dtype)
    return torch.cat((pose, joints), dim=1)
