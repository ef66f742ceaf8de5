"""Variational autoencoder (Kingma & Welling 2014): Bernoulli decoder, KL to N(0, I) weighted by beta.

Any encoder gives h (B, feat_dim); two linear heads on h give the posterior mean mu and the
log-variances, and mu are the frozen features (as in the Neuromatch tutorial). Linear heads, not
the encoder's output itself: an encoder that ends in a ReLU (the lab's convnet) let the KL term push
every mu to exactly 0 on PneumoniaMNIST (posterior collapse: KL 0.01, every image the same features).
The decoder is the tutorial's, grown back to the input size (sslab.nets.decoders).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sslab import nets
from sslab.errors import SslabError
from sslab.views.ops import to_float
from sslab.losses import vae_loss
from sslab.methods.base import register
from sslab.methods._autoencoder import Autoencoder
from sslab.methods._net import NetConfig
from sslab.nets.decoders import DecoderCore


@dataclass(frozen=True)
class VAEConfig(NetConfig):
    epochs: int = 10
    batch_size: int = 128
    lr: float = 2e-3
    beta: float = 1.0  # weight of the KL term (beta-VAE, Higgins et al. 2017)
    latent_dim: int = 0  # width of z; 0: the encoder's feat_dim

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.latent_dim < 0:
            raise SslabError(f"latent_dim must be 0 (the encoder's width) or positive, got {self.latent_dim}")


@register
class VAE(Autoencoder):
    Config = VAEConfig

    def __init__(self, cfg: VAEConfig, image_shape: tuple[int, int, int], n_classes: int):
        super().__init__(cfg, image_shape, n_classes)
        self.encoder = nets.build(cfg.encoder, image_shape)
        d, k = self.encoder.feat_dim, cfg.latent_dim or self.encoder.feat_dim
        self.mu_head, self.logvar_head = nn.Linear(d, k), nn.Linear(d, k)
        self.decoder = DecoderCore(k, image_shape)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The deterministic pass: x -> (reconstruction logits from z = mu, mu, logvar)."""
        h = self.encoder(x)  # (B, feat_dim)
        mu = self.mu_head(h)  # (B, latent_dim)
        return self.decoder(mu), mu, self.logvar_head(h)

    def inputs(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        """The images in [0, 1] and the reparameterisation noise (B, latent_dim), drawn on the generator's
        device (it may differ from the batch's), then moved."""
        eps = torch.randn((len(x), self.mu_head.out_features), generator=generator, device=generator.device)
        return to_float(x), eps.to(x.device)

    def objective(self, inputs, generator=None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x, eps = inputs
        h = self.encoder(x)  # (B, feat_dim)
        mu, logvar = self.mu_head(h), self.logvar_head(h)  # (B, latent_dim) each
        z = mu + eps * torch.exp(0.5 * logvar.float())  # reparameterisation trick
        loss, rec, kl = vae_loss(self.decoder(z), x, mu, logvar, self.cfg.beta)
        return loss, {"loss": loss.detach(), "reconstruction": rec.detach(), "kl": kl.detach()}

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean mu (B, latent_dim): the features."""
        return self.mu_head(self.encoder(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)  # (B, C, H, W) Bernoulli logits

    def to_image(self, out: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(out)  # reconstruction probabilities
