"""Decoders: features back to images. The VAE's is the Neuromatch tutorial's, generalised to any size."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sslab.nets.encoder_core import core_side, linear_block


class DecoderCore(nn.Module):
    """The tutorial's VAE decoder, a mirror of EncoderCore: z (B, latent_dim) -> logits (B, C, H, W).

    The mirror starts from EncoderCore's last feature map and grows it as EncoderCore shrank it:
    64: 13 -> 26 -> 30 -> 60 -> 64; 28: 4 -> 8 -> 12 -> 24 -> 28; 32: 5 -> 14 -> 32; 96: 21 -> 46 -> 96.
    It lands on the input size exactly when that is a multiple of 4; otherwise a bilinear
    interpolation finishes the way (29 px: 28 -> 29).
    """

    def __init__(self, latent_dim: int, image_shape: tuple[int, int, int] = (1, 64, 64)):
        super().__init__()
        c, height, width = image_shape
        self.image_size = (height, width)
        self.side = (max(1, core_side(height)), max(1, core_side(width)))
        self.linear = nn.Sequential(
            linear_block(latent_dim, 84), linear_block(84, 120),
            nn.Linear(120, 16 * self.side[0] * self.side[1]), nn.ReLU(inplace=True),
        )
        self.conv = nn.Sequential(
            nn.Upsample(scale_factor=2), nn.BatchNorm2d(16, affine=False), nn.ConvTranspose2d(16, 6, 5), nn.ReLU(inplace=True),
            nn.Upsample(scale_factor=2), nn.BatchNorm2d(6, affine=False), nn.ConvTranspose2d(6, c, 5),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # On the CPU, ConvTranspose2d is slower in bf16 than in fp32 (a whole VAE step at batch 128 here:
        # 41 vs 29 ms at 28 px, 189 vs 159 ms at 64 px), so the decoder leaves bf16 autocast there.
        with torch.autocast(z.device.type, enabled=torch.is_autocast_enabled(z.device.type) and z.device.type != "cpu"):
            logits = self.conv(self.linear(z.float()).view(-1, 16, *self.side))  # (B, C, 4s + 12, 4s + 12): 64 at s = 13
        if logits.shape[-2:] != self.image_size:
            logits = F.interpolate(logits, size=self.image_size, mode="bilinear", align_corners=False)
        return logits  # (B, C, H, W)


class ConvDecoder(nn.Module):
    """The lab's conv autoencoder decoder: z (B, latent_dim) -> Linear -> (128, s, s) -> per stage bilinear
    upsampling + Conv3x3 + BatchNorm + ReLU (128 -> 64 -> 32 channels), then upsampling to the input size
    and a Conv3x3 to its channels with a linear output. The sides retrace a strided encoder's
    (28: 4 -> 7 -> 14 -> 28; 96: 12 -> 24 -> 48 -> 96), so any input size is met exactly.
    """

    def __init__(self, latent_dim: int, image_shape: tuple[int, int, int], widths: tuple[int, ...] = (128, 64, 32)):
        super().__init__()
        from sslab.nets.convnet import strided_sides

        c, height, width = image_shape
        hs, ws = strided_sides(height, len(widths))[::-1], strided_sides(width, len(widths))[::-1]  # small to large
        self.start = (widths[0], hs[0], ws[0])
        self.linear = nn.Sequential(nn.Linear(latent_dim, widths[0] * hs[0] * ws[0]), nn.ReLU(inplace=True))
        stages = []
        for i, (a, b) in enumerate(zip(widths, (*widths[1:], c))):
            last = i == len(widths) - 1
            stages += [nn.Upsample(size=(hs[i + 1], ws[i + 1]), mode="bilinear", align_corners=False),
                       nn.Conv2d(a, b, 3, padding=1)]
            if not last:
                stages += [nn.BatchNorm2d(b), nn.ReLU(inplace=True)]
        self.conv = nn.Sequential(*stages)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.conv(self.linear(z).view(-1, *self.start))  # (B, C, H, W), linear output
