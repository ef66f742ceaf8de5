"""What every method with a network shares: which encoder it builds and which layer gives its features.

A helper, not a method: it registers nothing (the registry imports it like any module of the
package, but only `@register` adds a method).
"""

from __future__ import annotations

from dataclasses import dataclass

from sslab import nets
from sslab.errors import SslabError
from sslab.methods.base import TrainConfig


@dataclass(frozen=True)
class NetConfig(TrainConfig):
    """TrainConfig plus the network: a method with an encoder subclasses this for its defaults."""

    encoder: str = "encoder_core"  # the encoder to build, a name from `sslab encoders` (sslab.nets)
    layer: str = ""  # "": the encoder's output are the features; else a submodule of the method, e.g. "encoder.flatten"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.encoder not in nets.REGISTRY:
            raise SslabError(f"encoder {self.encoder!r} is unknown; encoders: {', '.join(nets.REGISTRY)}")
