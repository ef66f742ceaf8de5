"""Figures of images: rows of images and views, tiles of components, a captioned gallery."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from sslab.i18n import _
from sslab.plots.style import WIDE


def to_float(x: torch.Tensor) -> torch.Tensor:
    return x.float() / 255


def image_rows(rows: list[torch.Tensor], labels: list[str]) -> Figure:
    """Rows of float images in [0, 1] (e.g. test images, then two random views of each, or each autoencoder's
    reconstructions), each row named on its left."""
    n = len(rows[0])
    side = min(0.85, (WIDE - 1.1) / n)
    fig, axes = plt.subplots(len(rows), n, figsize=(side * n + 1.1, side * len(rows) + 0.2), squeeze=False)
    for r, (imgs, label) in enumerate(zip(rows, labels)):
        for i in range(n):
            ax = axes[r, i]
            ax.imshow(imgs[i].clamp(0, 1).permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
        axes[r, 0].set_ylabel(_(label), rotation=0, ha="right", va="center")
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    return fig


def tiles(images: torch.Tensor, title: str, ncols: int = 12) -> Figure:
    """Images (N, C, H, W) of any range, each scaled to its own [min, max] (e.g. principal components or
    rows of a weight matrix as images), in a grid of ncols columns."""
    n = len(images)
    lo = images.flatten(1).min(1).values.view(-1, 1, 1, 1)
    hi = images.flatten(1).max(1).values.view(-1, 1, 1, 1)
    x = ((images - lo) / (hi - lo).clamp_min(1e-12)).float()
    rows = -(-n // ncols)
    side = WIDE / ncols
    fig, axes = plt.subplots(rows, ncols, figsize=(WIDE, side * rows + 0.4), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i < n:
            ax.imshow(x[i].permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([]), ax.set_yticks([]), ax.axis("off" if i >= n else "on")
    fig.suptitle(_(title))
    fig.subplots_adjust(wspace=0.05, hspace=0.05)
    return fig


def gallery(x: torch.Tensor, captions: list[str], points: np.ndarray | None = None, ncols: int = 5) -> Figure:
    """Dataset images with a caption each (their latents); points (n, 2) marks each sprite's (x, y) position."""
    n = len(x)
    nrows = -(-n // ncols)
    side = WIDE / ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(WIDE, (side + 0.3) * nrows), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.set_xticks([]), ax.set_yticks([])
        if i >= n:
            ax.axis("off")
            continue
        ax.imshow(to_float(x[i]).permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray", vmin=0, vmax=1)
        if points is not None:
            ax.plot(*points[i], "r+", ms=7)
        ax.set_title(captions[i], fontsize=8)
    fig.tight_layout()
    return fig


def neighbours(queries: torch.Tensor, found: dict[str, torch.Tensor]) -> list[Figure]:
    """One panel per query image (uint8 (Q, C, H, W)): a row per encoder, the query then its nearest training
    images by that encoder's features (found[name]: uint8 (Q, k, C, H, W))."""
    panels = []
    for q in range(len(queries)):
        rows = [to_float(torch.cat([queries[q : q + 1], nn_[q]])) for nn_ in found.values()]
        fig = image_rows(rows, list(found))
        fig.suptitle(_("query (left) and its nearest training images"), fontsize=10)
        panels.append(fig)
    return panels
