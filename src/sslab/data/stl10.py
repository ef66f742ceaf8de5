"""STL-10 (Coates et al. 2011), binary version: the folder `stl10_binary/` of stl10_binary.tar.gz.

Layout: `train_X.bin` (5,000 images), `test_X.bin` (8,000) and `unlabeled_X.bin` (100,000), each a
run of 3x96x96 uint8 records stored column-major, that is as (C, W, H): each colour plane is written
column by column. `train_y.bin` and `test_y.bin` hold one label byte per image, 1..10 on disk
(read as 0..9); `class_names.txt` names the classes, one a line. The path may name the folder or one
of its files (then its folder is read).

Parts train, test and unlabeled (labels None). The unlabeled split is 2.8 GB of pixels: it is
memory-mapped and read a chunk at a time into the one preallocated tensor, so only the images kept
are read and no second copy is made.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sslab.data import files
from sslab.errors import SslabError

DESCRIPTION = "STL-10 binary folder (stl10_binary/ with train_X.bin, train_y.bin, test_..., unlabeled_X.bin)"
VIEWS = "simclr"
ENCODER = "resnet18"

STORED = (3, 96, 96)  # (C, W, H) on disk
RECORD = 3 * 96 * 96
CLASS_NAMES = ("airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck")
SPLITS = ("train", "test", "unlabeled")


def detect(path: Path) -> bool:
    try:
        folder = path if path.is_dir() else path.parent
        return any((folder / f"{split}_X.bin").is_file() for split in SPLITS)
    except OSError:
        return False


def source(path: Path, image_size: int | None = None):
    """Parts train/test/unlabeled: labels read now, pixels memory-mapped and transposed chunk by chunk."""
    from sslab.data.images import Part, Source

    folder = path if path.is_dir() else path.parent
    names_file = folder / "class_names.txt"
    names = (tuple(line.strip() for line in names_file.read_text(errors="replace").splitlines() if line.strip())
             if names_file.is_file() else CLASS_NAMES)
    parts = {}
    for split in SPLITS:
        x_file, y_file = folder / f"{split}_X.bin", folder / f"{split}_y.bin"
        if not x_file.is_file():
            continue
        size = x_file.stat().st_size
        if size % RECORD:
            raise SslabError(f"{x_file}: {size:,} bytes is not a whole number of 3x96x96 images "
                             f"({size // RECORD:,} and {size % RECORD:,} bytes over): truncated?")
        n = size // RECORD
        y = None
        if split != "unlabeled":
            if not y_file.is_file():
                raise SslabError(f"{folder}: has {x_file.name} but no {y_file.name}")
            y = _labels(y_file, n, len(names))

        def read(pos: np.ndarray, x_file: Path = x_file, n: int = n):
            for chunk in files.records(x_file, n, pos, STORED):
                yield chunk.transpose(0, 1, 3, 2)  # (k, C, W, H) -> (k, C, H, W)

        parts[split] = Part(n, read, y)
    return Source((3, 96, 96), names, parts)


def _labels(file: Path, n: int, n_classes: int) -> np.ndarray:
    """(n,) int64 labels 0..k-1 from a file of label bytes 1..k."""
    y = np.fromfile(file, dtype=np.uint8).astype(np.int64)
    if len(y) != n:
        raise SslabError(f"{file}: {len(y):,} labels but {file.name.replace('_y', '_X')} holds {n:,} images")
    bad = (y < 1) | (y > n_classes)
    if bad.any():
        raise SslabError(f"{file}: label {int(y[bad][0])} out of range: STL-10 labels are 1..{n_classes} on disk")
    return y - 1
