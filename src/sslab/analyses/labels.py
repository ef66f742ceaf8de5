"""Label efficiency: probe accuracy against the fraction of labels and against labelled images per class,
on the same stratified subsets for every encoder; encoders that learn from labels are retrained on each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sslab import plots
from sslab.data import splits
from sslab.probes import label_curve
from sslab.i18n import N_, _
from sslab.html import pct, table as html_table
from sslab.analyses.base import Context, Figures

QUESTION = N_("How many labels do they need?")
AXES = {"label_fraction": N_("fraction of labelled training images"),
        "images_per_class": N_("labelled training images per class")}
ORDER = 30
NEEDS = ()


@dataclass(frozen=True)
class Config:
    fractions: tuple[float, ...] = (0.01, 0.05, 0.1, 0.2, 0.5, 1.0)  # points of the label-fraction curve
    per_class: tuple[int, ...] = (10, 20, 50, 100, 200, 500)  # points of the images-per-class curve
    max_epoch_scale: float = 5.0  # retraining on fraction f of the labels runs epochs x min(1/f, this)

    def __post_init__(self) -> None:
        for f in self.fractions:
            splits.check_fraction("label fraction", f)


QUICK = {"fractions": (0.05, 0.2, 1.0), "per_class": (10, 100)}  # --quick: three points and two


FIGURES = {
    "label_fraction": N_("Test accuracy against the fraction of labelled training images (log scale), the same "
                      "stratified subsets for every encoder; a flat curve means few labels suffice; * marks encoders "
                      "retrained end to end on each subset."),
    "images_per_class": N_("The same with a fixed number of labelled images per class (the UvA SimCLR tutorial's "
                        "protocol); * marks encoders retrained end to end on each subset."),
}


def run(s: Context, cfg: Config) -> tuple[dict[str, Any], Figures]:
    labelled, test = s.split.labelled, s.split.test
    y_lab, y_test = s.split.y[labelled], s.split.y[test]
    subsets = {  # a curve with no points (e.g. fractions = ()) is left out
        "label_fraction": {f: splits.label_fraction(y_lab, f, s.cfg.split_seed) for f in sorted(cfg.fractions)},
        "images_per_class": {n: splits.per_class(y_lab, n, s.cfg.split_seed) for n in sorted(cfg.per_class)},
    }
    subsets = {kind: subs for kind, subs in subsets.items() if subs}
    retrained = [n for n in s.h if s.uses_labels(n)]
    out: dict[str, Any] = {"retrained": retrained}
    # Every labelled image: the main probe already has that point (it is the slowest probe on pixels).
    rest = {kind: {k: p for k, p in subs.items() if len(p) < len(labelled)} for kind, subs in subsets.items()}
    calls = {(kind, name, k): (name, labelled[p], s.split.y, min(len(labelled) / len(p), cfg.max_epoch_scale),
                               f" on {len(p)} labels")
             for kind in rest for name in retrained for k, p in rest[kind].items()}
    s.retrain_ahead(list(calls.values()))
    for kind, subs in subsets.items():
        out[kind] = {}
        for name in s.encoders:
            known = {k: s.results[name]["test_accuracy"] for k in subs if k not in rest[kind]}
            if name in retrained:
                for k in rest[kind]:
                    known[k] = s.retrain_and_probe(*calls[kind, name, k])
            else:
                h = s.features(name, labelled)
                known |= label_curve(h, y_lab, rest[kind], s.features(name, test), y_test,
                                     probe=s.new_probe)
            out[kind][name] = {k: known[k] for k in subs}
            s.log("  " + _("{name}, test accuracy by {axis}: {points}").format(
                name=name, axis=_(AXES[kind]), points=", ".join(f"{k:g} ({len(subs[k])}) {known[k]:.0%}" for k in subs)))
    figures = {kind: plots.later(plots.curves, out[kind], axis, s.chance, tuple(retrained))
               for kind, axis in AXES.items() if kind in out}
    out["sizes"] = {kind: {k: len(p) for k, p in subs.items()} for kind, subs in subsets.items()}
    return out, figures


def table(r: dict[str, Any], encoders: list[str]) -> dict[str, str]:
    out = {}
    for kind, label in (("label_fraction", _("fraction of labels")), ("images_per_class", _("labels per class"))):
        if kind not in r["sizes"]:
            continue
        sizes = r["sizes"][kind]  # {point: number of labelled images}, in curve order
        rows = [[n + ("*" if n in r["retrained"] else "")] + [pct(r[kind][n][k]) for k in sizes] for n in encoders]
        out[kind] = html_table([label] + [f"{k} ({sizes[k]})" for k in sizes], rows)
    return out
