"""Variational autoencoder (Kingma & Welling 2014): Bernoulli decoder, KL to N(0, I) weighted by beta.

Any encoder gives h (B, feat_dim); h is the posterior mean mu and the frozen features, as in the
Neuromatch tutorial where mu is the encoder's output; a linear head on h gives the log-variances.
The decoder is the tutorial's, grown back to the input size (sslab.nets.decoders).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sslab import nets
from sslab.views.ops import to_float
from sslab.losses import vae_loss
from sslab.methods import Method, register
from sslab.methods._net import NetConfig, frozen_features
from sslab.nets.decoders import DecoderCore


@dataclass(frozen=True)
class VAEConfig(NetConfig):
    epochs: int = 10
    batch_size: int = 128
    lr: float = 2e-3
    beta: float = 1.0  # weight of the KL term (beta-VAE, Higgins et al. 2017)


@register
class VAE(Method):
    Config = VAEConfig

    def __init__(self, cfg: VAEConfig, image_shape: tuple[int, int, int], n_classes: int):
        super().__init__(cfg, image_shape, n_classes)
        self.encoder = nets.build(cfg.encoder, image_shape)
        d = self.encoder.feat_dim
        self.logvar_head = nn.Linear(d, d)
        self.decoder = DecoderCore(d, image_shape)
        nets.find_layer(self, cfg.layer)  # an unknown layer fails now, not after training

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The deterministic pass: x -> (reconstruction logits from z = mu, mu, logvar)."""
        mu = self.encoder(x)  # (B, D)
        return self.decoder(mu), mu, self.logvar_head(mu)

    def loss(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        x = to_float(x)
        mu = self.encoder(x)  # (B, D)
        logvar = self.logvar_head(mu)  # (B, D)
        # drawn on the generator's device (it may differ from the batch's), then moved
        eps = torch.randn(mu.shape, generator=generator, device=generator.device).to(mu.device)
        z = mu + eps * torch.exp(0.5 * logvar.float())  # reparameterisation trick
        loss, rec, kl = vae_loss(self.decoder(z), x, mu, logvar, self.cfg.beta)
        return loss, {"loss": loss.item(), "reconstruction": rec.item(), "kl": kl.item()}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return frozen_features(self, x)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) float -> reconstruction probabilities from the posterior mean (eval mode)."""
        return torch.sigmoid(self.decoder(self.encoder(x)).float())
