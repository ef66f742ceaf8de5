"""Every registered analysis declares what it needs, its settings and its figures; the bias sampler."""

import dataclasses

import pytest
import torch

from sslab import analyses
from sslab.analyses import bias
from sslab.data import dsprites, from_arrays, splits
from sslab.errors import SslabError


@pytest.mark.parametrize("name", analyses.NAMES)
def test_analysis_declares_itself(name):
    module = analyses.REGISTRY[name]
    assert module.QUESTION.endswith("?") and isinstance(module.ORDER, int)
    assert dataclasses.is_dataclass(module.Config) and module.FIGURES and callable(module.run)
    assert all(isinstance(c, str) and len(c) > 40 for c in module.FIGURES.values())
    assert module.__doc__.strip()


def test_requirements_follow_the_data():
    sprites = dsprites.generate(300, seed=0)
    plain = from_arrays(torch.zeros(300, 1, 8, 8, dtype=torch.uint8), torch.arange(300) % 5)
    lab = splits.PROTOCOLS["lab"]
    for images, proto, runs in ((sprites, splits.PROTOCOLS["standard"], {"similarity", "factors", "labels", "bias"}),
                                (plain, splits.PROTOCOLS["standard"], {"similarity", "labels"}),
                                (plain, lab, {"similarity", "labels", "transfer"})):
        split = splits.make_split(images, proto)
        allowed = {n for n in analyses.NAMES if analyses.missing(n, images, split) is None}
        assert runs <= allowed and not {"factors", "bias"} & allowed - runs
    assert "latent factors" in analyses.missing("factors", plain, splits.make_split(plain))
    assert "held out" in analyses.missing("transfer", plain, splits.make_split(plain))


def test_analysis_settings_are_coerced_and_checked():
    assert analyses.config("similarity", {"rsm_images": "500"}).rsm_images == 500
    assert analyses.config("labels", {"fractions": "(0.1, 1.0)"}).fractions == (0.1, 1.0)
    with pytest.raises(SslabError, match="has no setting 'images'"):
        analyses.config("similarity", {"images": 5})
    with pytest.raises(SslabError, match="expected int"):
        analyses.config("similarity", {"rsm_images": "many"})
    with pytest.raises(SslabError, match=r"label fraction must be in \(0, 1\]"):
        analyses.config("labels", {"fractions": "(0.5, 2.0)"})


def test_biased_sampler_and_control():
    images = dsprites.generate(6000, seed=0)
    f = images.factors
    shape, posx = f.classes("shape"), f.values[:, f.index("posX")]
    idx = torch.arange(len(images))
    chosen = bias.biased(shape, posx, idx)
    s, px = shape[chosen], posx[chosen]
    assert ((s != 0) | (px <= 0.3)).all()
    assert ((s != 1) | ((px >= 0.35) & (px <= 0.65))).all()
    assert ((s != 2) | (px >= 0.7)).all()
    assert set(s.tolist()) == {0, 1, 2}
    control = bias.matched_control(shape, idx, chosen, seed=0)
    assert len(control) == len(chosen)
    assert torch.equal(torch.bincount(shape[control]), torch.bincount(s))
    # The control is unbiased: every shape appears across the whole posX range.
    for k in range(3):
        pxk = posx[control][shape[control] == k]
        assert pxk.min() < 0.2 and pxk.max() > 0.8
