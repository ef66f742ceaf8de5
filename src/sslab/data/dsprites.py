"""dSprites (Matthey et al. 2017): a renderer for the latent grid, a generator, and the npz format.

The full grid is 3 shapes x 6 scales x 40 orientations x 32 posX x 32 posY = 737,280 binary 64x64
images. The renderer reproduces the real pixels from the latents' true values: pixel centres are
mapped into the sprite's frame and tested against an analytic shape. Its constants were fitted to
the real images (mean IoU with them: square 0.9997, ellipse 0.9993, heart 0.957).

Files may hold a sub-grid (fewer shapes, scales, orientations or positions); their `latents_classes`
are then re-indexed 0..k-1, so the factors are read from `latents_values`, which keep the true values.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from sslab.data.images import Factors, Images
from sslab.errors import SslabError
from sslab.i18n import N_

DESCRIPTION = "dSprites npz (imgs, latents_values or latents_classes)"
VIEWS = "dsprites"
ENCODER = "encoder_core"
# The data's method settings, chosen on validation (README, "Training recipes"). At the tutorial's temperature
# 0.5, SimCLR at batch 128 was still at 55% shape accuracy after 10 epochs; at 0.1 its features jump from scale
# to shape mid-training (99.9% on validation after 40 epochs). 30 epochs keep 99.4% (26: 96.8%); the
# VAE's linear validation accuracy is flat from its second epoch (`benchmarks/val_curve.py`).
# MAE's linear validation accuracy is flat from its second epoch (46.3% after 2 and 4; 72 s an epoch with vit_mini).
# The joint-embedding methods get SimCLR's 30 epochs (SwAV, at half SimCLR's images/s, 20): within 1.5x its time.
# None of them left the 45-58% plateau on validation in any setting tried (README); kept are the best measured
# after 30 epochs: SimSiam and BYOL on the features without a projector (58.3%, 55.4%), MoCo at temperature 0.1 and
# lr 4e-3 (56.8%), Barlow Twins without a projector (54.8%, against 49.1% with its projector after 20 epochs).
METHODS = {"simclr": {"temperature": 0.1, "epochs": 30}, "vae": {"epochs": 5}, "mae": {"epochs": 4},
           "vicreg": {"epochs": 30}, "swav": {"epochs": 20}, "moco": {"epochs": 30, "temperature": 0.1, "lr": 4e-3},
           **{m: {"epochs": 30, "proj_dim": 0} for m in ("byol", "simsiam", "barlow_twins")}}

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
    """(N, 5) class indices of the full grid -> (N, 5) float64 values: shape 1..3, scale 0.5..1,
    orientation 0..2pi, positions 0..1."""
    c = torch.as_tensor(latents).double()
    return torch.stack(
        [c[:, 0] + 1, 0.5 + c[:, 1] / 10, c[:, 2] * (2 * math.pi / 39), c[:, 3] / 31, c[:, 4] / 31], dim=1
    )


def _grid_levels() -> tuple[torch.Tensor, ...]:
    levels = []
    for k, size in enumerate(LATENT_SIZES):
        c = torch.zeros(size, 5, dtype=torch.int64)
        c[:, k] = torch.arange(size)
        levels.append(latent_values(c)[:, k])
    return tuple(levels)


GRID_LEVELS = _grid_levels()  # every factor's values on the full grid


def describe(values: torch.Tensor) -> tuple[list[str], np.ndarray]:
    """Captions and sprite centres for a gallery: (N, 5) values -> N captions, (N, 2) (x, y) pixel coordinates."""
    v = torch.as_tensor(values, dtype=torch.float64)
    captions = [f"{SHAPE_NAMES[int(round(s)) - 1]} s={sc:.1f}\n{math.degrees(o):.0f}\u00b0 x={px:.2f} y={py:.2f}"
                for s, sc, o, px, py in v.tolist()]
    return captions, (_centre(v[:, 3:5]) - 0.5).numpy()  # imshow puts pixel i's centre at i


def _centre(pos: torch.Tensor) -> torch.Tensor:
    """Latent position in [0, 1] -> sprite centre in pixels: it moves over the middle half of the image."""
    return 16 + 32 * pos


def render(values: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """Render dSprites images from latent values.

    values: (N, 5) (shape 1..3, scale, orientation in radians, posX, posY in [0, 1]), as in
    `latents_values`; `latent_values(classes)` converts full-grid class indices.
    Returns (N, 1, 64, 64) uint8 images with values 0 or 255.
    """
    values = torch.as_tensor(values, dtype=torch.float64)
    if values.ndim != 2 or values.shape[1] != 5:
        raise ValueError(f"latent values must be (N, 5), got {tuple(values.shape)}")
    shapes = values[:, 0].round()
    if len(values) and ((shapes < 1) | (shapes > 3)).any():
        raise ValueError("shape values must be 1, 2 or 3 (square, ellipse, heart)")
    return torch.cat([_render_chunk(values[i : i + chunk]) for i in range(0, len(values), chunk)] or
                     [torch.zeros(0, 1, IMAGE_SIZE, IMAGE_SIZE, dtype=torch.uint8)])


def _render_chunk(values: torch.Tensor) -> torch.Tensor:
    v = values.float()
    shape, scale, theta = values[:, 0].round().long() - 1, v[:, 1, None, None], v[:, 2, None, None]
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
    """A random subset of the full dSprites grid, drawn without replacement with a fixed seed and rendered."""
    if not 0 < n_images <= GRID_SIZE:
        raise SslabError(f"n_images must be in 1..{GRID_SIZE}, got {n_images}")
    g = torch.Generator().manual_seed(seed)
    flat = torch.randperm(GRID_SIZE, generator=g)[:n_images].sort().values
    values = latent_values(torch.stack(torch.unravel_index(flat, LATENT_SIZES), dim=1))
    factors = make_factors(values, GRID_LEVELS)
    return Images(render(values), factors.classes("shape"), factors.level_names[0], {}, factors,
                  N_("{n} images generated from the dSprites grid (seed {seed})").format(n=f"{n_images:,}", seed=seed),
                  "dsprites")


def make_factors(values: torch.Tensor, levels: tuple[torch.Tensor, ...] = (), size: int = IMAGE_SIZE) -> Factors:
    """The five dSprites factors of images with these (N, 5) true values; levels default to those present."""
    if not levels:
        # Values saved as float32 or re-computed differ in the last bits: merge levels closer than 1e-6.
        levels = tuple(_distinct(values[:, k]) for k in range(5))

    def names(k: int, lv: torch.Tensor) -> tuple[str, ...]:
        if k == 0:
            return tuple(SHAPE_NAMES[int(round(v)) - 1] for v in lv.tolist())
        if k == 2:
            return tuple(f"{math.degrees(v):.0f}\u00b0" for v in lv.tolist())
        return tuple(f"{v:.2f}" for v in lv.tolist())

    def draw(v: torch.Tensor) -> torch.Tensor:
        x = render(v)
        if size == IMAGE_SIZE:
            return x
        return F.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True).round().to(torch.uint8)

    return Factors(LATENT_NAMES, values, levels, tuple(names(k, lv) for k, lv in enumerate(levels)), draw, describe)


def _distinct(v: torch.Tensor) -> torch.Tensor:
    u = torch.unique(v)
    keep = torch.ones(len(u), dtype=torch.bool)
    keep[1:] = u.diff() > 1e-6
    return u[keep]


# --- the npz format ---------------------------------------------------------------------------------

def detect(path: Path) -> bool:
    if not (path.is_file() and path.suffix == ".npz"):
        return False
    from sslab.data.files import Npz

    try:
        files = Npz(path).files
    except SslabError:
        return False
    return "imgs" in files and ("latents_values" in files or "latents_classes" in files)


def source(path: Path, image_size: int | None = None):
    """A dSprites npz (DeepMind layout): `imgs` (N, 64, 64) 0/1 and `latents_values` (N, 5), or only
    `latents_classes` (N, 5) of the full grid. Never unpickles: `metadata` is ignored."""
    from sslab.data.images import Part, Source
    from sslab.data.files import Npz

    f = Npz(path)
    shape = f.shape("imgs")
    if len(shape) != 3 or shape[1:] != (IMAGE_SIZE, IMAGE_SIZE) or f.dtype("imgs") != np.uint8:
        raise SslabError(f"{path}: imgs must be uint8 (N, 64, 64), got {f.dtype('imgs')} {shape}")
    n = shape[0]
    for key in ("latents_values", "latents_classes"):
        if key in f.files and f.shape(key) != (n, 5):
            raise SslabError(f"{path}: {key} must be (N, 5) with N={n}, got {f.shape(key)}")
    if "latents_values" in f.files:
        values = f.array("latents_values")
        if values.shape != (n, 5) or not np.issubdtype(values.dtype, np.floating):
            raise SslabError(f"{path}: latents_values must be float (N, 5) with N={n}, got {values.dtype} {values.shape}")
        values = torch.from_numpy(values.astype(np.float64))
        shapes = values[:, 0].round()
        if ((shapes < 1) | (shapes > 3)).any() or not torch.isfinite(values).all():
            raise SslabError(f"{path}: latents_values out of range (shape must be 1, 2 or 3)")
    else:  # classes alone can only be read as the full grid's
        classes = f.array("latents_classes")
        if classes.shape != (n, 5) or not np.issubdtype(classes.dtype, np.integer):
            raise SslabError(f"{path}: latents_classes must be integer (N, 5) with N={n}, got {classes.dtype} "
                             f"{classes.shape}")
        if (classes < 0).any() or (classes >= np.array(LATENT_SIZES)).any():
            raise SslabError(f"{path}: latents_classes out of range, sizes are {LATENT_SIZES}")
        values = latent_values(torch.from_numpy(classes.astype(np.int64)))
    if n == 0:
        raise SslabError(f"{path}: holds no images")
    template = make_factors(values)  # levels and names from what the file holds
    side = image_size or IMAGE_SIZE

    def read(pos: np.ndarray):
        for chunk in f.records("imgs", pos):
            if chunk.max(initial=0) > 1:
                raise SslabError(f"{path}: imgs must be binary (0/1) as in dSprites, found {chunk.max()}")
            yield (chunk * np.uint8(255))[:, None]

    return Source((1, IMAGE_SIZE, IMAGE_SIZE), template.level_names[0],
                  {"all": Part(n, read, template.classes("shape").numpy(), values.numpy())},
                  factors=lambda v: make_factors(v, template.levels, side))
