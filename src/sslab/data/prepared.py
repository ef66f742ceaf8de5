"""A folder written by `sslab prepare`: the images as one memory-mapped uint8 array, read without copying.

Layout (plain .npy files, no pickle): images.npy uint8 (N, C, H, W); labels.npy int64 (N,) (-1: unlabelled);
split-<name>.npy int64 sorted positions of each of the dataset's own splits; sslab.json: the class names,
the original format (whose views and encoder a study uses) and where the data came from. A study on such a
folder does not load it: `Images.x` is the memory-mapped array, and training, extraction and the probes read
it in chunks (`Images.mapped`), so a dataset larger than memory trains with bounded memory.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch

from sslab.data.files import DAMAGED, why
from sslab.data.images import SPLIT_NAMES, Images, Part, Source
from sslab.errors import SslabError

DESCRIPTION = "a folder from `sslab prepare` (images.npy, labels.npy, sslab.json)"
PRIORITY = 5
META = "sslab.json"


def detect(path: Path) -> bool:
    return path.is_dir() and (path / META).is_file() and (path / "images.npy").is_file()


def _arrays(path: Path) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], dict]:
    """The folder's arrays (images memory-mapped) and metadata, every one checked against the others."""
    try:
        meta = json.loads((path / META).read_text())
        x = np.load(path / "images.npy", mmap_mode="r", allow_pickle=False)
        y = np.load(path / "labels.npy", allow_pickle=False)
        splits = {s: np.load(path / f"split-{s}.npy", allow_pickle=False) for s in SPLIT_NAMES
                  if (path / f"split-{s}.npy").is_file()}
    except DAMAGED as e:
        raise SslabError(f"{path}: a damaged prepared folder ({why(e)}); prepare it again") from None
    names = meta.get("class_names") if isinstance(meta, dict) else None
    if not isinstance(names, list) or not all(isinstance(c, str) for c in names) or \
            not isinstance(meta.get("format", ""), str):
        raise SslabError(f"{path}: {META} must hold class_names (a list of names) and the format's name; "
                         f"prepare it again")
    if x.dtype != np.uint8 or x.ndim != 4 or y.shape != (len(x),) or y.dtype != np.int64:
        raise SslabError(f"{path}: images.npy must be uint8 (N, C, H, W) and labels.npy int64 (N,), got "
                         f"{x.dtype} {x.shape} and {y.dtype} {y.shape}")
    if len(y) and (y.min() < -1 or y.max() >= len(names)):
        raise SslabError(f"{path}: labels.npy holds {int(y.min())}..{int(y.max())}, but there are {len(names)} "
                         f"classes (-1: unlabelled)")
    for split, idx in splits.items():
        if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer) or \
                (len(idx) and (idx.min() < 0 or idx.max() >= len(x))):
            raise SslabError(f"{path}: split-{split}.npy must hold positions 0..{len(x) - 1}")
    return x, y, splits, meta


def mapped(path: Path) -> Images:
    """The prepared images as they are on disk: x is the memory-mapped array (read-only, never copied whole)."""
    x, y, splits, meta = _arrays(path)
    with warnings.catch_warnings():  # a read-only map: torch warns that writes would fail; nothing writes to it
        warnings.simplefilter("ignore", UserWarning)
        xt = torch.from_numpy(x)
    return Images(xt, torch.from_numpy(y), tuple(meta["class_names"]),
                  {k: torch.from_numpy(v.astype(np.int64)) for k, v in splits.items()}, None,
                  f"{meta.get('source', path)} (prepared in {path})", meta.get("format", "prepared"), mapped=True)


def original_format(path: Path) -> str:
    return _arrays(path)[3].get("format", "prepared")


def source(path: Path, image_size: int | None) -> Source:
    """The prepared folder as parts, for a subsample or a resize read into memory (`--n-images`, `--image-size`)."""
    x, y, splits, meta = _arrays(path)
    parts = splits or {"all": np.arange(len(x))}

    def reader(where: np.ndarray):
        def read(positions: np.ndarray):
            for i in range(0, len(positions), 4096):
                yield np.ascontiguousarray(x[where[positions[i:i + 4096]]])
        return read

    return Source(tuple(x.shape[1:]), tuple(meta["class_names"]),
                  {k: Part(len(v), reader(v), y[v] if (y[v] >= 0).any() else None)
                   for k, v in parts.items()})
