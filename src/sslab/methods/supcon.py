"""SupCon (Khosla et al. 2020): SimCLR with positives from labels.

Every view of every image of the anchor's class in the batch is a positive (the anchor itself
excluded); anchors whose class has no other view in the batch are skipped. The views, networks and
projection head are SimCLR's; only the loss differs (sslab.losses.supcon), so it trains on the
labelled images only, like the supervised encoder. Temperature 0.07 is the paper's and the lab's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sslab.distributed import gather
from sslab.losses import supcon
from sslab.methods.base import register
from sslab.methods.simclr import ContrastiveConfig, SimCLR


@dataclass(frozen=True)
class SupConConfig(ContrastiveConfig):
    temperature: float = 0.07


@register
class SupCon(SimCLR):
    family = "supervised"
    Config = SupConConfig
    uses_labels = True

    def inputs(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        return *self.views(x, generator), y

    def objective(self, inputs, generator=None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        v1, v2, y = inputs
        z = self(torch.cat([v1, v2]))  # (2B, proj_dim or feat_dim)
        z1, z2, y = gather(z[: len(y)]), gather(z[len(y):]), gather(y)  # the global batch, with gradients
        loss = supcon(torch.cat([z1, z2]), torch.cat([y, y]), self.cfg.temperature)
        return loss, {"loss": loss.detach()}
