"""Points fixed on links, placed for many link poses in one matrix product.

A *placer* matrix ``(N, 4L)`` spreads each point's homogeneous link-frame coordinates
over the columns of its link; multiplying it with the link poses ``(3, 4, L, B)``
(batch last, metres) gives the placed points ``(3, N, B)``. Surface samples, chunk
centres and self-penetration spheres are all placed this way.
"""

from __future__ import annotations

import torch


def placer(local: torch.Tensor, link: torch.Tensor, n_links: int) -> torch.Tensor:
    """``(N, 4L)`` for :func:`place`: row ``i`` holds ``[local[i], 1]`` in the columns
    ``k·L + link[i]`` (``k = 0..3``), zeros elsewhere."""
    out = torch.zeros(len(link), 4 * n_links, dtype=local.dtype)
    homog = torch.cat((local, torch.ones(len(link), 1, dtype=local.dtype)), dim=1)
    rows = torch.arange(len(link))
    for k in range(4):
        out[rows, k * n_links + link] = homog[:, k]
    return out


def place(links: torch.Tensor, placer_matrix: torch.Tensor) -> torch.Tensor:
    """Points fixed on links ``(3, N, B)`` for link poses ``(3, 4, L, B)``: one batched
    matrix product with a :func:`placer` matrix ``(N, 4L)`` (on a CPU far faster than
    gathering a pose per point, forward and backward)."""
    return torch.matmul(placer_matrix, links.reshape(3, -1, links.shape[-1]))
