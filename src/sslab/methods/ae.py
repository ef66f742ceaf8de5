"""MLP autoencoder (the MedMNIST lab): [Linear - LayerNorm - LeakyReLU] at 256, 256, then Linear to the
latent without activation; a mirrored decoder with a linear output; mean squared error."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from sslab.methods.base import register
from sslab.methods._autoencoder import AEConfig, Autoencoder


def mlp(widths: list[int]) -> nn.Sequential:
    """Linear - LayerNorm - LeakyReLU between consecutive widths, a plain Linear for the last."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers += [nn.LayerNorm(b), nn.LeakyReLU()]
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class MLPAEConfig(AEConfig):
    hidden: tuple[int, ...] = (256, 256)  # encoder widths; the decoder mirrors them


@register
class AE(Autoencoder):
    Config = MLPAEConfig

    def __init__(self, cfg: MLPAEConfig, image_shape: tuple[int, int, int], n_classes: int):
        super().__init__(cfg, image_shape, n_classes)
        self.image_shape = image_shape
        widths = [math.prod(image_shape), *cfg.hidden, cfg.latent_dim]
        self.encoder = nn.Sequential(nn.Flatten(), mlp(widths))
        self.decoder = mlp(widths[::-1])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)  # (B, latent_dim)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(-1, *self.image_shape)
