"""DINO (Caron et al. 2021): a student learns to match an EMA teacher across multi-crop views, no labels.

As in the MedMNIST lab: the same encoder for student and teacher, each followed by the DINO head
(Linear feat_dim -> hidden, GELU, Linear hidden -> hidden, GELU, L2 normalisation, then a
weight-normalised Linear hidden -> out_dim without bias); 2 global and `n_local` local crops (the
`multicrop` recipe, all at the input size, whatever the data's own views); the loss is
sslab.losses.dino_loss between the centred, sharpened teacher outputs on the global crops and the
student outputs on every crop.
After each step the centre moves towards the batch mean of the teacher outputs (momentum
`center_momentum`) and the teacher towards the student (EMA `momentum`, constant as in the lab or
a cosine schedule to 1 as in the paper). The teacher is outside the optimiser and in eval mode.

Teacher BatchNorm statistics: the lab leaves the teacher's running statistics at their initial
values (mean 0, variance 1), so its eval-mode outputs normalise nothing. Here they follow the
student's: `teacher_bn = "copy"` (default) copies the student's buffers into the teacher after every
step; `"initial"` keeps the lab's behaviour.

Features are the student's encoder output; `features_from = "teacher"` evaluates the teacher's.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain

import torch
import torch.nn.functional as F
from torch import nn

from sslab import distributed, nets, views
from sslab.errors import SslabError
from sslab.losses import dino_loss
from sslab.methods.base import Method, register
from sslab.methods._net import NetConfig
from sslab.methods.base import frozen_features


@dataclass(frozen=True)
class DINOConfig(NetConfig):
    epochs: int = 40
    batch_size: int = 128
    lr: float = 1e-3
    clip_grad: float = 3.0  # the lab's
    activation: str = ""  # "" the encoder's own; "gelu" for the lab's convnet (the encoder must take it)
    hidden_dim: int = 256  # the head's hidden width
    out_dim: int = 256  # the head's output width (the softmax's size)
    student_temp: float = 0.1
    teacher_temp: float = 0.04
    center_momentum: float = 0.9
    momentum: float = 0.996  # teacher EMA momentum (at the start, if momentum_schedule is "cosine")
    momentum_schedule: str = "constant"  # "constant" (the lab) or "cosine" (to 1 at the end, the paper)
    teacher_bn: str = "copy"  # "copy": the student's BatchNorm statistics; "initial": never updated (the lab)
    features_from: str = "student"  # whose encoder gives the features: "student" or "teacher"
    n_local: int = 4  # local crops per image (2 global crops always)
    crops: str = "multicrop"  # a view recipe returning a list of crops, globals first (not the data's `views`)

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("hidden_dim", "out_dim", "student_temp", "teacher_temp"):
            if getattr(self, key) <= 0:
                raise SslabError(f"{key} must be positive, got {getattr(self, key)}")
        for key in ("center_momentum", "momentum"):
            if not 0 <= getattr(self, key) <= 1:
                raise SslabError(f"{key} must be in [0, 1], got {getattr(self, key)}")
        for key, choices in (("momentum_schedule", ("constant", "cosine")), ("teacher_bn", ("copy", "initial")),
                             ("features_from", ("student", "teacher"))):
            if getattr(self, key) not in choices:
                raise SslabError(f"{key} must be one of {', '.join(choices)}, got {getattr(self, key)!r}")
        if self.n_local < 0:
            raise SslabError(f"n_local must be >= 0, got {self.n_local}")
        if self.crops not in views.REGISTRY or not hasattr(views.REGISTRY[self.crops], "n_local"):
            raise SslabError(f"crops must be a multi-crop view recipe (multicrop), got {self.crops!r}")


class DINOHead(nn.Module):
    """The lab's head: Linear - GELU - Linear - GELU - L2 - weight-normalised Linear (no bias)."""

    def __init__(self, d: int, hidden: int, out: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU())
        self.last = nn.utils.parametrizations.weight_norm(nn.Linear(hidden, out, bias=False))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.last(F.normalize(self.mlp(h), dim=-1))


@register
class DINO(Method):
    Config = DINOConfig

    def __init__(self, cfg: DINOConfig, image_shape: tuple[int, int, int], n_classes: int):
        super().__init__(cfg, image_shape, n_classes)
        options = {"activation": cfg.activation} if cfg.activation else {}
        self.encoder = nets.build(cfg.encoder, image_shape, **options)
        self.head = DINOHead(self.encoder.feat_dim, cfg.hidden_dim, cfg.out_dim)
        self.teacher = copy.deepcopy(nn.ModuleDict({"encoder": self.encoder, "head": self.head}))
        self.teacher.requires_grad_(False)
        self.register_buffer("center", torch.zeros(cfg.out_dim))
        self.recipe = views.build(cfg.crops, n_global=2, n_local=cfg.n_local)

    def train(self, mode: bool = True) -> "DINO":
        super().train(mode)
        self.teacher.eval()  # always: its BatchNorm layers never update themselves
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))  # (B, out_dim): the student's output

    def inputs(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        return tuple(self.recipe(x, generator))  # 2 global, then n_local local crops: each (B, C, H, W)

    def objective(self, inputs, generator=None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        n = len(inputs[0])
        student = self(torch.cat(inputs)).view(len(inputs), n, -1)  # (V, B, K)
        with torch.no_grad():
            teacher = self.teacher["head"](self.teacher["encoder"](torch.cat(inputs[:2]))).view(2, n, -1)
        loss = dino_loss(student, teacher, self.center, self.cfg.student_temp, self.cfg.teacher_temp)
        self._teacher_mean = teacher.float().mean(dim=(0, 1))  # for the centre update after the step
        return loss, {"loss": loss.detach()}

    @torch.no_grad()
    def after_step(self, progress: float) -> None:
        cfg = self.cfg
        batch_centre = distributed.mean(self._teacher_mean)  # over the global batch: every rank's shard
        self.center.mul_(cfg.center_momentum).add_(batch_centre, alpha=1 - cfg.center_momentum)
        m = cfg.momentum if cfg.momentum_schedule == "constant" else \
            1 - (1 - cfg.momentum) * (math.cos(math.pi * progress) + 1) / 2
        # the teacher is {"encoder", "head"}: its tensors come in the order of the student's
        for t, s in zip(self.teacher.parameters(), chain(self.encoder.parameters(), self.head.parameters())):
            t.mul_(m).add_(s.detach(), alpha=1 - m)
        if cfg.teacher_bn == "copy":
            for t, s in zip(self.teacher.buffers(), chain(self.encoder.buffers(), self.head.buffers())):
                t.copy_(s)

    def variants(self) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
        """The other network's encoder is probed too: the teacher's (or the student's)."""
        if self.cfg.layer:
            return {}
        other = "student" if self.cfg.features_from == "teacher" else "teacher"
        return {other: self.encoder if other == "student" else self.teacher["encoder"]}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if self.cfg.features_from == "teacher" and not self.cfg.layer:
            return self.teacher["encoder"](x)
        return frozen_features(self, x)
