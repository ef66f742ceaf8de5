"""Crops and horizontal flips only: the usual augmentation of a supervised network on natural images."""

from __future__ import annotations

from dataclasses import dataclass

from sslab.views.base import register
from sslab.views.lab import LabViews


@register
@dataclass(frozen=True)
class CropFlipViews(LabViews):
    """Supervised baseline: resized crop (0.5-1 of the area) and h-flip; no colour, grey or blur."""

    scale: tuple[float, float] = (0.5, 1.0)
    vflip_p: float = 0.0
    jitter_p: float = 0.0
    grayscale_p: float = 0.0
    blur_p: float = 0.0
