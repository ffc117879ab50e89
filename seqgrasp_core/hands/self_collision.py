"""The hand's self-collision spheres and the pairs of them that may not overlap.

Each collision primitive is approximated by spheres fixed on its link (``S`` in all,
metres, link frames). :func:`self_collision_spheres` keeps the sphere pairs on links
that are neither the same rigid body, nor neighbours at a joint, nor excluded by the
hand's spec, and that can come close anywhere in the joint ranges; it groups those
``P`` pairs by their pair of links, with a bounding sphere per link, so that
:func:`sphere_pair_candidates` tests whole links first.

:class:`~seqgrasp_core.hands.model.HandModel` registers the buffers built here (so that
``.to(device)`` moves them) and passes itself to the queries as ``spheres``
(:class:`SelfCollisionSpheres`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

import numpy as np
import torch

from seqgrasp_core.geometry.transforms import dot
from seqgrasp_core.hands.placement import place, placer


class SelfCollisionSpheres(Protocol):
    """The buffers :func:`sphere_pair_candidates` and :func:`sphere_centres` read, as
    attributes (a HandModel holds them); ``L`` links, ``G`` link pairs of up to ``W``
    sphere pairs each."""

    sphere_placer: torch.Tensor  # (S, 4L), see placement.placer
    link_sphere_placer: torch.Tensor  # (L, 4L): each link's bounding-sphere centre
    link_pairs: torch.Tensor  # (G, 2) long: link indices
    link_pair_reach2: torch.Tensor  # (G, 1) m²: squared sum of the two bounding radii
    link_pair_members: torch.Tensor  # (G, W) long: sphere pair indices padded with -1


def self_collision_spheres(prims, parents: dict[str, str | None], link_names: list[str],
                           link_index: dict[str, int], joint_of_child: dict[str, str],
                           exclude: Iterable[tuple[str, str]], lower: torch.Tensor,
                           upper: torch.Tensor,
                           link_poses: Callable[[torch.Tensor], torch.Tensor],
                           dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The self-collision buffers, by name:

    - ``sphere_local`` ``(S, 3)`` m, ``sphere_radius`` ``(S,)`` m, ``sphere_link``
      ``(S,)`` and ``sphere_placer`` ``(S, 4L)``: the spheres of the primitives
      ``prims`` (each one's ``Primitive.spheres()``);
    - ``sphere_pairs`` ``(P, 2)``: the pairs that may not overlap (links in different
      rigid bodies, not parent and child, not in ``exclude``) and can come close within
      the joint ranges ``lower``/``upper`` ``(K,)`` rad; ``sphere_pair_reach``
      ``(P, 1)`` m their summed radii;
    - ``link_sphere_placer``, ``link_pairs``, ``link_pair_reach2``,
      ``link_pair_members``: those pairs grouped by link (:class:`SelfCollisionSpheres`).

    ``parents`` maps each link to its parent link (``None`` at the root),
    ``joint_of_child`` a link to the movable joint that moves it from its parent, and
    ``link_poses`` joints ``(K, B)`` to link poses ``(3, 4, L, B)``.
    """
    centres, radii, links = [], [], []
    for prim in prims:
        c, r = prim.spheres()
        centres.append(c)
        radii.append(r)
        links += [link_index[prim.link]] * len(r)
    links_t = torch.tensor(links, dtype=torch.long)
    body = rigid_bodies(parents, joint_of_child)
    excluded = {frozenset((body[a], body[b])) for a, b in exclude}
    for child, parent in parents.items():
        if parent is not None:  # neighbours overlap at their joint by design
            excluded.add(frozenset((body[child], body[parent])))
    excluded = {frozenset((a, b)) for a in link_names for b in link_names
                if body[a] == body[b] or frozenset((body[a], body[b])) in excluded}
    ii, jj = torch.triu_indices(len(links), len(links), offset=1)
    keep = [frozenset((link_names[links[i]], link_names[links[j]])) not in excluded and
            links[i] != links[j] for i, j in zip(ii.tolist(), jj.tolist())]
    keep_t = torch.tensor(keep, dtype=torch.bool)
    local = torch.as_tensor(np.concatenate(centres), dtype=dtype)
    radius = torch.as_tensor(np.concatenate(radii), dtype=dtype)
    sphere_placer = placer(local, links_t, len(link_names))
    pairs = _reachable_pairs(torch.stack((ii[keep_t], jj[keep_t]), dim=-1),
                             lambda joints: place(link_poses(joints), sphere_placer),
                             radius, lower, upper)
    return {
        "sphere_local": local,
        "sphere_radius": radius,
        "sphere_link": links_t,
        "sphere_placer": sphere_placer,
        "sphere_pairs": pairs,
        "sphere_pair_reach": (radius[pairs[:, 0]] + radius[pairs[:, 1]])[:, None],
        **_link_pairs(pairs, local, radius, links_t, len(link_names), dtype),
    }


def _link_pairs(pairs: torch.Tensor, local: torch.Tensor, radius: torch.Tensor,
                link_of: torch.Tensor, n_links: int, dtype: torch.dtype
                ) -> dict[str, torch.Tensor]:
    """The sphere ``pairs`` ``(P, 2)`` grouped by their pair of links, with a bounding
    sphere per link (for spheres ``local`` ``(S, 3)``, ``radius`` ``(S,)`` on links
    ``link_of`` ``(S,)``), so that :func:`sphere_pair_candidates` tests the links first."""
    groups: dict[tuple[int, int], list[int]] = {}
    for k, (i, j) in enumerate(pairs.tolist()):
        groups.setdefault((int(link_of[i]), int(link_of[j])), []).append(k)
    centres, radii = [], []
    for link in range(n_links):
        own = link_of == link
        if not own.any():
            centres.append(torch.zeros(3, dtype=dtype))
            radii.append(torch.zeros((), dtype=dtype))
            continue
        c = local[own].mean(0)
        centres.append(c)
        radii.append(((local[own] - c).norm(dim=-1) + radius[own]).max())
    link_radius = torch.stack(radii)
    keys = list(groups)
    width = max(len(v) for v in groups.values()) if groups else 1
    link_pairs = torch.tensor(keys, dtype=torch.long).reshape(-1, 2)
    return {
        "link_sphere_placer": placer(torch.stack(centres), torch.arange(n_links), n_links),
        "link_pairs": link_pairs,
        "link_pair_reach2": ((link_radius[link_pairs[:, 0]]
                              + link_radius[link_pairs[:, 1]]) ** 2)[:, None],
        "link_pair_members": torch.tensor(
            [groups[k] + [-1] * (width - len(groups[k])) for k in keys],
            dtype=torch.long).reshape(len(keys), width),
    }


def _reachable_pairs(pairs: torch.Tensor, centres: Callable[[torch.Tensor], torch.Tensor],
                     radius: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor,
                     samples: int = 4096, margin: float = 0.01, seed: int = 0) -> torch.Tensor:
    """The sphere ``pairs`` ``(P, 2)`` that come within ``margin`` (m) of touching
    anywhere in the joint ranges ``lower``/``upper`` ``(K,)``, found by sampling
    (``centres``: joints ``(K, B)`` → sphere centres ``(3, S, B)``, radii ``radius``
    ``(S,)``); the others can never collide and are dropped once here instead of being
    tested at every iteration."""
    g = torch.Generator().manual_seed(seed)
    closest = torch.full((len(pairs),), float("inf"), dtype=lower.dtype)
    with torch.no_grad():
        for _ in range(4):
            joints = lower + (upper - lower) * torch.rand(samples // 4, len(lower), generator=g,
                                                           dtype=lower.dtype)
            c = centres(joints.T.contiguous())  # (3, S, B)
            d = c[:, pairs[:, 0]] - c[:, pairs[:, 1]]  # (3, P, B), per axis: fast
            gap = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt() \
                - (radius[pairs[:, 0]] + radius[pairs[:, 1]])[:, None]
            closest = torch.minimum(closest, gap.min(dim=1).values)
    return pairs[closest < margin]


def sphere_centres(spheres: SelfCollisionSpheres, links: torch.Tensor) -> torch.Tensor:
    """Self-penetration sphere centres ``(3, S, B)`` for link poses ``(3, 4, L, B)``."""
    return place(links, spheres.sphere_placer)


def sphere_pair_candidates(spheres: SelfCollisionSpheres, links: torch.Tensor
                           ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(pair (M,), batch (M,))``: the sphere pairs whose links' bounding spheres
    overlap, for link poses ``(3, 4, L, B)``; the only pairs that can overlap."""
    with torch.no_grad():
        centre = place(links, spheres.link_sphere_placer)  # (3, L, B)
        d = centre.index_select(1, spheres.link_pairs[:, 0]) \
            - centre.index_select(1, spheres.link_pairs[:, 1])
        near, batch = (dot(d, d) < spheres.link_pair_reach2).nonzero(as_tuple=True)
        members = spheres.link_pair_members.index_select(0, near)  # (K, W)
        row, col = (members >= 0).nonzero(as_tuple=True)
        return members[row, col], batch[row]


def rigid_bodies(parents: dict[str, str | None], movable_children) -> dict[str, str]:
    """``{link: the link that heads its rigid body}``: links joined by fixed joints
    move together, so each maps to its nearest ancestor (or itself) that is the root
    or the child of a movable joint (``movable_children``)."""
    body = {}
    for name in parents:
        node = name
        while parents[node] is not None and node not in movable_children:
            node = parents[node]
        body[name] = node
    return body
