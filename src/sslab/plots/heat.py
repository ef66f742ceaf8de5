"""Heat maps: RSMs, annotated matrices (CKA, the factor profile), confusion matrices."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from sslab.i18n import _
from sslab.plots.style import WIDE


def rsm_grid(rsms: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], class_names: dict[str, list[str]]) -> Figure:
    """The tutorial's RSM grid: one row per encoder, one column per sorting key (a latent, or the class).

    rsms[encoder][key] = (matrix (M, M), labels (N,)): the RSM of N test images sorted by that key
    (block-averaged to M <= N cells) and the sorted labels (level indices). Thin lines and ticks mark the
    boundaries between groups; the bottom row names a few groups by their value (class_names[key][level]).
    One colour bar, shared, beside the grid.
    """
    encoders, keys = list(rsms), list(next(iter(rsms.values())))
    side = min(1.4, (WIDE + 1.0 - 1.5) / len(keys))  # a little wider than the others: it has the most to show
    fig = plt.figure(figsize=(side * len(keys) + 1.5, side * len(encoders) + 0.9))
    grid = fig.add_gridspec(len(encoders), len(keys) + 1, width_ratios=[1] * len(keys) + [0.07],
                            wspace=0.1, hspace=0.1, left=1.0 / (side * len(keys) + 1.5))
    for r, enc in enumerate(encoders):
        for c, key in enumerate(keys):
            m, labels = rsms[enc][key]
            m, labels = np.asarray(m, dtype=np.float32), np.asarray(labels)  # m may be stored as float16
            ax, n = fig.add_subplot(grid[r, c]), len(labels)
            im = ax.imshow(m, cmap="viridis", vmin=-1, vmax=1, interpolation="antialiased", extent=(0, n, n, 0))
            values = np.unique(labels)
            bounds = np.flatnonzero(np.diff(labels)) + 1
            if len(values) <= 12:  # few groups: draw their borders
                for b in bounds:
                    ax.axhline(b, color="w", lw=0.4, alpha=0.7), ax.axvline(b, color="w", lw=0.4, alpha=0.7)
            ax.set_xticks(bounds, minor=True), ax.set_yticks(bounds if len(values) <= 12 else [], minor=True)
            ax.tick_params(which="minor", length=2)
            ax.set_yticks([])
            if r == len(encoders) - 1:  # name the groups by value: all of a few, else the first and the last
                shown = values if len(values) <= 3 else values[[0, -1]]
                names = [str(class_names[key][v]) for v in shown]
                ax.set_xticks([np.flatnonzero(labels == v).mean() for v in shown], names)
                if max(len(s) for s in names) > 6:
                    ax.tick_params(axis="x", labelrotation=40)
                elif len(values) > 3:  # the extremes, kept inside the panel
                    for tick, ha in zip(ax.get_xticklabels(), ("left", "right")):
                        tick.set_ha(ha)
            else:
                ax.set_xticks([])
            if r == 0:
                ax.set_title(_(str(key)), fontsize=9)
            if c == 0:
                ax.set_ylabel(enc, rotation=0, ha="right", va="center")
    fig.colorbar(im, cax=fig.add_subplot(grid[:, -1]), label=_("cosine similarity"))
    fig.supxlabel(_("test images sorted by each key (columns); one row per encoder"), fontsize=9)
    return fig


def matrix(values: np.ndarray, rows: list[str], cols: list[str], title: str, cbar: str,
           vmin: float | None = None, vmax: float | None = None, fmt: str = ".2f", cmap: str = "viridis") -> Figure:
    """An annotated heat map (CKA between encoders, a factor profile)."""
    fig, ax = plt.subplots(figsize=(min(WIDE, 0.7 * len(cols) + 2.6), 0.42 * len(rows) + 1.4))
    _heat(ax, values, rows, cols, vmin, vmax, fmt, cmap, _(cbar))
    ax.set_title(_(title))
    fig.tight_layout()
    return fig


def matrices(panels: list[dict]) -> list[Figure]:
    """Several heat maps, one panel each (each dict: `matrix`'s arguments), e.g. CKA between the layers of two
    encoders, one pair per panel."""
    return [matrix(**p) for p in panels]


def _heat(ax, values, rows, cols, vmin, vmax, fmt, cmap, cbar=None) -> None:
    values = np.asarray(values, dtype=float)
    im = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=30 if max(map(len, cols), default=0) > 4 else 0, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    if fmt:
        for (i, j), v in np.ndenumerate(values):
            r, g, b, _a = im.cmap(im.norm(v)) if not np.isnan(v) else (0, 0, 0, 1)
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5  # the cell's luminance decides the text's colour
            ax.text(j, i, "n/a" if np.isnan(v) else format(v, fmt), ha="center", va="center", fontsize=8,
                    color="w" if dark else "k")
    if cbar:
        ax.figure.colorbar(im, ax=ax, label=cbar, shrink=0.9)


def signed_matrix(values: torch.Tensor, title: str) -> Figure:
    """A square matrix in RdBu from -1 to 1 (e.g. W Wᵀ of a linear autoencoder against the identity)."""
    fig, ax = plt.subplots(figsize=(4.2, 3.5))
    im = ax.imshow(values.float().numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    fig.colorbar(im, ax=ax)
    ax.set(title=_(title))
    fig.tight_layout()
    return fig


def factor_profile(encoders: list[str], factors: list[str], accuracy: np.ndarray, chance: list[float],
                   invariance: np.ndarray) -> list[Figure]:
    """Encoders x factors: linear read-out accuracy of each factor, and invariance to it (two panels)."""
    size = (min(WIDE, 0.75 * len(factors) + 2.6), 0.42 * len(encoders) + 1.6)
    left, ax = plt.subplots(figsize=size)
    cols = [f"{f}\n({_('chance')} {c:.0%})" for f, c in zip(factors, chance)]
    _heat(ax, accuracy, encoders, cols, 0, 1, ".0%", "viridis", _("test accuracy"))
    ax.set_title(_("How well each factor can be read out"))
    left.tight_layout()
    right, ax = plt.subplots(figsize=size)
    _heat(ax, invariance, encoders, factors, 0, 1, ".2f", "magma", _("invariance"))
    ax.set_title(_("How little the features change with each factor"))
    right.tight_layout()
    return [left, right]


def confusions(matrices: dict[str, np.ndarray], class_names: list[str]) -> list[Figure]:
    """One row-normalised confusion matrix per probe (rows: true class, columns: predicted), one panel each."""
    k = len(class_names)
    side = 2.9 + 0.13 * max(0, k - 6)  # room for the class names of bigger matrices
    # Classes by name (shortened), up to 20 of them; beyond that only their indices fit.
    names = [c if len(c) <= 9 else c[:8] + "." for c in class_names] if k <= 20 else [str(i) for i in range(k)]
    panels = []
    for name, m in matrices.items():
        fig, ax = plt.subplots(figsize=(side + (0.6 if k > 6 else 0), side))
        m = np.asarray(m, dtype=float)
        _heat(ax, m / m.sum(1, keepdims=True).clip(1), names, names, 0, 1, ".2f" if k <= 6 else "", "Blues",
              _("share of the row") if k > 6 else None)
        ax.set_title(name), ax.set_xlabel(_("predicted")), ax.set_ylabel(_("true"))
        fig.tight_layout()
        panels.append(fig)
    return panels
