"""What every view recipe shares: the Recipe protocol, the registry, and the checks of their settings."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch

from sslab.errors import SslabError


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
