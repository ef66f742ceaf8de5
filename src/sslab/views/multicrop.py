"""Multi-crop views for DINO (Caron et al. 2021): 2 global and k local crops, the lab's colour pipeline."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sslab.views.base import check_between, check_range, register
from sslab.views.lab import LabViews


@register
@dataclass(frozen=True)
class MulticropViews(LabViews):
    """Lab's DINO views: 2 global crops (0.4-1, blurred) and 4 local crops (0.15-0.4, not blurred); returns a list."""

    scale: tuple[float, float] = (0.4, 1.0)  # global crops' area range
    n_global: int = 2  # global crops per image, at the input size (the teacher sees only these)
    n_local: int = 4  # local crops per image
    local_scale: tuple[float, float] = (0.15, 0.4)  # local crops' area range
    local_size: int | None = None  # local crops' side in pixels; None: the input size (the lab's 28-px crops)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_between("n_global", self.n_global, 1)
        check_between("n_local", self.n_local, 0)
        check_range("local_scale", self.local_scale, 0.0, 1.0)
        if self.local_size is not None:
            check_between("local_size", self.local_size, 1)

    def draw(self, x: torch.Tensor, generator: torch.Generator) -> list[torch.Tensor]:  # type: ignore[override]
        """uint8 (B, C, H, W) -> a LIST of n_global + n_local float views in [0, 1], globals first.

        Unlike the other recipes, which return one (B, C, H, W) tensor, this returns every crop of
        each image: n_global tensors (B, C, H, W), then n_local tensors (B, C, s, s) with
        s = local_size (default H, W). Crops of one size can be concatenated and encoded in one pass.
        """
        size = tuple(x.shape[-2:])
        local = size if self.local_size is None else (self.local_size, self.local_size)
        crops = [self.view(x, generator, self.scale, size, self.blur_p) for _ in range(self.n_global)]
        return crops + [self.view(x, generator, self.local_scale, local, 0.0) for _ in range(self.n_local)]  # local: no blur
