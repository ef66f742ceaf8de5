"""Index-based splits and samplers. All return sorted int64 index tensors into an Images set."""

from __future__ import annotations

import torch

from sslab.data.images import Images
from sslab.errors import SslabError


def check_fraction(name: str, fraction: float) -> None:
    if not 0 < fraction <= 1:
        raise SslabError(f"{name} must be in (0, 1], got {fraction}")


def train_test(n: int, train_fraction: float = 0.8, seed: int = 2021) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded random split of range(n) into train and test indices (80:20 by default)."""
    check_fraction("train fraction", train_fraction)
    n_train = round(n * train_fraction)
    if train_fraction < 1 and not 0 < n_train < n:
        raise SslabError(f"train fraction {train_fraction} leaves an empty split of {n} images")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[:n_train].sort().values, perm[n_train:].sort().values


def label_fraction(y: torch.Tensor, fraction: float, seed: int = 0) -> torch.Tensor:
    """Stratified subset: `fraction` of each class of y (at least one image per present class).

    Returns positions into y. Subsets are nested: the images kept at a smaller fraction
    are also kept at any larger one with the same seed.
    """
    check_fraction("label fraction", fraction)
    return _stratified(y, lambda n_class: max(1, round(fraction * n_class)), seed)


def per_class(y: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """Stratified subset: n images of each class of y (all of a class that has fewer). Positions into y.

    Nested like label_fraction, and with the same seed the same images: a class's images are
    taken in one seeded random order, so both subsets are prefixes of it.
    """
    if n < 1:
        raise SslabError(f"images per class must be at least 1, got {n}")
    return _stratified(y, lambda n_class: n, seed)


def _stratified(y: torch.Tensor, count, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    keep = []
    for c in torch.unique(y):
        pos = torch.nonzero(y == c).squeeze(1)
        keep.append(pos[torch.randperm(len(pos), generator=g)][: count(len(pos))])
    return torch.cat(keep).sort().values


# The tutorial's `shape_posX_spaced` bias: each shape seen only in one band of horizontal positions.
SHAPE_POSX_BANDS = ((0.0, 0.3), (0.35, 0.65), (0.7, 1.0))


def shape_posx_biased(images: Images, idx: torch.Tensor) -> torch.Tensor:
    """The subset of idx where squares lie at posX in [0, 0.3], ellipses in [0.35, 0.65], hearts in [0.7, 1]."""
    shape = images.labels("shape")[idx]
    posx = images.labels("posX")[idx].double() / (images.n_classes("posX") - 1)
    keep = torch.zeros(len(idx), dtype=torch.bool)
    for s, (lo, hi) in enumerate(SHAPE_POSX_BANDS):
        keep |= (shape == s) & (posx >= lo - 1e-9) & (posx <= hi + 1e-9)
    return idx[keep].sort().values


def matched_control(images: Images, idx: torch.Tensor, biased: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """A control for a biased subset: from idx, the same number of images of each shape, at any position."""
    g = torch.Generator().manual_seed(seed)
    shape, want = images.labels("shape"), images.labels("shape")[biased]
    keep = []
    for s in torch.unique(want):
        pool = idx[shape[idx] == s]
        keep.append(pool[torch.randperm(len(pool), generator=g)[: int((want == s).sum())]])
    return torch.cat(keep).sort().values
