"""The encoder registry itself: builders registered under their function names (see sslab.nets)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

Builder = Callable[..., nn.Module]
REGISTRY: dict[str, Builder] = {}


def register(fn: Builder) -> Builder:
    """Register an encoder builder under its function name; its docstring's first line describes it."""
    REGISTRY[fn.__name__] = fn
    return fn
