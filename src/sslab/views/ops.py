"""Batched view operations with per-image random parameters.

Two kinds of function live here:
  draws  (`uniform`, `chance`, `crop_boxes`, `perspective_matrices`, ...) turn a torch.Generator into
         per-image parameters, one row per image, on the generator's device;
  applies (`resized_crop`, `warp_affine`, `brightness`, `hue`, `gaussian_blur`, ...) are pure
         functions of a float batch (B, C, H, W) in [0, 1] and those parameters.
`random_*` helpers combine a draw and an apply with a per-image probability p. No function loops over
the images of a batch in Python: every image gets its own parameters, the whole batch one kernel call.
Colour operations clamp to [0, 1] after each step, as torchvision's do.
"""

from __future__ import annotations

import math

import kornia
import torch
import torch.nn.functional as F

# ITU-R 601 luma, the weights of torchvision's rgb_to_grayscale (and of its saturation and contrast).
LUMA = (0.299, 0.587, 0.114)


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 images in 0..255 -> float32 in [0, 1] (same shape)."""
    return x.float().div_(255)


# ---------------------------------------------------------------- draws


def uniform(g: torch.Generator, shape: int | tuple[int, ...], lo: float, hi: float) -> torch.Tensor:
    """Floats uniform in [lo, hi), drawn on the generator's device."""
    shape = (shape,) if isinstance(shape, int) else shape
    return lo + (hi - lo) * torch.rand(shape, generator=g, device=g.device)


def chance(g: torch.Generator, n: int, p: float) -> torch.Tensor:
    """(n,) bool: True for each image with probability p (always drawn, so later draws don't depend on p)."""
    return torch.rand(n, generator=g, device=g.device) < p


def crop_boxes(g: torch.Generator, n: int, h: int, w: int, scale: tuple[float, float],
               ratio: tuple[float, float], attempts: int = 10) -> torch.Tensor:
    """torchvision's RandomResizedCrop.get_params for n images at once -> (n, 4) float (top, left, height, width).

    Integer pixel boxes covering a fraction `scale` of the area with aspect ratio (log-uniform) in
    `ratio`. As torchvision, up to 10 attempts per image and the first that fits wins; here all
    attempts are drawn at once (same distribution), and images with none that fits get torchvision's
    fallback: the central crop at the nearest allowed ratio.
    """
    area = h * w * uniform(g, (n, attempts), *scale)
    aspect = torch.exp(uniform(g, (n, attempts), math.log(ratio[0]), math.log(ratio[1])))
    cw = torch.round(torch.sqrt(area * aspect))
    ch = torch.round(torch.sqrt(area / aspect))
    fits = (cw > 0) & (cw <= w) & (ch > 0) & (ch <= h)  # (n, attempts)
    first = fits.int().argmax(1, keepdim=True)  # index of the first fitting attempt (0 if none)
    cw, ch = cw.gather(1, first)[:, 0], ch.gather(1, first)[:, 0]
    top = torch.floor(uniform(g, n, 0, 1) * (h - ch + 1))
    left = torch.floor(uniform(g, n, 0, 1) * (w - cw + 1))
    # torchvision's fallback, fixed by the image size alone
    fw, fh = w, h
    if w / h < min(ratio):
        fh = round(w / min(ratio))
    elif w / h > max(ratio):
        fw = round(h * max(ratio))
    box = torch.stack([top, left, ch, cw], 1)
    fallback = torch.tensor([(h - fh) // 2, (w - fw) // 2, fh, fw], dtype=box.dtype, device=box.device)
    return torch.where(fits.any(1, keepdim=True), box, fallback)


def flip_signs(g: torch.Generator, n: int, p: float) -> torch.Tensor:
    """(n,) float: -1 for images to flip (probability p), +1 for the others."""
    return 1 - 2 * chance(g, n, p).float()


def affine_matrices(g: torch.Generator, n: int, h: int, w: int, degrees: float, translate: float,
                    scale: tuple[float, float], shear: float = 0.0, integer_shift: bool = False) -> torch.Tensor:
    """torchvision's RandomAffine parameters for n images -> (n, 3, 3) forward maps in pixel coordinates.

    Rotation in [-degrees, degrees] and shear along x in [-shear, shear] (both degrees) about the image
    centre, isotropic zoom in `scale`, shift in [-translate, translate] x the image size per axis
    (rounded to whole pixels if integer_shift, as torchvision does).
    """
    angle = uniform(g, n, -degrees, degrees)
    shift = torch.stack([uniform(g, n, -translate, translate) * w, uniform(g, n, -translate, translate) * h], 1)
    if integer_shift:
        shift = torch.round(shift)
    zoom = uniform(g, n, *scale)
    shear_x = torch.deg2rad(uniform(g, n, -shear, shear)) if shear else None
    # kornia's get_affine_matrix2d in closed form (tested against it): about the centre (cx, cy), shear
    # along x, then rotation (clockwise as displayed) and zoom, then the shift
    cx, cy = (w - 1) / 2, (h - 1) / 2
    rad = torch.deg2rad(angle)
    cos, sin = zoom * torch.cos(rad), zoom * torch.sin(rad)
    zero, one = torch.zeros_like(cos), torch.ones_like(cos)
    m = torch.stack([cos, -sin, (1 - cos) * cx + sin * cy + shift[:, 0],
                     sin, cos, -sin * cx + (1 - cos) * cy + shift[:, 1],
                     zero, zero, one], 1).view(n, 3, 3)
    if shear_x is not None:
        k = torch.tan(shear_x)
        m = m @ torch.stack([one, -k, k * cy, zero, one, zero, zero, zero, one], 1).view(n, 3, 3)
    return m


def perspective_matrices(g: torch.Generator, n: int, h: int, w: int, distortion: float | tuple[float, ...],
                         p: float) -> torch.Tensor:
    """torchvision's RandomPerspective parameters for n images -> (n, 3, 3) forward homographies.

    Each corner moves inwards by a whole number of pixels, uniform in 0..int(distortion x half the
    side) per axis; images not drawn (probability 1 - p) get the identity. Several distortions
    (applied in turn) give their composition, drawn in turn but solved for in one batch.
    """
    distortions = (distortion,) if isinstance(distortion, (int, float)) else tuple(distortion)
    corners = torch.tensor([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=torch.float32, device=g.device)
    inwards = torch.tensor([[1, 1], [-1, 1], [-1, -1], [1, -1]], dtype=torch.float32, device=g.device)
    ends = []
    for d in distortions:
        reach = torch.tensor([int(d * (w // 2)) + 1, int(d * (h // 2)) + 1], dtype=torch.float32, device=g.device)
        offsets = torch.floor(uniform(g, (n, 4, 2), 0, 1) * reach)  # (n, 4, 2) integers in 0..dx / 0..dy
        applied = chance(g, n, p)[:, None, None]
        ends.append(corners + inwards * offsets * applied)
    each = homographies(corners, torch.cat(ends)).view(len(distortions), n, 3, 3)
    matrix = each[0]
    for m in each[1:]:  # later distortions act on the result: multiply on the left
        matrix = m @ matrix
    return matrix  # (n, 3, 3)


def homographies(start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
    """The (N, 3, 3) homographies taking the 4 points `start` (4, 2) to each `end` (N, 4, 2), as kornia's
    get_perspective_transform (tested against it), from one batched 8x8 solve: for each point (x, y) -> (u, v),
    [x, y, 1, 0, 0, 0, -xu, -yu] h = u and [0, 0, 0, x, y, 1, -xv, -yv] h = v, with h33 = 1."""
    n = len(end)
    x, y = start[:, 0].expand(n, 4), start[:, 1].expand(n, 4)
    u, v = end[..., 0], end[..., 1]
    one, zero = torch.ones_like(u), torch.zeros_like(u)
    rows_u = torch.stack([x, y, one, zero, zero, zero, -x * u, -y * u], -1)  # (N, 4, 8)
    rows_v = torch.stack([zero, zero, zero, x, y, one, -x * v, -y * v], -1)
    a = torch.cat([rows_u, rows_v], 1).double()  # (N, 8, 8)
    h = torch.linalg.solve(a, torch.cat([u, v], 1).double()[..., None])[..., 0].to(end.dtype)  # (N, 8)
    return torch.cat([h, torch.ones_like(h[:, :1])], 1).view(n, 3, 3)


# ---------------------------------------------------------------- geometry


def resized_crop(x: torch.Tensor, boxes: torch.Tensor, size: tuple[int, int], hflip: torch.Tensor | None = None,
                 vflip: torch.Tensor | None = None) -> torch.Tensor:
    """Crop each image to its box, resize it to `size` and flip it: ONE bilinear warp for the batch.

    x: (B, C, H, W) float; boxes: (B, 4) (top, left, height, width) in pixels; hflip, vflip: (B,)
    signs (-1 flips). -> (B, C, size[0], size[1]). Sampling matches torchvision's resize of the crop
    (bilinear, half-pixel centres); pixels beyond the box edge are read from the image rather than
    clamped to the crop, and there is no antialiasing, which only matters when a crop is shrunk.
    """
    b, _, h, w = x.shape
    top, left, ch, cw = boxes.unbind(1)
    sx = cw / w * (hflip if hflip is not None else 1)
    sy = ch / h * (vflip if vflip is not None else 1)
    zero = torch.zeros_like(sx)
    # output [-1, 1] (align_corners=False) -> the box's edges in the input's normalised coordinates
    theta = torch.stack([torch.stack([sx, zero, (2 * left + cw) / w - 1], 1),
                         torch.stack([zero, sy, (2 * top + ch) / h - 1], 1)], 1)  # (B, 2, 3)
    grid = F.affine_grid(theta, [b, 1, *size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False).clamp_(0, 1)  # rounding


def warp_affine(x: torch.Tensor, matrices: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """(B, C, H, W) float warped by (B, 3, 3) affine forward maps (pixel centres at integers), zeros outside.

    kornia's warp_affine (the same pixels to 1e-5, tests/test_views.py) with the sampling grid built by two fused
    multiply-adds per coordinate instead of affine_grid's batched product: 2,000 64-px dSprites views take
    about 35 ms here instead of 70-120 ms."""
    b, _, h, w = x.shape
    norm = _pixels_to_unit(h, w, x.device)
    a = (norm @ torch.linalg.inv(matrices.double()) @ torch.linalg.inv(norm)).float()  # (B, 3, 3): output -> input
    v = torch.linspace(-1, 1, h, device=x.device).view(1, h, 1)
    u = torch.linspace(-1, 1, w, device=x.device).view(1, 1, w)
    grid = torch.empty(b, h, w, 2, device=x.device)
    for j in range(2):  # grid[..., j] = a[j, 0] u + a[j, 1] v + a[j, 2]
        row = torch.addcmul(a[:, j, 2].view(b, 1, 1), a[:, j, 0].view(b, 1, 1), u)  # (B, 1, W)
        torch.addcmul(row, a[:, j, 1].view(b, 1, 1), v, out=grid[..., j])
    return F.grid_sample(x, grid.to(x.dtype), mode=mode, padding_mode="zeros", align_corners=True).clamp_(0, 1)


def _pixels_to_unit(h: int, w: int, device: torch.device) -> torch.Tensor:
    """(3, 3): pixel coordinates (centres at 0 .. w-1) -> [-1, 1] (grid_sample's align_corners=True)."""
    return torch.tensor([[2 / max(w - 1, 1), 0, -1], [0, 2 / max(h - 1, 1), -1], [0, 0, 1]],
                        dtype=torch.float64, device=device)


def warp_perspective(x: torch.Tensor, matrices: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """(B, C, H, W) float warped by (B, 3, 3) forward homographies (pixel centres at integers), zeros outside.

    Kornia's warp_perspective in fewer operations: the pixel normalisation is folded into each
    inverse homography, so the sampling grid is one product and one division (2.4x faster on 28-px
    batches here, where the per-operation cost dominates).
    """
    b, _, h, w = x.shape
    norm = _pixels_to_unit(h, w, x.device)
    a = (norm @ torch.linalg.inv(matrices.double()) @ torch.linalg.inv(norm)).float()  # (B, 3, 3): output -> input
    v, u = torch.meshgrid(torch.linspace(-1, 1, h, device=x.device), torch.linspace(-1, 1, w, device=x.device),
                          indexing="ij")
    points = torch.stack([u, v, torch.ones_like(u)], -1).view(h * w, 3)
    xy = torch.einsum("pk,bjk->bpj", points, a[:, :2])  # (B, H*W, 2) homogeneous input coordinates ...
    z = torch.einsum("pk,bk->bp", points, a[:, 2]).clamp_min_(1e-8)  # (B, H*W) ... and their scale
    grid = (xy / z[..., None]).view(b, h, w, 2)
    return F.grid_sample(x, grid.to(x.dtype), mode=mode, padding_mode="zeros", align_corners=True).clamp_(0, 1)


# ---------------------------------------------------------------- colour


def grey(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 1, H, W) luma; a 1-channel batch is its own grey."""
    if x.shape[1] == 1:
        return x
    r, g, b = x.unbind(1)
    return (LUMA[0] * r + LUMA[1] * g + LUMA[2] * b)[:, None]


def _per_image(factor: torch.Tensor) -> torch.Tensor:
    return factor.view(-1, 1, 1, 1)


def brightness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Scale every pixel by the image's factor (B,), as torchvision's adjust_brightness."""
    return (x * _per_image(factor)).clamp_(0, 1)


def contrast(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend each image with its mean grey level (B,) factor, as torchvision's adjust_contrast."""
    channel_means = x.mean((2, 3), keepdim=True)  # (B, C, 1, 1): the grey image's mean without building it
    mean = grey(channel_means)
    f = _per_image(factor)
    return (f * x + (1 - f) * mean).clamp_(0, 1)


def saturation(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend each RGB image with its own grey version, as torchvision's adjust_saturation."""
    f = _per_image(factor)
    return (f * x + (1 - f) * grey(x)).clamp_(0, 1)


def hue_matrices(turns: torch.Tensor) -> torch.Tensor:
    """(B,) hue shifts as fractions of the full circle -> (B, 3, 3) rotations of RGB about the grey axis.

    Rodrigues' rotation by 2 pi x turns about a = (1, 1, 1)/sqrt(3): cos I + (1 - cos) a aᵀ + sin [a]x.
    Every row sums to 1, so grey pixels stay put. Positive turns move hue the way torchvision's and
    kornia's HSV hue does (red -> yellow -> green).
    """
    theta = 2 * math.pi * torch.remainder(turns.float(), 1.0)  # whole turns drop out exactly
    c, s = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    k = 1 / math.sqrt(3)
    cross = torch.tensor([[0, -k, k], [k, 0, -k], [-k, k, 0]], device=turns.device)  # [a]x
    return c * torch.eye(3, device=turns.device) + (1 - c) / 3 + s * cross  # a aᵀ = 1/3 everywhere


def hue(x: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Shift the hue of each RGB image by turns (B,) (fraction of the circle): one 3x3 matmul per image.

    Why not HSV, as torchvision: converting to HSV and back costs about 1 ms per 96x96 image on a
    CPU core, more than an encoder step; a rotation about the grey axis costs ~20x less. It is a
    different hue definition: it keeps each pixel's channel mean and chroma radius where HSV keeps
    max and min. Measured against kornia.enhance.adjust_hue on uniform random colours (see
    tests/test_views.py): the hue angles agree to ~2 degrees on average (max ~8 at 0.1 turn); the
    pixels differ by ~0.065 on average at 0.1 turn, almost all of it the brightness change that an
    HSV shift makes and the rotation does not. Grey pixels are unchanged; out-of-gamut results clip.
    """
    b, c, h, w = x.shape
    rotated = torch.bmm(hue_matrices(turns), x.reshape(b, c, h * w))  # (B, 3, 3) @ (B, 3, HW)
    return rotated.view(b, c, h, w).clamp_(0, 1)


def colour_jitter(x: torch.Tensor, g: torch.Generator, strength: tuple[float, float, float, float],
                  p: float = 1.0) -> torch.Tensor:
    """torchvision's RandomApply(ColorJitter(*strength), p) per image; strength: (brightness, contrast, saturation, hue).

    Factors are drawn per image: brightness, contrast and saturation in [1 - s, 1 + s], hue in
    [-h, h] turns. Images not drawn (probability 1 - p) get neutral factors, which are exact
    identities. The order is fixed (brightness, contrast, saturation, hue) where torchvision shuffles
    it per call: brightness, contrast and saturation commute apart from clipping, so the order
    only changes clipped pixels and, slightly, how hue and saturation combine.
    A 1-channel batch gets brightness and contrast only (as torchvision: saturation and hue need colour).
    """
    n = x.shape[0]
    applied = chance(g, n, p)
    drawn = [uniform(g, n, 1 - amount, 1 + amount) for amount in strength[:3]]
    drawn.append(uniform(g, n, -strength[3], strength[3]))
    b, c, s, h = (torch.where(applied, f, torch.full_like(f, neutral)) for f, neutral in zip(drawn, (1, 1, 1, 0)))
    steps = [(brightness, b), (contrast, c)] + ([(saturation, s), (hue, h)] if x.shape[1] == 3 else [])
    for (op, factor), amount in zip(steps, strength):
        if amount:  # a zero strength is skipped, not computed as an identity
            x = op(x, factor)
    return x


def random_grayscale(x: torch.Tensor, g: torch.Generator, p: float) -> torch.Tensor:
    """torchvision's RandomGrayscale(p) per image: luma in all three channels; 1-channel batches unchanged."""
    applied = chance(g, x.shape[0], p)
    if x.shape[1] == 1 or p == 0:
        return x
    return torch.where(applied[:, None, None, None], grey(x).expand_as(x), x)


def gaussian_blur(x: torch.Tensor, kernel: int, sigma: torch.Tensor) -> torch.Tensor:
    """Blur each image with its own sigma (B,) (same along both axes), reflect padding, as torchvision's.

    Kornia's gaussian_blur2d weights. Kernels up to 5x5 run as two 1-D grouped convolutions in fp32
    (2x faster than kornia's on 28-px batches here, where its fixed cost dominates); larger ones run
    through kornia, which is faster there (9x9 on 96 px: 9.6 against 18 ms).
    """
    if kernel > 5:
        blurred = kornia.filters.gaussian_blur2d(x, (kernel, kernel), sigma[:, None].expand(-1, 2), border_type="reflect")
        return blurred.clamp_(0, 1)  # a weighted mean, in [0, 1] up to rounding
    b, c, h, w = x.shape
    if b * c == 0:
        return x
    r = kernel // 2
    taps = torch.arange(-r, r + 1, device=x.device, dtype=torch.float32)
    weights = torch.exp(-taps**2 / (2 * sigma.float()[:, None] ** 2))  # (B, kernel)
    weights = (weights / weights.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (B*C, kernel)
    padded = F.pad(x.float(), (r, r, r, r), mode="reflect").view(1, b * c, h + 2 * r, w + 2 * r)
    rows = F.conv2d(padded, weights.view(b * c, 1, kernel, 1), groups=b * c)  # (1, B*C, H, W + 2r)
    blurred = F.conv2d(rows, weights.view(b * c, 1, 1, kernel), groups=b * c).view(b, c, h, w)
    return blurred.clamp_(0, 1).to(x.dtype)


def random_blur(x: torch.Tensor, g: torch.Generator, kernel: int, sigma: tuple[float, float],
                p: float = 1.0) -> torch.Tensor:
    """torchvision's RandomApply(GaussianBlur(kernel, sigma), p): sigma uniform in the range, per image."""
    n = x.shape[0]
    applied, s = chance(g, n, p), uniform(g, n, *sigma)
    if p == 0:
        return x
    if p == 1:
        return gaussian_blur(x, kernel, s)
    chosen = applied.nonzero().squeeze(1)  # blur only the images drawn (a quarter, at the blog's p)
    out = x.clone()
    out[chosen] = gaussian_blur(x[chosen], kernel, s[chosen]).to(x.dtype)  # x's dtype, whatever the blur's
    return out
