"""Reading the containers datasets come in, a record stream at a time: raw and gzipped files, npz
members, tar members.

Nothing here unpickles: npz arrays are read with allow_pickle=False or from their .npy headers.
Errors a user's file can cause (truncated, corrupt) become an SslabError naming the file.
"""

from __future__ import annotations

import gzip
import math
import tarfile
import tokenize
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import numpy as np

from sslab.errors import SslabError

CHUNK = 4096  # at most this many images per streaming step...
CHUNK_BYTES = 32 << 20  # ...and at most this many bytes: bounded memory whatever the images' size


def chunk_size(record_bytes: int) -> int:
    """Images per streaming step for images of this many bytes (4096 MNIST digits, 1213 STL-10 images)."""
    return max(1, min(CHUNK, CHUNK_BYTES // max(1, record_bytes)))


def chunks(read: Callable[[int], bytes], n: int, positions: np.ndarray, record: tuple[int, ...],
           chunk: int | None = None) -> Iterator[np.ndarray]:
    """Stream fixed-size uint8 records from a sequential reader and yield the ones at `positions`.

    read(k) returns the next k bytes (fewer at the end of a truncated file); record is one image's
    stored shape. The file is read once, `chunk` records at a time (default: `chunk_size`), so a gzip,
    zip or tar member is decompressed once and never held whole. Yields (m, *record) uint8 arrays, in
    order; a truncated file simply yields fewer images (the loader reports it).
    """
    size = math.prod(record)
    chunk = chunk or chunk_size(size)
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


def is_gzip(path: Path) -> bool:
    """Whether the file is gzipped, by its magic bytes (not its name)."""
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def open_maybe_gzip(path: Path) -> IO[bytes]:
    """A binary stream of the file, decompressed on the fly when it is gzipped (by magic bytes, not name)."""
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")


@contextmanager
def reading(path: Path) -> Iterator[None]:
    """Report a decompressor's or an archive's failure as a one-line SslabError naming the file.

    Streams fail while they are read, far from where they were opened: wrap the loop that reads.
    """
    try:
        yield
    except (EOFError, zlib.error, gzip.BadGzipFile, tarfile.TarError, zipfile.BadZipFile) as e:
        raise SslabError(f"{path}: truncated or corrupt ({e})") from None


def records(path: Path, n: int, positions: np.ndarray, record: tuple[int, ...],
            offset: int = 0) -> Iterator[np.ndarray]:
    """The fixed-size uint8 records at sorted `positions` of a raw or gzipped file holding n records
    from byte `offset` on (after a header).

    A raw file is memory-mapped, so only the chosen records are read (a 2.8 GB file subsampled to a
    tenth reads about a tenth of it); a gzipped one is decompressed once, as a stream. The caller
    checks the file's size first (`check_size`). Yields (k, *record) uint8 arrays, in order.
    """
    if not len(positions) or not n:
        return
    if is_gzip(path):
        with reading(path), gzip.open(path, "rb") as f:
            _read_exactly(f.read, offset)
            yield from chunks(f.read, n, positions, record)
        return
    size = math.prod(record)
    mapped = np.memmap(path, dtype=np.uint8, mode="r", offset=offset, shape=(n, size))
    step = chunk_size(size)
    for i in range(0, len(positions), step):
        yield mapped[positions[i : i + step]].reshape(-1, *record)  # fancy indexing copies: the map can close


def check_size(path: Path, expected: int, announced: str) -> None:
    """Raise a clear error unless the file holds exactly `expected` bytes once decompressed.

    announced: what the header or name promised, for the message ("60,000 images of 28x28").
    """
    actual = path.stat().st_size if not is_gzip(path) else _gzip_size(path, expected)
    if actual != expected:
        why = "truncated?" if actual < expected else "the header and the data disagree"
        raise SslabError(f"{path}: {announced} need {expected:,} bytes but the file holds {actual:,} ({why})")


def _gzip_size(path: Path, expected: int) -> int:
    """Decompressed size of a gzip file, checked against `expected`.

    The trailer's ISIZE (size modulo 2**32) answers at once when it agrees; otherwise the file is
    decompressed to count, because a truncated file has no trailer and a multi-member one records
    only its last member's size.
    """
    with open(path, "rb") as f:
        f.seek(0, 2)
        if f.tell() >= 18:  # a gzip header and trailer at least
            f.seek(-4, 2)
            if int.from_bytes(f.read(4), "little") == expected % 2**32:
                return expected
    size = 0
    with reading(path), gzip.open(path, "rb") as f:
        while block := f.read(1 << 22):
            size += len(block)
    return size


class Npz:
    """An .npz opened without unpickling: its keys, each array's shape and dtype from the .npy header,
    small arrays read whole and image arrays streamed (`records`).

    Every header is checked against the bytes its member holds before anything is read or allocated, so a
    header announcing 2**40 rows over a few bytes is an error, not an allocation."""

    def __init__(self, path: Path):
        self.path = path
        self.headers: dict[str, tuple[tuple[int, ...], bool, np.dtype]] = {}
        try:
            self.zip = zipfile.ZipFile(path)
            for info in self.zip.infolist():
                if info.filename.endswith(".npy"):
                    with self.zip.open(info) as f:
                        header = _npy_header(f)
                        _check_member(path, info, header, f.tell())
                    self.headers[info.filename[:-4]] = header
        except SslabError:
            raise
        except DAMAGED as e:
            raise SslabError(f"{path}: cannot read as npz ({why(e)})") from None

    @property
    def files(self) -> list[str]:
        return list(self.headers)

    def shape(self, key: str) -> tuple[int, ...]:
        return self.headers[key][0]

    def dtype(self, key: str) -> np.dtype:
        return self.headers[key][2]

    def array(self, key: str) -> np.ndarray:
        """A whole array (labels, factor values), never unpickled."""
        if self.dtype(key).hasobject:
            raise SslabError(f"{self.path}: {key} holds Python objects, which sslab never unpickles")
        try:
            with self.zip.open(f"{key}.npy") as f:
                return np.lib.format.read_array(f, allow_pickle=False)
        except DAMAGED as e:
            raise SslabError(f"{self.path}: cannot read array {key!r} ({why(e)})") from None

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
        except DAMAGED as e:
            raise SslabError(f"{self.path}: {key} is truncated or corrupt ({why(e)})") from None


def _npy_header(f: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(f)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read(f)
    return tuple(shape), fortran, dtype


def _check_member(path: Path, info: zipfile.ZipInfo, header: tuple, header_bytes: int) -> None:
    """A .npy member's header must describe exactly the bytes the member holds (no pickled objects)."""
    shape, _fortran, dtype = header
    if dtype.hasobject:  # pickled objects (dSprites' metadata): never read (array() refuses them), so not sized
        return
    if any(s < 0 for s in shape):
        raise SslabError(f"{path}: {info.filename} has a negative dimension {shape}")
    announced = header_bytes + math.prod(shape) * dtype.itemsize
    if announced != info.file_size:
        raise SslabError(f"{path}: {info.filename} announces {shape} {dtype} ({announced:,} bytes) but holds "
                         f"{info.file_size:,} bytes: damaged")


# What a damaged file makes the standard library's and numpy's readers raise.
DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError, NotImplementedError,
           RuntimeError, UnicodeDecodeError, OverflowError, SyntaxError, tokenize.TokenError, tarfile.TarError,
           gzip.BadGzipFile)


def why(e: BaseException) -> str:
    """An exception's message on one line."""
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) < 200 else text[:197] + "..."


def tar_members(path: Path, names: Iterable[str]) -> Iterator[tuple[str, int, IO[bytes]]]:
    """Stream the wanted members of a (gzipped) tar file in the order the archive holds them, so the
    archive is decompressed once however many members are read.

    names: base names ("data_batch_1.bin"), matched whatever folder holds them. Yields (base name,
    size in bytes, stream); a stream is valid until the next item is drawn. Stops after the last
    wanted member. Wrap the loop that reads the streams in `reading(path)`.
    """
    wanted = set(names)
    with reading(path), tarfile.open(path, "r:*") as tar:
        for member in tar:
            base = member.name.rstrip("/").rsplit("/", 1)[-1]
            if member.isfile() and base in wanted:
                wanted.discard(base)
                yield base, member.size, tar.extractfile(member)
                if not wanted:
                    return


def first_tar_member(path: Path) -> str | None:
    """The name of a tar file's first member, decompressing only its first block; None if it is no tar."""
    try:
        with tarfile.open(path, "r:*") as tar:
            member = tar.next()
            return None if member is None else member.name
    except (tarfile.TarError, OSError, EOFError, zlib.error):
        return None
