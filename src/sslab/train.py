"""The one training loop every method shares, and the feature extraction that follows it."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext

import torch

from sslab.views.ops import to_float
from sslab.errors import SslabError
from sslab.methods import Method


PREPARE_IMAGES = 20_000  # at most this many training images are handed to Method.prepare


def lr_schedule(cfg, steps_per_epoch: int) -> torch.Tensor:
    """Per-step learning rates: linear warm-up to cfg.lr, then cosine decay to 0 (SimCLR, DINO)."""
    total = cfg.epochs * steps_per_epoch
    warmup = min(total, max(1, round(cfg.warmup_epochs * steps_per_epoch)))
    step = torch.arange(total, dtype=torch.float64)
    cosine = 0.5 * (1 + torch.cos(math.pi * (step - warmup).clamp_min(0) / max(1, total - warmup)))
    return cfg.lr * torch.where(step < warmup, (step + 1) / warmup, cosine)


def autocast(device: torch.device, precision: str):
    """bf16 autocast (about 2x faster than fp32 on this project's AVX512-BF16 CPU), or plain fp32."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def fit(
    method: Method,
    x: torch.Tensor,
    y: torch.Tensor,
    generator: torch.Generator,
    precision: str = "bf16",
    progress: Callable[[int, int, dict[str, float]], None] | None = None,
    idx: torch.Tensor | None = None,
) -> list[dict[str, float]]:
    """Train `method` on uint8 images x (N, C, H, W) with labels y (N,), both on the method's device.

    idx: train on the images at these indices only (default: all), without copying them out of x.
    One step: lr from the schedule -> method.loss(batch) -> backward -> clip -> AdamW step -> after_step.
    Returns one record per epoch: the mean of each logged value, plus `seconds`.
    `progress(epoch, epochs, record)` is called after each epoch.
    """
    cfg = method.cfg
    device = x.device
    idx = torch.arange(len(x), device=device) if idx is None else idx.to(device)
    if len(idx) > PREPARE_IMAGES:  # prepare() sees a fixed sample, not a copy of a huge training set
        pick = torch.randperm(len(idx), generator=torch.Generator().manual_seed(0))[:PREPARE_IMAGES]
        method.prepare(x[idx[pick.sort().values.to(device)]], generator)
    else:
        method.prepare(x[idx], generator)
    if cfg.epochs == 0 or not any(p.requires_grad for p in method.parameters()):
        return []
    n = len(idx)
    if n < 2:
        raise SslabError(f"{method.name}: {n} training image(s); BatchNorm needs at least 2 per batch")
    # Drop the last partial batch (BatchNorm wants full ones); fewer images than a batch make one step.
    n_steps = max(1, n // cfg.batch_size)
    lrs = lr_schedule(cfg, n_steps)
    params = [p for p in method.parameters() if p.requires_grad]  # not e.g. DINO's EMA teacher
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    history, step, start = [], 0, time.perf_counter()
    method.train()
    for epoch in range(cfg.epochs):
        perm = idx[torch.randperm(n, generator=generator, device=generator.device).to(device)]
        sums: dict[str, float] = {}
        for i in range(n_steps):
            batch = perm[i * cfg.batch_size : (i + 1) * cfg.batch_size]
            for group in opt.param_groups:
                group["lr"] = lrs[step].item()
            with autocast(device, precision):
                loss, logs = method.loss(x[batch], y[batch], generator)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{method.name}: loss became {loss.item()} at epoch {epoch + 1}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.clip_grad:
                torch.nn.utils.clip_grad_norm_(params, cfg.clip_grad)
            opt.step()
            step += 1
            method.after_step(step / len(lrs))
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + v
        record = {k: v / n_steps for k, v in sums.items()} | {"seconds": time.perf_counter() - start}
        history.append(record)
        if progress:
            progress(epoch + 1, cfg.epochs, record)
    method.eval()
    return history


@torch.no_grad()
def extract(method: Method, x: torch.Tensor, precision: str = "bf16", batch_size: int = 2000,
            idx: torch.Tensor | None = None, features: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Frozen features of uint8 images x (N, C, H, W), or of those at idx: (N, D) float32 on the CPU, in eval mode.
    features: what to read (default method.features; e.g. one of method.variants())."""
    method.eval()
    features = features or method.features
    n = len(x) if idx is None else len(idx)
    out = []
    for i in range(0, n, batch_size):
        batch = x[i : i + batch_size] if idx is None else x[idx[i : i + batch_size]]
        with autocast(x.device, precision):
            out.append(features(to_float(batch)).float().cpu())
    return torch.cat(out) if out else torch.zeros(0, 0)
