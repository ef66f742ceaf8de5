"""Charts: curves, bars, distributions and 2-d maps."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullLocator

from sslab.i18n import N_, _
from sslab.plots.style import PANEL, WIDE


def loss_curves(histories: dict[str, list[dict[str, float]]]) -> list[Figure]:
    """One panel per trained encoder: its training loss per epoch."""
    panels = []
    for name, hist in histories.items():
        fig, ax = plt.subplots(figsize=(PANEL, 2.5))
        ax.plot(range(1, len(hist) + 1), [r["loss"] for r in hist], marker="o", ms=3)
        ax.set(title=name, xlabel=_("epoch"), ylabel=_("training loss"))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        fig.tight_layout()
        panels.append(fig)
    return panels


def lines(curves: dict[str, list[tuple[float, float]]], ylabel: str, chance: float | None = None,
          ylim: tuple[float, float] | None = (0, 1.02), xlabel: str = N_("epoch"),
          xticks: list[str] | None = None) -> Figure:
    """A score against x, one line per encoder, on one figure: e.g. the online kNN accuracy against the training
    epoch (epoch 0: the untrained network), or a probe's against depth; chance as a dotted line. xticks: names
    of the integer x positions 1, 2, ... (e.g. layers)."""
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for name, points in curves.items():
        ax.plot([e for e, _v in points], [v for _e, v in points], marker="o", ms=3, label=name)
    if chance is not None:
        ax.axhline(chance, color="gray", lw=0.8, ls=":", label=_("chance"))
    ax.set(xlabel=_(xlabel), ylabel=_(ylabel), ylim=ylim)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if xticks:
        ax.set_xticks(range(1, len(xticks) + 1), xticks, rotation=30, ha="right")
    ax.grid(alpha=0.3)
    ax.legend(ncol=2)
    fig.tight_layout()
    return fig


SPECTRUM_FLOOR = 1e-4


def spectra(values: dict[str, torch.Tensor]) -> Figure:
    """Each encoder's singular values (largest first), divided by its largest, on a log scale: one line each;
    values below FLOOR (dead dimensions: a ReLU that never fires) drawn at the floor."""
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for name, sv in values.items():
        sv = torch.as_tensor(sv).float().clamp_min(SPECTRUM_FLOOR)
        ax.plot(np.arange(1, len(sv) + 1), sv.numpy(), label=name)
    ax.set(xlabel=_("component (by singular value)"), ylabel=_("singular value / the largest"), yscale="log",
           xscale="log", ylim=(SPECTRUM_FLOOR * 0.8, 1.5))
    ax.grid(alpha=0.3)
    ax.legend(ncol=2)
    fig.tight_layout()
    return fig


def cumulative_variance(explained: torch.Tensor, total: float, title: str) -> Figure:
    """Cumulative share of the variance explained by the first k components, k = 1 .. K."""
    fig, ax = plt.subplots(figsize=(4.4, 3))
    share = (explained.double().cumsum(0) / total).numpy()
    ax.plot(np.arange(1, len(share) + 1), share)
    ax.set(xlabel=_("components"), ylabel=_("share of the variance"), ylim=(0, 1), title=_(title))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def rsm_histograms(hists: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> Figure:
    """Distributions of RSM values (all pairs of test images), one outline per encoder."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for name, (counts, edges) in hists.items():
        counts, edges = torch.as_tensor(counts), torch.as_tensor(edges)
        density = counts / counts.sum() / (edges[1] - edges[0])
        ax.stairs(density.numpy(), edges.numpy(), label=name, lw=1.5)
    # Log scale: raw pixels of non-overlapping sprites pile up at exactly 0 and would flatten the rest.
    ax.set(xlabel=_("cosine similarity of a pair of test images"), ylabel=_("density (log scale)"), xlim=(-1, 1),
           yscale="log")
    ax.legend()
    fig.tight_layout()
    return fig


def curves(results: dict[str, dict[float, float]], xlabel: str, chance: float | None, starred: tuple[str, ...] = (),
           runs: dict[str, dict[float, list[float]]] | None = None) -> Figure:
    """Test accuracy against the number or fraction of labels (log x), one line per encoder; starred encoders
    were retrained end to end at each point. runs: each run's points beside the line (e.g. per seed)."""
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for name, points in results.items():
        xs = sorted(points)
        line, = ax.plot(xs, [points[x] for x in xs], marker="o", ms=3,
                        label=name + ("*" if name in starred else ""), ls="--" if name in starred else "-")
        for x, pts in (runs or {}).get(name, {}).items():
            ax.scatter([x] * len(pts), pts, s=8, color=line.get_color(), alpha=0.5)
    if chance is not None:
        ax.axhline(chance, color="gray", lw=0.8, ls=":", label=_("chance"))
    ax.set(xscale="log", xlabel=_(xlabel), ylabel=_("test accuracy"), ylim=(0, 1.02))
    xs = sorted({x for points in results.values() for x in points})
    ax.set_xticks(xs, [f"{x:g}" for x in xs])  # the measured points by value, not powers of ten
    ax.xaxis.set_minor_locator(NullLocator())
    ax.grid(alpha=0.3)
    ax.legend(ncol=2)
    fig.tight_layout()
    return fig


def runs(values: dict[str, list[float]], ylabel: str) -> Figure:
    """Per encoder, every run's value (dots) and their mean ± one standard deviation (bar)."""
    fig, ax = plt.subplots(figsize=(min(WIDE, max(5, 0.75 * len(values) + 2)), 3.6))
    for i, pts in enumerate(values.values()):
        mean, sd = np.mean(pts), np.std(pts, ddof=1) if len(pts) > 1 else 0.0
        ax.errorbar([i], [mean], yerr=[sd], fmt="_", color="k", capsize=6, markersize=18)
        ax.scatter(i + (np.arange(len(pts)) - (len(pts) - 1) / 2) * 0.08, pts, s=18, alpha=0.8, zorder=3)
    ax.set_xticks(range(len(values)), list(values), rotation=30, ha="right")
    ax.set(ylabel=_(ylabel), title=_("{what}: every run (dots), mean ± sd (bars)").format(what=_(ylabel)))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def grouped_bars(results: dict[str, dict[str, float]], chance: float, ylabel: str,
                 colours: tuple[str, ...] = ("tab:blue", "tab:red", "tab:green")) -> Figure:
    """Per encoder, one bar per key of results[encoder] (e.g. control / biased), with the chance level."""
    names = list(results)
    keys = list(next(iter(results.values())))
    width = 0.76 / len(keys)
    fig, ax = plt.subplots(figsize=(min(WIDE, 0.95 * len(names) + 2), 3.4))
    pos = np.arange(len(names))
    for k, (key, colour) in enumerate(zip(keys, colours)):
        vals = [results[n][key] for n in names]
        bars = ax.bar(pos + (k - (len(keys) - 1) / 2) * width, vals, width, label=_(key), color=colour)
        ax.bar_label(bars, [f"{v:.0%}" for v in vals], fontsize=7.5)
    ax.axhline(chance, color="gray", lw=0.8, ls=":", label=_("chance"))
    ax.set_xticks(pos, names, rotation=20)
    ax.set(ylabel=_(ylabel), ylim=(0, 1.15))
    ax.legend(loc="upper left", ncol=3)
    fig.tight_layout()
    return fig


def bias_bars(results: dict[str, dict[str, float]], chance: float) -> Figure:
    """Per encoder: unbiased test accuracy after training on the biased set and on its size-matched control."""
    return grouped_bars({n: {N_("trained on control set"): r["control"], N_("trained on biased set"): r["biased"]}
                         for n, r in results.items()}, chance, N_("unbiased test accuracy"))


def scatter_grid(coords: dict[str, np.ndarray], labels: np.ndarray, class_names: list[str], latent: str) -> list[Figure]:
    """2-d embeddings (UMAP), one panel per encoder, points coloured by a latent; then a panel of its key."""
    many = len(class_names) > 10
    cmap, vmax = ("viridis", len(class_names) - 1) if many else ("tab10", 9)
    panels = []
    for name, xy in coords.items():
        fig, ax = plt.subplots(figsize=(2.6, 2.6))
        ax.scatter(xy[:, 0], xy[:, 1], c=labels, s=2, cmap=cmap, vmin=0, vmax=vmax)
        ax.set_title(name), ax.set_xticks([]), ax.set_yticks([])
        fig.tight_layout()
        panels.append(fig)
    fig, ax = plt.subplots(figsize=(1.8 if not many else 1.2, 2.6))
    if many:
        fig.colorbar(matplotlib.cm.ScalarMappable(matplotlib.colors.Normalize(0, vmax), cmap), cax=ax, label=_(latent))
    else:
        ax.axis("off")
        handles = [plt.Line2D([], [], ls="", marker="o", color=plt.cm.tab10(i)) for i in range(len(class_names))]
        ax.legend(handles, class_names, title=_(latent), loc="center", frameon=False)
    panels.append(fig)
    return panels
