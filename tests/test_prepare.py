"""`sslab prepare`: any dataset into memory-mapped .npy files that a study reads in place, in chunks."""

import json

import numpy as np
import pytest
import torch

from sslab import data
from sslab.errors import SslabError
from sslab.train import epoch_order
from test_data import write_medmnist


def test_prepared_folder_holds_the_same_images_labels_and_splits(tmp_path):
    write_medmnist(tmp_path / "m.npz", sizes=(40, 8, 12), c=3)
    original = data.load(tmp_path / "m.npz")
    prepared = data.prepare(tmp_path / "m.npz", tmp_path / "prepared")
    assert prepared.mapped and not original.mapped
    again = data.load(tmp_path / "prepared")  # detected as a prepared folder, mapped, not copied
    for im in (prepared, again):
        assert im.mapped and torch.equal(im.x, original.x) and torch.equal(im.y, original.y)
        assert im.class_names == original.class_names and im.format == "medmnist"
        assert {k: v.tolist() for k, v in im.splits.items()} == {k: v.tolist() for k, v in original.splits.items()}
    files = sorted(p.name for p in (tmp_path / "prepared").iterdir())
    assert files == ["images.npy", "labels.npy", "split-test.npy", "split-train.npy", "split-val.npy", "sslab.json"]
    for f in files[:-1]:
        np.load(tmp_path / "prepared" / f, allow_pickle=False)  # plain arrays: nothing pickled
    assert json.loads((tmp_path / "prepared" / "sslab.json").read_text())["format"] == "medmnist"
    sub = data.load(tmp_path / "prepared", n_images=30, seed=1)  # a subsample is read into memory
    assert not sub.mapped and len(sub) == 30 and sub.class_counts(sub.splits["train"]) == [7, 7, 6]
    assert sub.format == "medmnist"


def test_prepare_refuses_a_folder_in_use_and_a_missing_dataset(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("")
    write_medmnist(tmp_path / "m.npz")
    with pytest.raises(SslabError, match="exists and is not empty"):
        data.prepare(tmp_path / "m.npz", tmp_path / "busy")
    with pytest.raises(SslabError, match="data not found"):
        data.prepare(tmp_path / "nope.npz", tmp_path / "out")


def test_chunked_epoch_order_visits_every_image_once_a_chunk_at_a_time():
    idx = torch.arange(1000, 3000, 2)  # 1,000 training images
    order = epoch_order(idx, 100, torch.Generator().manual_seed(0))
    assert sorted(order.tolist()) == idx.tolist()
    chunks = [set((order[i:i + 100] - 1000).div(200, rounding_mode="floor").tolist()) for i in range(0, 1000, 100)]
    assert all(len(c) == 1 for c in chunks) and len(set.union(*chunks)) == 10  # each stretch: one chunk of neighbours
    assert order[:100].tolist() != sorted(order[:100].tolist())  # shuffled within the chunk
    plain = epoch_order(idx, 0, torch.Generator().manual_seed(0))
    assert sorted(plain.tolist()) == idx.tolist() and plain.tolist() != order.tolist()
