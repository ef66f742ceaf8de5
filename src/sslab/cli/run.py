"""`sslab run`: a study from the command line (a named study, a study file, or options alone)."""

from __future__ import annotations

import dataclasses
import signal
import time
from pathlib import Path

import click

from sslab import i18n
from sslab.cli.common import as_list, fail, language, main, mean_sd
from sslab.errors import SslabError
from sslab.i18n import _

# The options that set a StudyConfig field of the same name (the rest say how to run, not what).
STUDY_FIELDS = ("data", "quick", "n_images", "image_size", "encoders", "encoder", "views", "target", "protocol",
                "label_fraction", "n_labelled", "holdout", "train_fraction", "val_fraction", "seed", "split_seed",
                "epochs", "probe", "precision", "device", "channels_last", "compile", "parallel", "sync_bn",
                "checkpoint_every", "keep_every", "tensorboard", "force")


@main.command()
@click.argument("study", required=False)
@click.option("--data", type=click.Path(), help="A dataset: MedMNIST .npz, MNIST-family IDX folder or mnist.npz, CIFAR "
              "binary folder or .tar.gz, STL-10 binary folder, an image folder (class sub-folders), or a dSprites "
              ".npz. Default: the study's data (dsprites: 20,000 images generated from the grid, no download).")
@click.option("--quick", is_flag=True, default=None,
              help="Smoke test: 2,000 images, 3 epochs per trained encoder, the study's analyses on smaller budgets, "
                   "UMAP left out unless named or set (about 90 s for the dSprites study on a 2-core CPU).")
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
              help="Labelling protocol: standard (every training label), lab (20% of labels per class, 30% of "
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
@click.option("--eval-data", metavar="PATHS", help="Comma-separated other datasets (any format --data reads): every "
              "encoder, frozen, is probed on each too (the cross_dataset analysis), their images converted to the "
              "study's channels and size.")
@click.option("--precision", type=click.Choice(["auto", "bf16", "fp32"]),
              help="auto (default): bf16 autocast where the device computes in bf16 natively (GPUs, CPUs with "
                   "AVX512-BF16 or AMX), else fp32; or bf16 or fp32.")
@click.option("--device", help="auto (default: cuda if available), cpu, cuda or cuda:N.")
@click.option("--out", type=click.Path(file_okay=False), default="runs", show_default=True,
              help="Directory that receives the run folder.")
@click.option("--name", help="Run folder name (default: <study>-<date>-<time>).")
@click.option("--channels-last/--no-channels-last", default=None,
              help="Train the networks in NHWC layout (default: on; 1.9x faster for the dSprites SimCLR step on a "
                   "2-core CPU).")
@click.option("--compile", "compile", is_flag=True, default=None,
              help="torch.compile every training step (a minute of compilation per encoder first).")
@click.option("--parallel/--no-parallel", default=None,
              help="On a CPU with 2+ threads, train two encoders at once, each process with half the threads "
                   "(default: on; 1.27x the images per second of one encoder on both cores of a 2-core CPU).")
@click.option("--sync-bn", is_flag=True, default=None, help="Under torchrun on GPUs: BatchNorm over the global batch.")
@click.option("--checkpoint-every", type=int, help="Epochs between training checkpoints (default 1).")
@click.option("--keep-every", type=int, help="Keep each trained encoder's weights every N epochs in the run folder "
              "(snapshots/<encoder>/epoch-NNNN.safetensors, loadable with the pretrained method); default: none.")
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
@click.option("--no-report", "no_report", is_flag=True,
              help="Draw no report.html: write results.json and the figures' data only (seconds to minutes less, "
                   "e.g. on a cluster's GPU node). `sslab report RUN_DIR` draws it later.")
@language
def run(study, out, name, resume, print_config, progress_mode, quiet, no_report, **options) -> None:
    """Run a study and write runs/<name>/ (results.json, figures, report.html).

    STUDY is a named study (`sslab studies`; default: dsprites when no --data is given) or a study
    file (.toml). Trains or builds each encoder on the training images, freezes it, fits a linear and a
    kNN probe on its cached features, runs the analyses the data allows, and prints each probe's
    accuracy beside chance. The default dSprites study took 33 minutes on a 2-core CPU (fp32).

    On several GPUs or nodes, launch the same command with torchrun (e.g. `torchrun --nproc-per-node 4
    --no-python sslab run ...`): each process trains its share of every batch; rank 0 writes the run.
    Ctrl-C or SIGTERM stops a run in one line, keeping what can be resumed.
    """
    from sslab import distributed
    from sslab.progress import Progress
    from sslab.study import check, partial, resumable, run as run_study
    from sslab.study.config import to_toml

    run_dir: Path | None = None
    signal.signal(signal.SIGTERM, _interrupt)  # a scheduler's or torchrun's stop ends like Ctrl-C
    try:
        rank_device = distributed.init(options["device"] or "auto")  # under torchrun: join the other processes
        log = Progress("quiet" if quiet or not distributed.is_main() else progress_mode)
        if resume:
            ctx = click.get_current_context()
            given = [k for k in ctx.params if k not in ("resume", "device", "progress_mode", "quiet", "no_report")
                     and ctx.get_parameter_source(k) is not click.core.ParameterSource.DEFAULT]
            if given or study:
                raise SslabError("--resume takes no other study options: the run folder's study.toml holds them")
            run_dir = Path(resume)
            run_dir = run_dir.with_name(run_dir.name.removesuffix(".partial"))
            cfg = _resumed(run_dir)
            cfg = dataclasses.replace(cfg, device=options["device"]) if options["device"] else cfg
        else:
            cfg = study_config(study, options)
            if print_config:
                check(cfg)
                click.echo(to_toml(cfg), nl=False)
                return
            if name is not None and (not name or Path(name).name != name or name in (".", "..")):
                raise SslabError(f"--name must be a plain folder name, not a path: {name!r} (use --out for the folder)")
            run_dir = Path(distributed.broadcast(  # one name for every rank, rank 0's clock
                str(Path(out) / (name or time.strftime(f"{cfg.name}-%Y%m%d-%H%M%S")))))
        if rank_device is not None:
            cfg = dataclasses.replace(cfg, device=str(rank_device))
        results = run_study(cfg, run_dir, log=log, resume=bool(resume), draw=not no_report)
    except SslabError as e:
        fail(str(e))
    except KeyboardInterrupt:
        if run_dir is not None and resumable(partial(run_dir)):
            fail(_("interrupted; carry on with: sslab run --resume {path}").format(path=partial(run_dir)), 130)
        fail(_("interrupted; nothing was written"), 130)
    if not distributed.is_main():
        return
    _print_results(results, run_dir, drawn=not no_report)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def study_config(study: str | None, options: dict):
    """The StudyConfig a `sslab run` command line asks for: the study file's fields, then the options given."""
    from sslab import studies
    from sslab.analyses import NAMES
    from sslab.study import StudyConfig

    data = options["data"]
    fields = studies.read(study or "dsprites") if study or data is None else {}
    if data is not None and not study:
        fields["name"] = Path(data).name.removesuffix(".gz").removesuffix(".tar").split(".")[0] or "study"
    given = {k: options[k] for k in STUDY_FIELDS}
    given["encoders"] = as_list(options["encoders"])
    picked = as_list(options["analyses"])
    if picked is not None and len(picked) == 1 and picked[0] in ("all", "none"):
        picked = NAMES if picked[0] == "all" else ()
    given |= {"analyses": picked, "cache": False if options["no_cache"] else None, "seeds": _seeds(options["seeds"])}
    fields |= {k: v for k, v in given.items() if v is not None}
    extra = (f"umap.colour={options['umap_colour']}",) if options["umap_colour"] else ()
    if options["eval_data"]:  # --eval-data: the cross_dataset analysis, on those files
        extra += (f"cross_dataset.data={tuple(as_list(options['eval_data']))!r}",)
        ran = fields.get("analyses", StudyConfig.analyses)
        fields["analyses"] = tuple(ran) + ("cross_dataset",) * ("cross_dataset" not in ran)
    fields["overrides"] = tuple(fields.get("overrides", ())) + extra + tuple(options["overrides"])
    cfg = StudyConfig(**fields)
    _check_used(extra + tuple(options["overrides"]), cfg)
    return cfg


def _check_used(items: tuple[str, ...], cfg) -> None:
    """A setting given on the command line for an encoder or analysis the study does not run would be ignored:
    refused instead. (A study file's own [set.*] tables may name encoders that --methods leaves out.)"""
    from sslab.methods import parse_encoder

    used = set(cfg.encoders) | set(cfg.analyses) | {parse_encoder(e)[0] for e in cfg.encoders} | {"monitor"}
    for item in items:
        owner = item.partition("=")[0].partition(".")[0].strip()
        if owner and "." in item.partition("=")[0] and owner not in used:
            what = "analysis" if owner in _analysis_names() else "encoder"
            raise SslabError(f"--set {item}: this study does not run the {what} {owner} (encoders: "
                             f"{', '.join(cfg.encoders)}; analyses: {', '.join(cfg.analyses) or 'none'})")


def _analysis_names() -> tuple[str, ...]:
    from sslab.analyses import NAMES

    return NAMES


def _seeds(value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        return tuple(int(v) for v in as_list(value))
    except ValueError:
        raise SslabError(f"--seeds takes whole numbers separated by commas, e.g. 0,1,2; got {value!r}") from None


def _resumed(run_dir: Path):
    """The study (and seeds) of an interrupted run, from the study.toml it wrote when it started."""
    from sslab.study import StudyConfig, partial
    from sslab.study.config import read_toml

    for folder in (partial(run_dir), run_dir):  # a single run, or a several-seed run's folder
        if (folder / "study.toml").is_file():
            return StudyConfig(**read_toml(folder / "study.toml"))
    raise SslabError(f"nothing to resume at {run_dir}: no study.toml in {partial(run_dir)} or {run_dir}")


def _print_results(results: dict, run_dir: Path, drawn: bool = True) -> None:
    if "seeds" in results:
        click.echo(f"\n{_('encoder'):<16}{_('test (mean ± sd)'):>20}{_('kNN test'):>20}   "
                   + _("over seeds {seeds}").format(seeds=results["seeds"]))
        for enc, r in results["encoders"].items():
            click.echo(f"{enc:<16}{mean_sd(r['test_accuracy']):>20}{mean_sd(r['knn_accuracy']):>20}")
        click.echo("\n" + _("report: {path}").format(path=run_dir / "report.html"))
        return
    click.echo(f"\n{_('encoder'):<16}{_('train'):>9}{_('val'):>9}{_('test'):>9}{_('kNN test'):>10}")
    click.echo(f"{_('chance'):<16}{'':>9}{'':>9}{results['chance']:>9.2%}{results['chance']:>10.2%}")
    for enc, r in results["encoders"].items():
        val = "" if r["val_accuracy"] is None else f"{r['val_accuracy']:.2%}"
        cached = "  (" + _("from {source}").format(source=_(r["from"])) + ")" if "from" in r else ""
        click.echo(f"{enc:<16}{r['train_accuracy']:>9.2%}{val:>9}{r['test_accuracy']:>9.2%}"
                   f"{r['knn_accuracy']:>10.2%}{cached}")
    if results.get("shortened"):
        click.echo("\n" + _("smoke test ({reasons}): these are not the study's numbers").format(
            reasons="; ".join(i18n.text(r) for r in results["shortened"])))
    where = (_("report: {path}").format(path=run_dir / "report.html") if drawn else
             _("results: {path} (no report drawn: `sslab report {run}` draws it)").format(
                 path=run_dir / "results.json", run=run_dir))
    click.echo("\n" + _("chance = the majority class's share of the test images") + "\n"
               + _("{seconds} s; {where}").format(seconds=f"{results['seconds']:.0f}", where=where))
