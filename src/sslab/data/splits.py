"""How a study divides a dataset: test, validation, labelled, pre-training and transfer images.

Everything here returns sorted int64 index tensors. `make_split` is the one entry point a study uses:
it takes the dataset's own splits where it has them, carves what is missing (seeded), and applies a
labelling protocol (`PROTOCOLS`): the standard one (every training label), the lab's (a fraction of
labels per class, a share of the classes held out as a transfer task) or the blog's (N labels).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from sslab.data.images import Images
from sslab.errors import SslabError
from sslab.i18n import N_


def check_fraction(name: str, fraction: float) -> None:
    if not 0 < fraction <= 1:
        raise SslabError(f"{name} must be in (0, 1], got {fraction}")


def train_test(n: int, train_fraction: float = 0.8, seed: int = 2021) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded random split of range(n) into train and test positions (the tutorial's 80:20 by default)."""
    check_fraction("train fraction", train_fraction)
    n_train = round(n * train_fraction)
    if train_fraction < 1 and not 0 < n_train < n:
        raise SslabError(f"train fraction {train_fraction} leaves an empty split of {n} images")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[:n_train].sort().values, perm[n_train:].sort().values


def label_fraction(y: torch.Tensor, fraction: float, seed: int = 0) -> torch.Tensor:
    """Stratified subset: `fraction` of each class of y, rounded up (so at least one image per class).

    Returns positions into y; images with y < 0 (unlabelled) are never kept. Subsets are nested:
    the images kept at a smaller fraction are also kept at any larger one with the same seed.
    """
    check_fraction("label fraction", fraction)
    return _stratified(y, lambda c, n_class: math.ceil(fraction * n_class - 1e-9), seed)


def per_class(y: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """Stratified subset: n images of each class of y (all of a class that has fewer). Positions into y.

    Nested like label_fraction, and with the same seed the same images: a class's images are
    taken in one seeded random order, so both subsets are prefixes of it.
    """
    if n < 1:
        raise SslabError(f"images per class must be at least 1, got {n}")
    return _stratified(y, lambda c, n_class: n, seed)


def n_labelled(y: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """Stratified subset of n images in all, shared between classes in proportion to their sizes
    (largest remainders): the blog's 200 labelled digits. Positions into y."""
    if n < 1:
        raise SslabError(f"the number of labelled images must be at least 1, got {n}")
    counts = torch.bincount(y[y >= 0])
    total = int(counts.sum())
    if n >= total:
        return torch.nonzero(y >= 0).squeeze(1)
    exact = counts.double() * n / total
    quota = exact.floor().long()
    for c in torch.argsort(exact - exact.floor(), descending=True, stable=True)[: n - int(quota.sum())]:
        quota[c] += 1
    return _stratified(y, lambda c, n_class: int(quota[c]), seed)


def _stratified(y: torch.Tensor, count: Callable[[int, int], int], seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    keep = [torch.zeros(0, dtype=torch.int64)]
    for c in torch.unique(y[y >= 0]).tolist():
        pos = torch.nonzero(y == c).squeeze(1)
        keep.append(pos[torch.randperm(len(pos), generator=g)][: count(c, len(pos))])
    return torch.cat(keep).sort().values


# --- protocols and the study's split ---------------------------------------------------------------

@dataclass(frozen=True)
class Protocol:
    """How the training images are divided between labels and label-free pre-training."""

    name: str = "standard"
    label_fraction: float = 1.0  # per class, the fraction of training images that keep their label (rounded up)
    n_labelled: int | None = None  # instead: this many labelled images in all, stratified (the blog's 200)
    holdout: float = 0.0  # share of the classes held out as a transfer task (rounded up; none below 3 classes)
    pretrain: str = "train"  # label-free methods train on "train" (every training image) or "unlabelled" (the rest)

    def __post_init__(self) -> None:
        check_fraction("label fraction", self.label_fraction)
        if self.n_labelled is not None and self.n_labelled < 1:
            raise SslabError(f"the number of labelled images must be at least 1, got {self.n_labelled}")
        if not 0 <= self.holdout < 1:
            raise SslabError(f"the held-out share of classes must be in [0, 1), got {self.holdout}")
        if self.pretrain not in ("train", "unlabelled"):
            raise SslabError(f"pretrain must be 'train' or 'unlabelled', got {self.pretrain!r}")


PROTOCOLS = {
    "standard": Protocol(),
    # The university lab: 20% of each class labelled, 30% of the classes held out for transfer,
    # self-supervised methods pre-trained on the unlabelled rest of every class.
    "lab": Protocol("lab", label_fraction=0.2, holdout=0.3, pretrain="unlabelled"),
    # The projection-head blog: 200 labelled digits, the other training images unlabelled.
    "blog": Protocol("blog", n_labelled=200, pretrain="unlabelled"),
}


def protocol(name: str, **changes) -> Protocol:
    """A named protocol with some of its settings changed (None leaves a setting as it is)."""
    if name not in PROTOCOLS:
        raise SslabError(f"unknown protocol {name!r}; protocols: {', '.join(PROTOCOLS)}")
    return replace(PROTOCOLS[name], **{k: v for k, v in changes.items() if v is not None})


@dataclass(frozen=True)
class Transfer:
    """The held-out classes' task: labelled training images and test images, labels remapped to 0..k-1."""

    classes: tuple[int, ...]  # the dataset's class indices held out
    train: torch.Tensor
    test: torch.Tensor
    y: torch.Tensor  # (N,) label in the transfer task, -1 outside it


@dataclass(frozen=True)
class Split:
    """The index sets of one study, all sorted int64 indices into the dataset.

    y: (N,) the main task's label of each image (its kept classes remapped to 0..k-1), -1 where an
    image has no label or belongs to a held-out class; classes: the dataset's class indices of the
    main task, in order. Only `labelled` images' labels are ever trained on; `val` chooses settings;
    `test` is for the reported figures.
    """

    train: torch.Tensor  # every training image, labelled or not
    labelled: torch.Tensor  # training images whose labels are used (label-using methods, probes)
    pretrain: torch.Tensor  # images the label-free methods train on
    val: torch.Tensor
    test: torch.Tensor
    y: torch.Tensor
    classes: tuple[int, ...]
    transfer: Transfer | None = None
    notes: tuple[str, ...] = ()  # what was carved or held out, in words

    def sizes(self) -> dict[str, int]:
        out = {k: len(getattr(self, k)) for k in ("train", "labelled", "pretrain", "val", "test")}
        if self.transfer is not None:
            out |= {"transfer_train": len(self.transfer.train), "transfer_test": len(self.transfer.test)}
        return out


def make_split(images: Images, proto: Protocol = PROTOCOLS["standard"], seed: int = 2021,
               train_fraction: float = 0.8, val_fraction: float = 0.1) -> Split:
    """The study's split of `images`.

    test: the dataset's test split, else a seeded random train_fraction : rest split of the images
    outside any unlabelled split. val: the dataset's val split, else val_fraction of each class of
    train (seeded, stratified). Then the protocol: held-out classes (drawn with the seed), the
    labelled subset per class, and the pre-training pool (the dataset's unlabelled split included).
    """
    check_fraction("train fraction", train_fraction)
    if not 0 <= val_fraction < 1:
        raise SslabError(f"validation fraction must be in [0, 1), got {val_fraction}")
    n, y, own, notes = len(images), images.y, images.splits, []
    unlabelled_split = own.get("unlabeled", torch.zeros(0, dtype=torch.int64))
    if "test" in own:
        test = own["test"]
        train = own.get("train", _rest(n, test, own.get("val"), unlabelled_split))
    else:
        pool = own.get("train", _rest(n, own.get("val"), unlabelled_split))
        if train_fraction == 1:
            raise SslabError("the data has no test split, so the train fraction must leave test images (below 1)")
        tr, te = train_test(len(pool), train_fraction, seed)
        train, test = pool[tr], pool[te]
        notes.append(N_("test: {n} images drawn at random ({share}, seed {seed})").format(
            n=len(test), share=f"{1 - train_fraction:.0%}", seed=seed))
    if "val" in own:
        val = own["val"]
    elif val_fraction > 0:
        pos = _stratified(y[train], lambda c, n_class: round(val_fraction * n_class), seed)
        val = train[pos]
        train = _rest_of(train, val)
        notes.append(N_("val: {n} training images ({share} of each class, seed {seed})").format(
            n=len(val), share=f"{val_fraction:.0%}", seed=seed))
    else:
        val = torch.zeros(0, dtype=torch.int64)

    present = sorted(torch.unique(y[train][y[train] >= 0]).tolist())
    held: tuple[int, ...] = ()
    if proto.holdout > 0:
        if len(present) < 3:
            notes.append(N_("no classes held out: the data has {n} classes (3 or more are needed)").format(n=len(present)))
        else:
            k = min(len(present) - 2, math.ceil(proto.holdout * len(present) - 1e-9))  # keep 2 for the main task
            g = torch.Generator().manual_seed(seed)
            held = tuple(sorted(present[i] for i in torch.randperm(len(present), generator=g)[:k].tolist()))
            notes.append(N_("held out for transfer: classes {names}").format(
                names=", ".join(images.class_names[c] for c in held)))
    kept = tuple(c for c in present if c not in held)
    y_main = _remap(y, kept)

    labelled_pool = train[y[train] >= 0]
    if proto.n_labelled is not None:
        main_pos = n_labelled(y_main[labelled_pool], proto.n_labelled, seed)
    else:
        main_pos = label_fraction(y_main[labelled_pool], proto.label_fraction, seed)
    labelled = labelled_pool[main_pos]
    transfer = None
    if held:
        y_held = _remap(y, held)
        t_pos = label_fraction(y_held[labelled_pool], proto.label_fraction, seed)
        t_test = test[y_held[test] >= 0]
        transfer = Transfer(held, labelled_pool[t_pos], t_test, y_held)
        used = torch.cat([labelled, transfer.train])
    else:
        used = labelled
    train_all = torch.cat([train, unlabelled_split]).sort().values
    pretrain = train_all if proto.pretrain == "train" else _rest_of(train_all, used)
    if len(pretrain) == 0:
        raise SslabError("no images are left for pre-training: every training image keeps its label "
                         "(use a label fraction below 1 with this protocol)")
    keep = lambda idx: idx[y_main[idx] >= 0]  # noqa: E731 -- the main task's images only
    return Split(train=train_all, labelled=labelled, pretrain=pretrain, val=keep(val), test=keep(test), y=y_main,
                 classes=kept, transfer=transfer, notes=tuple(notes))


def _remap(y: torch.Tensor, classes: tuple[int, ...]) -> torch.Tensor:
    """Labels of the given classes -> 0..k-1 in that order; every other image -> -1."""
    table = torch.full((int(y.max()) + 2 if len(y) else 1,), -1, dtype=torch.int64)
    table[list(classes)] = torch.arange(len(classes))
    return table[y.clamp_min(-1)]  # y = -1 reads the table's last entry, which stays -1


def _rest(n: int, *taken: torch.Tensor | None) -> torch.Tensor:
    mask = torch.ones(n, dtype=torch.bool)
    for t in taken:
        if t is not None:
            mask[t] = False
    return torch.nonzero(mask).squeeze(1)


def _rest_of(idx: torch.Tensor, minus: torch.Tensor) -> torch.Tensor:
    return idx[~torch.isin(idx, minus)]
