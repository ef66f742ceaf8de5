"""View recipes: one module per recipe, registered under its file name (= its CLI name).

A recipe is a frozen dataclass of its settings with the teaching material's defaults. Called as
`recipe(x, generator)` on a uint8 batch (B, C, H, W) on any device, it returns ONE random view of
each image, float (B, C, H, W) in [0, 1] (multicrop returns a list of crops), computed in fp32 even
under autocast; a recipe module defines `draw(x, generator)`. Every image gets its
own random parameters, all drawn from the explicit generator (on x's device), so generators seeded
alike give identical views; the batch is transformed at once (sslab.views.ops), never image by image.
On 1-channel images a recipe skips what needs colour (`grey_skips`); brightness and contrast still apply.

    recipe = views.build("simclr", scale=(0.2, 1.0))
    v1, v2 = recipe(x, g), recipe(x, g)     # two views of each image, for SimCLR
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from typing import Any

from sslab.errors import SslabError
from sslab.settings import configure
from sslab.views.base import REGISTRY, Recipe, register

__all__ = ["Recipe", "REGISTRY", "build", "listing", "register"]


def build(name: str, **overrides: Any) -> Recipe:
    """The recipe `name` with its defaults, some overridden (checked and read as sslab.settings reads every
    setting, so CLI strings pass through)."""
    if name not in REGISTRY:
        raise SslabError(f"unknown view recipe {name!r}; known: {', '.join(REGISTRY)}")
    return configure(REGISTRY[name], overrides, name, f"view recipe {name}")


def listing() -> str:
    """What `sslab views` prints: per recipe its description, its settings and what it skips on grey images."""
    lines = []
    for name, cls in REGISTRY.items():
        settings = ", ".join(f"{f.name}={_short(getattr(cls(), f.name))}" for f in dataclasses.fields(cls))
        skips = ", ".join(cls.grey_skips) or "nothing"
        lines += [f"{name}: {cls.description()}", f"    settings: {settings}", f"    on grey (1-channel) images skips: {skips}"]
    return "\n".join(lines)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, tuple):
        return "(" + ", ".join(map(_short, value)) + ")"
    return repr(value)


for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
