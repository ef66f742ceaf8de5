"""dSprites views: the Neuromatch tutorial's RandomAffine, nearest resampling so sprites stay binary."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sslab.views import ops
from sslab.views.base import Recipe, check_between, check_choice, check_range, register


@register
@dataclass(frozen=True)
class DspritesViews(Recipe):
    """Neuromatch dSprites tutorial: random affine (90 deg, shift 0.2, zoom 0.8-1.2), nearest: sprites stay binary."""

    degrees: float = 90.0  # rotation drawn from [-degrees, degrees]
    translate: float = 0.2  # shift drawn from [-t, t] x image size, per axis
    scale: tuple[float, float] = (0.8, 1.2)  # isotropic zoom range
    mode: str = "nearest"  # resampling; nearest keeps binary images binary, as torchvision's default

    def __post_init__(self) -> None:
        check_between("degrees", self.degrees, 0, 180)
        check_between("translate", self.translate, 0, 1)
        check_range("scale", self.scale)
        check_choice("mode", self.mode, ("nearest", "bilinear"))

    def draw(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """uint8 (B, C, H, W) -> float (B, C, H, W) in {0, 1} for binary input (nearest), zeros outside."""
        b, _, h, w = x.shape
        matrices = ops.affine_matrices(generator, b, h, w, self.degrees, self.translate, self.scale)  # (B, 3, 3)
        return ops.warp_affine(ops.to_float(x), matrices, self.mode)
