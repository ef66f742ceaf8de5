"""Where and in what precision the networks run: a device name checked once, and "auto" precision.

bf16 autocast pays only where the hardware computes in bf16: on GPUs, and on CPUs with AVX512-BF16 or AMX
(oneDNN's bf16 kernels). Elsewhere torch emulates it: on this project's 2-core AMD EPYC (AVX2 only) a 2048^2
matrix product ran at 0.3 GFLOP/s in bf16 against 115 in fp32, and a SimCLR step on dSprites 2.6x slower
(`sslab bench --precision bf16`). "auto" is bf16 where it is native and fp32 elsewhere.
"""

from __future__ import annotations

import torch

from sslab.errors import SslabError

PRECISIONS = ("auto", "bf16", "fp32")


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when present, else cpu; anything else must exist here (one clear error otherwise)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise SslabError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise SslabError(f"device {name!r} is not available: this torch ({torch.__version__}) sees no GPU; "
                             f"use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise SslabError(f"device {name!r} does not exist: {torch.cuda.device_count()} GPU(s) here")
    elif dev.type != "cpu":
        try:
            torch.empty(1, device=dev)
        except Exception:  # noqa: BLE001 -- any backend failure means the same thing to the user
            raise SslabError(f"device {name!r} is not available here; use --device cpu") from None
    return dev


def native_bf16(device: torch.device | str) -> bool:
    """True where bf16 arithmetic is native: a GPU that supports it, or a CPU with oneDNN's bf16 kernels."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """"auto" -> "bf16" where the device computes in bf16 natively, else "fp32"; "bf16" and "fp32" as given."""
    if precision not in PRECISIONS:
        raise SslabError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision
