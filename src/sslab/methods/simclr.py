"""SimCLR (Chen et al. 2020): pull two augmented views of an image together, push other images away.

Views come from a recipe of the views registry (`views`: the data's own in a study), drawn on the
batch at once. As in the Neuromatch tutorial the projection head is the identity by default (the
NT-Xent loss acts on the encoder's features, 84-d for encoder_core); `proj_dim` > 0 adds a head of
that output width, the paper's 2-layer MLP by default (`head`: one of HEADS); the L2
normalisation the lab's heads end with is the loss's own. `neg_pairs` = k keeps only k random
negatives per anchor (the tutorial's ablation, encoder name `simclr-<k>neg`). Each step also logs
the UvA tutorial's ranking metrics (top-1, top-5 and mean position of the positive).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from sslab import nets, views
from sslab.distributed import gather
from sslab.errors import SslabError
from sslab.losses import nt_xent, ranking
from sslab.methods.base import Method, register
from sslab.methods._net import NetConfig


HEADS = {  # projection heads: feat_dim d -> proj_dim p
    "mlp": lambda d, p: nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, p)),  # the paper's, the UvA tutorial's
    "mlp_bn": lambda d, p: nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, p),
                                         nn.BatchNorm1d(p, affine=False)),  # the MedMNIST lab's SimCLR head
    "linear_bn": lambda d, p: nn.Sequential(nn.Linear(d, p), nn.ReLU(),
                                            nn.BatchNorm1d(p, affine=False)),  # the MedMNIST lab's SupCon head
}


@dataclass(frozen=True)
class ContrastiveConfig(NetConfig):
    """What SimCLR and SupCon share: two views per image, a projection head, a softmax temperature."""

    epochs: int = 40
    batch_size: int = 128  # small batches: more steps per epoch, which is what the CPU budget lacks
    lr: float = 4e-3
    temperature: float = 0.5  # softmax temperature of the loss (the tutorial's; the dSprites study uses 0.1)
    proj_dim: int = 0  # 0: identity projection head (tutorial); else a `head` with this output width
    head: str = "mlp"  # the head's shape when proj_dim > 0: one of HEADS
    views: str = "simclr"  # the view recipe (`sslab views`); a study sets the data's own

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.views not in views.REGISTRY:
            raise SslabError(f"views {self.views!r} is unknown; recipes: {', '.join(views.REGISTRY)}")
        if self.proj_dim < 0:
            raise SslabError(f"proj_dim must be 0 (no head) or a positive width, got {self.proj_dim}")
        if self.temperature <= 0:
            raise SslabError(f"temperature must be positive, got {self.temperature}")
        if self.head not in HEADS:
            raise SslabError(f"head must be one of {', '.join(HEADS)}, got {self.head!r}")


@dataclass(frozen=True)
class SimCLRConfig(ContrastiveConfig):
    neg_pairs: int | None = None  # None: all 2B-2 negatives; k: k random negatives per anchor

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.neg_pairs is not None and not 1 <= self.neg_pairs <= 2 * self.batch_size - 2:
            raise SslabError(f"neg_pairs must be in 1..{2 * self.batch_size - 2} (2 x batch_size - 2), got {self.neg_pairs}")


@register
class SimCLR(Method):
    family = "contrastive"
    Config = SimCLRConfig

    def __init__(self, cfg: ContrastiveConfig, image_shape: tuple[int, int, int], n_classes: int):
        super().__init__(cfg, image_shape, n_classes)
        self.encoder = nets.build(cfg.encoder, image_shape)
        d = self.encoder.feat_dim
        self.projector = HEADS[cfg.head](d, cfg.proj_dim) if cfg.proj_dim else nn.Identity()
        self.recipe = views.build(cfg.views)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projector(self.encoder(x))  # (B, proj_dim or feat_dim)

    def variants(self) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
        """With a projection head, its output is probed too: the head's effect on the features."""
        return {"above the head": self} if self.cfg.proj_dim else {}

    def views(self, x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Two independent random views of each image: uint8 (B, C, H, W) -> 2 x float (B, C, H, W)."""
        v = self.recipe(torch.cat([x, x]), generator)  # one call: every image its own parameters anyway
        return v[: len(x)], v[len(x):]

    def inputs(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        return self.views(x, generator)

    def objective(self, inputs, generator=None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        v1, v2 = inputs
        z = self(torch.cat([v1, v2]))  # one pass: (2B, proj_dim)
        z1, z2 = gather(z[: len(v1)]), gather(z[len(v1):])  # the global batch's, with gradients
        loss = nt_xent(z1, z2, self.cfg.temperature, self.cfg.neg_pairs, generator)
        return loss, {"loss": loss.detach(), **ranking(z1, z2)}  # the UvA tutorial's metrics
