"""What every autoencoder shares (linear_ae, ae, conv_ae, vae): encode -> features, decode -> images.

A helper, not a method. An autoencoder defines `encode(x)` (B, C, H, W) -> (B, latent) and
`decode(z)` -> (B, C, H, W); the features are the code, the loss is the mean squared error of the
reconstruction (the lab's), and `reconstruct` draws the study's reconstruction figure.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sslab.errors import SslabError
from sslab.methods.base import Method, TrainConfig
from sslab.methods.base import frozen_features


@dataclass(frozen=True)
class AETraining(TrainConfig):
    """The lab's autoencoder training (AdamW, weight decay 1e-5, batch 256); conv_ae mixes it into NetConfig."""

    epochs: int = 10
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-5


@dataclass(frozen=True)
class AEConfig(AETraining):
    latent_dim: int = 128  # width of the code (the features)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.latent_dim < 1:
            raise SslabError(f"latent_dim must be positive, got {self.latent_dim}")


class Autoencoder(Method):
    family = "reconstruction"
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def to_image(self, out: torch.Tensor) -> torch.Tensor:
        """The decoder's output -> images in [0, 1] (MSE autoencoders: clipped; the VAE: a sigmoid)."""
        return out.clamp(0, 1)

    def objective(self, inputs, generator=None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = inputs[0]
        loss = F.mse_loss(self.decode(self.encode(x)).float(), x)
        return loss, {"loss": loss.detach()}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The code (B, latent), or the output of cfg.layer."""
        return frozen_features(self, x) if getattr(self.cfg, "layer", "") else self.encode(x)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [0, 1] -> its reconstruction in [0, 1] (eval mode)."""
        return self.to_image(self.decode(self.encode(x)).float())
