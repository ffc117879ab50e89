"""Exact signed distances to a closed triangle mesh, with the search tree built once.

The validator asks for the signed distance of a few hundred points to the same
non-convex object for every row; point-cloud-utils answers (to about 0.5 %) but rebuilds its
structures on every call (about 4 ms for a 1000-face mesh, plus 6.5 µs a point).
:class:`MeshDistance` builds a bounding-volume tree and the pseudonormals once per
mesh (numpy arrays, so it pickles to worker processes) and answers from a small C
function (``mesh_distance.c``, compiled on first use, see :mod:`.kernels`).
Without a C compiler, or with ``SEQGRASP_NATIVE=0``, it asks point-cloud-utils.
Negative inside, metres; the mesh must be closed and consistently oriented.
"""

from __future__ import annotations

import numpy as np

from seqgrasp_core.validation.kernels import library

LEAF = 4  # triangles per leaf of the tree


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.divide(v, n, out=np.zeros_like(v), where=n > 0)


def pseudonormals(vertices: np.ndarray, faces: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(face (F, 3), edge (F, 3, 3), corner (F, 3, 3))`` pseudonormals: edge ``k`` of a
    face runs from its corner ``k`` to ``k + 1`` and gets the sum of the normals of the
    two faces that share it; a corner gets the angle-weighted sum at its vertex."""
    tri = vertices[faces]
    face = _unit(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]))
    edges = np.stack((faces, np.roll(faces, -1, axis=1)), axis=-1).reshape(-1, 2)
    _, edge_id = np.unique(np.sort(edges, axis=1), axis=0, return_inverse=True)
    edge_id = edge_id.ravel()
    edge_sum = np.zeros((edge_id.max() + 1, 3))
    np.add.at(edge_sum, edge_id, np.repeat(face, 3, axis=0))
    angle = np.empty(faces.shape)
    for k in range(3):
        u = _unit(tri[:, (k + 1) % 3] - tri[:, k])
        w = _unit(tri[:, (k + 2) % 3] - tri[:, k])
        angle[:, k] = np.arccos(np.clip(np.einsum("ij,ij->i", u, w), -1.0, 1.0))
    vertex_sum = np.zeros((len(vertices), 3))
    np.add.at(vertex_sum, faces.ravel(), (angle[:, :, None] * face[:, None, :]).reshape(-1, 3))
    return (face, _unit(edge_sum)[edge_id].reshape(-1, 3, 3),
            _unit(vertex_sum)[faces])


class MeshDistance:
    """Signed distance ``(P,)`` of points ``(P, 3)`` to one mesh (its frame, metres)."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray) -> None:
        self.vertices = np.ascontiguousarray(vertices, dtype=np.float64)
        self.faces = np.ascontiguousarray(faces, dtype=np.int32)
        face, edge, corner = pseudonormals(self.vertices, self.faces.astype(np.int64))
        tri = self.vertices[self.faces]
        order, lo, hi, child, start, count = _tree(tri)
        self.tri = np.ascontiguousarray(tri[order])
        self.face_normal = np.ascontiguousarray(face[order])
        self.edge_normal = np.ascontiguousarray(edge[order])
        self.corner_normal = np.ascontiguousarray(corner[order])
        self.node_lo, self.node_hi = lo, hi
        self.node_child, self.node_start, self.node_count = child, start, count

    def __call__(self, points: np.ndarray) -> np.ndarray:
        points = np.ascontiguousarray(points, dtype=np.float64).reshape(-1, 3)
        lib = library()
        if lib is None:
            return _point_cloud_utils_distance(self.vertices, self.faces, points)
        out = np.empty(len(points))
        if len(points):
            lib.mesh_signed_distance(points.ctypes.data, len(points), *self.tree_pointers(),
                                     out.ctypes.data)
        return out

    def tree_pointers(self) -> list[int]:
        """Addresses of the nine arrays the C search reads, in its argument order."""
        return [a.ctypes.data for a in (self.tri, self.face_normal, self.edge_normal,
                                        self.corner_normal, self.node_lo, self.node_hi,
                                        self.node_child, self.node_start, self.node_count)]


def _point_cloud_utils_distance(vertices: np.ndarray, faces: np.ndarray,
                                points: np.ndarray) -> np.ndarray:
    """The fallback: point-cloud-utils' signed distance (the query of
    :func:`seqgrasp_core.objects.sdf.exact_signed_distance`, without importing torch)."""
    import point_cloud_utils as pcu

    d, _, _ = pcu.signed_distance_to_mesh(points, vertices, faces)
    return np.asarray(d)


def _tree(tri: np.ndarray):
    """A bounding-volume tree over triangles ``(F, 3, 3)``: each node splits its
    triangles at the median centroid along its box's longest side, down to ``LEAF``
    triangles. Returns ``(triangle order, lo (N, 3), hi (N, 3), child (N, 2),
    start (N,), count (N,))``; node 0 is the root, leaves have children −1."""
    centroid = tri.mean(axis=1)
    order = np.arange(len(tri))
    lo, hi, child, start, count = [], [], [], [], []

    def build(first: int, last: int) -> int:
        node = len(lo)
        ids = order[first:last]
        lo.append(tri[ids].min(axis=(0, 1)))
        hi.append(tri[ids].max(axis=(0, 1)))
        child.append([-1, -1])
        start.append(first)
        count.append(last - first)
        if last - first > LEAF:
            axis = int(np.argmax(hi[node] - lo[node]))
            mid = (last - first) // 2
            part = np.argpartition(centroid[ids, axis], mid)
            order[first:last] = ids[part]
            child[node] = [build(first, first + mid), build(first + mid, last)]
        return node

    build(0, len(tri))
    return (order, np.ascontiguousarray(lo), np.ascontiguousarray(hi),
            np.ascontiguousarray(child, dtype=np.int64),
            np.asarray(start, dtype=np.int64), np.asarray(count, dtype=np.int64))
