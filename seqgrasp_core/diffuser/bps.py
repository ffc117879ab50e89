"""Object features for SeqDiffuser: the Basis Point Set encoding of surface samples
(:func:`seqgrasp_core.objects.mesh.sample_surface`).

The diffuser is conditioned on ``h_O``, the BPS feature of the object (paper §VI,
ref. [38]): a fixed set of basis points in a ball around the object, each described
by the vector to its nearest surface point and that distance. Surfaces are given in a
frame centred on the object (the caller subtracts the centre); units are metres.
"""

from __future__ import annotations

import numpy as np
import torch


def basis_points(count: int, radius: float, seed: int) -> np.ndarray:
    """A Basis Point Set: ``count`` points uniform in the ball of ``radius`` (metres)
    about the origin, drawn with ``seed``.

    Returns:
        ``(count, 3)`` float32 points.
    """
    rng = np.random.default_rng(seed)
    direction = rng.standard_normal((count, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    distance = radius * rng.random(count) ** (1.0 / 3.0)  # uniform in volume
    return (direction * distance[:, None]).astype(np.float32)


def bps_encode(surface: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """Encode surfaces against a Basis Point Set.

    Args:
        surface: ``(..., P, 3)`` surface points, object-centred (metres).
        basis: ``(N, 3)`` basis points, same frame.

    Returns:
        ``(..., N, 4)``: for every basis point, the vector from it to its nearest
        surface point (3, metres) and that vector's length (1, metres).
    """
    lead = surface.shape[:-2]
    flat = surface.reshape(-1, *surface.shape[-2:])                    # (B, P, 3)
    anchors = basis.to(flat).expand(len(flat), -1, -1)                 # (B, N, 3)
    nearest = torch.cdist(anchors, flat).argmin(dim=-1)                # (B, N)
    hit = torch.gather(flat, 1, nearest[..., None].expand(-1, -1, 3))  # (B, N, 3)
    vector = hit - anchors
    code = torch.cat((vector, vector.norm(dim=-1, keepdim=True)), dim=-1)
    return code.reshape(*lead, basis.shape[0], 4)
