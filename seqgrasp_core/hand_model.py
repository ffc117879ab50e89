"""`HandModel`: the batched, differentiable hand built from a :class:`HandSpec`.

Forward kinematics comes from pytorch_kinematics (URDF). Points attached to links —
surface samples, contact candidates, self-penetration spheres — are kept as buffers
in link frames with the index of their link.
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
      ``sphere_pairs`` ``(P, 2)`` pairs that may not overlap and can come close within
      the joint ranges, ``sphere_pair_reach`` ``(P,)`` their summed radii, and
      ``sphere_pair_difference`` ``(S, P)`` (+1/−1 per pair) so centres ``@`` it
      gives every pair's offset in one product;
    - ``chunk_*``: the surface points in spatial chunks of ≤ 32 with bounding spheres,
      for :meth:`surface_near_box`;
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
            chain = pk.build_chain_from_urdf(_robot_only(spec.urdf_path.read_bytes()))
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
        frame_names = self.chain.get_frame_names(exclude_fixed=False)
        # Links in the order of FK's output frames, so no re-indexing is needed.
        link_names = sorted((n for n in frame_names if n in parents),
                            key=lambda n: int(self.chain.get_frame_indices(n)[0]))
        spec.check(set(link_names))
        self.link_names = link_names
        link_index = {n: i for i, n in enumerate(link_names)}
        frame_indices = self.chain.get_frame_indices(*link_names).cpu()
        # When the chain's frames are exactly the links, FK needs no re-indexing.
        self._frames_are_links = bool(len(frame_names) == len(link_names) and torch.equal(
            frame_indices, torch.arange(len(link_names))))
        self.register_buffer("frame_indices", frame_indices)

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
        if self.spec.surface_samples is not None:  # e.g. a mesh surface, per link
            dense, links = self.spec.surface_samples
            dense = np.asarray(dense, dtype=np.float64)
        else:
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
        self.register_buffer("surface_lifted", lift_points(
            self.surface_local, self.surface_link, len(self.link_names)))
        self._build_surface_chunks(dtype)

    def _build_surface_chunks(self, dtype, chunk_size: int = 32) -> None:
        """Surface points split into small spatial chunks, each with a bounding sphere.

        Each link's points are bisected along their longest extent until a chunk holds
        at most ``chunk_size`` points; the chunks are padded to that size.
        """
        chunks: list[tuple[int, torch.Tensor]] = []
        for link in range(len(self.link_names)):
            pending = [self.surface_local[self.surface_link == link]]
            while pending:
                pts = pending.pop()
                if len(pts) == 0:
                    continue
                if len(pts) <= chunk_size:
                    chunks.append((link, pts))
                    continue
                axis = int((pts.max(0).values - pts.min(0).values).argmax())
                order = pts[:, axis].argsort()
                half = len(pts) // 2
                pending += [pts[order[:half]], pts[order[half:]]]
        padded = torch.zeros(len(chunks), chunk_size, 3, dtype=dtype)
        valid = torch.zeros(len(chunks), chunk_size, dtype=torch.bool)
        centre = torch.zeros(len(chunks), 3, dtype=dtype)
        radius = torch.zeros(len(chunks), dtype=dtype)
        for i, (_, pts) in enumerate(chunks):
            padded[i, :len(pts)] = pts
            valid[i, :len(pts)] = True
            centre[i] = (pts.min(0).values + pts.max(0).values) / 2
            radius[i] = (pts - centre[i]).norm(dim=-1).max()
        chunk_link = torch.tensor([c[0] for c in chunks])
        self.register_buffer("chunk_points_t", padded.transpose(1, 2).contiguous())  # (C, 3, P)
        self.register_buffer("chunk_valid", valid)
        self.register_buffer("chunk_centre", centre)
        self.register_buffer("chunk_radius", radius)
        self.register_buffer("chunk_link", chunk_link)
        self.register_buffer("chunk_centre_lifted", lift_points(centre, chunk_link,
                                                               len(self.link_names)))

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
        self.register_buffer("sphere_lifted", lift_points(
            self.sphere_local, links_t, len(self.link_names)))
        pairs = self._reachable_pairs(torch.stack((ii[keep_t], jj[keep_t]), dim=-1))
        self.register_buffer("sphere_pairs", pairs)
        self.register_buffer("sphere_pair_reach",
                             self.sphere_radius[pairs[:, 0]] + self.sphere_radius[pairs[:, 1]])
        difference = torch.zeros(len(links), len(pairs), dtype=dtype)
        difference[pairs[:, 0], torch.arange(len(pairs))] = 1.0
        difference[pairs[:, 1], torch.arange(len(pairs))] = -1.0
        self.register_buffer("sphere_pair_difference", difference)

    def _reachable_pairs(self, pairs: torch.Tensor, samples: int = 4096,
                         margin: float = 0.01, seed: int = 0) -> torch.Tensor:
        """The sphere pairs that come within ``margin`` (m) of touching anywhere in the
        joint ranges, found by sampling; the others can never collide and are dropped
        once here instead of being tested at every iteration."""
        g = torch.Generator().manual_seed(seed)
        lo, hi = self.lower, self.upper
        closest = torch.full((len(pairs),), float("inf"), dtype=lo.dtype)
        with torch.no_grad():
            for _ in range(4):
                joints = lo + (hi - lo) * torch.rand(samples // 4, len(lo), generator=g,
                                                     dtype=lo.dtype)
                c = self.spheres(self.link_transforms(joints)).transpose(1, 2)
                gap = (c[:, pairs[:, 0]] - c[:, pairs[:, 1]]).norm(dim=-1) \
                    - self.sphere_radius[pairs[:, 0]] - self.sphere_radius[pairs[:, 1]]
                closest = torch.minimum(closest, gap.min(dim=0).values)
        return pairs[closest < margin]

    # -- kinematics ---------------------------------------------------------
    @property
    def num_joints(self) -> int:
        return self.spec.num_joints

    def link_transforms(self, joints: torch.Tensor) -> torch.Tensor:
        """Link poses in the hand frame, ``(B, L, 4, 4)``, for ``joints`` ``(B, K)`` (rad)."""
        th = joints[:, self.to_chain]
        all_frames = self.chain.forward_kinematics_tensor(th)  # (F, B, 4, 4)
        if not self._frames_are_links:
            all_frames = all_frames.index_select(0, self.frame_indices)
        return all_frames.transpose(0, 1)

    @staticmethod
    def place_fixed_t(transforms: torch.Tensor, lifted: torch.Tensor) -> torch.Tensor:
        """Points fixed on links, moved by ``transforms`` ``(B, L, 4, 4)`` → ``(B, 3, N)``
        (coordinate-major).

        ``lifted`` ``(4L, N)`` holds each point's homogeneous link-frame coordinates in
        the four rows of its link (zeros elsewhere, see :func:`lift_points`), so that
        placing all points is one matrix product — on a CPU much faster than
        gathering a transform per point, forward and backward.
        """
        b, n_links = transforms.shape[:2]
        rows = transforms[:, :, :3, :].permute(0, 2, 1, 3).reshape(b, 3, n_links * 4)
        return rows @ lifted

    def surface(self, transforms: torch.Tensor) -> torch.Tensor:
        """Hand surface points ``(B, 3, N)`` (coordinate-major) in the frame that
        ``transforms`` ``(B, L, 4, 4)`` place the links in."""
        return self.place_fixed_t(transforms, self.surface_lifted)

    def surface_near_box(self, frame: torch.Tensor, links: torch.Tensor, box_lo: torch.Tensor,
                         box_hi: torch.Tensor, link_mask: torch.Tensor | None = None
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        """Hand surface points inside an axis-aligned box, differentiably.

        ``frame`` ``(B, 4, 4)`` maps the hand frame into the box's frame, ``links``
        ``(B, L, 4, 4)`` are the link poses in the hand frame, ``box_lo``/``box_hi``
        ``(3,)`` the box corners (metres); ``link_mask`` ``(B, L)`` limits the links.
        Returns ``(batch (M,), points (M, 3))``: the sequence index and position of
        every surface point in the box. A broad phase on bounding spheres of small
        chunks of points and a narrow phase on the chunks' points keep the work proportional to what is near.
        """
        rot, trans = frame[:, :3, :3], frame[:, :3, 3]
        with torch.no_grad():
            # Broad phase: chunk bounding spheres against the box (coordinate-major).
            centre = rot @ self.place_fixed_t(links, self.chunk_centre_lifted) \
                + trans.unsqueeze(-1)  # (B, 3, C)
            gap2 = sum((centre[:, a] - centre[:, a].clamp(box_lo[a], box_hi[a])) ** 2
                       for a in range(3))
            near = gap2 <= self.chunk_radius ** 2
            if link_mask is not None:
                near &= link_mask[:, self.chunk_link]
            b, chunk = near.nonzero(as_tuple=True)
            # Narrow phase: the near chunks' points against the box.
            link_k = self.chunk_link[chunk]
            rot_k = rot[b] @ links[b, link_k, :3, :3]
            trans_k = (rot[b] @ links[b, link_k, :3, 3:4])[..., 0] + trans[b]
            local = self.chunk_points_t[chunk]  # (K, 3, P)
            inside = self.chunk_valid[chunk]
            for a in range(3):
                c = (rot_k[:, a, 0:1] * local[:, 0] + rot_k[:, a, 1:2] * local[:, 1]
                     + rot_k[:, a, 2:3] * local[:, 2] + trans_k[:, a:a + 1])
                inside &= (c >= box_lo[a]) & (c <= box_hi[a])
            k, p = inside.nonzero(as_tuple=True)
            batch, link = b[k], link_k[k]
            local_m = local[k, :, p]  # (M, 3)
        # Only the points found inside are placed again, with gradients.
        t = links[batch, link]
        in_hand = (t[:, :3, :3] @ local_m.unsqueeze(-1))[..., 0] + t[:, :3, 3]
        return batch, (rot[batch] @ in_hand.unsqueeze(-1))[..., 0] + trans[batch]

    def moving_links(self, active: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` bool: the link moves with the ``active`` ``(B, K)`` joints."""
        return (self.link_joints.unsqueeze(0) & active.unsqueeze(1)).any(-1)

    def spheres(self, transforms: torch.Tensor) -> torch.Tensor:
        """Self-penetration sphere centres ``(B, 3, S)`` (coordinate-major), frame as in
        :meth:`surface`."""
        return self.place_fixed_t(transforms, self.sphere_lifted)

    def contacts(self, transforms: torch.Tensor, index: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """Contact points and inward normals ``(B, n, 3)`` for candidate ``index`` ``(B, n)``."""
        link = self.contact_link[index]
        b = transforms.shape[0]
        t = torch.gather(transforms, 1, link[..., None, None].expand(b, -1, 4, 4))
        pts = (t[..., :3, :3] @ self.contact_local[index].unsqueeze(-1)).squeeze(-1) + t[..., :3, 3]
        normals = (t[..., :3, :3] @ self.contact_normal_local[index].unsqueeze(-1)).squeeze(-1)
        return pts, normals


def _robot_only(urdf: bytes) -> bytes:
    """The URDF without simulator-specific elements (e.g. ``<mujoco>``), which
    pytorch_kinematics' parser reports on stderr."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(urdf)
    for extra in [c for c in root if c.tag in ("mujoco", "gazebo")]:
        root.remove(extra)
    return ET.tostring(root)


def lift_points(local: torch.Tensor, link: torch.Tensor, n_links: int) -> torch.Tensor:
    """``(4L, N)``: column ``i`` holds ``[local[i], 1]`` in rows ``4·link[i] … 4·link[i]+3``."""
    out = torch.zeros(n_links * 4, len(link), dtype=local.dtype)
    homog = torch.cat((local, torch.ones(len(link), 1, dtype=local.dtype)), dim=1)
    cols = torch.arange(len(link))
    for j in range(4):
        out[link * 4 + j, cols] = homog[:, j]
    return out

