"""The MedMNIST lab's ConvNet: three Conv-BN-ReLU-MaxPool blocks, flatten, Linear to 128, ReLU."""

from __future__ import annotations

import torch
from torch import nn

from sslab.errors import SslabError
from sslab.nets.base import register

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU}  # the lab's DINO swaps ReLU for GELU


def conv_block(c_in: int, c_out: int, act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """The lab's ConvBlock: Conv3x3 (padding 1) - BatchNorm2d - activation - MaxPool2 (halves the side)."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), act(), nn.MaxPool2d(2))


class ConvNet(nn.Module):
    """x: (B, C, H, W) -> blocks (28 -> 14 -> 7 -> 3) -> flatten (B, 1152 at 28 px) -> fc + act -> h: (B, feat_dim).

    `flatten` is a submodule so that its output can be probed as a layer ("encoder.flatten").
    """

    def __init__(self, image_shape: tuple[int, int, int], widths: tuple[int, ...] = (32, 64, 128),
                 feat_dim: int = 128, activation: str = "relu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise SslabError(f"convnet activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
        c, height, width = image_shape
        sh, sw = height >> len(widths), width >> len(widths)  # each MaxPool2 floors the side by half
        if min(sh, sw) < 1:
            raise SslabError(f"convnet needs images of at least {2 ** len(widths)} px, got {height}x{width}")
        act = ACTIVATIONS[activation]
        self.feat_dim = feat_dim
        self.blocks = nn.Sequential(*(conv_block(a, b, act) for a, b in zip((c, *widths), widths)))
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(widths[-1] * sh * sw, feat_dim)
        self.act = act()

    @property
    def BLOCKS(self) -> tuple[str, ...]:  # noqa: N802 - the attribute nets.blocks reads
        return (*(f"blocks.{i}" for i in range(len(self.blocks))), "act")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.flatten(self.blocks(x))  # (B, 128 * 3 * 3) at 28 px
        return self.act(self.fc(h))  # (B, feat_dim)


@register
def convnet(image_shape: tuple[int, int, int], feat_dim: int = 128, activation: str = "relu") -> ConvNet:
    """MedMNIST lab: 3 x [Conv3x3-BN-ReLU-MaxPool] at 32/64/128 ch, flatten (1,152 at 28 px), Linear-ReLU."""
    return ConvNet(image_shape, feat_dim=feat_dim, activation=activation)


def strided_sides(n: int, stages: int = 3) -> list[int]:
    """Sides after each stride-2 Conv3x3 with padding 1: 28 -> 14 -> 7 -> 4; 96 -> 48 -> 24 -> 12."""
    sides = [n]
    for _ in range(stages):
        sides.append((sides[-1] + 1) // 2)
    return sides


class StridedConvNet(nn.Module):
    """x: (B, C, H, W) -> 3 x [Conv3x3 stride 2 - BN - ReLU] (28 -> 14 -> 7 -> 4) -> flatten -> Linear + ReLU."""

    def __init__(self, image_shape: tuple[int, int, int], widths: tuple[int, ...] = (32, 64, 128), feat_dim: int = 128):
        super().__init__()
        c, height, width = image_shape
        self.feat_dim = feat_dim
        self.blocks = nn.Sequential(*(nn.Sequential(nn.Conv2d(a, b, 3, stride=2, padding=1), nn.BatchNorm2d(b),
                                                    nn.ReLU(inplace=True))
                                      for a, b in zip((c, *widths), widths)))
        self.flatten = nn.Flatten()
        side = strided_sides(height, len(widths))[-1] * strided_sides(width, len(widths))[-1]
        self.fc = nn.Linear(widths[-1] * side, feat_dim)
        self.act = nn.ReLU(inplace=True)

    @property
    def BLOCKS(self) -> tuple[str, ...]:  # noqa: N802 - the attribute nets.blocks reads
        return (*(f"blocks.{i}" for i in range(len(self.blocks))), "act")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.fc(self.flatten(self.blocks(x))))  # (B, feat_dim)


@register
def strided_convnet(image_shape: tuple[int, int, int], feat_dim: int = 128) -> StridedConvNet:
    """MedMNIST lab's conv autoencoder encoder: 3 x [Conv3x3 stride 2-BN-ReLU] at 32/64/128 ch, Linear-ReLU."""
    return StridedConvNet(image_shape, feat_dim=feat_dim)
