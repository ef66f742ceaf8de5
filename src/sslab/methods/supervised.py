"""Supervised: the encoder and a linear head trained end to end on the target labels (cross-entropy)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sslab.augment import to_float
from sslab.methods import Method, TrainConfig, register
from sslab.nets import EncoderCore


@dataclass(frozen=True)
class SupervisedConfig(TrainConfig):
    epochs: int = 8
    batch_size: int = 128
    lr: float = 2e-3


@register
class Supervised(Method):
    Config = SupervisedConfig
    uses_labels = True

    def __init__(self, cfg: SupervisedConfig, image_shape: tuple[int, int, int], n_classes: int):
        super().__init__(cfg, image_shape, n_classes)
        self.encoder = EncoderCore(image_shape[0], image_shape[1])
        self.head = nn.Linear(self.encoder.feat_dim, n_classes)

    def loss(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        logits = self.head(self.encoder(to_float(x)))  # (B, n_classes)
        loss = F.cross_entropy(logits.float(), y)
        return loss, {"loss": loss.item()}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder.features(x)
