"""Vision Transformers (Dosovitskiy et al. 2021) on torch alone, sized for small images, with what MAE needs.

Patches: the smallest divisor of the image side that is at least side / 8 (8 x 8 patches or a few more:
4 px at 28 and 32 px, 8 px at 64, 12 px at 96), unless `patch` is given. Tokens get fixed 2-D sine-cosine
position embeddings (MAE's); a class token is prepended; pre-norm blocks (torch's TransformerEncoderLayer,
GELU, no dropout), a final LayerNorm. Features: the class token's output (`pool="cls"`) or the mean of the
patch tokens (`pool="mean"`). `tokens(x, keep)` encodes only the patches at `keep` (MAE's visible ones).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sslab.errors import SslabError
from sslab.nets.base import register

POOLS = ("cls", "mean")


def default_patch(side: int) -> int:
    """The smallest divisor of `side` that is at least side / 8."""
    return next(p for p in range(max(1, math.ceil(side / 8)), side + 1) if side % p == 0)


def sincos_2d(dim: int, rows: int, cols: int) -> torch.Tensor:
    """(rows * cols, dim) fixed position embeddings: half the channels encode the row, half the column,
    each as sines and cosines at geometric frequencies (MAE's get_2d_sincos_pos_embed)."""
    if dim % 4:
        raise SslabError(f"a ViT's width must be a multiple of 4 for its position embeddings, got {dim}")
    omega = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float64) / (dim // 4))

    def embed(pos: torch.Tensor) -> torch.Tensor:
        angles = pos.double()[:, None] * omega[None]
        return torch.cat([angles.sin(), angles.cos()], dim=1)

    r, c = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
    return torch.cat([embed(r.flatten()), embed(c.flatten())], dim=1).float()


def blocks(dim: int, depth: int, heads: int, mlp_ratio: float = 4.0) -> nn.ModuleList:
    return nn.ModuleList(nn.TransformerEncoderLayer(dim, heads, int(dim * mlp_ratio), dropout=0.0, activation="gelu",
                                                    batch_first=True, norm_first=True) for _ in range(depth))


class ViT(nn.Module):
    """x: (B, C, H, W) -> patches (B, N, dim) + positions -> [class token; patches] -> blocks -> LayerNorm ->
    h: (B, dim), the class token's (pool "cls") or the patches' mean (pool "mean")."""

    def __init__(self, image_shape: tuple[int, int, int], dim: int = 192, depth: int = 12, heads: int = 3,
                 patch: int = 0, pool: str = "cls"):
        super().__init__()
        c, height, width = image_shape
        patch = patch or default_patch(math.gcd(height, width))
        if height % patch or width % patch:
            raise SslabError(f"the ViT's patch ({patch} px) must divide the image's sides, got {height}x{width}")
        if pool not in POOLS:
            raise SslabError(f"pool must be one of {', '.join(POOLS)}, got {pool!r}")
        self.patch, self.grid, self.pool, self.feat_dim = patch, (height // patch, width // patch), pool, dim
        self.patch_embed = nn.Conv2d(c, dim, patch, patch)  # one linear map per patch
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.register_buffer("pos", sincos_2d(dim, *self.grid)[None], persistent=False)  # (1, N, dim)
        self.blocks = blocks(dim, depth, heads)
        self.norm = nn.LayerNorm(dim)
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.xavier_uniform_(self.patch_embed.weight.view(dim, -1))  # as MAE: like a Linear

    @property
    def BLOCKS(self) -> tuple[str, ...]:  # noqa: N802 - the attribute nets.blocks reads
        return (*(f"blocks.{i}" for i in range(len(self.blocks))), "norm")  # tokens, averaged when probed

    @property
    def n_patches(self) -> int:
        return self.grid[0] * self.grid[1]

    def tokens(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, H, W) -> (B, 1 + n, dim) normalised outputs: the class token, then the n patches kept (all, or
        those at `keep` (B, n), in that order)."""
        t = self.patch_embed(x).flatten(2).transpose(1, 2) + self.pos  # (B, N, dim), patches in row-major order
        if keep is not None:
            t = t.gather(1, keep[..., None].expand(-1, -1, t.shape[-1]))
        t = torch.cat([self.cls_token.expand(len(t), -1, -1), t], dim=1)
        for block in self.blocks:
            t = block(t)
        return self.norm(t)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.tokens(x)
        return t[:, 0] if self.pool == "cls" else t[:, 1:].mean(1)


@register
def vit_tiny(image_shape: tuple[int, int, int], patch: int = 0, pool: str = "cls") -> ViT:
    """ViT-Tiny (DeiT's: width 192, 12 blocks, 3 heads), 8x8 patches or a few more; class-token features."""
    return ViT(image_shape, 192, 12, 3, patch, pool)


@register
def vit_mini(image_shape: tuple[int, int, int], patch: int = 0, pool: str = "cls") -> ViT:
    """A ViT for a CPU's budget: width 192, 4 blocks, 3 heads (ViT-Tiny's first third); class-token features."""
    return ViT(image_shape, 192, 4, 3, patch, pool)
