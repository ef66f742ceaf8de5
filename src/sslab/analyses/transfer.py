"""Transfer: how well each encoder serves classes it never saw labelled (the lab's held-out classes):
a fresh linear and kNN probe on the held-out classes' labelled images, on the frozen features, and
the encoder fine-tuned end to end with a new linear head on the same images (sslab.finetune)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from sslab import plots
from sslab.finetune import FinetuneConfig
from sslab.probes import KNNProbe

QUESTION = "Do the features transfer to classes held out from training?"
ORDER = 40
NEEDS = ("holdout",)


@dataclass(frozen=True)
class Config(FinetuneConfig):
    """The fine-tuning recipe (the lab's: AdamW lr 1e-4, wd 1e-5, batch 128, 10 epochs); finetune=False: frozen only."""

    finetune: bool = True


FIGURES = {
    "transfer": "Test accuracy on the held-out classes of a linear probe (and a kNN probe) fitted on their few "
                "labelled images, on each encoder's frozen features, and of the encoder fine-tuned end to end with "
                "a new linear head on the same images; no encoder saw these classes' labels before.",
    "transfer_confusion": "Confusion matrices of the frozen transfer probes (rows: true held-out class, columns: "
                          "predicted), each row normalised.",
    "transfer_confusion_finetuned": "The same after fine-tuning each encoder on the held-out classes.",
}


def run(s, cfg: Config) -> dict[str, Any]:
    t = s.split.transfer
    y_fit, y_test = t.y[t.train], t.y[t.test]
    names = [s.images.class_names[c] for c in t.classes]
    out: dict[str, Any] = {"classes": names, "n_train": len(t.train), "n_test": len(t.test),
                           "chance": float(torch.bincount(y_test).max()) / len(y_test), "encoders": {}}
    confusions, tuned = {}, {}
    for name in s.h:
        h_fit, h_test = s.features(name, t.train), s.features(name, t.test)
        probe = s.new_probe().fit(h_fit, y_fit)
        r = out["encoders"][name] = {"linear": probe.score(h_test, y_test),
                                     "knn": KNNProbe().fit(h_fit, y_fit).score(h_test, y_test)}
        confusions[name] = probe.confusion(h_test, y_test)
        if cfg.finetune:
            r["finetuned"], tuned[name], _ = s.finetune(name, t.train, t.y, t.test, cfg)
        s.log(f"  {name}: held-out classes, linear {r['linear']:.1%}, kNN {r['knn']:.1%}"
              + (f", fine-tuned {r['finetuned']:.1%}" if cfg.finetune else ""))
    bars = {"linear probe": "linear", "kNN": "knn"} | ({"fine-tuned": "finetuned"} if cfg.finetune else {})
    s.figures["transfer"] = plots.grouped_bars({n: {label: r[key] for label, key in bars.items()}
                                                for n, r in out["encoders"].items()},
                                               out["chance"], "held-out test accuracy")
    s.figures["transfer_confusion"] = plots.confusions(confusions, names)
    out["confusion"] = {k: v.tolist() for k, v in confusions.items()}
    if tuned:
        s.figures["transfer_confusion_finetuned"] = plots.confusions(tuned, names)
        out["confusion_finetuned"] = {k: v.tolist() for k, v in tuned.items()}
    return out


def table(r: dict[str, Any], encoders: list[str]) -> str:
    from sslab.report import pct, table as html_table

    head = (f"<p>Held-out classes: {', '.join(r['classes'])}; probes fit on {r['n_train']} labelled training "
            f"images of them, tested on their {r['n_test']} test images (majority-class rate {pct(r['chance'])}).</p>")
    tuned = any("finetuned" in e for e in r["encoders"].values())
    return head + html_table(["encoder", "linear probe (frozen)", "kNN (frozen)"] + ["fine-tuned"] * tuned,
                             [[n, pct(r["encoders"][n]["linear"]), pct(r["encoders"][n]["knn"])]
                              + [pct(r["encoders"][n].get("finetuned"))] * tuned for n in encoders])
