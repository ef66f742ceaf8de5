"""What an analysis reads from a running study: the Context protocol (sslab.study provides it).

An analysis module's `run(ctx, cfg)` returns `(results, figures)`: its JSON-able results and {figure key:
sslab.plots.Plot}. It reads the study only through this protocol, so an analysis can be run on anything that
offers these (a test's hand-built encoders, a notebook's).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch

from sslab.plots import Plot

Figures = dict[str, Plot]


class Context(Protocol):
    """A study's trained, frozen encoders and what can be asked of them."""

    cfg: Any  # the StudyConfig: seed, split_seed, probe_C, ...
    images: Any  # sslab.data.Images: x, factors, class names
    split: Any  # sslab.data.splits.Split: train, labelled, val, test, transfer, y
    chance: float  # the majority class's share of the test images
    results: dict[str, dict[str, Any]]  # encoder -> its main probes' results (test_accuracy, variants, ...)
    methods: dict[str, Any]  # encoder -> its trained sslab.methods.Method

    @property
    def encoders(self) -> list[str]:
        """The encoders' names, in run order."""

    def log(self, message: str) -> None:
        """A line of progress."""

    def features(self, name: str, idx: torch.Tensor) -> torch.Tensor:
        """(len(idx), D) cached frozen features of encoder `name` for the images at idx."""

    def encode(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """(N, D) features of other uint8 images x (N, C, H, W) (e.g. generated pairs)."""

    def uses_labels(self, name: str) -> bool:
        """True for an encoder trained on labels (retrained where an analysis changes the labels)."""

    def view_recipe(self, name: str) -> Any:
        """The view recipe encoder `name` trained with (the study's for one trained without views): recipe(x, g)."""

    def layers(self, name: str) -> list[str]:
        """The stages of encoder `name`'s network, shallow to deep; [] for an encoder without one."""

    def layer_features(self, name: str, layer: str, idx: torch.Tensor) -> torch.Tensor:
        """(len(idx), D) pooled outputs of one stage of encoder `name` for the images at idx."""

    def sort_keys(self) -> dict[str, tuple[torch.Tensor, tuple[str, ...]]]:
        """Ways to group the images: each varying latent factor, then "class": ((N,) labels, level names)."""

    def new_probe(self) -> Any:
        """A fresh, unfitted linear probe of the study's kind (fit / score / confusion)."""

    def retrain_ahead(self, calls: list[tuple[str, torch.Tensor, torch.Tensor, float, str]]) -> None:
        """Say which retrain_and_probe calls (their arguments, in order) are coming: some may train meanwhile."""

    def retrain_and_probe(self, name: str, idx: torch.Tensor, y: torch.Tensor, epoch_scale: float,
                          tag: str) -> float:
        """Encoder `name` trained afresh on the images at idx (labels y), probed; its test accuracy."""

    def finetune(self, name: str, idx: torch.Tensor, y: torch.Tensor, test: torch.Tensor, cfg: Any,
                 variant: str | None = None, val: torch.Tensor | None = None) -> tuple[float, Any, float | None]:
        """A copy of `name` fine-tuned with a new head: (test accuracy, confusion, val accuracy or None)."""


Run = Callable[[Context, Any], tuple[dict[str, Any], Figures]]
