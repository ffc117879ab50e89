"""`HandModel`: the batched, differentiable hand built from a :class:`HandSpec`.

Forward kinematics comes from pytorch_kinematics (URDF). Points attached to links —
surface samples, contact candidates, self-penetration spheres — are kept as buffers
in link frames with the index of their link.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from seqgrasp_core import native
from seqgrasp_core.errors import HandSpecError
from seqgrasp_core.geometry.boxes import box_gap2
from seqgrasp_core.geometry.transforms import (
    apply,
    compose,
    dot,
    invert,
    link_frames,
    place_points,
    rotate,
    take,
    to_matrices,
)
from seqgrasp_core.hands.kinematics import LinkPoses
from seqgrasp_core.hands.primitives import read_collision_primitives, sample_primitives
from seqgrasp_core.hands.spec import HandSpec
from seqgrasp_core.objects.mesh import farthest_point_sample

# Farthest-point thinning costs O(count × pool): 4 s for 4000 samples, minutes for
# 40000. Beyond this many, a random subset of the area samples is taken instead: at
# that density (under 3.5 mm apart on the Allegro) plain area sampling is already even.
FARTHEST_POINT_LIMIT = 8000

_CHUNK_BUFFERS = ("coarse_centre", "coarse_link", "coarse_radius2", "coarse_children",
                  "chunk_points", "chunk_valid", "chunk_centre", "chunk_radius")


class HandModel(torch.nn.Module):
    """A hand as tensors on one device.

    Kinematics: pytorch_kinematics parses the URDF; :class:`~seqgrasp_core.geometry.transforms.
    LinkPoses` evaluates its chain in the optimizer's batch-last layout.

    Buffers (``L`` links, ``K`` joints, ``N`` surface points, ``C`` contact
    candidates, ``S`` self-penetration spheres, ``O`` opposition spaces):

    - ``lower``, ``upper``, ``open_pose`` ``(K,)`` radians;
    - ``surface_local`` ``(N, 3)``, ``surface_link`` ``(N,)``;
    - ``contact_local`` ``(C, 3)``, ``contact_normal_local`` ``(C, 3)`` inward,
      ``contact_link`` ``(C,)``;
    - ``sphere_local`` ``(S, 3)``, ``sphere_radius`` ``(S,)``, ``sphere_link`` ``(S,)``,
      ``sphere_pairs`` ``(P, 2)`` pairs that may not overlap and can come close within
      the joint ranges, ``sphere_pair_reach`` ``(P, 1)`` their summed radii, and
      ``link_pair*`` the same pairs grouped by link with link bounding spheres;
    - ``chunk_*`` / ``coarse_*``: the surface points in a two-level hierarchy of
      spatial chunks with bounding spheres, for :meth:`surface_near_box`;
    - ``*_placer`` ``(N, 4L)`` matrices that place link points in one product
      (:func:`place`), and ``*_t`` coordinate-major copies (``(3, …)``) for the
      batch-last hot path;
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
        self.register_buffer("frame_indices", frame_indices)
        self.kinematics = LinkPoses(self.chain, link_names, list(spec.joint_names))

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
        self._build_primitives(prims, link_index, dtype)
        self.to(device)

    # -- construction -------------------------------------------------------

    def _build_primitives(self, prims, link_index, dtype) -> None:
        """The collision primitives for exact point depths: ``prim_links`` and
        ``prim_kinds`` (link index and ``hand_geometry.Primitive.kind`` of each, plain
        tuples: they never go to the device), ``prim_half`` ``(P, 3)`` m (box: half
        extents; sphere: ``(r, 0, 0)``; cylinder: ``(r, half length, 0)``) and
        ``prim_from_link`` ``(3, 4, P)``, link frame to primitive frame."""
        half, from_link = [], []
        for p in prims:
            if p.kind == "box":
                half.append([v / 2 for v in p.size])
            elif p.kind == "sphere":
                half.append([p.size[0], 0.0, 0.0])
            else:
                half.append([p.size[0], p.size[1] / 2, 0.0])
            from_link.append(np.linalg.inv(p.origin)[:3])
        self.prim_links = tuple(link_index[p.link] for p in prims)
        self.prim_kinds = tuple(p.kind for p in prims)
        self.register_buffer("prim_half", torch.tensor(half, dtype=dtype).reshape(-1, 3))
        self.register_buffer("prim_from_link", torch.tensor(
            np.asarray(from_link), dtype=dtype).reshape(-1, 3, 4).permute(1, 2, 0).contiguous())

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
        if count <= FARTHEST_POINT_LIMIT:
            chosen = farthest_point_sample(placed.astype(np.float64), count, seed)
        else:
            chosen = np.random.default_rng(seed).choice(len(placed), min(count, len(placed)),
                                                        replace=False)
        self.register_buffer("surface_local", torch.as_tensor(dense[chosen], dtype=dtype))
        self.register_buffer("surface_link", link_idx[chosen])
        self.register_buffer("surface_placer", placer(self.surface_local, self.surface_link,
                                                      len(self.link_names)))
        self._build_surface_chunks(dtype)

    def _build_surface_chunks(self, dtype, coarse_size: int = 32, fine_size: int = 8) -> None:
        """Surface points in a two-level hierarchy of spatial chunks with bounding spheres.

        Each link's points are bisected along their longest extent into coarse chunks
        of at most ``coarse_size`` points, and each coarse chunk again into fine chunks
        of at most ``fine_size`` (padded to that size). Buffers: fine ``chunk_points``
        ``(3, P, C)``, ``chunk_valid`` ``(P, C)``, ``chunk_centre`` ``(3, C)``,
        ``chunk_radius`` ``(C,)``, ``chunk_link`` ``(C,)``; coarse ``coarse_placer``
        (centres, see :func:`placer`), ``coarse_radius2`` ``(Cc, 1)``, ``coarse_link``
        ``(Cc,)`` and ``coarse_children`` ``(Cc, W)`` fine indices padded with ``-1``.
        """
        coarse, fine = [], []
        for link in range(len(self.link_names)):
            for pts in _bisect(self.surface_local[self.surface_link == link], coarse_size):
                children = []
                for sub in _bisect(pts, fine_size):
                    children.append(len(fine))
                    fine.append((link, sub))
                coarse.append((link, pts, children))
        padded = torch.zeros(len(fine), fine_size, 3, dtype=dtype)
        valid = torch.zeros(len(fine), fine_size, dtype=dtype)
        for i, (_, pts) in enumerate(fine):
            padded[i, :len(pts)] = pts
            valid[i, :len(pts)] = 1.0
        centre, radius = _bounding_spheres([pts for _, pts in fine], dtype)
        self.register_buffer("chunk_points", padded.permute(2, 1, 0).contiguous())
        self.register_buffer("chunk_valid", valid.T.contiguous())
        self.register_buffer("chunk_centre", centre.T.contiguous())
        self.register_buffer("chunk_radius", radius)
        self.register_buffer("chunk_link", torch.tensor([link for link, _ in fine]))
        centre, radius = _bounding_spheres([pts for _, pts, _ in coarse], dtype)
        coarse_link = torch.tensor([link for link, _, _ in coarse])
        width = max(len(kids) for _, _, kids in coarse)
        self.register_buffer("coarse_placer", placer(centre, coarse_link, len(self.link_names)))
        self.register_buffer("coarse_centre", centre.contiguous())  # (Cc, 3) link frames
        self.register_buffer("coarse_radius2", (radius ** 2).unsqueeze(-1))
        self.register_buffer("coarse_link", coarse_link)
        self.register_buffer("coarse_children", torch.tensor(
            [kids + [-1] * (width - len(kids)) for _, _, kids in coarse]))

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
        self.register_buffer("contact_local_t", self.contact_local.T.contiguous())
        self.register_buffer("contact_normal_t", self.contact_normal_local.T.contiguous())
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
        self.register_buffer("sphere_placer", placer(self.sphere_local, links_t,
                                                     len(self.link_names)))
        pairs = self._reachable_pairs(torch.stack((ii[keep_t], jj[keep_t]), dim=-1))
        self.register_buffer("sphere_pairs", pairs)
        self.register_buffer("sphere_pair_reach", (self.sphere_radius[pairs[:, 0]]
                                                   + self.sphere_radius[pairs[:, 1]])[:, None])
        self._build_link_pairs(pairs, dtype)

    def _build_link_pairs(self, pairs: torch.Tensor, dtype) -> None:
        """Group the sphere pairs by their pair of links, with a bounding sphere per link,
        so that :meth:`sphere_pair_candidates` tests the links first."""
        link_of = self.sphere_link
        groups: dict[tuple[int, int], list[int]] = {}
        for k, (i, j) in enumerate(pairs.tolist()):
            groups.setdefault((int(link_of[i]), int(link_of[j])), []).append(k)
        centres, radii = [], []
        for link in range(len(self.link_names)):
            own = link_of == link
            if not own.any():
                centres.append(torch.zeros(3, dtype=dtype))
                radii.append(torch.zeros((), dtype=dtype))
                continue
            c = self.sphere_local[own].mean(0)
            centres.append(c)
            radii.append(((self.sphere_local[own] - c).norm(dim=-1)
                          + self.sphere_radius[own]).max())
        radius = torch.stack(radii)
        keys = list(groups)
        width = max(len(v) for v in groups.values()) if groups else 1
        link_pairs = torch.tensor(keys, dtype=torch.long).reshape(-1, 2)
        self.register_buffer("link_sphere_placer", placer(torch.stack(centres), torch.arange(
            len(self.link_names)), len(self.link_names)))
        self.register_buffer("link_pairs", link_pairs)
        self.register_buffer("link_pair_reach2", ((radius[link_pairs[:, 0]]
                                                  + radius[link_pairs[:, 1]]) ** 2)[:, None])
        self.register_buffer("link_pair_members", torch.tensor(
            [groups[k] + [-1] * (width - len(groups[k])) for k in keys],
            dtype=torch.long).reshape(len(keys), width))

    def sphere_pair_candidates(self, links: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(pair (M,), batch (M,))``: the sphere pairs whose links' bounding spheres
        overlap, for link poses ``(3, 4, L, B)``; the only pairs that can overlap."""
        with torch.no_grad():
            centre = place(links, self.link_sphere_placer)  # (3, L, B)
            d = centre.index_select(1, self.link_pairs[:, 0]) \
                - centre.index_select(1, self.link_pairs[:, 1])
            near, batch = (dot(d, d) < self.link_pair_reach2).nonzero(as_tuple=True)
            members = self.link_pair_members.index_select(0, near)  # (K, W)
            row, col = (members >= 0).nonzero(as_tuple=True)
            return members[row, col], batch[row]

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
                c = self.spheres(self.link_poses(joints.T.contiguous()))  # (3, S, B)
                d = c[:, pairs[:, 0]] - c[:, pairs[:, 1]]  # (3, P, B), per axis: fast
                gap = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt() \
                    - (self.sphere_radius[pairs[:, 0]] + self.sphere_radius[pairs[:, 1]])[:, None]
                closest = torch.minimum(closest, gap.min(dim=1).values)
        return pairs[closest < margin]

    # -- kinematics ---------------------------------------------------------
    # The optimizer's hot path keeps poses as (3, 4, L, B) blocks and points as
    # (3, ..., B), the batch last (see seqgrasp_core/geometry/transforms.py for why).
    @property
    def num_joints(self) -> int:
        return self.spec.num_joints

    def link_poses(self, joints: torch.Tensor) -> torch.Tensor:
        """Link poses ``(3, 4, L, B)`` in the hand frame for ``joints`` ``(K, B)`` (rad),
        differentiable (geometric-Jacobian backward)."""
        return self.kinematics(joints)

    def link_transforms(self, joints: torch.Tensor) -> torch.Tensor:
        """Link poses as ``(B, L, 4, 4)`` matrices for ``joints`` ``(B, K)`` (rad)."""
        return to_matrices(self.link_poses(joints.T.contiguous()))

    def reference_link_transforms(self, joints: torch.Tensor) -> torch.Tensor:
        """The same from pytorch_kinematics' own ``forward_kinematics_tensor`` (slower;
        for checks)."""
        all_frames = self.chain.forward_kinematics_tensor(joints[:, self.to_chain])
        return all_frames.index_select(0, self.frame_indices).transpose(0, 1)

    def surface(self, transforms: torch.Tensor) -> torch.Tensor:
        """Hand surface points ``(B, 3, N)`` (coordinate-major) in the frame that
        ``transforms`` ``(B, L, 4, 4)`` place the links in."""
        links = transforms[:, :, :3].permute(2, 3, 1, 0).contiguous()  # (3, 4, L, B)
        return place(links, self.surface_placer).permute(2, 0, 1)

    def surface_near_box(self, links: torch.Tensor, frame: torch.Tensor, box_lo: torch.Tensor,
                         box_hi: torch.Tensor, link_mask: torch.Tensor | None = None,
                         outside_distance: Callable[[torch.Tensor], torch.Tensor] | None = None
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The hand surface points that may lie in an axis-aligned box, differentiably.

        ``links`` ``(3, 4, L, B)`` are the link poses in the hand frame, ``frame``
        ``(3, 4, B)`` maps the hand frame into the box's, ``box_lo`` / ``box_hi``
        ``(3,)`` are the box corners (metres); ``link_mask`` ``(B, L)`` limits the links.
        Coarse chunks whose bounding sphere meets the box are split into their fine
        chunks, which are kept when their sphere meets the box too or, if
        ``outside_distance`` (points ``(3, M)`` → a lower bound on their distance
        outside the object ``(M,)``) is given, reaches into the object. Returns
        ``(points (3, P, M), batch (M,), valid (P, M))``: the ``M`` kept fine chunks'
        points, each chunk's sequence, and which of the ``P`` slots are real points
        (chunks are padded). Work grows with what is near the box, not with ``N``.
        """
        with torch.no_grad():
            chunk, batch, parts = self._chunks_near(links, frame, box_lo, box_hi, link_mask,
                                                    outside_distance)
            local = take(self.chunk_points, chunk)  # (3, P, M)
            valid = self.chunk_valid.index_select(1, chunk)  # (P, M)
        points = place_points(frame, links, batch, self.chunk_link[chunk], local, parts)
        return points, batch, valid

    def surface_inside(self, links: torch.Tensor, frame: torch.Tensor, sdf,
                       link_mask: torch.Tensor | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """The hand surface points inside an object, differentiably: those whose
        signed distance ``sdf.sample`` (a :class:`~seqgrasp_core.objects.sdf.TorchSDF`, in the
        object frame that ``frame`` ``(3, 4, B)`` maps the hand frame into) is negative.
        ``links`` and ``link_mask`` as in :meth:`surface_near_box`.

        Returns ``(points (3, 1, S), batch (S,))``. The same points, with the same
        values, as the negative ones among :meth:`surface_near_box`'s, but only they
        are placed with gradients: late in a run about one candidate point in five
        passes the per-point bound ``sdf.outside_bound`` and one in thirty is inside.
        """
        if native.enabled(links, frame, sdf.flat):
            chunk, slot, batch = native.surface_inside(links, frame, link_mask, {
                name: getattr(self, name) for name in _CHUNK_BUFFERS}, sdf)
            local = self.chunk_points[:, slot, chunk].unsqueeze(1)  # (3, 1, S)
            link = self.chunk_link[chunk]
            points = place_points(frame, links, batch, link, local,
                                  link_frames(frame, links, batch, link))
            return points, batch
        with torch.no_grad():
            chunk, batch, parts = self._chunks_near(links, frame, sdf.box_lo, sdf.box_hi,
                                                    link_mask, sdf.outside_bound)
            local = take(self.chunk_points, chunk)  # (3, P, M)
            placed = apply(parts[2].unsqueeze(2), local)
            maybe = (self.chunk_valid.index_select(1, chunk) > 0) \
                & (sdf.outside_bound(placed) <= 0)
            slot, group = maybe.nonzero(as_tuple=True)
            value, _ = sdf.sample(placed[:, slot, group])
            inside = (value < 0).nonzero()[:, 0]
            slot, group = slot[inside], group[inside]
            local = local[:, slot, group].unsqueeze(1)  # (3, 1, S)
            batch = batch[group]
            parts = tuple(take(x, group) for x in parts)
        points = place_points(frame, links, batch, self.chunk_link[chunk[group]], local, parts)
        return points, batch

    def _chunks_near(self, links, frame, box_lo, box_hi, link_mask, outside_distance
                     ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
        """``(chunk (M,), batch (M,), link_frames parts)`` of the fine chunks kept by
        :meth:`surface_near_box` (no gradient)."""
        lo, hi = box_lo.reshape(3, 1), box_hi.reshape(3, 1)
        centre = apply(frame.unsqueeze(2), place(links, self.coarse_placer))  # (3, Cc, B)
        near = box_gap2(centre, lo.unsqueeze(-1), hi.unsqueeze(-1)) <= self.coarse_radius2
        if link_mask is not None:
            near &= link_mask.T.index_select(0, self.coarse_link)
        coarse, batch = near.nonzero(as_tuple=True)
        kids = self.coarse_children.index_select(0, coarse)  # (K, W)
        row, col = (kids >= 0).nonzero(as_tuple=True)
        chunk, batch = kids[row, col], batch[row]
        parts = link_frames(frame, links, batch, self.chunk_link[chunk])
        centre = apply(parts[2], self.chunk_centre.index_select(1, chunk))  # (3, M)
        if outside_distance is not None:
            keep = outside_distance(centre) <= self.chunk_radius[chunk]
        else:
            keep = box_gap2(centre, lo, hi) <= self.chunk_radius[chunk] ** 2
        keep = keep.nonzero()[:, 0]
        return chunk[keep], batch[keep], tuple(take(p, keep) for p in parts)

    def depth_in_primitives(self, links: torch.Tensor, object_to_hand: torch.Tensor,
                            points: torch.Tensor, link_mask: torch.Tensor | None = None
                            ) -> torch.Tensor:
        """``(B,)`` m: the deepest of an object's ``points`` ``(3, N)`` (its own frame,
        placed in the hand frame by ``object_to_hand`` ``(3, 4, B)``) inside the
        collision primitives of the links posed by ``links`` ``(3, 4, L, B)`` (only the
        links where ``link_mask`` ``(B, L)`` is true); 0 where none is inside. Exact
        (the primitives' own signed distances), no gradient."""
        deepest = torch.zeros(object_to_hand.shape[-1], dtype=points.dtype,
                              device=points.device)
        with torch.no_grad():
            for p, depth in self._depths_per_primitive(links, object_to_hand, points):
                depth = depth.amax(0).clamp_min(0.0)
                if link_mask is not None:
                    depth = torch.where(link_mask[:, self.prim_links[p]], depth, 0.0)
                deepest = torch.maximum(deepest, depth)
        return deepest

    def primitive_overlaps(self, links: torch.Tensor, object_to_hand: torch.Tensor,
                           points: torch.Tensor, margin: float,
                           link_mask: torch.Tensor | None = None
                           ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per collision primitive, ``(point index (M,), batch index (M,))`` of the
        object ``points`` (as in :meth:`depth_in_primitives`) inside it or less than
        ``margin`` (m) outside it: the pairs :meth:`overlap_depths` evaluates. No
        gradient."""
        found = []
        with torch.no_grad():
            for p, depth in self._depths_per_primitive(links, object_to_hand, points):
                near = depth > -margin
                if link_mask is not None:
                    near &= link_mask[:, self.prim_links[p]].unsqueeze(0)
                found.append(near.nonzero(as_tuple=True))
        return found

    def overlap_depths(self, links: torch.Tensor, object_to_hand: torch.Tensor,
                       points: torch.Tensor,
                       overlaps: list[tuple[torch.Tensor, torch.Tensor]]
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(depth (M,) m, batch index (M,))`` of the pairs ``overlaps`` (from
        :meth:`primitive_overlaps`, same arguments), positive inside, differentiable
        in ``links`` and ``object_to_hand``."""
        depths, batches = [], []
        for p, (point, batch) in enumerate(overlaps):
            if len(point) == 0:
                continue
            to_prim = self._object_to_primitive(p, take(links[:, :, self.prim_links[p]], batch),
                                                take(object_to_hand, batch))  # (3, 4, M)
            local = apply(to_prim, points.index_select(1, point))
            depths.append(_depth_inside(self.prim_kinds[p], self.prim_half[p], local))
            batches.append(batch)
        if not depths:
            empty = torch.zeros(0, dtype=points.dtype, device=points.device)
            return empty, torch.zeros(0, dtype=torch.long, device=points.device)
        return torch.cat(depths), torch.cat(batches)

    def _depths_per_primitive(self, links, object_to_hand, points):
        """``(p, depth (N, B))`` for every primitive ``p``: the signed depth of each
        object point in it (positive inside)."""
        for p, (link, kind) in enumerate(zip(self.prim_links, self.prim_kinds)):
            to_prim = self._object_to_primitive(p, links[:, :, link], object_to_hand)
            local = apply(to_prim.unsqueeze(2), points.unsqueeze(-1))  # (3, N, B)
            yield p, _depth_inside(kind, self.prim_half[p], local)

    def _object_to_primitive(self, p: int, link_to_hand: torch.Tensor,
                             object_to_hand: torch.Tensor) -> torch.Tensor:
        """``(3, 4, ...)``: an object's frame to primitive ``p``'s, for its link's pose
        and the object's pose in the hand frame (both ``(3, 4, ...)``)."""
        return compose(compose(self.prim_from_link[..., p, None], invert(link_to_hand)),
                       object_to_hand)

    def moving_links(self, active: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` bool: the link moves with the ``active`` ``(B, K)`` joints."""
        return (self.link_joints.unsqueeze(0) & active.unsqueeze(1)).any(-1)

    def spheres(self, links: torch.Tensor) -> torch.Tensor:
        """Self-penetration sphere centres ``(3, S, B)`` for link poses ``(3, 4, L, B)``."""
        return place(links, self.sphere_placer)

    def contacts(self, links: torch.Tensor, index: torch.Tensor,
                 frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Contact points ``(3, n, B)`` (differentiable) and inward normals ``(3, n, B)``
        (no gradient) of candidates ``index`` ``(B, n)`` for link poses ``(3, 4, L, B)``
        in the hand frame, placed by ``frame`` ``(3, 4, B)``."""
        n, b = index.shape[1], index.shape[0]
        flat = index.T.reshape(-1)  # (n B,), contact-major
        batch = torch.arange(b, device=index.device).repeat(n)
        link = self.contact_link[flat]
        local = self.contact_local_t.index_select(1, flat).unsqueeze(1)  # (3, 1, n B)
        parts = link_frames(frame, links, batch, link)
        points = place_points(frame, links, batch, link, local, parts).reshape(3, n, b)
        with torch.no_grad():
            normals = rotate(parts[2], self.contact_normal_t.index_select(1, flat))
        return points, normals.reshape(3, n, b)


def _depth_inside(kind: str, half: torch.Tensor, local: torch.Tensor) -> torch.Tensor:
    """Signed depth (m, positive inside) of points ``local`` ``(3, ...)`` in a primitive
    of ``kind`` centred at the origin, sizes ``half`` (see ``_build_primitives``)."""
    local = local.abs()
    if kind == "box":
        return (half.reshape(3, *([1] * (local.dim() - 1))) - local).amin(0)
    if kind == "sphere":
        return half[0] - (local.pow(2).sum(0) + 1e-18).sqrt()
    radial = half[0] - (local[0].pow(2) + local[1].pow(2) + 1e-18).sqrt()
    return torch.minimum(radial, half[1] - local[2])


def _robot_only(urdf: bytes) -> bytes:
    """The URDF without simulator-specific elements (e.g. ``<mujoco>``), which
    pytorch_kinematics' parser reports on stderr."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(urdf)
    for extra in [c for c in root if c.tag in ("mujoco", "gazebo")]:
        root.remove(extra)
    return ET.tostring(root)



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


def _bisect(points: torch.Tensor, size: int) -> list[torch.Tensor]:
    """``points`` ``(n, 3)`` halved along their longest extent until each part has at
    most ``size`` points."""
    out, pending = [], [points]
    while pending:
        pts = pending.pop()
        if len(pts) == 0:
            continue
        if len(pts) <= size:
            out.append(pts)
            continue
        axis = int((pts.max(0).values - pts.min(0).values).argmax())
        order = pts[:, axis].argsort()
        half = len(pts) // 2
        pending += [pts[order[:half]], pts[order[half:]]]
    return out


def _bounding_spheres(groups: list[torch.Tensor], dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Centres ``(G, 3)`` (box middles) and radii ``(G,)`` of point groups."""
    centre = torch.stack([(g.min(0).values + g.max(0).values) / 2 for g in groups]).to(dtype)
    radius = torch.stack([(g - c).norm(dim=-1).max() for g, c in zip(groups, centre)])
    return centre, radius.to(dtype)
