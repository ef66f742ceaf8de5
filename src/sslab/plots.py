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

from collections.abc import Callable  # noqa: E402


def to_float(x: torch.Tensor) -> torch.Tensor:
    return x.float() / 255


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


def augmented_pairs(x: torch.Tensor, recipe: Callable[[torch.Tensor, torch.Generator], torch.Tensor],
                    seed: int = 0) -> Figure:
    """Rows: original images, then two independent random views of each (what SimCLR compares).
    recipe(x uint8, generator) -> float views in [0, 1] (a sslab.views recipe)."""
    g = torch.Generator().manual_seed(seed)
    rows = [to_float(x), recipe(x, g), recipe(x, g)]
    return _image_rows(rows, ["image", "view 1", "view 2"])


def reconstructions(x: torch.Tensor, recon: dict[str, torch.Tensor]) -> Figure:
    """Test images above each autoencoder's reconstructions of them (float images in [0, 1])."""
    return _image_rows([to_float(x), *recon.values()], ["image", *recon])


def tiles(images: torch.Tensor, title: str, ncols: int = 12) -> Figure:
    """Images (N, C, H, W) of any range, each scaled to its own [min, max] (e.g. principal components or
    rows of a weight matrix as images), in a grid of ncols columns."""
    n = len(images)
    lo = images.flatten(1).min(1).values.view(-1, 1, 1, 1)
    hi = images.flatten(1).max(1).values.view(-1, 1, 1, 1)
    x = ((images - lo) / (hi - lo).clamp_min(1e-12)).float()
    rows = -(-n // ncols)
    fig, axes = plt.subplots(rows, ncols, figsize=(0.9 * ncols, 0.9 * rows + 0.4), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i < n:
            ax.imshow(x[i].permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([]), ax.set_yticks([]), ax.axis("off" if i >= n else "on")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def cumulative_variance(explained: torch.Tensor, total: float, title: str) -> Figure:
    """Cumulative share of the variance explained by the first k components, k = 1 .. K."""
    fig, ax = plt.subplots(figsize=(4.2, 3))
    share = (explained.double().cumsum(0) / total).numpy()
    ax.plot(np.arange(1, len(share) + 1), share)
    ax.set(xlabel="components", ylabel="share of the variance", ylim=(0, 1), title=title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def signed_matrix(values: torch.Tensor, title: str) -> Figure:
    """A square matrix in RdBu from -1 to 1 (e.g. W Wᵀ of a linear autoencoder against the identity)."""
    fig, ax = plt.subplots(figsize=(4, 3.4))
    im = ax.imshow(values.float().numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    fig.colorbar(im, ax=ax)
    ax.set(title=title)
    fig.tight_layout()
    return fig


def _image_rows(rows: list[torch.Tensor], labels: list[str]) -> Figure:
    n = len(rows[0])
    fig, axes = plt.subplots(len(rows), n, figsize=(1.3 * n, 1.4 * len(rows)), squeeze=False)
    for r, (imgs, label) in enumerate(zip(rows, labels)):
        for i in range(n):
            ax = axes[r, i]
            ax.imshow(imgs[i].clamp(0, 1).permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
        axes[r, 0].set_ylabel(label)
    fig.tight_layout()
    return fig


def rsm_grid(rsms: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], class_names: dict[str, list[str]]) -> Figure:
    """The tutorial's RSM grid: one row per encoder, one column per latent.

    rsms[encoder][latent] = (matrix (M, M), labels (N,)): the RSM of N test images sorted by that latent
    (block-averaged to M <= N cells) and the sorted labels; ticks mark the boundaries between groups.
    """
    encoders, latents = list(rsms), list(next(iter(rsms.values())))
    fig, axes = plt.subplots(len(encoders), len(latents), figsize=(2.3 * len(latents) + 0.8, 2.3 * len(encoders)),
                             squeeze=False)
    for r, enc in enumerate(encoders):
        for c, lat in enumerate(latents):
            m, labels = rsms[enc][lat]
            ax, n = axes[r, c], len(labels)
            im = ax.imshow(m, cmap="viridis", vmin=-1, vmax=1, interpolation="nearest", extent=(0, n, n, 0))
            values = np.unique(labels)
            bounds = np.flatnonzero(np.diff(labels)) + 1
            ax.set_xticks(bounds, minor=True), ax.set_yticks(bounds, minor=True)
            ax.tick_params(which="minor", length=3, color="k")
            if len(values) <= 6:  # few groups: name them and draw their borders
                for b in bounds:
                    ax.axhline(b, color="w", lw=0.5), ax.axvline(b, color="w", lw=0.5)
                centres = [np.flatnonzero(labels == v).mean() for v in values]
                names = [class_names[lat][v] for v in values]
                ax.set_xticks(centres, names, fontsize=6), ax.set_yticks(centres, names, fontsize=6)
            else:
                ax.set_xticks([]), ax.set_yticks([])
                ax.set_xlabel(f"{values.min()} .. {values.max()}", fontsize=6)
            if r == 0:
                ax.set_title(f"sorted by {lat}", fontsize=9)
        axes[r, 0].set_ylabel(enc, fontsize=9)
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.6, label="cosine similarity")
    return fig


def rsm_histograms(hists: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> Figure:
    """Distributions of RSM values (all pairs of test images), one outline per encoder."""
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    for name, (counts, edges) in hists.items():
        density = counts / counts.sum() / (edges[1] - edges[0])
        ax.stairs(density.numpy(), edges.numpy(), label=name, lw=1.5)
    # Log scale: raw pixels of non-overlapping sprites pile up at exactly 0 and would flatten the rest.
    ax.set(xlabel="cosine similarity of a pair of test images", ylabel="density (log scale)", xlim=(-1, 1), yscale="log")
    ax.legend(fontsize=8)
    return fig


def matrix(values: np.ndarray, rows: list[str], cols: list[str], title: str, cbar: str,
           vmin: float | None = None, vmax: float | None = None, fmt: str = ".2f", cmap: str = "viridis") -> Figure:
    """An annotated heat map (CKA between encoders, a factor profile)."""
    fig, ax = plt.subplots(figsize=(0.9 * len(cols) + 2.4, 0.45 * len(rows) + 1.2))
    _heat(ax, values, rows, cols, vmin, vmax, fmt, cmap, cbar)
    ax.set_title(title, fontsize=10)
    return fig


def _heat(ax, values, rows, cols, vmin, vmax, fmt, cmap, cbar=None) -> None:
    values = np.asarray(values, dtype=float)
    im = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(cols)), cols, fontsize=8, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    lo, hi = im.get_clim()
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, "n/a" if np.isnan(v) else format(v, fmt), ha="center", va="center", fontsize=7,
                color="w" if np.isnan(v) or v < lo + 0.6 * (hi - lo) else "k")
    if cbar:
        ax.figure.colorbar(im, ax=ax, label=cbar, shrink=0.9)


def factor_profile(encoders: list[str], factors: list[str], accuracy: np.ndarray, chance: list[float],
                   invariance: np.ndarray) -> Figure:
    """Encoders x factors: linear read-out accuracy of each factor (left) and invariance to it (right)."""
    fig, axes = plt.subplots(1, 2, figsize=(2 * (0.9 * len(factors) + 2.4), 0.45 * len(encoders) + 1.4))
    cols = [f"{f}\n(chance {c:.0%})" for f, c in zip(factors, chance)]
    _heat(axes[0], accuracy, encoders, cols, 0, 1, ".0%", "viridis", "test accuracy")
    axes[0].set_title("How well each factor can be read out", fontsize=10)
    _heat(axes[1], invariance, encoders, factors, 0, 1, ".2f", "magma", "invariance")
    axes[1].set_title("How little the features change with each factor", fontsize=10)
    fig.tight_layout()
    return fig


def curves(results: dict[str, dict[float, float]], xlabel: str, chance: float | None, starred: tuple[str, ...] = (),
           runs: dict[str, dict[float, list[float]]] | None = None) -> Figure:
    """Test accuracy against the number or fraction of labels (log x), one line per encoder; starred encoders
    were retrained end to end at each point. runs: each run's points beside the line (e.g. per seed)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for name, points in results.items():
        xs = sorted(points)
        line, = ax.plot(xs, [points[x] for x in xs], marker="o", ms=3,
                        label=name + ("*" if name in starred else ""), ls="--" if name in starred else "-")
        for x, pts in (runs or {}).get(name, {}).items():
            ax.scatter([x] * len(pts), pts, s=8, color=line.get_color(), alpha=0.5)
    if chance is not None:
        ax.axhline(chance, color="gray", lw=0.8, ls=":", label="chance")
    ax.set(xscale="log", xlabel=xlabel, ylabel="test accuracy", ylim=(0, 1.02))
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2)
    return fig


def runs(values: dict[str, list[float]], ylabel: str) -> Figure:
    """Per encoder, every run's value (dots) and their mean ± one standard deviation (bar)."""
    fig, ax = plt.subplots(figsize=(max(5, 0.75 * len(values) + 2), 3.6))
    for i, pts in enumerate(values.values()):
        mean, sd = np.mean(pts), np.std(pts, ddof=1) if len(pts) > 1 else 0.0
        ax.errorbar([i], [mean], yerr=[sd], fmt="_", color="k", capsize=6, markersize=18)
        ax.scatter(i + (np.arange(len(pts)) - (len(pts) - 1) / 2) * 0.08, pts, s=18, alpha=0.8, zorder=3)
    ax.set_xticks(range(len(values)), list(values), rotation=30, ha="right")
    ax.set(ylabel=ylabel, title=f"{ylabel}: every run (dots), mean ± sd (bars)")
    ax.grid(axis="y", alpha=0.3)
    return fig


def grouped_bars(results: dict[str, dict[str, float]], chance: float, ylabel: str,
                 colours: tuple[str, ...] = ("tab:blue", "tab:red", "tab:green")) -> Figure:
    """Per encoder, one bar per key of results[encoder] (e.g. control / biased), with the chance level."""
    names = list(results)
    keys = list(next(iter(results.values())))
    width = 0.76 / len(keys)
    fig, ax = plt.subplots(figsize=(1.1 * len(names) + 2, 3.2))
    pos = np.arange(len(names))
    for k, (key, colour) in enumerate(zip(keys, colours)):
        vals = [results[n][key] for n in names]
        bars = ax.bar(pos + (k - (len(keys) - 1) / 2) * width, vals, width, label=key, color=colour)
        ax.bar_label(bars, [f"{v:.0%}" for v in vals], fontsize=6)
    ax.axhline(chance, color="gray", lw=0.8, ls=":", label="chance")
    ax.set_xticks(pos, names, fontsize=8, rotation=20)
    ax.set(ylabel=ylabel, ylim=(0, 1.1))
    ax.legend(fontsize=7, loc="upper left")
    return fig


def bias_bars(results: dict[str, dict[str, float]], chance: float) -> Figure:
    """Per encoder: unbiased test accuracy after training on the biased set and on its size-matched control."""
    return grouped_bars({n: {"trained on control set": r["control"], "trained on biased set": r["biased"]}
                         for n, r in results.items()}, chance, "unbiased test accuracy")


def scatter_grid(coords: dict[str, np.ndarray], labels: np.ndarray, class_names: list[str], latent: str) -> Figure:
    """2-d embeddings (UMAP) side by side, points coloured by a latent."""
    n = len(coords)
    fig, axes = plt.subplots(1, n, figsize=(2.6 * n, 2.8), squeeze=False)
    many = len(class_names) > 10
    for ax, (name, xy) in zip(axes[0], coords.items()):
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=labels, s=2, cmap="viridis" if many else "tab10",
                        vmin=0, vmax=len(class_names) - 1 if many else 9)
        ax.set_title(name, fontsize=9), ax.set_xticks([]), ax.set_yticks([])
    if many:
        fig.colorbar(sc, ax=axes[0].tolist(), label=latent, shrink=0.8)
    else:
        handles = [plt.Line2D([], [], ls="", marker="o", color=plt.cm.tab10(i)) for i in range(len(class_names))]
        fig.legend(handles, class_names, title=latent, fontsize=7, loc="center right")
        fig.subplots_adjust(right=0.9)
    return fig


def confusions(matrices: dict[str, np.ndarray], class_names: list[str]) -> Figure:
    """One row-normalised confusion matrix per probe (rows: true class, columns: predicted)."""
    n, k = len(matrices), len(class_names)
    side = 2.3 + 0.12 * max(0, k - 6)  # room for the class names of bigger matrices
    fig, axes = plt.subplots(1, n, figsize=(side * n, side + 0.2), squeeze=False)
    # Classes by name (shortened), up to 20 of them; beyond that only their indices fit.
    names = [c if len(c) <= 9 else c[:8] + "." for c in class_names] if k <= 20 else [str(i) for i in range(k)]
    for ax, (name, m) in zip(axes[0], matrices.items()):
        m = np.asarray(m, dtype=float)
        _heat(ax, m / m.sum(1, keepdims=True).clip(1), names, names, 0, 1, ".2f" if k <= 6 else "", "Blues")
        if k > 6:
            ax.tick_params(labelsize=6)
        ax.set_title(name, fontsize=9), ax.set_xlabel("predicted", fontsize=7)
    axes[0, 0].set_ylabel("true", fontsize=7)
    fig.tight_layout()
    return fig


def gallery(x: torch.Tensor, captions: list[str], points: np.ndarray | None = None, ncols: int = 8) -> Figure:
    """Dataset images with a caption each (their latents); points (n, 2) marks each sprite's (x, y) position."""
    n = len(x)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.5 * ncols, 1.75 * nrows), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.set_xticks([]), ax.set_yticks([])
        if i >= n:
            ax.axis("off")
            continue
        ax.imshow(to_float(x[i]).permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray", vmin=0, vmax=1)
        if points is not None:
            ax.plot(*points[i], "r+", ms=6)
        ax.set_title(captions[i], fontsize=6)
    fig.tight_layout()
    return fig
