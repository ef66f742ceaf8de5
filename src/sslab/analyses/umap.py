"""UMAP: a 2-d map (cosine metric) of each encoder's test features, coloured by class or by a factor."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sslab import analysis, plots
from sslab.data import splits
from sslab.errors import SslabError
from sslab.i18n import N_
from sslab.analyses.base import Context, Figures

QUESTION = N_("What do the encoders keep?")
ORDER = 60
NEEDS = ()


@dataclass(frozen=True)
class Config:
    colour: str = ""  # a latent factor that colours the points; "" (default): the class
    per_class: int = 300  # test images per colour, at most (the lab's cap)


QUICK = None  # left out of --quick's defaults: the first UMAP in a process spends ~18 s compiling (2-core CPU)


FIGURES = {"umap": N_("A 2-d UMAP (cosine metric) of each encoder's test features, one colour per class: separate "
                   "clusters mean the classes are far apart in feature space; mixed colours mean they are not.")}


def requires() -> str | None:
    try:
        import umap  # noqa: F401
    except ImportError:
        return ("the umap analysis needs umap-learn: pip install 'sslab[umap]', or leave it out with --analyses "
                "(see sslab run --help)")
    return None


def validate(cfg: Config, images) -> None:
    """Checked before any training: the colour must be a factor of the data (or empty: the class)."""
    factors = () if images.factors is None else images.factors.names
    if cfg.colour and cfg.colour not in factors:
        raise SslabError(f"unknown UMAP colour {cfg.colour!r}; "
                         + (f"factors: {', '.join(factors)}" if factors else "the data has no latent factors"))


def run(s: Context, cfg: Config) -> tuple[dict[str, Any], Figures]:
    keys = s.sort_keys()
    colour = cfg.colour or "class"
    labels, names = keys[colour]
    test = s.split.test
    pos = splits.per_class(labels[test], cfg.per_class, s.cfg.seed)
    coords = {}
    for name in s.encoders:
        t0 = time.perf_counter()
        coords[name] = analysis.umap_2d(s.features(name, test[pos]), s.cfg.seed).numpy()
        s.log(f"  {name}: UMAP of {len(pos)} test images ({time.perf_counter() - t0:.0f} s)")
    scatter = plots.later(plots.scatter_grid, coords, labels[test[pos]].numpy(), list(names), colour)
    return {"colour": colour, "n_images": len(pos)}, {"umap": scatter}
