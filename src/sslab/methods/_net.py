"""What every method with a network shares: which encoder it builds and which layer gives its features.

A helper, not a method: it registers nothing (the registry imports it like any module of the
package, but only `@register` adds a method).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sslab import nets
from sslab.errors import SslabError
from sslab.methods import Method, TrainConfig


@dataclass(frozen=True)
class NetConfig(TrainConfig):
    """TrainConfig plus the network: a method with an encoder subclasses this for its defaults."""

    encoder: str = "encoder_core"  # the encoder to build, a name from `sslab encoders` (sslab.nets)
    layer: str = ""  # "": the encoder's output are the features; else a submodule of the method, e.g. "encoder.flatten"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.encoder not in nets.REGISTRY:
            raise SslabError(f"encoder {self.encoder!r} is unknown; encoders: {', '.join(nets.REGISTRY)}")


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
