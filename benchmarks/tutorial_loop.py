"""Time the Neuromatch tutorial's own SimCLR loop, the yardstick `sslab bench` is compared with.

The tutorial (github.com/colleenjg/neuromatch_ssl_tutorial) draws its views per image in a
DataLoader (torchvision's RandomAffine on float tensors, no workers) and trains its EncoderCore
with its own `train_simclr` at batch 1000. This script imports that code from a checkout and
times one pass of `train_simclr` over a few batches of the real dSprites subset, after one
warm-up batch. It needs torchvision, which sslab cannot install beside its CPU torch, so it runs
in a separate virtual environment, e.g. on x86_64:

    python3 -m venv /tmp/tutvenv && /tmp/tutvenv/bin/pip install torch==2.14.1 torchvision==0.29.1 \
        numpy matplotlib scikit-learn tqdm
    git clone https://github.com/colleenjg/neuromatch_ssl_tutorial /tmp/nmtut
    /tmp/tutvenv/bin/python benchmarks/tutorial_loop.py --tutorial /tmp/nmtut \
        --data ../shared/data/dsprites_subset.npz --threads 2

Then compare with `sslab bench --data ../shared/data/dsprites_subset.npz --methods simclr
--batch-size 1000` in sslab's own environment, on the same machine and thread count.
"""

from __future__ import annotations

import argparse
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tutorial", required=True, help="a checkout of colleenjg/neuromatch_ssl_tutorial")
    parser.add_argument("--data", required=True, help="the tutorial's dsprites_subset.npz")
    parser.add_argument("--images", type=int, default=4000, help="images in the timed pass (batches of 1000)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--repeats", type=int, default=2, help="timed passes; each is printed")
    args = parser.parse_args()

    sys.path.insert(0, args.tutorial)
    import torch
    from modules import data, models  # the tutorial's own code

    torch.set_num_threads(args.threads)
    models.tqdm = lambda iterable: iterable  # its notebook progress bar needs Jupyter; the loop is untouched
    dsprites = data.dSpritesDataset(args.data)
    dataset = data.dSpritesTorchDataset(dsprites, target_latent="shape", simclr=True)
    train_sampler, _ = data.train_test_split_idx(dataset, fraction_train=0.8, randst=2021)
    indices = list(train_sampler.indices)
    torch.manual_seed(2021)
    encoder = models.EncoderCore()

    def one_pass(n: int) -> float:
        sampler = torch.utils.data.SubsetRandomSampler(indices[:n])
        start = time.perf_counter()
        models.train_simclr(encoder, dataset, sampler, num_epochs=1, batch_size=1000, use_cuda=False)
        return time.perf_counter() - start

    one_pass(1000)  # warm-up
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {len(indices)} training images")
    for _ in range(args.repeats):
        seconds = one_pass(args.images)
        print(f"tutorial train_simclr, batch 1000: {args.images} images in {seconds:.1f} s = "
              f"{args.images / seconds:.1f} images/s")


if __name__ == "__main__":
    main()
