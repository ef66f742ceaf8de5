"""PCA: the projections of the flattened images on their first k principal components.

Fitted once on (at most 20,000 of) the training images in `prepare` by a randomised SVD (Halko et
al. 2011, as scikit-learn: a Gaussian range finder with 10 extra columns and 7 power iterations,
drawn from the study's generator), so a 3x96x96 image's 27,648 pixels never need a pixel-by-pixel covariance.
Nothing is trained by gradient. As an autoencoder of the family (sslab.methods._autoencoder) it
decodes its projections back to images: the lab's point that a linear autoencoder approaches the
same subspace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from sslab.errors import SslabError
from sslab.methods.base import TrainConfig, register
from sslab.methods._autoencoder import Autoencoder
from sslab.views.ops import to_float


@dataclass(frozen=True)
class PCAConfig(TrainConfig):
    k: int = 128  # number of components (the lab's); at most min(images, pixels)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.k < 1:
            raise SslabError(f"k must be a positive number of components, got {self.k}")


def randomized_pca(a: torch.Tensor, k: int, generator: torch.Generator, oversample: int = 10,
                   n_iter: int = 7) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """a (N, D) -> (mean (D,), components (k, D) with orthonormal rows, variances (k,)), in float64."""
    a = a.double()
    mean = a.mean(0)
    a = a - mean
    q = min(k + oversample, *a.shape)
    omega = torch.randn(a.shape[1], q, generator=generator, device=generator.device, dtype=torch.float64)
    basis = torch.linalg.qr(a @ omega.to(a.device)).Q  # (N, q): the range of a, roughly
    for _ in range(n_iter):  # power iterations sharpen it towards the leading singular vectors
        basis = torch.linalg.qr(a @ torch.linalg.qr(a.T @ basis).Q).Q
    _, s, vh = torch.linalg.svd(basis.T @ a, full_matrices=False)
    return mean, vh[:k], s[:k] ** 2 / max(1, len(a) - 1)


@register
class PCA(Autoencoder):
    Config = PCAConfig

    def __init__(self, cfg: PCAConfig, image_shape: tuple[int, int, int], n_classes: int):
        super().__init__(cfg, image_shape, n_classes)
        pixels = image_shape[0] * image_shape[1] * image_shape[2]
        if cfg.k > pixels:
            raise SslabError(f"pca.k = {cfg.k} is more than the {pixels} pixels of an image")
        self.image_shape = image_shape
        self.register_buffer("mean", torch.zeros(pixels))
        self.register_buffer("components", torch.zeros(cfg.k, pixels))  # rows: principal axes
        self.register_buffer("explained_variance", torch.zeros(cfg.k))
        self.register_buffer("total_variance", torch.zeros(()))

    @torch.no_grad()
    def prepare(self, x: torch.Tensor, generator: torch.Generator) -> None:
        if len(x) < self.cfg.k:
            raise SslabError(f"pca.k = {self.cfg.k} components need at least as many training images, got {len(x)}")
        a = torch.cat([to_float(x[i : i + 2000]).flatten(1) for i in range(0, len(x), 2000)])
        mean, comps, var = randomized_pca(a, self.cfg.k, generator)
        self.mean.copy_(mean)
        self.components.copy_(comps)
        self.explained_variance.copy_(var)
        self.total_variance.copy_((a.double() - mean).pow(2).sum() / max(1, len(a) - 1))

    def figures(self) -> dict[str, tuple[Any, str]]:
        from sslab import plots
        from sslab.i18n import N_

        k = self.cfg.k
        return {
            "components": (plots.later(plots.tiles, self.components[:132].view(-1, *self.image_shape),
                                       N_("principal components")),
                           N_("The first {n} principal components as images (each scaled to its own range).")
                           .format(n=min(k, 132))),
            "variance": (plots.later(plots.cumulative_variance, self.explained_variance, float(self.total_variance),
                                     "PCA"),
                         N_("Cumulative share of the training images' variance explained by the first k of {k} "
                            "components.").format(k=k)),
        }

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):  # a projection, not a network: keep fp32
            return (x.flatten(1).float() - self.mean) @ self.components.T  # (B, k)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Projections -> images: the mean plus the k components weighted by them."""
        with torch.autocast(z.device.type, enabled=False):
            return (z.float() @ self.components + self.mean).view(-1, *self.image_shape)
