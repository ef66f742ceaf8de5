"""The MNIST family (MNIST, Fashion-MNIST, KMNIST): IDX files, or Keras' `mnist.npz`.

IDX layout: a folder holding `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
`t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each raw or gzipped (`.gz`; also spelt
`train-images.idx3-ubyte`). The path may name the folder or any one of the files (then its folder
is read). An images file is a big-endian header (magic 0x00000803, count, rows, cols) and then
count*rows*cols uint8 pixels, row by row; a labels file is (magic 0x00000801, count) and then count
uint8 labels. Keras layout: an npz with `x_train` (N, H, W) uint8, `y_train` (N,), `x_test`, `y_test`.

Parts train and test (the t10k files). Class names come from the names of the file, its folder
and the folder above: "fashion" in them means Fashion-MNIST, "kmnist" KMNIST (romanised hiragana),
else the digits 0..9.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sslab.data import files
from sslab.errors import SslabError

DESCRIPTION = ("MNIST-family IDX files (train-images-idx3-ubyte[.gz], ...; MNIST, Fashion-MNIST, KMNIST) "
               "or Keras' mnist.npz (x_train, y_train, x_test, y_test)")
VIEWS = "digits"
ENCODER = "encoder_core"  # the tutorial's LeNet-like net: 12x the convnet's training speed at 28 px here
# SimCLR for 10 epochs (4,200 steps of 128 on MNIST's 54,000 training images, about dSprites' 5,000):
# at that length temperature 0.5 (the blog's) scored 95.8% on validation, 0.1 and 0.2 95.4 and 95.2%.
# The other joint-embedding methods for 10 epochs too: on the mnist-200 study's 5,999 validation digits (linear
# probe on its 200 labels, the blog's backbone) BYOL 87.9%, SimSiam 85.0%, Barlow Twins 89.5%, VICReg 91.7%,
# MoCo 88.2%, against 85.9% for the supervised baseline (README, "Training recipes"). SwAV on two views of the
# digit recipe (86.7%), not the lab's multi-crop (73.7%, below raw pixels' 77.7%). SimSiam for 20 epochs: 85.0 / 90.4 /
# 90.6% after 10 / 20 / 30 (without a projector it collapsed: 16%; a 2048-wide one, 85.3% at 10).
METHODS = {"simclr": {"epochs": 10}, "swav": {"epochs": 10, "n_local": 0}, "simsiam": {"epochs": 20}} | {
    m: {"epochs": 10} for m in ("byol", "barlow_twins", "vicreg", "moco")}

# (split, what) -> the file's name in the official release
IDX_NAMES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}
MAGIC = {"images": 0x00000803, "labels": 0x00000801}  # uint8 data, 3 or 1 dimensions
HEADER = {"images": 16, "labels": 8}  # bytes: magic and one int32 per dimension

DIGITS = tuple(str(i) for i in range(10))
FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
           "Ankle boot")
KMNIST = ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")  # お き す つ な は ま や れ を


def _spellings(name: str) -> tuple[str, ...]:
    """The names a file goes by: official, gzipped, and with a dot before 'idx' as some mirrors spell it."""
    dotted = name.replace("-idx", ".idx")
    return name, name + ".gz", dotted, dotted + ".gz"


_ALL_NAMES = {s for name in IDX_NAMES.values() for s in _spellings(name)}


def detect(path: Path) -> bool:
    if path.is_dir():
        return any((path / name).is_file() for name in _ALL_NAMES)
    if path.name in _ALL_NAMES:
        return True
    if path.suffix != ".npz":
        return False
    try:
        keys = files.Npz(path).files
    except SslabError:
        return False
    return any(f"x_{s}" in keys and f"y_{s}" in keys for s in ("train", "test"))


def class_names(path: Path) -> tuple[str, ...]:
    """Which member of the family, from the names of the folder and the one above it, and of the
    file if the path names one (torchvision keeps the files in FashionMNIST/raw/)."""
    name = "/".join(p.name for p in (path, *path.parents)[: 2 if path.is_dir() else 3]).lower()
    if "fashion" in name:
        return FASHION
    if "kmnist" in name:
        return KMNIST
    return DIGITS


def source(path: Path, image_size: int | None = None):
    return _source_npz(path) if path.suffix == ".npz" else _source_idx(path.parent if path.is_file() else path)


def _source_idx(folder: Path):
    """Parts train/test from the IDX files in folder: headers and labels read now, pixels streamed later."""
    from sslab.data.images import Part, Source

    parts, shape = {}, None
    for split in ("train", "test"):
        found = {what: _find(folder, IDX_NAMES[split, what]) for what in ("images", "labels")}
        if not any(found.values()):
            continue
        for what, file in found.items():
            if file is None:
                other = "labels" if what == "images" else "images"
                raise SslabError(f"{folder}: has {split} {other} but no {IDX_NAMES[split, what]}[.gz]")
        n, rows, cols = _header(found["images"], "images")
        files.check_size(found["images"], HEADER["images"] + n * rows * cols, f"{n:,} images of {rows}x{cols}")
        y = _read_labels(found["labels"])
        if len(y) != n:
            raise SslabError(f"{folder}: {found['images'].name} holds {n:,} images but "
                             f"{found['labels'].name} holds {len(y):,} labels")
        if shape not in (None, (1, rows, cols)):
            raise SslabError(f"{folder}: train images are {shape[1]}x{shape[2]} but test images {rows}x{cols}")
        shape = (1, rows, cols)

        def read(pos: np.ndarray, file: Path = found["images"], n: int = n, side: tuple = (rows, cols)):
            for chunk in files.records(file, n, pos, side, offset=HEADER["images"]):
                yield chunk[:, None]  # (k, H, W) -> (k, 1, H, W)

        parts[split] = Part(n, read, y)
    if not parts:
        raise SslabError(f"{folder}: no MNIST IDX files ({', '.join(IDX_NAMES.values())}, raw or .gz)")
    return Source(shape, class_names(folder), parts)


def _find(folder: Path, name: str) -> Path | None:
    return next((folder / s for s in _spellings(name) if (folder / s).is_file()), None)


def _header(file: Path, what: str) -> tuple[int, ...]:
    """The dimensions in an IDX file's header, after checking its magic number."""
    size = HEADER[what]
    with files.reading(file), files.open_maybe_gzip(file) as f:
        head = f.read(size)
    if len(head) < size:
        raise SslabError(f"{file}: truncated: {len(head)} bytes, shorter than an IDX {what} header ({size} bytes)")
    magic = int.from_bytes(head[:4], "big")
    if magic != MAGIC[what]:
        raise SslabError(f"{file}: not an IDX {what} file: magic number 0x{magic:08x}, expected 0x{MAGIC[what]:08x}")
    return tuple(int.from_bytes(head[i : i + 4], "big") for i in range(4, size, 4))


def _read_labels(file: Path) -> np.ndarray:
    """(n,) int64 labels of an IDX labels file (small: read whole)."""
    (n,) = _header(file, "labels")
    with files.reading(file), files.open_maybe_gzip(file) as f:
        data = f.read()[HEADER["labels"] :]
    if len(data) != n:
        raise SslabError(f"{file}: the header announces {n:,} labels but the file holds {len(data):,}"
                         f"{' (truncated?)' if len(data) < n else ''}")
    return np.frombuffer(data, dtype=np.uint8).astype(np.int64)


def _source_npz(path: Path):
    """Keras' mnist.npz: x_train (N, H, W) uint8 and y_train (N,), x_test and y_test."""
    from sslab.data.images import Part, Source

    f = files.Npz(path)
    parts, shape = {}, None
    for split in ("train", "test"):
        if f"x_{split}" not in f.files:
            continue
        if f"y_{split}" not in f.files:
            raise SslabError(f"{path}: has x_{split} but no y_{split}")
        x_shape = f.shape(f"x_{split}")
        if f.dtype(f"x_{split}") != np.uint8 or len(x_shape) != 3:
            raise SslabError(f"{path}: x_{split} must be uint8 (N, H, W), got {f.dtype(f'x_{split}')} {x_shape}")
        if shape not in (None, (1, *x_shape[1:])):
            raise SslabError(f"{path}: x_train images are {shape[1:]} but x_test images {x_shape[1:]}")
        shape = (1, *x_shape[1:])
        if f.shape(f"y_{split}")[:1] != x_shape[:1]:
            raise SslabError(f"{path}: x_{split} holds {x_shape[0]:,} images but y_{split} is {f.shape(f'y_{split}')}")
        y = f.array(f"y_{split}")
        if not np.issubdtype(y.dtype, np.integer) or y.ndim > 2 or y.size != len(y):
            raise SslabError(f"{path}: y_{split} must be integer (N,), got {y.dtype} {y.shape}")

        def read(pos: np.ndarray, key: str = f"x_{split}"):
            for chunk in f.records(key, pos):
                yield chunk[:, None]

        parts[split] = Part(x_shape[0], read, y.reshape(-1).astype(np.int64))
    if not parts:
        raise SslabError(f"{path}: no x_train/y_train or x_test/y_test arrays")
    return Source(shape, class_names(path), parts)
