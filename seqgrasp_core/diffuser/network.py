"""The SeqDiffuser denoiser ``eps_psi(g_t, h_O, t)`` (paper §VI, eq. 15).

A noisy augmented grasp ``g_t = [f, p, r, theta]`` ``(B, D)``, ``D = L + 9 + K``,
together with its diffusion selection vector ``k`` ``(B, D)`` and timestep ``t``,
is turned into a few query tokens that attend to each other and to latent tokens of
the object; the tokens are read out as the predicted noise ``(B, D)``.

The object tokens come from :meth:`Denoiser.encode_object`, which a sampler runs
once per object and reuses at every diffusion step. Cross-attention projects the
object tokens once per block and shares them across grasp rows (an object batch of
1 serves any number of grasps), so the per-step cost scales with the grasp tokens
only. The sizes are chosen for fast CPU sampling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

OS_ENCODINGS = ("onehot", "embedding")


@dataclass(frozen=True)
class NetworkConfig:
    """Sizes of a :class:`Denoiser`.

    ``grasp_dim`` is ``D = L + 9 + K`` (one-hot OS, position, 6-D rotation, joints);
    ``num_spaces`` is ``L``, the number of opposition spaces. ``basis`` is the BPS
    size ``N``; ``latents`` object tokens and ``queries`` grasp tokens, all
    ``width`` wide; ``depth`` grasp blocks with ``heads`` attention heads.
    ``os_encoding`` is ``"onehot"`` (the OS is read from the first ``L`` entries of
    ``g_t``) or ``"embedding"`` (a learned vector per OS is added to the hidden state).
    """

    grasp_dim: int
    num_spaces: int
    basis: int = 512
    width: int = 128
    latents: int = 32
    queries: int = 2
    depth: int = 3
    heads: int = 4
    os_encoding: str = "onehot"
    ff_mult: int = 2  # feed-forward hidden width / width

    def __post_init__(self):
        if self.os_encoding not in OS_ENCODINGS:
            raise ValueError(f"os_encoding must be one of {OS_ENCODINGS}, "
                             f"got {self.os_encoding!r}")
        if self.grasp_dim < self.num_spaces + 9:
            raise ValueError(f"grasp_dim {self.grasp_dim} is smaller than "
                             f"num_spaces + 9 = {self.num_spaces + 9}")
        if self.width % self.heads:
            raise ValueError(f"width {self.width} is not a multiple of heads {self.heads}")


def timestep_embedding(t: torch.Tensor, width: int) -> torch.Tensor:
    """Sinusoidal features of integer timesteps ``t`` ``(B,)`` → ``(B, width)``
    (periods from 1 to 10 000 steps, as in the transformer position code)."""
    half = width // 2
    freq = torch.exp(torch.arange(half, device=t.device, dtype=torch.float32)
                     * (-math.log(10000.0) / half))
    angle = t.float()[:, None] * freq[None, :]
    emb = torch.cat((torch.sin(angle), torch.cos(angle)), dim=1)
    return F.pad(emb, (0, width - 2 * half))


def _feed_forward(width: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))


class ObjectEncoder(nn.Module):
    """BPS code ``(B_obj, N, 4)`` → object tokens ``(B_obj, latents, width)``.

    Each basis point's code is joined to its fixed coordinates (7 features), lifted to
    ``width``, and summarised by ``latents`` learned queries through one pre-LN
    cross-attention and feed-forward block.
    """

    def __init__(self, config: NetworkConfig, basis: torch.Tensor):
        """``basis`` ``(N, 3)``: the BPS coordinates (metres) the codes were made with."""
        super().__init__()
        if basis.shape != (config.basis, 3):
            raise ValueError(f"basis must have shape ({config.basis}, 3), "
                             f"got {tuple(basis.shape)}")
        width = config.width
        self.register_buffer("basis", basis.detach().float().clone())
        self.lift = nn.Sequential(nn.Linear(7, width), nn.GELU(), nn.Linear(width, width))
        self.latents = nn.Parameter(torch.randn(config.latents, width) * 0.02)
        self.norm_query = nn.LayerNorm(width)
        self.norm_points = nn.LayerNorm(width)
        self.attention = nn.MultiheadAttention(width, config.heads, batch_first=True)
        self.norm_ff = nn.LayerNorm(width)
        self.ff = _feed_forward(width, 4 * width)
        self.norm_out = nn.LayerNorm(width)

    def forward(self, bps: torch.Tensor) -> torch.Tensor:
        """``bps`` ``(B_obj, N, 4)`` → ``(B_obj, latents, width)``."""
        count = bps.shape[0]
        features = torch.cat((bps, self.basis.expand(count, -1, -1)), dim=-1)  # (B, N, 7)
        points = self.norm_points(self.lift(features))
        h = self.latents.expand(count, -1, -1)
        query = self.norm_query(h)
        h = h + self.attention(query, points, points, need_weights=False)[0]
        h = h + self.ff(self.norm_ff(h))
        return self.norm_out(h)


class _Attention(nn.Module):
    """Multi-head attention of ``x`` ``(B, Q, W)`` to ``context`` ``(B or 1, C, W)``.

    Keys and values are projected on the context as given, then broadcast over ``B``
    as views, so an object batch of 1 is projected once for all grasp rows.
    """

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(width, width)
        self.key_value = nn.Linear(width, 2 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        rows, tokens, width = x.shape
        heads, split = self.heads, width // self.heads
        q = self.query(x).view(rows, tokens, heads, split).transpose(1, 2)
        kv = self.key_value(context).view(context.shape[0], -1, 2, heads, split)
        k, v = kv.permute(2, 0, 3, 1, 4).expand(-1, rows, -1, -1, -1)  # (B, H, C, W/H)
        mixed = F.scaled_dot_product_attention(q, k, v)                  # (B, H, Q, W/H)
        return self.out(mixed.transpose(1, 2).reshape(rows, tokens, width))


class _GraspBlock(nn.Module):
    """Pre-LN self-attention, cross-attention to the object, feed-forward; each
    normalised input is scaled and shifted by the timestep embedding (FiLM)."""

    def __init__(self, width: int, heads: int, ff_mult: int):
        super().__init__()
        self.norms = nn.ModuleList(
            nn.LayerNorm(width, elementwise_affine=False) for _ in range(3))
        self.self_attention = _Attention(width, heads)
        self.cross_attention = _Attention(width, heads)
        self.ff = _feed_forward(width, ff_mult * width)
        self.film = nn.Linear(width, 6 * width)
        nn.init.zeros_(self.film.weight)  # starts as a plain pre-LN block
        nn.init.zeros_(self.film.bias)

    def forward(self, h: torch.Tensor, time: torch.Tensor,
                objects: torch.Tensor) -> torch.Tensor:
        """``h`` ``(B, Q, W)``, ``time`` ``(B, W)``, ``objects`` ``(B or 1, latents, W)``."""
        film = self.film(F.silu(time))[:, None, :].chunk(6, dim=-1)  # 3 x (scale, shift)
        normed = self._modulated(0, h, film)
        h = h + self.self_attention(normed, normed)
        h = h + self.cross_attention(self._modulated(1, h, film), objects)
        return h + self.ff(self._modulated(2, h, film))

    def _modulated(self, i: int, h: torch.Tensor, film) -> torch.Tensor:
        return self.norms[i](h) * (1 + film[2 * i]) + film[2 * i + 1]


class Denoiser(nn.Module):
    """Predicts the noise ``eps`` ``(B, D)`` in a noisy normalised grasp (paper eq. 15).

    ``forward(x_t, k, t, objects, os_index)``: ``x_t`` ``(B, D)`` noisy normalised
    grasps, ``k`` ``(B, D)`` 0/1 diffusion selection, ``t`` ``(B,)`` integer steps,
    ``objects`` ``(B or 1, latents, width)`` from :meth:`encode_object`, ``os_index``
    ``(B,)`` long (read only with ``os_encoding == "embedding"``).
    """

    def __init__(self, config: NetworkConfig, basis: torch.Tensor):
        """``basis`` ``(N, 3)``: the BPS coordinates (metres), stored as a buffer."""
        super().__init__()
        self.config = config
        width, dim = config.width, config.grasp_dim
        self.object_encoder = ObjectEncoder(config, basis)
        self.grasp_in = nn.Sequential(nn.Linear(2 * dim, width), nn.GELU(),
                                      nn.Linear(width, width))
        self.time_in = nn.Sequential(nn.Linear(width, width), nn.SiLU(),
                                     nn.Linear(width, width))
        self.os_embedding = (nn.Embedding(config.num_spaces, width)
                             if config.os_encoding == "embedding" else None)
        self.to_queries = nn.Linear(width, config.queries * width)
        self.query_bias = nn.Parameter(torch.randn(config.queries, width) * 0.02)
        self.blocks = nn.ModuleList(_GraspBlock(width, config.heads, config.ff_mult)
                                    for _ in range(config.depth))
        self.norm_out = nn.LayerNorm(config.queries * width)
        self.eps_out = nn.Linear(config.queries * width, dim)

    def encode_object(self, bps: torch.Tensor) -> torch.Tensor:
        """BPS codes ``(B_obj, N, 4)`` → object tokens ``(B_obj, latents, width)``.
        Run once per object per sampling call, not per diffusion step."""
        return self.object_encoder(bps)

    def forward(self, x_t: torch.Tensor, k: torch.Tensor, t: torch.Tensor,
                objects: torch.Tensor, os_index: torch.Tensor | None = None) -> torch.Tensor:
        """→ predicted noise ``(B, D)``; see the class docstring for the inputs."""
        config = self.config
        rows = x_t.shape[0]
        if objects.shape[0] not in (1, rows):
            raise ValueError(f"objects batch {objects.shape[0]} is neither 1 nor {rows}")
        time = self.time_in(timestep_embedding(t, config.width))          # (B, W)
        h = self.grasp_in(torch.cat((x_t, k.to(x_t.dtype)), dim=-1)) + time
        if self.os_embedding is not None:
            if os_index is None:
                raise ValueError("os_encoding 'embedding' needs os_index")
            h = h + self.os_embedding(os_index)
        h = self.to_queries(h).view(rows, config.queries, config.width) + self.query_bias
        for block in self.blocks:
            h = block(h, time, objects)
        return self.eps_out(self.norm_out(h.reshape(rows, -1)))
