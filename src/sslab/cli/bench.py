"""`sslab bench`: how fast each method trains here, and where a step's time goes."""

from __future__ import annotations

from pathlib import Path

import click

from sslab.cli.common import as_list, fail, main
from sslab.errors import SslabError


@main.command()
@click.option("--methods", "only", metavar="LIST", help="Comma-separated methods, or method/data (simclr/dsprites), "
              "to measure (default: every case, see below).")
@click.option("--device", default="auto", show_default=True, help="auto (cuda if available), cpu, cuda or cuda:N.")
@click.option("--threads", type=int, help="CPU threads torch uses (default: torch's, one per core).")
@click.option("--batch-size", type=int, help="Every trained method's batch (default: its study batch; the "
              "tutorial's 1000 on dSprites).")
@click.option("--precision", type=click.Choice(["auto", "bf16", "fp32"]), default="auto", show_default=True)
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the model side of each step.")
@click.option("--channels-last/--no-channels-last", default=True, show_default=True,
              help="NHWC memory layout for the convolutions (a study's default).")
@click.option("--steps", type=int, default=10, show_default=True, help="Timed training steps per method.")
@click.option("--probe-check/--no-probe-check", default=True, show_default=True,
              help="Also time the tutorial's probe re-encoding every batch against probes on cached features.")
@click.option("--peak-tflops", type=float, help="The device's peak TFLOP/s in the step's precision, for the MFU "
              "column (default: a table of GPUs' dense bf16 peaks; none for a CPU).")
@click.option("--out", type=click.Path(dir_okay=False), default="bench.json", show_default=True)
def bench(only, device, threads, batch_size, precision, compile_, channels_last, steps, probe_check, peak_tflops,
          out) -> None:
    """Measure training speed per method (data + augmentation against model time, beside the model-only
    ceiling), the model FLOPs per second and their share of the device's peak (MFU), feature extraction and
    probe time; print a table and write bench.json.

    Cases: supervised, vae, simclr and random on dSprites (1x64x64, encoder_core, batch 1000); pca,
    linear_ae, ae and the blog's simclr on MNIST-sized images; conv_ae, supcon and dino at 3x32x32;
    the UvA tutorial's simclr (resnet18) at 3x96x96; moco, byol, simsiam, barlow_twins, vicreg, swav and mae
    (vit_mini) on dSprites as its study trains them (batch 128); on a GPU (or named: simclr/cifar10) LightlySSL's
    CIFAR-10 benchmark, simclr, byol and moco with resnet18 at 3x32x32, batch 512. Run nothing else meanwhile.
    """
    import json

    from sslab import bench as B
    from sslab.devices import resolve_device
    from sslab.train import Loop

    try:
        dev = resolve_device(device)
        if threads:
            torch_threads(threads)
        picked = as_list(only)
        cases = [c for c in B.CASES if f"{c.method}/{c.data}" in (picked or ()) or
                 (picked is None or c.method in picked) and (not c.heavy or dev.type == "cuda")]
        if not cases:
            raise SslabError(f"no case matches {only!r}; cases: "
                             + ", ".join(f"{c.method}/{c.data}" for c in B.CASES))
        if peak_tflops is not None and peak_tflops <= 0:
            raise SslabError(f"--peak-tflops must be positive, got {peak_tflops}")
        loop = Loop(precision=precision, compile=compile_, channels_last=channels_last, log_every=10**9)
        peak = peak_tflops or B.peak_tflops(dev, precision)
        result: dict = {"environment": B.environment(dev, loop) | {"peak_tflops": peak}, "cases": []}
        for case in cases:
            click.echo(f"measuring {case.method} on {case.data} ...", err=True)
            result["cases"].append(B.measure(case, dev, loop, batch_size, steps, peak_tflops=peak))
        click.echo(B.table(result["cases"]))
        if probe_check:
            click.echo("timing the tutorial's probe protocol against cached features ...", err=True)
            p = result["probe_protocols"] = B.probe_protocols(dev, precision)
            click.echo(f"\nprobe on dSprites shape ({p['encoder']}, {p['train']} train / {p['test']} test images):")
            for key, label in (("reencoding", "tutorial probe, every batch encoded again (25 epochs)"),
                               ("cached_tutorial", "tutorial probe on features cached once"),
                               ("cached_lbfgs", "L-BFGS probe on features cached once")):
                fit = f"  (fit {p[key]['fit_seconds']:.2f} s)" if "fit_seconds" in p[key] else ""
                click.echo(f"  {label:<56}{p[key]['test_accuracy']:>8.2%}{p[key]['seconds']:>9.1f} s{fit}")
            click.echo(f"  cached features: {p['speedup']:.1f}x faster with their extraction, "
                       f"{p['speedup_fit']:.0f}x once extracted (a study extracts once for every probe and analysis)")
        Path(out).write_text(json.dumps(result, indent=2))
        click.echo(f"\n{result['environment']['device_name']}, {result['environment']['threads']} threads, "
                   f"{precision}{', compiled' if compile_ else ''}{', channels_last' if channels_last else ''}; "
                   + (f"MFU against a peak of {peak:g} TFLOP/s; " if peak else "no peak known (--peak-tflops): no MFU; ")
                   + f"wrote {out}")
    except SslabError as e:
        fail(str(e))


def torch_threads(n: int) -> None:
    import torch

    if n < 1:
        raise SslabError(f"--threads must be at least 1, got {n}")
    torch.set_num_threads(n)
