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
"""

from __future__ import annotations

import torch

from seqgrasp_core import native
from seqgrasp_core.geometry.transforms import compose, cross, rotate


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
