"""Robustness: what each encoder ignores on images no latent factor describes. Each encoder's linear probe, fitted
on clean labelled images, reads out test images under generated corruptions (Gaussian noise, blur, contrast,
brightness, pixelation, occlusion; 3 severities each: sslab.views.corrupt), drawn once with the study's seed and
shared by every encoder; the drop from its clean accuracy says what the features are invariant to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sslab import plots
from sslab.analyses.base import Context, Figures
from sslab.html import pct, table as html_table
from sslab.i18n import N_, _
from sslab.views.corrupt import KINDS, SEVERITIES, corrupt

QUESTION = N_("What do the encoders ignore?")
ORDER = 35
NEEDS = ()


@dataclass(frozen=True)
class Config:
    images: int = 1000  # test images corrupted (each kind at each severity)
    fit_images: int = 5000  # labelled images the clean probe fits on


QUICK = {"images": 300, "fit_images": 1000}

FIGURES = {
    "robustness": N_("Each encoder's linear probe (fitted on clean images) on corrupted test images, averaged over "
                     "the three severities of each corruption, beside its clean accuracy: a row that stays bright "
                     "ignores the corruption; the table below gives each severity's drop from clean."),
}


def run(s: Context, cfg: Config) -> tuple[dict[str, Any], Figures]:
    g = torch.Generator().manual_seed(s.cfg.seed)
    test = s.split.test[torch.randperm(len(s.split.test), generator=g)[:cfg.images]].sort().values
    fit = s.split.labelled[torch.randperm(len(s.split.labelled), generator=g)[:cfg.fit_images]].sort().values
    x, y = s.images.x[test], s.split.y[test]
    # every corrupted set drawn once: the same noise, the same squares for every encoder (severity 0 would be x)
    sets = {(kind, sev): corrupt(x, kind, sev, torch.Generator().manual_seed(s.cfg.seed + 7919 * k + sev))
            for k, kind in enumerate(KINDS) for sev in SEVERITIES}
    out: dict[str, Any] = {"n_images": len(test), "n_fit": len(fit), "corruptions": list(KINDS),
                           "severities": list(SEVERITIES), "encoders": {}}
    grid = []
    for name in s.encoders:
        probe = s.new_probe().fit(s.features(name, fit), s.split.y[fit])
        score = lambda images: probe.score(s.encode(name, images), y)  # noqa: E731
        r = out["encoders"][name] = {"clean": score(x)}
        for kind in KINDS:
            r[kind] = [score(sets[kind, sev]) for sev in SEVERITIES]
        grid.append([r["clean"]] + [float(np.mean(r[kind])) for kind in KINDS])
        s.log(f"  {name}: clean {r['clean']:.1%}; " + ", ".join(f"{k} {np.mean(r[k]):.1%}" for k in KINDS))
    figure = plots.later(plots.matrix, np.array(grid), list(s.encoders), ["clean", *KINDS],
                         N_("Linear probe on corrupted test images (mean over 3 severities)"), N_("test accuracy"),
                         0, 1, ".0%")
    return out, {"robustness": figure}


def table(r: dict[str, Any], encoders: list[str]) -> str:
    head = [_("encoder"), _("clean")] + [f"{k} {sev}" for k in r["corruptions"] for sev in r["severities"]]
    rows = []
    for n in encoders:
        e = r["encoders"].get(n)
        if e is None:
            continue
        rows.append([n, pct(e["clean"])] + [f"{100 * (v - e['clean']):+.1f}" for k in r["corruptions"] for v in e[k]])
    return ("<p>" + _("The drop from clean accuracy, in points, at each corruption's severities 1, 2 and 3 ({n} test "
                      "images, probes fitted on {n_fit} clean labelled images).").format(n=r["n_images"], n_fit=r["n_fit"])
            + "</p>" + html_table(head, rows))
