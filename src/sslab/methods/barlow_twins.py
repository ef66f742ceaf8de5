"""Barlow Twins (Zbontar et al. 2021): make the cross-correlation of two views' embeddings the identity.

Encoder, a 3-layer projector (Linear - BatchNorm - ReLU twice, then Linear; the paper's is 8192 wide, here
`hidden_dim` / `proj_dim`), and sslab.losses.barlow_twins on the global batch: each dimension standardised over
it, on-diagonal correlations pulled to 1, off-diagonal ones to 0 with weight `lambd` (the paper's 5e-3).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sslab.losses import barlow_twins
from sslab.methods._joint import JointConfig, JointEmbedding
from sslab.methods.base import register, require


@dataclass(frozen=True)
class BarlowTwinsConfig(JointConfig):
    lambd: float = 5e-3  # the off-diagonal terms' weight

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self, non_negative=("lambd",))


@register
class BarlowTwins(JointEmbedding):
    family = "redundancy"
    Config = BarlowTwinsConfig

    def pair_loss(self, z, *more) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss = barlow_twins(*z, self.cfg.lambd)
        return loss, {"loss": loss.detach()}
