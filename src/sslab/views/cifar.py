"""LightlySSL's CIFAR-10 benchmark views (SimCLRTransform(input_size=32, cj_strength=0.5, gaussian_blur=0.0)):
SimCLR's pipeline at 32 px without the blur, which at that size erases what is left of the image."""

from __future__ import annotations

from dataclasses import dataclass

from sslab.views.base import register
from sslab.views.lab import LabViews


@register
@dataclass(frozen=True)
class CifarViews(LabViews):
    """LightlySSL CIFAR-10: h-flip, resized crop (0.08-1), colour jitter (0.4, 0.4, 0.4, 0.1) p 0.8, grey 0.2, no blur."""

    scale: tuple[float, float] = (0.08, 1.0)
    vflip_p: float = 0.0
    brightness: float = 0.4  # cj_strength 0.5 of Lightly's (0.8, 0.8, 0.8, 0.2)
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1
    jitter_p: float = 0.8
    blur_p: float = 0.0  # gaussian_blur=0.0: no blur
