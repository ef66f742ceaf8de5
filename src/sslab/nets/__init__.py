"""The encoder registry: one module per encoder family, each builder registered under its function name.

A builder `name(image_shape, **options) -> nn.Module` returns an encoder that maps float images
(B, C, H, W) in [0, 1] to features (B, feat_dim) and has an int attribute `feat_dim` (which can
depend on the input size). Registry key = function name = CLI name (`sslab encoders`).
`layer_features(module, "encoder.flatten")` takes any submodule's output as features instead; `blocks(net)`
names a network's stages (its `BLOCKS`, where it lists them), shallow to deep.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from sslab.errors import SslabError
from sslab.nets.base import REGISTRY, Builder, register

__all__ = ["REGISTRY", "Builder", "register", "build", "describe", "find_layer", "layer_features", "blocks", "pooled"]

for _mod in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_mod.name}")


def build(name: str, image_shape: tuple[int, int, int] = (1, 64, 64), **options) -> nn.Module:
    """The encoder `name` for images of `image_shape` (C, H, W), with the builder's `options`."""
    if name not in REGISTRY:
        raise SslabError(f"unknown encoder {name!r}; encoders: {', '.join(REGISTRY)}")
    if len(image_shape) != 3 or min(image_shape) < 1:
        raise SslabError(f"image_shape must be (C, H, W), got {tuple(image_shape)}")
    builder = REGISTRY[name]
    try:
        inspect.signature(builder).bind(tuple(image_shape), **options)
    except TypeError:
        known = [p for p in inspect.signature(builder).parameters if p != "image_shape"]
        raise SslabError(f"{name} has no option(s) {', '.join(map(repr, options))}; options: "
                         f"{', '.join(known) or 'none'}") from None
    net = builder(tuple(int(s) for s in image_shape), **options)
    assert isinstance(net.feat_dim, int), f"{name} must set an int feat_dim"
    return net


def describe(image_shape: tuple[int, int, int] = (1, 64, 64)) -> list[tuple[str, str, int | None]]:
    """(name, one-line description, feat_dim at image_shape) for every encoder; feat_dim None where
    the encoder cannot take images that small."""
    rows = []
    for name, builder in REGISTRY.items():
        doc = (builder.__doc__ or "").strip().split("\n")[0]
        try:
            with torch.device("meta"):  # no memory, no initialisation: only the widths are wanted
                feat_dim: int | None = build(name, image_shape).feat_dim
        except SslabError:
            feat_dim = None
        rows.append((name, doc, feat_dim))
    return rows


def find_layer(module: nn.Module, name: str) -> nn.Module:
    """The submodule of `module` called `name` (as in named_modules; "" is `module` itself)."""
    layers = dict(module.named_modules())
    if name not in layers:
        raise SslabError(f"no layer {name!r} in {type(module).__name__}; layers: "
                         f"{', '.join(n for n in layers if n)}")
    return layers[name]


class LayerOutput:
    """What `layer_features` captured: `.h`, the layer's last output in the block, flattened to (B, D)."""

    def __init__(self, name: str):
        self.name, self._h = name, None

    @property
    def h(self) -> torch.Tensor:
        if self._h is None:
            raise SslabError(f"layer {self.name!r} was not reached by the forward pass")
        return self._h


def blocks(net: nn.Module) -> list[str]:
    """The submodules whose outputs are a network's stages, shallow to deep (its last one gives the features):
    the network's own BLOCKS where it names them, else its direct children that hold parameters."""
    named = getattr(net, "BLOCKS", None)
    if named is not None:
        return list(named)
    return [n for n, m in net.named_children() if next(m.parameters(), None) is not None]


def pooled(h: torch.Tensor) -> torch.Tensor:
    """A layer's output as one vector per image, small enough for a probe: feature maps (B, C, H, W) average-pooled
    to at most 2x2 cells, tokens (B, T, D) averaged, then flattened."""
    if h.ndim == 4:
        h = F.adaptive_avg_pool2d(h, (min(2, h.shape[2]), min(2, h.shape[3])))
    elif h.ndim == 3:
        h = h.mean(1)
    return h.flatten(1)


@contextmanager
def layer_features(module: nn.Module, name: str, pool: bool = False) -> Iterator[LayerOutput]:
    """Capture the output of `module`'s submodule `name` during the forward passes run inside the block.

        with nets.layer_features(method, "encoder.flatten") as out:
            method.encoder(x)
        h = out.h  # (B, 1152) for a convnet at 28x28

    A module called several times in one pass (resnet's shared ReLU) keeps its last output. pool: each image's
    output reduced by `pooled` first (a block's feature maps as a few hundred numbers, not tens of thousands).
    """
    out = LayerOutput(name)

    def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        # clone: an in-place ReLU right after the layer would otherwise overwrite what was captured
        out._h = pooled(output) if pool else output.flatten(1).clone()

    handle = find_layer(module, name).register_forward_hook(hook)
    try:
        yield out
    finally:
        handle.remove()
