"""Figures from arrays (matplotlib, Agg backend: no screen needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from sslab.augment import AffineRecipe, affine_views, to_float  # noqa: E402


def save(fig: Figure, path: Path) -> None:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def loss_curves(histories: dict[str, list[dict[str, float]]]) -> Figure:
    """One panel per trained encoder: its training loss per epoch."""
    fig, axes = plt.subplots(1, len(histories), figsize=(3.2 * len(histories), 2.8), squeeze=False)
    for ax, (name, hist) in zip(axes[0], histories.items()):
        ax.plot(range(1, len(hist) + 1), [r["loss"] for r in hist], marker="o", ms=3)
        ax.set(title=name, xlabel="epoch", ylabel="training loss")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def augmented_pairs(x: torch.Tensor, recipe: AffineRecipe, seed: int = 0) -> Figure:
    """Rows: original images, then two independent augmented views of each (what SimCLR compares)."""
    g = torch.Generator().manual_seed(seed)
    rows = [to_float(x), affine_views(x, recipe, g), affine_views(x, recipe, g)]
    return _image_rows(rows, ["image", "view 1", "view 2"])


def reconstructions(x: torch.Tensor, recon: torch.Tensor) -> Figure:
    """Test images above their VAE reconstructions (probabilities from the posterior mean)."""
    return _image_rows([to_float(x), recon], ["image", "reconstruction"])


def _image_rows(rows: list[torch.Tensor], labels: list[str]) -> Figure:
    n = len(rows[0])
    fig, axes = plt.subplots(len(rows), n, figsize=(1.3 * n, 1.4 * len(rows)), squeeze=False)
    for r, (imgs, label) in enumerate(zip(rows, labels)):
        for i in range(n):
            ax = axes[r, i]
            ax.imshow(imgs[i].permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
        axes[r, 0].set_ylabel(label)
    fig.tight_layout()
    return fig


def rsm_grid(rsms: dict[str, np.ndarray], labels: np.ndarray, class_names: list[str], latent: str) -> Figure:
    """RSMs side by side, rows and columns sorted by `labels`, with ticks at class boundaries."""
    n = len(rsms)
    fig, axes = plt.subplots(1, n, figsize=(2.9 * n + 0.6, 3.1), squeeze=False)
    bounds = np.flatnonzero(np.diff(labels)) + 0.5
    centres = [np.flatnonzero(labels == c).mean() for c in np.unique(labels)]
    for ax, (name, m) in zip(axes[0], rsms.items()):
        im = ax.imshow(m, cmap="viridis", vmin=-1, vmax=1, interpolation="nearest")
        for b in bounds:
            ax.axhline(b, color="w", lw=0.6), ax.axvline(b, color="w", lw=0.6)
        ax.set_xticks(centres, [class_names[c] for c in np.unique(labels)], fontsize=7)
        ax.set_yticks(centres, [class_names[c] for c in np.unique(labels)], fontsize=7, rotation=90, va="center")
        ax.set_title(name, fontsize=9)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="cosine similarity")
    fig.suptitle(f"Representational similarity of test images, sorted by {latent}", fontsize=10)
    return fig
