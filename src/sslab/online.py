"""Online evaluation: while an encoder trains, a kNN score of its frozen features every few epochs (the "online
kNN" of LightlySSL's and solo-learn's benchmarks), and the collapse such a curve can show.

    monitor = Online.of(MonitorConfig(every=5), split, seed=0)
    fit(method, x, y, gen, evaluate=lambda m, epoch: monitor(m, x, epoch, epochs))

At epoch 0 (before training) and every `every` epochs (always the last), the encoder's features of a fixed
random subset of the labelled training images (the bank) vote, as the study's final kNN probe does, for the
labels of a fixed subset of validation images; with `test`, also for every test image (LightlySSL's protocol
number: the maximum over epochs, which selects on test, so it is labelled as such). The bank's RankMe (the
effective rank of its features, sslab.analysis.rankme) is recorded beside, a label-free view of the same curve. Extraction runs in eval
mode under the training precision and leaves the network's mode and memory layout as they were, so
training with the monitor gives the same weights as without it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from sslab.analysis import rankme
from sslab.errors import SslabError
from sslab.probes import KNNProbe, finite
from sslab.train import extract

COLLAPSE_RISE = 0.05  # how far above the untrained network the best score must have risen to fall back from


@dataclass(frozen=True)
class MonitorConfig:
    """`--set monitor.KEY=VALUE`: the online kNN of every trained encoder of a study."""

    enabled: bool = True
    every: int = 0  # epochs between evaluations; 0: about 10 spread over the run (always the last epoch too)
    bank: int = 5000  # labelled training images whose features vote (a fixed random subset; 0: all of them)
    queries: int = 2000  # validation images scored (a fixed random subset; 0: all of them)
    test: bool = False  # also score every test image against the bank: a protocol number that selects on test
    patience: int = 3  # evaluations in a row fallen back towards the untrained network's score: collapse

    def __post_init__(self) -> None:
        for key in ("every", "bank", "queries"):
            if getattr(self, key) < 0:
                raise SslabError(f"monitor.{key} must be >= 0, got {getattr(self, key)}")
        if self.patience < 1:
            raise SslabError(f"monitor.patience must be at least 1, got {self.patience}")


@dataclass(frozen=True, eq=False)
class Online:
    """What one study's monitor evaluates: image indices and their labels, the kNN's settings."""

    cfg: MonitorConfig
    bank: torch.Tensor  # (B,) indices of the voting images
    bank_y: torch.Tensor
    queries: torch.Tensor  # (Q,) indices of the scored validation images
    queries_y: torch.Tensor
    test: torch.Tensor  # (T,) indices of the test images (empty unless cfg.test)
    test_y: torch.Tensor
    k: int = 20
    temperature: float = 0.07
    precision: str = "auto"
    channels_last: bool = True  # the training layout: extraction keeps the network in it

    @classmethod
    def of(cls, cfg: MonitorConfig, split: Any, seed: int, **knn: Any) -> "Online":
        """The monitor of a study's split (sslab.data.splits.Split): the subsets drawn from `seed`."""
        g = torch.Generator().manual_seed(seed)

        def subset(idx: torch.Tensor, n: int) -> torch.Tensor:
            return idx if not n or n >= len(idx) else idx[torch.randperm(len(idx), generator=g)[:n]].sort().values

        bank, queries = subset(split.labelled, cfg.bank), subset(split.val, cfg.queries)
        test = split.test if cfg.test else split.test[:0]
        return cls(cfg, bank, split.y[bank], queries, split.y[queries], test, split.y[test], **knn)

    def every(self, epochs: int) -> int:
        return self.cfg.every or max(1, round(epochs / 10))

    def due(self, epoch: int, epochs: int) -> bool:
        return self.cfg.enabled and (epoch == epochs or epoch % self.every(epochs) == 0)

    @torch.no_grad()
    def __call__(self, method: torch.nn.Module, x: torch.Tensor, epoch: int, epochs: int) -> dict[str, float]:
        """{"knn": validation accuracy[, "knn_test": test accuracy], "rankme": the bank's RankMe, "eval_seconds"}
        when epoch is due, else {}."""
        if not self.due(epoch, epochs) or not len(self.queries) and not len(self.test):
            return {}
        t0, training = time.perf_counter(), method.training
        features = lambda idx: extract(method, x, self.precision, idx=idx.to(x.device),  # noqa: E731
                                       channels_last=self.channels_last)
        bank = features(self.bank)
        knn = KNNProbe(self.k, self.temperature).fit(finite(bank)[0], self.bank_y)  # a diverged encoder's: zeros
        out = {"rankme": rankme(bank)}  # label-free: the effective rank of the bank's features
        if len(self.queries):
            out["knn"] = knn.score(finite(features(self.queries))[0], self.queries_y)
        if len(self.test):
            out["knn_test"] = knn.score(finite(features(self.test))[0], self.test_y)
        method.train(training)
        return out | {"eval_seconds": time.perf_counter() - t0}


def curve(history: list[dict[str, float]], key: str = "knn") -> list[tuple[int, float]]:
    """(epoch, score) of a training history's online evaluations: epoch 0 (the untrained network) first."""
    points = [(0, history[0][f"untrained_{key}"])] if history and f"untrained_{key}" in history[0] else []
    return points + [(e, r[key]) for e, r in enumerate(history, 1) if key in r]


def collapse(points: list[tuple[int, float]], patience: int = 3) -> dict[str, float] | None:
    """Where a curve (from `curve`, the untrained network's score first) rose at least COLLAPSE_RISE above the
    untrained network, then fell back below half-way to it for `patience` evaluations in a row: {"epoch" (the
    first of them), "best", "last", "untrained"}; None when it did not."""
    if len(points) < 2 or points[0][0] != 0:
        return None
    start, best, low = points[0][1], points[0][1], []
    for epoch, score in points[1:]:
        if best - start >= COLLAPSE_RISE and score < start + (best - start) / 2:
            low.append(epoch)
            if len(low) >= patience:
                return {"epoch": low[0], "best": best, "last": points[-1][1], "untrained": start}
        else:
            low = []
        best = max(best, score)
    return None
