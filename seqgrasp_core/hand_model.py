"""`HandModel`: the batched, differentiable hand built from a :class:`HandSpec`.

Forward kinematics comes from pytorch_kinematics (URDF). Points attached to links —
surface samples, contact candidates, self-penetration spheres — are kept as buffers
in link frames with the index of their link, and placed with one gather per call.
"""

from __future__ import annotations

import numpy as np
import torch

from .errors import HandSpecError
from .hand_geometry import read_collision_primitives, sample_primitives
from .hand_spec import HandSpec
from .objects import farthest_point_sample


class HandModel(torch.nn.Module):
    """A hand as tensors on one device.

    Buffers (``L`` links, ``K`` joints, ``N`` surface points, ``C`` contact
    candidates, ``S`` self-penetration spheres, ``O`` opposition spaces):

    - ``lower``, ``upper``, ``open_pose`` ``(K,)`` radians;
    - ``surface_local`` ``(N, 3)``, ``surface_link`` ``(N,)``;
    - ``contact_local`` ``(C, 3)``, ``contact_normal_local`` ``(C, 3)`` inward,
      ``contact_link`` ``(C,)``;
    - ``sphere_local`` ``(S, 3)``, ``sphere_radius`` ``(S,)``, ``sphere_link`` ``(S,)``,
      ``sphere_pairs`` ``(P, 2)`` pairs that may not overlap;
    - ``link_joints`` ``(L, K)`` bool: link ``l`` moves when joint ``k`` moves;
    - ``os_masks`` ``(O, K)``; ``pool_a``/``pool_b`` ``(O, M)`` contact indices padded
      with ``-1`` and their sizes ``pool_a_size``/``pool_b_size`` ``(O,)``.
    """

    def __init__(self, spec: HandSpec, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32, surface_points: int | None = None,
                 seed: int = 0) -> None:
        super().__init__()
        import pytorch_kinematics as pk

        self.spec = spec
        try:
            chain = pk.build_chain_from_urdf(spec.urdf_path.read_bytes())
        except Exception as exc:
            raise HandSpecError(f"hand {spec.name!r}: pytorch_kinematics cannot read "
                                f"{spec.urdf_path.name}: {exc}", "fix the URDF") from None
        self.chain = chain.to(dtype=dtype, device=device)
        chain_joints = self.chain.get_joint_parameter_names()
        if sorted(chain_joints) != sorted(spec.joint_names):
            raise HandSpecError(
                f"hand {spec.name!r}: hand.toml lists joints {list(spec.joint_names)} but the "
                f"URDF moves {chain_joints}", "list the URDF's movable joints in hand.toml")
        # Position i of the chain's joint vector takes spec joint order[i].
        self.register_buffer("to_chain", torch.tensor(
            [spec.joint_names.index(j) for j in chain_joints], dtype=torch.long))

        prims, parents = read_collision_primitives(spec.urdf_path)
        frame_names = set(self.chain.get_frame_names(exclude_fixed=False))
        link_names = [n for n in parents if n in frame_names]
        spec.check(set(link_names))
        self.link_names = link_names
        link_index = {n: i for i, n in enumerate(link_names)}
        self.register_buffer("frame_indices", self.chain.get_frame_indices(*link_names).cpu())

        lo, hi = self.chain.get_joint_limits()
        lo = torch.as_tensor(lo, dtype=dtype)[torch.argsort(self.to_chain)]
        hi = torch.as_tensor(hi, dtype=dtype)[torch.argsort(self.to_chain)]
        self.register_buffer("lower", lo)
        self.register_buffer("upper", hi)
        self.register_buffer("open_pose", torch.tensor(spec.open_pose, dtype=dtype))

        self._build_link_joints(parents, link_index, dtype)
        self._build_surface(prims, link_index, surface_points or spec.surface_points, seed, dtype)
        self._build_contacts(link_index, dtype)
        self._build_spheres(prims, parents, link_index, dtype)
        self.to(device)

    # -- construction -------------------------------------------------------
    def _build_link_joints(self, parents, link_index, dtype) -> None:
        joint_of_child = {}
        for frame_name in self.link_names:
            frame = self.chain.find_frame(frame_name)
            if frame is not None and frame.joint.joint_type != "fixed":
                joint_of_child[frame_name] = frame.joint.name
        self._joint_of_child = joint_of_child
        dep = torch.zeros(len(self.link_names), self.spec.num_joints, dtype=torch.bool)
        for name, idx in link_index.items():
            node = name
            while node is not None:
                if node in joint_of_child:
                    dep[idx, self.spec.joint_names.index(joint_of_child[node])] = True
                node = parents.get(node)
        self.register_buffer("link_joints", dep)

    def _build_surface(self, prims, link_index, count, seed, dtype) -> None:
        dense, links = sample_primitives(prims, count * 6, seed)
        link_idx = torch.tensor([link_index[n] for n in links], dtype=torch.long)
        with torch.no_grad():
            t = self.link_transforms(self.open_pose.unsqueeze(0))[0]
            homog = torch.cat((torch.as_tensor(dense, dtype=dtype),
                               torch.ones(len(dense), 1, dtype=dtype)), -1)
            placed = torch.einsum("nij,nj->ni", t[link_idx], homog)[:, :3].numpy()
        chosen = farthest_point_sample(placed.astype(np.float64), count, seed)
        self.register_buffer("surface_local", torch.as_tensor(dense[chosen], dtype=dtype))
        self.register_buffer("surface_link", link_idx[chosen])

    def _build_contacts(self, link_index, dtype) -> None:
        names, points, normals, links, offsets = [], [], [], [], {}
        for group in self.spec.contact_groups.values():
            offsets[group.name] = (len(links), len(group))
            points.append(group.points)
            normals.append(group.normals)
            links += [link_index[n] for n in group.links]
            names.append(group.name)
        self.register_buffer("contact_local", torch.as_tensor(np.concatenate(points), dtype=dtype))
        self.register_buffer("contact_normal_local",
                             torch.as_tensor(np.concatenate(normals), dtype=dtype))
        self.register_buffer("contact_link", torch.tensor(links, dtype=torch.long))
        self.os_names = [o.name for o in self.spec.opposition_spaces]
        pools = {}
        for side in ("a", "b"):
            lists = []
            for os_ in self.spec.opposition_spaces:
                groups = os_.contacts_a if side == "a" else os_.contacts_b
                idx = [i for g in groups for i in range(offsets[g][0], sum(offsets[g]))]
                lists.append(idx)
            width = max(len(x) for x in lists)
            pools[side] = torch.tensor([x + [-1] * (width - len(x)) for x in lists])
            self.register_buffer(f"pool_{side}", pools[side])
            self.register_buffer(f"pool_{side}_size", torch.tensor([len(x) for x in lists]))
        self.register_buffer("os_masks", torch.tensor(
            [o.joint_mask for o in self.spec.opposition_spaces], dtype=torch.bool))

    def _build_spheres(self, prims, parents, link_index, dtype) -> None:
        centres, radii, links = [], [], []
        for prim in prims:
            c, r = prim.spheres()
            centres.append(c)
            radii.append(r)
            links += [link_index[prim.link]] * len(r)
        links_t = torch.tensor(links, dtype=torch.long)
        # Links joined by fixed joints move together: treat them as one body.
        body = {}
        for name in self.link_names:
            node = name
            while parents[node] is not None and node not in self._joint_of_child:
                node = parents[node]
            body[name] = node
        excluded = {frozenset((body[a], body[b])) for a, b in self.spec.self_collision_exclude}
        for child, parent in parents.items():
            if parent is not None:  # neighbours overlap at their joint by design
                excluded.add(frozenset((body[child], body[parent])))
        excluded = {frozenset((a, b)) for a in self.link_names for b in self.link_names
                    if body[a] == body[b] or frozenset((body[a], body[b])) in excluded}
        names = self.link_names
        ii, jj = torch.triu_indices(len(links), len(links), offset=1)
        keep = [frozenset((names[links[i]], names[links[j]])) not in excluded and
                links[i] != links[j] for i, j in zip(ii.tolist(), jj.tolist())]
        keep_t = torch.tensor(keep, dtype=torch.bool)
        self.register_buffer("sphere_local", torch.as_tensor(np.concatenate(centres), dtype=dtype))
        self.register_buffer("sphere_radius", torch.as_tensor(np.concatenate(radii), dtype=dtype))
        self.register_buffer("sphere_link", links_t)
        self.register_buffer("sphere_pairs", torch.stack((ii[keep_t], jj[keep_t]), dim=-1))

    # -- kinematics ---------------------------------------------------------
    @property
    def num_joints(self) -> int:
        return self.spec.num_joints

    def link_transforms(self, joints: torch.Tensor) -> torch.Tensor:
        """Link poses in the hand frame, ``(B, L, 4, 4)``, for ``joints`` ``(B, K)`` (rad)."""
        th = joints[:, self.to_chain]
        all_frames = self.chain.forward_kinematics_tensor(th)  # (F, B, 4, 4)
        return all_frames[self.frame_indices.to(all_frames.device)].transpose(0, 1)

    @staticmethod
    def place(transforms: torch.Tensor, link: torch.Tensor, local: torch.Tensor) -> torch.Tensor:
        """Points ``local`` ``(N, 3)`` or ``(B, N, 3)`` on links ``link`` (``(N,)`` or
        ``(B, N)``) moved by ``transforms`` ``(B, L, 4, 4)`` → ``(B, N, 3)``."""
        b = transforms.shape[0]
        if link.dim() == 1:
            t = transforms[:, link]  # (B, N, 4, 4)
        else:
            t = torch.gather(transforms, 1, link[..., None, None].expand(b, -1, 4, 4))
        rot, trans = t[..., :3, :3], t[..., :3, 3]
        if local.dim() == 2:
            local = local.expand(b, -1, -1)
        return (rot @ local.unsqueeze(-1)).squeeze(-1) + trans

    def surface(self, transforms: torch.Tensor) -> torch.Tensor:
        """Hand surface points in the hand frame, ``(B, N, 3)``."""
        return self.place(transforms, self.surface_link, self.surface_local)

    def spheres(self, transforms: torch.Tensor) -> torch.Tensor:
        """Self-penetration sphere centres in the hand frame, ``(B, S, 3)``."""
        return self.place(transforms, self.sphere_link, self.sphere_local)

    def contacts(self, transforms: torch.Tensor, index: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """Contact points and inward normals ``(B, n, 3)`` for candidate ``index`` ``(B, n)``."""
        link = self.contact_link[index]
        pts = self.place(transforms, link, self.contact_local[index])
        b = transforms.shape[0]
        rot = torch.gather(transforms, 1, link[..., None, None].expand(b, -1, 4, 4))[..., :3, :3]
        normals = (rot @ self.contact_normal_local[index].unsqueeze(-1)).squeeze(-1)
        return pts, normals

    def moving_points(self, active: torch.Tensor, link: torch.Tensor) -> torch.Tensor:
        """``(B, N)`` bool: point on ``link`` ``(N,)`` moves with the ``active`` ``(B, K)`` joints."""
        return (self.link_joints[link].unsqueeze(0) & active.unsqueeze(1)).any(-1)
