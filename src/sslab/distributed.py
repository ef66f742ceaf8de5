"""torch.distributed in one place: who this process is, and the few collectives the methods need.

A study launched with `torchrun --nproc-per-node N sslab run ...` (one node or many) starts one process
per GPU or CPU share; `init()` joins them (NCCL on GPUs, gloo on CPUs). Every rank builds the same
networks from the same seed and trains its own shard of each global batch under DistributedDataParallel;
rank 0 alone evaluates, writes and reports. Without torchrun every function here is a no-op.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import warnings
from typing import Any

import torch
import torch.distributed as dist


_SHARDED = False  # True while a distributed fit runs: the collectives below act only then


def world() -> tuple[int, int]:
    """(rank, world size) of this process: (0, 1) when not distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


@contextlib.contextmanager
def sharded():
    """Inside: every rank trains its shard of the same global batch, and `gather` and `mean` combine the
    ranks. Outside (e.g. rank 0 retraining an encoder for an analysis on its own) they are identities."""
    global _SHARDED
    before, _SHARDED = _SHARDED, world()[1] > 1
    try:
        yield
    finally:
        _SHARDED = before


def _size() -> int:
    return world()[1] if _SHARDED else 1


def is_main() -> bool:
    return world()[0] == 0


def init(device: str = "auto") -> torch.device | None:
    """Join the process group torchrun describes (RANK, WORLD_SIZE, MASTER_ADDR in the environment).

    Returns this rank's device ("auto" or "cuda": the GPU LOCAL_RANK on a GPU machine; else the CPU),
    or None when the process was not started by torchrun with more than one process."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or (dist.is_available() and dist.is_initialized()):
        return None
    local = int(os.environ.get("LOCAL_RANK", "0"))
    gpu = device in ("auto", "cuda") and torch.cuda.is_available()
    if gpu:
        torch.cuda.set_device(local)
    # ranks wait for rank 0 while it evaluates between encoders: a long timeout, not the 30-minute default
    dist.init_process_group("nccl" if gpu else "gloo", timeout=datetime.timedelta(hours=6))
    return torch.device("cuda", local) if gpu else torch.device("cpu")


def gather(t: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's (B, ...) tensor in rank order, keeping gradients (contrastive negatives from
    the whole global batch). Identity when not distributed."""
    size = _size()
    if size == 1:
        return t
    if not t.requires_grad:  # e.g. labels
        parts = [torch.empty_like(t) for _ in range(size)]
        dist.all_gather(parts, t.contiguous())
        return torch.cat(parts)
    from torch.distributed.nn.functional import all_gather

    with warnings.catch_warnings():  # deprecated for a private API in torch 2.13; still the public one
        warnings.simplefilter("ignore", FutureWarning)
        return torch.cat([_ContiguousGrad.apply(p) for p in all_gather(t.contiguous())])


class _ContiguousGrad(torch.autograd.Function):
    """The identity, whose backward makes the gradient contiguous. all_gather's backward on gloo scatters the
    gradient pieces as laid out in memory: a strided gradient (the gathered tensor used transposed, as SwAV's
    scores are) reached the other ranks scrambled, and its gradients were wrong with no error."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g: torch.Tensor) -> torch.Tensor:
        return g.contiguous()


@torch.no_grad()
def mean(t: torch.Tensor) -> torch.Tensor:
    """The mean of t over the ranks (e.g. DINO's batch centre); t itself when not distributed."""
    if _size() == 1:
        return t
    t = t.clone()
    dist.all_reduce(t)
    return t / _size()


def barrier() -> None:
    if world()[1] > 1:
        dist.barrier()


def broadcast(obj: Any) -> Any:
    """Rank 0's JSON-able `obj` on every rank (sent as JSON text, never pickled)."""
    if world()[1] == 1:
        return obj
    data = torch.tensor(list(json.dumps(obj).encode()) if is_main() else [], dtype=torch.uint8)
    size = torch.tensor([len(data)], dtype=torch.int64)
    dist.broadcast(size, 0)
    if not is_main():
        data = torch.empty(int(size), dtype=torch.uint8)
    dist.broadcast(data, 0)
    return json.loads(bytes(data.tolist()).decode())
