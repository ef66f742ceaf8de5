"""`sslab prepare`: any dataset sslab reads, converted into memory-mappable .npy files."""

from __future__ import annotations

import time

import click

from sslab.cli.common import fail, main
from sslab.errors import SslabError


@main.command()
@click.argument("data", type=click.Path())
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--n-images", type=int, help="Keep this many images, stratified over classes and splits.")
@click.option("--image-size", type=int, help="Resize every image to this square side.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the --n-images subsample.")
def prepare(data, out_dir, n_images, image_size, seed) -> None:
    """Convert DATA (any format `sslab run --data` reads) into OUT_DIR: images.npy (uint8 N,C,H,W, memory-mapped),
    labels.npy, the splits as split-<name>.npy and sslab.json: plain .npy files, no pickle.

    The images are streamed into the file a chunk at a time, so DATA may be larger than memory; `sslab run --data
    OUT_DIR` then reads the file in place (training a chunk of ~256 MB at a time) instead of loading it.
    Latent factors (dSprites') are not kept.
    """
    from sslab import data as data_mod

    t0 = time.perf_counter()
    try:
        images = data_mod.prepare(data, out_dir, n_images=n_images, seed=seed, image_size=image_size)
    except SslabError as e:
        fail(str(e))
    n, c, h, w = images.x.shape
    click.echo(f"{n:,} images of {c}x{h}x{w} ({n * c * h * w / 1e9:.2f} GB), {len(images.class_names)} classes, "
               f"splits: {', '.join(f'{k} {len(v)}' for k, v in images.splits.items()) or 'none'}; "
               f"{time.perf_counter() - t0:.0f} s -> {out_dir}")
