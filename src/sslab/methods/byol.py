"""BYOL (Grill et al. 2020): an online network predicts a momentum target network's embedding of another view.

No negatives. Online: encoder, a 2-layer projector (Linear - BatchNorm - ReLU - Linear; the paper's is 4096 wide
to 256, here `hidden_dim` to `proj_dim`) and a predictor of the same shape. Target: the EMA of the online encoder
and projector, its momentum raised from `momentum` (0.99) to 1 on a cosine schedule, no gradient. The loss is the
paper's symmetric 2 - 2 cos(p1, z2') + 2 - 2 cos(p2, z1') (sslab.losses.negative_cosine), each a mean over the
global batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sslab.losses import negative_cosine
from sslab.methods._joint import mlp
from sslab.methods._momentum import MomentumConfig, MomentumJoint
from sslab.methods.base import register


@dataclass(frozen=True)
class BYOLConfig(MomentumConfig):
    proj_dim: int = 128


@register
class BYOL(MomentumJoint):
    family = "distillation"
    Config = BYOLConfig

    def __init__(self, cfg: BYOLConfig, image_shape: tuple[int, int, int], n_classes: int):
        super().__init__(cfg, image_shape, n_classes)
        self.predictor = mlp([self.embed_dim, cfg.hidden_dim, self.embed_dim])

    def make_projector(self, d: int) -> nn.Module:
        return mlp([d, self.cfg.hidden_dim, self.cfg.proj_dim])

    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.predictor(self(x)), self.keys(x)  # the online prediction, the target's projection

    def pair_loss(self, z, *more) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        (p1, p2), (t1, t2) = z, more[0]
        loss = 4 + 2 * (negative_cosine(p1, t2) + negative_cosine(p2, t1))
        return loss, {"loss": loss.detach()}
