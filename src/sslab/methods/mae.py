"""MAE (He et al. 2022): mask most patches of an image, encode the visible ones, reconstruct the masked ones.

A ViT encoder (`vit_mini` by default, any of `sslab encoders`' ViTs) sees a random 25% of each image's patches
(`mask_ratio` 0.75, drawn per image from the step's generator). A light decoder (a Linear to `decoder_dim`,
mask tokens where the masked patches were, fixed position embeddings, `decoder_depth` blocks, a LayerNorm and a
Linear to the patch's pixels) predicts every patch; sslab.losses.mae_loss scores the masked ones against their
pixels, each patch standardised (`norm_pix`). Features for probes: the encoder on all patches, no masking.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sslab import nets
from sslab.errors import SslabError
from sslab.losses import mae_loss
from sslab.methods._net import NetConfig
from sslab.methods.base import Method, register, require
from sslab.nets.vit import ViT, blocks, sincos_2d
from sslab.views.ops import to_float


@dataclass(frozen=True)
class MAEConfig(NetConfig):
    encoder: str = "vit_mini"
    epochs: int = 40
    batch_size: int = 128
    lr: float = 1.5e-3
    weight_decay: float = 0.05
    mask_ratio: float = 0.75
    decoder_dim: int = 128
    decoder_depth: int = 2
    decoder_heads: int = 4
    norm_pix: bool = True  # standardise each target patch (the paper's better setting)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.mask_ratio < 1:
            raise SslabError(f"mask_ratio must be in [0, 1), got {self.mask_ratio}")
        require(self, positive=("decoder_dim", "decoder_depth", "decoder_heads"))


def patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, N, p * p * C), patches in row-major order, each as MAE lays it out (rows, cols, C)."""
    b, c, h, w = x.shape
    return x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1).reshape(b, (h // p) * (w // p), -1)


@register
class MAE(Method):
    family = "masked"

    @classmethod
    def accepts(cls, encoder: str) -> bool:
        return encoder.startswith("vit")
    Config = MAEConfig

    def __init__(self, cfg: MAEConfig, image_shape: tuple[int, int, int], n_classes: int):
        super().__init__(cfg, image_shape, n_classes)
        self.encoder = nets.build(cfg.encoder, image_shape)
        if not isinstance(self.encoder, ViT):
            raise SslabError(f"mae needs a ViT encoder (vit_mini, vit_tiny), got {cfg.encoder!r}")
        enc, d = self.encoder, cfg.decoder_dim
        self.decoder_embed = nn.Linear(enc.feat_dim, d)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, d))
        self.register_buffer("decoder_pos", sincos_2d(d, *enc.grid)[None], persistent=False)
        self.decoder = blocks(d, cfg.decoder_depth, cfg.decoder_heads)
        self.decoder_norm = nn.LayerNorm(d)
        self.decoder_pred = nn.Linear(d, enc.patch ** 2 * image_shape[0])
        nn.init.normal_(self.mask_token, std=0.02)
        self.n_keep = max(1, round(enc.n_patches * (1 - cfg.mask_ratio)))

    def inputs(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        """Float images and each image's random patch order (B, N): the first n_keep patches stay visible."""
        noise = torch.rand(len(x), self.encoder.n_patches, generator=generator, device=x.device)
        return to_float(x), noise.argsort(dim=1)

    def forward(self, x: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
        """Predicted pixels of every patch (B, N, p * p * C) from the visible patches order[:, :n_keep]."""
        keep = order[:, : self.n_keep]
        t = self.decoder_embed(self.encoder.tokens(x, keep))  # (B, 1 + n_keep, d)
        b, n = len(x), self.encoder.n_patches
        full = self.mask_token.to(t.dtype).expand(b, n, -1).clone()  # mask tokens everywhere (in autocast's dtype),
        # then the visible ones in place
        full = full.scatter(1, keep[..., None].expand(-1, -1, t.shape[-1]), t[:, 1:])
        t = torch.cat([t[:, :1], full + self.decoder_pos], dim=1)
        for block in self.decoder:
            t = block(t)
        return self.decoder_pred(self.decoder_norm(t))[:, 1:]

    def objective(self, inputs, generator=None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x, order = inputs
        pred = self(x, order)
        mask = torch.ones_like(order, dtype=pred.dtype).scatter(1, order[:, : self.n_keep], 0.0)  # 1: masked
        loss = mae_loss(pred, patchify(x, self.encoder.patch), mask, self.cfg.norm_pix)
        return loss, {"loss": loss.detach()}
