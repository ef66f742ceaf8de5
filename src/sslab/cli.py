"""`sslab` command line: a thin shell over sslab.study and sslab.report."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from sslab.errors import SslabError


def _fail(message: str) -> None:
    click.echo(f"sslab: error: {message}", err=True)
    sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sslab")
def main() -> None:
    """Train several image encoders on the same data, freeze them, and compare what they learned."""


@main.command()
@click.option("--data", type=click.Path(dir_okay=False), help="A dSprites .npz (DeepMind layout). "
              "Default: a 20,000-image subset generated from the dSprites grid, no download.")
@click.option("--quick", is_flag=True, help="Smoke-test profile: 5,000 images, 3 epochs per trained encoder, every analysis (about 2 minutes).")
@click.option("--methods", "encoders", help="Comma-separated encoders to compare "
              "(default: raw,random,supervised,vae,simclr,simclr-2neg; see `sslab methods`).")
@click.option("--analyses", default="all", show_default=True, metavar="LIST",
              help="Comma-separated analyses to run beside the linear and kNN probes: similarity (RSM grid, "
                   "similarity histograms, CKA), factors (per-factor read-out and invariance), labels "
                   "(label-fraction and images-per-class curves; retrains supervised), bias (retrains every "
                   "encoder on a biased set and its control), umap (needs umap-learn); 'all' or 'none'.")
@click.option("--umap-colour", help="Latent that colours the UMAP points (default: the target).")
@click.option("--seed", type=int, default=2021, show_default=True, help="Seeds the split, weights and augmentations.")
@click.option("--out", type=click.Path(file_okay=False), default="runs", show_default=True,
              help="Directory that receives the run folder.")
@click.option("--name", help="Run folder name (default: dsprites-<date>-<time>).")
@click.option("--epochs", type=int, help="Train every trained encoder for this many epochs (default: each method's recipe).")
@click.option("--train-fraction", type=float, default=0.8, show_default=True, help="Fraction of images used for training.")
@click.option("--label-fraction", type=float, default=1.0, show_default=True,
              help="Stratified fraction of the training labels the linear probes see.")
@click.option("--target", default="shape", show_default=True, help="Latent the probes read out.")
@click.option("--set", "overrides", multiple=True, metavar="METHOD.KEY=VALUE",
              help="Override a method setting, e.g. --set simclr.temperature=0.2 (repeatable).")
@click.option("--precision", type=click.Choice(["bf16", "fp32"]), default="bf16", show_default=True,
              help="bf16 autocast measured ~2x faster than fp32 on a CPU with AVX512-BF16.")
@click.option("--device", default="auto", show_default=True, help="auto (cuda if available), cpu or cuda[:N].")
def run(data, quick, encoders, analyses, umap_colour, seed, out, name, epochs, train_fraction, label_fraction, target, overrides,
        precision, device) -> None:
    """Run the dSprites representation study and write runs/<name>/ (results.json, figures, report.html).

    Trains or builds each encoder on the training split, freezes it, fits a linear and a kNN probe on
    its cached features, runs the chosen analyses, and prints each probe's accuracy beside chance.
    The default (all encoders, all analyses) takes about 20 minutes on a 2-core CPU; --quick about 2.
    """
    from sslab.report import encoder_names
    from sslab.study import ANALYSES, DEFAULT_ENCODERS, StudyConfig, run as run_study

    try:
        chosen = tuple(e.strip() for e in encoders.split(",") if e.strip()) if encoders is not None else DEFAULT_ENCODERS
        picked = {"all": ANALYSES, "none": ()}.get(analyses.strip(),
                                                     tuple(a.strip() for a in analyses.split(",") if a.strip()))
        cfg = StudyConfig(data=data, encoders=chosen, analyses=picked, umap_colour=umap_colour,
                          target=target, train_fraction=train_fraction,
                          label_fraction=label_fraction, seed=seed, quick=quick, epochs=epochs,
                          overrides=tuple(overrides), precision=precision, device=device)
        run_dir = Path(out) / (name or time.strftime("dsprites-%Y%m%d-%H%M%S"))
        results = run_study(cfg, run_dir, log=lambda m: click.echo(m, err=True))
    except SslabError as e:
        _fail(str(e))
    except KeyboardInterrupt:
        _fail("interrupted; nothing was written")
    click.echo(f"\n{'encoder':<16}{'train':>9}{'test':>9}{'kNN test':>10}")
    click.echo(f"{'chance':<16}{'':>9}{results['chance']:>9.2%}{results['chance']:>10.2%}")
    for enc in encoder_names(results):
        r = results["encoders"][enc]
        click.echo(f"{enc:<16}{r['train_accuracy']:>9.2%}{r['test_accuracy']:>9.2%}{r['knn_accuracy']:>10.2%}")
    click.echo(f"\n{results['seconds']:.0f} s; report: {run_dir / 'report.html'}")


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
def report(run_dir: str) -> None:
    """Re-render RUN_DIR/report.html from its results.json and figures (no retraining)."""
    from sslab import report as report_mod

    if not (Path(run_dir) / "results.json").is_file():
        _fail(f"no results.json in {run_dir}")
    click.echo(report_mod.write(run_dir))


@main.command(name="methods")
def list_methods() -> None:
    """List the registered methods and their default settings."""
    import dataclasses

    from sslab.methods import REGISTRY
    from sslab.study import RECIPE

    for name, cls in sorted(REGISTRY.items()):
        doc = (sys.modules[cls.__module__].__doc__ or "").strip().splitlines()[0]
        click.echo(f"{name:<12}{doc}")
        if cls.Config.epochs:
            settings = ", ".join(f"{f.name}={getattr(cls.Config(), f.name)}" for f in dataclasses.fields(cls.Config))
            click.echo(f"{'':<12}defaults: {settings}")
        if name in RECIPE:
            click.echo(f"{'':<12}the dSprites study sets: {', '.join(f'{k}={v}' for k, v in RECIPE[name].items())}")
