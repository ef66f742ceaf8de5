"""Batched augmentation on the training device: the whole batch is warped in one call.

Parameters are drawn with an explicit torch.Generator (reproducible); the warp is kornia's.
"""

from __future__ import annotations

from dataclasses import dataclass

import kornia
import torch


@dataclass(frozen=True)
class AffineRecipe:
    """Random affine views, as torchvision's RandomAffine(degrees, translate, scale) in the tutorial."""

    degrees: float = 90.0  # rotation drawn from [-degrees, degrees]
    translate: float = 0.2  # shift drawn from [-t, t] x image size, per axis
    scale: tuple[float, float] = (0.8, 1.2)  # isotropic zoom range
    mode: str = "nearest"  # resampling; nearest keeps binary images binary, as torchvision's default


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 images in 0..255 -> float in [0, 1]."""
    return x.float().div_(255)


def affine_views(x: torch.Tensor, recipe: AffineRecipe, generator: torch.Generator | None = None) -> torch.Tensor:
    """One random affine view of each image: (B, C, H, W) uint8 -> (B, C, H, W) float in [0, 1]."""
    b, _, h, w = x.shape
    dev = x.device

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(b, generator=generator, device=dev)

    angle = uniform(-recipe.degrees, recipe.degrees)
    shift = torch.stack([uniform(-recipe.translate, recipe.translate) * w,
                         uniform(-recipe.translate, recipe.translate) * h], dim=1)
    zoom = uniform(*recipe.scale)[:, None].expand(b, 2)
    centre = torch.tensor([(w - 1) / 2, (h - 1) / 2], device=dev).expand(b, 2)
    matrix = kornia.geometry.transform.get_affine_matrix2d(shift, centre, zoom, angle)[:, :2]  # (B, 2, 3)
    return kornia.geometry.transform.warp_affine(to_float(x), matrix, (h, w), mode=recipe.mode, align_corners=True)
