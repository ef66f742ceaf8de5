"""Time every view recipe on a batch typical of its data, the fast hue against kornia's, and the
share of a SimCLR training step that making the views takes with each dataset's defaults.

    .venv/bin/python benchmarks/bench_views.py [--threads 2] [--repeats 5] [--device cpu]

Prints ms per batch (median of the repeats, after one warm-up call) and images per second, then
the time of kornia.enhance.adjust_hue and of sslab's grey-axis hue rotation on 1,000 96x96 RGB
images, then for each dataset's default encoder and view recipe (as `sslab run --data` picks them)
the time of one SimCLR step (two views of a batch of 128, forward, NT-Xent, backward, AdamW step,
bf16 autocast as in training) and of its two view calls alone. Run nothing else meanwhile: on a
shared 2-core machine the numbers move by tens of percent.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

import kornia
import torch

from sslab import methods, views
from sslab.train import autocast
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
    step_shares(args.repeats, device)


# dataset (format), image shape, default encoder and view recipe: what `sslab run --data` picks
DATASETS = [
    ("dSprites", (1, 64, 64), "encoder_core", "dsprites"),
    ("MNIST", (1, 28, 28), "encoder_core", "digits"),
    ("PneumoniaMNIST", (1, 28, 28), "convnet", "lab"),
    ("RetinaMNIST", (3, 28, 28), "convnet", "lab"),
    ("CIFAR-10", (3, 32, 32), "convnet", "simclr"),
    ("STL-10", (3, 96, 96), "resnet18", "simclr"),
]


def step_shares(repeats: int, device: torch.device, batch: int = 128) -> None:
    """Views' share of a whole SimCLR training step, per dataset, with its default encoder and views."""
    print(f"\nSimCLR step at batch {batch}, bf16: views' share of the step")
    print(f"{'data':<15} {'encoder':<13} {'views':<9} {'step ms':>8} {'views ms':>9} {'share':>6}")
    for name, shape, encoder, recipe_name in DATASETS:
        torch.manual_seed(0)
        m = methods.build("simclr", shape, 10, {"encoder": encoder, "views": recipe_name}).to(device).train()
        opt = torch.optim.AdamW(m.parameters(), 1e-3)
        x = torch.randint(0, 256, (batch, *shape), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
        x, y, g = x.to(device), torch.zeros(batch, dtype=torch.int64, device=device), torch.Generator(device).manual_seed(0)

        def step() -> None:
            with autocast(device, "bf16"):
                loss, _ = m.loss(x, y, g)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        t_step = median_seconds(step, repeats, device)
        def make_views() -> None:
            with autocast(device, "bf16"):  # as inside a training step
                m.views(x, g)

        t_views = median_seconds(make_views, repeats, device)
        print(f"{name:<15} {encoder:<13} {recipe_name:<9} {1e3 * t_step:>8.1f} {1e3 * t_views:>9.1f} "
              f"{t_views / t_step:>6.0%}")


if __name__ == "__main__":
    main()
