"""What every method shares: the training settings, the Method protocol, the registry, and frozen features."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from sslab import nets
from sslab.errors import SslabError
from sslab.i18n import N_
from sslab.views.ops import to_float

# The families a report groups encoders by, in its order: key -> what the report calls it
FAMILIES = {"baseline": N_("baselines"), "reconstruction": N_("reconstruction"), "supervised": N_("supervised"),
            "contrastive": N_("contrastive"), "distillation": N_("distillation / momentum"),
            "redundancy": N_("redundancy reduction"), "clustering": N_("clustering"),
            "masked": N_("masked modelling")}


OPTIMIZERS = ("adamw", "sgd")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """What every method's config has; a method's own Config subclasses it with its defaults."""

    epochs: int = 0  # passes over the training images; 0 = nothing to train
    batch_size: int = 256  # images per step
    lr: float = 1e-3  # peak Adam learning rate, after a linear warm-up and before cosine decay
    warmup_epochs: float = 0.5  # linear warm-up length
    weight_decay: float = 0.0  # AdamW's decoupled weight decay (SGD's: L2 added to the gradient)
    optimizer: str = "adamw"  # "adamw", or "sgd" (momentum 0.9: LightlySSL's CIFAR-10 benchmark's)
    clip_grad: float = 0.0  # clip the gradients' total norm to this before each step; 0: no clipping
    clip_per_parameter: bool = False  # clip each parameter tensor's gradient norm instead (DINO's official code)

    def __post_init__(self) -> None:
        if type(self).epochs > 0 and self.epochs <= 0:  # a method that trains by default needs epochs
            raise SslabError(f"epochs must be a positive number of epochs, got {self.epochs}")
        if type(self).epochs == 0 and self.epochs != 0:
            raise SslabError(f"epochs cannot be set: this method has nothing to train, got {self.epochs}")
        require(self, positive=("batch_size", "lr"), non_negative=("epochs", "warmup_epochs", "weight_decay"))
        if self.optimizer not in OPTIMIZERS:
            raise SslabError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")


def require(cfg: Any, positive: tuple[str, ...] = (), non_negative: tuple[str, ...] = ()) -> None:
    """Raise SslabError naming the first of cfg's settings `positive` that is not > 0, or `non_negative` below 0."""
    for key in positive:
        if not getattr(cfg, key) > 0:
            raise SslabError(f"{key} must be positive, got {getattr(cfg, key)}")
    for key in non_negative:
        if getattr(cfg, key) < 0:
            raise SslabError(f"{key} must be >= 0, got {getattr(cfg, key)}")


class Method(nn.Module):
    """The protocol: one training step is `objective(inputs(x, y, generator), generator)`; `features(x)`
    is what frozen evaluation reads.

    x is a uint8 batch (B, C, H, W); y the (B,) labels of the study's target (only supervised
    methods read them). `inputs` is the data side of a step (augmented views, noise: everything random,
    drawn from the generator); `objective` the model side (forward pass and loss), which is what
    DistributedDataParallel wraps and what `sslab bench` times apart from the data side.
    Subclasses set `Config` and build their networks in __init__.
    """

    Config: ClassVar[type[TrainConfig]] = TrainConfig
    name: ClassVar[str] = ""
    uses_labels: ClassVar[bool] = False  # True: trained on labels, so label-efficiency studies retrain it
    family: ClassVar[str] = "baseline"  # a key of FAMILIES

    @classmethod
    def accepts(cls, encoder: str) -> bool:
        """Whether this method can build on the encoder `encoder` (a study gives it the data's default only if so)."""
        return True

    def __init__(self, cfg: TrainConfig, image_shape: tuple[int, int, int], n_classes: int):
        super().__init__()
        self.cfg = cfg

    def prepare(self, x: torch.Tensor, generator: torch.Generator) -> None:
        """Called once with the training images before training (default: nothing)."""

    def inputs(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        """A uint8 batch and its labels -> the tensors `objective` reads (default: float images in [0, 1], labels)."""
        return to_float(x), y

    def objective(self, inputs: tuple[torch.Tensor, ...], generator: torch.Generator | None = None
                  ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss on one batch of `inputs`, and what to log as 0-d tensors left on the device (no `.item()`).
        Under torch.distributed each rank holds its shard of the global batch; see sslab.distributed."""
        raise NotImplementedError

    def loss(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One step's loss and logs on a uint8 batch: objective(inputs(x, y, generator))."""
        return self.objective(self.inputs(x, y, generator), generator)

    def after_step(self, progress: float) -> None:
        """Called after every optimiser step with the share of training done, in (0, 1] (DINO's EMA teacher)."""

    def variants(self) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
        """Other features worth probing beside `features`, by name: e.g. SimCLR's above its projection
        head, DINO's teacher. Each maps (B, C, H, W) float in [0, 1] to (B, D'). Default: none."""
        return {}

    def note(self) -> str:
        """One line worth telling the user once the method is built (e.g. what a weights file held beyond the
        encoder); a study logs it. Default: nothing."""
        return ""

    def figures(self) -> dict[str, tuple[Any, str]]:
        """Pictures of what this method learned, after training: {key: (sslab.plots.Plot, English caption)}
        (e.g. PCA's components; mark the caption with sslab.i18n.N_ to have it translated). Default: none."""
        return {}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) float in [0, 1] -> (B, D) frozen features; called in eval mode, no grad.
        Default: the output of `self.encoder`, or of the layer named by the config's `layer`."""
        return frozen_features(self, x)


REGISTRY: dict[str, type[Method]] = {}


def register(cls: type[Method]) -> type[Method]:
    cls.name = cls.__module__.rsplit(".", 1)[-1]
    REGISTRY[cls.name] = cls
    return cls


def frozen_features(method: Method, x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) float -> (B, D): `method.encoder(x)`, or the output of the layer `method.cfg.layer`.

    A layer inside the encoder needs only the encoder's pass; any other (a projection head, a
    classifier) is reached through `method(x)`, the method's whole forward pass.
    """
    layer = method.cfg.layer
    if not layer:
        return method.encoder(x)
    in_encoder = layer == "encoder" or layer.startswith("encoder.")
    with nets.layer_features(method, layer) as out:
        method.encoder(x) if in_encoder else method(x)
    return out.h
