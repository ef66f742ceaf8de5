"""The in-memory dataset every part of sslab passes around: uint8 images, labels, splits, factors."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from sslab.errors import SslabError

SPLIT_NAMES = ("train", "val", "test", "unlabeled")  # the dataset splits sslab knows, in this order
MAX_CLASSES = 100_000  # more than any image dataset has: a larger label is damage, not a class index


def class_count(labels: list[np.ndarray], origin: str) -> int:
    """The number of classes integer labels 0..k-1 imply (k = the largest + 1), checked before anything is
    sized by it: a negative label, or one of MAX_CLASSES or more, is one clear error."""
    present = [y for y in labels if y is not None and len(y)]
    if not present:
        return 0
    low, high = min(int(y.min()) for y in present), max(int(y.max()) for y in present)
    if low < 0 or high >= MAX_CLASSES:
        bad = low if low < 0 else high
        raise SslabError(f"{origin}: label {bad} is not a class index (labels must be 0..k-1, k at most "
                         f"{MAX_CLASSES:,})")
    return high + 1


@dataclass(frozen=True)
class Factors:
    """Latent factors of generated data (dSprites): the true value of each factor for each image.

    names: the K factor names; values: (N, K) float64 true values; levels: per factor, the sorted
    distinct values the data holds (its grid); render: optional (M, K) values -> (M, C, H, W) uint8,
    so analyses can generate images that differ in one factor only.
    """

    names: tuple[str, ...]
    values: torch.Tensor
    levels: tuple[torch.Tensor, ...] = ()
    level_names: tuple[tuple[str, ...], ...] = ()  # per factor, a name for each level (default: the value)
    render: Callable[[torch.Tensor], torch.Tensor] | None = None
    describe: Callable[[torch.Tensor], list[str]] | None = None  # (M, K) values -> a caption per image

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.values.shape[1] != len(self.names):
            raise ValueError(f"values must be (N, {len(self.names)}), got {tuple(self.values.shape)}")
        if not self.levels:
            object.__setattr__(self, "levels", tuple(torch.unique(self.values[:, k]) for k in range(len(self.names))))
        if not self.level_names:
            object.__setattr__(self, "level_names", tuple(tuple(f"{float(v):g}" for v in lv) for lv in self.levels))

    def index(self, name: str) -> int:
        if name not in self.names:
            raise SslabError(f"unknown factor {name!r}; factors: {', '.join(self.names)}")
        return self.names.index(name)

    def size(self, name: str) -> int:
        """Number of distinct values of a factor in the data."""
        return len(self.levels[self.index(name)])

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(len(v) for v in self.levels)

    def classes(self, name: str) -> torch.Tensor:
        """(N,) int64 index of each image's value among the factor's levels (0..size-1)."""
        k = self.index(name)
        return _nearest_level(self.levels[k].contiguous(), self.values[:, k].contiguous())

    def values_of(self, classes: torch.Tensor) -> torch.Tensor:
        """(M, K) level indices -> (M, K) float64 true values."""
        return torch.stack([self.levels[k][classes[:, k]] for k in range(len(self.names))], dim=1)

    def subset(self, idx: torch.Tensor) -> Factors:
        return replace(self, values=self.values[idx])


def _nearest_level(levels: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Index of the level nearest to each value (exact for values taken from the levels)."""
    pos = torch.searchsorted(levels, v).clamp(1, max(1, len(levels) - 1))
    if len(levels) == 1:
        return torch.zeros(len(v), dtype=torch.int64)
    left = (v - levels[pos - 1]).abs() <= (levels[pos] - v).abs()
    return torch.where(left, pos - 1, pos)


@dataclass(frozen=True)
class Images:
    """A dataset in memory (or memory-mapped from a prepared folder: `mapped`).

    x: (N, C, H, W) uint8 pixels, one tensor, never a float copy.
    y: (N,) int64 class index 0..k-1 of each image; -1 where the image carries no label.
    class_names: the name of each class index (k names).
    splits: the dataset's own splits, name -> sorted int64 indices into x ("train", "val", "test",
      "unlabeled"); empty when the data comes as one pool (a study then carves its own).
    factors: latent factors (dSprites), else None.
    source / format: where the data came from and which loader read it.
    """

    x: torch.Tensor
    y: torch.Tensor
    class_names: tuple[str, ...]
    splits: Mapping[str, torch.Tensor] = field(default_factory=dict)
    factors: Factors | None = None
    source: str = ""
    format: str = ""
    mapped: bool = False  # x is a memory-mapped file (sslab prepare): read in chunks, never copied whole

    def __post_init__(self) -> None:
        if self.x.dtype != torch.uint8 or self.x.ndim != 4:
            raise ValueError(f"x must be uint8 (N, C, H, W), got {self.x.dtype} {tuple(self.x.shape)}")
        if self.y.shape != (len(self.x),) or self.y.dtype != torch.int64:
            raise ValueError(f"y must be int64 (N,) with N={len(self.x)}, got {self.y.dtype} {tuple(self.y.shape)}")
        if len(self.y) and int(self.y.max()) >= len(self.class_names):
            raise ValueError(f"labels reach {int(self.y.max())} but there are {len(self.class_names)} class names")
        unknown = set(self.splits) - set(SPLIT_NAMES)
        if unknown:
            raise ValueError(f"unknown split(s) {sorted(unknown)}; known: {', '.join(SPLIT_NAMES)}")
        if self.factors is not None and len(self.factors.values) != len(self.x):
            raise ValueError("factors must describe every image")

    def __len__(self) -> int:
        return len(self.x)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image."""
        return tuple(self.x.shape[1:])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def labelled(self) -> torch.Tensor:
        """(N,) bool: which images carry a label."""
        return self.y >= 0

    def class_counts(self, idx: torch.Tensor | None = None) -> list[int]:
        """Images per class (labelled images only), over idx or all images."""
        y = self.y if idx is None else self.y[idx]
        return torch.bincount(y[y >= 0], minlength=self.n_classes).tolist()

    def subset(self, idx: torch.Tensor) -> Images:
        """The images at sorted indices idx (a copy of their pixels), splits re-indexed."""
        idx = torch.as_tensor(idx, dtype=torch.int64)
        where = torch.full((len(self),), -1, dtype=torch.int64)
        where[idx] = torch.arange(len(idx))
        splits = {k: where[v][where[v] >= 0] for k, v in self.splits.items()}
        return replace(self, x=self.x[idx], y=self.y[idx], splits={k: v for k, v in splits.items() if len(v)},
                       factors=None if self.factors is None else self.factors.subset(idx))

    def with_target(self, factor: str) -> Images:
        """The same images labelled by a latent factor instead (its levels become the classes)."""
        if self.factors is None:
            raise SslabError(f"the data has no latent factors, so {factor!r} cannot be the target")
        names = self.factors.level_names[self.factors.index(factor)]
        return replace(self, y=self.factors.classes(factor), class_names=names)


@dataclass
class Part:
    """One of a dataset's own splits, before its pixels are read.

    n: images in the split; y: (n,) int64 labels 0..k-1, or None for an unlabelled split;
    values: (n, K) float64 latent factor values, for generated data;
    read(positions): sorted int64 positions -> consecutive uint8 (k, C, H, W) chunks of those images,
    in order (a generator, so a file is streamed once and never held whole).
    """

    n: int
    read: Callable[[np.ndarray], Iterator[np.ndarray]]
    y: np.ndarray | None = None
    values: np.ndarray | None = None


@dataclass
class Source:
    """What a format module's source() returns: everything but the pixels.

    parts: split name ("train", "val", "test", "unlabeled") -> Part; a file with no splits of its
    own has a single part named "all". factors: builds the latent factors from the kept images'
    values (generated data only).
    """

    shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    parts: dict[str, Part]
    factors: Callable[[torch.Tensor], Factors] | None = None
    notes: list[str] = field(default_factory=list)  # what the loader chose (conversions, resizing), for the log
