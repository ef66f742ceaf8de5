"""SimCLR (Chen et al. 2020): pull two augmented views of an image together, push other images away.

Views come from a recipe of the views registry (`views`: the data's own in a study), drawn on the
batch at once. As in the Neuromatch tutorial
the projection head is the identity by default (the NT-Xent loss acts on the encoder's features,
84-d for encoder_core); `proj_dim` > 0 adds the paper's 2-layer MLP head on the encoder's
feat_dim. `neg_pairs` = k keeps only k random negatives per anchor (the tutorial's ablation,
encoder name `simclr-<k>neg`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sslab import nets, views
from sslab.errors import SslabError
from sslab.losses import nt_xent
from sslab.methods import Method, register
from sslab.methods._net import NetConfig


@dataclass(frozen=True)
class SimCLRConfig(NetConfig):
    epochs: int = 40
    batch_size: int = 128  # small batches: more steps per epoch, which is what the CPU budget lacks
    lr: float = 4e-3
    temperature: float = 0.5  # softmax temperature of NT-Xent (the tutorial's; the dSprites study uses 0.1)
    neg_pairs: int | None = None  # None: all 2B-2 negatives; k: k random negatives per anchor
    proj_dim: int = 0  # 0: identity projection head (tutorial); else MLP feat_dim -> feat_dim -> proj_dim
    views: str = "simclr"  # the view recipe (`sslab views`); a study sets the data's own

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.views not in views.REGISTRY:
            raise SslabError(f"views {self.views!r} is unknown; recipes: {', '.join(views.REGISTRY)}")
        if self.proj_dim < 0:
            raise SslabError(f"proj_dim must be 0 (no head) or a positive width, got {self.proj_dim}")
        if self.temperature <= 0:
            raise SslabError(f"temperature must be positive, got {self.temperature}")
        if self.neg_pairs is not None and not 1 <= self.neg_pairs <= 2 * self.batch_size - 2:
            raise SslabError(f"neg_pairs must be in 1..{2 * self.batch_size - 2} (2 x batch_size - 2), got {self.neg_pairs}")


@register
class SimCLR(Method):
    Config = SimCLRConfig

    def __init__(self, cfg: SimCLRConfig, image_shape: tuple[int, int, int], n_classes: int):
        super().__init__(cfg, image_shape, n_classes)
        self.encoder = nets.build(cfg.encoder, image_shape)
        d = self.encoder.feat_dim
        self.projector = (nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, cfg.proj_dim))
                          if cfg.proj_dim else nn.Identity())
        self.recipe = views.build(cfg.views)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projector(self.encoder(x))  # (B, proj_dim or feat_dim)

    def views(self, x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Two independent random views of each image: uint8 (B, C, H, W) -> 2 x float (B, C, H, W)."""
        return self.recipe(x, generator), self.recipe(x, generator)

    def loss(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        v1, v2 = self.views(x, generator)
        z = self(torch.cat([v1, v2]))  # one pass: (2B, proj_dim)
        loss = nt_xent(z[: len(x)], z[len(x):], self.cfg.temperature, self.cfg.neg_pairs, generator)
        return loss, {"loss": loss.item()}
