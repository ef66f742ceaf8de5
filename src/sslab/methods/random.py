"""An untrained encoder: what the architecture alone gives.

No weight is trained; its BatchNorm statistics are estimated on the training images (in eval
mode an untrained net would otherwise normalise with mean 0, variance 1).
"""

from __future__ import annotations

import torch

from sslab.augment import to_float
from sslab.methods import Method, TrainConfig, register
from sslab.nets import EncoderCore


@register
class Random(Method):
    def __init__(self, cfg: TrainConfig, image_shape: tuple[int, int, int], n_classes: int):
        super().__init__(cfg, image_shape, n_classes)
        self.encoder = EncoderCore(image_shape[0], image_shape[1])

    @torch.no_grad()
    def prepare(self, x: torch.Tensor, generator: torch.Generator) -> None:
        for m in self.encoder.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the calibration batches
        self.encoder.train()
        perm = torch.randperm(len(x), generator=generator)[:5000]  # shuffled: files are often sorted by latent
        for i in range(0, len(perm), 1000):
            self.encoder(to_float(x[perm[i : i + 1000]]))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder.features(x)
