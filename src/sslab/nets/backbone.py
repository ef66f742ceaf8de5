"""The projection-head blog's MNIST backbone: three unpadded 3x3 convs with max-pooling, flattened."""

from __future__ import annotations

import torch
from torch import nn

from sslab.errors import SslabError
from sslab.nets.base import register


def backbone_side(n: int) -> int:
    """Side after three [Conv3x3 (no padding) - MaxPool2]: 28 -> 26 -> 13 -> 11 -> 5 -> 3 -> 1."""
    for _ in range(3):
        n = (n - 2) // 2
    return n


class Backbone(nn.Module):
    """x: (B, C, H, W) -> (B, 32 * s * s): 32-d at 28 px (s = 1), 128-d at 32 px, 3,200-d at 96 px."""

    def __init__(self, image_shape: tuple[int, int, int]):
        super().__init__()
        c, height, width = image_shape
        sh, sw = backbone_side(height), backbone_side(width)
        if min(sh, sw) < 1:
            raise SslabError(f"backbone needs images of at least 22 px, got {height}x{width}")
        self.feat_dim = 32 * sh * sw
        self.conv = nn.Sequential(
            nn.Conv2d(c, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.flatten = nn.Flatten()

    BLOCKS = ("conv.2", "conv.5", "conv.8")  # each block's max-pool (the last: the features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.flatten(self.conv(x))  # (B, 32 * s * s)


@register
def backbone(image_shape: tuple[int, int, int]) -> Backbone:
    """Projection-head blog: 3 x [Conv3x3 (no padding)-ReLU-MaxPool] at 16/16/32 ch, flatten (32-d at 28 px)."""
    return Backbone(image_shape)
