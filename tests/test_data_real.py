"""The loaders on the real files in ../shared/data (skipped where that folder is absent)."""


import numpy as np

import sslab.data
from sslab.data import load

from conftest import shared


def test_pneumoniamnist():
    data = load(shared("pneumoniamnist.npz"))
    assert data.format == "medmnist" and data.shape == (1, 28, 28)
    assert data.class_names == ("normal", "pneumonia")
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 2428, "val": 270, "test": 468}


def test_retinamnist_is_rgb_with_its_class_counts():
    path = shared("retinamnist.npz")
    data = load(path)
    assert data.shape == (3, 28, 28) and data.n_classes == 5
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 1080, "val": 120, "test": 400}
    assert data.class_counts(data.splits["train"]) == [486, 128, 206, 194, 66]
    with np.load(path) as f:  # the reference: numpy's own reader, channels moved first
        assert np.array_equal(data.x[data.splits["test"]].numpy(), f["test_images"].transpose(0, 3, 1, 2))


def test_mnist_idx_gz():
    data = load(shared("mnist"))
    assert data.format == "mnist" and data.shape == (1, 28, 28) and data.class_names == tuple("0123456789")
    train, test = data.splits["train"], data.splits["test"]
    assert (len(train), len(test)) == (60_000, 10_000)
    assert data.y[train[:5]].tolist() == [5, 0, 4, 1, 9] and data.y[test[:5]].tolist() == [7, 2, 1, 0, 4]
    assert data.class_counts(train)[1] == 6742 and data.x[0, 0, 0].sum() == 0 and data.x[0].max() == 255


def test_cifar10_jpeg_folder(cifar_jpeg):
    assert sslab.data.detect(cifar_jpeg) == "folder"
    source = sslab.data.REGISTRY["folder"].source(cifar_jpeg, None)  # every header read, no pixel yet
    assert source.shape == (3, 32, 32)
    assert {k: p.n for k, p in source.parts.items()} == {"train": 50_000, "test": 10_000}
    assert source.class_names == ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                                  "truck")
    data = sslab.data.materialise(source, str(cifar_jpeg), "folder", n_images=3000)  # decoding all takes seconds
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 2500, "test": 500}
    assert data.class_counts(data.splits["train"]) == [250] * 10 and data.class_counts(data.splits["test"]) == [50] * 10
    assert 60 < data.x.float().mean() < 200
