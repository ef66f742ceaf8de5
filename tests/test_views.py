import math

import kornia
import pytest
import torch

from sslab import views
from sslab.data import dsprites
from sslab.errors import SslabError
from sslab.views import ops

NAMES = list(views.REGISTRY)
SHAPES = {"grey28": (6, 1, 28, 28), "rgb32": (6, 3, 32, 32), "rgb96": (3, 3, 96, 96)}
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def gen(seed: int, device: str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def images(shape: tuple[int, ...], seed: int = 0, device: str = "cpu") -> torch.Tensor:
    return torch.randint(0, 256, shape, dtype=torch.uint8, generator=gen(seed)).to(device)


def crops(out: torch.Tensor | list[torch.Tensor]) -> list[torch.Tensor]:
    """Every recipe's output as a list (multicrop returns one already)."""
    return out if isinstance(out, list) else [out]


# ---------------------------------------------------------------- every recipe


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("name", NAMES)
def test_views_are_float_images_of_the_input_size(name, shape, device):
    out = crops(views.build(name)(images(shape, device=device), gen(0, device)))
    for v in out:
        assert v.shape == shape and v.dtype == torch.float32 and v.device.type == device
        assert v.min() >= 0 and v.max() <= 1


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("name", NAMES)
def test_the_generator_alone_decides_the_views(name, shape):
    recipe, x = views.build(name), images(shape)
    torch.manual_seed(123)  # the global RNG must play no part
    a = crops(recipe(x, gen(0)))
    torch.manual_seed(456)
    b = crops(recipe(x, gen(0)))
    c = crops(recipe(x, gen(1)))
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert all(not torch.equal(u, v) for u, v in zip(a, c))


@pytest.mark.parametrize("shape", [SHAPES["grey28"], SHAPES["rgb32"]], ids=["grey28", "rgb32"])
@pytest.mark.parametrize("name", NAMES)
def test_each_image_gets_its_own_parameters(name, shape):
    x = images((1, *shape[1:])).expand(8, -1, -1, -1).contiguous()  # 8 copies of one image
    for v in crops(views.build(name)(x, gen(0))):
        flat = v.flatten(1)
        distance = torch.cdist(flat, flat)  # (8, 8)
        assert (distance + torch.eye(8) > 1e-3).all(), "two images of the batch got the same view"


@pytest.mark.parametrize("name", NAMES)
def test_grey_images_stay_grey(name):
    one = views.build(name)(images(SHAPES["grey28"]), gen(0))
    assert all(v.shape[1] == 1 for v in crops(one))
    rgb_grey = images(SHAPES["grey28"]).expand(-1, 3, -1, -1).contiguous()  # r = g = b
    for v in crops(views.build(name)(rgb_grey, gen(0))):
        assert (v - v[:, :1]).abs().max() < 1e-5  # saturation, hue and grayscale keep grey pixels grey


def test_grey_images_get_brightness_and_contrast():
    recipe = views.build("lab", scale=(1.0, 1.0), ratio=(1.0, 1.0), hflip_p=0, vflip_p=0, blur_p=0, grayscale_p=0)
    x = images(SHAPES["grey28"])
    assert (recipe(x, gen(0)) - ops.to_float(x)).abs().amax((1, 2, 3)).min() > 0.01  # every image jittered


# ---------------------------------------------------------------- registry


def test_registry_keys_are_module_names():
    assert set(NAMES) == {"dsprites", "lab", "simclr", "digits", "multicrop", "supervised", "cifar", "crop_flip"}
    for name, cls in views.REGISTRY.items():
        assert cls.__module__ == f"sslab.views.{name}" and cls.name == name


def test_build_applies_and_checks_overrides():
    assert views.build("simclr", scale="(0.2, 1.0)", jitter_p=0.5).scale == (0.2, 1.0)  # CLI strings are read
    assert views.build("digits", perspective=[0.3]).perspective == (0.3,)
    with pytest.raises(SslabError, match="no setting 'sclae'.*scale"):
        views.build("lab", sclae=(0.2, 1.0))
    with pytest.raises(SslabError, match="unknown view recipe.*simclr"):
        views.build("simclr2")
    for bad in ({"scale": (0.9, 0.5)}, {"hflip_p": 1.5}, {"blur_kernel": 4}, {"hue": 0.7}):
        with pytest.raises(SslabError):
            views.build("lab", **bad)


def test_listing_names_every_recipe_its_settings_and_grey_skips():
    text = views.listing()
    for name, cls in views.REGISTRY.items():
        assert f"{name}: {cls.description()}" in text
    assert "blur_kernel=9" in text and "n_local=4" in text
    assert "skips: saturation, hue, grayscale" in text and "skips: nothing" in text


# ---------------------------------------------------------------- dsprites


def test_dsprites_views_keep_sprites_binary():
    # (These views were checked bit for bit against the affine augmentation they replaced.)
    x = dsprites.generate(64, seed=0).x
    v1 = views.build("dsprites")(x, gen(0))
    assert set(v1.unique().tolist()) <= {0.0, 1.0}  # nearest resampling keeps sprites binary
    # Sprites are moved, not destroyed: most keep most of their area (scale 0.8-1.2, some leave the frame).
    ratio = v1.sum((1, 2, 3)) / ops.to_float(x).sum((1, 2, 3))
    assert ratio.median() > 0.6


def test_dsprites_identity_recipe_returns_the_images():
    x = dsprites.generate(16, seed=0).x
    same = views.build("dsprites", degrees=0, translate=0, scale=(1, 1))(x, gen(0))
    assert torch.equal(same, ops.to_float(x))


# ---------------------------------------------------------------- crops and flips

NO_COLOUR = dict(jitter_p=0.0, grayscale_p=0.0, blur_p=0.0)
WHOLE = dict(scale=(1.0, 1.0), ratio=(1.0, 1.0), **NO_COLOUR)


@pytest.mark.parametrize("shape", [SHAPES["grey28"], SHAPES["rgb32"]], ids=["grey28", "rgb32"])
def test_whole_image_crop_is_the_identity_and_flips_flip(shape):
    x = images(shape)
    f = ops.to_float(x)
    for hflip, vflip, expected in ((0, 0, f), (1, 0, f.flip(-1)), (0, 1, f.flip(-2))):
        v = views.build("lab", hflip_p=hflip, vflip_p=vflip, **WHOLE)(x, gen(0))
        torch.testing.assert_close(v, expected, atol=1e-5, rtol=0)  # exact up to interpolation rounding


def torchvision_crop_box(h: int, w: int, scale: tuple[float, float], ratio: tuple[float, float],
                         g: torch.Generator) -> tuple[int, int, int, int]:
    """torchvision's RandomResizedCrop.get_params, one image at a time (the reference)."""
    for _ in range(10):
        area = h * w * torch.empty(1).uniform_(*scale, generator=g).item()
        aspect = math.exp(torch.empty(1).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=g).item())
        cw, ch = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
        if 0 < cw <= w and 0 < ch <= h:
            top = int(torch.randint(0, h - ch + 1, (1,), generator=g))
            return top, int(torch.randint(0, w - cw + 1, (1,), generator=g)), ch, cw
    cw = round(h * max(ratio))  # the fallback for images wider than max(ratio), as in the test below
    return 0, (w - cw) // 2, h, cw


def test_crop_boxes_follow_torchvision():
    n, h, w, scale, ratio = 3000, 32, 48, (0.08, 1.0), (3 / 4, 4 / 3)
    boxes = ops.crop_boxes(gen(0), n, h, w, scale, ratio)
    reference = torch.tensor([torchvision_crop_box(h, w, scale, ratio, gen(i)) for i in range(n)], dtype=torch.float32)
    top, left, ch, cw = boxes.unbind(1)
    assert (top >= 0).all() and (left >= 0).all() and (top + ch <= h).all() and (left + cw <= w).all()
    for ours, ref in ((ch * cw / (h * w), reference[:, 2] * reference[:, 3] / (h * w)),  # area fraction
                      (cw / ch, reference[:, 3] / reference[:, 2]),  # aspect ratio
                      (left + cw / 2, reference[:, 1] + reference[:, 3] / 2)):  # horizontal centre
        q = torch.tensor([0.05, 0.25, 0.5, 0.75, 0.95])
        assert torch.allclose(ours.quantile(q), ref.quantile(q), rtol=0.05, atol=0.02)  # same distribution


def test_crop_boxes_fall_back_to_the_central_crop():
    boxes = ops.crop_boxes(gen(0), 5, 10, 40, (0.9, 1.0), (1.0, 1.0))  # no square covers 90% of a 10x40 image
    assert (boxes == torch.tensor([0.0, 15.0, 10.0, 10.0])).all()


def test_crop_of_a_quarter_spans_half_the_width():
    ramp = (torch.arange(32) * 8).to(torch.uint8).expand(8, 1, 32, 32)  # column j has value 8 j
    v = views.build("lab", scale=(0.25, 0.25), ratio=(1.0, 1.0), hflip_p=0, vflip_p=0, **NO_COLOUR)(ramp, gen(0))
    span = (v[..., -1] - v[..., 0]) * 255 / 8  # in columns: a 16-px crop upsampled to 32 spans 15.25..15.5
    assert ((span > 15.2) & (span < 15.55)).all()


# ---------------------------------------------------------------- digits and multicrop


def test_digits_with_all_ranges_zero_is_the_identity():
    x = images(SHAPES["grey28"])
    still = views.build("digits", degrees=0, translate=0, scale=(1, 1), shear=0, perspective=(0.0,), n_blurs=0)
    torch.testing.assert_close(still(x, gen(0)), ops.to_float(x), atol=1e-5, rtol=0)


def test_digits_shear_is_in_degrees():
    m = ops.affine_matrices(gen(0), 1000, 28, 28, 0, 0, (1, 1), shear=0.2)
    assert m[:, 0, 1].abs().max() <= math.tan(math.radians(0.2)) + 1e-7  # 0.2 degrees, not a factor 0.2


def test_multicrop_returns_globals_then_locals():
    x = images(SHAPES["rgb32"])
    out = views.build("multicrop", n_local=3, local_size=16)(x, gen(0))
    assert [tuple(v.shape[-2:]) for v in out] == [(32, 32)] * 2 + [(16, 16)] * 3
    assert len(views.build("multicrop")(x, gen(0))) == 2 + 4


# ---------------------------------------------------------------- colour operations


def hsv_hue(x: torch.Tensor) -> torch.Tensor:
    return kornia.color.rgb_to_hsv(x)[:, 0]  # radians


# Measured on 16 random 32x32 images of uniform colours (the worst case: fully saturated colours
# leave the RGB cube when rotated): |turns| -> (hue angle error on coloured pixels, mean and max, in
# degrees; pixel difference mean, max; the same after removing each pixel's brightness difference).
HUE_MEASURED = {0.02: (0.58, 2.65, 0.0185, 0.065, 0.0066, 0.036),
                0.05: (1.36, 5.92, 0.0408, 0.145, 0.0137, 0.083),
                0.10: (1.75, 8.29, 0.0653, 0.248, 0.0173, 0.158)}


@pytest.mark.parametrize("turns", [-0.1, -0.05, -0.02, 0.02, 0.05, 0.1])
def test_fast_hue_against_kornia(turns):
    """The rotation about the grey axis turns hue like kornia's HSV shift, to within a few degrees.

    Pixels differ more: an HSV shift keeps each pixel's max and min channel, so it changes the
    pixel's brightness (red (1, 0, 0) -> orange (1, 0.6, 0)); the rotation keeps the channel mean.
    That brightness change is most of the difference (mean 0.065 -> 0.017 once removed, at 0.1 turn).
    Bounds: the measurements above + 15%.
    """
    x = torch.rand(16, 3, 32, 32, generator=gen(0))
    t = torch.full((16,), turns)
    ref, ours = kornia.enhance.adjust_hue(x, t * 2 * math.pi), ops.hue(x.clone(), t)
    coloured = (x.amax(1) - x.amin(1)) > 0.1  # hue is ill-defined on near-grey pixels
    angle = (torch.remainder(hsv_hue(ours) - hsv_hue(ref) + math.pi, 2 * math.pi) - math.pi)[coloured].abs().rad2deg()
    shift = (torch.remainder(hsv_hue(ours) - hsv_hue(x) + math.pi, 2 * math.pi) - math.pi)[coloured].rad2deg()
    diff = ours - ref
    not_brightness = diff - diff.mean(1, keepdim=True)
    measured = torch.tensor([angle.mean(), angle.max(), diff.abs().mean(), diff.abs().max(),
                             not_brightness.abs().mean(), not_brightness.abs().max()])
    assert (measured < 1.15 * torch.tensor(HUE_MEASURED[round(abs(turns), 2)])).all(), measured
    assert shift.mean() == pytest.approx(360 * turns, abs=1.0)  # the right way round, by the right amount


def test_fast_hue_keeps_grey_and_a_whole_turn_is_the_identity():
    x = torch.rand(4, 3, 16, 16, generator=gen(0))
    grey = x[:, :1].expand(-1, 3, -1, -1)
    torch.testing.assert_close(ops.hue(grey.clone(), torch.full((4,), 0.1)), grey, atol=1e-6, rtol=0)
    torch.testing.assert_close(ops.hue(x.clone(), torch.ones(4)), x, atol=1e-6, rtol=0)
    torch.testing.assert_close(ops.hue(x.clone(), torch.zeros(4)), x, atol=0, rtol=0)


def test_colour_ops_match_their_definitions():
    x = torch.rand(2, 3, 8, 8, generator=gen(0))
    zero = torch.zeros(2)
    assert torch.allclose(ops.saturation(x, zero), ops.grey(x).expand_as(x))  # no saturation: grey
    means = ops.grey(x).mean((1, 2, 3))
    assert torch.allclose(ops.contrast(x, zero), means.view(2, 1, 1, 1).expand_as(x))  # no contrast: mean grey
    assert torch.equal(ops.colour_jitter(x, gen(0), (0.5, 0.5, 0.5, 0.1), p=0.0), x)  # not drawn: untouched


def test_blur_uses_each_images_sigma():
    x = torch.rand(2, 3, 16, 16, generator=gen(0))
    both = ops.gaussian_blur(x, 5, torch.tensor([0.3, 1.7]))
    for i, s in enumerate((0.3, 1.7)):
        torch.testing.assert_close(both[i:i + 1], kornia.filters.gaussian_blur2d(x[i:i + 1], (5, 5), (s, s)).clamp(0, 1))


@pytest.mark.parametrize("kernel, shape", [(3, (4, 1, 28, 28)), (9, (3, 3, 32, 32))])
def test_blur_matches_kornia_at_the_recipes_kernels(kernel, shape):
    x = torch.rand(*shape, generator=gen(1))
    sigma = ops.uniform(gen(2), shape[0], 0.1, 2.0)
    want = kornia.filters.gaussian_blur2d(x, (kernel, kernel), sigma[:, None].expand(-1, 2), border_type="reflect")
    torch.testing.assert_close(ops.gaussian_blur(x, kernel, sigma), want.clamp(0, 1), atol=1e-6, rtol=0)


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_warp_affine_matches_kornia(mode):
    x = torch.rand(6, 2, 28, 24, generator=gen(3))
    m = ops.affine_matrices(gen(5), 6, 28, 24, 50, 0.1, (0.5, 1.5), 10.0)
    want = kornia.geometry.transform.warp_affine(x, m[:, :2], (28, 24), mode=mode, align_corners=True).clamp(0, 1)
    got = ops.warp_affine(x, m, mode)
    if mode == "bilinear":  # float rounding of the grid: at most 7e-6 of a pixel's range over 5 seeds
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    else:  # a sample point on a pixel boundary may round either way
        assert (got != want).float().mean() < 1e-3


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_warp_perspective_matches_kornia(mode):
    x = torch.rand(6, 2, 28, 24, generator=gen(3))
    m = ops.perspective_matrices(gen(4), 6, 28, 24, 0.4, 1.0) @ \
        ops.affine_matrices(gen(5), 6, 28, 24, 50, 0.1, (0.5, 1.5), 10.0)
    want = kornia.geometry.transform.warp_perspective(x, m, (28, 24), mode=mode, align_corners=True).clamp(0, 1)
    got = ops.warp_perspective(x, m, mode)
    if mode == "bilinear":
        torch.testing.assert_close(got, want, atol=1e-4, rtol=0)
    else:  # a sample point on a pixel boundary may round either way
        assert (got != want).float().mean() < 1e-3


def test_affine_and_perspective_matrices_match_kornia():
    n, h, w = 50, 28, 24
    g = gen(6)
    angle, tx, ty = ops.uniform(g, n, -50, 50), ops.uniform(g, n, -0.1, 0.1), ops.uniform(g, n, -0.1, 0.1)
    zoom, sh = ops.uniform(g, n, 0.5, 1.5), ops.uniform(g, n, -20, 20)
    ours = ops.affine_matrices(gen(6), n, h, w, 50, 0.1, (0.5, 1.5), 20.0)
    want = kornia.geometry.transform.get_affine_matrix2d(
        torch.stack([tx * w, ty * h], 1), torch.tensor([(w - 1) / 2, (h - 1) / 2]).expand(n, 2),
        zoom[:, None].expand(n, 2), angle, sx=torch.deg2rad(sh))
    torch.testing.assert_close(ours, want, atol=1e-4, rtol=1e-5)
    start = torch.tensor([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=torch.float32)
    end = start + ops.uniform(gen(7), (n, 4, 2), -5, 5)
    torch.testing.assert_close(ops.homographies(start, end),
                               kornia.geometry.transform.get_perspective_transform(start.expand(n, 4, 2), end),
                               atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_views_are_fp32_and_the_same_under_autocast(name):
    """A training step runs under bf16 autocast; the recipe itself turns it off (sample points must not move)."""
    recipe, x = views.build(name), images(SHAPES["rgb32"])
    plain = recipe(x, gen(3))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under = recipe(x, gen(3))
    for a, b in zip(plain if isinstance(plain, list) else [plain], under if isinstance(under, list) else [under]):
        assert b.dtype == torch.float32 and torch.equal(a, b)
