"""Fine-tuning on the labelled images (the blog's protocol): each trained encoder with a new linear head,
trained end to end on the study's labelled images, beside its frozen linear probe on the same images.
With `variants`, each variant of an encoder (SimCLR above its projection head, DINO's teacher) is
fine-tuned too: the blog's question of whether to keep the head. Not in the default analyses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sslab import plots
from sslab.finetune import FinetuneConfig

QUESTION = "How many labels do they need?"
ORDER = 35
NEEDS = ()
DEFAULT = False  # runs when a study names it (or `--analyses all`)


@dataclass(frozen=True)
class Config(FinetuneConfig):
    """The fine-tuning recipe (AdamW, warm-up-free cosine decay, no augmentation); variants: fine-tune those too."""

    variants: bool = True


FIGURES = {
    "finetune": "Test accuracy of each encoder's frozen linear probe and of the encoder fine-tuned end to end with "
                "a new linear head, both trained on the same labelled images; rows in brackets read the encoder "
                "elsewhere (e.g. above SimCLR's projection head, which fine-tuning then keeps).",
}


def run(s, cfg: Config) -> dict[str, Any]:
    split = s.split
    out: dict[str, Any] = {"n_labelled": len(split.labelled), "epochs": cfg.epochs, "lr": cfg.lr,
                           "batch_size": cfg.batch_size, "encoders": {}}
    for name in s.h:
        reads = {name: None} | ({f"{name} ({v})": v for v in s.methods[name].variants()} if cfg.variants else {})
        for label, variant in reads.items():
            r = s.results[name] if variant is None else s.results[name]["variants"][variant]
            acc, _, val = s.finetune(name, split.labelled, split.y, split.test, cfg, variant, val=split.val)
            out["encoders"][label] = {"frozen": r["test_accuracy"], "finetuned": acc,
                                      "frozen_val": r["val_accuracy"], "finetuned_val": val}
            s.log(f"  {label}: frozen probe {r['test_accuracy']:.1%}, fine-tuned {acc:.1%}")
    s.figures["finetune"] = plots.grouped_bars(
        {n: {"frozen linear probe": r["frozen"], "fine-tuned": r["finetuned"]} for n, r in out["encoders"].items()},
        s.chance, "test accuracy")
    return out


def table(r: dict[str, Any], encoders: list[str]) -> str:
    from sslab.report import pct, table as html_table

    head = (f"<p>Each encoder fine-tuned with a new linear head on the {r['n_labelled']} labelled training images "
            f"({r['epochs']} epochs, AdamW lr {r['lr']:g}, batch {r['batch_size']}, no augmentation).</p>")
    return head + html_table(["encoder", "frozen linear probe", "fine-tuned"],
                             [[n, pct(v["frozen"]), f"<b>{pct(v['finetuned'])}</b>"] for n, v in r["encoders"].items()])
