"""Time reading an image folder: the 60,000 CIFAR-10 JPEGs of ../shared/data/cifar10-jpeg.tar.gz.

    .venv/bin/python benchmarks/bench_folder.py [--data ARCHIVE] [--workers N] [--compare] [--disk]

Extracts the archive into a temporary folder, timed on its own (in /dev/shm where there is one:
creating 60,000 files on this machine's shared disk took anything from 2 s to a minute; --disk to
use it anyway), then times loading the folder, split into the two passes of `sslab.data.load`: the
headers (sizes and modes, before the memory check) and the decoding. --workers sets the decoding
processes (default: one per core); --compare also times one process and a pool of threads, the
alternative the loader rejected (the processes come from a fork server, as in the loader). Run nothing else meanwhile: on 2 cores another job halves the figure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sslab.data
from sslab.data import folder


def extract(archive: Path, into: Path) -> None:
    if shutil.which("tar"):  # GNU tar takes 2 s here, Python's tarfile 10 s
        subprocess.run(["tar", "xzf", str(archive), "-C", str(into)], check=True)
    else:
        with tarfile.open(archive) as tar:
            tar.extractall(into, filter="data")


def time_load(root: Path, label: str) -> None:
    t0 = time.perf_counter()
    source = folder.source(root, None)
    t1 = time.perf_counter()
    data = sslab.data.materialise(source, str(root), "folder")
    t2 = time.perf_counter()
    n = len(data)
    print(f"{label:<28} {n:,} images {tuple(data.shape)}: headers {t1 - t0:.2f} s + decoding {t2 - t1:.2f} s "
          f"= {t2 - t0:.2f} s, {n / (t2 - t0):,.0f} images/s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg.tar.gz"
    ap.add_argument("--data", type=Path, default=default)
    ap.add_argument("--workers", type=int, default=folder._workers())
    ap.add_argument("--compare", action="store_true", help="also time 1 process and a pool of threads")
    ap.add_argument("--disk", action="store_true", help="extract to the temporary folder on disk, not /dev/shm")
    args = ap.parse_args()
    print(f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.2f}")
    ram = Path("/dev/shm")  # extracting 60,000 files to the shared disk took 2 s to over a minute here
    in_ram = ram.is_dir() and os.access(ram, os.W_OK) and shutil.disk_usage(ram).free > 2e9
    with tempfile.TemporaryDirectory(dir=ram if in_ram and not args.disk else None) as tmp:
        t0 = time.perf_counter()
        extract(args.data, Path(tmp))
        print(f"extracting {args.data.name} into {tmp}: {time.perf_counter() - t0:.2f} s")
        folder.WORKERS = args.workers
        time_load(Path(tmp), f"{args.workers} processes")
        if args.compare:
            folder.WORKERS = 1
            time_load(Path(tmp), "1 process")
            folder.WORKERS = args.workers
            pool = ThreadPoolExecutor(args.workers)
            folder._map = lambda fn, tasks, n_images: pool.map(fn, tasks)  # Pillow releases the GIL while decoding
            time_load(Path(tmp), f"{args.workers} threads")
            pool.shutdown()


if __name__ == "__main__":
    main()
