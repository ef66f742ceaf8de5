"""MedMNIST 2D (Yang et al. 2023): the npz files of medmnist.com, e.g. `pneumoniamnist.npz`,
`retinamnist_64.npz`.

Layout: `train_images`, `val_images`, `test_images` uint8, grey (N, H, W) or RGB (N, H, W, 3), at
any size (28, 64, 128, 224); `train_labels`, `val_labels`, `test_labels` integer (N, 1) as in the
official files, or flat (N,) as in re-saved copies. Any of the three splits may be missing, but
never the labels of a split that is there. Multi-label subsets (ChestMNIST, labels (N, 14)) are
refused: sslab reads single-label data.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from sslab.data.images import class_count
from sslab.errors import SslabError

DESCRIPTION = "MedMNIST npz (train_images, train_labels, val_..., test_...)"
VIEWS = "lab"
ENCODER = "convnet"
# The data's method settings, chosen on the validation splits of PneumoniaMNIST and RetinaMNIST
# (benchmarks/choose_recipe.py; README, "Training recipes"): SimCLR at temperature 0.07 (as the lab's
# SupCon and the UvA tutorial) beat 0.1, 0.2 and 0.5 on both; 100 epochs did no better than 40.
METHODS = {"simclr": {"temperature": 0.07}}

SPLITS = ("train", "val", "test")

_ORGAN = ("bladder", "femur-left", "femur-right", "heart", "kidney-left", "kidney-right", "liver",
          "lung-left", "lung-right", "pancreas", "spleen")

# The official label names (medmnist's INFO[...]["label"]), by the file name's stem.
CLASS_NAMES = {
    "pathmnist": ("adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle",
                  "normal colon mucosa", "cancer-associated stroma", "colorectal adenocarcinoma epithelium"),
    "dermamnist": ("actinic keratoses and intraepithelial carcinoma", "basal cell carcinoma",
                   "benign keratosis-like lesions", "dermatofibroma", "melanoma", "melanocytic nevi",
                   "vascular lesions"),
    "octmnist": ("choroidal neovascularization", "diabetic macular edema", "drusen", "normal"),
    "pneumoniamnist": ("normal", "pneumonia"),
    "retinamnist": ("0", "1", "2", "3", "4"),  # diabetic-retinopathy grades, named by their number
    "breastmnist": ("malignant", "normal, benign"),
    "bloodmnist": ("basophil", "eosinophil", "erythroblast",
                   "immature granulocytes (myelocytes, metamyelocytes and promyelocytes)", "lymphocyte",
                   "monocyte", "neutrophil", "platelet"),
    "tissuemnist": ("Collecting Duct, Connecting Tubule", "Distal Convoluted Tubule",
                    "Glomerular endothelial cells", "Interstitial endothelial cells", "Leukocytes", "Podocytes",
                    "Proximal Tubule Segments", "Thick Ascending Limb"),
    "organamnist": _ORGAN,
    "organcmnist": _ORGAN,
    "organsmnist": _ORGAN,
}


def detect(path: Path) -> bool:
    if not (path.is_file() and path.suffix == ".npz"):
        return False
    from sslab.data.files import Npz

    try:
        keys = Npz(path).files
    except SslabError:
        return False
    return any(f"{s}_images" in keys for s in SPLITS)


def subset_name(path: Path) -> str:
    """The MedMNIST subset a file holds, from its name: 'PneumoniaMNIST_224.npz' -> 'pneumoniamnist'."""
    return re.sub(r"[_-]\d+$", "", path.stem.lower())


def source(path: Path, image_size: int | None = None):
    """Parts train/val/test of a MedMNIST npz; images are streamed from the zip when read."""
    from sslab.data.images import Part, Source
    from sslab.data.files import Npz

    f = Npz(path)
    shapes, labels = {}, {}
    for split in SPLITS:
        key = f"{split}_images"
        if key not in f.files:
            continue
        if f"{split}_labels" not in f.files:
            raise SslabError(f"{path}: has {key} but no {split}_labels")
        shape = f.shape(key)
        grey, rgb = len(shape) == 3, len(shape) == 4 and shape[3] == 3
        if f.dtype(key) != np.uint8 or not (grey or rgb):
            raise SslabError(f"{path}: {key} must be uint8 (N, H, W) or (N, H, W, 3), got {f.dtype(key)} {shape} "
                             "(3D MedMNIST volumes are not read)")
        label_shape = f.shape(f"{split}_labels")
        if not label_shape or label_shape[0] != shape[0]:
            raise SslabError(f"{path}: {split}_images holds {shape[0]:,} images but {split}_labels is {label_shape}")
        shapes[split] = shape
        labels[split] = _labels(path, f.array(f"{split}_labels"), split)
    if len({s[1:] for s in shapes.values()}) > 1:
        raise SslabError(f"{path}: the splits hold images of different shapes: "
                         + ", ".join(f"{k} {v[1:]}" for k, v in shapes.items()))
    first = next(iter(shapes.values()))
    channels, side = (3 if len(first) == 4 else 1), first[1:3]

    n_classes = class_count(list(labels.values()), str(path))
    names = CLASS_NAMES.get(subset_name(path), tuple(str(i) for i in range(n_classes)))

    def reader(key: str):
        def read(pos: np.ndarray):
            for chunk in f.records(key, pos):
                # (k, H, W) -> (k, 1, H, W); (k, H, W, 3) -> (k, 3, H, W), one chunk at a time
                yield chunk[:, None] if channels == 1 else chunk.transpose(0, 3, 1, 2)
        return read

    parts = {s: Part(shapes[s][0], reader(f"{s}_images"), labels[s]) for s in shapes}
    return Source((channels, *side), names, parts)


def _labels(path: Path, y: np.ndarray, split: str) -> np.ndarray:
    """(N, 1) or (N,) integer labels -> (N,) int64; multi-label arrays are refused."""
    if y.ndim == 2 and y.shape[1] > 1:
        raise SslabError(f"{path}: {split}_labels is {y.shape}, multi-label data (as ChestMNIST); "
                         "sslab reads single-label data (one class per image)")
    if y.ndim not in (1, 2) or not np.issubdtype(y.dtype, np.integer):
        raise SslabError(f"{path}: {split}_labels must be integer (N, 1) or (N,), got {y.dtype} {y.shape}")
    return y.reshape(-1).astype(np.int64)
