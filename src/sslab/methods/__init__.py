"""The method registry: one file per method, registered under its file name (= its CLI name).

A method owns its networks, its loss and its defaults; `sslab.train.fit` is the one loop that
trains them all. Encoders in a study are named `method` or `method-<k>neg` (SimCLR variants with
k random negatives per anchor), e.g. `simclr-2neg`.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import pkgutil
import re
import types
import typing
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from sslab.errors import SslabError
from sslab.views.ops import to_float


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """What every method's config has; a method's own Config subclasses it with its defaults."""

    epochs: int = 0  # passes over the training images; 0 = nothing to train
    batch_size: int = 256  # images per step
    lr: float = 1e-3  # peak Adam learning rate, after a linear warm-up and before cosine decay
    warmup_epochs: float = 0.5  # linear warm-up length
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    clip_grad: float = 0.0  # clip the gradients' total norm to this before each step; 0: no clipping

    def __post_init__(self) -> None:
        if type(self).epochs > 0 and self.epochs <= 0:  # a method that trains by default needs epochs
            raise SslabError(f"epochs must be a positive number of epochs, got {self.epochs}")
        if type(self).epochs == 0 and self.epochs != 0:
            raise SslabError(f"epochs cannot be set: this method has nothing to train, got {self.epochs}")
        for key, positive in (("batch_size", True), ("lr", True), ("epochs", False), ("warmup_epochs", False),
                              ("weight_decay", False)):
            value = getattr(self, key)
            if value < 0 or (positive and value == 0):
                raise SslabError(f"{key} must be {'positive' if positive else '>= 0'}, got {value}")


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

    def figures(self) -> dict[str, tuple[Any, str]]:
        """Pictures of what this method learned, after training: {key: (sslab.plots.Plot, English caption)}
        (e.g. PCA's components; mark the caption with sslab.i18n.N_ to have it translated). Default: none."""
        return {}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) float in [0, 1] -> (B, D) frozen features; called in eval mode, no grad.
        Default: the output of `self.encoder`, or of the layer named by the config's `layer`."""
        from sslab.methods._net import frozen_features  # a helper module that imports this one

        return frozen_features(self, x)


REGISTRY: dict[str, type[Method]] = {}


def register(cls: type[Method]) -> type[Method]:
    cls.name = cls.__module__.rsplit(".", 1)[-1]
    REGISTRY[cls.name] = cls
    return cls


for _mod in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_mod.name}")

_VARIANT = re.compile(r"^(?P<method>[a-z_]+)-(?P<k>\d+)neg$")


def parse_encoder(name: str) -> tuple[str, dict[str, Any]]:
    """'simclr' -> ('simclr', {}); 'simclr-2neg' -> ('simclr', {'neg_pairs': 2})."""
    if name in REGISTRY:
        return name, {}
    m = _VARIANT.match(name)
    if m and m["method"] in REGISTRY and hasattr(REGISTRY[m["method"]].Config, "neg_pairs"):
        return m["method"], {"neg_pairs": int(m["k"])}
    raise SslabError(f"unknown method {name!r}; known: {', '.join(sorted(REGISTRY))} "
                     f"(and simclr-<k>neg for k random negatives)")


def make_config(method: str, overrides: dict[str, Any]) -> TrainConfig:
    """The method's default Config with `overrides` applied and checked."""
    cls = REGISTRY[method].Config
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in overrides.items():
        if key not in fields:
            raise SslabError(f"{method} has no setting {key!r}; settings: {', '.join(fields)}")
        values[key] = coerce(f"{method}.{key}", value, hints[key])
    try:
        return cls(**values)
    except SslabError as e:
        raise SslabError(f"{method}.{e}") from None


def coerce(key: str, value: Any, annotation: Any) -> Any:
    """A setting's value (a --set string, or a TOML value) -> the type its field is annotated with.

    Strings are parsed as Python literals ('0.1', '2', 'none', 'true', '(0.5, 1.0)'); ints pass as
    floats; anything else that does not match the annotation is one clear error.
    """
    if isinstance(value, str):
        try:
            value = ast.literal_eval({"true": "True", "false": "False", "none": "None"}.get(value.lower(), value))
        except (ValueError, SyntaxError):
            pass  # a plain string, e.g. an encoder name
    allowed = typing.get_args(annotation) if isinstance(annotation, types.UnionType) or \
        typing.get_origin(annotation) is typing.Union else (annotation,)
    for t in allowed:
        base = typing.get_origin(t) or t
        if t is type(None) and value is None:
            return None
        if base is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if base is tuple and isinstance(value, list):
            value = tuple(value)
        if isinstance(base, type) and isinstance(value, base) and not (base is int and isinstance(value, bool)):
            return value
    names = " or ".join("none" if t is type(None) else getattr(typing.get_origin(t) or t, "__name__", str(t))
                        for t in allowed)
    raise SslabError(f"{key}: expected {names}, got {value!r}")


def build(encoder: str, image_shape: tuple[int, int, int], n_classes: int, overrides: dict[str, Any] | None = None) -> Method:
    """Build the method behind an encoder name, with its config overridden by `overrides`."""
    method, variant = parse_encoder(encoder)
    return create(encoder, make_config(method, {**variant, **(overrides or {})}), image_shape, n_classes)


def create(encoder: str, cfg: TrainConfig, image_shape: tuple[int, int, int], n_classes: int) -> Method:
    """Build the method behind an encoder name from an already resolved config."""
    method = REGISTRY[parse_encoder(encoder)[0]](cfg, image_shape, n_classes)
    if getattr(cfg, "layer", ""):
        from sslab.nets import find_layer

        find_layer(method, cfg.layer)  # an unknown layer fails when the method is built, not after training
    return method
