"""Variational autoencoder (Kingma & Welling 2014): Bernoulli decoder, KL to N(0, I) weighted by beta.

The frozen features are the posterior means mu (84-d), as in the Neuromatch tutorial.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sslab.augment import to_float
from sslab.losses import vae_loss
from sslab.methods import Method, TrainConfig, register
from sslab.nets import DecoderCore, EncoderCore


@dataclass(frozen=True)
class VAEConfig(TrainConfig):
    epochs: int = 10
    batch_size: int = 128
    lr: float = 2e-3
    beta: float = 1.0  # weight of the KL term (beta-VAE, Higgins et al. 2017)


@register
class VAE(Method):
    Config = VAEConfig

    def __init__(self, cfg: VAEConfig, image_shape: tuple[int, int, int], n_classes: int):
        super().__init__(cfg, image_shape, n_classes)
        self.encoder = EncoderCore(image_shape[0], image_shape[1], vae=True)
        self.decoder = DecoderCore(image_shape[0], self.encoder.feat_dim)

    def loss(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        x = to_float(x)
        mu, logvar = self.encoder(x)  # (B, D) each
        eps = torch.randn(mu.shape, generator=generator, device=mu.device)
        z = mu + eps * torch.exp(0.5 * logvar.float())  # reparameterisation trick
        loss, rec, kl = vae_loss(self.decoder(z), x, mu, logvar, self.cfg.beta)
        return loss, {"loss": loss.item(), "reconstruction": rec.item(), "kl": kl.item()}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder.features(x)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) float -> reconstruction probabilities from the posterior mean (eval mode)."""
        return torch.sigmoid(self.decoder(self.encoder.features(x)).float())
