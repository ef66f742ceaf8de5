"""The figures' look: matplotlib on the Agg backend (no screen needed), sizes for the report's column, and a
font for the language's script.

Sizes are for the report's column: figures at most 7.2 in wide at DPI 100 (720 px; the RSM grid 8.2 in), panels
3.2 in, text at least 7.5 pt (10.4 px) at 100% zoom, most of it 8-10 pt.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import matplotlib

if not os.environ.get("MPLBACKEND"):  # no screen needed; a notebook (which sets MPLBACKEND) keeps its inline figures
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402

from sslab.i18n import current  # noqa: E402

DPI = 100  # pixels per inch: 1 pt of text is 1.39 px at 100% zoom
PANEL = 3.2  # inches: one encoder's panel
WIDE = 7.2  # inches: a whole figure
_CJK = ("Noto Sans CJK JP", "IPAexGothic", "IPAGothic", "Noto Sans JP", "TakaoGothic", "VL Gothic", "Source Han Sans JP")
NEEDS_FONT = {"ja": _CJK}  # languages whose script DejaVu Sans lacks -> fonts that have it


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
