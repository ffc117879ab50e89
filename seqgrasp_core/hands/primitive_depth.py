"""Exact depths of an object's points in the hand's collision primitives.

Each URDF collision primitive (box, sphere or cylinder) gives the signed depth of a
point in closed form, positive inside (metres). :func:`depth_in_primitives` finds the
deepest object point in the posed hand, :func:`primitive_overlaps` the (point, batch)
pairs inside or near each primitive, and :func:`overlap_depths` their depths with
gradients in the link and object poses. Poses are ``(3, 4, ..., B)`` blocks, batch last.

:class:`~seqgrasp_core.hands.model.HandModel` holds what :func:`primitive_buffers`
builds and passes itself to the queries as ``prims`` (:class:`CollisionPrimitives`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np
import torch

from seqgrasp_core.geometry.transforms import apply, compose, invert, take


class CollisionPrimitives(Protocol):
    """The collision primitives of a hand, as attributes (a HandModel holds them);
    ``Q`` primitives."""

    prim_links: tuple[int, ...]  # each primitive's link index
    prim_kinds: tuple[str, ...]  # box, sphere or cylinder
    prim_half: torch.Tensor  # (Q, 3) m: see primitive_buffers
    prim_from_link: torch.Tensor  # (3, 4, Q): link frame to primitive frame


def primitive_buffers(prims, link_index: dict[str, int], dtype: torch.dtype
                      ) -> tuple[tuple[int, ...], tuple[str, ...], torch.Tensor, torch.Tensor]:
    """``(prim_links, prim_kinds, prim_half, prim_from_link)`` of
    :class:`CollisionPrimitives` for the URDF's primitives ``prims``: link index and
    ``Primitive.kind`` of each (plain tuples: they never go to the device),
    ``prim_half`` ``(Q, 3)`` m (box: half extents; sphere: ``(r, 0, 0)``; cylinder:
    ``(r, half length, 0)``) and ``prim_from_link`` ``(3, 4, Q)``, link frame to
    primitive frame."""
    half, from_link = [], []
    for p in prims:
        if p.kind == "box":
            half.append([v / 2 for v in p.size])
        elif p.kind == "sphere":
            half.append([p.size[0], 0.0, 0.0])
        else:
            half.append([p.size[0], p.size[1] / 2, 0.0])
        from_link.append(np.linalg.inv(p.origin)[:3])
    links = tuple(link_index[p.link] for p in prims)
    kinds = tuple(p.kind for p in prims)
    prim_half = torch.tensor(half, dtype=dtype).reshape(-1, 3)
    prim_from_link = torch.tensor(np.asarray(from_link), dtype=dtype).reshape(-1, 3, 4) \
        .permute(1, 2, 0).contiguous()
    return links, kinds, prim_half, prim_from_link


def depth_in_primitives(prims: CollisionPrimitives, links: torch.Tensor,
                        object_to_hand: torch.Tensor, points: torch.Tensor,
                        link_mask: torch.Tensor | None = None) -> torch.Tensor:
    """``(B,)`` m: the deepest of an object's ``points`` ``(3, N)`` (its own frame,
    placed in the hand frame by ``object_to_hand`` ``(3, 4, B)``) inside the
    collision primitives of the links posed by ``links`` ``(3, 4, L, B)`` (only the
    links where ``link_mask`` ``(B, L)`` is true); 0 where none is inside. Exact
    (the primitives' own signed distances), no gradient."""
    deepest = torch.zeros(object_to_hand.shape[-1], dtype=points.dtype,
                          device=points.device)
    with torch.no_grad():
        for p, depth in _depths_per_primitive(prims, links, object_to_hand, points):
            depth = depth.amax(0).clamp_min(0.0)
            if link_mask is not None:
                depth = torch.where(link_mask[:, prims.prim_links[p]], depth, 0.0)
            deepest = torch.maximum(deepest, depth)
    return deepest


def primitive_overlaps(prims: CollisionPrimitives, links: torch.Tensor,
                       object_to_hand: torch.Tensor, points: torch.Tensor, margin: float,
                       link_mask: torch.Tensor | None = None
                       ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per collision primitive, ``(point index (M,), batch index (M,))`` of the
    object ``points`` (as in :func:`depth_in_primitives`) inside it or less than
    ``margin`` (m) outside it: the pairs :func:`overlap_depths` evaluates. No
    gradient."""
    found = []
    with torch.no_grad():
        for p, depth in _depths_per_primitive(prims, links, object_to_hand, points):
            near = depth > -margin
            if link_mask is not None:
                near &= link_mask[:, prims.prim_links[p]].unsqueeze(0)
            found.append(near.nonzero(as_tuple=True))
    return found


def overlap_depths(prims: CollisionPrimitives, links: torch.Tensor,
                   object_to_hand: torch.Tensor, points: torch.Tensor,
                   overlaps: list[tuple[torch.Tensor, torch.Tensor]]
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(depth (M,) m, batch index (M,))`` of the pairs ``overlaps`` (from
    :func:`primitive_overlaps`, same arguments), positive inside, differentiable
    in ``links`` and ``object_to_hand``."""
    depths, batches = [], []
    for p, (point, batch) in enumerate(overlaps):
        if len(point) == 0:
            continue
        to_prim = _object_to_primitive(prims, p,
                                       take(links[:, :, prims.prim_links[p]], batch),
                                       take(object_to_hand, batch))  # (3, 4, M)
        local = apply(to_prim, points.index_select(1, point))
        depths.append(_depth_inside(prims.prim_kinds[p], prims.prim_half[p], local))
        batches.append(batch)
    if not depths:
        empty = torch.zeros(0, dtype=points.dtype, device=points.device)
        return empty, torch.zeros(0, dtype=torch.long, device=points.device)
    return torch.cat(depths), torch.cat(batches)


def _depths_per_primitive(prims: CollisionPrimitives, links: torch.Tensor,
                          object_to_hand: torch.Tensor, points: torch.Tensor
                          ) -> Iterator[tuple[int, torch.Tensor]]:
    """``(p, depth (N, B))`` for every primitive ``p``: the signed depth of each
    object point in it (positive inside)."""
    for p, (link, kind) in enumerate(zip(prims.prim_links, prims.prim_kinds)):
        to_prim = _object_to_primitive(prims, p, links[:, :, link], object_to_hand)
        local = apply(to_prim.unsqueeze(2), points.unsqueeze(-1))  # (3, N, B)
        yield p, _depth_inside(kind, prims.prim_half[p], local)


def _object_to_primitive(prims: CollisionPrimitives, p: int, link_to_hand: torch.Tensor,
                         object_to_hand: torch.Tensor) -> torch.Tensor:
    """``(3, 4, ...)``: an object's frame to primitive ``p``'s, for its link's pose
    and the object's pose in the hand frame (both ``(3, 4, ...)``)."""
    return compose(compose(prims.prim_from_link[..., p, None], invert(link_to_hand)),
                   object_to_hand)


def _depth_inside(kind: str, half: torch.Tensor, local: torch.Tensor) -> torch.Tensor:
    """Signed depth (m, positive inside) of points ``local`` ``(3, ...)`` in a primitive
    of ``kind`` centred at the origin, sizes ``half`` (see :func:`primitive_buffers`)."""
    local = local.abs()
    if kind == "box":
        return (half.reshape(3, *([1] * (local.dim() - 1))) - local).amin(0)
    if kind == "sphere":
        return half[0] - (local.pow(2).sum(0) + 1e-18).sqrt()
    radial = half[0] - (local[0].pow(2) + local[1].pow(2) + 1e-18).sqrt()
    return torch.minimum(radial, half[1] - local[2])
