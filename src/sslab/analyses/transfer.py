"""Transfer: how well each encoder serves classes it never saw labelled (the lab's held-out classes):
a fresh linear and kNN probe on the held-out classes' labelled images, on the frozen features, and
the encoder fine-tuned end to end with a new linear head on the same images (sslab.finetune)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sslab import plots, probes
from sslab.finetune import FinetuneConfig
from sslab.probes import KNNProbe
from sslab.i18n import N_, _
from sslab.html import pct, table as html_table
from sslab.analyses.base import Context, Figures

QUESTION = N_("Do the features transfer to classes held out from training?")
ORDER = 40
NEEDS = ("holdout",)


@dataclass(frozen=True)
class Config(FinetuneConfig):
    """The fine-tuning recipe (the lab's: AdamW lr 1e-4, wd 1e-5, batch 128, 10 epochs); finetune=False: frozen only."""

    finetune: bool = True


QUICK = {"epochs": 3}  # --quick: as many epochs as the encoders get


FIGURES = {
    "transfer": N_("Test accuracy on the held-out classes of a linear probe (and a kNN probe) fitted on their few "
                "labelled images, on each encoder's frozen features, and of the encoder fine-tuned end to end with "
                "a new linear head on the same images; no encoder saw these classes' labels before."),
    "transfer_confusion": N_("Confusion matrices of the frozen transfer probes (rows: true held-out class, columns: "
                          "predicted), each row normalised."),
    "transfer_confusion_finetuned": N_("The same after fine-tuning each encoder on the held-out classes."),
}


def run(s: Context, cfg: Config) -> tuple[dict[str, Any], Figures]:
    t = s.split.transfer
    y_fit, y_test = t.y[t.train], t.y[t.test]
    names = [s.images.class_names[c] for c in t.classes]
    out: dict[str, Any] = {"classes": names, "n_train": len(t.train), "n_test": len(t.test),
                           "chance": probes.chance(y_test), "encoders": {}}
    confusions, tuned = {}, {}
    for name in s.encoders:
        h_fit, h_test = s.features(name, t.train), s.features(name, t.test)
        probe = s.new_probe().fit(h_fit, y_fit)
        r = out["encoders"][name] = {"linear": probe.score(h_test, y_test),
                                     "knn": KNNProbe().fit(h_fit, y_fit).score(h_test, y_test)}
        confusions[name] = probe.confusion(h_test, y_test)
        if cfg.finetune:
            r["finetuned"], tuned[name], _val = s.finetune(name, t.train, t.y, t.test, cfg)
        s.log(f"  {name}: held-out classes, linear {r['linear']:.1%}, kNN {r['knn']:.1%}"
              + (f", fine-tuned {r['finetuned']:.1%}" if cfg.finetune else ""))
    bars = {N_("linear probe"): "linear", "kNN": "knn"} | ({N_("fine-tuned"): "finetuned"} if cfg.finetune else {})
    figures = {}
    figures["transfer"] = plots.later(plots.grouped_bars, {n: {label: r[key] for label, key in bars.items()}
                                                for n, r in out["encoders"].items()},
                                               out["chance"], N_("held-out test accuracy"))
    figures["transfer_confusion"] = plots.later(plots.confusions, confusions, names)
    out["confusion"] = {k: v.tolist() for k, v in confusions.items()}
    if tuned:
        figures["transfer_confusion_finetuned"] = plots.later(plots.confusions, tuned, names)
        out["confusion_finetuned"] = {k: v.tolist() for k, v in tuned.items()}
    return out, figures


def table(r: dict[str, Any], encoders: list[str]) -> str:
    head = "<p>" + _("Held-out classes: {classes}; probes fit on {n_train} labelled training images of them, tested "
                     "on their {n_test} test images (majority-class rate {chance}).").format(
        classes=", ".join(r["classes"]), n_train=r["n_train"], n_test=r["n_test"], chance=pct(r["chance"])) + "</p>"
    tuned = any("finetuned" in e for e in r["encoders"].values())
    return head + html_table([_("encoder"), _("linear probe (frozen)"), _("kNN (frozen)")] + [_("fine-tuned")] * tuned,
                             [[n, pct(r["encoders"][n]["linear"]), pct(r["encoders"][n]["knn"])]
                              + [pct(r["encoders"][n].get("finetuned"))] * tuned for n in encoders])
