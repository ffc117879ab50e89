"""An object's surface points grouped into small clusters, for fast box tests.

``E_oop`` asks, every iteration and for every sequence, which of one object's
surface points fall inside another object's bounding box. Testing each cluster's
bounding sphere first (a cluster whose centre is farther from the box than its
radius has no point inside) leaves only the points of the few clusters near the
box to be moved and tested; the points found are exactly those a test of every
point finds.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from seqgrasp_core.geometry.boxes import box_gap2
from seqgrasp_core.geometry.transforms import apply, take

CELL = 0.02  # m: cluster cell size (speed only, not the result)


@dataclass(frozen=True)
class PointClusters:
    """``points`` ``(3, P)`` in their own frame (metres), sorted by cluster: cluster
    ``c`` holds points ``start[c] .. start[c] + count[c] - 1`` and has centre
    ``centre[:, c]`` ``(3, C)`` and radius ``radius[c]`` ``(C,)``."""

    points: torch.Tensor
    start: torch.Tensor
    count: torch.Tensor
    centre: torch.Tensor
    radius: torch.Tensor

    @classmethod
    def of(cls, points: torch.Tensor, cell: float = CELL) -> "PointClusters":
        """Cluster points ``(P, 3)`` by the ``cell``-sized grid cell they lie in."""
        points = points.detach()
        _, cluster = torch.unique(torch.floor(points / cell).long(), dim=0, return_inverse=True)
        cluster, order = torch.sort(cluster, stable=True)
        points = points[order]
        count = torch.bincount(cluster)
        centre = torch.zeros(len(count), 3, dtype=points.dtype, device=points.device)
        centre = centre.index_add_(0, cluster, points) / count[:, None].to(points.dtype)
        spread = (points - centre[cluster]).norm(dim=1)
        radius = torch.zeros(len(count), dtype=points.dtype, device=points.device)
        radius = radius.scatter_reduce_(0, cluster, spread, "amax")
        return cls(points.T.contiguous(), torch.cumsum(count, 0) - count, count,
                   centre.T.contiguous(), radius)

    def sphere(self) -> tuple[torch.Tensor, float]:
        """``(centre (3,), radius m)`` of a sphere holding every point."""
        lo, hi = self.points.min(1).values, self.points.max(1).values
        centre = (lo + hi) / 2
        return centre, float((self.points - centre[:, None]).norm(dim=0).max())

    def inside_box(self, transform: torch.Tensor, rows: torch.Tensor, lo: torch.Tensor,
                   hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Index pairs ``(point p (M,), r (M,))``: point ``p`` (a column of ``points``)
        moved by ``transform[..., rows[r]]`` (``(3, 4, B)`` blocks) lies in the box
        ``[lo, hi]`` ``(3,)``. No gradient."""
        with torch.no_grad():
            moves = take(transform, rows)                                   # (3, 4, R)
            centre = apply(moves.unsqueeze(2), self.centre.unsqueeze(-1))  # (3, C, R)
            near = box_gap2(centre, lo.reshape(3, 1, 1), hi.reshape(3, 1, 1)) \
                <= self.radius[:, None] ** 2
            c, r = near.nonzero(as_tuple=True)
            n = self.count[c]
            first = torch.cumsum(n, 0) - n
            p = torch.arange(int(n.sum()), device=n.device) \
                + torch.repeat_interleave(self.start[c] - first, n)
            r = torch.repeat_interleave(r, n)
            placed = apply(take(moves, r), self.points[:, p])               # (3, M)
            inside = box_gap2(placed, lo.reshape(3, 1), hi.reshape(3, 1)) == 0
            return p[inside], r[inside]
