"""The MNIST blog's views: random affine, up to three random perspectives and two random blurs, as one warp."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sslab.views import ops
from sslab.views.base import Recipe, check_between, check_kernel, check_range, register


@register
@dataclass(frozen=True)
class DigitsViews(Recipe):
    """MNIST blog: affine (50 deg, 0.1, 0.5-1.5, shear 0.2 deg), perspectives (0.4, 0.2, 0.2) p 0.5, blur 3x3 p 0.25 x2.

    The blog's torchvision nn.Sequential, applied to a whole batch, drew ONE set of parameters per
    batch; sslab draws them per image (a quirk not reproduced: one draw per batch makes every
    image of a batch move alike). The affine and the perspectives are composed into one homography
    per image and resampled once (bilinear), where torchvision resamples after each (nearest for
    the affine): less blur, and pixels pushed out of the frame by one step can come back in the next.
    """

    degrees: float = 50.0  # rotation drawn from [-degrees, degrees]
    translate: float = 0.1  # shift drawn from [-t, t] x image size per axis, whole pixels (torchvision)
    scale: tuple[float, float] = (0.5, 1.5)  # isotropic zoom range
    # torchvision's shear=0.2 is a shear ANGLE in [-0.2, 0.2] degrees along x. We keep that literal
    # reading (it moves a 28-px digit's corners by under 0.05 px, i.e. does nothing); a shear
    # factor of 0.2, which the blog may have meant, is shear=11.3 (atan 0.2 in degrees).
    shear: float = 0.2
    perspective: tuple[float, ...] = (0.4, 0.2, 0.2)  # the blog's RandomPerspective distortions, applied in turn
    perspective_p: float = 0.5  # probability of each perspective
    blur_kernel: int = 3  # Gaussian blur kernel side (odd)
    blur_sigma: tuple[float, float] = (0.1, 2.0)  # blur sigma range (torchvision's default)
    blur_p: float = 0.25  # probability of each blur
    n_blurs: int = 2  # the blog's RandomApply(GaussianBlur) appears twice

    def __post_init__(self) -> None:
        check_between("degrees", self.degrees, 0, 180)
        check_between("translate", self.translate, 0, 1)
        check_range("scale", self.scale)
        check_between("shear", self.shear, 0, 89)
        for d in self.perspective:
            check_between("perspective distortion", d, 0, 1)
        check_between("perspective_p", self.perspective_p, 0, 1)
        check_kernel("blur_kernel", self.blur_kernel)
        check_range("blur_sigma", self.blur_sigma, 1e-3)  # a Gaussian needs a positive sigma
        check_between("blur_p", self.blur_p, 0, 1)
        check_between("n_blurs", self.n_blurs, 0)

    def draw(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """uint8 (B, C, H, W) -> float (B, C, H, W) in [0, 1], zeros where the warp leaves the frame."""
        b, _, h, w = x.shape
        g = generator
        matrix = ops.affine_matrices(g, b, h, w, self.degrees, self.translate, self.scale, self.shear,
                                     integer_shift=True)  # (B, 3, 3), pixel coordinates
        if self.perspective:  # later transforms act on the result: multiply on the left
            matrix = ops.perspective_matrices(g, b, h, w, self.perspective, self.perspective_p) @ matrix
        v = ops.warp_perspective(ops.to_float(x), matrix)
        for _ in range(self.n_blurs):
            v = ops.random_blur(v, g, self.blur_kernel, self.blur_sigma, self.blur_p)
        return v
