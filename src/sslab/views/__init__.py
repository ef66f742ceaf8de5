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

import ast
import dataclasses
import importlib
import pkgutil
from typing import Any, ClassVar

import torch

from sslab.errors import SslabError

__all__ = ["Recipe", "REGISTRY", "build", "listing", "register"]


@dataclasses.dataclass(frozen=True)
class Recipe:
    """The protocol; a recipe module subclasses it as a frozen dataclass and registers it."""

    name: ClassVar[str] = ""
    grey_skips: ClassVar[tuple[str, ...]] = ()  # operations left out on 1-channel images (they need colour)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """uint8 (B, C, H, W) -> float (B, C, H, W) in [0, 1]: one random view of each image (`draw`),
        always computed in fp32, whatever autocast is on (bf16 sampling grids would move sample points
        by up to about a tenth of a pixel)."""
        with torch.autocast(x.device.type, enabled=False):
            return self.draw(x, generator)

    def draw(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The recipe itself; subclasses define it (called through __call__)."""
        raise NotImplementedError

    @classmethod
    def description(cls) -> str:
        """The docstring's first line."""
        return (cls.__doc__ or "").strip().splitlines()[0]


REGISTRY: dict[str, type[Recipe]] = {}


def register(cls: type[Recipe]) -> type[Recipe]:
    """Class decorator: registers a recipe under the name of the module that defines it."""
    cls.name = cls.__module__.rsplit(".", 1)[-1]
    REGISTRY[cls.name] = cls
    return cls


def build(name: str, **overrides: Any) -> Recipe:
    """The recipe `name` with its defaults, some overridden.

    Overrides are checked against the recipe's fields (an unknown key is an SslabError naming them);
    strings are read as Python literals and lists become tuples, so CLI values pass through.
    """
    if name not in REGISTRY:
        raise SslabError(f"unknown view recipe {name!r}; known: {', '.join(REGISTRY)}")
    cls = REGISTRY[name]
    fields = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise SslabError(f"view recipe {name} has no setting {', '.join(map(repr, unknown))}; settings: {', '.join(fields)}")
    return cls(**{key: _literal(value) for key, value in overrides.items()})


def _literal(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
    return tuple(value) if isinstance(value, list) else value


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


# Checks the recipes' __post_init__ share; a bad setting is the user's to fix, hence SslabError.

def check_between(name: str, value: float, low: float = 0.0, high: float = float("inf")) -> None:
    if not low <= value <= high:
        raise SslabError(f"{name} must be in [{low}, {high}]; got {value}")


def check_range(name: str, value: tuple[float, float], low: float = 0.0, high: float = float("inf")) -> None:
    if len(value) != 2 or not low <= value[0] <= value[1] <= high:
        raise SslabError(f"{name} must be a range (lo, hi) with {low} <= lo <= hi <= {high}; got {value}")


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise SslabError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def check_kernel(name: str, value: int) -> None:
    if value < 1 or value % 2 == 0:
        raise SslabError(f"{name} must be a positive odd kernel size; got {value}")


for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
