"""Figures from arrays (matplotlib), kept as data until the report draws them.

A study keeps each figure as a `Plot` (`later(plots.confusions, matrices, names)`: the function's name and its
arguments) and saves it as data; `draw(plot)` makes the figure, or its list of panels (one per encoder, laid out
as a wrapping grid by the report), in the current language and the report's style; `png(fig)` encodes it.
Figure families: images (rows, tiles, gallery), heat (RSMs, matrices, confusions), charts (curves, bars, maps).
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from sslab.plots.charts import (bias_bars, cumulative_variance, curves, grouped_bars, lines, loss_curves,
                                rsm_histograms, runs, scatter_grid, spectra)
from sslab.plots.data import Plot, later, save_plot
from sslab.plots.data import load_plot as _read_plot
from sslab.plots.heat import confusions, factor_profile, matrices, matrix, rsm_grid, signed_matrix
from sslab.plots.images import gallery, image_rows, neighbours, tiles, to_float
from sslab.plots.style import DPI, font_missing, style

# the figure kinds a saved Plot may name
KINDS = {f.__name__: f for f in (loss_curves, lines, image_rows, tiles, cumulative_variance, signed_matrix, rsm_grid,
                                 rsm_histograms, matrix, matrices, factor_profile, curves, runs, grouped_bars,
                                 bias_bars, scatter_grid, spectra, confusions, gallery, neighbours)}

__all__ = ["Plot", "later", "save_plot", "load_plot", "draw", "png", "save", "style", "font_missing", "to_float",
           "KINDS", *sorted(KINDS)]


def load_plot(path: Path) -> Plot:
    """What save_plot wrote (no pickle: JSON and safetensors only), of a kind drawn here."""
    plot = _read_plot(path)
    if plot.kind not in KINDS:
        raise ValueError(f"unknown figure kind {plot.kind!r}")
    return plot


def draw(plot: Plot) -> list[Figure]:
    """The plot's figure, or its panels, drawn in the current language and style."""
    with style():
        out = KINDS[plot.kind](**plot.args)
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
