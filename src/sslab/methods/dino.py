"""DINO (Caron et al. 2021): a student learns to match an EMA teacher across multi-crop views, no labels.

As the paper and its official code (main_dino.py) do it, with the MedMNIST lab's differences as options
(its study file sets them): the same encoder for student and teacher, each followed by the DINO head (Linear
feat_dim -> hidden, GELU, Linear hidden -> hidden, GELU, L2 normalisation, then a weight-normalised Linear
hidden -> out_dim without bias); 2 global and `n_local` local crops (the `multicrop` recipe; at the input size,
or `local_size` px), the student's crops encoded in one pass per resolution; the loss is sslab.losses.dino_loss
between the centred, sharpened teacher outputs on the global crops and the student outputs on every crop.
After each step the centre moves towards the batch mean of the teacher outputs (momentum `center_momentum`)
and the teacher towards the student (EMA `momentum`, constant as in the lab or a cosine schedule to 1 as in
the paper). The teacher is outside the optimiser.

Official behaviours, each with the lab's alternative:
- `norm_last_layer = True`: the last layer's weight-norm gain is fixed at 1 (False: a trained gain);
- `freeze_last_layer = 1`: that layer is frozen for the first epoch (0: never);
- `warmup_teacher_temp` -> `teacher_temp` linearly over `warmup_teacher_temp_epochs` (0: no warm-up);
- `clip_per_parameter = True`: each parameter tensor's gradient clipped to `clip_grad` (False: the total norm);
- `teacher_bn = "batch"`: the teacher in training mode, its BatchNorm on the batch's statistics (the official
  code never puts it in eval mode); "copy": in eval mode with the student's statistics copied after every step;
  "initial": in eval mode with its statistics never updated (mean 0, variance 1: the lab's quirk).

Features are the student's encoder output; `features_from = "teacher"` evaluates the teacher's.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain

import torch
import torch.nn.functional as F
from torch import nn

from sslab import distributed, nets, views
from sslab.errors import SslabError
from sslab.losses import dino_loss
from sslab.methods.base import Method, register, require
from sslab.methods._momentum import SCHEDULES, ema_, momentum_at
from sslab.methods._multicrop import by_size
from sslab.methods._net import NetConfig
from sslab.methods.base import frozen_features


TEACHER_BN = ("batch", "copy", "initial")


@dataclass(frozen=True)
class DINOConfig(NetConfig):
    epochs: int = 40
    batch_size: int = 128
    lr: float = 1e-3
    clip_grad: float = 3.0
    clip_per_parameter: bool = True  # official; False: the total norm (the lab)
    activation: str = ""  # "" the encoder's own; "gelu" for the lab's convnet (the encoder must take it)
    hidden_dim: int = 256  # the head's hidden width
    out_dim: int = 256  # the head's output width (the softmax's size)
    student_temp: float = 0.1
    teacher_temp: float = 0.04
    warmup_teacher_temp: float = 0.04  # the teacher temperature at the start of its warm-up
    warmup_teacher_temp_epochs: float = 0.0  # linear warm-up to teacher_temp over these epochs; 0: none
    norm_last_layer: bool = True  # the last layer's weight-norm gain fixed at 1 (official); False: trained
    freeze_last_layer: float = 1.0  # epochs with the last layer frozen (official 1; the lab 0)
    center_momentum: float = 0.9
    momentum: float = 0.996  # teacher EMA momentum (at the start, if momentum_schedule is "cosine")
    momentum_schedule: str = "constant"  # "constant" (the lab) or "cosine" (to 1 at the end, the paper)
    teacher_bn: str = "batch"  # "batch": batch statistics (official); "copy": the student's; "initial": the lab's
    features_from: str = "student"  # whose encoder gives the features: "student" or "teacher"
    n_local: int = 4  # local crops per image (2 global crops always)
    local_size: int = 0  # local crops' side in px; 0: the input size (the lab's; encoders with a fixed flatten need it)
    crops: str = "multicrop"  # a view recipe returning a list of crops, globals first (not the data's `views`)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self, positive=("hidden_dim", "out_dim", "student_temp", "teacher_temp", "warmup_teacher_temp"),
                non_negative=("n_local", "local_size", "freeze_last_layer", "warmup_teacher_temp_epochs"))
        for key in ("center_momentum", "momentum"):
            if not 0 <= getattr(self, key) <= 1:
                raise SslabError(f"{key} must be in [0, 1], got {getattr(self, key)}")
        for key, choices in (("momentum_schedule", SCHEDULES), ("teacher_bn", TEACHER_BN),
                             ("features_from", ("student", "teacher"))):
            if getattr(self, key) not in choices:
                raise SslabError(f"{key} must be one of {', '.join(choices)}, got {getattr(self, key)!r}")
        if self.crops not in views.REGISTRY or not hasattr(views.REGISTRY[self.crops], "n_local"):
            raise SslabError(f"crops must be a multi-crop view recipe (multicrop), got {self.crops!r}")


class DINOHead(nn.Module):
    """Linear - GELU - Linear - GELU - L2 - weight-normalised Linear (no bias), its gain fixed at 1 when norm_last."""

    def __init__(self, d: int, hidden: int, out: int, norm_last: bool = True):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU())
        self.last = nn.utils.parametrizations.weight_norm(nn.Linear(hidden, out, bias=False))
        if norm_last:  # the official code: weight_g filled with 1 and not trained
            gain = self.last.parametrizations.weight.original0
            gain.data.fill_(1.0)
            gain.requires_grad_(False)

    def forward(self, h: torch.Tensor, frozen: bool = False) -> torch.Tensor:
        w = self.last.weight
        if frozen:  # a zero gradient for the last layer (still used, as DistributedDataParallel expects)
            w = w.detach() + 0 * w
        return F.linear(F.normalize(self.mlp(h), dim=-1), w)


@register
class DINO(Method):
    family = "distillation"
    Config = DINOConfig

    def __init__(self, cfg: DINOConfig, image_shape: tuple[int, int, int], n_classes: int):
        super().__init__(cfg, image_shape, n_classes)
        options = {"activation": cfg.activation} if cfg.activation else {}
        self.encoder = nets.build(cfg.encoder, image_shape, **options)
        self.head = DINOHead(self.encoder.feat_dim, cfg.hidden_dim, cfg.out_dim, cfg.norm_last_layer)
        self.teacher = copy.deepcopy(nn.ModuleDict({"encoder": self.encoder, "head": self.head}))
        self.teacher.requires_grad_(False)
        self.register_buffer("center", torch.zeros(cfg.out_dim))
        self.recipe = views.build(cfg.crops, n_global=2, n_local=cfg.n_local, local_size=cfg.local_size or None)
        self.progress = 0.0  # the share of training done, from after_step

    def train(self, mode: bool = True) -> "DINO":
        super().train(mode)
        self.teacher.train(mode and self.cfg.teacher_bn == "batch")  # else eval: its statistics never self-update
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))  # (B, out_dim): the student's output

    def teacher_temp(self) -> float:
        cfg, epoch = self.cfg, self.progress * self.cfg.epochs
        if epoch >= cfg.warmup_teacher_temp_epochs:
            return cfg.teacher_temp
        return cfg.warmup_teacher_temp + (cfg.teacher_temp - cfg.warmup_teacher_temp) * epoch / \
            cfg.warmup_teacher_temp_epochs

    def inputs(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        return tuple(self.recipe(x, generator))  # 2 global, then n_local local crops: each (B, C, H, W)

    def objective(self, inputs, generator=None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        n, frozen = len(inputs[0]), self.progress * self.cfg.epochs < self.cfg.freeze_last_layer
        student = by_size(lambda x: self.head(self.encoder(x), frozen), inputs)  # (V, B, K), a pass per size
        with torch.no_grad():
            teacher = self.teacher["head"](self.teacher["encoder"](torch.cat(inputs[:2]))).view(2, n, -1)
        loss = dino_loss(student, teacher, self.center, self.cfg.student_temp, self.teacher_temp())
        self._teacher_mean = teacher.float().mean(dim=(0, 1))  # for the centre update after the step
        return loss, {"loss": loss.detach()}

    @torch.no_grad()
    def after_step(self, progress: float) -> None:
        cfg = self.cfg
        self.progress = progress
        batch_centre = distributed.mean(self._teacher_mean)  # over the global batch: every rank's shard
        self.center.mul_(cfg.center_momentum).add_(batch_centre, alpha=1 - cfg.center_momentum)
        # the teacher is {"encoder", "head"}: its tensors come in the order of the student's
        ema_(self.teacher.parameters(), chain(self.encoder.parameters(), self.head.parameters()),
             momentum_at(cfg.momentum, cfg.momentum_schedule, progress))
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
