"""An untrained encoder: what the architecture alone gives.

No weight is trained; its BatchNorm statistics are estimated on the training images (in eval
mode an untrained net would otherwise normalise with mean 0, variance 1).
"""

from __future__ import annotations

import torch

from sslab import nets
from sslab.views.ops import to_float
from sslab.methods.base import Method, register
from sslab.methods._net import NetConfig


@register
class Random(Method):
    Config = NetConfig

    def __init__(self, cfg: NetConfig, image_shape: tuple[int, int, int], n_classes: int):
        super().__init__(cfg, image_shape, n_classes)
        self.encoder = nets.build(cfg.encoder, image_shape)

    @torch.no_grad()
    def prepare(self, x: torch.Tensor, generator: torch.Generator) -> None:
        for m in self.encoder.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the calibration batches
        self.encoder.train()
        # shuffled (files are often sorted by latent); drawn on the generator's device, which may be a GPU
        perm = torch.randperm(len(x), generator=generator, device=generator.device)[:5000].to(x.device)
        for i in range(0, len(perm), 1000):
            self.encoder(to_float(x[perm[i : i + 1000]]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)  # (B, feat_dim)
