"""`sslab` command line: a thin shell over sslab.study, sslab.report and the registries."""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import click

from sslab import i18n
from sslab.errors import SslabError
from sslab.i18n import _


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"sslab: {_('error')}: {i18n.text(message)}", err=True)
    sys.exit(code)


def _language(command):
    """The --lang option: messages and reports in that language (default: the environment's, else English)."""
    def choose(ctx, param, value):
        try:
            i18n.use(value)
        except SslabError as e:
            _fail(str(e))
        return value

    return click.option("--lang", metavar="CODE", callback=choose, expose_value=False, is_eager=True,
                        help=f"Language of the messages and the report: {', '.join(i18n.languages())} (default: "
                             f"from LANG, else en).")(command)


def _list(value: str | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(v.strip() for v in value.split(",") if v.strip())


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="sslab")
def main() -> None:
    """Train several image encoders on the same data, freeze them, and compare what they learned."""


@main.command()
@click.argument("study", required=False)
@click.option("--data", type=click.Path(), help="A dataset: MedMNIST .npz, MNIST-family IDX folder or mnist.npz, CIFAR "
              "binary folder or .tar.gz, STL-10 binary folder, an image folder (class sub-folders), or a dSprites "
              ".npz. Default: the study's data (dsprites: 20,000 images generated from the grid, no download).")
@click.option("--quick", is_flag=True, default=None,
              help="Smoke test: 5,000 images, 3 epochs per trained encoder, the study's analyses (minutes).")
@click.option("--n-images", type=int, help="Keep this many images, stratified over classes and splits.")
@click.option("--image-size", type=int, help="Resize every image to this square side.")
@click.option("--methods", "encoders", help="Comma-separated encoders to compare (default: raw,random,supervised,"
              "vae,simclr,simclr-2neg; see `sslab methods`).")
@click.option("--encoder", help="The network every method builds (default: the data's; see `sslab encoders`).")
@click.option("--views", help="SimCLR's view recipe (default: the data's; see `sslab views`).")
@click.option("--analyses", metavar="LIST", help="Comma-separated analyses beside the linear and kNN probes "
              "(default: all but finetune; 'all', or 'none' for probes only): similarity, factors, labels, finetune, "
              "transfer, bias, umap. Those the data cannot support are skipped, and the report says why.")
@click.option("--target", help="What the probes read out: a latent factor of generated data (dSprites: shape, "
              "scale, orientation, posX, posY). Default: the data's labels.")
@click.option("--protocol", type=click.Choice(["standard", "lab", "blog"]),
              help="Labelling protocol: standard (every training label), lab (20%% of labels per class, 30%% of "
                   "classes held out for transfer, self-supervised methods on the unlabelled rest), blog (200 "
                   "labelled images, the rest unlabelled).")
@click.option("--label-fraction", type=float, help="Per class, the fraction of training labels kept (rounded up).")
@click.option("--n-labelled", type=int, help="Keep this many training labels in all, stratified.")
@click.option("--holdout", type=float, help="Share of the classes held out as a transfer task (rounded up).")
@click.option("--train-fraction", type=float, help="Train : test split for data without a test split (default 0.8).")
@click.option("--val-fraction", type=float, help="Validation share carved from train when the data has none "
              "(default 0.1).")
@click.option("--seed", type=int, help="Seeds initialisations and augmentations (default 2021).")
@click.option("--split-seed", type=int, help="Seeds the splits, separately, so seeds can share a split (default 2021).")
@click.option("--epochs", type=int, help="Train every trained encoder for this many epochs (default: its recipe; "
              "over a study file's own and over --quick's 3).")
@click.option("--set", "overrides", multiple=True, metavar="NAME.KEY=VALUE",
              help="A method, encoder or analysis setting, e.g. --set simclr.temperature=0.2 (repeatable).")
@click.option("--probe", type=click.Choice(["lbfgs", "tutorial", "uva"]),
              help="The linear probe: lbfgs (default: logistic regression fitted to convergence on standardised "
                   "features), tutorial (the Neuromatch tutorial's: Adam, 25 epochs, raw features) or uva (the UvA "
                   "SimCLR tutorial's: AdamW, 100 epochs, batch 64).")
@click.option("--umap-colour", help="The latent factor that colours the UMAP points (default: the class).")
@click.option("--precision", type=click.Choice(["bf16", "fp32"]),
              help="bf16 autocast (default; ~2x faster than fp32 on a CPU with AVX512-BF16) or fp32.")
@click.option("--device", help="auto (default: cuda if available), cpu, cuda or cuda:N.")
@click.option("--out", type=click.Path(file_okay=False), default="runs", show_default=True,
              help="Directory that receives the run folder.")
@click.option("--name", help="Run folder name (default: <study>-<date>-<time>).")
@click.option("--channels-last", is_flag=True, default=None,
              help="Train the networks in NHWC layout (1.5x faster for the dSprites SimCLR step on this project's CPU).")
@click.option("--compile", "compile_", is_flag=True, default=None,
              help="torch.compile every training step (about a minute of compilation per encoder first).")
@click.option("--sync-bn", is_flag=True, default=None, help="Under torchrun on GPUs: BatchNorm over the global batch.")
@click.option("--checkpoint-every", type=int, help="Epochs between training checkpoints (default 1).")
@click.option("--tensorboard", is_flag=True, default=None,
              help="Also write per-step metrics as TensorBoard event files (needs tensorboard).")
@click.option("--seeds", metavar="LIST", help="Train every encoder once per seed (e.g. 0,1,2) on the same split; "
              "reports mean and standard deviation, with a run folder per seed.")
@click.option("--force", is_flag=True, default=None, help="Retrain encoders the encoder cache already holds.")
@click.option("--no-cache", "no_cache", is_flag=True, help="Neither read nor fill the encoder cache "
              "($SSLAB_CACHE, default ~/.cache/sslab).")
@click.option("--resume", "resume", type=click.Path(file_okay=False), metavar="RUN_DIR",
              help="Carry on an interrupted run (its RUN_DIR or RUN_DIR.partial): finished encoders and analyses are "
                   "kept, the encoder in training resumes from its last checkpoint. Takes no other option but --device.")
@click.option("--print-config", is_flag=True, help="Print the resolved study as TOML and exit without running it.")
@click.option("--progress", "progress_mode", type=click.Choice(["auto", "bar", "plain"]), default="auto",
              show_default=True, help="How progress is shown: a live bar (on a terminal), or plain lines without "
              "control characters (when stderr is not a terminal: logs, CI, notebooks).")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing while running; only errors and the final table.")
@_language
def run(study, data, quick, n_images, image_size, encoders, encoder, views, analyses, target, protocol,
        label_fraction, n_labelled, holdout, train_fraction, val_fraction, seed, split_seed, epochs, overrides,
        probe, umap_colour, precision, device, out, name, channels_last, compile_, sync_bn, checkpoint_every,
        tensorboard, seeds, force, no_cache, resume, print_config, progress_mode, quiet) -> None:
    """Run a study and write runs/<name>/ (results.json, figures, report.html).

    STUDY is a named study (`sslab studies`; default: dsprites when no --data is given) or a study
    file (.toml). Trains or builds each encoder on the training images, freezes it, fits a linear and a
    kNN probe on its cached features, runs the analyses the data allows, and prints each probe's
    accuracy beside chance. The default dSprites study takes 20 to 36 minutes on a 2-core CPU.

    On several GPUs or nodes, launch the same command with torchrun (e.g. `torchrun --nproc-per-node 4
    --no-python sslab run ...`): each process trains its share of every batch; rank 0 writes the run.
    """
    from sslab import distributed, studies
    from sslab.progress import Progress
    from sslab.study import partial, resumable, run as run_study

    run_dir: Path | None = None
    try:
        rank_device = distributed.init(device or "auto")  # under torchrun: join the other processes
        log = Progress("quiet" if quiet or not distributed.is_main() else progress_mode)
        if resume:
            ctx = click.get_current_context()
            given = [k for k in ctx.params if k not in ("resume", "device", "progress_mode", "quiet")
                     and ctx.get_parameter_source(k) is not click.core.ParameterSource.DEFAULT]
            if given or study:
                raise SslabError("--resume takes no other study options: the run folder's study.toml holds them")
            run_dir = Path(resume)
            run_dir = run_dir.with_name(run_dir.name.removesuffix(".partial"))
            cfg = _resumed(run_dir)
            cfg = dataclasses.replace(cfg, device=device) if device else cfg
        else:
            cfg = _study_config(study, data, quick, n_images, image_size, encoders, encoder, views, analyses, target,
                                protocol, label_fraction, n_labelled, holdout, train_fraction, val_fraction, seed,
                                split_seed, epochs, overrides, probe, umap_colour, precision, device, channels_last,
                                compile_, sync_bn, checkpoint_every, tensorboard, force, no_cache, seeds)
            if print_config:
                from sslab.study import check

                check(cfg)
                click.echo(studies.to_toml(cfg), nl=False)
                return
            if name is not None and (not name or Path(name).name != name or name in (".", "..")):
                raise SslabError(f"--name must be a plain folder name, not a path: {name!r} (use --out for the folder)")
            run_dir = Path(distributed.broadcast(  # one name for every rank, rank 0's clock
                str(Path(out) / (name or time.strftime(f"{cfg.name}-%Y%m%d-%H%M%S")))))
        if rank_device is not None:
            cfg = dataclasses.replace(cfg, device=str(rank_device))
        results = run_study(cfg, run_dir, log=log, resume=bool(resume))
    except SslabError as e:
        _fail(str(e))
    except KeyboardInterrupt:
        if run_dir is not None and resumable(partial(run_dir)):
            _fail(_("interrupted; carry on with: sslab run --resume {path}").format(path=partial(run_dir)), 130)
        _fail(_("interrupted; nothing was written"), 130)
    if not distributed.is_main():
        return
    _print_results(results, run_dir)


def _study_config(study, data, quick, n_images, image_size, encoders, encoder, views, analyses, target, protocol,
                  label_fraction, n_labelled, holdout, train_fraction, val_fraction, seed, split_seed, epochs,
                  overrides, probe, umap_colour, precision, device, channels_last, compile_, sync_bn,
                  checkpoint_every, tensorboard, force, no_cache, seeds):
    """The StudyConfig a `sslab run` command line asks for: the study file's fields, then the options given."""
    from sslab import studies
    from sslab.study import StudyConfig

    fields = studies.read(study or "dsprites") if study or data is None else {}
    if data is not None and not study:
        fields["name"] = Path(data).name.removesuffix(".gz").removesuffix(".tar").split(".")[0] or "study"
    picked = _list(analyses)
    if picked is not None and len(picked) == 1 and picked[0] in ("all", "none"):
        from sslab.analyses import NAMES

        picked = NAMES if picked[0] == "all" else ()
    given = dict(data=data, quick=quick, n_images=n_images, image_size=image_size, encoders=_list(encoders),
                 encoder=encoder, views=views, analyses=picked, target=target, protocol=protocol,
                 label_fraction=label_fraction, n_labelled=n_labelled, holdout=holdout,
                 train_fraction=train_fraction, val_fraction=val_fraction, seed=seed, split_seed=split_seed,
                 epochs=epochs, probe=probe, precision=precision, device=device, channels_last=channels_last,
                 compile=compile_, sync_bn=sync_bn, checkpoint_every=checkpoint_every, tensorboard=tensorboard,
                 force=force, cache=False if no_cache else None, seeds=_seeds(seeds))
    fields |= {k: v for k, v in given.items() if v is not None}
    extra = (f"umap.colour={umap_colour}",) if umap_colour else ()
    fields["overrides"] = tuple(fields.get("overrides", ())) + extra + tuple(overrides)
    return StudyConfig(**fields)


def _seeds(value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        return tuple(int(v) for v in _list(value))
    except ValueError:
        raise SslabError(f"--seeds takes whole numbers separated by commas, e.g. 0,1,2; got {value!r}") from None


def _resumed(run_dir: Path):
    """The study (and seeds) of an interrupted run, from the study.toml it wrote when it started."""
    from sslab import studies
    from sslab.study import StudyConfig, partial

    for folder in (partial(run_dir), run_dir):  # a single run, or a several-seed run's folder
        if (folder / "study.toml").is_file():
            return StudyConfig(**studies.read(str(folder / "study.toml")))
    raise SslabError(f"nothing to resume at {run_dir}: no study.toml in {partial(run_dir)} or {run_dir}")


def _print_results(results: dict, run_dir: Path) -> None:
    from sslab.report import encoder_names

    if "seeds" in results:
        click.echo(f"\n{_('encoder'):<16}{_('test (mean ± sd)'):>20}{_('kNN test'):>20}   "
                   + _("over seeds {seeds}").format(seeds=results["seeds"]))
        for enc, r in results["encoders"].items():
            click.echo(f"{enc:<16}{_mean_sd(r['test_accuracy']):>20}{_mean_sd(r['knn_accuracy']):>20}")
        click.echo("\n" + _("report: {path}").format(path=run_dir / "report.html"))
        return
    click.echo(f"\n{_('encoder'):<16}{_('train'):>9}{_('val'):>9}{_('test'):>9}{_('kNN test'):>10}")
    click.echo(f"{_('chance'):<16}{'':>9}{'':>9}{results['chance']:>9.2%}{results['chance']:>10.2%}")
    for enc in encoder_names(results):
        r = results["encoders"][enc]
        val = "" if r["val_accuracy"] is None else f"{r['val_accuracy']:.2%}"
        cached = "  (" + _("from {source}").format(source=_(r["from"])) + ")" if "from" in r else ""
        click.echo(f"{enc:<16}{r['train_accuracy']:>9.2%}{val:>9}{r['test_accuracy']:>9.2%}"
                   f"{r['knn_accuracy']:>10.2%}{cached}")
    if results.get("shortened"):
        click.echo("\n" + _("smoke test ({reasons}): these are not the study's numbers").format(
            reasons="; ".join(i18n.text(r) for r in results["shortened"])))
    click.echo("\n" + _("chance = the majority class's share of the test images") + "\n"
               + _("{seconds} s; report: {path}").format(seconds=f"{results['seconds']:.0f}",
                                                        path=run_dir / "report.html"))


def _mean_sd(stat: dict) -> str:
    return f"{stat['mean']:.2%} ± {stat['sd']:.2%}"


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@_language
def report(run_dir: str) -> None:
    """Re-render RUN_DIR/report.html from its results.json and saved figure data (no retraining), e.g. in
    another language: `sslab report RUN_DIR --lang ja`. A figure that cannot be drawn is named on stderr
    and in the page, and the rest is rendered."""
    from sslab import report as report_mod

    try:
        path = report_mod.write(run_dir, log=lambda problem: click.echo(f"sslab: {_('warning')}: {problem}", err=True))
    except SslabError as e:
        _fail(str(e))
    click.echo(path)


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
        _fail(str(e))
    n, c, h, w = images.x.shape
    click.echo(f"{n:,} images of {c}x{h}x{w} ({n * c * h * w / 1e9:.2f} GB), {len(images.class_names)} classes, "
               f"splits: {', '.join(f'{k} {len(v)}' for k, v in images.splits.items()) or 'none'}; "
               f"{time.perf_counter() - t0:.0f} s -> {out_dir}")


@main.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(file_okay=False), help="Folder for compare.json and report.html "
              "(default: runs/compare-<date>-<time>).")
@_language
def compare(run_dirs, out) -> None:
    """Put finished runs side by side: every encoder's probe accuracies in each, their mean and standard
    deviation, and figures with every run's point (one table, one page)."""
    from sslab import compare as compare_mod

    try:
        out_dir = Path(out or time.strftime("runs/compare-%Y%m%d-%H%M%S"))
        s = compare_mod.write(out_dir, [Path(d) for d in run_dirs])
    except SslabError as e:
        _fail(str(e))
    click.echo(f"{'encoder':<22}" + "".join(f"{label:>20}" for _k, label in compare_mod.METRICS))
    for name, e in s["encoders"].items():
        click.echo(f"{name:<22}" + "".join(f"{(_mean_sd(e[k]) if e[k]['mean'] is not None else '-'):>20}"
                                           for k, _label in compare_mod.METRICS))
    click.echo(f"\n{len(run_dirs)} runs; report: {out_dir / 'report.html'}")


@main.command(name="methods")
def list_methods() -> None:
    """List the registered methods and their default settings."""
    from sslab import data
    from sslab.methods import REGISTRY

    for name, cls in sorted(REGISTRY.items()):
        doc = (sys.modules[cls.__module__].__doc__ or "").strip().splitlines()[0]
        click.echo(f"{name:<12}{doc}")
        from sslab.methods import TrainConfig

        shown = [f for f in dataclasses.fields(cls.Config)  # training settings only where there is training
                 if cls.Config.epochs or f.name not in {g.name for g in dataclasses.fields(TrainConfig)}]
        if shown:
            click.echo(f"{'':<12}defaults: " + ", ".join(f"{f.name}={getattr(cls.Config(), f.name)}" for f in shown))
        for fmt, module in data.REGISTRY.items():
            if name in getattr(module, "METHODS", {}):
                click.echo(f"{'':<12}{fmt} data sets: "
                           + ", ".join(f"{k}={v}" for k, v in module.METHODS[name].items()))


@main.command(name="encoders")
@click.option("--shape", default="1,28,28", show_default=True, help="Input shape C,H,W for the feature widths.")
def list_encoders(shape: str) -> None:
    """List the registered encoders, with their feature width for an input shape."""
    from sslab import nets

    try:
        image_shape = tuple(int(v) for v in shape.split(","))
        if len(image_shape) != 3:
            raise ValueError
    except ValueError:
        _fail(f"--shape must be C,H,W, e.g. 3,32,32; got {shape!r}")
    click.echo(f"{'encoder':<14}{'features':>9}  at {'x'.join(map(str, image_shape))}")
    for name, description, dim in nets.describe(image_shape):
        click.echo(f"{name:<14}{(f'{dim}-d' if dim else 'too small'):>9}  {description}")


@main.command(name="views")
def list_views() -> None:
    """List the view recipes (augmentations), their settings, and what they skip on grey images."""
    from sslab import views

    click.echo(views.listing())


@main.command(name="studies")
@_language
def list_studies() -> None:
    """List the named studies (`sslab run NAME`)."""
    from sslab import studies

    for name in studies.names():
        click.echo(f"{name:<14}{i18n.text(studies.read(name).get('description', ''))}")


@main.command()
@click.option("--methods", "only", metavar="LIST", help="Comma-separated methods, or method/data (simclr/dsprites), "
              "to measure (default: every case, see below).")
@click.option("--device", default="auto", show_default=True, help="auto (cuda if available), cpu, cuda or cuda:N.")
@click.option("--threads", type=int, help="CPU threads torch uses (default: torch's, one per core).")
@click.option("--batch-size", type=int, help="Every trained method's batch (default: its study batch; the "
              "tutorial's 1000 on dSprites).")
@click.option("--precision", type=click.Choice(["bf16", "fp32"]), default="bf16", show_default=True)
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the model side of each step.")
@click.option("--channels-last", is_flag=True, help="NHWC memory layout for the convolutions.")
@click.option("--steps", type=int, default=10, show_default=True, help="Timed training steps per method.")
@click.option("--probe-check/--no-probe-check", default=True, show_default=True,
              help="Also time the tutorial's probe re-encoding every batch against probes on cached features.")
@click.option("--out", type=click.Path(dir_okay=False), default="bench.json", show_default=True)
def bench(only, device, threads, batch_size, precision, compile_, channels_last, steps, probe_check, out) -> None:
    """Measure training speed per method (data + augmentation against model time, beside the model-only
    ceiling), feature extraction and probe time; print a table and write bench.json.

    Cases: supervised, vae, simclr and random on dSprites (1x64x64, encoder_core, batch 1000); pca,
    linear_ae, ae and the blog's simclr on MNIST-sized images; conv_ae, supcon and dino at 3x32x32;
    the UvA tutorial's simclr (resnet18) at 3x96x96; on a GPU (or named: simclr/cifar10) LightlySSL's CIFAR-10
    benchmark, simclr with resnet18 at 3x32x32, batch 512. Run nothing else meanwhile.
    """
    import json

    from sslab import bench as B
    from sslab.study import resolve_device
    from sslab.train import Loop

    try:
        dev = resolve_device(device)
        if threads:
            torch_threads(threads)
        picked = _list(only)
        cases = [c for c in B.CASES if f"{c.method}/{c.data}" in (picked or ()) or
                 (picked is None or c.method in picked) and (not c.heavy or dev.type == "cuda")]
        if not cases:
            raise SslabError(f"no case matches {only!r}; cases: "
                             + ", ".join(f"{c.method}/{c.data}" for c in B.CASES))
        loop = Loop(precision=precision, compile=compile_, channels_last=channels_last, log_every=10**9)
        result: dict = {"environment": B.environment(dev, loop), "cases": []}
        for case in cases:
            click.echo(f"measuring {case.method} on {case.data} ...", err=True)
            result["cases"].append(B.measure(case, dev, loop, batch_size, steps))
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
                   f"wrote {out}")
    except SslabError as e:
        _fail(str(e))


def torch_threads(n: int) -> None:
    import torch

    if n < 1:
        raise SslabError(f"--threads must be at least 1, got {n}")
    torch.set_num_threads(n)
