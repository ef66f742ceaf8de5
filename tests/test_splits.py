import math

import pytest
import torch

from sslab.data import dsprites, from_arrays, splits
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


def test_label_fraction_is_stratified_nested_and_rounded_up():
    y = torch.tensor([0] * 600 + [1] * 300 + [2] * 100 + [-1] * 50)  # -1: unlabelled, never kept
    small, big = splits.label_fraction(y, 0.1, seed=0), splits.label_fraction(y, 0.5, seed=0)
    assert torch.bincount(y[small]).tolist() == [60, 30, 10]
    assert torch.bincount(y[big]).tolist() == [300, 150, 50]
    assert set(small.tolist()) <= set(big.tolist())
    assert torch.bincount(y[splits.label_fraction(y, 0.001)]).tolist() == [1, 1, 1]  # rounded up: one per class
    assert torch.bincount(y[splits.label_fraction(y, 0.205)]).tolist() == [123, 62, 21]  # ceil(0.205 * n)


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


def test_n_labelled_is_stratified_and_exact():
    y = torch.tensor([0] * 500 + [1] * 300 + [2] * 200)
    pos = splits.n_labelled(y, 200, seed=0)
    assert len(pos) == 200 and torch.bincount(y[pos]).tolist() == [100, 60, 40]
    assert torch.bincount(y[splits.n_labelled(y, 7, seed=0)]).tolist() == [4, 2, 1]  # largest remainders


def _images(n_per_class=(100, 100, 100, 100, 100), splits_=None):
    y = torch.cat([torch.full((n,), c) for c, n in enumerate(n_per_class)])
    return from_arrays(torch.zeros(len(y), 1, 8, 8, dtype=torch.uint8), y, splits=splits_)


def test_standard_split_carves_test_and_stratified_val():
    im = _images()
    s = splits.make_split(im, seed=1)
    assert len(s.test) == 100 and len(s.train) + len(s.val) == 400
    for c in range(5):  # stratified: 10% of each class of the training images, rounded
        n_c = int((im.y[s.train] == c).sum() + (im.y[s.val] == c).sum())
        assert int((im.y[s.val] == c).sum()) == round(0.1 * n_c)
    assert torch.equal(s.labelled, s.train) and torch.equal(s.pretrain, s.train)
    everything = torch.cat([s.train, s.val, s.test])
    assert len(torch.unique(everything)) == 500  # disjoint, nothing lost
    again = splits.make_split(im, seed=1)
    assert torch.equal(again.val, s.val) and torch.equal(again.test, s.test)
    assert not torch.equal(splits.make_split(im, seed=2).test, s.test)


def test_the_datasets_own_splits_are_used():
    own = {"train": torch.arange(0, 300), "val": torch.arange(300, 350), "test": torch.arange(350, 500)}
    im = from_arrays(torch.zeros(500, 1, 8, 8, dtype=torch.uint8), torch.arange(500) % 5, splits=own)
    s = splits.make_split(im)
    assert torch.equal(s.val, own["val"]) and torch.equal(s.test, own["test"]) and torch.equal(s.train, own["train"])
    # An unlabelled split joins pre-training only.
    y = torch.cat([torch.arange(200) % 4, torch.full((100,), -1)])
    own = {"train": torch.arange(150), "test": torch.arange(150, 200), "unlabeled": torch.arange(200, 300)}
    im = from_arrays(torch.zeros(300, 3, 8, 8, dtype=torch.uint8), y, splits=own)
    s = splits.make_split(im, val_fraction=0.2)
    assert len(s.pretrain) == 100 + 150 - len(s.val) and len(s.val) == 30  # round(0.2 x 38, 38, 37, 37)
    assert not torch.isin(s.labelled, own["unlabeled"]).any() and torch.isin(own["unlabeled"], s.pretrain).all()


def test_lab_protocol_holds_out_classes_and_pretrains_on_the_rest():
    im = _images((100, 100, 100, 100, 100, 100, 100, 100, 100, 100))
    s = splits.make_split(im, splits.PROTOCOLS["lab"], seed=3)
    assert len(s.transfer.classes) == 3 and len(s.classes) == 7  # ceil(0.3 x 10) held out
    assert not set(s.transfer.classes) & set(s.classes)
    main_per_class = torch.bincount(im.y[s.labelled], minlength=10)
    for c in s.classes:  # 72 training images per class after val and test: ceil(0.2 x 72) = 15 labelled
        assert main_per_class[c] == math.ceil(0.2 * int((im.y[s.train] == c).sum()))
    assert (main_per_class[list(s.transfer.classes)] == 0).all()
    # Labels remapped to 0..k-1 in both tasks; held-out and unlabelled images are -1 in the main task.
    assert s.y[s.labelled].max() == 6 and (s.y[im.y == s.transfer.classes[0]] == -1).all()
    assert sorted(torch.unique(s.transfer.y[s.transfer.train]).tolist()) == [0, 1, 2]
    assert (torch.isin(im.y[s.transfer.test], torch.tensor(s.transfer.classes))).all()
    # Pre-training: the unlabelled rest of every class, held-out ones included; no labelled image.
    assert not torch.isin(s.pretrain, torch.cat([s.labelled, s.transfer.train])).any()
    assert set(im.y[s.pretrain].tolist()) == set(range(10))
    assert len(s.pretrain) + len(s.labelled) + len(s.transfer.train) == len(s.train)
    assert torch.isin(s.test, torch.nonzero(s.y >= 0).squeeze(1)).all()  # the main test: kept classes only
    # With two classes nothing is held out, and the split says so.
    two = splits.make_split(_images((50, 50)), splits.PROTOCOLS["lab"])
    assert two.transfer is None and any("no classes held out" in n for n in two.notes)


def test_blog_protocol_keeps_200_labels():
    im = _images((300,) * 10)
    s = splits.make_split(im, splits.PROTOCOLS["blog"])
    counts = torch.bincount(im.y[s.labelled])
    assert len(s.labelled) == 200 and ((counts - 20).abs() <= 1).all()  # in proportion to the classes' sizes
    assert len(s.pretrain) == len(s.train) - 200


def test_protocol_settings_are_checked():
    assert splits.protocol("lab", label_fraction=0.05).label_fraction == 0.05
    with pytest.raises(SslabError, match="unknown protocol"):
        splits.protocol("semi")
    with pytest.raises(SslabError, match=r"held-out share of classes must be in \[0, 1\)"):
        splits.protocol("standard", holdout=1.0)


def test_dsprites_split_is_the_tutorials():
    im = dsprites.generate(1000, seed=0)
    s = splits.make_split(im, seed=2021)
    _, test = splits.train_test(1000, 0.8, 2021)
    assert torch.equal(s.test, test)  # the tutorial's 80:20 test images, whatever the validation carve
    assert len(s.val) == 80 and len(s.train) == 720
