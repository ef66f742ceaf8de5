"""The UvA SimCLR tutorial's views (STL-10, 96 px): the lab's pipeline with the tutorial's numbers."""

from __future__ import annotations

from dataclasses import dataclass

from sslab.views.base import register
from sslab.views.lab import LabViews


@register
@dataclass(frozen=True)
class SimclrViews(LabViews):
    """UvA tutorial 13: h-flip, resized crop (0.08-1), colour jitter (0.5, 0.5, 0.5, 0.1) p 0.8, grey 0.2, blur 9x9."""

    scale: tuple[float, float] = (0.08, 1.0)  # the SimCLR paper's crop range: strong crops are the key augmentation
    vflip_p: float = 0.0  # natural images have an "up"
    brightness: float = 0.5
    contrast: float = 0.5
    saturation: float = 0.5
    hue: float = 0.1
    jitter_p: float = 0.8
    blur_kernel: int = 9  # about a tenth of the 96-px image, as in the SimCLR paper
