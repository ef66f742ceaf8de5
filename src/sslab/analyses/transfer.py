"""Transfer: how well each frozen encoder's features serve classes it never saw labelled (the lab's
held-out classes): a fresh linear and kNN probe on the held-out classes' labelled images."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from sslab import plots
from sslab.probes import KNNProbe, LinearProbe

QUESTION = "Do the features transfer to classes held out from training?"
ORDER = 40
NEEDS = ("holdout",)


@dataclass(frozen=True)
class Config:
    pass


FIGURES = {
    "transfer": "Test accuracy on the held-out classes of a linear probe (and a kNN probe) fitted on their few "
                "labelled images, on each encoder's frozen features; no encoder saw these classes' labels.",
    "transfer_confusion": "Confusion matrices of the transfer probes (rows: true held-out class, columns: "
                          "predicted), each row normalised.",
}


def run(s, cfg: Config) -> dict[str, Any]:
    t = s.split.transfer
    y_fit, y_test = t.y[t.train], t.y[t.test]
    names = [s.images.class_names[c] for c in t.classes]
    out: dict[str, Any] = {"classes": names, "n_train": len(t.train), "n_test": len(t.test),
                           "chance": float(torch.bincount(y_test).max()) / len(y_test), "encoders": {}}
    confusions = {}
    for name in s.h:
        h_fit, h_test = s.features(name, t.train), s.features(name, t.test)
        probe = LinearProbe(C=s.cfg.probe_C).fit(h_fit, y_fit)
        out["encoders"][name] = {"linear": probe.score(h_test, y_test),
                                 "knn": KNNProbe().fit(h_fit, y_fit).score(h_test, y_test)}
        confusions[name] = probe.confusion(h_test, y_test)
        s.log(f"  {name}: held-out classes, linear {out['encoders'][name]['linear']:.1%}, "
              f"kNN {out['encoders'][name]['knn']:.1%}")
    s.figures["transfer"] = plots.grouped_bars({n: {"linear probe": r["linear"], "kNN": r["knn"]}
                                                for n, r in out["encoders"].items()},
                                               out["chance"], "held-out test accuracy")
    s.figures["transfer_confusion"] = plots.confusions(confusions, names)
    out["confusion"] = {k: v.tolist() for k, v in confusions.items()}
    return out


def table(r: dict[str, Any], encoders: list[str]) -> str:
    from sslab.report import pct, table as html_table

    head = (f"<p>Held-out classes: {', '.join(r['classes'])}; probes fit on {r['n_train']} labelled training "
            f"images of them, tested on their {r['n_test']} test images (majority-class rate {pct(r['chance'])}).</p>")
    return head + html_table(["encoder", "linear probe", "kNN"],
                             [[n, pct(r["encoders"][n]["linear"]), pct(r["encoders"][n]["knn"])] for n in encoders])
