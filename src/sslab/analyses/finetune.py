"""Fine-tuning on the labelled images (the blog's protocol): each trained encoder with a new linear head,
trained end to end on the study's labelled images, beside its frozen linear probe on the same images.
With `variants`, each variant of an encoder (SimCLR above its projection head, DINO's teacher) is
fine-tuned too: the blog's question of whether to keep the head. Not in the default analyses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sslab import plots
from sslab.finetune import FinetuneConfig
from sslab.i18n import N_, _
from sslab.html import pct, table as html_table
from sslab.analyses.base import Context, Figures

QUESTION = N_("How many labels do they need?")
ORDER = 35
NEEDS = ()
DEFAULT = False  # runs when a study names it (or `--analyses all`)


@dataclass(frozen=True)
class Config(FinetuneConfig):
    """The fine-tuning recipe (AdamW, warm-up-free cosine decay, no augmentation); variants: fine-tune those too."""

    variants: bool = True


QUICK = {"epochs": 3}  # --quick: as many epochs as the encoders get


FIGURES = {
    "finetune": N_("Test accuracy of each encoder's frozen linear probe and of the encoder fine-tuned end to end with "
                "a new linear head, both trained on the same labelled images; rows in brackets read the encoder "
                "elsewhere (e.g. above SimCLR's projection head, which fine-tuning then keeps)."),
}


def run(s: Context, cfg: Config) -> tuple[dict[str, Any], Figures]:
    split = s.split
    out: dict[str, Any] = {"n_labelled": len(split.labelled), "epochs": cfg.epochs, "lr": cfg.lr,
                           "batch_size": cfg.batch_size, "encoders": {}}
    for name in s.encoders:
        reads = {name: None} | ({f"{name} ({v})": v for v in s.methods[name].variants()} if cfg.variants else {})
        for label, variant in reads.items():
            r = s.results[name] if variant is None else s.results[name]["variants"][variant]
            acc, _model, val = s.finetune(name, split.labelled, split.y, split.test, cfg, variant, val=split.val)
            out["encoders"][label] = {"frozen": r["test_accuracy"], "finetuned": acc,
                                      "frozen_val": r["val_accuracy"], "finetuned_val": val}
            s.log(f"  {label}: frozen probe {r['test_accuracy']:.1%}, fine-tuned {acc:.1%}")
    bars = plots.later(plots.grouped_bars, {n: {N_("frozen linear probe"): r["frozen"], N_("fine-tuned"): r["finetuned"]}
                                            for n, r in out["encoders"].items()}, s.chance, N_("test accuracy"))
    return out, {"finetune": bars}


def table(r: dict[str, Any], encoders: list[str]) -> str:
    head = "<p>" + _("Each encoder fine-tuned with a new linear head on the {n} labelled training images ({epochs} "
                     "epochs, AdamW lr {lr}, batch {batch}, no augmentation).").format(
        n=r["n_labelled"], epochs=r["epochs"], lr=f"{r['lr']:g}", batch=r["batch_size"]) + "</p>"
    return head + html_table([_("encoder"), _("frozen linear probe"), _("fine-tuned")],
                             [[n, pct(v["frozen"]), f"<b>{pct(v['finetuned'])}</b>"] for n, v in r["encoders"].items()])
