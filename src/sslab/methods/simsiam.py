"""SimSiam (Chen & He 2021): predict one view's embedding from the other's, the target's gradient stopped.

No negatives, no momentum encoder.

Encoder, a 3-layer projector ending in BatchNorm (the paper's), a 2-layer bottleneck predictor (proj_dim ->
proj_dim / 4 -> proj_dim), and the symmetric loss D(p1, z2) / 2 + D(p2, z1) / 2 with D the negative cosine
(sslab.losses.negative_cosine), the targets z detached.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sslab.losses import negative_cosine
from sslab.methods._joint import JointConfig, JointEmbedding, mlp
from sslab.methods.base import register


@dataclass(frozen=True)
class SimSiamConfig(JointConfig):
    lr: float = 1e-3


@register
class SimSiam(JointEmbedding):
    family = "distillation"
    Config = SimSiamConfig
    LAST_BN = True

    def __init__(self, cfg: SimSiamConfig, image_shape: tuple[int, int, int], n_classes: int):
        super().__init__(cfg, image_shape, n_classes)
        self.predictor = mlp([self.embed_dim, max(1, self.embed_dim // 4), self.embed_dim])

    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        z = self(x)
        return z, self.predictor(z)  # the predictor per rank, like the projector (its BatchNorm on the shard)

    def pair_loss(self, z, *more) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        (z1, z2), (p1, p2) = z, more[0]
        loss = negative_cosine(p1, z2) / 2 + negative_cosine(p2, z1) / 2
        return loss, {"loss": loss.detach()}
