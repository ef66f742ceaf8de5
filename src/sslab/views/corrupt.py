"""Generated corruptions of natural-image robustness benchmarks (in the spirit of CIFAR-10-C), at 3 severities
each, built from the view operations (sslab.views.ops): what an encoder ignores where no latent factors are known.

Not a view recipe (it registers nothing): `corrupt(x, kind, severity, generator)` maps a uint8 batch (B, C, H, W)
to the corrupted uint8 batch, every random draw from the explicit generator, so a seed gives the same images.
Severity 0 returns the images unchanged; 1..3 grow the corruption.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from sslab.errors import SslabError
from sslab.views import ops

SEVERITIES = (1, 2, 3)
# kind -> its strength at severities 1, 2, 3 (units in the comments)
LEVELS = {
    "noise": (0.04, 0.08, 0.16),  # standard deviation of additive Gaussian noise, in [0, 1] pixel units
    "blur": (0.5, 1.0, 2.0),  # Gaussian blur sigma, in pixels
    "contrast": (0.6, 0.4, 0.2),  # contrast factor: each image blended towards its mean grey
    "brightness": (1.3, 1.6, 2.0),  # brightness factor (pixels scaled, clipped at 1)
    "pixelate": (2, 3, 4),  # blocks of this many pixels a side share their mean
    "occlusion": (0.2, 0.3, 0.4),  # side of a random grey square, as a share of the image side
}
KINDS = tuple(LEVELS)


def corrupt(x: torch.Tensor, kind: str, severity: int, generator: torch.Generator) -> torch.Tensor:
    """uint8 (B, C, H, W) -> uint8 (B, C, H, W): the `kind` corruption at `severity` (0: x itself)."""
    if kind not in LEVELS:
        raise SslabError(f"unknown corruption {kind!r}; corruptions: {', '.join(KINDS)}")
    if severity == 0:
        return x
    if severity not in SEVERITIES:
        raise SslabError(f"severity must be 0 or one of {SEVERITIES}, got {severity}")
    level = LEVELS[kind][severity - 1]
    v = ops.to_float(x)
    b, _c, h, w = v.shape
    if kind == "noise":
        v = v + level * torch.randn(v.shape, generator=generator, device=v.device)
    elif kind == "blur":
        kernel = 2 * math.ceil(2 * level) + 1  # +-2 sigma
        v = ops.gaussian_blur(v, kernel, torch.full((b,), float(level), device=v.device))
    elif kind == "contrast":
        v = ops.contrast(v, torch.full((b,), float(level), device=v.device))
    elif kind == "brightness":
        v = ops.brightness(v, torch.full((b,), float(level), device=v.device))
    elif kind == "pixelate":
        small = F.avg_pool2d(v, level, ceil_mode=True)
        v = F.interpolate(small, scale_factor=level, mode="nearest")[..., :h, :w]
    else:  # occlusion: a square of mean grey (0.5) at a random place in each image
        side = max(1, round(level * min(h, w)))
        top = (torch.rand(b, generator=generator, device=v.device) * (h - side + 1)).long()
        left = (torch.rand(b, generator=generator, device=v.device) * (w - side + 1)).long()
        rows = torch.arange(h, device=v.device)[None, :, None]
        cols = torch.arange(w, device=v.device)[None, None, :]
        inside = ((rows >= top[:, None, None]) & (rows < (top + side)[:, None, None])
                  & (cols >= left[:, None, None]) & (cols < (left + side)[:, None, None]))  # (B, H, W)
        v = torch.where(inside[:, None], torch.full_like(v, 0.5), v)
    return (v.clamp(0, 1) * 255).round().to(torch.uint8)
