"""Convolutional autoencoder (the MedMNIST lab): a strided conv encoder (or any registered encoder),
its features the code, and the lab's upsampling conv decoder back to the input size; mean squared error."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sslab import nets
from sslab.methods.base import register
from sslab.methods._autoencoder import AETraining, Autoencoder
from sslab.methods._net import NetConfig
from sslab.nets.decoders import ConvDecoder


@dataclass(frozen=True)
class ConvAEConfig(AETraining, NetConfig):  # the autoencoders' training defaults, NetConfig's encoder check
    encoder: str = "strided_convnet"


@register
class ConvAE(Autoencoder):
    Config = ConvAEConfig

    def __init__(self, cfg: ConvAEConfig, image_shape: tuple[int, int, int], n_classes: int):
        super().__init__(cfg, image_shape, n_classes)
        self.encoder = nets.build(cfg.encoder, image_shape)
        self.decoder = ConvDecoder(self.encoder.feat_dim, image_shape)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)  # (B, feat_dim)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)
