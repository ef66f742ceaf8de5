"""SimCLR (Chen et al. 2020): pull two augmented views of an image together, push other images away.

Views are the dataset's affine recipe, drawn on the batch at once. As in the Neuromatch tutorial
the projection head is the identity by default (the NT-Xent loss acts on the 84-d features);
`proj_dim` > 0 adds the paper's 2-layer MLP head. `neg_pairs` = k keeps only k random negatives
per anchor (the tutorial's ablation, encoder name `simclr-<k>neg`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sslab.augment import AffineRecipe, affine_views
from sslab.errors import SslabError
from sslab.losses import nt_xent
from sslab.methods import Method, TrainConfig, register
from sslab.nets import EncoderCore


@dataclass(frozen=True)
class SimCLRConfig(TrainConfig):
    epochs: int = 40
    batch_size: int = 128  # small batches: more steps per epoch, which is what the CPU budget lacks
    lr: float = 4e-3
    temperature: float = 0.5  # softmax temperature of NT-Xent (the tutorial's; the dSprites study uses 0.1)
    neg_pairs: int | None = None  # None: all 2B-2 negatives; k: k random negatives per anchor
    proj_dim: int = 0  # 0: identity projection head (tutorial); else MLP 84 -> 84 -> proj_dim
    views: AffineRecipe = AffineRecipe()

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.temperature <= 0:
            raise SslabError(f"temperature must be positive, got {self.temperature}")
        if self.neg_pairs is not None and not 1 <= self.neg_pairs <= 2 * self.batch_size - 2:
            raise SslabError(f"neg_pairs must be in 1..{2 * self.batch_size - 2} (2 x batch_size - 2), got {self.neg_pairs}")


@register
class SimCLR(Method):
    Config = SimCLRConfig

    def __init__(self, cfg: SimCLRConfig, image_shape: tuple[int, int, int], n_classes: int):
        super().__init__(cfg, image_shape, n_classes)
        self.encoder = EncoderCore(image_shape[0], image_shape[1])
        d = self.encoder.feat_dim
        self.projector = (nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, cfg.proj_dim))
                          if cfg.proj_dim else nn.Identity())

    def views(self, x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Two independent random views of each image: uint8 (B, C, H, W) -> 2 x float (B, C, H, W)."""
        return affine_views(x, self.cfg.views, generator), affine_views(x, self.cfg.views, generator)

    def loss(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        v1, v2 = self.views(x, generator)
        z = self.projector(self.encoder(torch.cat([v1, v2])))  # one pass: (2B, proj_dim)
        loss = nt_xent(z[: len(x)], z[len(x):], self.cfg.temperature, self.cfg.neg_pairs, generator)
        return loss, {"loss": loss.item()}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder.features(x)
