"""The clustered box test finds exactly the points a test of every point finds."""

from __future__ import annotations

import torch
import trimesh

from seqgrasp_core.geometry.boxes import box_gap2
from seqgrasp_core.geometry.pose import pose_to_block
from seqgrasp_core.geometry.transforms import apply
from seqgrasp_core.objects.mesh import sample_surface
from seqgrasp_core.objects.point_clusters import PointClusters


def test_clustered_box_test_equals_testing_every_point():
    g = torch.Generator().manual_seed(4)
    mesh = trimesh.creation.annulus(0.02, 0.045, 0.03)  # non-convex, several cells across
    points = torch.as_tensor(sample_surface(mesh, 600), dtype=torch.float64)
    clusters = PointClusters.of(points)
    assert 4 < len(clusters.radius) < len(points)       # clusters are neither one nor points
    # the same points, sorted by cluster
    assert torch.equal(clusters.points.T[torch.argsort(clusters.points.T[:, 0])],
                       points[torch.argsort(points[:, 0])])
    assert torch.all(clusters.radius <= 0.02 * 3 ** 0.5 + 1e-12)   # within one 2 cm cell
    pose = torch.cat((torch.randn(12, 3, generator=g, dtype=torch.float64) * 0.03,
                      torch.randn(12, 6, generator=g, dtype=torch.float64)), dim=1)
    transform = pose_to_block(pose)                      # (3, 4, 12)
    rows = torch.tensor([0, 2, 3, 5, 7, 8, 11])
    lo = torch.tensor([-0.03, -0.02, -0.01], dtype=torch.float64)
    hi = torch.tensor([0.01, 0.03, 0.02], dtype=torch.float64)
    p, r = clusters.inside_box(transform, rows, lo, hi)
    every = apply(transform[..., rows].unsqueeze(2), clusters.points.unsqueeze(-1))  # (3, P, R)
    ref_p, ref_r = (box_gap2(every, lo.reshape(3, 1, 1), hi.reshape(3, 1, 1)) == 0
                    ).nonzero(as_tuple=True)
    assert len(ref_p) > 20 and len(ref_p) < points.shape[0] * len(rows) // 2
    key = lambda pp, rr: torch.sort(pp * len(rows) + rr).values  # the pairs as a set
    assert torch.equal(key(p, r), key(ref_p, ref_r))
