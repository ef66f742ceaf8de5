"""Datasets: one module per file format, all read into the one in-memory type, `Images`.

A format module (registered under its file name) has
  DESCRIPTION  one line naming the layout it reads (listed when a path is not recognised);
  PRIORITY     detection order (lower first; default 50; the catch-all image folder goes last);
  VIEWS        the view recipe the data calls for by default (see sslab.views);
  ENCODER      the encoder it calls for by default, or None to choose by image size;
  detect(path) -> bool: cheap, from the name and the first bytes;
  source(path, image_size) -> Source: the splits, labels and class names, without reading pixels.
`load(path)` recognises the format, picks the images to keep (all, or a stratified subsample),
checks that they fit in memory before reading any pixel, and streams them into one preallocated
uint8 tensor: no float copy, no second full copy.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import os
import pkgutil
import shutil
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
import torch.nn.functional as F

from sslab.data import files
from sslab.data.images import SPLIT_NAMES, Factors, Images, Part, Source
from sslab.errors import SslabError

__all__ = ["Images", "Factors", "Part", "Source", "load", "prepare", "from_arrays", "REGISTRY", "FORMATS"]


def _formats() -> dict[str, ModuleType]:
    """Every module of this package that reads a format (it has `detect`), in detection order (PRIORITY)."""
    found = [importlib.import_module(f"{__name__}.{m.name}") for m in pkgutil.iter_modules(__path__)]
    found = sorted((m for m in found if hasattr(m, "detect")), key=lambda m: getattr(m, "PRIORITY", 50))
    return {m.__name__.rsplit(".", 1)[-1]: m for m in found}


REGISTRY = _formats()
FORMATS = tuple(REGISTRY)


def detect(path: str | Path) -> str:
    """The registry name of the format at path, or a one-line error listing the formats sslab reads."""
    path = Path(path)
    if not path.exists():
        raise SslabError(f"data not found: {path}")
    if path.is_file() and path.suffix == ".npz":
        files.Npz(path)  # an npz that cannot be opened is damaged: say how, rather than "not a dataset"
    for name, module in REGISTRY.items():
        if module.detect(path):
            return name
    known = "; ".join(m.DESCRIPTION for m in REGISTRY.values() if getattr(m, "PRIORITY", 50) < 100)
    raise SslabError(f"{path}: not a dataset sslab reads. It reads: {known}")


def load(path: str | Path, n_images: int | None = None, seed: int = 0, image_size: int | None = None,
         format: str | None = None) -> Images:
    """Read a dataset into memory.

    n_images: keep this many images, drawn from every split in proportion and stratified by class
      (seeded), without reading the others' pixels. image_size: resize every image to this square side.
    """
    path = Path(path)
    name = format or detect(path)
    if format and not path.exists():
        raise SslabError(f"data not found: {path}")
    if image_size is not None and image_size < 8:
        raise SslabError(f"image size must be at least 8 pixels, got {image_size}")
    if name == "prepared" and n_images is None and image_size is None:
        return REGISTRY[name].mapped(path)  # no copy: training and extraction read it in chunks
    source = REGISTRY[name].source(path, image_size)
    images = materialise(source, str(path), name, n_images, seed, image_size)
    if name == "prepared":  # the original format's views and encoder, as for the whole folder
        images = dataclasses.replace(images, format=REGISTRY[name].original_format(path))
    return images


def prepare(path: str | Path, out_dir: str | Path, n_images: int | None = None, seed: int = 0,
            image_size: int | None = None) -> Images:
    """Convert any dataset sslab reads into a prepared folder (see sslab.data.prepared), streaming it a chunk at a
    time into a memory-mapped images.npy: it never holds the whole dataset in memory. Returns it, mapped."""
    import json

    path, out_dir = Path(path), Path(out_dir)
    name = detect(path)
    if image_size is not None and image_size < 8:
        raise SslabError(f"image size must be at least 8 pixels, got {image_size}")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise SslabError(f"{out_dir} exists and is not empty")
    source = REGISTRY[name].source(path, image_size)
    tmp = out_dir.with_name(out_dir.name + ".partial")
    tmp.mkdir(parents=True, exist_ok=True)
    images = materialise(source, str(path), name, n_images, seed, image_size, into=tmp)
    np.save(tmp / "labels.npy", images.y.numpy(), allow_pickle=False)
    for split, idx in images.splits.items():
        np.save(tmp / f"split-{split}.npy", idx.numpy(), allow_pickle=False)
    (tmp / "sslab.json").write_text(json.dumps({"class_names": list(images.class_names), "format": name,
                                                "source": str(path), "shape": list(images.x.shape),
                                                "notes": source.notes}, indent=2))
    del images
    if out_dir.exists():
        out_dir.rmdir()
    tmp.rename(out_dir)
    return REGISTRY["prepared"].mapped(out_dir)


def from_arrays(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor | None = None,
                class_names: list[str] | tuple[str, ...] | None = None,
                splits: dict[str, np.ndarray | torch.Tensor] | None = None) -> Images:
    """Images from arrays in memory (see sslab.data.arrays)."""
    return REGISTRY["arrays"].from_arrays(x, y, class_names, splits)


def materialise(source: Source, origin: str, format: str, n_images: int | None = None, seed: int = 0,
                image_size: int | None = None, into: Path | None = None) -> Images:
    """Choose the images to keep, check memory, and read them into one uint8 tensor (or, `into` a folder, into
    a memory-mapped into/images.npy, checking disk space instead)."""
    c, h, w = source.shape
    side = (h, w) if image_size is None else (image_size, image_size)
    k = len(source.class_names)
    for split, part in source.parts.items():
        if split not in (*SPLIT_NAMES, "all"):
            raise ValueError(f"unknown split {split!r}")
        for what, arr in (("labels", part.y), ("factor values", part.values)):
            if arr is not None and len(arr) != part.n:
                raise SslabError(f"{origin}: the {split} split has {part.n} images but {len(arr)} {what}")
        if part.y is not None and part.n and (part.y.min() < 0 or part.y.max() >= k):
            bad = part.y[(part.y < 0) | (part.y >= k)][0]
            raise SslabError(f"{origin}: label {int(bad)} in the {split} split is out of range: "
                             f"{k} classes ({', '.join(source.class_names[:12])}{', ...' if k > 12 else ''})")
    total = sum(p.n for p in source.parts.values())
    if total == 0:
        raise SslabError(f"{origin}: holds no images")
    keep = _choose(source.parts, n_images, seed, total)
    n = sum(len(v) for v in keep.values())
    need = n * c * side[0] * side[1]
    free = available_memory() if into is None else shutil.disk_usage(into).free
    if into is not None and need > free:
        raise SslabError(f"{origin}: {n:,} images of {c}x{side[0]}x{side[1]} need {_gb(need)} on disk, "
                         f"{_gb(free)} is free in {into}")
    if into is None and free is not None and need > 0.8 * free:
        fits = max(1, int(0.8 * free / (c * side[0] * side[1])))
        raise SslabError(
            f"{origin}: {n:,} images of {c}x{side[0]}x{side[1]} need {_gb(need)} in memory, {_gb(free)} is free; "
            f"subsample with --n-images {fits:,} or fewer (or --image-size to shrink them)")
    x = torch.empty((n, c, *side), dtype=torch.uint8) if into is None else \
        torch.from_numpy(np.lib.format.open_memmap(into / "images.npy", mode="w+", dtype=np.uint8, shape=(n, c, *side)))
    ys, values, splits, start = [], [], {}, 0
    for split, pos in keep.items():
        part = source.parts[split]
        at = start
        for chunk in part.read(pos):
            chunk = torch.from_numpy(chunk)  # may be a strided view (a transposed layout): copied once, below
            if tuple(chunk.shape[2:]) != side:
                chunk = _resize(chunk, side)
            x[at : at + len(chunk)] = chunk
            at += len(chunk)
        if at != start + len(pos):
            raise SslabError(f"{origin}: the {split} split ended after {at - start} of {len(pos)} images (truncated?)")
        ys.append(torch.from_numpy(part.y[pos].astype(np.int64)) if part.y is not None
                  else torch.full((len(pos),), -1, dtype=torch.int64))
        if part.values is not None:
            values.append(torch.from_numpy(part.values[pos].astype(np.float64)))
        if split != "all":
            splits[split] = torch.arange(start, start + len(pos))
        start += len(pos)
    factors = source.factors(torch.cat(values)) if source.factors is not None and values else None
    return Images(x, torch.cat(ys), tuple(source.class_names), splits, factors, origin, format)


def _choose(parts: dict[str, Part], n_images: int | None, seed: int, total: int) -> dict[str, np.ndarray]:
    """Positions to keep in each part: all of them, or n_images in proportion to the parts' sizes,
    stratified by label within each part (largest remainders, then a seeded random draw per class)."""
    if n_images is None or n_images >= total:
        return {k: np.arange(p.n) for k, p in parts.items() if p.n}
    if n_images < 1:
        raise SslabError(f"--n-images must be at least 1, got {n_images}")
    rng = np.random.default_rng(seed)
    quotas = _apportion({k: p.n for k, p in parts.items()}, n_images)
    out = {}
    for k, p in parts.items():
        if not quotas[k]:
            continue
        if p.y is None:
            out[k] = np.sort(rng.choice(p.n, quotas[k], replace=False))
            continue
        classes = np.unique(p.y)
        per = _apportion({int(c): int((p.y == c).sum()) for c in classes}, quotas[k])
        pick = [rng.choice(np.flatnonzero(p.y == c), per[int(c)], replace=False) for c in classes]
        out[k] = np.sort(np.concatenate(pick))
    return out


def _apportion(sizes: dict, n: int) -> dict:
    """Split n among groups in proportion to their sizes, by largest remainder (never above a group's size)."""
    total = sum(sizes.values())
    exact = {k: n * s / total for k, s in sizes.items()}
    out = {k: min(sizes[k], math.floor(v)) for k, v in exact.items()}
    for k in sorted(sizes, key=lambda k: exact[k] - math.floor(exact[k]), reverse=True):
        if sum(out.values()) >= n:
            break
        if out[k] < sizes[k]:
            out[k] += 1
    return out


def _resize(chunk: torch.Tensor, side: tuple[int, int]) -> torch.Tensor:
    """uint8 (k, C, H, W) -> uint8 (k, C, *side), antialiased bilinear."""
    out = F.interpolate(chunk.float(), size=side, mode="bilinear", antialias=True, align_corners=False)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def available_memory() -> int | None:
    """Bytes of memory free for new data (MemAvailable), or None where it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"
