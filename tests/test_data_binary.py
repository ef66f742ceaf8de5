"""The CIFAR and STL-10 binary formats, read back from fixtures written in their exact bytes."""

import tarfile

import numpy as np
import pytest
from conftest import literal

import sslab.data
from sslab.data import files, load
from sslab.errors import SslabError

CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def images(n, c, h, w, seed=0):
    """Random uint8 images; image 0 has R 250, G 150, B 50 at row 0, col 5 (catches transposes and swaps)."""
    x = np.random.default_rng(seed).integers(0, 40, (n, c, h, w), dtype=np.uint8)
    x[0, :, 0, 5] = (250, 150, 50)[:c]
    return x


# --- CIFAR ------------------------------------------------------------------------------------------

def cifar_batch(x, labels):
    """Records of label byte(s) then the R, G and B planes, each row by row."""
    assert x[0, 0, 0, 5] == 250 and x.tobytes()[5] == 250  # the first plane's row 0 comes first
    return b"".join(np.asarray(lab, np.uint8).tobytes() + img.tobytes() for lab, img in zip(labels, x))


def write_cifar10(folder, per_batch=6, batches=(1, 2, 3, 4, 5)):
    """A cifar-10-batches-bin folder; returns {split: (x, y)} in data_batch_1..5 order."""
    folder.mkdir(parents=True)
    xs, ys = [], []
    for i in batches:
        x, y = images(per_batch, 3, 32, 32, seed=i), (np.arange(per_batch) + i) % 10
        (folder / f"data_batch_{i}.bin").write_bytes(cifar_batch(x, y[:, None]))
        xs.append(x)
        ys.append(y)
    xt, yt = images(5, 3, 32, 32, seed=9), np.arange(5) * 2
    (folder / "test_batch.bin").write_bytes(cifar_batch(xt, yt[:, None]))
    (folder / "batches.meta.txt").write_text("\n".join(CIFAR10) + "\n\n")
    return {"train": (np.concatenate(xs), np.concatenate(ys)), "test": (xt, yt)}


def check(data, expected):
    for split, (x, y) in expected.items():
        assert np.array_equal(data.x[data.splits[split]].numpy(), x), split
        assert data.y[data.splits[split]].tolist() == y.tolist(), split


def test_cifar10_folder_and_one_of_its_files(tmp_path):
    expected = write_cifar10(tmp_path / "cifar-10-batches-bin")
    for path in (tmp_path / "cifar-10-batches-bin", tmp_path / "cifar-10-batches-bin" / "test_batch.bin"):
        data = load(path)
        assert data.format == "cifar" and data.shape == (3, 32, 32) and data.class_names == CIFAR10
        check(data, expected)
        assert data.x[0, :, 0, 5].tolist() == [250, 150, 50]


def test_cifar10_tar_gz_is_read_in_archive_order(tmp_path):
    expected = write_cifar10(tmp_path / "cifar-10-batches-bin", per_batch=4)
    order = ["data_batch_1.bin", "batches.meta.txt", "data_batch_3.bin", "data_batch_4.bin", "test_batch.bin",
             "data_batch_5.bin", "data_batch_2.bin"]  # scrambled, as in the official archive
    with tarfile.open(tmp_path / "cifar-10-binary.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "cifar-10-batches-bin", "cifar-10-batches-bin", recursive=False)
        for name in order:
            tar.add(tmp_path / "cifar-10-batches-bin" / name, f"cifar-10-batches-bin/{name}")
    data = load(tmp_path / "cifar-10-binary.tar.gz")
    x, y = expected["train"]
    batch = [int(n[-5]) - 1 for n in order if n.startswith("data")]
    train = np.concatenate([np.arange(4 * b, 4 * b + 4) for b in batch])
    check(data, {"train": (x[train], y[train]), "test": expected["test"]})
    assert data.class_names == CIFAR10
    sub = load(tmp_path / "cifar-10-binary.tar.gz", n_images=12, seed=0)
    assert {k: len(v) for k, v in sub.splits.items()} == {"train": 10, "test": 2}


def test_cifar100_uses_fine_labels_and_names(tmp_path):
    folder = tmp_path / "cifar-100-binary"
    folder.mkdir()
    x, fine, coarse = images(7, 3, 32, 32), np.array([99, 0, 5, 42, 7, 8, 3]), np.arange(7) % 20
    (folder / "train.bin").write_bytes(cifar_batch(x, np.stack([coarse, fine], 1)))
    names = [f"class{i}" for i in range(100)]
    (folder / "fine_label_names.txt").write_text("\n".join(names))
    data = load(folder)
    assert data.class_names == tuple(names) and list(data.splits) == ["train"]
    check(data, {"train": (x, fine)})


def test_cifar_errors(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    write_cifar10(folder, batches=(1,))
    (folder / "test_batch.bin").write_bytes((folder / "test_batch.bin").read_bytes()[:-10])
    with pytest.raises(SslabError, match=literal(f"{folder / 'test_batch.bin'}: 15,355 bytes is not a whole number of 3073-byte CIFAR records "
                "(4 and 3063 bytes over): truncated?")):
        load(folder)
    (folder / "test_batch.bin").write_bytes(cifar_batch(images(2, 3, 32, 32), [[3], [10]]))
    with pytest.raises(SslabError, match=literal(f"{folder}: label 10 in the test split is out of range: 10 classes")):
        load(folder)

    python = tmp_path / "cifar-10-batches-py"
    python.mkdir()
    for name in ("data_batch_1", "test_batch", "batches.meta"):
        (python / name).write_bytes(b"\x80\x04pickled")
    with pytest.raises(SslabError, match=literal(f"{python}: this is CIFAR's python version (pickled batches), and sslab never unpickles a "
                "user's file; download the binary version instead (cifar-10-binary.tar.gz")):
        load(python)
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(python, "cifar-10-batches-py")
    with pytest.raises(SslabError, match=literal("cifar-10-python.tar.gz: this is CIFAR's python version")):
        load(tmp_path / "cifar-10-python.tar.gz")

    with tarfile.open(tmp_path / "cifar-10-binary.tar.gz", "w:gz") as tar:
        tar.add(folder / "data_batch_1.bin", "cifar-10-batches-bin/data_batch_1.bin")
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes((tmp_path / "cifar-10-binary.tar.gz").read_bytes()[:9000])
    with pytest.raises(SslabError, match=literal(f"{cut}: truncated or corrupt")):
        load(cut)


# --- STL-10 -----------------------------------------------------------------------------------------

def write_stl10(folder, n=(6, 4, 5), labels=None):
    """An stl10_binary folder: images stored column-major, (C, W, H); labels 1..10 on disk."""
    folder.mkdir(parents=True)
    expected = {}
    for split, k, seed in zip(("train", "test", "unlabeled"), n, range(3)):
        x = images(k, 3, 96, 96, seed)
        stored = x.transpose(0, 1, 3, 2).tobytes()
        assert stored[5 * 96] == 250  # column 5 is written after columns 0..4, each 96 rows long
        (folder / f"{split}_X.bin").write_bytes(stored)
        y = np.arange(k) % 10
        if split != "unlabeled":
            (folder / f"{split}_y.bin").write_bytes(bytes((y + 1).tolist() if labels is None else labels))
        expected[split] = (x, y if split != "unlabeled" else np.full(k, -1))
    (folder / "class_names.txt").write_text("airplane\nbird\ncar\ncat\ndeer\ndog\nhorse\nmonkey\nship\ntruck\n")
    return expected


def test_stl10(tmp_path, monkeypatch):
    expected = write_stl10(tmp_path / "stl10_binary")
    monkeypatch.setattr(files, "CHUNK_BYTES", 2 * 3 * 96 * 96)  # stream 2 images at a time
    chunks = list(sslab.data.REGISTRY["stl10"].source(tmp_path / "stl10_binary").parts["unlabeled"].read(np.arange(5)))
    assert [len(c) for c in chunks] == [2, 2, 1]
    for path in (tmp_path / "stl10_binary", tmp_path / "stl10_binary" / "unlabeled_X.bin"):
        data = load(path)
        assert data.format == "stl10" and data.shape == (3, 96, 96)
        assert list(data.splits) == ["train", "test", "unlabeled"]
        assert data.class_names[:3] == ("airplane", "bird", "car") and len(data.class_names) == 10
        check(data, expected)
        assert data.x[0, :, 0, 5].tolist() == [250, 150, 50]
    sub = load(tmp_path / "stl10_binary", n_images=5, image_size=32)
    assert sub.shape == (3, 32, 32)
    assert {k: len(v) for k, v in sub.splits.items()} == {"train": 2, "test": 1, "unlabeled": 2}


def test_stl10_errors(tmp_path):
    folder = tmp_path / "bad_label"
    write_stl10(folder, labels=[1, 2, 11, 3, 4, 5])
    with pytest.raises(SslabError, match=literal(f"{folder / 'train_y.bin'}: label 11 out of range: STL-10 labels are 1..10 on disk")):
        load(folder)
    folder = tmp_path / "short_labels"
    write_stl10(folder, labels=[1, 2, 3])
    with pytest.raises(SslabError, match=literal(f"{folder / 'train_y.bin'}: 3 labels but train_X.bin holds 6 images")):
        load(folder)
    folder = tmp_path / "cut"
    write_stl10(folder)
    (folder / "test_X.bin").write_bytes((folder / "test_X.bin").read_bytes()[:-1])
    with pytest.raises(SslabError, match=literal(f"{folder / 'test_X.bin'}: 110,591 bytes is not a whole number of 3x96x96 images")):
        load(folder)
