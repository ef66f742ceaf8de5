"""The Neuromatch tutorial's small LeNet-like encoder (W3D1, dSprites), for any input size."""

from __future__ import annotations

import torch
from torch import nn

from sslab.errors import SslabError
from sslab.nets.base import register


def core_side(n: int) -> int:
    """Side of EncoderCore's last feature map: conv5 -> pool2 -> conv5 -> pool2, 64 -> 60 -> 30 -> 26 -> 13."""
    return ((n - 4) // 2 - 4) // 2


class EncoderCore(nn.Module):
    """Two conv blocks and three linear blocks -> `feat_dim` features; every BatchNorm is affine=False,
    as in the tutorial.

    x: (B, C, H, W) float in [0, 1] -> h: (B, feat_dim)
    """

    def __init__(self, image_shape: tuple[int, int, int] = (1, 64, 64), feat_dim: int = 84):
        super().__init__()
        c, height, width = image_shape
        sh, sw = core_side(height), core_side(width)
        if min(sh, sw) < 1:
            raise SslabError(f"encoder_core needs images of at least 16x16 px, got {height}x{width}")
        self.feat_dim = feat_dim
        self.conv = nn.Sequential(
            nn.Conv2d(c, 6, 5), nn.ReLU(inplace=True), nn.AvgPool2d(2), nn.BatchNorm2d(6, affine=False),
            nn.Conv2d(6, 16, 5), nn.ReLU(inplace=True), nn.AvgPool2d(2), nn.BatchNorm2d(16, affine=False),
        )
        self.linear = nn.Sequential(
            nn.Linear(16 * sh * sw, 120), nn.ReLU(inplace=True), nn.BatchNorm1d(120, affine=False),
            nn.Linear(120, 84), nn.ReLU(inplace=True), nn.BatchNorm1d(84, affine=False),
        )
        self.head = linear_block(84, feat_dim)

    BLOCKS = ("conv.3", "conv.7", "linear.2", "linear.5", "head")  # each conv and linear block's BatchNorm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.linear(self.conv(x).flatten(1))  # (B, 16 * 13 * 13 at 64 px) -> (B, 84)
        return self.head(t)  # (B, feat_dim)


def linear_block(d_in: int, d_out: int) -> nn.Sequential:
    """The tutorial's Linear - ReLU - BatchNorm1d(affine=False)."""
    return nn.Sequential(nn.Linear(d_in, d_out), nn.ReLU(inplace=True), nn.BatchNorm1d(d_out, affine=False))


@register
def encoder_core(image_shape: tuple[int, int, int], feat_dim: int = 84) -> EncoderCore:
    """Neuromatch tutorial: 2 conv (6, 16 ch, 5x5, avg-pool) + 3 linear blocks, BatchNorm affine=False."""
    return EncoderCore(image_shape, feat_dim)
