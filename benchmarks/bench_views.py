"""Time every view recipe on a batch typical of its data, and the fast hue against kornia's.

    .venv/bin/python benchmarks/bench_views.py [--threads 2] [--repeats 5] [--device cpu]

Prints ms per batch (median of the repeats, after one warm-up call) and images per second, then
the time of kornia.enhance.adjust_hue and of sslab's grey-axis hue rotation on 1,000 96x96 RGB
images. Run nothing else meanwhile: on a shared 2-core machine the numbers move by tens of percent.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

import kornia
import torch

from sslab import views
from sslab.views import ops

# recipe, batch shape (B, C, H, W): the data each recipe is for
CASES = [
    ("dsprites", (256, 1, 64, 64)),  # dSprites
    ("digits", (256, 1, 28, 28)),  # MNIST
    ("lab", (256, 3, 28, 28)),  # MedMNIST (PathMNIST)
    ("simclr", (256, 3, 32, 32)),  # CIFAR-10
    ("simclr", (256, 3, 96, 96)),  # STL-10
    ("multicrop", (256, 3, 28, 28)),  # MedMNIST, 2 global + 4 local crops
]


def median_seconds(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    fn()  # warm-up: allocations, kernel selection
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    g = torch.Generator(device=device).manual_seed(0)
    print(f"torch {torch.__version__}, kornia {kornia.__version__}, {args.threads} threads, {device}")
    print(f"{'recipe':<10} {'batch':<16} {'ms/batch':>9} {'images/s':>9}")
    for name, shape in CASES:
        x = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0)).to(device)
        recipe = views.build(name)
        s = median_seconds(lambda: recipe(x, g), args.repeats, device)
        print(f"{name:<10} {'x'.join(map(str, shape)):<16} {1e3 * s:>9.1f} {shape[0] / s:>9.0f}")

    x = torch.rand(1000, 3, 96, 96, generator=torch.Generator().manual_seed(0)).to(device)
    turns = (torch.rand(1000, generator=torch.Generator().manual_seed(1)) * 0.2 - 0.1).to(device)
    slow = median_seconds(lambda: kornia.enhance.adjust_hue(x, turns * 2 * math.pi), args.repeats, device)
    fast = median_seconds(lambda: ops.hue(x.clone(), turns), args.repeats, device)  # clone: as in a pipeline
    print(f"hue on 1000x3x96x96: kornia adjust_hue {1e3 * slow:.0f} ms, grey-axis rotation {1e3 * fast:.0f} ms "
          f"({slow / fast:.0f}x)")


if __name__ == "__main__":
    main()
