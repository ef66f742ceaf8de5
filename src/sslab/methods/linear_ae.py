"""Linear autoencoder with tied weights (the MedMNIST lab): z = W x, x' = W^T z, mean squared error.

Trained to its optimum it spans the same subspace as PCA's first k components, and W W^T
approaches a projection (the lab's point); `weight` is W, (latent_dim, pixels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from sslab.methods.base import register
from sslab.methods._autoencoder import AEConfig, Autoencoder


@dataclass(frozen=True)
class LinearAEConfig(AEConfig):
    lr: float = 1e-4  # the lab's


@register
class LinearAE(Autoencoder):
    Config = LinearAEConfig

    def __init__(self, cfg: LinearAEConfig, image_shape: tuple[int, int, int], n_classes: int):
        super().__init__(cfg, image_shape, n_classes)
        self.image_shape = image_shape
        pixels = math.prod(image_shape)
        self.weight = nn.Parameter(nn.init.kaiming_uniform_(torch.empty(cfg.latent_dim, pixels), a=math.sqrt(5)))

    def figures(self) -> dict[str, tuple[Any, str]]:
        from sslab import plots
        from sslab.i18n import N_

        w = self.weight.detach().float().cpu()
        return {
            "weights": (plots.later(plots.tiles, w[:132].view(-1, *self.image_shape), N_("rows of W")),
                        N_("Rows of the linear autoencoder's W as images (each scaled to its own range): "
                        "compare PCA's components.")),
            "wwt": (plots.later(plots.signed_matrix, w @ w.T, "W Wᵀ"),
                    N_("W Wᵀ of the linear autoencoder: the identity when its rows are orthonormal, "
                    "as PCA's components are.")),
        }

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.weight.T  # (B, latent_dim); no bias

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return (z @ self.weight).view(-1, *self.image_shape)  # the tied decoder W^T z
