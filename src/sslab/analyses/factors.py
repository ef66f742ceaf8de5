"""The factor profile: how well each latent factor can be read out of the features, and how little the
features change when that factor alone changes (generated pairs)."""

from __future__ import annotations

import html

from dataclasses import dataclass
from typing import Any

import torch

from sslab import analysis, plots, probes
from sslab.probes import LinearProbe
from sslab.i18n import N_, _
from sslab.html import pct, table as html_table
from sslab.analyses.base import Context, Figures

QUESTION = N_("What do the encoders keep?")
ORDER = 10
NEEDS = ("factors", "renderer")


@dataclass(frozen=True)
class Config:
    bins: int = 8  # factors with more values are read out in this many equal bins of neighbouring values
    images: int = 4000  # labelled training images for each factor's read-out probe
    max_iter: int = 100  # L-BFGS iterations of a read-out probe (pixels, orientation: 2.4 s vs 5.3 s at 500)
    pairs: int = 500  # generated image pairs per factor for the invariance score


QUICK = {"images": 500, "pairs": 200}  # --quick: a smaller read-out and fewer pairs


FIGURES = {"factor_profile": N_("First panel: test accuracy of a linear probe reading each latent factor out of the "
                                "frozen features (compare with the chance level under the factor); second: invariance, 1 when "
                             "changing only that factor leaves the features unchanged and 0 when it moves them (in "
                             "cosine distance) as far as changing every factor does.")}


def run(s: Context, cfg: Config) -> tuple[dict[str, Any], Figures]:
    f = s.images.factors
    varying = [k for k, size in enumerate(f.sizes) if size > 1]
    names = [f.names[k] for k in varying]
    g = torch.Generator().manual_seed(s.cfg.seed)
    fit_idx = s.split.labelled[torch.randperm(len(s.split.labelled), generator=g)[: cfg.images]]
    test = s.split.test
    ys = {lat: analysis.binned(f.classes(lat), f.size(lat), cfg.bins) for lat in names}
    # Chance of a binned read-out: the majority bin's share of the test images.
    chance = {lat: probes.chance(ys[lat][test]) for lat in names}
    # For each factor, pairs differing in it alone; then pairs differing in every factor: rendered once.
    pairs = []
    for k in [*varying, None]:
        a, b = analysis.factor_pairs(f.sizes, k, cfg.pairs, g)
        pairs += [a, b]
    x_pairs = f.render(f.values_of(torch.cat(pairs)))
    accuracy, invariance, collapsed = {}, {}, []
    for name in s.encoders:
        h = s.features(name, torch.cat([fit_idx, test]))
        h_fit, h_test = h[: len(fit_idx)], h[len(fit_idx):]
        hp = s.encode(name, x_pairs).view(len(names) + 1, 2, cfg.pairs, -1)  # (factor or all, a/b, pair, D)
        accuracy[name], invariance[name] = {}, {}
        for k, lat in enumerate(names):
            probe = LinearProbe(C=s.cfg.probe_C, max_iter=cfg.max_iter).fit(h_fit, ys[lat][fit_idx])
            accuracy[name][lat] = probe.score(h_test, ys[lat][test])
            invariance[name][lat] = analysis.invariance(hp[k, 0], hp[k, 1], hp[-1, 0], hp[-1, 1])
        if all(v != v for v in invariance[name].values()):  # NaN: the features did not move at all
            collapsed.append(name)
        s.log(f"  {name}: read-out " + "  ".join(f"{lat} {accuracy[name][lat]:.0%}" for lat in names)
              + " | invariance " + "  ".join(f"{lat} {invariance[name][lat]:.2f}" for lat in names))
    encoders = list(s.encoders)
    profile = plots.later(plots.factor_profile, encoders, names, [[accuracy[n][lat] for lat in names] for n in encoders],
                          [chance[lat] for lat in names], [[invariance[n][lat] for lat in names] for n in encoders])
    return {"factors": names, "bins": cfg.bins, "chance": chance, "n_fit": len(fit_idx), "max_iter": cfg.max_iter,
            "n_pairs": cfg.pairs, "accuracy": accuracy, "invariance": invariance,
            "collapsed": collapsed}, {"factor_profile": profile}


def table(r: dict[str, Any], encoders: list[str]) -> str:
    rows = [[n] + [f"{pct(r['accuracy'][n][k])} / {_inv(r['invariance'][n][k])}" for k in r["factors"]]
            for n in encoders]
    note = "<p>" + html.escape(_(
        "Read-out accuracy / invariance per factor. Factors with more than {bins} values are read out in {bins} equal "
        "bins of neighbouring values (chance, the majority bin's share, in brackets); probes fit on {n_fit} labelled "
        "training images (L-BFGS capped at {max_iter} iterations); invariance from {n_pairs} generated image pairs "
        "per factor, change measured as cosine distance (the RSMs' similarity). Squares look the same every 90° and "
        "ellipses every 180°, so no encoder can read orientation out perfectly.").format(
        bins=r["bins"], n_fit=r["n_fit"], max_iter=r["max_iter"], n_pairs=r["n_pairs"])) + "</p>"
    if r.get("collapsed"):
        note += "<p>" + html.escape(_("Collapsed: {names} map every generated image to the same point; their "
                                      "invariance is undefined (n/a), not perfect.").format(
            names=", ".join(r["collapsed"]))) + "</p>"
    return note + html_table([_("encoder")] + [f"{k} ({pct(r['chance'][k])})" for k in r["factors"]], rows)


def _inv(v: float) -> str:
    return "n/a" if v != v else f"{v:.2f}"
