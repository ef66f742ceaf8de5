"""Supervised: the encoder and a linear head trained end to end on the target labels (cross-entropy)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sslab import nets
from sslab.views.ops import to_float
from sslab.methods import Method, register
from sslab.methods._net import NetConfig


@dataclass(frozen=True)
class SupervisedConfig(NetConfig):
    epochs: int = 8
    batch_size: int = 128
    lr: float = 2e-3


@register
class Supervised(Method):
    Config = SupervisedConfig
    uses_labels = True

    def __init__(self, cfg: SupervisedConfig, image_shape: tuple[int, int, int], n_classes: int):
        super().__init__(cfg, image_shape, n_classes)
        self.encoder = nets.build(cfg.encoder, image_shape)
        self.head = nn.Linear(self.encoder.feat_dim, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))  # (B, n_classes) logits

    def loss(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        loss = F.cross_entropy(self(to_float(x)).float(), y)
        return loss, {"loss": loss.item()}
