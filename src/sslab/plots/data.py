"""A figure as data: the name of a plot function and its arguments, saved as JSON + safetensors (no pickle).

A study does not draw while it runs: it keeps each figure as a `Plot`, saved in the run folder
(figures/<key>.json, arrays in figures/<key>.safetensors), and the report draws them when it is rendered,
so figures follow the report's language and style. No matplotlib here: methods and analyses describe their
figures without drawing them.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class Plot:
    """A figure as data: `plots.<kind>(**args)`, drawn when the report is rendered."""
    kind: str
    args: dict[str, Any]


def later(fn: Callable[..., Any], *args, **kwargs) -> Plot:
    """Plot(fn's name, its arguments by name): what fn(*args, **kwargs) would draw, drawn later."""
    bound = inspect.signature(fn).bind(*args, **kwargs)
    return Plot(fn.__name__, dict(bound.arguments))


def save_plot(plot: Plot, path: Path) -> None:
    """path.json (the kind and the arguments' structure) and path.safetensors (its arrays, if any)."""
    from safetensors.torch import save_file

    arrays: dict[str, torch.Tensor] = {}
    spec = {"kind": plot.kind, "args": _encode(plot.args, arrays)}
    path.parent.mkdir(parents=True, exist_ok=True)
    if arrays:
        save_file(arrays, str(path.with_suffix(".safetensors")))
    path.with_suffix(".json").write_text(json.dumps(spec))


def load_plot(path: Path) -> Plot:
    """What save_plot wrote (no pickle: JSON and safetensors only)."""
    from safetensors.torch import load_file

    spec = json.loads(path.with_suffix(".json").read_text())
    arrays_file = path.with_suffix(".safetensors")
    arrays = load_file(str(arrays_file)) if arrays_file.is_file() else {}
    return Plot(spec["kind"], _decode(spec["args"], arrays))


def _encode(v: Any, arrays: dict[str, torch.Tensor]) -> Any:
    if isinstance(v, (torch.Tensor, np.ndarray)):
        key = str(len(arrays))
        arrays[key] = torch.as_tensor(v).detach().cpu().contiguous().clone()
        return {"$array": key, "numpy": isinstance(v, np.ndarray)}
    if isinstance(v, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in v):
            return {k: _encode(x, arrays) for k, x in v.items()}
        return {"$items": [[_encode(k, arrays), _encode(x, arrays)] for k, x in v.items()]}
    if isinstance(v, (list, tuple)):
        return [_encode(x, arrays) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    raise TypeError(f"a figure's argument cannot be saved: {type(v).__name__}")


def _decode(v: Any, arrays: dict[str, torch.Tensor]) -> Any:
    if isinstance(v, dict):
        if "$array" in v:
            t = arrays[v["$array"]]
            return t.numpy() if v["numpy"] else t
        if "$items" in v:
            return {_decode(k, arrays): _decode(x, arrays) for k, x in v["$items"]}
        return {k: _decode(x, arrays) for k, x in v.items()}
    if isinstance(v, list):
        return [_decode(x, arrays) for x in v]
    return v
