"""Bias robustness (the Neuromatch tutorial's Section 7): every encoder, and its probe, trained again on a
set where shape predicts horizontal position, and on a size-matched unbiased control; both tested on the
same unbiased test images."""

from __future__ import annotations

import html

from dataclasses import dataclass
from typing import Any

import torch

from sslab import plots, probes
from sslab.i18n import N_, _
from sslab.html import pct, table as html_table
from sslab.analyses.base import Context, Figures

QUESTION = N_("Do they survive a biased training set?")
ORDER = 50
NEEDS = ("shape+posX",)

# The tutorial's `shape_posX_spaced` bias: each shape seen only in one band of horizontal positions.
BANDS = ((0.0, 0.3), (0.35, 0.65), (0.7, 1.0))


@dataclass(frozen=True)
class Config:
    epoch_scale: float = 1.0  # epochs on the biased and control sets, as a multiple of each recipe's


FIGURES = {"bias": N_("Shape accuracy on the same unbiased test set after training encoder and probe on a set where "
                   "shape predicts horizontal position (red) or on a control set of the same size and shapes "
                   "(blue): the gap is what the bias costs.")}


def biased(shape: torch.Tensor, posx: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """The subset of idx where the k-th shape lies in the k-th band of posX values (in [0, 1]).

    shape: (N,) shape class of every image; posx: (N,) its horizontal position value.
    """
    keep = torch.zeros(len(idx), dtype=torch.bool)
    for s, (lo, hi) in enumerate(BANDS):
        keep |= (shape[idx] == s) & (posx[idx] >= lo - 1e-9) & (posx[idx] <= hi + 1e-9)
    return idx[keep].sort().values


def matched_control(shape: torch.Tensor, idx: torch.Tensor, chosen: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """A control for a biased subset: from idx, the same number of images of each shape, at any position."""
    g = torch.Generator().manual_seed(seed)
    keep = [torch.zeros(0, dtype=torch.int64)]
    for s in torch.unique(shape[chosen]).tolist():
        pool = idx[shape[idx] == s]
        keep.append(pool[torch.randperm(len(pool), generator=g)[: int((shape[chosen] == s).sum())]])
    return torch.cat(keep).sort().values


def run(s: Context, cfg: Config) -> tuple[dict[str, Any], Figures]:
    f = s.images.factors
    shape, posx = f.classes("shape"), f.values[:, f.index("posX")]
    pool = s.split.labelled
    bias_idx = biased(shape, posx, pool)
    control = matched_control(shape, pool, bias_idx, s.cfg.split_seed)
    out: dict[str, Any] = {"n_biased": len(bias_idx), "n_control": len(control), "epoch_scale": cfg.epoch_scale,
                           "bands": BANDS, "shapes": list(f.level_names[f.index("shape")]), "encoders": {}}
    sets = (("biased", bias_idx), ("control", control))
    s.retrain_ahead([(name, idx, shape, cfg.epoch_scale, f" on the {kind} set") for name in s.encoders
                     for kind, idx in sets])
    for name in s.encoders:
        out["encoders"][name] = r = {
            kind: s.retrain_and_probe(name, idx, shape, cfg.epoch_scale, f" on the {kind} set") for kind, idx in sets}
        s.log(f"  {name}: unbiased test accuracy after the biased set {r['biased']:.2%}, "
              f"after the control set {r['control']:.2%}")
    chance = probes.chance(shape[s.split.test])
    return out, {"bias": plots.later(plots.bias_bars, out["encoders"], chance)}


def table(r: dict[str, Any], encoders: list[str]) -> str:
    rows = [[n, pct(r["encoders"][n]["control"]), pct(r["encoders"][n]["biased"]),
             f"{(r['encoders'][n]['control'] - r['encoders'][n]['biased']) * 100:+.1f}"] for n in encoders]
    bands = ", ".join(_("{shape} at posX {lo}–{hi}").format(shape=shape, lo=lo, hi=hi)
                      for shape, (lo, hi) in zip(r["shapes"], r["bands"]))
    note = _("Biased set: {n_biased} training images with {bands}; control: {n_control} training images with the "
             "same number of each shape at any position. Encoder and probe are trained on the set ({scale} x each "
             "recipe's epochs), then tested on the unbiased test images.").format(
        n_biased=r["n_biased"], bands=bands, n_control=r["n_control"], scale=f"{r['epoch_scale']:g}")
    return f"<p>{html.escape(note)}</p>" + html_table(
        [_("encoder"), _("trained on control"), _("trained on biased"), _("cost (points)")], rows)
