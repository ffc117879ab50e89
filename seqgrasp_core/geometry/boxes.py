"""Axis-aligned boxes: the distance test that culls points before exact checks."""

from __future__ import annotations

import torch


def box_gap2(points: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """Squared distance ``(...)`` of points ``(3, ...)`` to the box ``[lo, hi]``
    (``(3, 1, ...)``-broadcastable), 0 inside; written per axis (a reduction over the
    leading dimension is slow on a CPU)."""
    total = None
    for a in range(3):
        gap = points[a] - points[a].clamp(lo[a], hi[a])
        total = gap * gap if total is None else total + gap * gap
    return total
