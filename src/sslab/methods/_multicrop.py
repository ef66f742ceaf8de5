"""Multi-crop encoding (SwAV, DINO): crops of one size go through a network in one pass, each size apart.

A helper, not a method: it registers nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch


def by_size(net: Callable[[torch.Tensor], torch.Tensor], crops: Sequence[torch.Tensor]) -> torch.Tensor:
    """V crops (each (B, C, h, w)) -> (V, B, D): `net` on the crops of each size concatenated, in the crops'
    order. Consecutive crops of one size share a pass (globals first, then locals: two passes at most), so
    BatchNorm sees each resolution's statistics apart, as in DINO's and SwAV's official code."""
    out, start = [], 0
    while start < len(crops):
        end = start + 1
        while end < len(crops) and crops[end].shape == crops[start].shape:
            end += 1
        out.append(net(torch.cat(list(crops[start:end]))).view(end - start, len(crops[0]), -1))
        start = end
    return torch.cat(out)
