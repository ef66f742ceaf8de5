"""Fine-tuning: a trained encoder and a new linear head, trained end to end on labelled images.

The frozen probes (sslab.probes) ask what the features already hold; fine-tuning asks how good a
starting point the encoder is when its weights may move (the lab's transfer exercise, the blog's
protocol with 200 labels). `finetune` copies the method (the original stays as trained), puts a
Linear(feat_dim, k) head on the features it is evaluated on (or on one of its `variants()`, e.g.
SimCLR above its projection head) and trains both with the one training loop (sslab.train.fit):
AdamW, cosine decay, no augmentation. The head starts from the frozen linear probe fitted on the
same images (`head_init = "probe"`, LP-FT: Kumar et al. 2022), so fine-tuning starts where the probe
ends and a small learning rate does not first spend its steps, and the features, on a random head;
`"random"` is the lab's fresh head. BatchNorm layers keep the trained encoder's statistics
(`freeze_bn`): otherwise the few labelled images of one task replace them within a few steps, and
the features move away from those the head was fitted on (on RetinaMNIST's transfer task, 56 images
of 2 grades, the supervised encoder's fine-tuned accuracy fell to 26.8%, against 82.1% with them kept).
Encoders without trainable weights (raw pixels, PCA) have nothing to fine-tune: only their head
trains, which is a linear probe by SGD.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sslab.errors import SslabError
from sslab.methods import Method, TrainConfig
from sslab.probes import LinearProbe
from sslab.train import extract, fit


@dataclass(frozen=True)
class FinetuneConfig(TrainConfig):
    """The lab's transfer recipe by default: AdamW lr 1e-4, weight decay 1e-5, batch 128, 10 epochs."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-4
    weight_decay: float = 1e-5
    warmup_epochs: float = 0.0
    head_init: str = "probe"  # "probe": the frozen L-BFGS probe's weights (LP-FT); "random": a fresh head (the lab)
    freeze_bn: bool = True  # BatchNorm keeps the trained encoder's statistics (eval mode); False: batch statistics

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.head_init not in ("probe", "random"):
            raise SslabError(f"head_init must be probe or random, got {self.head_init!r}")


class FineTuned(Method):
    """A copy of a trained method with a new linear head on its features (or on one of its variants)."""

    name = "finetuned"

    def __init__(self, method: Method, n_classes: int, cfg: FinetuneConfig, variant: str | None = None,
                 feat_dim: int | None = None):
        super().__init__(cfg, (0, 0, 0), n_classes)
        self.inner = copy.deepcopy(method)
        self.inner.requires_grad_(True)  # e.g. DINO's teacher, when its features are the ones fine-tuned
        self.read = self.inner.variants()[variant] if variant is not None else self.inner.features
        self.head = nn.Linear(feat_dim, n_classes)

    def train(self, mode: bool = True) -> "FineTuned":
        super().train(mode)
        self.inner.train(mode and not self.cfg.freeze_bn)  # the method's own train() (DINO keeps its teacher in eval)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.read(x).float())  # (B, n_classes) logits

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self(x)  # extract() then reads logits

    def objective(self, inputs, generator=None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x, y = inputs
        loss = F.cross_entropy(self(x).float(), y)
        return loss, {"loss": loss.detach()}


def finetune(method: Method, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor, cfg: FinetuneConfig,
             generator: torch.Generator, precision: str = "auto", variant: str | None = None) -> FineTuned:
    """Fine-tune a copy of `method` with a new head on the images x[idx] (uint8 (N, C, H, W)) and their
    labels y[idx] (y: (N,) the task's labels 0..k-1 for every image of x, -1 outside it; the head has k
    outputs); returns the fine-tuned model in eval mode."""
    if len(idx) < 2:
        raise SslabError(f"fine-tuning needs at least 2 labelled images, got {len(idx)}")
    variants = method.variants()
    if variant is not None and variant not in variants:
        raise SslabError(f"{method.name} has no variant {variant!r}; variants: {', '.join(variants) or 'none'}")
    read = variants[variant] if variant is not None else None
    seen = idx if cfg.head_init == "probe" else idx[:2]  # the probe needs every image; a fresh head its width
    h = extract(method, x, precision, idx=seen.to(x.device), features=read)
    model = FineTuned(method, int(y.max()) + 1, cfg, variant, h.shape[1]).to(x.device)
    if cfg.head_init == "probe":
        _probe_head(model.head, LinearProbe().fit(h, y[idx].cpu()))
    fit(model, x, y, generator, precision, idx=idx)
    return model


@torch.no_grad()
def _probe_head(head: nn.Linear, probe: LinearProbe) -> None:
    """Set head to the probe's map, standardisation folded in; classes the probe never saw get a low bias."""
    w = (probe.coef_ / probe.std_[:, None]).T  # (k_seen, D)
    b = probe.intercept_ - (probe.mean_ / probe.std_) @ probe.coef_
    head.weight.zero_()
    head.bias.fill_(float(b.min()) - 10 if len(b) else 0.0)
    head.weight[probe.classes_] = w.to(head.weight)
    head.bias[probe.classes_] = b.to(head.bias)


def predict(model: FineTuned, x: torch.Tensor, idx: torch.Tensor, precision: str = "auto") -> torch.Tensor:
    """Predicted classes (len(idx),) of the images x[idx], on the CPU."""
    return extract(model, x, precision, idx=idx.to(x.device)).argmax(1)


def score(model: FineTuned, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor,
          precision: str = "auto") -> tuple[float, np.ndarray]:
    """(accuracy, (k, k) confusion counts: row = true class, column = predicted) on the images x[idx]."""
    import warnings

    from sklearn.metrics import confusion_matrix

    pred, true = predict(model, x, idx, precision), y[idx].cpu()
    with warnings.catch_warnings():  # a one-class task gives a (1, 1) matrix, which is what is meant
        warnings.simplefilter("ignore", UserWarning)
        confusion = confusion_matrix(true.numpy(), pred.numpy(), labels=list(range(model.head.out_features)))
    return float((pred == true).double().mean()), confusion
