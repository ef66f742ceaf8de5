"""SwAV (Caron et al. 2020): predict one crop's cluster assignment (its code) from another crop.

Encoder, a 2-layer projector (Linear - BatchNorm - ReLU - Linear, to `proj_dim`) whose output is L2-normalised,
and `n_prototypes` prototypes (a Linear without bias whose rows are re-normalised before every step). Each crop's
scores are its cosine similarities to the prototypes; the codes of the 2 global crops come from Sinkhorn-Knopp
(3 iterations, epsilon 0.05) over the global batch (gathered from every rank), and sslab.losses.swav_loss
predicts them from every other crop at temperature 0.1. Crops: the `multicrop` recipe (2 global crops and
`n_local` local ones), encoded in one pass per crop size; with `n_local = 0`, two views of the data's recipe
(`views`) instead, as the two-view methods take them. The prototypes are frozen for the first
`freeze_prototypes` epochs (zero gradients), as in the official code. `queue_size` > 0 keeps that many past
global-crop embeddings of each global crop, which join the Sinkhorn batch once the queue is full (the official
code's queue for small batches).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sslab import nets, views
from sslab.distributed import gather
from sslab.errors import SslabError
from sslab.losses import swav_loss
from sslab.methods._joint import JointConfig, mlp, two_views
from sslab.methods._multicrop import by_size
from sslab.methods.base import Method, register, require


@dataclass(frozen=True)
class SwAVConfig(JointConfig):
    proj_dim: int = 128  # 0: no projector, the encoder's features on the sphere
    n_prototypes: int = 256
    temperature: float = 0.1
    epsilon: float = 0.05  # Sinkhorn's entropic regularisation
    sinkhorn_iterations: int = 3
    freeze_prototypes: float = 1.0  # epochs with the prototypes frozen
    queue_size: int = 0  # past embeddings per global crop joining the Sinkhorn batch; 0: none
    n_local: int = 2  # local crops per image (2 global crops always); 0: two views of `views` instead
    crops: str = "multicrop"  # the multi-crop view recipe (when n_local > 0; else two views of `views`)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self, positive=("n_prototypes", "temperature", "epsilon", "sinkhorn_iterations"),
                non_negative=("freeze_prototypes", "queue_size", "n_local"))
        if self.crops not in views.REGISTRY or not hasattr(views.REGISTRY[self.crops], "n_local"):
            raise SslabError(f"crops must be a multi-crop view recipe (multicrop), got {self.crops!r}")


@register
class SwAV(Method):
    family = "clustering"
    Config = SwAVConfig

    def __init__(self, cfg: SwAVConfig, image_shape: tuple[int, int, int], n_classes: int):
        super().__init__(cfg, image_shape, n_classes)
        self.encoder = nets.build(cfg.encoder, image_shape)
        d = cfg.proj_dim or self.encoder.feat_dim
        self.projector = mlp([self.encoder.feat_dim, cfg.hidden_dim, d]) if cfg.proj_dim else nn.Identity()
        self.prototypes = nn.Linear(d, cfg.n_prototypes, bias=False)
        self.register_buffer("queue", torch.zeros(2, cfg.queue_size, d))
        self.recipe = views.build(cfg.crops, n_global=2, n_local=cfg.n_local) if cfg.n_local else views.build(cfg.views)
        self.progress = 0.0  # the share of training done, from after_step
        self._queued: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.projector(self.encoder(x)), dim=-1)  # (B, proj_dim) on the unit sphere

    def inputs(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        if not self.cfg.n_local:
            return two_views(self.recipe, x, generator)
        return tuple(self.recipe(x, generator))  # 2 global, then n_local local crops

    def objective(self, inputs, generator=None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        cfg = self.cfg
        with torch.no_grad():
            self.prototypes.weight.copy_(F.normalize(self.prototypes.weight, dim=1))
        w = self.prototypes.weight
        if self.progress * cfg.epochs < cfg.freeze_prototypes:
            w = w.detach() + 0 * w  # frozen: a zero gradient (still used, as DistributedDataParallel expects)
        z = by_size(self, inputs)  # (V, B, P)
        scores = gather((z @ w.T).transpose(0, 1)).transpose(0, 1)  # (V, global B, K), gradients kept
        full = cfg.queue_size and bool(self.queue[:, -1].abs().sum() > 0)
        queued = self.queue @ w.detach().T if full else None
        loss = swav_loss(scores, 2, cfg.temperature, cfg.epsilon, cfg.sinkhorn_iterations, queued)
        if cfg.queue_size:
            self._queued = gather(z[:2].detach().transpose(0, 1)).transpose(0, 1)  # (2, global B, P)
        return loss, {"loss": loss.detach()}

    @torch.no_grad()
    def after_step(self, progress: float) -> None:
        self.progress = progress
        if self._queued is not None:
            self.queue.copy_(torch.cat([self._queued.float(), self.queue], dim=1)[:, : self.cfg.queue_size])
            self._queued = None

    def variants(self) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
        return {"above the projector": self} if self.cfg.proj_dim else {}
