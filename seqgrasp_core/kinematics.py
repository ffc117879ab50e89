"""Forward kinematics of a pytorch_kinematics chain, evaluated in a CPU-friendly layout.

pytorch_kinematics parses the URDF into a tree of frames (static offsets, joint types
and axes); :class:`LinkPoses` reads that tree once and evaluates it level by level as
pytorch_kinematics does, but with every transform stored as a ``(3, 4, ..., B)`` block,
the batch last. Each elementwise operation then runs over a long contiguous row, where
``(B, 4, 4)`` batched products of tiny matrices (the chain's own
``forward_kinematics_tensor``) spend their time in per-matrix overhead on a CPU. The
results agree to float precision (``tests/test_kinematics.py``).

A revolute joint about the unit axis ``a`` by ``θ`` is Rodrigues' rotation
``I + sin θ K + (1 − cos θ) K²`` (``K`` the cross-product matrix of ``a``), so a
frame's local transform ``S · R(θ)`` is ``S + sin θ · S K + (1 − cos θ) · S K²``
with the three constant blocks precomputed; a prismatic joint adds ``d · S a`` to the
translation.

The backward pass is the geometric Jacobian (as pytorch_kinematics' analytical
backward, in this layout): for a revolute joint with world axis ``z`` through ``o``,
``∂L/∂θ = z · Σ_l (Σ_k P_l[:, k] × G_l[:, k] − o × G_l[:, 3])`` over the links ``l`` it
moves, with ``P_l = [R | t]`` the link's pose and ``G_l`` the loss gradient on it.

The helpers here (:func:`compose`, :func:`apply`, :func:`place_points`, …) work on
that layout everywhere in the optimizer's hot path.
"""

from __future__ import annotations

import math

import torch

from . import native


def compose(outer: torch.Tensor, inner: torch.Tensor) -> torch.Tensor:
    """``outer ∘ inner`` for rigid transforms as ``(3, 4, ...)`` blocks ``[R | t]``,
    batch last (broadcasting over the trailing dimensions)."""
    out = outer[:, 3:4] * _last_column(outer)  # the translation: [0 0 0 t]
    out = torch.addcmul(out, outer[:, 0:1], inner[0:1])
    out = torch.addcmul(out, outer[:, 1:2], inner[1:2])
    return torch.addcmul(out, outer[:, 2:3], inner[2:3])


def invert(pose: torch.Tensor) -> torch.Tensor:
    """The inverse ``[Rᵀ | −Rᵀ t]`` of rigid transforms ``(3, 4, ...)``."""
    rot_t = pose[:, :3].transpose(0, 1)
    return torch.cat((rot_t, -apply(torch.cat((rot_t, torch.zeros_like(pose[:, 3:])), 1),
                                    pose[:, 3]).unsqueeze(1)), dim=1)


_LAST_COLUMN: dict = {}


def _last_column(like: torch.Tensor) -> torch.Tensor:
    """``[0, 0, 0, 1]`` shaped ``(4, 1, …)`` to broadcast against ``(3, 4, ...)`` blocks."""
    key = (like.dtype, like.device, like.dim())
    if key not in _LAST_COLUMN:
        column = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=like.dtype, device=like.device)
        _LAST_COLUMN[key] = column.reshape(4, *([1] * (like.dim() - 2)))
    return _LAST_COLUMN[key]


def rotate(pose: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """Vectors ``(3, ...)`` rotated by the rotation part of ``(3, 4, ...)`` transforms."""
    out = pose[:, 0] * vectors[0]
    out = torch.addcmul(out, pose[:, 1], vectors[1])
    return torch.addcmul(out, pose[:, 2], vectors[2])


def apply(pose: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Points ``(3, ...)`` moved by ``(3, 4, ...)`` transforms (broadcasting)."""
    out = torch.addcmul(pose[:, 3], pose[:, 0], points[0])
    out = torch.addcmul(out, pose[:, 1], points[1])
    return torch.addcmul(out, pose[:, 2], points[2])


def to_matrices(poses: torch.Tensor) -> torch.Tensor:
    """``(3, 4, L, B)`` blocks → ``(B, L, 4, 4)`` homogeneous matrices."""
    rows = poses.permute(3, 2, 0, 1)  # (B, L, 3, 4)
    bottom = torch.zeros(*rows.shape[:2], 1, 4, dtype=rows.dtype, device=rows.device)
    bottom[..., 3] = 1.0
    return torch.cat((rows, bottom), dim=2)


def take(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x[..., index]`` for a contiguous ``x`` (``index_select`` along the last dim of
    a tensor with more than two dims takes a path about ten times slower)."""
    rows = math.prod(x.shape[:-1])
    return x.reshape(rows, x.shape[-1]).index_select(1, index).reshape(*x.shape[:-1], len(index))


def cross(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cross product of vectors ``(3, ...)`` (``torch.linalg.cross`` along dim 0 is slow)."""
    return torch.stack((torch.addcmul(a[1] * b[2], a[2], b[1], value=-1),
                        torch.addcmul(a[2] * b[0], a[0], b[2], value=-1),
                        torch.addcmul(a[0] * b[1], a[1], b[0], value=-1)))


def dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Dot product of vectors ``(3, ...)``."""
    return torch.addcmul(torch.addcmul(a[0] * b[0], a[1], b[1]), a[2], b[2])


def link_frames(frame: torch.Tensor, links: torch.Tensor, batch: torch.Tensor,
                link: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(frame_m, link_m, pose_m)`` ``(3, 4, M)``: for each ``m``, the frame of sequence
    ``batch[m]``, the pose of its link ``link[m]`` (hand frame) and their composition
    (no gradient; :func:`place_points` can reuse them)."""
    with torch.no_grad():
        frame_m = take(frame, batch)
        link_m = take(links.reshape(3, 4, -1), link * links.shape[-1] + batch)
        return frame_m, link_m, compose(frame_m, link_m)


def place_points(frame: torch.Tensor, links: torch.Tensor, batch: torch.Tensor,
                 link: torch.Tensor, local: torch.Tensor,
                 parts: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
                 ) -> torch.Tensor:
    """Points fixed on links, placed in another frame: ``(3, P, M)``.

    Group ``m`` of ``P`` link-frame points ``local[:, :, m]`` sits on link ``link[m]`` of
    sequence ``batch[m]``; ``links`` ``(3, 4, L, B)`` are the link poses in the hand
    frame and ``frame`` ``(3, 4, B)`` maps the hand frame into the target frame.
    Differentiable in ``frame`` and ``links``, with a hand-written backward (autograd
    through the gathers and block products costs several times more on a CPU).
    ``parts`` are :func:`link_frames` of the same groups, when already at hand.
    """
    if parts is None:
        parts = link_frames(frame, links, batch, link)
    return _PlacePoints.apply(frame, links, batch, link, local, *parts)


class _PlacePoints(torch.autograd.Function):
    @staticmethod
    def forward(ctx, frame, links, batch, link, local, frame_m, link_pose, pose):
        column = link * links.shape[-1] + batch
        ctx.save_for_backward(frame_m, link_pose, local, batch, column)
        ctx.shapes = (frame.shape, links.shape)
        return apply(pose.unsqueeze(2), local)

    @staticmethod
    def backward(ctx, grad):
        frame_m, link_pose, local, batch, column = ctx.saved_tensors
        frame_shape, links_shape = ctx.shapes
        if grad.shape == local.shape and native.enabled(grad, local, frame_m, link_pose):
            grad_frame, grad_links = native.place_points_backward(
                grad, local, frame_m, link_pose, batch, column, frame_shape[-1],
                links_shape[2] * links_shape[3])
            return (grad_frame.reshape(frame_shape), grad_links.reshape(links_shape),
                    None, None, None, None, None, None)
        # d/d pose: rotation columns from the points, translation from their sum.
        grad_pose = torch.stack([(grad * local[k]).sum(1) for k in range(3)]
                                + [grad.sum(1)], dim=1)  # (3, 4, M)
        grad_frame_m = torch.stack([dot_rows(grad_pose, link_pose[k]) for k in range(3)]
                                   + [grad_pose[:, 3]], dim=1)
        # Rᵀ of the frame times the pose gradient: row k is Σ_i R[i, k] · grad_pose[i].
        grad_link = torch.stack([dot(frame_m[:, k].unsqueeze(1), grad_pose)
                                 for k in range(3)])  # (3, 4, M)
        grad_frame = torch.zeros(12, frame_shape[-1], dtype=grad.dtype, device=grad.device)
        grad_frame.index_add_(1, batch, grad_frame_m.reshape(12, -1))
        n = links_shape[2] * links_shape[3]
        grad_links = torch.zeros(12, n, dtype=grad.dtype, device=grad.device)
        grad_links.index_add_(1, column, grad_link.reshape(12, -1))
        return (grad_frame.reshape(frame_shape), grad_links.reshape(links_shape),
                None, None, None, None, None, None)


def dot_rows(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``Σ_j a[:, j] b[j]`` for ``a`` ``(3, 4, ...)`` and ``b`` ``(4, ...)``: ``(3, ...)``."""
    out = torch.addcmul(a[:, 0] * b[0], a[:, 1], b[1])
    return torch.addcmul(torch.addcmul(out, a[:, 2], b[2]), a[:, 3], b[3])


class LinkPoses(torch.nn.Module):
    """Poses ``(3, 4, L, B)`` of the named frames of a pytorch_kinematics ``chain``
    (its root frame's coordinates) for joint values ``(K, B)`` given in the order
    ``joint_names`` (radians, metres)."""

    def __init__(self, chain, frame_names: list[str], joint_names: list[str]) -> None:
        super().__init__()
        dtype = chain.dtype
        levels: list[list[str]] = []
        parent_of: dict[str, str | None] = {}
        pending = [(chain.find_frame(chain.get_frame_names(exclude_fixed=False)[0]), None, 0)]
        while pending:  # breadth first from the root
            frame, parent, depth = pending.pop(0)
            name = frame.name.strip()
            while len(levels) <= depth:
                levels.append([])
            levels[depth].append(name)
            parent_of[name] = parent
            pending += [(child, name, depth + 1) for child in frame.children]
        order = [n for level in levels for n in level]
        position = {n: i for i, n in enumerate(order)}
        n = len(order)
        base, sin_part, cos_part, slide_part = (torch.zeros(n, 3, 4, dtype=dtype)
                                                for _ in range(4))
        joint_index = torch.zeros(n, dtype=torch.long)
        has_prismatic = False
        for name in order:
            frame = chain.find_frame(name)
            static = torch.eye(4, dtype=dtype)
            for offset in (frame.link.offset, frame.joint.offset):
                if offset is not None:
                    static = static @ offset.get_matrix()[0].to(dtype)
            i = position[name]
            base[i] = static[:3]
            kind = frame.joint.joint_type
            if kind == "fixed":
                continue
            joint_index[i] = joint_names.index(frame.joint.name)
            axis = torch.as_tensor(frame.joint.axis, dtype=dtype).reshape(3)
            axis = axis / axis.norm()
            if kind == "revolute":
                k = torch.zeros(3, 3, dtype=dtype)
                k[0, 1], k[0, 2], k[1, 2] = -axis[2], axis[1], -axis[0]
                k = k - k.T
                sin_part[i, :, :3] = static[:3, :3] @ k
                cos_part[i, :, :3] = static[:3, :3] @ k @ k
            elif kind == "prismatic":
                slide_part[i, :, 3] = static[:3, :3] @ axis
                has_prismatic = True
            else:
                raise ValueError(f"joint {frame.joint.name!r}: unsupported type {kind!r}")
        movable = [name for name in order if chain.find_frame(name).joint.joint_type != "fixed"]
        self.register_buffer("joint_frame", torch.tensor([position[n] for n in movable],
                                                         dtype=torch.long))
        self.register_buffer("joint_input", joint_index[self.joint_frame])
        axes = torch.stack([torch.as_tensor(chain.find_frame(n).joint.axis, dtype=dtype)
                            .reshape(3) for n in movable])
        self.register_buffer("joint_axis", (axes / axes.norm(dim=1, keepdim=True)).T
                             .unsqueeze(-1).contiguous())  # (3, J, 1)
        self.register_buffer("joint_revolute", torch.tensor(
            [chain.find_frame(n).joint.joint_type == "revolute" for n in movable])[:, None])
        # moves[j, l]: joint j is an ancestor of output frame l.
        moves = torch.zeros(len(movable), len(frame_names), dtype=dtype)
        for l, name in enumerate(frame_names):
            node = name
            while node is not None:
                if node in movable:
                    moves[movable.index(node), l] = 1.0
                node = parent_of[node]
        self.register_buffer("moves", moves)
        as_block = lambda t: t.permute(1, 2, 0).unsqueeze(-1).contiguous()  # (3, 4, F, 1)
        self.register_buffer("base", as_block(base))
        self.register_buffer("sin_part", as_block(sin_part))
        self.register_buffer("cos_part", as_block(cos_part))
        self.register_buffer("slide_part", as_block(slide_part) if has_prismatic else None)
        self.register_buffer("joint_index", joint_index)
        # Level d is order[start_d:end_d]; each frame's parent sits in level d − 1.
        bounds, start = [], 0
        for level in levels:
            bounds.append((start, start + len(level)))
            start += len(level)
        self.bounds = bounds
        for d in range(1, len(levels)):
            lo = bounds[d - 1][0]
            self.register_buffer(f"parents_{d}", torch.tensor(
                [position[parent_of[name]] - lo for name in levels[d]], dtype=torch.long))
        self.register_buffer("output", torch.tensor([position[name] for name in frame_names],
                                                    dtype=torch.long))
        # The same tree for the native kernel: parts as (F, 12) rows [R | t], each
        # frame's parent (−1 for the root) and whether a joint moves it.
        def rows(t):  # (3, 4, F, 1) -> (F, 12)
            return None if t is None else t.reshape(12, -1).T.contiguous()

        self.register_buffer("base_rows", rows(self.base))
        self.register_buffer("sin_rows", rows(self.sin_part))
        self.register_buffer("cos_rows", rows(self.cos_part))
        self.register_buffer("slide_rows", rows(self.slide_part))
        self.register_buffer("frame_parent", torch.tensor(
            [-1 if parent_of[name] is None else position[parent_of[name]] for name in order],
            dtype=torch.long))
        self.register_buffer("frame_moving", torch.tensor(
            [chain.find_frame(name).joint.joint_type != "fixed" for name in order],
            dtype=torch.uint8))
        self.register_buffer("axis_rows", self.joint_axis[..., 0].T.contiguous())  # (J, 3)
        self.register_buffer("revolute_flags", self.joint_revolute[:, 0].to(torch.uint8))

    def frame_poses(self, joints: torch.Tensor) -> torch.Tensor:
        """``(3, 4, F, B)`` poses of every frame, in breadth-first order, no gradient."""
        if native.enabled(joints, self.base_rows):
            return native.frame_poses(joints, self.base_rows, self.sin_rows, self.cos_rows,
                                      self.slide_rows, self.joint_index, self.frame_parent,
                                      self.frame_moving)
        th = joints.index_select(0, self.joint_index)  # (F, B)
        local = torch.addcmul(self.base, torch.sin(th), self.sin_part)
        local = torch.addcmul(local, 1 - torch.cos(th), self.cos_part)
        if self.slide_part is not None:
            local = local + th * self.slide_part
        start, end = self.bounds[0]
        world = [local[:, :, start:end]]
        for d in range(1, len(self.bounds)):
            start, end = self.bounds[d]
            parent = world[-1].index_select(2, getattr(self, f"parents_{d}"))
            world.append(compose(parent, local[:, :, start:end]))
        return torch.cat(world, dim=2)

    def forward(self, joints: torch.Tensor) -> torch.Tensor:
        return _LinkPosesFunction.apply(joints, self)


class _LinkPosesFunction(torch.autograd.Function):
    """FK forward without a graph; backward from the geometric Jacobian."""

    @staticmethod
    def forward(ctx, joints, model):
        with torch.no_grad():
            frames = model.frame_poses(joints)
        out = frames.index_select(2, model.output)
        ctx.model = model
        ctx.num_joints = joints.shape[0]
        ctx.save_for_backward(frames, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        model = ctx.model
        frames, out = ctx.saved_tensors
        if native.enabled(grad, frames):
            return native.link_poses_backward(
                frames, out, grad, model.moves, model.joint_frame, model.axis_rows,
                model.revolute_flags, model.joint_input, ctx.num_joints), None
        wrench = cross(out, grad).sum(1)  # (3, L, B)
        moved = torch.matmul(model.moves, torch.stack((wrench, grad[:, 3])))  # (2, 3, J, B)
        joint_pose = frames.index_select(2, model.joint_frame)  # (3, 4, J, B)
        axis = rotate(joint_pose, model.joint_axis)  # (3, J, B)
        turn = (axis * (moved[0] - cross(joint_pose[:, 3], moved[1]))).sum(0)
        if model.slide_part is not None:
            turn = torch.where(model.joint_revolute, turn, (axis * moved[1]).sum(0))
        grad_joints = torch.zeros(ctx.num_joints, grad.shape[-1], dtype=grad.dtype,
                                  device=grad.device)
        return grad_joints.index_add(0, model.joint_input, turn), None
