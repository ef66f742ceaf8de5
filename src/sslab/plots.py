"""Figures from arrays (matplotlib, Agg backend: no screen needed).

A study does not draw while it runs: it keeps each figure as a `Plot` (the name of a function here and its
arguments), saved as data in the run folder (figures/<key>.json, arrays in figures/<key>.safetensors), and
the report draws them when it is rendered, so figures follow the report's language and style. A function
returns one Figure, or a list of panels (one per encoder) that the report lays out as a wrapping grid.

Sizes are for the report's column: figures at most 7.2 in wide at DPI 100 (720 px; the RSM grid 8.2 in), panels
3.2 in, text at least 7.5 pt (10.4 px) at 100% zoom, most of it 8-10 pt.
"""

from __future__ import annotations

import inspect
import io
import json
import os
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

if not os.environ.get("MPLBACKEND"):  # no screen needed; a notebook (which sets MPLBACKEND) keeps its inline figures
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator, NullLocator  # noqa: E402

from sslab.i18n import N_, _, current  # noqa: E402

DPI = 100  # pixels per inch: 1 pt of text is 1.39 px at 100% zoom
PANEL = 3.2  # inches: one encoder's panel
WIDE = 7.2  # inches: a whole figure
_CJK = ("Noto Sans CJK JP", "IPAexGothic", "IPAGothic", "Noto Sans JP", "TakaoGothic", "VL Gothic", "Source Han Sans JP")
NEEDS_FONT = {"ja": _CJK}  # languages whose script DejaVu Sans lacks -> fonts that have it


@dataclass(frozen=True)
class Plot:
    """A figure as data: `plots.<kind>(**args)`, drawn when the report is rendered."""
    kind: str
    args: dict[str, Any]


def later(fn: Callable[..., Figure | list[Figure]], *args, **kwargs) -> Plot:
    """Plot(fn's name, its arguments by name): what fn(*args, **kwargs) would draw, drawn later."""
    bound = inspect.signature(fn).bind(*args, **kwargs)
    return Plot(fn.__name__, dict(bound.arguments))


def save_plot(plot: Plot, path: Path) -> None:
    """path.json (the kind and the arguments' structure) and path.safetensors (its arrays, if any)."""
    from safetensors.torch import save_file

    arrays: dict[str, torch.Tensor] = {}
    spec = {"kind": plot.kind, "args": _encode(plot.args, arrays)}
    path.parent.mkdir(parents=True, exist_ok=True)
    if arrays:
        save_file(arrays, str(path.with_suffix(".safetensors")))
    path.with_suffix(".json").write_text(json.dumps(spec))


def load_plot(path: Path) -> Plot:
    """What save_plot wrote (no pickle: JSON and safetensors only)."""
    from safetensors.torch import load_file

    spec = json.loads(path.with_suffix(".json").read_text())
    arrays_file = path.with_suffix(".safetensors")
    arrays = load_file(str(arrays_file)) if arrays_file.is_file() else {}
    if spec.get("kind") not in _KINDS:
        raise ValueError(f"unknown figure kind {spec.get('kind')!r}")
    return Plot(spec["kind"], _decode(spec["args"], arrays))


def _encode(v: Any, arrays: dict[str, torch.Tensor]) -> Any:
    if isinstance(v, (torch.Tensor, np.ndarray)):
        key = str(len(arrays))
        arrays[key] = torch.as_tensor(v).detach().cpu().contiguous().clone()
        return {"$array": key, "numpy": isinstance(v, np.ndarray)}
    if isinstance(v, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in v):
            return {k: _encode(x, arrays) for k, x in v.items()}
        return {"$items": [[_encode(k, arrays), _encode(x, arrays)] for k, x in v.items()]}
    if isinstance(v, (list, tuple)):
        return [_encode(x, arrays) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    raise TypeError(f"a figure's argument cannot be saved: {type(v).__name__}")


def _decode(v: Any, arrays: dict[str, torch.Tensor]) -> Any:
    if isinstance(v, dict):
        if "$array" in v:
            t = arrays[v["$array"]]
            return t.numpy() if v["numpy"] else t
        if "$items" in v:
            return {_decode(k, arrays): _decode(x, arrays) for k, x in v["$items"]}
        return {k: _decode(x, arrays) for k, x in v.items()}
    if isinstance(v, list):
        return [_decode(x, arrays) for x in v]
    return v


def font_missing() -> bool:
    """True when the current language needs a font (Japanese) that this machine lacks."""
    need = NEEDS_FONT.get(current())
    return bool(need) and not _installed(need)


def _installed(families: tuple[str, ...]) -> tuple[str, ...]:
    names = {f.name for f in font_manager.fontManager.ttflist}
    return tuple(f for f in families if f in names)


@contextmanager
def style():
    """The report's figure style: text sizes for the column, and a font for the language's script."""
    families = ["DejaVu Sans", *_installed(NEEDS_FONT.get(current(), ()))]
    with plt.rc_context({"font.family": families, "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9,
                         "xtick.labelsize": 8, "ytick.labelsize": 8, "legend.fontsize": 8, "figure.dpi": DPI,
                         "savefig.dpi": DPI, "axes.unicode_minus": False}):
        yield


def draw(plot: Plot) -> list[Figure]:
    """The plot's figure, or its panels, drawn in the current language and style."""
    with style():
        out = _KINDS[plot.kind](**plot.args)
    return out if isinstance(out, list) else [out]


def png(fig: Figure) -> bytes:
    """The figure as a PNG of 256 colours (a fraction of a full-colour PNG's size), closed after."""
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.05)
    plt.close(fig)
    image = Image.open(buf).convert("RGB").quantize(256, method=Image.Quantize.MAXCOVERAGE, dither=Image.Dither.NONE)
    out = io.BytesIO()
    image.save(out, format="png", optimize=True)
    return out.getvalue()


def save(fig: Figure, path: Path) -> None:
    path.write_bytes(png(fig))


def to_float(x: torch.Tensor) -> torch.Tensor:
    return x.float() / 255


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


def cumulative_variance(explained: torch.Tensor, total: float, title: str) -> Figure:
    """Cumulative share of the variance explained by the first k components, k = 1 .. K."""
    fig, ax = plt.subplots(figsize=(4.4, 3))
    share = (explained.double().cumsum(0) / total).numpy()
    ax.plot(np.arange(1, len(share) + 1), share)
    ax.set(xlabel=_("components"), ylabel=_("share of the variance"), ylim=(0, 1), title=_(title))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def signed_matrix(values: torch.Tensor, title: str) -> Figure:
    """A square matrix in RdBu from -1 to 1 (e.g. W Wᵀ of a linear autoencoder against the identity)."""
    fig, ax = plt.subplots(figsize=(4.2, 3.5))
    im = ax.imshow(values.float().numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    fig.colorbar(im, ax=ax)
    ax.set(title=_(title))
    fig.tight_layout()
    return fig


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


def matrix(values: np.ndarray, rows: list[str], cols: list[str], title: str, cbar: str,
           vmin: float | None = None, vmax: float | None = None, fmt: str = ".2f", cmap: str = "viridis") -> Figure:
    """An annotated heat map (CKA between encoders, a factor profile)."""
    fig, ax = plt.subplots(figsize=(min(WIDE, 0.7 * len(cols) + 2.6), 0.42 * len(rows) + 1.4))
    _heat(ax, values, rows, cols, vmin, vmax, fmt, cmap, _(cbar))
    ax.set_title(_(title))
    fig.tight_layout()
    return fig


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


_KINDS = {f.__name__: f for f in (loss_curves, image_rows, tiles, cumulative_variance, signed_matrix, rsm_grid,
                                  rsm_histograms, matrix, factor_profile, curves, runs, grouped_bars, bias_bars,
                                  scatter_grid, confusions, gallery)}
