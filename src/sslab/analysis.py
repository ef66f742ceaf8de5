"""Analyses of frozen features: arrays in, arrays out (plotting lives in sslab.plots)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def rsm(h: torch.Tensor) -> torch.Tensor:
    """Representational similarity matrix: cosine similarity of every pair of rows. (N, D) -> (N, N)."""
    z = F.normalize(h.float(), dim=1)
    return z @ z.T


def sorted_sample(y: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """Up to n positions into y, drawn at random and ordered by y (then by position), for sorted RSMs."""
    g = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(y), generator=g)[:n].sort().values
    return pick[torch.argsort(y[pick], stable=True)]
