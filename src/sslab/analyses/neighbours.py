"""Neighbours: the picture people look at first. For a few fixed test images (one per class where there are
enough classes), each encoder's nearest labelled training images by cosine similarity of its features, raw
pixels included (as an encoder of the study, or computed here when the study has none)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from sslab import plots
from sslab.analyses.base import Context, Figures
from sslab.i18n import N_

QUESTION = N_("What do the encoders keep?")
ORDER = 22
NEEDS = ()
RAW = "raw"


@dataclass(frozen=True)
class Config:
    queries: int = 8  # test images shown
    k: int = 5  # nearest training images per query and encoder
    bank: int = 20000  # labelled training images searched (a fixed random subset beyond this)


FIGURES = {
    "neighbours": N_("For each query test image (left), a row per encoder: its nearest labelled training images by "
                     "cosine similarity of that encoder's features, nearest first: what the encoder treats as alike "
                     "(the same shape, or the same place, size or colour)."),
}


def run(s: Context, cfg: Config) -> tuple[dict[str, Any], Figures]:
    g = torch.Generator().manual_seed(s.cfg.seed)
    queries = one_per_class(s.split.test, s.split.y, cfg.queries, g)
    bank = s.split.labelled
    if len(bank) > cfg.bank:
        bank = bank[torch.randperm(len(bank), generator=g)[:cfg.bank]].sort().values
    feats = {RAW: lambda idx: s.images.x[idx].flatten(1).float()} if RAW not in s.encoders else {}
    feats |= {n: (lambda idx, n=n: s.features(n, idx)) for n in s.encoders}
    out: dict[str, Any] = {"queries": queries.tolist(), "encoders": {}}
    found = {}
    y = s.split.y
    for name, read in feats.items():
        nearest = nearest_rows(read(queries), read(bank), cfg.k)  # (Q, k) positions into bank
        hits = bank[nearest]
        found[name] = s.images.x[hits]  # (Q, k, C, H, W) uint8
        same = (y[hits] == y[queries][:, None]).float().mean().item()
        out["encoders"][name] = {"neighbours": hits.tolist(), "same_label": same}
        s.log(f"  {name}: {same:.0%} of the {cfg.k} nearest share the query's label")
    return out, {"neighbours": plots.later(plots.neighbours, s.images.x[queries], found)}


def one_per_class(idx: torch.Tensor, y: torch.Tensor, n: int, g: torch.Generator) -> torch.Tensor:
    """n of the images at idx, drawn at random, the classes taken in turn (one per class first)."""
    order = idx[torch.randperm(len(idx), generator=g)]
    picked: list[int] = []
    while len(picked) < min(n, len(order)):
        seen: set[int] = set()
        for i in order.tolist():
            if i not in picked and int(y[i]) not in seen:
                picked.append(i)
                seen.add(int(y[i]))
                if len(picked) == n:
                    break
    return torch.tensor(picked[:n], dtype=torch.int64)


def nearest_rows(h_query: torch.Tensor, h_bank: torch.Tensor, k: int) -> torch.Tensor:
    """(Q, k) row indices into h_bank of each query row's k most cosine-similar rows, most similar first."""
    sim = F.normalize(h_query.float(), dim=1) @ F.normalize(h_bank.float(), dim=1).T
    return sim.topk(min(k, len(h_bank)), dim=1).indices
