"""The one training loop every method shares, and the feature extraction that follows it."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from sslab import checkpoint, distributed, store
from sslab.devices import resolve_precision
from sslab.errors import SslabError
from sslab.methods import Method
from sslab.monitor import Monitor
from sslab.views.ops import to_float


PREPARE_IMAGES = 20_000  # at most this many training images are handed to Method.prepare


def lr_schedule(cfg, steps_per_epoch: int) -> torch.Tensor:
    """Per-step learning rates: linear warm-up to cfg.lr, then cosine decay to 0 (SimCLR, DINO)."""
    total = cfg.epochs * steps_per_epoch
    warmup = min(total, max(1, round(cfg.warmup_epochs * steps_per_epoch)))
    step = torch.arange(total, dtype=torch.float64)
    cosine = 0.5 * (1 + torch.cos(math.pi * (step - warmup).clamp_min(0) / max(1, total - warmup)))
    return cfg.lr * torch.where(step < warmup, (step + 1) / warmup, cosine)


def autocast(device: torch.device, precision: str):
    """bf16 autocast, or plain fp32; "auto": bf16 where the device computes in it natively (sslab.devices)."""
    if resolve_precision(precision, device) == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


@dataclass(frozen=True)
class Loop:
    """How `fit` runs, apart from what it trains: precision, checkpoints, live metrics, distribution, speed."""

    precision: str = "auto"  # "bf16" autocast, "fp32", or "auto": bf16 where native (sslab.devices)
    checkpoint: Path | None = None  # a training checkpoint file (sslab.checkpoint); resumed from when it exists
    checkpoint_every: int = 1  # epochs between checkpoints (and one at the end)
    metrics: Path | None = None  # per-step JSON lines (loss, lr, images/s, ...), appended
    tensorboard: Path | None = None  # a folder for TensorBoard event files
    log_every: int = 25  # steps between reads of the logs kept on the device (and non-finite loss checks)
    distributed: bool = False  # under torchrun: DistributedDataParallel over every rank (no effect otherwise)
    sync_bn: bool = False  # under torchrun on GPUs: BatchNorm statistics over the global batch
    channels_last: bool = False  # NHWC memory layout for the networks' convolutions
    compile: bool = False  # torch.compile the model side of the step (forward, loss)
    chunk_images: int = 0  # > 0: each epoch visits the images in shuffled chunks of this many neighbours, each
    #                        chunk shuffled within: a memory-mapped dataset is then read a chunk at a time
    max_steps: int = 0  # > 0: stop after this many steps (benchmarks, smoke tests)
    keep_every: int = 0  # > 0: keep the method's weights every this many epochs, in `snapshots`
    snapshots: Path | None = None  # a folder: epoch-NNNN.safetensors (+ .json) per kept epoch


class Step(nn.Module):
    """The model side of a training step as a module: forward(inputs) = method.objective(inputs). This is what
    DistributedDataParallel wraps, so its reducer sees every gradient the loss produces."""

    def __init__(self, method: Method):
        super().__init__()
        self.method = method

    def forward(self, inputs: tuple[torch.Tensor, ...], generator: torch.Generator | None = None):
        return self.method.objective(inputs, generator)


def fit(
    method: Method,
    x: torch.Tensor,
    y: torch.Tensor,
    generator: torch.Generator,
    precision: str = "auto",
    progress: Callable[[int, int, dict[str, float]], None] | None = None,
    idx: torch.Tensor | None = None,
    loop: Loop | None = None,
    steps: Callable[[int, int], None] | None = None,
    evaluate: Callable[[Method, int], dict[str, float]] | None = None,
) -> list[dict[str, float]]:
    """Train `method` on uint8 images x (N, C, H, W) with labels y (N,), on the method's device or, for a
    memory-mapped x, on the CPU (each batch then goes over through pinned memory).

    idx: train on the images at these indices only (default: all), without copying them out of x.
    One step: lr from the schedule -> method.inputs(batch) -> method.objective -> backward -> clip -> optimiser
    step (AdamW or SGD: cfg.optimizer) -> after_step. `loop` sets checkpoints, metrics, distribution and speed options (its precision wins
    over `precision`). With loop.distributed under torchrun, each rank trains its shard of every global
    batch of cfg.batch_size (a study sets it for its own encoders; fine-tuning and retraining run on one rank).
    Returns one record per epoch: the mean of each logged value, plus `seconds`.
    `progress(epoch, epochs, record)` is called after each epoch, `steps(done, total)` with the steps done
    of all epochs' after each window of loop.log_every steps (a live progress display).
    `evaluate(method, epoch)` (online evaluation, sslab.online; rank 0 only) runs before the first epoch
    (epoch 0: its scores go into the first record as untrained_<key>) and after each one; what it returns joins
    that epoch's record (and the metrics file) before the checkpoint and `progress` see it.
    """
    loop = loop or Loop(precision=precision)
    cfg = method.cfg
    device = next(method.parameters(), x).device  # x may stay on the CPU (pinned batches go over)
    idx = torch.arange(len(x)) if idx is None else idx.cpu()
    if len(idx) > PREPARE_IMAGES:  # prepare() sees a fixed sample, not a copy of a huge training set
        pick = torch.randperm(len(idx), generator=torch.Generator().manual_seed(0))[:PREPARE_IMAGES]
        method.prepare(x[idx[pick.sort().values].to(x.device)].to(device), generator)
    else:
        method.prepare(x[idx.to(x.device)].to(device), generator)
    if cfg.epochs == 0 or not any(p.requires_grad for p in method.parameters()):
        return []
    n = len(idx)
    if n < 2:
        raise SslabError(f"{method.name}: {n} training image(s); BatchNorm needs at least 2 per batch")
    rank, ranks = distributed.world() if loop.distributed else (0, 1)
    if cfg.batch_size % ranks:
        raise SslabError(f"{method.name}: batch_size {cfg.batch_size} does not split over {ranks} processes")
    # Drop the last partial batch (BatchNorm wants full ones); fewer images than a batch make one step (epoch_images).
    n_steps = max(1, n // cfg.batch_size)
    local = min(n, cfg.batch_size) // ranks  # this rank's share of every global batch
    lrs = lr_schedule(cfg, n_steps)
    params = [p for p in method.parameters() if p.requires_grad]  # not e.g. DINO's EMA teacher
    opt = optimizer(cfg, params)
    # The permutation is drawn from `generator` on every rank alike; each rank augments from its own stream.
    views_gen = generator if ranks == 1 else \
        torch.Generator(generator.device).manual_seed(generator.initial_seed() + 1_000_003 * (rank + 1))
    generators = {"loop": generator} | ({"views": views_gen} if ranks > 1 else {})
    history: list[dict[str, float]] = []
    step = first_epoch = 0
    if loop.checkpoint is not None and loop.checkpoint.exists():
        meta = checkpoint.load(loop.checkpoint, method, opt, generators)
        if meta["config"] != _jsonable(cfg):
            raise SslabError(f"{loop.checkpoint} was written for other settings of {method.name}; "
                             f"remove it to train afresh")
        step, first_epoch, history = meta["step"], meta["epoch"], meta["history"]
    model = prepare_model(method, loop, ranks)
    monitor = Monitor(loop.metrics if rank == 0 else None, loop.tensorboard if rank == 0 else None, method.name)
    method.train()
    seconds = history[-1]["seconds"] if history else 0.0
    evaluate = evaluate if rank == 0 else None
    untrained = {f"untrained_{k}": v for k, v in evaluate(method, 0).items()} if evaluate and not first_epoch else {}
    try:
        with distributed.sharded() if ranks > 1 else nullcontext():
            for epoch in range(first_epoch, cfg.epochs):
                start = time.perf_counter()
                perm = epoch_order(idx, loop.chunk_images, generator)
                sums: dict[str, torch.Tensor] = {}
                pending: list[tuple[int, float, dict[str, torch.Tensor]]] = []
                window = time.perf_counter()
                for i in range(n_steps):
                    batch = perm[i * cfg.batch_size:][rank * local:(rank + 1) * local]
                    for group in opt.param_groups:
                        group["lr"] = lr = float(lrs[step])
                    step += 1
                    inputs = data_step(method, x, y, batch, views_gen, device, loop)
                    logs = model_step(model, method, opt, inputs, generator, loop.precision, step / len(lrs))
                    for k, v in logs.items():
                        sums[k] = sums[k] + v if k in sums else v.detach().float().clone()
                    pending.append((step, lr, logs))
                    stop = bool(loop.max_steps) and step >= loop.max_steps
                    if len(pending) == loop.log_every or i == n_steps - 1 or stop:  # one read of the device per window
                        now = time.perf_counter()
                        _flush(pending, epoch, len(pending) * cfg.batch_size / (now - window), monitor,
                               method.name, loop.checkpoint)
                        pending, window = [], now
                        if steps:
                            steps(step, len(lrs))
                    if stop:
                        break
                seconds += time.perf_counter() - start
                record = {k: float(v) / (i + 1) for k, v in sums.items()} | {"seconds": seconds}
                if evaluate is not None:
                    scores = evaluate(method, epoch + 1)
                    record |= (untrained if epoch == 0 else {}) | scores
                    if scores:
                        monitor.write([{"step": step, "epoch": epoch + 1, **scores}])
                history.append(record)
                last = epoch + 1 == cfg.epochs
                due = last or (epoch + 1) % loop.checkpoint_every == 0
                if loop.checkpoint is not None and rank == 0 and due and not stop:  # a cut-short epoch is no resume point
                    checkpoint.save(loop.checkpoint, method, opt, generators,
                                    {"epoch": epoch + 1, "step": step, "history": history,
                                     "method": method.name, "config": _jsonable(cfg)})
                if loop.snapshots is not None and loop.keep_every and (epoch + 1) % loop.keep_every == 0 and rank == 0:
                    store.save(loop.snapshots, f"epoch-{epoch + 1:04d}", method,
                               {"method": method.name, "epoch": epoch + 1, "record": record})
                if progress:
                    progress(epoch + 1, cfg.epochs, record)
                if stop:
                    break
    finally:
        monitor.close()
        _restore_batchnorm(method)
    method.eval()
    return history


def optimizer(cfg, params: list[torch.Tensor]) -> torch.optim.Optimizer:
    """The method's optimiser (cfg.optimizer): AdamW, or SGD with momentum 0.9; fused kernels on a GPU."""
    fused = {"fused": True} if params and params[0].device.type == "cuda" else {}
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay, **fused)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **fused)


def epoch_order(idx: torch.Tensor, chunk: int, generator: torch.Generator) -> torch.Tensor:
    """The order an epoch visits the images at idx: a permutation, or with chunk > 0 the sorted idx cut into
    chunks of `chunk` neighbours, the chunks in a random order and each shuffled within (a memory-mapped file
    is then read one stretch of a few hundred MB at a time, which the page cache holds, not across the whole
    file at random)."""
    n = len(idx)
    draw = lambda k: torch.randperm(k, generator=generator, device=generator.device).cpu()  # noqa: E731
    if not chunk or n <= chunk:
        return idx[draw(n)]
    pieces = idx.sort().values.split(chunk)
    return torch.cat([pieces[c][draw(len(pieces[c]))] for c in draw(len(pieces)).tolist()])


def epoch_images(n: int, batch_size: int) -> int:
    """The images one epoch of n trains on: the last partial batch is dropped (BatchNorm wants full ones), and
    fewer images than a batch make one step of them all."""
    return max(1, n // batch_size) * min(n, batch_size)


def data_step(method: Method, x: torch.Tensor, y: torch.Tensor, batch: torch.Tensor, generator: torch.Generator,
              device: torch.device, loop: Loop) -> tuple[torch.Tensor, ...]:
    """The data side of a step: the images at `batch` (uint8, wherever x lives) onto the device (pinned,
    non-blocking from the CPU to a GPU), then `method.inputs` (views, noise) laid out as `loop` asks."""
    xb, yb = _to(x[batch.to(x.device)], device), _to(y[batch.to(y.device)], device)
    with autocast(device, loop.precision):
        inputs = method.inputs(xb, yb, generator)
    if loop.channels_last:
        inputs = tuple(t.contiguous(memory_format=torch.channels_last) if t.ndim == 4 else t for t in inputs)
    return inputs


def _to(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """t on the device: from the CPU to a GPU through pinned memory, without waiting (e.g. batches of a
    memory-mapped dataset)."""
    if t.device.type == "cpu" and device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def clip(params: list[torch.Tensor], max_norm: float, per_parameter: bool = False) -> None:
    """Scale gradients down to `max_norm`: their total norm (torch's clip_grad_norm_), or each parameter
    tensor's own norm (DINO's official clip_gradients: coefficient max_norm / (norm + 1e-6), if below 1)."""
    if not per_parameter:
        torch.nn.utils.clip_grad_norm_(params, max_norm)
        return
    grads = [p.grad for p in params if p.grad is not None]
    if grads:
        coefs = [torch.clamp(max_norm / (n + 1e-6), max=1.0) for n in torch._foreach_norm(grads)]
        torch._foreach_mul_(grads, coefs)


def model_step(model: nn.Module, method: Method, opt: torch.optim.Optimizer, inputs: tuple[torch.Tensor, ...],
               generator: torch.Generator | None, precision: str, done: float) -> dict[str, torch.Tensor]:
    """The model side of a step: forward and loss (model = prepare_model(method, ...)), backward, clipping,
    the optimiser's step and method.after_step(done). Returns the step's logs, left on the device."""
    with autocast(next(method.parameters()).device, precision):
        loss, logs = model(inputs, generator)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if method.cfg.clip_grad:
        clip([p for g in opt.param_groups for p in g["params"]], method.cfg.clip_grad, method.cfg.clip_per_parameter)
    opt.step()
    method.after_step(done)
    return {**logs, "loss": loss.detach()}  # the loss that was backpropagated


def _flush(pending, epoch: int, images_per_s: float, monitor: Monitor, name: str, ckpt: Path | None) -> None:
    """Read a window of per-step logs off the device at once; write them; stop at a non-finite loss."""
    keys = list(pending[0][2])
    values = torch.stack([torch.stack([logs[k].float() for k in keys]) for _, _, logs in pending]).tolist()
    records = [{"step": s, "epoch": epoch + 1, "lr": lr, **dict(zip(keys, v)), "images_per_s": round(images_per_s, 1)}
               for (s, lr, _), v in zip(pending, values)]
    for r in records:
        if not math.isfinite(r["loss"]):
            kept = f"; the last good checkpoint is kept: {ckpt}" if ckpt is not None and ckpt.exists() else ""
            raise FloatingPointError(f"{name}: loss became {r['loss']} at epoch {epoch + 1}, step {r['step']}{kept}")
    monitor.write(records)


def prepare_model(method: Method, loop: Loop, ranks: int) -> nn.Module:
    """The module the loop calls: Step(method), laid out channels_last, synchronised, wrapped and compiled
    as `loop` asks."""
    if loop.channels_last:
        method.to(memory_format=torch.channels_last)
    if loop.sync_bn and ranks > 1:
        if next(method.parameters()).device.type != "cuda":
            raise SslabError("sync_bn needs GPUs: torch's SyncBatchNorm does not run on the CPU")
        for module in list(method.modules()):
            for child_name, child in list(module.named_children()):
                if isinstance(child, nn.BatchNorm2d | nn.BatchNorm1d):
                    sync = nn.SyncBatchNorm.convert_sync_batchnorm(child)
                    sync._sslab_original = type(child)
                    setattr(module, child_name, sync)
    model: nn.Module = Step(method)
    if ranks > 1:
        from torch.nn.parallel import DistributedDataParallel

        dev = next(method.parameters()).device
        model = DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    if loop.compile:
        model = torch.compile(model, dynamic=False)  # one batch shape: no symbolic shapes to trace
    return model


def _restore_batchnorm(method: Method) -> None:
    """SyncBatchNorm back to the BatchNorm it replaced, so that nothing after training waits for other ranks."""
    for module in list(method.modules()):
        for child_name, child in list(module.named_children()):
            original = getattr(child, "_sslab_original", None)
            if original is not None:
                bn = original(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats)
                bn.load_state_dict(child.state_dict())
                setattr(module, child_name, bn.to(next(child.buffers()).device))


def _jsonable(cfg) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=str))


@torch.no_grad()
def extract(method: Method, x: torch.Tensor, precision: str = "auto", batch_size: int = 512,
            idx: torch.Tensor | None = None, features: Callable[[torch.Tensor], torch.Tensor] | None = None,
            channels_last: bool = True) -> torch.Tensor:
    """Frozen features of uint8 images x (N, C, H, W), or of those at idx: (N, D) float32 on the CPU, in eval mode.
    features: what to read (default method.features; e.g. one of method.variants()).

    The networks run channels_last on batches of 512: on this project's CPU, 2.6x faster than contiguous
    batches of 2,000 for the tutorial's encoder on dSprites (1.0 s against 2.7 s for 20,000 images).
    channels_last=False leaves the network's layout as it is (mid-training, in a loop that trains it contiguous)."""
    method.eval()
    if channels_last:
        method.to(memory_format=torch.channels_last)  # 4-d weights only; a no-op for the others
    features = features or method.features
    device = next(method.parameters(), x).device
    n = len(x) if idx is None else len(idx)
    out = []
    for i in range(0, n, batch_size):
        batch = x[i : i + batch_size] if idx is None else x[idx[i : i + batch_size].to(x.device)]
        with autocast(device, precision):
            h = to_float(_to(batch, device))
            h = h.contiguous(memory_format=torch.channels_last) if channels_last else h
            out.append(features(h).float().cpu())
    return torch.cat(out) if out else torch.zeros(0, 0)
