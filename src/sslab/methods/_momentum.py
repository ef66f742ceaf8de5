"""What the momentum-teacher methods share (BYOL, MoCo; DINO uses the schedule and the update): a target
network that is an exponential moving average (EMA) of the online one, never trained by the optimiser.

A helper, not a method: it registers nothing.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

from sslab.errors import SslabError
from sslab.methods._joint import JointConfig, JointEmbedding

SCHEDULES = ("constant", "cosine")


def momentum_at(base: float, schedule: str, progress: float) -> float:
    """The EMA momentum after a share `progress` of training: `base` throughout ("constant"), or raised from
    `base` to 1 on a half cosine ("cosine": BYOL's and DINO's schedule)."""
    if schedule == "constant":
        return base
    return 1 - (1 - base) * (math.cos(math.pi * progress) + 1) / 2


@torch.no_grad()
def ema_(target: Iterable[torch.Tensor], online: Iterable[torch.Tensor], m: float) -> None:
    """target <- m x target + (1 - m) x online, tensor by tensor (both in the same order)."""
    for t, s in zip(target, online, strict=True):
        t.mul_(m).add_(s.detach(), alpha=1 - m)


def check_momentum(cfg) -> None:
    if not 0 <= cfg.momentum <= 1:
        raise SslabError(f"momentum must be in [0, 1], got {cfg.momentum}")
    if cfg.momentum_schedule not in SCHEDULES:
        raise SslabError(f"momentum_schedule must be one of {', '.join(SCHEDULES)}, got {cfg.momentum_schedule!r}")


@dataclass(frozen=True)
class MomentumConfig(JointConfig):
    momentum: float = 0.99  # the target's EMA momentum at the start
    momentum_schedule: str = "cosine"  # raised to 1 at the end of training ("constant": kept)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_momentum(self)


class MomentumJoint(JointEmbedding):
    """A joint-embedding method whose second branch is `target`, the EMA of {encoder, projector}. The target
    runs in the online network's mode (its BatchNorm on the batch's statistics in training, as in BYOL's and
    MoCo's code), gets no gradient and is outside the optimiser; `after_step` moves it towards the online one."""

    TARGET = "target network"  # the variant name its encoder is probed under

    def __init__(self, cfg: MomentumConfig, image_shape: tuple[int, int, int], n_classes: int):
        super().__init__(cfg, image_shape, n_classes)
        self.target = copy.deepcopy(nn.ModuleDict({"encoder": self.encoder, "projector": self.projector}))
        self.target.requires_grad_(False)

    def online(self) -> Iterable[torch.Tensor]:
        """The online tensors the target follows, in the target's order."""
        return [*self.encoder.parameters(), *self.projector.parameters()]

    @torch.no_grad()
    def keys(self, x: torch.Tensor) -> torch.Tensor:
        """The target's embedding of a batch of views (no gradient)."""
        return self.target["projector"](self.target["encoder"](x))

    @torch.no_grad()
    def after_step(self, progress: float) -> None:
        ema_(self.target.parameters(), self.online(), momentum_at(self.cfg.momentum, self.cfg.momentum_schedule,
                                                                  progress))

    def variants(self) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
        return super().variants() | {self.TARGET: self.target["encoder"]}
