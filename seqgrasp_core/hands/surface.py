"""The hand's surface samples and the fast search for those near or inside an object.

Construction: :func:`sample_surface` picks ``N`` evenly spread points (metres, link
frames) on the links' collision geometry, and :func:`surface_chunks` groups them into a
two-level hierarchy of spatial chunks with bounding spheres. Queries:
:func:`surface_points` places all ``N``; :func:`surface_near_box` and
:func:`surface_inside` walk the hierarchy, so their work grows with what is near the
object, not with ``N``.

:class:`~seqgrasp_core.hands.model.HandModel` registers the buffers built here (so that
``.to(device)`` moves them) and passes itself to the queries as ``chunks``
(:class:`SurfaceChunks`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import torch

from seqgrasp_core import native
from seqgrasp_core.geometry.boxes import box_gap2
from seqgrasp_core.geometry.transforms import apply, link_frames, place_points, take
from seqgrasp_core.hands.placement import place, placer
from seqgrasp_core.hands.primitives import sample_primitives
from seqgrasp_core.objects.mesh import farthest_point_sample

# Farthest-point thinning costs O(count × pool): 4 s for 4000 samples, minutes for
# 40000. Beyond this many, a random subset of the area samples is taken instead: at
# that density (under 3.5 mm apart on the Allegro) plain area sampling is already even.
FARTHEST_POINT_LIMIT = 8000

# The chunk buffers the native kernel reads (see seqgrasp_core.native.surface_inside).
CHUNK_BUFFERS = ("coarse_centre", "coarse_link", "coarse_radius2", "coarse_children",
                 "chunk_points", "chunk_valid", "chunk_centre", "chunk_radius")


class SurfaceChunks(Protocol):
    """The buffers of :func:`surface_chunks`, as attributes (a HandModel holds them):
    ``C`` fine chunks of at most ``P`` points, ``Cc`` coarse chunks of at most ``W`` fine
    ones, ``L`` links; lengths in metres, link frames."""

    chunk_points: torch.Tensor  # (3, P, C), padded with zeros
    chunk_valid: torch.Tensor  # (P, C): 1 for a real point, 0 for padding
    chunk_centre: torch.Tensor  # (3, C)
    chunk_radius: torch.Tensor  # (C,)
    chunk_link: torch.Tensor  # (C,) long
    coarse_placer: torch.Tensor  # (Cc, 4L), see placement.placer
    coarse_centre: torch.Tensor  # (Cc, 3)
    coarse_radius2: torch.Tensor  # (Cc, 1), squared radii
    coarse_link: torch.Tensor  # (Cc,) long
    coarse_children: torch.Tensor  # (Cc, W) fine chunk indices padded with -1


# -- construction -----------------------------------------------------------


def sample_surface(samples: tuple | None, prims, link_index: dict[str, int], count: int,
                   seed: int, open_links: torch.Tensor, dtype: torch.dtype
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(local (N, 3) m, link (N,) long)``: ``count`` surface points in their links'
    frames.

    The dense pool is ``samples`` (the spec's ``surface_samples``: points ``(n, 3)`` and
    their link names, e.g. a mesh surface) or else ``6·count`` area samples of the
    collision primitives ``prims``. It is thinned by farthest-point sampling with the
    links placed at the open pose (``open_links`` ``(L, 4, 4)``, link to hand frame),
    or beyond :data:`FARTHEST_POINT_LIMIT` points by a random subset.
    """
    if samples is not None:  # e.g. a mesh surface, per link
        dense, links = samples
        dense = np.asarray(dense, dtype=np.float64)
    else:
        dense, links = sample_primitives(prims, count * 6, seed)
    link_idx = torch.tensor([link_index[n] for n in links], dtype=torch.long)
    with torch.no_grad():
        homog = torch.cat((torch.as_tensor(dense, dtype=dtype),
                           torch.ones(len(dense), 1, dtype=dtype)), -1)
        placed = torch.einsum("nij,nj->ni", open_links[link_idx], homog)[:, :3].numpy()
    if count <= FARTHEST_POINT_LIMIT:
        chosen = farthest_point_sample(placed.astype(np.float64), count, seed)
    else:
        chosen = np.random.default_rng(seed).choice(len(placed), min(count, len(placed)),
                                                    replace=False)
    return torch.as_tensor(dense[chosen], dtype=dtype), link_idx[chosen]


def surface_chunks(local: torch.Tensor, link: torch.Tensor, n_links: int, dtype: torch.dtype,
                   coarse_size: int = 32, fine_size: int = 8) -> dict[str, torch.Tensor]:
    """The buffers of :class:`SurfaceChunks`, by name, for surface points ``local``
    ``(N, 3)`` (m, link frames) on links ``link`` ``(N,)`` of ``n_links``.

    Each link's points are bisected along their longest extent into coarse chunks
    of at most ``coarse_size`` points, and each coarse chunk again into fine chunks
    of at most ``fine_size`` (padded to that size); every chunk gets a bounding sphere.
    """
    coarse, fine = [], []
    for link_id in range(n_links):
        for pts in _bisect(local[link == link_id], coarse_size):
            children = []
            for sub in _bisect(pts, fine_size):
                children.append(len(fine))
                fine.append((link_id, sub))
            coarse.append((link_id, pts, children))
    padded = torch.zeros(len(fine), fine_size, 3, dtype=dtype)
    valid = torch.zeros(len(fine), fine_size, dtype=dtype)
    for i, (_, pts) in enumerate(fine):
        padded[i, :len(pts)] = pts
        valid[i, :len(pts)] = 1.0
    buffers = {}
    centre, radius = _bounding_spheres([pts for _, pts in fine], dtype)
    buffers["chunk_points"] = padded.permute(2, 1, 0).contiguous()
    buffers["chunk_valid"] = valid.T.contiguous()
    buffers["chunk_centre"] = centre.T.contiguous()
    buffers["chunk_radius"] = radius
    buffers["chunk_link"] = torch.tensor([link_id for link_id, _ in fine])
    centre, radius = _bounding_spheres([pts for _, pts, _ in coarse], dtype)
    coarse_link = torch.tensor([link_id for link_id, _, _ in coarse])
    width = max(len(kids) for _, _, kids in coarse)
    buffers["coarse_placer"] = placer(centre, coarse_link, n_links)
    buffers["coarse_centre"] = centre.contiguous()  # (Cc, 3) link frames
    buffers["coarse_radius2"] = (radius ** 2).unsqueeze(-1)
    buffers["coarse_link"] = coarse_link
    buffers["coarse_children"] = torch.tensor(
        [kids + [-1] * (width - len(kids)) for _, _, kids in coarse])
    return buffers


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


# -- queries ----------------------------------------------------------------


def surface_points(surface_placer: torch.Tensor, transforms: torch.Tensor) -> torch.Tensor:
    """All ``N`` surface points ``(B, 3, N)`` (coordinate-major) in the frame that
    ``transforms`` ``(B, L, 4, 4)`` place the links in, for the ``surface_placer``
    ``(N, 4L)`` of the surface samples (see :func:`~seqgrasp_core.hands.placement.placer`)."""
    links = transforms[:, :, :3].permute(2, 3, 1, 0).contiguous()  # (3, 4, L, B)
    return place(links, surface_placer).permute(2, 0, 1)


def surface_near_box(chunks: SurfaceChunks, links: torch.Tensor, frame: torch.Tensor,
                     box_lo: torch.Tensor, box_hi: torch.Tensor,
                     link_mask: torch.Tensor | None = None,
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
        chunk, batch, parts = chunks_near(chunks, links, frame, box_lo, box_hi, link_mask,
                                          outside_distance)
        local = take(chunks.chunk_points, chunk)  # (3, P, M)
        valid = chunks.chunk_valid.index_select(1, chunk)  # (P, M)
    points = place_points(frame, links, batch, chunks.chunk_link[chunk], local, parts)
    return points, batch, valid


def surface_inside(chunks: SurfaceChunks, links: torch.Tensor, frame: torch.Tensor, sdf,
                   link_mask: torch.Tensor | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """The hand surface points inside an object, differentiably: those whose
    signed distance ``sdf.sample`` (a :class:`~seqgrasp_core.objects.sdf.TorchSDF`, in the
    object frame that ``frame`` ``(3, 4, B)`` maps the hand frame into) is negative.
    ``links`` and ``link_mask`` as in :func:`surface_near_box`.

    Returns ``(points (3, 1, S), batch (S,))``. The same points, with the same
    values, as the negative ones among :func:`surface_near_box`'s, but only they
    are placed with gradients: late in a run about one candidate point in five
    passes the per-point bound ``sdf.outside_bound`` and one in thirty is inside.
    The native kernel, where enabled, does the search without gradient.
    """
    if native.enabled(links, frame, sdf.flat):
        chunk, slot, batch = native.surface_inside(links, frame, link_mask, {
            name: getattr(chunks, name) for name in CHUNK_BUFFERS}, sdf)
        local = chunks.chunk_points[:, slot, chunk].unsqueeze(1)  # (3, 1, S)
        link = chunks.chunk_link[chunk]
        points = place_points(frame, links, batch, link, local,
                              link_frames(frame, links, batch, link))
        return points, batch
    with torch.no_grad():
        chunk, batch, parts = chunks_near(chunks, links, frame, sdf.box_lo, sdf.box_hi,
                                          link_mask, sdf.outside_bound)
        local = take(chunks.chunk_points, chunk)  # (3, P, M)
        placed = apply(parts[2].unsqueeze(2), local)
        maybe = (chunks.chunk_valid.index_select(1, chunk) > 0) \
            & (sdf.outside_bound(placed) <= 0)
        slot, group = maybe.nonzero(as_tuple=True)
        value, _ = sdf.sample(placed[:, slot, group])
        inside = (value < 0).nonzero()[:, 0]
        slot, group = slot[inside], group[inside]
        local = local[:, slot, group].unsqueeze(1)  # (3, 1, S)
        batch = batch[group]
        parts = tuple(take(x, group) for x in parts)
    points = place_points(frame, links, batch, chunks.chunk_link[chunk[group]], local, parts)
    return points, batch


def chunks_near(chunks: SurfaceChunks, links, frame, box_lo, box_hi, link_mask,
                outside_distance
                ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
    """``(chunk (M,), batch (M,), link_frames parts)`` of the fine chunks kept by
    :func:`surface_near_box` (no gradient)."""
    lo, hi = box_lo.reshape(3, 1), box_hi.reshape(3, 1)
    centre = apply(frame.unsqueeze(2), place(links, chunks.coarse_placer))  # (3, Cc, B)
    near = box_gap2(centre, lo.unsqueeze(-1), hi.unsqueeze(-1)) <= chunks.coarse_radius2
    if link_mask is not None:
        near &= link_mask.T.index_select(0, chunks.coarse_link)
    coarse, batch = near.nonzero(as_tuple=True)
    kids = chunks.coarse_children.index_select(0, coarse)  # (K, W)
    row, col = (kids >= 0).nonzero(as_tuple=True)
    chunk, batch = kids[row, col], batch[row]
    parts = link_frames(frame, links, batch, chunks.chunk_link[chunk])
    centre = apply(parts[2], chunks.chunk_centre.index_select(1, chunk))  # (3, M)
    if outside_distance is not None:
        keep = outside_distance(centre) <= chunks.chunk_radius[chunk]
    else:
        keep = box_gap2(centre, lo, hi) <= chunks.chunk_radius[chunk] ** 2
    keep = keep.nonzero()[:, 0]
    return chunk[keep], batch[keep], tuple(take(p, keep) for p in parts)
