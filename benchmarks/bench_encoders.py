"""Training throughput of each encoder in a SimCLR-like step, on random data.

    .venv/bin/python benchmarks/bench_encoders.py [--threads 2] [--seconds 4] [--precision bf16|fp32]

One step is what sslab.train.fit runs for SimCLR, minus the augmentation: two views of a batch
(random floats) through the encoder in one pass (2 x batch), NT-Xent on the features, backward,
AdamW step, under the same autocast. Prints source images per second (each is encoded twice) and
the milliseconds per step. Numbers move with whatever else runs on the machine: run nothing else.
"""

from __future__ import annotations

import argparse
import time

import torch

from sslab import nets
from sslab.losses import nt_xent
from sslab.train import autocast

# (encoder, image shape, batch): MedMNIST-like grey 28 px and CIFAR-like RGB 32 px; dSprites for reference
CASES = [
    ("encoder_core", (1, 64, 64), 256),
    *((name, shape, 256) for shape in [(1, 28, 28), (3, 32, 32)] for name in ("encoder_core", "convnet", "backbone")),
    ("resnet18", (3, 32, 32), 64),
]


def images_per_second(name: str, shape: tuple[int, int, int], batch: int, seconds: float,
                      precision: str) -> tuple[float, float]:
    """(source images per second, ms per step) of SimCLR-like training steps on `name`."""
    torch.manual_seed(0)
    net = nets.build(name, shape).train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    views = torch.rand(2 * batch, *shape)  # (2B, C, H, W): both views in one pass, as SimCLR
    device = torch.device("cpu")

    def step() -> None:
        with autocast(device, precision):
            h = net(views)  # (2B, feat_dim)
            loss = nt_xent(h[:batch], h[batch:], 0.5)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(2):  # warm-up: allocator, oneDNN kernel selection
        step()
    n, start = 0, time.perf_counter()
    while n < 3 or time.perf_counter() - start < seconds:
        step()
        n += 1
    per_step = (time.perf_counter() - start) / n
    return batch / per_step, 1000 * per_step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=4.0, help="time spent measuring each case (after 2 warm-up steps)")
    ap.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"SimCLR-like step (2 views, NT-Xent, AdamW), {args.precision}, {args.threads} threads, random data\n")
    print(f"{'encoder':<14}{'input':>10}{'batch':>7}{'feat_dim':>10}{'params':>12}{'images/s':>10}{'ms/step':>9}")
    for name, shape, batch in CASES:
        net = nets.build(name, shape)
        ips, ms = images_per_second(name, shape, batch, args.seconds, args.precision)
        print(f"{name:<14}{'x'.join(map(str, shape)):>10}{batch:>7}{net.feat_dim:>10}"
              f"{sum(p.numel() for p in net.parameters()):>12,}{ips:>10,.0f}{ms:>9.0f}", flush=True)


if __name__ == "__main__":
    main()
