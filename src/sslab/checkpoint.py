"""Training checkpoints: one safetensors file per encoder, written atomically (a temporary file, then a rename).

The file holds the method's weights (`model/...`), the optimiser's state (`optim/<i>/<key>`) and every
random state the loop draws from (`rng/...`: torch's global generator, the loop's generators, CUDA's);
epoch, step, the history so far and the method's config go in the file's metadata as JSON. Weights and
training state live in one file, so a run killed at any moment leaves either the previous checkpoint
or the new one, never a mix. Nothing here is pickled: loading a checkpoint runs no code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from sslab import atomic
from sslab.errors import SslabError


def save(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, generators: dict[str, torch.Generator],
         meta: dict[str, Any]) -> None:
    """Write `model`, `opt`, the generators' states, torch's global RNG states and `meta` (JSON-able) to path."""
    tensors = {f"model/{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    for i, state in opt.state_dict()["state"].items():
        for k, v in state.items():
            tensors[f"optim/{i}/{k}"] = torch.as_tensor(v).detach().cpu().contiguous()
    tensors |= {f"rng/{k}": g.get_state() for k, g in generators.items()}
    tensors["rng/torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors |= {f"rng/cuda{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())}
    # the old checkpoint until the new one is whole: a full disk or an interrupt keeps the last good one
    atomic.replace(path, lambda tmp: save_file(tensors, str(tmp), metadata={"meta": json.dumps(meta)}))


def read_meta(path: Path) -> dict[str, Any]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as f:
            return json.loads((f.metadata() or {})["meta"])
    except (SafetensorError, KeyError, ValueError, OSError) as e:
        raise SslabError(f"{path} is not an sslab checkpoint: {e}") from None


def load(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer,
         generators: dict[str, torch.Generator]) -> dict[str, Any]:
    """Restore what `save` wrote into model, opt and the generators (and torch's RNGs); returns its meta."""
    meta = read_meta(path)
    tensors = load_file(str(path))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model/")})
    state: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in tensors.items():
        if k.startswith("optim/"):
            _, i, key = k.split("/", 2)
            state.setdefault(int(i), {})[key] = v
    # the optimiser moves its state to its parameters' device itself (the step counter stays a CPU scalar)
    opt.load_state_dict({"state": state, "param_groups": opt.state_dict()["param_groups"]})
    for k, g in generators.items():
        g.set_state(tensors[f"rng/{k}"])
    torch.set_rng_state(tensors["rng/torch"])
    cuda = [tensors[k] for k in sorted((t for t in tensors if t.startswith("rng/cuda")), key=_device_index)]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    return meta


def _device_index(key: str) -> int:
    """'rng/cuda10' -> 10: CUDA states are restored in device order (as text, cuda10 would sort before cuda2)."""
    return int(key.removeprefix("rng/cuda"))
