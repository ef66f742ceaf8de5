"""The method registry: one file per method, registered under its file name (= its CLI name).

A method owns its networks, its loss and its defaults; `sslab.train.fit` is the one loop that
trains them all. Encoders in a study are named `method` or `method-<k>neg` (SimCLR variants with
k random negatives per anchor), e.g. `simclr-2neg`.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import re
from typing import Any

from sslab.errors import SslabError
from sslab.methods.base import FAMILIES, REGISTRY, Method, TrainConfig, register
from sslab.settings import configure

__all__ = ["FAMILIES", "REGISTRY", "Method", "TrainConfig", "register", "parse_encoder", "family", "by_family",
           "make_config", "build", "create"]

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


def family(name: str) -> str:
    """The family key (methods.FAMILIES) of an encoder name's method."""
    return REGISTRY[parse_encoder(name)[0]].family


def by_family(names) -> list[str]:
    """Encoder names grouped by family, in FAMILIES' order (the given order within a family)."""
    order = list(FAMILIES)
    return sorted(names, key=lambda n: order.index(family(n)))


def make_config(method: str, overrides: dict[str, Any]) -> TrainConfig:
    """The method's default Config with `overrides` applied and checked. A method that trains nothing
    (its default epochs is 0) refuses the training settings (lr, batch_size, ...): they would be ignored."""
    cls = REGISTRY[method].Config
    untrained = frozenset(f.name for f in dataclasses.fields(TrainConfig)) if cls.epochs == 0 else frozenset()
    try:
        return configure(cls, overrides, method, ignored=untrained)
    except SslabError as e:
        raise SslabError(str(e) if str(e).startswith(method) else f"{method}.{e}") from None


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
