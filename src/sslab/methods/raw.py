"""Raw pixels as features: the floor any encoder should beat."""

from __future__ import annotations

import torch

from sslab.methods.base import Method, register


@register
class Raw(Method):
    def features(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)  # (B, C*H*W)
