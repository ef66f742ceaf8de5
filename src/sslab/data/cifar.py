"""CIFAR-10 and CIFAR-100, binary version (Krizhevsky 2009), as downloaded or extracted.

CIFAR-10: `cifar-10-batches-bin/` with `data_batch_1.bin` .. `data_batch_5.bin` (train),
`test_batch.bin` (test) and `batches.meta.txt` (the class names, one a line); 10,000 records a batch,
each 1 label byte then 3072 pixel bytes: the red plane, then green, then blue, each 32 rows of 32.
CIFAR-100: `cifar-100-binary/` with `train.bin`, `test.bin`, `fine_label_names.txt`; each record is
a coarse label byte, a fine label byte, then the same 3072 pixel bytes. The fine labels are used.

The path may name the folder, one of its files (then its folder is read), or the archive as
downloaded (`cifar-10-binary.tar.gz`, `cifar-100-binary.tar.gz`), which is read without extracting
it: once for the labels, once per split for the pixels. From an archive the train batches come in
the archive's order (one decompression), from a folder in name order.

The python version (pickled `data_batch_1`, `cifar-10-python.tar.gz`) is refused: sslab never
unpickles a user's file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sslab.data import files
from sslab.errors import SslabError

DESCRIPTION = ("CIFAR-10/100 binary version (cifar-10-batches-bin/ or cifar-100-binary/ with *.bin, "
               "or their .tar.gz)")
VIEWS = "simclr"
ENCODER = None  # chosen by image size

SHAPE = (3, 32, 32)
PIXELS = 3 * 32 * 32

CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
TOP_FOLDERS = {"cifar-10-batches-bin": "10", "cifar-100-binary": "100"}  # what the archives unpack to
PYTHON_TOP_FOLDERS = ("cifar-10-batches-py", "cifar-100-python")


@dataclass(frozen=True)
class Layout:
    """One of the two binary layouts: which files hold each split and where a record's label is."""

    batches: dict[str, tuple[str, ...]]  # split -> batch file names, in reading order
    label_byte: int  # the label's offset in a record; the pixels follow the last label byte
    names_file: str
    default_names: tuple[str, ...]

    @property
    def record(self) -> int:
        return self.label_byte + 1 + PIXELS


LAYOUTS = {
    "10": Layout({"train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)), "test": ("test_batch.bin",)},
                 0, "batches.meta.txt", CIFAR10),
    "100": Layout({"train": ("train.bin",), "test": ("test.bin",)},
                  1, "fine_label_names.txt", tuple(str(i) for i in range(100))),
}

REFUSED = ("{path}: this is CIFAR's python version (pickled batches), and sslab never unpickles a user's "
           "file; download the binary version instead (cifar-10-binary.tar.gz or cifar-100-binary.tar.gz "
           "from https://www.cs.toronto.edu/~kriz/cifar.html)")


def _is_tar(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith((".tar.gz", ".tgz", ".tar"))


def _folder_kind(folder: Path) -> str | None:
    """'10', '100', 'python' or None, from the names of the files in folder."""
    has = lambda name: (folder / name).is_file()  # noqa: E731
    if has("data_batch_1.bin") or has("test_batch.bin"):
        return "10"
    named = has("fine_label_names.txt") or has("coarse_label_names.txt") or "cifar" in folder.name.lower()
    if (has("train.bin") or has("test.bin")) and named:
        return "100"
    if any(map(has, ("data_batch_1", "test_batch", "batches.meta"))) or all(map(has, ("meta", "train", "test"))):
        return "python"
    return None


def _tar_kind(path: Path) -> str | None:
    top = (files.first_tar_member(path) or "").split("/")[0]
    return TOP_FOLDERS.get(top) or ("python" if top in PYTHON_TOP_FOLDERS else None)


def detect(path: Path) -> bool:
    try:
        if path.is_dir():
            return _folder_kind(path) is not None
        if _is_tar(path):
            return _tar_kind(path) is not None
        # A batch file (.bin, or a pickled one without extension) stands for its folder.
        return path.is_file() and path.suffix in ("", ".bin") and _folder_kind(path.parent) is not None
    except OSError:
        return False


def source(path: Path, image_size: int | None = None):
    """Parts train and test, labels read now (they sit in every record), pixels streamed later."""
    if _is_tar(path):
        kind = _tar_kind(path)
        if kind == "python":
            raise SslabError(REFUSED.format(path=path))
        return _source_tar(path, LAYOUTS[kind])
    folder = path if path.is_dir() else path.parent
    kind = _folder_kind(folder)
    if kind == "python":
        raise SslabError(REFUSED.format(path=path))
    return _source_folder(folder, LAYOUTS[kind])


def _source_folder(folder: Path, layout: Layout):
    from sslab.data.images import Part, Source

    parts = {}
    for split, names in layout.batches.items():
        batches = [folder / name for name in names if (folder / name).is_file()]
        if not batches:
            continue
        counts = [_count(b, b.stat().st_size, layout) for b in batches]
        labels = [_labels_of_file(b, n, layout) for b, n in zip(batches, counts)]

        def read(pos: np.ndarray, batches: list[Path] = batches, counts: list[int] = counts):
            start = 0
            for batch, n in zip(batches, counts):
                lo, hi = np.searchsorted(pos, (start, start + n))
                for chunk in files.records(batch, n, pos[lo:hi] - start, (layout.record,)):
                    yield _pixels(chunk, layout)
                start += n

        parts[split] = Part(sum(counts), read, np.concatenate(labels))
    names_file = folder / layout.names_file
    names = _names(names_file.read_text(errors="replace")) if names_file.is_file() else layout.default_names
    return Source(SHAPE, names, parts)


def _source_tar(path: Path, layout: Layout):
    """From the archive itself: one pass now for the labels, class names and the batches' order."""
    from sslab.data.images import Part, Source

    split_of = {name: split for split, names in layout.batches.items() for name in names}
    found: dict[str, list[tuple[str, int, np.ndarray]]] = {split: [] for split in layout.batches}
    names = layout.default_names
    with files.reading(path):
        for name, size, stream in files.tar_members(path, [*split_of, layout.names_file]):
            if name == layout.names_file:
                names = _names(stream.read().decode(errors="replace"))
                continue
            n = _count(Path(f"{path}:{name}"), size, layout)
            records = files.chunks(stream.read, n, np.arange(n), (layout.record,))
            y = np.concatenate([c[:, layout.label_byte] for c in records] or [np.zeros(0, np.uint8)])
            found[split_of[name]].append((name, n, y.astype(np.int64)))

    def reader(batches: list[tuple[str, int, np.ndarray]]):
        def read(pos: np.ndarray):
            start = dict(zip([b[0] for b in batches], np.cumsum([0] + [b[1] for b in batches])))
            with files.reading(path):
                for name, size, stream in files.tar_members(path, start):
                    n = size // layout.record
                    lo, hi = np.searchsorted(pos, (start[name], start[name] + n))
                    for chunk in files.chunks(stream.read, n, pos[lo:hi] - start[name], (layout.record,)):
                        yield _pixels(chunk, layout)
                    if hi == len(pos):  # the rest of the archive holds none of the chosen images
                        return
        return read

    parts = {split: Part(sum(b[1] for b in batches), reader(batches), np.concatenate([b[2] for b in batches]))
             for split, batches in found.items() if batches}
    return Source(SHAPE, names, parts)


def _count(file: Path, size: int, layout: Layout) -> int:
    """Records in a batch of `size` bytes; a partial record means the file was cut short."""
    if size % layout.record:
        raise SslabError(f"{file}: {size:,} bytes is not a whole number of {layout.record}-byte CIFAR records "
                         f"({size // layout.record:,} and {size % layout.record} bytes over): truncated?")
    return size // layout.record


def _labels_of_file(file: Path, n: int, layout: Layout) -> np.ndarray:
    """(n,) int64 labels: one byte of every record, through a memory map (no copy of the pixels)."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    records = np.memmap(file, dtype=np.uint8, mode="r", shape=(n, layout.record))
    return records[:, layout.label_byte].astype(np.int64)


def _pixels(chunk: np.ndarray, layout: Layout) -> np.ndarray:
    """(k, record) bytes -> (k, 3, 32, 32) uint8: the planes are stored R, G, B, each row by row."""
    return chunk[:, layout.label_byte + 1 :].reshape(-1, *SHAPE)


def _names(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in text.splitlines() if line.strip())
