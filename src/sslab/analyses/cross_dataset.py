"""Cross-dataset: does what was learned on one dataset serve another? Every encoder, frozen, reads out other
datasets (`--eval-data PATH[,PATH...]`): their images are converted to the study's channels (grey <-> RGB) and
size, split as a study would split them (their own train / test splits where they have them), and probed with a
linear and a kNN probe; their raw pixels are probed beside, for reference (by the study's `raw` encoder where it has
one; its random encoder is one of its encoders where it runs)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from sslab import data, plots, probes
from sslab.analyses.base import Context, Figures
from sslab.data import splits
from sslab.errors import SslabError
from sslab.html import pct, table as html_table
from sslab.i18n import N_, _
from sslab.views import ops

QUESTION = N_("Do the features serve other datasets?")
ORDER = 45
NEEDS = ()
DEFAULT = False  # runs when named, or given data with --eval-data


@dataclass(frozen=True)
class Config:
    data: tuple[str, ...] = ()  # the other datasets' paths (what --eval-data sets)
    n_images: int = 5000  # images kept of each (stratified, across its splits)


FIGURES = {
    "cross_dataset": N_("Linear-probe test accuracy of each encoder's frozen features on other datasets (their "
                        "images converted to the study's channels and size), beside their raw pixels and chance: "
                        "an encoder whose bar stays high learned something those datasets share."),
}


def unavailable(cfg: Config) -> str | None:
    """Why it cannot run with these settings: no other data given."""
    return None if cfg.data else N_("no other data was given (--eval-data PATH[,PATH...])")


def validate(cfg: Config, images: Any) -> None:
    for path in cfg.data:
        if not Path(path).exists():
            raise SslabError(f"--eval-data: not found: {path}")


def run(s: Context, cfg: Config) -> tuple[dict[str, Any], Figures]:
    out: dict[str, Any] = {"datasets": {}}
    bars: dict[str, dict[str, float]] = {}
    for path in cfg.data:
        other = data.load(path, n_images=cfg.n_images, seed=s.cfg.split_seed)
        x = convert(other.x, tuple(s.images.shape))
        split = splits.make_split(other, splits.PROTOCOLS["standard"], s.cfg.split_seed, s.cfg.train_fraction, 0.0)
        fit, test, y = split.labelled, split.test, split.y
        label = Path(path).name
        r: dict[str, Any] = {"n_fit": len(fit), "n_test": len(test), "classes": len(split.classes),
                             "chance": probes.chance(y[test]), "encoders": {}}
        reads = {} if "raw" in s.encoders else {N_("raw pixels"): lambda idx: x[idx].flatten(1).float() / 255}
        reads |= {n: (lambda idx, n=n: s.encode(n, x[idx])) for n in s.encoders}  # the study's raw is the same
        for name, read in reads.items():
            h_fit, h_test = read(fit), read(test)
            r["encoders"][name] = {"linear": s.new_probe().fit(h_fit, y[fit]).score(h_test, y[test]),
                                   "knn": probes.KNNProbe().fit(h_fit, y[fit]).score(h_test, y[test])}
            bars.setdefault(name, {})[label] = r["encoders"][name]["linear"]
        out["datasets"][label] = r | {"path": str(path), "format": other.format, "shape": list(other.shape)}
        s.log(f"  {label}: " + ", ".join(f"{n} {v['linear']:.1%}" for n, v in r["encoders"].items()))
    chance = min(r["chance"] for r in out["datasets"].values())
    return out, {"cross_dataset": plots.later(plots.grouped_bars, bars, chance, N_("linear probe, test accuracy"),
                                              ("tab:blue", "tab:red", "tab:green", "tab:purple", "tab:orange"))}


def convert(x: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """uint8 images (N, C', H', W') -> uint8 (N, C, H, W) of `shape`: grey <-> RGB (luminance one way, the grey
    level copied the other), then resized (bilinear, antialiased)."""
    c, h, w = shape
    v = x.float() / 255
    if v.shape[1] != c:
        if c == 1:
            v = ops.grey(v)
        elif v.shape[1] == 1:
            v = v.expand(-1, c, -1, -1)
        else:
            raise SslabError(f"cannot convert {v.shape[1]}-channel images to {c} channels")
    if v.shape[2:] != (h, w):
        v = F.interpolate(v, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
    return (v.clamp(0, 1) * 255).round().to(torch.uint8)


def table(r: dict[str, Any], encoders: list[str]) -> str:
    parts = []
    for label, d in r["datasets"].items():
        rows = [[_(n) if n == "raw pixels" else n, pct(e["linear"]), pct(e["knn"])] for n, e in d["encoders"].items()]
        parts.append("<p>" + _("{data} ({format}, {classes} classes): probes fitted on {n_fit} labelled images, tested "
                               "on {n_test} (chance {chance}).").format(
            data=label, format=d["format"], classes=d["classes"], n_fit=d["n_fit"], n_test=d["n_test"],
            chance=pct(d["chance"])) + "</p>" + html_table([_("encoder"), _("linear probe"), _("kNN")], rows))
    return "".join(parts)
