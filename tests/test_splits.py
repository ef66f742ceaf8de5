import pytest
import torch

from sslab.data import dsprites, splits
from sslab.errors import SslabError


def test_train_test_split():
    tr, te = splits.train_test(1000, 0.8, seed=2021)
    assert len(tr) == 800 and len(te) == 200
    assert len(set(tr.tolist()) | set(te.tolist())) == 1000
    tr2, _ = splits.train_test(1000, 0.8, seed=2021)
    assert torch.equal(tr, tr2)
    assert not torch.equal(tr, splits.train_test(1000, 0.8, seed=1)[0])


@pytest.mark.parametrize("fraction", [0, -0.1, 1.5])
def test_fractions_outside_unit_interval_are_rejected(fraction):
    with pytest.raises(SslabError, match=r"\(0, 1\]"):
        splits.train_test(100, fraction)
    with pytest.raises(SslabError, match=r"\(0, 1\]"):
        splits.label_fraction(torch.zeros(10, dtype=torch.long), fraction)


def test_label_fraction_is_stratified_and_nested():
    y = torch.tensor([0] * 600 + [1] * 300 + [2] * 100)
    small, big = splits.label_fraction(y, 0.1, seed=0), splits.label_fraction(y, 0.5, seed=0)
    assert torch.bincount(y[small]).tolist() == [60, 30, 10]
    assert torch.bincount(y[big]).tolist() == [300, 150, 50]
    assert set(small.tolist()) <= set(big.tolist())
    assert torch.bincount(y[splits.label_fraction(y, 0.001)]).tolist() == [1, 1, 1]  # at least one per class


def test_per_class_is_capped_nested_and_shares_the_fraction_order():
    y = torch.tensor([0] * 600 + [1] * 300 + [2] * 100)
    ten, two_hundred = splits.per_class(y, 10, seed=0), splits.per_class(y, 200, seed=0)
    assert torch.bincount(y[ten]).tolist() == [10, 10, 10]
    assert torch.bincount(y[two_hundred]).tolist() == [200, 200, 100]  # class 2 has only 100
    assert set(ten.tolist()) <= set(two_hundred.tolist())
    # The same seeded order per class as label_fraction: 10% of class 2 are its first 10 images here too.
    assert set(splits.label_fraction(y, 0.1, seed=0)[-10:].tolist()) == set(ten[y[ten] == 2].tolist())
    with pytest.raises(SslabError, match="at least 1"):
        splits.per_class(y, 0)


def test_biased_sampler_and_control():
    images = dsprites.generate(6000, seed=0)
    idx = torch.arange(len(images))
    biased = splits.shape_posx_biased(images, idx)
    shape, posx = images.labels("shape")[biased], images.labels("posX")[biased] / 31
    assert ((shape != 0) | (posx <= 0.3)).all()
    assert ((shape != 1) | ((posx >= 0.35) & (posx <= 0.65))).all()
    assert ((shape != 2) | (posx >= 0.7)).all()
    assert set(shape.tolist()) == {0, 1, 2}
    control = splits.matched_control(images, idx, biased, seed=0)
    assert len(control) == len(biased)
    assert torch.equal(torch.bincount(images.labels("shape")[control]), torch.bincount(shape))
    # The control is unbiased: every shape appears across the whole posX range.
    for s in range(3):
        px = images.labels("posX")[control][images.labels("shape")[control] == s] / 31
        assert px.min() < 0.2 and px.max() > 0.8
