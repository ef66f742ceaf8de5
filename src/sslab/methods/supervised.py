"""Supervised: the encoder and a linear head trained end to end on the target labels (cross-entropy).

No augmentation by default (the tutorial's and the blog's baselines); `augment` names a view recipe
drawn once per image and step (the UvA tutorial's baseline: `supervised`, mild crops and flips).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sslab import nets, views
from sslab.errors import SslabError
from sslab.views.ops import to_float
from sslab.methods.base import Method, register
from sslab.methods._net import NetConfig


@dataclass(frozen=True)
class SupervisedConfig(NetConfig):
    epochs: int = 8
    batch_size: int = 128
    lr: float = 2e-3
    augment: str = ""  # a view recipe applied to each training batch (`sslab views`); "": none

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.augment and self.augment not in views.REGISTRY:
            raise SslabError(f"augment {self.augment!r} is not a view recipe; recipes: {', '.join(views.REGISTRY)}")


@register
class Supervised(Method):
    family = "supervised"
    Config = SupervisedConfig
    uses_labels = True

    def __init__(self, cfg: SupervisedConfig, image_shape: tuple[int, int, int], n_classes: int):
        super().__init__(cfg, image_shape, n_classes)
        self.encoder = nets.build(cfg.encoder, image_shape)
        self.head = nn.Linear(self.encoder.feat_dim, n_classes)
        self.recipe = views.build(cfg.augment) if cfg.augment else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))  # (B, n_classes) logits

    def inputs(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        return (to_float(x) if self.recipe is None else self.recipe(x, generator)), y

    def objective(self, inputs, generator=None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        v, y = inputs
        loss = F.cross_entropy(self(v).float(), y)
        return loss, {"loss": loss.detach()}
