"""Layers: which stage of each network holds what. A linear probe on every stage's output (feature maps averaged
to at most 2x2 cells, tokens averaged: sslab.nets.pooled), so accuracy can be read against depth; and linear CKA
(Kornblith et al. 2019) between every stage of a reference encoder (the supervised one, where there is one) and
every stage of each self-supervised one, on the same test images."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from sslab import analysis, plots
from sslab.analyses.base import Context, Figures
from sslab.html import pct, table as html_table
from sslab.i18n import N_, _

QUESTION = N_("Which layer holds what?")
ORDER = 25
NEEDS = ()
SELF_SUPERVISED = ("contrastive", "distillation", "redundancy", "clustering", "masked")  # families compared first


@dataclass(frozen=True)
class Config:
    images: int = 2000  # labelled images the probes fit on, and as many test images they are scored on
    cka_images: int = 1000  # test images CKA compares the stages on
    reference: str = ""  # the encoder every other is compared with by CKA ("": supervised, else the first)
    pairs: int = 4  # at most this many CKA comparisons


QUICK = {"images": 500, "cka_images": 300, "pairs": 2}

FIGURES = {
    "layer_probes": N_("Linear-probe test accuracy on each stage's output, from the first stage (left) to the "
                       "features (right), one line per encoder: where along the network the labels become "
                       "readable, and whether the last stages lose what earlier ones held."),
    "layer_cka": N_("Linear CKA between every stage of the reference encoder (rows) and every stage of another "
                    "(columns) on the same test images: a bright diagonal means the two networks represent the "
                    "images alike stage by stage; a bright block off it, that one reaches there sooner."),
}


def run(s: Context, cfg: Config) -> tuple[dict[str, Any], Figures]:
    g = torch.Generator().manual_seed(s.cfg.seed)
    fit = _subset(s.split.labelled, cfg.images, g)
    test = _subset(s.split.test, cfg.images, g)
    y = s.split.y
    deep = {n: s.layers(n) for n in s.encoders if s.layers(n)}
    out: dict[str, Any] = {"n_fit": len(fit), "n_test": len(test), "encoders": {}, "cka": {}}
    curves = {}
    for name, layers in deep.items():
        acc = {}
        for layer in layers:
            probe = s.new_probe().fit(s.layer_features(name, layer, fit), y[fit])
            acc[layer] = probe.score(s.layer_features(name, layer, test), y[test])
        out["encoders"][name] = acc
        curves[name] = [(i, a) for i, a in enumerate(acc.values(), 1)]
        s.log(f"  {name}: " + ", ".join(f"{k} {v:.1%}" for k, v in acc.items()))
    figures: Figures = {}
    if curves:
        depth = max(deep.values(), key=len)
        figures["layer_probes"] = plots.later(plots.lines, curves, N_("linear probe, test accuracy"), s.chance,
                                              xlabel=N_("stage (first to the features)"),
                                              xticks=[f"{i}" for i in range(1, len(depth) + 1)])
    reference, others = _pairs(s, deep, cfg)
    if reference is not None and others:
        cka_idx = test[: cfg.cka_images]
        ref = {layer: s.layer_features(reference, layer, cka_idx) for layer in deep[reference]}
        panels = []
        for other in others:
            mine = {layer: s.layer_features(other, layer, cka_idx) for layer in deep[other]}
            m = torch.tensor([[analysis.linear_cka(a, b) for b in mine.values()] for a in ref.values()])
            out["cka"][other] = {"reference": reference, "rows": list(ref), "cols": list(mine), "matrix": m.tolist()}
            panels.append({"values": m.numpy(), "rows": list(ref), "cols": list(mine),
                           "title": f"{reference} / {other}", "cbar": N_("linear CKA"), "vmin": 0, "vmax": 1})
        figures["layer_cka"] = plots.later(plots.matrices, panels)
    return out, figures


def _subset(idx: torch.Tensor, n: int, g: torch.Generator) -> torch.Tensor:
    return idx[torch.randperm(len(idx), generator=g)[:n]].sort().values


def _pairs(s: Context, deep: dict[str, list[str]], cfg: Config) -> tuple[str | None, list[str]]:
    """The reference encoder and those compared with it (the self-supervised ones first, then the rest)."""
    if not deep:
        return None, []
    reference = cfg.reference if cfg.reference in deep else next(
        (n for n in deep if s.results.get(n, {}).get("family") == "supervised"), next(iter(deep)))
    others = [n for n in deep if n != reference and s.results.get(n, {}).get("family") in SELF_SUPERVISED]
    others += [n for n in deep if n != reference and n not in others]
    return reference, others[: cfg.pairs]


def table(r: dict[str, Any], encoders: list[str]) -> dict[str, str]:
    names = [n for n in encoders if n in r["encoders"]]
    if not names:
        return {}
    depth = max(len(r["encoders"][n]) for n in names)
    rows = [[n] + [pct(v) for v in r["encoders"][n].values()] + [""] * (depth - len(r["encoders"][n])) for n in names]
    head = "<p>" + _("Linear probes fitted on {n_fit} labelled images' stage outputs, tested on {n_test} test "
                     "images; stages from the first (1) to the features.").format(n_fit=r["n_fit"], n_test=r["n_test"])
    return {"layer_probes": head + "</p>" + html_table([_("encoder")] + [str(i) for i in range(1, depth + 1)], rows)}
