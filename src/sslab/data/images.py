"""The in-memory dataset every part of sslab passes around."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Images:
    """Images and their latent factors, all in memory.

    x: (N, C, H, W) uint8 pixels (dSprites: 0 or 1, C=1, 64x64).
    latents: (N, K) int64 class index of each latent factor.
    latent_names / latent_sizes: name and number of classes of each of the K factors.
    """

    x: torch.Tensor
    latents: torch.Tensor
    latent_names: tuple[str, ...]
    latent_sizes: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.x.dtype != torch.uint8 or self.x.ndim != 4:
            raise ValueError(f"x must be uint8 (N, C, H, W), got {self.x.dtype} {tuple(self.x.shape)}")
        if self.latents.shape != (len(self.x), len(self.latent_names)):
            raise ValueError(f"latents must be (N, {len(self.latent_names)}), got {tuple(self.latents.shape)}")

    def __len__(self) -> int:
        return len(self.x)

    def labels(self, name: str) -> torch.Tensor:
        """(N,) int64 class index of the latent factor `name`."""
        return self.latents[:, self.latent_names.index(name)]

    def n_classes(self, name: str) -> int:
        return self.latent_sizes[self.latent_names.index(name)]

    def subset(self, idx: torch.Tensor) -> "Images":
        return Images(self.x[idx], self.latents[idx], self.latent_names, self.latent_sizes)
