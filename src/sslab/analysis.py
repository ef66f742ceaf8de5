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


def linear_cka(h1: torch.Tensor, h2: torch.Tensor) -> float:
    """Linear centred kernel alignment (Kornblith et al. 2019) of two feature matrices of the same images.

    h1: (N, D1), h2: (N, D2). 1 for identical features; invariant to orthogonal transforms and
    isotropic scaling of either. Uses the (D1, D2) cross-covariance, never an (N, N) matrix.
    """
    x = h1.double() - h1.double().mean(0)
    y = h2.double() - h2.double().mean(0)
    cross = torch.linalg.matrix_norm(y.T @ x) ** 2
    return float(cross / (torch.linalg.matrix_norm(x.T @ x) * torch.linalg.matrix_norm(y.T @ y)))


def rsm_histogram(h: torch.Tensor, bins: int = 100, chunk: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """Histogram of the off-diagonal RSM values of h (N, D), computed chunk by chunk.

    Never holds more than (chunk, N) similarities. Returns (counts (bins,), edges (bins + 1,)) over [-1, 1].
    """
    z = F.normalize(h.float(), dim=1)
    counts = torch.zeros(bins, dtype=torch.float64)
    for i in range(0, len(z), chunk):
        block = z[i : i + chunk] @ z.T  # (chunk, N)
        rows = torch.arange(len(block))
        block[rows, rows + i] = float("nan")  # drop self-similarity
        vals = block[~block.isnan()].clamp(-1, 1)
        counts += torch.histc(vals, bins=bins, min=-1, max=1).double()
    return counts, torch.linspace(-1, 1, bins + 1)
