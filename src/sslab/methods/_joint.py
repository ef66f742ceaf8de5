"""What the two-view joint-embedding methods share (Barlow Twins, VICReg, SimSiam, BYOL, MoCo): an encoder, an MLP projector,
two random views of every image from a view recipe, and a loss on the two views' embeddings over the global batch.

A helper, not a method: it registers nothing. Each method sets its projector's shape and its loss.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from sslab import nets, views
from sslab.distributed import gather
from sslab.errors import SslabError
from sslab.methods._net import NetConfig
from sslab.methods.base import Method, require


@dataclass(frozen=True)
class JointConfig(NetConfig):
    epochs: int = 40
    batch_size: int = 128
    lr: float = 2e-3
    hidden_dim: int = 512  # the projector's hidden width
    proj_dim: int = 512  # its output width; 0: no projector, the loss reads the encoder's features
    views: str = "simclr"  # the view recipe (`sslab views`); a study sets the data's own

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.views not in views.REGISTRY:
            raise SslabError(f"views {self.views!r} is unknown; recipes: {', '.join(views.REGISTRY)}")
        require(self, positive=("hidden_dim",))
        if self.proj_dim < 0:
            raise SslabError(f"proj_dim must be 0 (no projector) or a positive width, got {self.proj_dim}")


def mlp(widths: list[int], last_bn: bool = False, bn: bool = True) -> nn.Sequential:
    """Linear - BatchNorm - ReLU between the widths, a plain Linear last (then BatchNorm too with last_bn: SimSiam's;
    bn=False: Linear - ReLU, MoCo v2's). A Linear followed by BatchNorm has no bias (BatchNorm removes it), as in
    Barlow Twins' and SimSiam's code."""
    layers: list[nn.Module] = []
    for k, (d_in, d_out) in enumerate(zip(widths, widths[1:])):
        last = k == len(widths) - 2
        layers.append(nn.Linear(d_in, d_out, bias=not bn or (last and not last_bn)))
        if not last:
            layers += [nn.BatchNorm1d(d_out), nn.ReLU(inplace=True)] if bn else [nn.ReLU(inplace=True)]
        elif last_bn:
            layers.append(nn.BatchNorm1d(d_out, affine=False))
    return nn.Sequential(*layers)


def two_views(recipe: Callable, x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Two independent views of each image of the uint8 batch x, drawn in one call of the recipe."""
    v = recipe(torch.cat([x, x]), generator)
    return v[: len(x)], v[len(x):]


class JointEmbedding(Method):
    """Encoder -> projector on two views; subclasses give `pair_loss` (and `embed` for more than the projector's
    output, e.g. SimSiam's predictor)."""

    LAST_BN = False  # a BatchNorm after the projector's last Linear

    def __init__(self, cfg: JointConfig, image_shape: tuple[int, int, int], n_classes: int):
        super().__init__(cfg, image_shape, n_classes)
        self.encoder = nets.build(cfg.encoder, image_shape)
        d = self.encoder.feat_dim
        self.projector = self.make_projector(d) if cfg.proj_dim else nn.Identity()
        self.embed_dim = cfg.proj_dim or d  # the width the loss reads
        self.recipe = views.build(cfg.views)

    def make_projector(self, d: int) -> nn.Module:
        """feat_dim -> proj_dim (default: 3 layers, Barlow Twins', VICReg's and SimSiam's shape)."""
        return mlp([d, self.cfg.hidden_dim, self.cfg.hidden_dim, self.cfg.proj_dim], self.LAST_BN)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projector(self.encoder(x))  # (B, proj_dim)

    def inputs(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        return two_views(self.recipe, x, generator)

    def objective(self, inputs, generator=None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        v1, v2 = inputs
        n = len(v1)
        outputs = self.embed(torch.cat([v1, v2]))  # one pass over both views: each (2B, width)
        # each output's two halves over the global batch, with gradients (computed on this rank's shard first)
        return self.pair_loss(*((gather(o[:n]), gather(o[n:])) for o in outputs))

    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """What the loss reads of a batch of views, computed per rank (default: the projector's output)."""
        return (self(x),)

    def pair_loss(self, z: tuple[torch.Tensor, torch.Tensor], *more: tuple[torch.Tensor, torch.Tensor]
                  ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss on the global batch: z = (view 1's, view 2's) embeddings; more: embed()'s other outputs."""
        raise NotImplementedError

    def variants(self) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
        return {"above the projector": self} if self.cfg.proj_dim else {}  # the embedding the loss reads, probed too
