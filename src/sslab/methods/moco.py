"""MoCo v2 (He et al. 2020; Chen et al. 2020): queries from the online encoder, keys from its momentum copy,
contrasted against a queue of past keys.

Online: encoder and a 2-layer projector without BatchNorm (Linear - ReLU - Linear, v2's, to `proj_dim` = 128).
Key encoder: their EMA (momentum 0.99 raised to 1 on a cosine schedule; "constant" keeps it, e.g. v2's 0.999),
no gradient, run in the online network's mode. The loss is InfoNCE at temperature 0.2
(sslab.losses.info_nce), symmetric: (L(q1, k2) + L(q2, k1)) / 2, each over the global batch. After the step the
global batch's keys of both views go to the front of the queue (`queue_size` keys, 4,096 by default), the
oldest falling off. `queue_size = 0` is MoCo v3's form: the other keys of the global batch are the negatives;
`predictor = True` adds v3's 2-layer predictor after the projector.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sslab.losses import info_nce
from sslab.methods._joint import mlp
from sslab.methods._momentum import MomentumConfig, MomentumJoint
from sslab.methods.base import register, require


@dataclass(frozen=True)
class MoCoConfig(MomentumConfig):
    proj_dim: int = 128
    temperature: float = 0.2
    queue_size: int = 4096  # past keys as negatives; 0: the global batch's other keys (v3)
    predictor: bool = False  # v3's predictor after the projector

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self, positive=("temperature",), non_negative=("queue_size",))


@register
class MoCo(MomentumJoint):
    family = "contrastive"
    Config = MoCoConfig
    TARGET = "momentum encoder"

    def __init__(self, cfg: MoCoConfig, image_shape: tuple[int, int, int], n_classes: int):
        super().__init__(cfg, image_shape, n_classes)
        self.predictor = mlp([self.embed_dim, cfg.hidden_dim, self.embed_dim]) if cfg.predictor else nn.Identity()
        self.register_buffer("queue", F.normalize(torch.randn(cfg.queue_size, self.embed_dim), dim=1))
        self._keys: torch.Tensor | None = None

    def make_projector(self, d: int) -> nn.Module:
        return mlp([d, self.cfg.hidden_dim, self.cfg.proj_dim], bn=False)

    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.predictor(self(x)), self.keys(x)  # queries, keys

    def pair_loss(self, z, *more) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        (q1, q2), (k1, k2) = z, more[0]
        queue = self.queue if self.cfg.queue_size else None
        loss = (info_nce(q1, k2, queue, self.cfg.temperature) + info_nce(q2, k1, queue, self.cfg.temperature)) / 2
        self._keys = torch.cat([k1, k2])  # the global batch's keys, queued after the step
        return loss, {"loss": loss.detach()}

    @torch.no_grad()
    def after_step(self, progress: float) -> None:
        super().after_step(progress)
        if self.cfg.queue_size and self._keys is not None:
            new = F.normalize(self._keys.float(), dim=1)
            self.queue.copy_(torch.cat([new, self.queue])[: self.cfg.queue_size])  # newest first
        self._keys = None
