"""The generic loader (recognition, subsampling, memory check) and the MedMNIST and MNIST formats,
each read back from a small fixture written in the format's exact bytes."""

import gzip

import numpy as np
import pytest
from conftest import literal
import torch

import sslab.data
from sslab.data import load
from sslab.errors import SslabError


def images(n, c, h, w, seed=0):
    """(n, c, h, w) uint8 test images: random, with a marker at row 0, col 5 of image 0 and its
    channels set to distinct values there (R 250, G 150, B 50), to catch transposes and swaps."""
    x = np.random.default_rng(seed).integers(0, 40, (n, c, h, w), dtype=np.uint8)
    x[0, :, 0, 5] = (250, 150, 50)[:c]
    return x


def check_marker(x):
    c = x.shape[1]
    assert x[0, :, 0, 5].tolist() == [250, 150, 50][:c]
    assert x[0, :, 5, 0].max() < 40  # not transposed


# --- generic ----------------------------------------------------------------------------------------

def test_missing_and_unrecognised_paths(tmp_path):
    with pytest.raises(SslabError, match=literal("data not found")):
        load(tmp_path / "nothing.npz")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(SslabError, match=literal(f"{tmp_path / 'notes.txt'}: not a dataset sslab reads. It reads: ")):
        load(tmp_path / "notes.txt")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(SslabError, match="MedMNIST npz"):  # the message lists the formats
        load(tmp_path / "other.npz")


def write_medmnist(path, sizes=(40, 8, 12), c=1, side=28, flat=False, n_classes=3):
    arrays, expected = {}, {}
    for split, n, seed in zip(("train", "val", "test"), sizes, range(3)):
        x = images(n, c, side, side, seed)
        y = np.arange(n) % n_classes
        arrays[f"{split}_images"] = x[:, 0] if c == 1 else x.transpose(0, 2, 3, 1)  # (N,H,W) or (N,H,W,3)
        arrays[f"{split}_labels"] = (y if flat else y[:, None]).astype(np.uint8)
        expected[split] = (x, y)
    np.savez_compressed(path, **arrays)
    return expected


def test_subsampling_is_stratified_and_proportional(tmp_path):
    write_medmnist(tmp_path / "m.npz", sizes=(60, 20, 20))  # classes 0, 1, 2 in turn
    full = load(tmp_path / "m.npz")
    part = load(tmp_path / "m.npz", n_images=30, seed=3)
    assert {k: len(v) for k, v in part.splits.items()} == {"train": 18, "val": 6, "test": 6}
    assert part.class_counts(part.splits["train"]) == [6, 6, 6]
    assert part.class_counts(part.splits["val"]) == [2, 2, 2]
    # The kept images are the full load's images with the same labels, in order.
    where = [int(torch.nonzero((full.x == img).all(dim=(1, 2, 3)))[0]) for img in part.x]
    assert where == sorted(where) and torch.equal(full.y[where], part.y)
    assert not torch.equal(load(tmp_path / "m.npz", n_images=30, seed=4).x, part.x)


def test_memory_check_names_the_bytes_and_the_way_out(tmp_path, monkeypatch):
    write_medmnist(tmp_path / "m.npz")
    monkeypatch.setattr(sslab.data, "available_memory", lambda: 20_000)
    with pytest.raises(SslabError, match=r"60 images of 1x28x28 need 0\.0 MB in memory, 0\.0 MB is free; "
                                         r"subsample with --n-images 20 or fewer"):
        load(tmp_path / "m.npz")
    assert len(load(tmp_path / "m.npz", n_images=20)) == 20


# --- MedMNIST ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("c, side, flat", [(1, 28, False), (3, 28, True), (1, 64, True), (3, 64, False)])
def test_medmnist_reads_grey_and_rgb_any_size(tmp_path, c, side, flat):
    expected = write_medmnist(tmp_path / "pneumoniamnist_64.npz", c=c, side=side, flat=flat, n_classes=2)
    data = load(tmp_path / "pneumoniamnist_64.npz")
    assert data.format == "medmnist" and data.shape == (c, side, side)
    assert data.class_names == ("normal", "pneumonia")
    for split, (x, y) in expected.items():
        idx = data.splits[split]
        assert np.array_equal(data.x[idx].numpy(), x) and data.y[idx].tolist() == y.tolist()
    check_marker(data.x[data.splits["train"]].numpy())


def test_medmnist_unknown_subset_names_classes_by_number(tmp_path):
    write_medmnist(tmp_path / "mine.npz", n_classes=4)
    assert load(tmp_path / "mine.npz").class_names == ("0", "1", "2", "3")


def test_medmnist_errors(tmp_path):
    x = np.zeros((4, 28, 28), np.uint8)
    np.savez(tmp_path / "chestmnist.npz", train_images=x, train_labels=np.zeros((4, 14), np.uint8))
    with pytest.raises(SslabError, match=literal(f"{tmp_path / 'chestmnist.npz'}: train_labels is (4, 14), multi-label data (as ChestMNIST); "
                "sslab reads single-label data")):
        load(tmp_path / "chestmnist.npz")
    np.savez(tmp_path / "a.npz", train_images=x)
    with pytest.raises(SslabError, match=literal("a.npz: has train_images but no train_labels")):
        load(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", train_images=x, train_labels=np.zeros(5, np.uint8))
    with pytest.raises(SslabError, match=literal("b.npz: train_images holds 4 images but train_labels is (5,)")):
        load(tmp_path / "b.npz")
    np.savez(tmp_path / "pneumoniamnist.npz", train_images=x, train_labels=np.array([0, 1, 2, 1]))
    with pytest.raises(SslabError, match=literal("label 2 in the train split is out of range: 2 classes (normal, pneumonia)")):
        load(tmp_path / "pneumoniamnist.npz")
    np.savez(tmp_path / "organmnist3d.npz", train_images=np.zeros((2, 28, 28, 28), np.uint8),
             train_labels=np.zeros((2, 1), np.uint8))
    with pytest.raises(SslabError, match=literal("must be uint8 (N, H, W) or (N, H, W, 3)")):
        load(tmp_path / "organmnist3d.npz")


# --- MNIST family -----------------------------------------------------------------------------------

def idx_images(x):
    n, h, w = x.shape
    return (0x803).to_bytes(4, "big") + b"".join(v.to_bytes(4, "big") for v in (n, h, w)) + x.tobytes()


def idx_labels(y):
    return (0x801).to_bytes(4, "big") + len(y).to_bytes(4, "big") + bytes(y.tolist())


def write_idx(folder, gz=False, n=(30, 10), side=(28, 28), dotted=False):
    """The four MNIST files; returns {split: (x (N,1,H,W), y)}."""
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}
    for split, prefix, k in (("train", "train", n[0]), ("test", "t10k", n[1])):
        x, y = images(k, 1, *side, seed=k), (np.arange(k) * 7) % 10
        for what, data in (("images-idx3", idx_images(x[:, 0])), ("labels-idx1", idx_labels(y))):
            name = f"{prefix}-{what}-ubyte"
            name = name.replace("-idx", ".idx") if dotted else name
            (folder / (name + ".gz" if gz else name)).write_bytes(gzip.compress(data) if gz else data)
        expected[split] = (x, y)
    return expected


@pytest.mark.parametrize("gz, dotted, name, names", [
    (False, False, "mnist", tuple("0123456789")),
    (True, False, "FashionMNIST/raw", ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                    "Sneaker", "Bag", "Ankle boot")),
    (True, True, "KMNIST", ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")),
])
def test_mnist_idx(tmp_path, gz, dotted, name, names):
    expected = write_idx(tmp_path / name, gz=gz, dotted=dotted)
    one_file = sorted((tmp_path / name).iterdir())[0]
    for path in (tmp_path / name, one_file):  # the folder, or any of its files
        data = load(path)
        assert data.format == "mnist" and data.shape == (1, 28, 28) and data.class_names == names
        for split, (x, y) in expected.items():
            assert np.array_equal(data.x[data.splits[split]].numpy(), x)
            assert data.y[data.splits[split]].tolist() == y.tolist()
        check_marker(data.x.numpy())


def test_mnist_idx_subsampled_from_raw_and_gzip_agree(tmp_path, monkeypatch):
    expected = write_idx(tmp_path / "raw", n=(200, 50))
    write_idx(tmp_path / "gz", gz=True, n=(200, 50))
    monkeypatch.setattr(sslab.data.files, "CHUNK_BYTES", 7 * 28 * 28)  # streamed 7 images at a time
    full = load(tmp_path / "gz")
    assert np.array_equal(full.x[full.splits["train"]].numpy(), expected["train"][0])
    a, b = load(tmp_path / "raw", n_images=40, seed=1), load(tmp_path / "gz", n_images=40, seed=1)
    assert len(a) == 40 and torch.equal(a.x, b.x) and torch.equal(a.y, b.y)


def test_mnist_keras_npz(tmp_path):
    x, y = images(12, 1, 28, 28), np.arange(12) % 10
    np.savez(tmp_path / "mnist.npz", x_train=x[:8, 0], y_train=y[:8].astype(np.uint8),
             x_test=x[8:, 0], y_test=y[8:].astype(np.uint8))
    data = load(tmp_path / "mnist.npz")
    assert data.format == "mnist" and data.class_names == tuple("0123456789")
    assert np.array_equal(data.x.numpy(), x) and data.y.tolist() == y.tolist()
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 8, "test": 4}


def test_mnist_errors(tmp_path):
    def folder(name, **edit):
        d = tmp_path / name
        write_idx(d, gz=edit.pop("gz", False))
        for file, change in edit.items():
            p = next(d.glob(file.replace("_", "-") + "*"))
            p.write_bytes(change(p.read_bytes()))
        return d

    d = folder("magic", train_images_idx3=lambda b: (0x801).to_bytes(4, "big") + b[4:])
    with pytest.raises(SslabError, match=literal(f"{d / 'train-images-idx3-ubyte'}: not an IDX images file: magic number 0x00000801, "
                "expected 0x00000803")):
        load(d)
    d = folder("short", train_images_idx3=lambda b: b[:-100])
    with pytest.raises(SslabError, match=literal(f"{d / 'train-images-idx3-ubyte'}: 30 images of 28x28 need 23,536 bytes but the file holds "
                "23,436 (truncated?)")):
        load(d)
    d = folder("shortgz", gz=True, train_images_idx3=lambda b: gzip.compress(gzip.decompress(b)[:-100]))
    with pytest.raises(SslabError, match=literal(f"{d / 'train-images-idx3-ubyte.gz'}: 30 images of 28x28 need 23,536 bytes but the file "
                "holds 23,436 (truncated?)")):
        load(d)
    d = folder("cutgz", gz=True, train_images_idx3=lambda b: b[: len(b) // 2])
    with pytest.raises(SslabError, match=literal(f"{d / 'train-images-idx3-ubyte.gz'}: truncated or corrupt")):
        load(d)
    d = folder("cutheader", t10k_labels_idx1=lambda b: b[:5])
    with pytest.raises(SslabError, match=literal(f"{d / 't10k-labels-idx1-ubyte'}: truncated: 5 bytes, shorter than an IDX labels header")):
        load(d)
    d = folder("labels", train_labels_idx1=lambda b: idx_labels(np.zeros(29, np.uint8)))
    with pytest.raises(SslabError, match=literal(f"{d}: train-images-idx3-ubyte holds 30 images but train-labels-idx1-ubyte holds 29 labels")):
        load(d)
    d = folder("range", train_labels_idx1=lambda b: idx_labels(np.full(30, 12, np.uint8)))
    with pytest.raises(SslabError, match=literal(f"{d}: label 12 in the train split is out of range: 10 classes")):
        load(d)
    d = folder("nolabels")
    (d / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(SslabError, match=literal(f"{d}: has test images but no t10k-labels-idx1-ubyte[.gz]")):
        load(d)
