"""The university lab's SimCLR views for MedMNIST: the crop-flip-colour-blur pipeline simclr and multicrop reuse."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sslab.views import ops
from sslab.views.base import Recipe, check_between, check_kernel, check_range, register


@register
@dataclass(frozen=True)
class LabViews(Recipe):
    """MedMNIST lab: resized crop (0.5-1), h+v flips, colour jitter (0.4, 0.4, 0.2, 0.1), grey 0.2, blur 3x3."""

    scale: tuple[float, float] = (0.5, 1.0)  # crop area, as a fraction of the image (RandomResizedCrop)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)  # crop aspect ratio range, drawn log-uniform
    hflip_p: float = 0.5  # probability of a horizontal flip
    vflip_p: float = 0.5  # probability of a vertical flip (the lab's: pathology slides have no "up")
    brightness: float = 0.4  # ColorJitter strengths: factors in [1 - s, 1 + s] ...
    contrast: float = 0.4
    saturation: float = 0.2
    hue: float = 0.1  # ... and a hue shift in [-h, h] turns of the colour circle
    jitter_p: float = 1.0  # probability of the colour jitter (the lab applies it always)
    grayscale_p: float = 0.2  # probability of turning the view grey (RandomGrayscale)
    blur_kernel: int = 3  # Gaussian blur kernel side (odd)
    blur_sigma: tuple[float, float] = (0.1, 2.0)  # blur sigma range (torchvision's default)
    blur_p: float = 1.0  # probability of the blur (the lab's GaussianBlur(3) always applies)

    grey_skips = ("saturation", "hue", "grayscale")

    def __post_init__(self) -> None:
        check_range("scale", self.scale, 0.0, 1.0)
        check_range("ratio", self.ratio, 1e-3)  # drawn log-uniform: positive
        for key in ("brightness", "contrast", "saturation"):
            check_between(key, getattr(self, key), 0, 1)  # a factor 1 - s below 0 is meaningless
        check_between("hue", self.hue, 0, 0.5)
        for key in ("hflip_p", "vflip_p", "jitter_p", "grayscale_p", "blur_p"):
            check_between(key, getattr(self, key), 0, 1)
        check_kernel("blur_kernel", self.blur_kernel)
        check_range("blur_sigma", self.blur_sigma, 1e-3)  # a Gaussian needs a positive sigma

    def draw(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """uint8 (B, C, H, W) -> float (B, C, H, W) in [0, 1]: one view of each image."""
        return self.view(x, generator, self.scale, tuple(x.shape[-2:]), self.blur_p)

    def view(self, x: torch.Tensor, g: torch.Generator, scale: tuple[float, float], size: tuple[int, int],
             blur_p: float) -> torch.Tensor:
        """The pipeline with the crop scale, output size (H, W) and blur probability given: (B, C, *size) float.

        Crop and flips are one warp. Flipping before cropping (as the SimCLR tutorial) or after (as
        the lab) gives the same distribution: crop positions are uniform, so symmetric.
        """
        b, _, h, w = x.shape
        boxes = ops.crop_boxes(g, b, h, w, scale, self.ratio)  # (B, 4)
        hflip, vflip = ops.flip_signs(g, b, self.hflip_p), ops.flip_signs(g, b, self.vflip_p)
        v = ops.resized_crop(ops.to_float(x), boxes, size, hflip, vflip)  # (B, C, *size)
        v = ops.colour_jitter(v, g, (self.brightness, self.contrast, self.saturation, self.hue), self.jitter_p)
        v = ops.random_grayscale(v, g, self.grayscale_p)
        return ops.random_blur(v, g, self.blur_kernel, self.blur_sigma, blur_p)
