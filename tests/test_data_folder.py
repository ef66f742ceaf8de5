"""Image folders: class sub-folders of PNG/JPEG files, split folders, mode and size conversion, errors."""

import re

import numpy as np
import pytest
from conftest import literal
from PIL import Image

from sslab.data import folder as folder_format
from sslab.data import load
from sslab.errors import SslabError

H, W = 8, 10  # not square, to catch a width/height swap


def rgb(seed, h=H, w=W):
    """(h, w, 3) uint8 random image with R 250, G 150, B 50 at row 0, col 5."""
    x = np.random.default_rng(seed).integers(0, 40, (h, w, 3), dtype=np.uint8)
    x[0, 5] = (250, 150, 50)
    return x


def save(path, array, mode=None, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path, **kw) if mode else Image.fromarray(array).save(path, **kw)
    return array


def test_png_splits_exact(tmp_path):
    expected = {}  # split -> [(image (3, H, W), class)]
    layout = {"train": {"cat": 3, "dog": 2}, "valid": {"cat": 1}, "test": {"dog": 1, "eel": 2}}
    seed = 0
    for split, classes in layout.items():
        for c, n in classes.items():
            for i in range(n):
                seed += 1
                x = save(tmp_path / split / c / f"{i:02d}.png", rgb(seed))
                expected.setdefault({"valid": "val"}.get(split, split), []).append((x.transpose(2, 0, 1), c))
    (tmp_path / "README.md").write_text("not an image")
    data = load(tmp_path)
    assert data.format == "folder" and data.shape == (3, H, W)
    assert data.class_names == ("cat", "dog", "eel") and list(data.splits) == ["train", "val", "test"]
    for split, items in expected.items():
        idx = data.splits[split]
        assert np.array_equal(data.x[idx].numpy(), np.stack([x for x, _ in items]))
        assert [data.class_names[i] for i in data.y[idx]] == [c for _, c in items]
    assert data.x[0, :, 0, 5].tolist() == [250, 150, 50]


def test_modes_and_sizes_are_unified(tmp_path):
    a = save(tmp_path / "a" / "1.png", rgb(1))
    save(tmp_path / "a" / "2.png", rgb(2))
    grey = save(tmp_path / "a" / "3.png", rgb(3)[..., 0])  # mode L
    rgba = np.concatenate([rgb(4), np.full((H, W, 1), 7, np.uint8)], axis=2)
    save(tmp_path / "b" / "4.png", rgba)  # RGBA
    pal = Image.fromarray(rgb(5)).quantize(16)
    pal.save(tmp_path / "b" / "5.PNG")  # mode P, upper-case extension
    big = save(tmp_path / "b" / "6.png", rgb(6, 2 * H, 2 * W))
    data = load(tmp_path)
    assert data.shape == (3, H, W) and len(data) == 6  # the most common size, RGB as not all are grey
    x = data.x.numpy()
    assert np.array_equal(x[0], a.transpose(2, 0, 1))
    assert all(np.array_equal(x[2, c], grey) for c in range(3))
    assert np.array_equal(x[3], rgba[..., :3].transpose(2, 0, 1))
    assert np.array_equal(x[4], np.asarray(pal.convert("RGB")).transpose(2, 0, 1))
    halved = np.asarray(Image.fromarray(big).resize((W, H), Image.Resampling.BILINEAR)).transpose(2, 0, 1)
    assert np.array_equal(x[5], halved)  # Pillow's bilinear, antialiased when shrinking


def test_grey_only_folder_has_one_channel(tmp_path):
    g = save(tmp_path / "x" / "1.png", rgb(1)[..., 1])
    wide = (rgb(2)[..., 0].astype(np.uint16) << 8) | 0x7F  # 16-bit grey keeps its high byte
    (tmp_path / "y").mkdir()
    Image.fromarray(wide).save(tmp_path / "y" / "2.png")  # mode I;16
    save(tmp_path / "y" / "3.jpg", rgb(3)[..., 2], quality=95)
    data = load(tmp_path)
    assert data.shape == (1, H, W) and data.class_names == ("x", "y") and data.y.tolist() == [0, 1, 1]
    assert np.array_equal(data.x[0, 0].numpy(), g) and data.x[0, 0, 0, 5] == 150
    assert np.array_equal(data.x[1, 0].numpy(), rgb(2)[..., 0])


def test_jpeg_is_close_and_image_size_resizes(tmp_path):
    yy, xx = np.mgrid[0:64, 0:96]
    smooth = np.stack([xx * 2, yy * 3, 255 - xx - yy], axis=2).clip(0, 255).astype(np.uint8)
    for i in range(3):
        save(tmp_path / "train" / "k" / f"{i}.jpg", smooth, quality=95)
    save(tmp_path / "test" / "k" / "0.jpeg", smooth, quality=95)
    data = load(tmp_path)
    assert data.shape == (3, 64, 96)
    assert np.abs(data.x[0].numpy().astype(int) - smooth.transpose(2, 0, 1)).mean() < 2
    small = load(tmp_path, image_size=16)  # JPEG draft decoding at 1/4 scale, then resized
    assert small.shape == (3, 16, 16) and list(small.splits) == ["train", "test"]
    ref = np.asarray(Image.fromarray(smooth).resize((16, 16), Image.Resampling.BILINEAR)).transpose(2, 0, 1)
    assert np.abs(small.x[0].numpy().astype(int) - ref).mean() < 3


def test_loose_images_are_unlabelled(tmp_path):
    for i in range(3):
        save(tmp_path / f"{i}.png", rgb(i))
    data = load(tmp_path)
    assert data.class_names == () and data.y.tolist() == [-1, -1, -1] and data.splits == {}
    save(tmp_path / "unlabeled" / "0.png", rgb(9))
    save(tmp_path / "train" / "a" / "0.png", rgb(8))
    data = load(tmp_path)
    assert list(data.splits) == ["train", "unlabeled"] and data.y.tolist() == [0, -1]


def test_parallel_decoding_matches_serial(tmp_path, monkeypatch):
    for i in range(30):
        save(tmp_path / "train" / f"c{i % 3}" / f"{i}.png", rgb(i))
        save(tmp_path / "test" / f"c{i % 3}" / f"{i}.jpg", rgb(i), quality=90)
    serial = load(tmp_path)
    monkeypatch.setattr(folder_format, "PARALLEL_FROM", 1)
    monkeypatch.setattr(folder_format, "WORKERS", 2)
    monkeypatch.setattr(folder_format, "TASK", 4)
    parallel = load(tmp_path)
    assert np.array_equal(parallel.x.numpy(), serial.x.numpy()) and parallel.y.tolist() == serial.y.tolist()
    sub = load(tmp_path, n_images=12, seed=1)
    assert len(sub) == 12 and sub.class_counts(sub.splits["train"]) == [2, 2, 2]


def test_empty_and_imageless_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SslabError, match=literal(f"{tmp_path / 'empty'}: the folder is empty")):
        load(tmp_path / "empty")
    (tmp_path / "text" / "a").mkdir(parents=True)
    (tmp_path / "text" / "a" / "notes.txt").write_text("x")
    with pytest.raises(SslabError, match=literal(f"{tmp_path / 'text'}: no images in it or its sub-folders (looked for .png, .jpg")):
        load(tmp_path / "text")
    save(tmp_path / "two" / "val" / "a" / "0.png", rgb(0))
    save(tmp_path / "two" / "validation" / "a" / "0.png", rgb(0))
    with pytest.raises(SslabError, match=literal(f"{tmp_path / 'two'}: several folders hold the same split: val, validation")):
        load(tmp_path / "two")


@pytest.mark.parametrize("parallel", [False, True])
def test_unreadable_images_are_named(tmp_path, monkeypatch, parallel):
    if parallel:
        monkeypatch.setattr(folder_format, "PARALLEL_FROM", 1)
        monkeypatch.setattr(folder_format, "WORKERS", 2)
        monkeypatch.setattr(folder_format, "TASK", 2)
    for i in range(6):
        save(tmp_path / "a" / f"{i}.jpg", rgb(i), quality=90)
    bad = tmp_path / "a" / "3.jpg"
    bad.write_bytes(bad.read_bytes()[:300])  # the header survives, the pixels do not
    with pytest.raises(SslabError, match=re.escape(f"{bad}: cannot read this image (OSError: ")):
        load(tmp_path)
    bad.write_bytes(b"not an image at all")
    with pytest.raises(SslabError, match=literal(f"{bad}: cannot read this image (UnidentifiedImageError")):
        load(tmp_path)
