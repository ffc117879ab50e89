"""`HandModel`: the batched, differentiable hand built from a :class:`HandSpec`.

HandModel is the one object the engine uses for a hand. Its own job is the kinematics
and what hangs on it: link poses and transforms (pytorch_kinematics parses the URDF),
contact candidates, which links a joint moves. Points attached to links — surface
samples, contact candidates, self-penetration spheres — are kept as buffers in link
frames with the index of their link, so that ``.to(device)`` moves them. The other jobs
live in modules of their own; HandModel registers the buffers they build and passes
itself to their queries:

- :mod:`~seqgrasp_core.hands.surface`: the surface samples and their fast culling
  near a box or inside an object;
- :mod:`~seqgrasp_core.hands.primitive_depth`: exact depths of object points in the
  collision primitives;
- :mod:`~seqgrasp_core.hands.self_collision`: the self-collision spheres and the pairs
  of them that may not overlap;
- :mod:`~seqgrasp_core.hands.placement`: link-fixed points placed in one matrix product.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from seqgrasp_core.errors import HandSpecError
from seqgrasp_core.geometry.transforms import (
    link_frames,
    place_points,
    rotate,
    to_matrices,
)
from seqgrasp_core.hands import primitive_depth, self_collision
from seqgrasp_core.hands import surface as hand_surface  # HandModel.surface is a method
from seqgrasp_core.hands.kinematics import LinkPoses
from seqgrasp_core.hands.placement import place, placer
from seqgrasp_core.hands.primitives import read_collision_primitives
from seqgrasp_core.hands.spec import HandSpec
from seqgrasp_core.hands.surface import CHUNK_BUFFERS as _CHUNK_BUFFERS
from seqgrasp_core.hands.surface import FARTHEST_POINT_LIMIT

# Importable from here, where they were defined before the hand's jobs were split.
__all__ = ["FARTHEST_POINT_LIMIT", "_CHUNK_BUFFERS", "HandModel", "place", "placer"]


class HandModel(torch.nn.Module):
    """A hand as tensors on one device.

    Kinematics: pytorch_kinematics parses the URDF; :class:`~seqgrasp_core.hands.kinematics.
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
      spatial chunks with bounding spheres, for :meth:`surface_near_box` and
      :meth:`surface_inside` (:class:`~seqgrasp_core.hands.surface.SurfaceChunks`);
    - ``prim_half`` ``(Q, 3)`` m and ``prim_from_link`` ``(3, 4, Q)``: the ``Q``
      collision primitives, for the exact depths of :meth:`depth_in_primitives`
      (:class:`~seqgrasp_core.hands.primitive_depth.CollisionPrimitives`);
    - ``*_placer`` ``(N, 4L)`` matrices that place link points in one product
      (:func:`~seqgrasp_core.hands.placement.place`), and ``*_t`` coordinate-major
      copies (``(3, …)``) for the batch-last hot path;
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
        """``surface_local`` ``(N, 3)``, ``surface_link`` ``(N,)``, ``surface_placer``
        and the chunk hierarchy (see :mod:`~seqgrasp_core.hands.surface`)."""
        with torch.no_grad():
            open_links = self.link_transforms(self.open_pose.unsqueeze(0))[0]  # (L, 4, 4)
        local, link = hand_surface.sample_surface(self.spec.surface_samples, prims, link_index,
                                                  count, seed, open_links, dtype)
        self.register_buffer("surface_local", local)
        self.register_buffer("surface_link", link)
        self.register_buffer("surface_placer", placer(local, link, len(self.link_names)))
        self._register(hand_surface.surface_chunks(local, link, len(self.link_names), dtype))

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
        """``sphere_*`` and ``link_pair*`` (see :mod:`~seqgrasp_core.hands.self_collision`)."""
        self._register(self_collision.self_collision_spheres(
            prims, parents, self.link_names, link_index, self._joint_of_child,
            self.spec.self_collision_exclude, self.lower, self.upper, self.link_poses, dtype))

    def _build_primitives(self, prims, link_index, dtype) -> None:
        """``prim_links``, ``prim_kinds`` (plain tuples: they never go to the device),
        ``prim_half`` and ``prim_from_link`` (see
        :func:`~seqgrasp_core.hands.primitive_depth.primitive_buffers`)."""
        self.prim_links, self.prim_kinds, half, from_link = \
            primitive_depth.primitive_buffers(prims, link_index, dtype)
        self.register_buffer("prim_half", half)
        self.register_buffer("prim_from_link", from_link)

    def _register(self, buffers: dict[str, torch.Tensor]) -> None:
        for name, tensor in buffers.items():
            self.register_buffer(name, tensor)

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

    # -- surface (seqgrasp_core.hands.surface) -------------------------------

    def surface(self, transforms: torch.Tensor) -> torch.Tensor:
        """Hand surface points ``(B, 3, N)`` (coordinate-major) in the frame that
        ``transforms`` ``(B, L, 4, 4)`` place the links in."""
        return hand_surface.surface_points(self.surface_placer, transforms)

    def surface_near_box(self, links: torch.Tensor, frame: torch.Tensor, box_lo: torch.Tensor,
                         box_hi: torch.Tensor, link_mask: torch.Tensor | None = None,
                         outside_distance: Callable[[torch.Tensor], torch.Tensor] | None = None
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The hand surface points that may lie in an axis-aligned box, differentiably:
        ``(points (3, P, M), batch (M,), valid (P, M))`` for link poses ``links``
        ``(3, 4, L, B)``, ``frame`` ``(3, 4, B)`` (hand frame to the box's) and box corners
        ``box_lo`` / ``box_hi`` ``(3,)`` m; see
        :func:`seqgrasp_core.hands.surface.surface_near_box`."""
        return hand_surface.surface_near_box(self, links, frame, box_lo, box_hi, link_mask,
                                             outside_distance)

    def surface_inside(self, links: torch.Tensor, frame: torch.Tensor, sdf,
                       link_mask: torch.Tensor | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """The hand surface points inside ``sdf``'s object, differentiably:
        ``(points (3, 1, S), batch (S,))`` for link poses ``links`` ``(3, 4, L, B)`` and
        ``frame`` ``(3, 4, B)`` (hand frame to the object's); see
        :func:`seqgrasp_core.hands.surface.surface_inside`."""
        return hand_surface.surface_inside(self, links, frame, sdf, link_mask)

    # -- collision primitives (seqgrasp_core.hands.primitive_depth) ---------

    def depth_in_primitives(self, links: torch.Tensor, object_to_hand: torch.Tensor,
                            points: torch.Tensor, link_mask: torch.Tensor | None = None
                            ) -> torch.Tensor:
        """``(B,)`` m: the deepest of an object's ``points`` ``(3, N)`` (its own frame,
        placed in the hand frame by ``object_to_hand`` ``(3, 4, B)``) inside the
        collision primitives of the links posed by ``links`` ``(3, 4, L, B)`` (only the
        links where ``link_mask`` ``(B, L)`` is true); 0 where none is inside. Exact
        (the primitives' own signed distances), no gradient."""
        return primitive_depth.depth_in_primitives(self, links, object_to_hand, points,
                                                   link_mask)

    def primitive_overlaps(self, links: torch.Tensor, object_to_hand: torch.Tensor,
                           points: torch.Tensor, margin: float,
                           link_mask: torch.Tensor | None = None
                           ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per collision primitive, ``(point index (M,), batch index (M,))`` of the
        object ``points`` (as in :meth:`depth_in_primitives`) inside it or less than
        ``margin`` (m) outside it: the pairs :meth:`overlap_depths` evaluates. No
        gradient."""
        return primitive_depth.primitive_overlaps(self, links, object_to_hand, points, margin,
                                                  link_mask)

    def overlap_depths(self, links: torch.Tensor, object_to_hand: torch.Tensor,
                       points: torch.Tensor,
                       overlaps: list[tuple[torch.Tensor, torch.Tensor]]
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(depth (M,) m, batch index (M,))`` of the pairs ``overlaps`` (from
        :meth:`primitive_overlaps`, same arguments), positive inside, differentiable
        in ``links`` and ``object_to_hand``."""
        return primitive_depth.overlap_depths(self, links, object_to_hand, points, overlaps)

    # -- self-collision (seqgrasp_core.hands.self_collision) ----------------

    def spheres(self, links: torch.Tensor) -> torch.Tensor:
        """Self-penetration sphere centres ``(3, S, B)`` for link poses ``(3, 4, L, B)``."""
        return self_collision.sphere_centres(self, links)

    def sphere_pair_candidates(self, links: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(pair (M,), batch (M,))``: the sphere pairs whose links' bounding spheres
        overlap, for link poses ``(3, 4, L, B)``; the only pairs that can overlap."""
        return self_collision.sphere_pair_candidates(self, links)

    # -- contacts and moving links ------------------------------------------

    def moving_links(self, active: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` bool: the link moves with the ``active`` ``(B, K)`` joints."""
        return (self.link_joints.unsqueeze(0) & active.unsqueeze(1)).any(-1)

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


def _robot_only(urdf: bytes) -> bytes:
    """The URDF without simulator-specific elements (e.g. ``<mujoco>``), which
    pytorch_kinematics' parser reports on stderr."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(urdf)
    for extra in [c for c in root if c.tag in ("mujoco", "gazebo")]:
        root.remove(extra)
    return ET.tostring(root)
