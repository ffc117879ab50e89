"""A differentiable signed distance for objects: a cached grid, trilinearly sampled.

Exact point-to-mesh queries are far too slow inside the optimizer (trimesh: about 1 s
per 16k points), so each object gets a regular grid of exact signed distances
(computed once with point-cloud-utils, cached per mesh hash and scale). A query
gathers the eight corners of each point's cell and interpolates; the same eight
values give the interpolant's exact spatial gradient, so one gather serves the value
and the backward pass. (On a CPU this is faster than ``grid_sample``, whose 3-D
backward is slow and which needs the gradient stored as extra channels.)

Sign convention: negative inside the object, positive outside, metres.
Outside the grid, the distance grows with the distance to the grid's box.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from seqgrasp_core import native
from seqgrasp_core.geometry.transforms import dot
from seqgrasp_core.system.cache import cache_dir
from seqgrasp_core.system.outputs import atomic_write_bytes

GRID_PADDING = 0.04  # metres around the object's bounding box


def exact_signed_distance(mesh, points: np.ndarray) -> np.ndarray:
    """Exact signed distance ``(P,)`` of ``points`` ``(P, 3)`` to a watertight mesh."""
    import point_cloud_utils as pcu

    d, _, _ = pcu.signed_distance_to_mesh(
        np.ascontiguousarray(points, dtype=np.float64),
        np.ascontiguousarray(mesh.vertices, dtype=np.float64),
        np.ascontiguousarray(mesh.faces, dtype=np.int32))
    return np.asarray(d)


@dataclass
class SDFGrid:
    """``values`` ``(R, R, R)`` indexed ``[z, y, x]`` over ``[lo, hi]`` (metres)."""

    lo: np.ndarray
    hi: np.ndarray
    values: np.ndarray
    resolution: int

    @classmethod
    def build(cls, mesh, resolution: int = 64, padding: float = GRID_PADDING) -> "SDFGrid":
        lo = np.asarray(mesh.bounds[0], dtype=np.float64) - padding
        hi = np.asarray(mesh.bounds[1], dtype=np.float64) + padding
        axes = [np.linspace(lo[i], hi[i], resolution) for i in range(3)]
        zz, yy, xx = np.meshgrid(axes[2], axes[1], axes[0], indexing="ij")
        pts = np.stack((xx, yy, zz), axis=-1).reshape(-1, 3)
        sdf = exact_signed_distance(mesh, pts).reshape(resolution, resolution, resolution)
        return cls(lo=lo, hi=hi, values=sdf.astype(np.float32), resolution=resolution)

    @classmethod
    def for_object(cls, obj, resolution: int = 64) -> "SDFGrid":
        """The grid of a :class:`~seqgrasp_core.objects.mesh.GraspObject`, cached on disk."""
        path = cache_dir("sdf") / f"{obj.sha256[:32]}_{obj.scale:.6g}_{resolution}_v2.npz"
        if path.is_file():
            try:
                with np.load(path) as f:
                    return cls(f["lo"], f["hi"], f["values"], int(f["resolution"]))
            except (OSError, ValueError, KeyError):
                path.unlink(missing_ok=True)
        grid = cls.build(obj.mesh, resolution)

        def write(tmp):
            with open(tmp, "wb") as fh:
                np.savez(fh, lo=grid.lo, hi=grid.hi, values=grid.values,
                         resolution=grid.resolution)
        atomic_write_bytes(path, write)
        return grid

    def to_torch(self, dtype=torch.float32, device="cpu") -> "TorchSDF":
        return TorchSDF(torch.as_tensor(self.values, dtype=dtype, device=device),
                        torch.as_tensor(self.lo, dtype=dtype, device=device),
                        torch.as_tensor(self.hi, dtype=dtype, device=device),
                        padding=GRID_PADDING)


def _cells(points: torch.Tensor, grid: "TorchSDF"
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For points ``(3, N)``: the points clamped into the grid ``(3, N)``, their position
    in their cell ``(3, N)`` (0–1 per axis) and the flat indices ``(8 N,)`` of the
    cell's corners, ordered ``[dz, dy, dx, N]``."""
    inside = torch.clamp(points, grid.lo, grid.hi)
    cell = torch.addcmul(grid.cell_offset, inside, grid.per_metre)  # in cells
    corner = cell.floor().clamp_(0, grid.resolution - 2)
    first = (corner * grid.strides).sum(0).long()
    return inside, cell - corner, (first + grid.corner_offsets).reshape(-1)


def _trilinear(points: torch.Tensor, grid: "TorchSDF") -> tuple[torch.Tensor, torch.Tensor]:
    """Signed distance ``(N,)`` and its spatial gradient ``(3, N)`` at points ``(3, N)``,
    no autograd (the callers' backward passes use the gradient)."""
    if native.enabled(points, grid.flat):
        value, grad, _ = native.trilinear(points, grid.flat, None, grid.resolution,
                                          grid.native_box)
        return value, grad
    inside, t, corners = _cells(points, grid)
    c = grid.flat.index_select(0, corners)
    c = c.reshape(2, 2, 2, -1)  # [dz, dy, dx, N]
    along_x = torch.lerp(c[:, :, 0], c[:, :, 1], t[0])  # (2, 2, N) [dz, dy]
    along_xy = torch.lerp(along_x[:, 0], along_x[:, 1], t[1])  # (2, N) [dz]
    value = torch.lerp(along_xy[0], along_xy[1], t[2])
    slope_x = c[:, :, 1] - c[:, :, 0]
    slope_x = torch.lerp(slope_x[:, 0], slope_x[:, 1], t[1])
    slope_y = along_x[:, 1] - along_x[:, 0]
    grad = torch.stack((torch.lerp(slope_x[0], slope_x[1], t[2]),
                        torch.lerp(slope_y[0], slope_y[1], t[2]),
                        along_xy[1] - along_xy[0])) * grid.per_metre
    offset = points - inside
    outside2 = dot(offset, offset)
    # Outside the grid, the distance grows along the offset.
    if points.shape[1] and bool(outside2.max() > 0):
        outside = outside2.sqrt()
        value = value + outside
        grad = torch.where(outside > 0, offset / outside.clamp_min(1e-12), grad)
    return value, grad


class _GridSDF(torch.autograd.Function):
    """The trilinear signed distance of points ``(3, N)`` (coordinate-major, object
    frame, metres). Outputs ``(value (N,), gradient (3, N))``; only ``value`` is
    differentiable, and its backward uses the gradient.
    """

    @staticmethod
    def forward(ctx, points, grid):
        value, grad = _trilinear(points, grid)
        ctx.save_for_backward(grad)
        ctx.mark_non_differentiable(grad)
        return value, grad

    @staticmethod
    def backward(ctx, grad_value, _grad_gradient):
        (grad,) = ctx.saved_tensors
        return grad_value * grad, None


class _DepthSum(torch.autograd.Function):
    """Summed depth inside the object per sequence (see :meth:`TorchSDF.depth_sum`),
    one graph node: the backward is the masked SDF gradient, scattered back."""

    @staticmethod
    def forward(ctx, points, grid, batch, size, valid):
        shape = points.shape
        value, grad = _trilinear(points.reshape(3, -1), grid)
        inside = (value < 0).to(points.dtype).reshape(shape[1:])
        if valid is not None:
            inside = inside * valid
        depth = (-value.reshape(shape[1:]) * inside).sum(0)  # (M,)
        ctx.save_for_backward(-grad.reshape(shape) * inside, batch)
        out = torch.zeros(size, dtype=points.dtype, device=points.device)
        return out.index_add_(0, batch, depth)

    @staticmethod
    def backward(ctx, grad_out):
        grad_points, batch = ctx.saved_tensors
        return grad_points * grad_out.index_select(0, batch), None, None, None, None


class _WithGradient(torch.autograd.Function):
    """``value`` (computed elsewhere) as a function of ``points`` with gradient ``grad``."""

    @staticmethod
    def forward(ctx, points, value, grad):
        ctx.save_for_backward(grad)
        return value

    @staticmethod
    def backward(ctx, grad_value):
        (grad,) = ctx.saved_tensors
        return grad_value * grad, None, None


class TorchSDF:
    """The grid as tensors, for points in the object frame (metres).

    :meth:`sample` and :meth:`depth_sum` take coordinate-major points ``(3, ...)`` (the
    optimizer's layout); ``__call__`` takes ``(..., 3)``.
    """

    def __init__(self, values: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor,
                 padding: float = 0.0) -> None:
        r = values.shape[-1]
        if values.shape != (r, r, r) or r < 2:
            raise ValueError(f"an SDF grid must be (R, R, R) with R ≥ 2, "
                             f"not {tuple(values.shape)}")
        self.resolution = r
        self.padding = padding
        self.flat = values.reshape(-1).contiguous()
        self.lo, self.hi = lo.reshape(3, 1), hi.reshape(3, 1)
        self.per_metre = (r - 1) / (self.hi - self.lo)  # (3, 1) cells per metre
        self.cell_offset = -self.lo * self.per_metre
        self.native_box = torch.cat((self.lo, self.hi, self.per_metre)).reshape(9).contiguous()
        self.strides = torch.tensor([[1.0], [r], [r * r]], dtype=values.dtype,
                                    device=values.device)
        self.corner_offsets = torch.tensor(
            [dz * r * r + dy * r + dx for dz in (0, 1) for dy in (0, 1) for dx in (0, 1)],
            device=values.device)[:, None]
        self.cell_diagonal = float(((hi - lo) / (r - 1)).norm())
        spacing = [float(x) for x in ((hi - lo) / (r - 1)).flip(0)]  # z, y, x
        gz, gy, gx = torch.gradient(values, spacing=spacing)
        # Central-difference gradient per node, (R³, 3) rows: smooth normals.
        self.flat_gradient = torch.stack((gx, gy, gz), dim=-1).reshape(-1, 3).contiguous()
        # The object's own bounding box: only points inside it can be inside the object.
        self.box_lo, self.box_hi = lo + padding, hi - padding
        # The same box and the cell diagonal for the native kernels: [lo (3), hi (3), diag].
        self.native_object_box = torch.cat((
            self.box_lo.reshape(3), self.box_hi.reshape(3),
            torch.tensor([self.cell_diagonal], dtype=values.dtype, device=values.device)
        )).to(values.dtype).contiguous()

    def shrunk(self, distance: float) -> "TorchSDF":
        """The object with its surface moved ``distance`` metres inward: every value
        raised by ``distance``, so a point is inside only where it is more than
        ``distance`` deep in the original, and its depth is the excess (a depth
        allowance for ``hop``)."""
        r = self.resolution
        return TorchSDF(self.flat.reshape(r, r, r) + distance, self.lo.reshape(3),
                        self.hi.reshape(3), padding=self.padding)

    def sample(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Signed distance ``(...)`` (differentiable, negative inside) and its spatial
        gradient ``(3, ...)`` (no gradient) at points ``(3, ...)``."""
        shape = points.shape[1:]
        value, grad = _GridSDF.apply(points.reshape(3, -1), self)
        return value.reshape(shape), grad.reshape(3, *shape)

    def outside_bound(self, points: torch.Tensor) -> torch.Tensor:
        """A lower bound ``(...)`` on how far points ``(3, ...)`` are outside the object
        (metres, no gradient), from the one grid node nearest each point: node values are
        exact distances and the distance is 1-Lipschitz, and the interpolant between
        nodes is bounded by its cell's corners, which lie within 1.5 cell diagonals."""
        with torch.no_grad():
            shape = points.shape[1:]
            points = points.reshape(3, -1)
            inside = torch.minimum(torch.maximum(points, self.lo), self.hi)
            node = ((inside - self.lo) * self.per_metre).round_().long()
            r = self.resolution
            value = self.flat.index_select(0, node[0] + r * (node[1] + r * node[2]))
            return (value - 1.5 * self.cell_diagonal).reshape(shape)

    def smooth_sample(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Signed distance ``(...)`` and outward unit normal ``(3, ...)`` at points
        ``(3, ...)``, where the distance's backward and the normal use the grid's
        central-difference gradient, trilinearly interpolated: continuous across cells,
        unlike the interpolant's own derivative. For the contacts, whose distance and
        normal steer the grasp (a discontinuous normal costs success rate)."""
        shape = points.shape[1:]
        flat = points.reshape(3, -1)
        with torch.no_grad():
            if native.enabled(flat, self.flat):
                value, _, smooth = native.trilinear(flat, self.flat, self.flat_gradient,
                                                    self.resolution, self.native_box)
            else:
                value, smooth = self._smooth_torch(flat)
            normal = smooth / dot(smooth, smooth).clamp_min(1e-24).sqrt()
        value = _WithGradient.apply(flat, value, smooth)
        return value.reshape(shape), normal.reshape(3, *shape)

    def _smooth_torch(self, flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(value (N,), smooth gradient (3, N))`` at points ``(3, N)`` in torch."""
        value, grad = _trilinear(flat, self)
        inside, t, corners = _cells(flat, self)
        t = t.T  # (N, 3)
        c = self.flat_gradient.index_select(0, corners)
        c = c.reshape(2, 2, 2, -1, 3)  # [dz, dy, dx, N, xyz]
        c = torch.lerp(c[:, :, 0], c[:, :, 1], t[:, 0:1])
        c = torch.lerp(c[:, 0], c[:, 1], t[:, 1:2])
        smooth = torch.lerp(c[0], c[1], t[:, 2:3]).T  # (3, N)
        # Outside the grid, _trilinear's gradient is the exact offset direction.
        return value, torch.where((flat == inside).all(0), smooth, grad)

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        """Signed distance ``(...)`` of points ``(..., 3)``, differentiable."""
        return self.sample(points.reshape(-1, 3).T)[0].reshape(points.shape[:-1])

    def depth_sum(self, points: torch.Tensor, batch: torch.Tensor, size: int,
                  valid: torch.Tensor | None = None) -> torch.Tensor:
        """Summed depth inside the object per sequence, ``(size,)`` metres.

        ``points`` ``(3, P, M)`` are ``M`` groups of ``P`` points, group ``m`` belonging
        to sequence ``batch[m]``; ``valid`` ``(P, M)`` masks padding points.
        Differentiable in ``points``.
        """
        if points.shape[-1] == 0:
            out = torch.zeros(size, dtype=points.dtype, device=points.device)
            return out + 0.0 * points.sum()  # keep the graph connected
        return _DepthSum.apply(points, self, batch, size, valid)

    def depth_max(self, points: torch.Tensor, batch: torch.Tensor, size: int) -> torch.Tensor:
        """Deepest point inside the object per sequence, ``(size,)`` metres (0 where no
        point is inside; no gradient). ``points`` ``(3, ...)`` with ``batch`` the
        sequence of each point (``points.shape[1:]`` flattened)."""
        with torch.no_grad():
            depth = (-self.sample(points.reshape(3, -1))[0]).clamp(min=0.0)
            out = torch.zeros(size, dtype=depth.dtype, device=depth.device)
            return out.scatter_reduce(0, batch.reshape(-1), depth, "amax")
