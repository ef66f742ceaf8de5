"""VICReg (Bardes et al. 2022): invariance between two views, variance held up, covariance pushed down.

The variance of every embedding dimension is held up and their covariances pushed down, so that nothing
collapses without negatives.

Encoder, a 3-layer expander (Linear - BatchNorm - ReLU twice, then Linear), and sslab.losses.vicreg on the
global batch with the paper's weights 25 (invariance), 25 (variance), 1 (covariance).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sslab.losses import vicreg
from sslab.methods._joint import JointConfig, JointEmbedding
from sslab.methods.base import register, require


@dataclass(frozen=True)
class VICRegConfig(JointConfig):
    sim_weight: float = 25.0
    var_weight: float = 25.0
    cov_weight: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self, non_negative=("sim_weight", "var_weight", "cov_weight"))


@register
class VICReg(JointEmbedding):
    family = "redundancy"
    Config = VICRegConfig

    def pair_loss(self, z, *more) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        cfg = self.cfg
        loss, terms = vicreg(*z, cfg.sim_weight, cfg.var_weight, cfg.cov_weight)
        return loss, {"loss": loss.detach(), **terms}
