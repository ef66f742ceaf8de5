"""dSprites (Matthey et al. 2017): a renderer for the full latent grid and a loader for the npz file.

The grid is 3 shapes x 6 scales x 40 orientations x 32 posX x 32 posY = 737,280 binary 64x64 images.
The renderer reproduces the real pixels from the latents: pixel centres are mapped into the
sprite's frame and tested against an analytic shape. Its constants were fitted to the real
images (mean IoU with them: square 0.9997, ellipse 0.9993, heart 0.957).
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np
import torch

from sslab.data.images import Images
from sslab.errors import SslabError

LATENT_NAMES = ("shape", "scale", "orientation", "posX", "posY")
LATENT_SIZES = (3, 6, 40, 32, 32)
SHAPE_NAMES = ("square", "ellipse", "heart")
IMAGE_SIZE = 64
GRID_SIZE = math.prod(LATENT_SIZES)

# Sprite geometry at scale 1, in pixels (fitted to the real images, see module docstring).
_SQUARE_HALF_SIDE = 9.6
_ELLIPSE_AXES = (12.76, 7.22)  # semi-axes along x and y before rotation
_HEART_SIDE = 11.61  # side of the 45-degree square forming the heart's point
_HEART_SHIFT = 0.19  # the square's centre sits this far below the sprite's centre
_HEART_LOBE = 0.945 * _HEART_SIDE / 2  # radius of the two lobes on its upper edges


def latent_values(latents: torch.Tensor) -> torch.Tensor:
    """(N, 5) class indices -> (N, 5) float values: shape 1..3, scale 0.5..1, orientation 0..2pi, pos 0..1."""
    c = latents.double()
    return torch.stack(
        [c[:, 0] + 1, 0.5 + c[:, 1] / 10, c[:, 2] * (2 * math.pi / 39), c[:, 3] / 31, c[:, 4] / 31], dim=1
    )


def describe(latents: torch.Tensor) -> tuple[list[str], np.ndarray]:
    """Captions and sprite centres for a gallery: (N, 5) class indices -> N captions, (N, 2) (x, y) pixel coordinates."""
    v = latent_values(latents)
    captions = [f"{SHAPE_NAMES[int(s) - 1]} s={sc:.1f}\n{math.degrees(o):.0f}\u00b0 x={px:.2f} y={py:.2f}"
                for s, sc, o, px, py in v.tolist()]
    return captions, (_centre(v[:, 3:5]) - 0.5).numpy()  # imshow puts pixel i's centre at i


def _centre(pos: torch.Tensor) -> torch.Tensor:
    """Latent position in [0, 1] -> sprite centre in pixels: it moves over the middle half of the image."""
    return 16 + 32 * pos


def render(latents: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """Render dSprites images from latent class indices.

    latents: (N, 5) int64 (shape, scale, orientation, posX, posY) class indices.
    Returns (N, 1, 64, 64) uint8 images with values 0 or 255.
    """
    latents = torch.as_tensor(latents, dtype=torch.int64)
    if latents.ndim != 2 or latents.shape[1] != 5:
        raise ValueError(f"latents must be (N, 5), got {tuple(latents.shape)}")
    hi = torch.tensor(LATENT_SIZES)
    if len(latents) and ((latents < 0) | (latents >= hi)).any():
        raise ValueError(f"latent classes out of range; sizes are {LATENT_SIZES}")
    return torch.cat([_render_chunk(latents[i : i + chunk]) for i in range(0, len(latents), chunk)] or
                     [torch.zeros(0, 1, IMAGE_SIZE, IMAGE_SIZE, dtype=torch.uint8)])


def _render_chunk(latents: torch.Tensor) -> torch.Tensor:
    v = latent_values(latents).float()
    shape, scale, theta = latents[:, 0], v[:, 1, None, None], v[:, 2, None, None]
    grid = torch.arange(IMAGE_SIZE, dtype=torch.float32) + 0.5  # pixel centres
    dx = grid[None, None, :] - _centre(v[:, 3, None, None])  # (N, 1, W): columns
    dy = grid[None, :, None] - _centre(v[:, 4, None, None])  # (N, H, 1): rows, pointing down
    cos, sin = torch.cos(theta), torch.sin(theta)
    u = (cos * dx - sin * dy) / scale  # (N, H, W) in the sprite's frame at scale 1
    w = (sin * dx + cos * dy) / scale

    img = torch.empty(u.shape, dtype=torch.bool)
    for s, inside in enumerate((_square, _ellipse, _heart)):
        sel = shape == s
        img[sel] = inside(u[sel], w[sel])
    return (img.to(torch.uint8) * 255).unsqueeze(1)


def _square(u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return torch.maximum(u.abs(), w.abs()) <= _SQUARE_HALF_SIDE


def _ellipse(u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return (u / _ELLIPSE_AXES[0]) ** 2 + (w / _ELLIPSE_AXES[1]) ** 2 <= 1


def _heart(u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """A square standing on its corner plus two discs on its two upper edges."""
    h = _HEART_SIDE / math.sqrt(2)
    w = w - _HEART_SHIFT
    return (u.abs() + w.abs() <= h) | ((u.abs() - h / 2) ** 2 + (w + h / 2) ** 2 <= _HEART_LOBE**2)


def generate(n_images: int = 20_000, seed: int = 2021) -> Images:
    """A random subset of the dSprites grid, drawn without replacement with a fixed seed and rendered."""
    if not 0 < n_images <= GRID_SIZE:
        raise SslabError(f"n_images must be in 1..{GRID_SIZE}, got {n_images}")
    g = torch.Generator().manual_seed(seed)
    flat = torch.randperm(GRID_SIZE, generator=g)[:n_images].sort().values
    latents = torch.stack(torch.unravel_index(flat, LATENT_SIZES), dim=1)
    return Images(render(latents), latents, LATENT_NAMES, LATENT_SIZES)


def load(path: str | Path) -> Images:
    """Load a dSprites npz (the DeepMind layout: `imgs` (N,64,64) and `latents_classes` (N,5)).

    Never unpickles: the `metadata` entry is ignored, the latent names and sizes are constants.
    """
    path = Path(path)
    if not path.is_file():
        raise SslabError(f"data file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("imgs", "latents_classes") if k not in f.files]
            if missing:
                raise SslabError(f"{path}: not a dSprites npz, missing array(s) {', '.join(missing)} "
                                 f"(has: {', '.join(f.files) or 'nothing'})")
            imgs, classes = f["imgs"], f["latents_classes"]
    except SslabError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise SslabError(f"{path}: cannot read as npz ({e})") from None
    if imgs.ndim != 3 or imgs.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE) or imgs.dtype != np.uint8:
        raise SslabError(f"{path}: imgs must be uint8 (N, 64, 64), got {imgs.dtype} {imgs.shape}")
    if classes.shape != (len(imgs), 5) or not np.issubdtype(classes.dtype, np.integer):
        raise SslabError(f"{path}: latents_classes must be integer (N, 5) with N={len(imgs)}, "
                         f"got {classes.dtype} {classes.shape}")
    if len(imgs) == 0:
        raise SslabError(f"{path}: holds no images")
    if (classes < 0).any() or (classes >= np.array(LATENT_SIZES)).any():
        raise SslabError(f"{path}: latents_classes out of range, sizes are {LATENT_SIZES}")
    if imgs.max() > 1:
        raise SslabError(f"{path}: imgs must be binary (0/1) as in dSprites, max is {imgs.max()}")
    x = torch.from_numpy(imgs * np.uint8(255)).unsqueeze(1)
    return Images(x, torch.from_numpy(classes.astype(np.int64)), LATENT_NAMES, LATENT_SIZES)
