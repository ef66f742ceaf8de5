"""A folder of image files, one sub-folder per class (the layout of ImageNet and most photo datasets).

Layout: `ROOT/<class>/**/<image>` with PNG, JPEG, BMP or WebP files (by extension, any case), or
split folders first: `ROOT/train/<class>/...`, `ROOT/test/<class>/...`, and `val/`, `valid/` or
`validation/` for the validation split. The class names are the union of the class folders' names
over the splits, sorted, so a class has the same index in every split. A folder of loose images
without class folders (the root, a split, or `unlabeled/`) is read as unlabelled. Hidden files and
folders are skipped (macOS `._*` files); EXIF orientation is not applied (as Pillow and
torchvision's ImageFolder do).

Every image is converted to one mode and one size: greyscale if every image is greyscale, else RGB
(RGBA and grey+alpha lose their alpha, palettes are expanded, 16-bit grey keeps its high byte); the
most common size, or image_size x image_size when given (Pillow bilinear with antialiasing; JPEGs
to shrink are first decoded at a reduced scale, which libjpeg does at a fraction of the cost).

Speed: sizes and modes come from each file's first bytes before any pixel is decoded (so the memory
check runs first), and decoding runs in worker processes, one per CPU core, forked from a server process
(forking this one, which holds torch's threads, once left a worker waiting forever on a lock). Pillow spends
most of a small image's ~85 us in Python (parsing markers) holding the GIL, so threads are slower than one
process. Measured with benchmarks/bench_folder.py on a 2-core AMD EPYC, nothing else running: 60,000
CIFAR-10 JPEGs (32x32) in 8.9 s with 2 processes (headers 2.3 s with the server's start, decoding 6.7 s),
against 7.2 s forked from this process, 10.5 s in one process and 14.4 s with 2 threads.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image, features

from sslab.data.images import SPLIT_NAMES
from sslab.errors import SslabError

DESCRIPTION = "a folder of images (PNG/JPEG/BMP/WebP) in class sub-folders, optionally under train/, val/, test/"
VIEWS = "simclr"
ENCODER = None  # chosen by image size
PRIORITY = 90  # the catch-all for folders: the formats with named files are tried first

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp") + ((".webp",) if features.check("webp") else ())
SPLIT_FOLDERS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test",
                 "unlabeled": "unlabeled", "unlabelled": "unlabeled"}  # folder name (any case) -> split
GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"}  # Pillow modes without colour

WORKERS: int | None = None  # decoding processes; None: one per CPU core this process may use
PARALLEL_FROM = 2048  # fewer images than this are decoded in this process: forking costs more than it saves
TASK = 256  # images a worker decodes per task


def detect(path: Path) -> bool:
    return path.is_dir()  # checked last: any folder the other formats did not claim


def source(path: Path, image_size: int | None = None):
    """Parts from the split folders (or one "all"), each image's size and mode read from its header."""
    from sslab.data.images import Part, Source

    listing, notes = _list(path)
    class_names = tuple(sorted({c for entries in listing.values() for _, c in entries if c is not None}))
    index = {c: i for i, c in enumerate(class_names)}
    every = [f for entries in listing.values() for f, _ in entries]

    # (width, height, grey) of every image, before decoding any: the memory check needs the final shape.
    headers = np.concatenate(list(_map(_headers, _tasks(every), len(every))))
    grey = bool(headers[:, 2].all())
    mode, channels = ("L", 1) if grey else ("RGB", 3)
    sizes = Counter(map(tuple, headers[:, :2].tolist()))
    # The most common size; ties go to the larger, so fewer images are enlarged.
    common = max(sizes, key=lambda s: (sizes[s], s[0] * s[1], s))
    size = (image_size, image_size) if image_size else common
    odd = len(every) - sizes[size]
    if odd:
        notes.append(f"{odd:,} of {len(every):,} images resized to {size[0]}x{size[1]} (sizes found: "
                     + ", ".join(f"{w}x{h} ({n:,})" for (w, h), n in sizes.most_common(4))
                     + (", ..." if len(sizes) > 4 else "") + ")")
    if not grey and headers[:, 2].any():
        notes.append(f"{int(headers[:, 2].sum()):,} greyscale images converted to RGB")

    parts = {}
    for split, entries in listing.items():
        paths = [f for f, _ in entries]
        labelled = entries[0][1] is not None
        y = np.array([index[c] for _, c in entries], dtype=np.int64) if labelled else None

        def read(pos: np.ndarray, paths: list[str] = paths) -> Iterator[np.ndarray]:
            chosen = [paths[i] for i in pos]
            yield from _map(_decode_many, [(t, mode, size) for t in _tasks(chosen)], len(chosen))

        parts[split] = Part(len(paths), read, y)
    return Source((channels, size[1], size[0]), class_names, parts, notes=notes)


# --- listing -----------------------------------------------------------------------------------------

def _list(root: Path) -> tuple[dict[str, list[tuple[str, str | None]]], list[str]]:
    """split ("all" when there are no split folders) -> sorted (file, class name or None), and notes."""
    subdirs = _subdirs(root)
    splits = {d: SPLIT_FOLDERS[d.name.lower()] for d in subdirs if d.name.lower() in SPLIT_FOLDERS}
    notes: list[str] = []
    if not splits:
        listing = {"all": _classes(root, notes)}
    else:
        if len(set(splits.values())) < len(splits):
            raise SslabError(f"{root}: several folders hold the same split: "
                             + ", ".join(sorted(d.name for d in splits)))
        ignored = [d.name for d in subdirs if d not in splits]
        if ignored:
            notes.append(f"folders other than the splits ignored: {', '.join(ignored)}")
        listing = {}
        for d, split in sorted(splits.items(), key=lambda kv: SPLIT_NAMES.index(kv[1])):
            entries = _classes(d, notes) if split != "unlabeled" else [(f, None) for f in _images(d)]
            if entries:
                listing[split] = entries
    if not any(listing.values()):
        with os.scandir(root) as entries:
            empty = not any(not _hidden(e.name) for e in entries)
        raise SslabError(f"{root}: " + ("the folder is empty" if empty else
                         f"no images in it or its sub-folders (looked for {', '.join(EXTENSIONS)} files)"))
    return listing, notes


def _classes(folder: Path, notes: list[str]) -> list[tuple[str, str | None]]:
    """(file, class) for the images below each class folder, or (file, None) for loose images when there are none."""
    labelled = [(f, d.name) for d in _subdirs(folder) for f in _images(d)]
    with os.scandir(folder) as entries:
        loose = sorted(e.path for e in entries if e.is_file() and _is_image(e.name))
    if labelled and loose:
        notes.append(f"{len(loose):,} images directly in {folder} (not in a class folder) ignored")
    return labelled or [(f, None) for f in loose]


def _subdirs(folder: Path) -> list[Path]:
    with os.scandir(folder) as entries:
        return sorted(Path(e.path) for e in entries if e.is_dir() and not _hidden(e.name))


def _images(folder: Path) -> list[str]:
    """Every image file below folder, sorted by relative path."""
    found = []
    for top, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not _hidden(d)]
        found += [os.path.join(top, n) for n in names if _is_image(n)]
    return sorted(found)


def _hidden(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def _is_image(name: str) -> bool:
    return name.lower().endswith(EXTENSIONS) and not _hidden(name)


# --- headers ---------------------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers (not DHT, JPG, DAC)


def _headers(paths: list[str]) -> np.ndarray:
    """(n, 3) int64: width, height and 1 if greyscale, for each image."""
    return np.array([_header(p) for p in paths], dtype=np.int64).reshape(-1, 3)


def _header(path: str) -> tuple[int, int, bool]:
    """(width, height, grey) from a PNG's or JPEG's first bytes (3x faster than Pillow's parser,
    which reads every marker), else from Pillow's header parser."""
    with open(path, "rb") as f:
        head = f.read(4096)
    found = _png_header(head) if head.startswith(_PNG_SIGNATURE) else _jpeg_header(head)
    if found:
        return found
    try:
        with Image.open(path) as im:
            return im.width, im.height, im.mode in GREY_MODES
    except Exception as e:  # Pillow's parsers raise many types on a bad file; all mean the same here
        raise SslabError(f"{path}: cannot read this image ({type(e).__name__}: {e})") from None


def _png_header(head: bytes) -> tuple[int, int, bool] | None:
    """From the IHDR chunk, which a PNG must start with; colour types 0 and 4 are grey (and grey+alpha)."""
    if len(head) < 26 or head[12:16] != b"IHDR":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big"), head[25] in (0, 4)


def _jpeg_header(head: bytes) -> tuple[int, int, bool] | None:
    """From the first start-of-frame marker: one component is grey. None when it is not in `head`
    (a large EXIF block first): Pillow then reads the file."""
    if not head.startswith(b"\xff\xd8"):
        return None
    i = 2
    while i + 10 <= len(head):
        if head[i] != 0xFF:
            return None
        marker = head[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _JPEG_SOF:  # FF Cn, length (2), precision (1), height (2), width (2), components (1)
            height, width = int.from_bytes(head[i + 5 : i + 7], "big"), int.from_bytes(head[i + 7 : i + 9], "big")
            return width, height, head[i + 9] == 1
        i += 2 + int.from_bytes(head[i + 2 : i + 4], "big")
    return None


# --- decoding --------------------------------------------------------------------------------------

def _decode_many(task: tuple[list[str], str, tuple[int, int]]) -> np.ndarray:
    """(paths, mode, (width, height)) -> (k, C, H, W) uint8."""
    paths, mode, (w, h) = task
    out = np.empty((len(paths), 1 if mode == "L" else 3, h, w), dtype=np.uint8)
    for i, path in enumerate(paths):
        x = _decode(path, mode, (w, h))
        out[i] = x[None] if x.ndim == 2 else x.transpose(2, 0, 1)
    return out


def _decode(path: str, mode: str, size: tuple[int, int]) -> np.ndarray:
    """One image as (H, W) ("L") or (H, W, 3) ("RGB") uint8 at size (width, height)."""
    try:
        with Image.open(path) as im:
            if im.format == "JPEG" and im.width >= 2 * size[0] and im.height >= 2 * size[1]:
                im.draft(mode, size)  # decode at 1/2, 1/4 or 1/8 scale, still at least `size`
            im = _convert(im, mode)
            if im.size != size:
                im = im.resize(size, Image.Resampling.BILINEAR)  # antialiased when shrinking
            return np.asarray(im)
    except Exception as e:  # Pillow's decoders raise many types on a bad file; all mean the same here
        raise SslabError(f"{path}: cannot read this image ({type(e).__name__}: {e})") from None


def _convert(im: Image.Image, mode: str) -> Image.Image:
    if im.mode == mode:
        return im
    if im.mode.startswith("I"):  # 16-bit grey: Pillow's convert would clip at 255, keep the high byte
        im = Image.fromarray((np.asarray(im).astype(np.uint32) >> 8).clip(0, 255).astype(np.uint8))
    elif im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")  # Pillow expands a palette with transparency through RGBA
    return im.convert(mode)


# --- parallel map ----------------------------------------------------------------------------------

def _tasks(paths: list[str]) -> list[list[str]]:
    """Paths cut into tasks: small enough that every worker gets several, at most TASK each."""
    per = max(1, min(TASK, math.ceil(len(paths) / (4 * _workers()))))
    return [paths[i : i + per] for i in range(0, len(paths), per)]


def _workers() -> int:
    if WORKERS:
        return WORKERS
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _context() -> multiprocessing.context.BaseContext:
    """Workers forked from a server process that holds no threads: forking this one, which holds torch's and
    other libraries' threads, can leave a worker waiting forever on a lock a thread held at the fork (seen
    here). The server starts once per process (about 1.4 s here) with this module imported."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    return ctx


def _map(fn: Callable, tasks: list, n_images: int) -> Iterator:
    """fn over tasks (of n_images images in all), results in order; in forked worker processes when
    there are enough images.

    On Linux the workers come from the fork server (see _context); elsewhere, for few images, and in a daemon
    process (which may not have children), the tasks run here.
    """
    workers = min(_workers(), len(tasks))
    here = workers < 2 or n_images < PARALLEL_FROM or multiprocessing.current_process().daemon
    if here or not sys.platform.startswith("linux"):
        yield from map(fn, tasks)
        return
    pool = _context().Pool(workers)
    try:
        yield from pool.imap(fn, tasks)
    finally:
        pool.terminate()
