"""Peak memory of training, extraction and probing on a prepared dataset larger than half this machine's RAM.

    .venv/bin/python benchmarks/bench_memory.py [--dir /tmp/sslab-big] [--gib 12.6] [--steps 100] [--threads 2]

Writes a prepared folder (`sslab prepare`'s layout) of 1x64x64 dSprites images (20,000 generated images,
repeated, each block shifted: speed and memory do not depend on which sprites they are) of --gib GiB, then in a
fresh process: maps it (`data.load`), extracts the untrained encoder_core's features of every image, trains the
dSprites SimCLR recipe (batch 1000) on every image for --steps steps in chunks of ~256 MB, and fits the linear
probe on 20,000 of the features. Prints the time of each phase and the process's peak memory: RssAnon (its own
memory) and VmHWM (its peak resident set, which also counts pages of the mapped file that the kernel keeps
cached and may drop at any time). Run nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch


def status(key: str) -> int:
    """A /proc/self/status field in bytes."""
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def write(folder: Path, gib: float) -> None:
    import json

    from sslab.data import dsprites

    base = dsprites.generate(20_000)
    n = int(gib * 2**30) // base.x[0].numel()
    folder.mkdir(parents=True)
    x = np.lib.format.open_memmap(folder / "images.npy", mode="w+", dtype=np.uint8, shape=(n, *base.shape))
    y = np.empty(n, np.int64)
    g = torch.Generator().manual_seed(0)
    for start in range(0, n, len(base.x)):
        k = min(len(base.x), n - start)
        shift = torch.randint(-8, 9, (2,), generator=g).tolist()
        x[start:start + k] = base.x[:k].roll(shift, dims=(2, 3)).numpy()
        y[start:start + k] = base.y[:k].numpy()
    x.flush()
    del x
    np.save(folder / "labels.npy", y, allow_pickle=False)
    (folder / "sslab.json").write_text(json.dumps({"class_names": list(base.class_names), "format": "dsprites",
                                                   "source": "dSprites renders, repeated (bench_memory.py)"}))
    print(f"wrote {n:,} images, {n * 4096 / 2**30:.1f} GiB, to {folder}", flush=True)


def measure(folder: Path, steps: int) -> None:
    from sslab import data, methods
    from sslab.probes import LinearProbe
    from sslab.train import Loop, extract, fit

    peak = {"anon": 0, "hwm": 0}

    def watch() -> None:
        while True:
            peak["anon"] = max(peak["anon"], status("RssAnon"))
            time.sleep(0.1)

    threading.Thread(target=watch, daemon=True).start()

    def report(phase: str, t0: float) -> None:
        time.sleep(0.2)
        print(f"{phase:<40}{time.perf_counter() - t0:>8.0f} s   peak RssAnon {peak['anon'] / 2**30:5.2f} GiB   "
              f"VmHWM {status('VmHWM') / 2**30:5.2f} GiB", flush=True)

    t0 = time.perf_counter()
    images = data.load(folder)
    n = len(images)
    report(f"map {n:,} images ({images.x.numel() / 2**30:.1f} GiB)", t0)
    torch.manual_seed(0)
    random = methods.build("random", images.shape, 3, {"encoder": "encoder_core"})
    t0 = time.perf_counter()
    fit(random, images.x, images.y, torch.Generator().manual_seed(0))
    h = extract(random, images.x)
    report(f"extract all {n:,} ({n / (time.perf_counter() - t0):.0f} images/s)", t0)
    t0 = time.perf_counter()
    LinearProbe().fit(h[:20_000], images.y[:20_000])
    report("linear probe on 20,000 features", t0)
    del h
    simclr = methods.build("simclr", images.shape, 3, {"views": "dsprites", "temperature": 0.1, "batch_size": 1000,
                                                       "epochs": 1})
    t0 = time.perf_counter()
    chunk = (256 << 20) // images.x[0].numel()
    fit(simclr, images.x, images.y, torch.Generator().manual_seed(0),
        loop=Loop(chunk_images=chunk, max_steps=steps, log_every=10))
    report(f"SimCLR, {steps} steps of 1000 ({steps * 1000 / (time.perf_counter() - t0):.0f} images/s)", t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default="/tmp/sslab-big")
    ap.add_argument("--gib", type=float, default=12.6)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    folder = Path(args.dir)
    if args.measure:
        measure(folder, args.steps)
        return
    if not folder.exists():
        write(folder, args.gib)
    ram = status("MemTotal") or 0
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal:"):
            ram = int(line.split()[1]) * 1024
    print(f"machine RAM {ram / 2**30:.1f} GiB; {args.threads} threads", flush=True)
    subprocess.run([sys.executable, __file__, "--measure", "--dir", args.dir, "--steps", str(args.steps),
                    "--threads", str(args.threads)], check=True)


if __name__ == "__main__":
    main()
