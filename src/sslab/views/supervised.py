"""The UvA tutorial's augmentation for its supervised ResNet-18 baseline: mild crops, flips, grey, blur."""

from __future__ import annotations

from dataclasses import dataclass

from sslab.views.base import register
from sslab.views.lab import LabViews


@register
@dataclass(frozen=True)
class SupervisedViews(LabViews):
    """UvA tutorial 13, supervised baseline: h-flip, resized crop (0.8-1), grey 0.2, blur 9x9; no colour jitter."""

    scale: tuple[float, float] = (0.8, 1.0)
    vflip_p: float = 0.0
    jitter_p: float = 0.0
    blur_kernel: int = 9
