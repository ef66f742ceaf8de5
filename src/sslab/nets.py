"""Encoders and decoders. The dSprites study uses the Neuromatch tutorial's small LeNet-like networks."""

from __future__ import annotations

import torch
from torch import nn


class EncoderCore(nn.Module):
    """The Neuromatch tutorial's encoder: two conv blocks and three linear blocks -> `feat_dim` features.

    Every BatchNorm is affine=False, as in the tutorial. With `vae=True` a second head gives
    log-variances, and forward returns (mu, logvar).

    x: (B, 1, 64, 64) float in [0, 1] -> h: (B, feat_dim)
    """

    def __init__(self, in_channels: int = 1, image_size: int = 64, feat_dim: int = 84, vae: bool = False):
        super().__init__()
        self.feat_dim, self.vae = feat_dim, vae
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5), nn.ReLU(inplace=True), nn.AvgPool2d(2), nn.BatchNorm2d(6, affine=False),
            nn.Conv2d(6, 16, 5), nn.ReLU(inplace=True), nn.AvgPool2d(2), nn.BatchNorm2d(16, affine=False),
        )
        side = ((image_size - 4) // 2 - 4) // 2  # 64 -> 13
        self.linear = nn.Sequential(
            nn.Linear(16 * side * side, 120), nn.ReLU(inplace=True), nn.BatchNorm1d(120, affine=False),
            nn.Linear(120, 84), nn.ReLU(inplace=True), nn.BatchNorm1d(84, affine=False),
        )
        self.head = _block(84, feat_dim)
        self.logvar_head = _block(84, feat_dim) if vae else None

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        t = self.linear(self.conv(x).flatten(1))  # (B, 84)
        h = self.head(t)
        if self.logvar_head is not None:
            return h, self.logvar_head(t)
        return h

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The frozen features: (B, feat_dim); for a VAE the mean mu."""
        out = self(x)
        return out[0] if isinstance(out, tuple) else out


class DecoderCore(nn.Module):
    """The tutorial's VAE decoder, a mirror of EncoderCore: (B, feat_dim) -> (B, 1, 64, 64) logits."""

    def __init__(self, out_channels: int = 1, feat_dim: int = 84):
        super().__init__()
        self.linear = nn.Sequential(
            _block(feat_dim, 84), _block(84, 120), nn.Linear(120, 16 * 13 * 13), nn.ReLU(inplace=True),
        )
        self.conv = nn.Sequential(
            nn.Upsample(scale_factor=2), nn.BatchNorm2d(16, affine=False), nn.ConvTranspose2d(16, 6, 5), nn.ReLU(inplace=True),
            nn.Upsample(scale_factor=2), nn.BatchNorm2d(6, affine=False), nn.ConvTranspose2d(6, out_channels, 5),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.conv(self.linear(z).view(-1, 16, 13, 13))  # 13 -> 26 -> 30 -> 60 -> 64


def _block(d_in: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d_out), nn.ReLU(inplace=True), nn.BatchNorm1d(d_out, affine=False))
