"""Datasets: images as one uint8 tensor (N, C, H, W) with integer latents/labels (N, K)."""

from sslab.data.images import Images
from sslab.data import dsprites, splits

__all__ = ["Images", "dsprites", "splits"]
