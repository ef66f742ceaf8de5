"""Reading the containers datasets come in, a record stream at a time: npz members, gzip, tar members.

Nothing here unpickles: npz arrays are read with allow_pickle=False or from their .npy headers.
"""

from __future__ import annotations

import gzip
import math
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import numpy as np

from sslab.errors import SslabError

CHUNK = 4096  # images decoded per step while streaming: bounded memory whatever the file's size


def chunks(read: Callable[[int], bytes], n: int, positions: np.ndarray, record: tuple[int, ...],
           chunk: int = CHUNK) -> Iterator[np.ndarray]:
    """Stream fixed-size uint8 records from a sequential reader and yield the ones at `positions`.

    read(k) returns the next k bytes (fewer at the end of a truncated file); record is one image's
    stored shape. The file is read once, `chunk` records at a time, so a gzip, zip or tar member is
    decompressed once and never held whole. Yields (m, *record) uint8 arrays, in order; a truncated
    file simply yields fewer images (the loader reports it).
    """
    size = math.prod(record)
    done, p = 0, 0
    while p < len(positions) and done < n:
        k = min(chunk, n - done)
        buf = _read_exactly(read, k * size)
        got = len(buf) // size
        arr = np.frombuffer(buf, dtype=np.uint8, count=got * size).reshape(got, *record)
        hi = int(np.searchsorted(positions, done + got, side="left"))
        if hi > p:
            yield arr[positions[p:hi] - done]
        p, done = hi, done + got
        if got < k:
            return


def _read_exactly(read: Callable[[int], bytes], size: int) -> bytes:
    """read() from a decompressing stream may return short reads; gather up to size bytes."""
    parts, have = [], 0
    while have < size:
        b = read(size - have)
        if not b:
            break
        parts.append(b)
        have += len(b)
    return b"".join(parts) if len(parts) != 1 else parts[0]


def open_maybe_gzip(path: Path) -> IO[bytes]:
    """A binary stream of the file, decompressed on the fly when it is gzipped (by magic bytes, not name)."""
    with open(path, "rb") as f:
        magic = f.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


class Npz:
    """An .npz opened without unpickling: its keys, each array's shape and dtype from the .npy header,
    small arrays read whole and image arrays streamed (`records`)."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.zip = zipfile.ZipFile(path)
            self.headers = {}
            for name in self.zip.namelist():
                if name.endswith(".npy"):
                    with self.zip.open(name) as f:
                        self.headers[name[:-4]] = _npy_header(f)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
            raise SslabError(f"{path}: cannot read as npz ({e})") from None

    @property
    def files(self) -> list[str]:
        return list(self.headers)

    def shape(self, key: str) -> tuple[int, ...]:
        return self.headers[key][0]

    def dtype(self, key: str) -> np.dtype:
        return self.headers[key][2]

    def array(self, key: str) -> np.ndarray:
        """A whole array (labels, factor values), never unpickled."""
        try:
            with self.zip.open(f"{key}.npy") as f:
                return np.lib.format.read_array(f, allow_pickle=False)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
            raise SslabError(f"{self.path}: cannot read array {key!r} ({e})") from None

    def records(self, key: str, positions: np.ndarray) -> Iterator[np.ndarray]:
        """Stream the images (first axis) of a uint8 C-order array, yielding the ones at positions."""
        shape, fortran, dtype = self.headers[key]
        if dtype != np.uint8 or fortran:
            raise SslabError(f"{self.path}: {key} must be a uint8 C-order array, got {dtype}"
                             f"{' in Fortran order' if fortran else ''}")
        try:
            with self.zip.open(f"{key}.npy") as f:
                _npy_header(f)
                yield from chunks(f.read, shape[0], positions, shape[1:])
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise SslabError(f"{self.path}: {key} is corrupt ({e})") from None


def _npy_header(f: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(f)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read(f)
    return tuple(shape), fortran, dtype


def tar_member(path: Path, name: str) -> Callable[[], IO[bytes]]:
    """Opens one member of a (gzipped) tar file as a stream, by the end of its name (e.g. 'data_batch_1.bin')."""

    def opener() -> IO[bytes]:
        tar = tarfile.open(path, "r:*")
        for m in tar:
            if m.isfile() and (m.name == name or m.name.endswith("/" + name)):
                return tar.extractfile(m)
        raise SslabError(f"{path}: no member {name}")

    return opener
