"""Trained encoders on disk: the run folder's own (`encoders/`, what `sslab run --resume` keeps) and the
encoder cache shared by every study (`$SSLAB_CACHE`, default ~/.cache/sslab/encoders), keyed by a hash of
what determines the weights: the data, the training images and their labels, the method and its settings
(encoder, view recipe, epochs ...), the seed, the precision, the loop's layout and order options (channels_last,
compile, chunked reading) and the sslab version. Not the device nor the number of processes: an encoder trained
on GPUs is reused on a CPU.

An entry is NAME.safetensors (the method's state) and NAME.json (its training history, written last, so an
entry without one is unfinished and ignored). Nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from sslab import atomic


def cache_dir() -> Path:
    return Path(os.environ.get("SSLAB_CACHE") or Path.home() / ".cache" / "sslab") / "encoders"


def digest(t: torch.Tensor) -> str:
    """A hash of a tensor's values, shape and dtype (a uint8 image set of 1 GB: about a second)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{tuple(t.shape)}{t.dtype}".encode())
    a = t.detach().cpu().contiguous()
    h.update(memoryview(a.view(torch.uint8).numpy() if a.dtype != torch.bool else a.numpy().astype(np.uint8)))
    return h.hexdigest()


def key(parts: dict[str, Any]) -> str:
    """The cache key of an encoder: a hash of `parts` (JSON-able)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def save(folder: Path, name: str, method: torch.nn.Module, meta: dict[str, Any]) -> None:
    """Store method's state and meta as folder/name.{safetensors,json}, each written atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in method.state_dict().items()}
    weights, info = folder / f"{name}.safetensors", folder / f"{name}.json"
    for path, write in ((weights, lambda p: save_file(state, str(p))),
                        (info, lambda p: p.write_text(json.dumps(meta, default=str)))):
        atomic.replace(path, write, f".{os.getpid()}.tmp")  # several processes may store one entry


def load(folder: Path, name: str, method: torch.nn.Module) -> dict[str, Any] | None:
    """Load folder/name into method and return its meta; None when there is no finished entry (or a broken one)."""
    weights, info = folder / f"{name}.safetensors", folder / f"{name}.json"
    if not (weights.is_file() and info.is_file()):
        return None
    try:
        meta = json.loads(info.read_text())
        method.load_state_dict(load_file(str(weights)))  # copied into the method's tensors, on their device
    except (SafetensorError, ValueError, RuntimeError, OSError):
        return None  # a damaged or foreign entry is retrained, not trusted
    return meta
