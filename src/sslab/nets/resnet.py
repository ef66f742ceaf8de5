"""ResNets (He et al. 2016) in torchvision's layout, so a torchvision state dict maps 1:1 (minus `fc`).

The ImageNet stem (7x7 stride 2 + 3x3 max-pool: /4) suits 64 px and more; below, the CIFAR stem
(3x3 stride 1, no max-pool) keeps enough resolution for the four stages (32 -> 32 -> 16 -> 8 -> 4).
"""

from __future__ import annotations

import torch
from torch import nn

from sslab.errors import SslabError
from sslab.nets.base import register

STEMS = ("auto", "imagenet", "cifar")
WIDTHS = (64, 128, 256, 512)


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual connection; `downsample` (conv1x1 + BN) matches the shapes when
    the block strides or widens, as torchvision's."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """x: (B, C, H, W) -> stem -> layer1..layer4 (64, 128, 256, 512 ch) -> global average pool -> h: (B, 512)."""

    def __init__(self, layers: tuple[int, ...], image_shape: tuple[int, int, int], stem: str = "auto",
                 zero_init_residual: bool = False):
        super().__init__()
        if stem not in STEMS:
            raise SslabError(f"resnet stem must be one of {', '.join(STEMS)}, got {stem!r}")
        c, height, width = image_shape
        if stem == "auto":
            stem = "imagenet" if min(height, width) >= 64 else "cifar"
        self.stem = stem
        imagenet = stem == "imagenet"
        self.conv1 = (nn.Conv2d(c, 64, 7, 2, 3, bias=False) if imagenet  # 96 -> 48
                      else nn.Conv2d(c, 64, 3, 1, 1, bias=False))  # 32 -> 32
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        # Identity has no parameters: the CIFAR stem keeps torchvision's names (conv1 is 3x3, not 7x7)
        self.maxpool = nn.MaxPool2d(3, 2, 1) if imagenet else nn.Identity()  # 48 -> 24
        in_planes = 64
        for i, (planes, n_blocks) in enumerate(zip(WIDTHS, layers)):
            blocks = [BasicBlock(in_planes if j == 0 else planes, planes, 2 if i > 0 and j == 0 else 1)
                      for j in range(n_blocks)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            in_planes = planes
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.feat_dim = WIDTHS[-1]
        _init_like_torchvision(self, zero_init_residual)

    BLOCKS = ("maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool")  # the stem, each stage, the features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (B, 64, H/4, W/4) ImageNet stem, (B, 64, H, W) CIFAR
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (B, 512, H/32, W/32) or (B, 512, H/8, W/8)
        return self.avgpool(x).flatten(1)  # (B, 512)


def _init_like_torchvision(net: nn.Module, zero_init_residual: bool) -> None:
    """torchvision's ResNet initialisation: Kaiming-normal (fan_out, relu) convs, BatchNorm weight 1 bias 0;
    optionally the last BN of each block at 0 so every block starts as the identity (Goyal et al. 2017)."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    if zero_init_residual:
        for m in net.modules():
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)


@register
def resnet18(image_shape: tuple[int, int, int], stem: str = "auto", zero_init_residual: bool = False) -> ResNet:
    """ResNet-18, torchvision layout: BasicBlocks [2, 2, 2, 2], 512-d; ImageNet stem from 64 px, else CIFAR."""
    return ResNet((2, 2, 2, 2), image_shape, stem, zero_init_residual)
