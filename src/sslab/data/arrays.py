"""Numpy arrays or tensors already in memory: `sslab.data.from_arrays(x, y, class_names, splits)`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sslab.data.images import MAX_CLASSES, SPLIT_NAMES, Images
from sslab.errors import SslabError

DESCRIPTION = "arrays in memory, through the Python API: sslab.data.from_arrays(x, y)"
VIEWS = "simclr"
ENCODER = None  # chosen by image size
PRIORITY = 100  # API only: never detected from a path


def detect(path: Path) -> bool:
    return False  # never a file


def source(path: Path, image_size: int | None = None):
    raise SslabError("arrays are passed in memory with sslab.data.from_arrays, not read from a path")


def from_arrays(x, y=None, class_names=None, splits=None) -> Images:
    """Images from arrays in memory.

    x: uint8 images (N, H, W) grey, (N, H, W, C) channels-last with C in 1, 3, 4, or (N, C, H, W);
      a float array in [0, 1] is scaled to 0..255. y: (N,) integer labels 0..k-1 (-1: unlabelled),
      or None. class_names: k names (default "0".."k-1"). splits: {"train"|"val"|"test"|"unlabeled":
      indices}. Uses the array's memory where it already is uint8 (N, C, H, W).
    """
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if t.ndim == 3:
        t = t.unsqueeze(1)
    elif t.ndim == 4 and t.shape[-1] in (1, 3, 4) and t.shape[1] not in (1, 3, 4):
        t = t.permute(0, 3, 1, 2)
    elif t.ndim != 4:
        raise SslabError(f"x must be (N, H, W), (N, H, W, C) or (N, C, H, W), got {tuple(t.shape)}")
    if t.is_floating_point():
        if t.numel() and (t.min() < 0 or t.max() > 1):
            raise SslabError("float images must lie in [0, 1]")
        t = (t * 255).round().to(torch.uint8)
    elif t.dtype != torch.uint8:
        if t.numel() and (t.min() < 0 or t.max() > 255):
            raise SslabError(f"integer images must lie in 0..255, got {t.dtype} from {int(t.min())} to {int(t.max())}")
        t = t.to(torch.uint8)
    if t.shape[1] == 4:
        t = t[:, :3]  # drop alpha
    t = t.contiguous()
    n = len(t)
    if y is None:
        labels = torch.full((n,), -1, dtype=torch.int64)
    else:
        labels = torch.as_tensor(np.asarray(y)).reshape(-1).to(torch.int64)
        if len(labels) != n:
            raise SslabError(f"{n} images but {len(labels)} labels")
    if n and labels.max() >= MAX_CLASSES:
        raise SslabError(f"label {int(labels.max())} is not a class index (labels must be 0..k-1, k at most "
                         f"{MAX_CLASSES:,}, or -1 for unlabelled)")
    k = len(class_names) if class_names is not None else int(labels.max()) + 1 if n and labels.max() >= 0 else 0
    if n and (labels.min() < -1 or labels.max() >= k):
        raise SslabError(f"labels must lie in 0..{k - 1} (or -1 for unlabelled), got {int(labels.min())}..{int(labels.max())}")
    names = tuple(str(c) for c in class_names) if class_names is not None else tuple(str(i) for i in range(k))
    parts = {}
    for name, idx in (splits or {}).items():
        if name not in SPLIT_NAMES:
            raise SslabError(f"unknown split {name!r}; splits: {', '.join(SPLIT_NAMES)}")
        idx = torch.as_tensor(np.asarray(idx), dtype=torch.int64).sort().values
        if len(idx) and (idx[0] < 0 or idx[-1] >= n):
            raise SslabError(f"split {name!r} has indices outside 0..{n - 1}")
        parts[name] = idx
    return Images(t, labels, names, parts, None, "arrays", "arrays")
