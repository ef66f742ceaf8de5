"""A study: train or build each encoder on the same images, freeze it, probe it, analyse it, draw it.

`run(StudyConfig(...), out_dir)` is a whole study as a function; `sslab run` is a thin shell on it.
This module only orchestrates: load and split the data, resolve every setting before any training,
train each encoder once and encode the evaluated images once, fit the linear and kNN probes, run the
analyses that apply to the data (sslab.analyses), and write results.json, figures and report.html.
Everything is written into `<out_dir>.partial/` and renamed to `out_dir` only when complete.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from sslab import __version__, analyses, data, distributed, i18n, methods, plots, report, store, studies, views
from sslab.data import Images, dsprites, splits
from sslab.errors import SslabError
from sslab.finetune import FinetuneConfig, finetune, score
from sslab.i18n import N_, _
from sslab.probes import PROBES, KNNProbe
from sslab.progress import Progress, as_progress, duration
from sslab.train import Loop, extract, fit

DEFAULT_ENCODERS = ("raw", "random", "supervised", "vae", "simclr", "simclr-2neg")
EMBEDDED_IMAGES = 20_000  # the dSprites subset generated when no data is given (the tutorial's size)
QUICK_IMAGES, QUICK_EPOCHS = 5000, 3


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """One study. Every field can be set in a study file (TOML) and most on the command line."""

    name: str = "study"  # names the run folder (<name>-<date>-<time>)
    description: str = ""  # the question the study asks, one line (listed by `sslab studies`)
    about: str = ""  # a paragraph for the report: the question, and what the material it comes from found
    needs_data: str = ""  # what --data must be, for a study that cannot generate its data ("": dSprites is generated)
    data: str | None = None  # a dataset path in any format sslab reads; None: dSprites generated from the grid
    n_images: int | None = None  # keep this many images, stratified (None: all; 20,000 for the generated dSprites)
    image_size: int | None = None  # resize every image to this square side (None: as stored)
    target: str | None = None  # what the probes read: None = the data's labels, or a latent factor (dSprites)
    encoders: tuple[str, ...] = DEFAULT_ENCODERS  # names from the method registry, or simclr-<k>neg
    analyses: tuple[str, ...] = analyses.DEFAULTS  # which analyses run beside the probes, where the data allows
    encoder: str | None = None  # the network every method builds (None: the data's default; see `sslab encoders`)
    views: str | None = None  # SimCLR's view recipe (None: the data's default; see `sslab views`)
    protocol: str = "standard"  # labelling protocol: standard, lab (20% labels, 30% classes held out) or blog (200)
    label_fraction: float | None = None  # per class, the fraction of training labels kept (None: the protocol's)
    n_labelled: int | None = None  # instead, this many labelled training images, stratified (None: the protocol's)
    holdout: float | None = None  # share of classes held out as a transfer task (None: the protocol's)
    train_fraction: float = 0.8  # train : test split, for data without a test split (the tutorial's 80:20)
    val_fraction: float = 0.1  # carved from train (stratified) for data without a validation split
    split_seed: int = 2021  # seeds the splits, so several training seeds can share one split
    seed: int = 2021  # seeds the initialisations and the augmentations
    seeds: tuple[int, ...] = ()  # several training seeds: one run per seed on the same split, and their summary
    quick: bool = False  # smoke-test profile: 5,000 images, 3 epochs per trained encoder (over any epochs setting)
    epochs: int | None = None  # train every trained encoder for this many epochs (None: its recipe; over --set)
    overrides: tuple[str, ...] = ()  # "name.setting=value" for a method, encoder or analysis
    precision: str = "bf16"  # "bf16" autocast or "fp32"
    device: str = "auto"  # "auto" (cuda if present), "cpu", "cuda", "cuda:1", ...
    probe: str = "lbfgs"  # the linear probe: lbfgs (converged logistic regression), tutorial or uva (sslab.probes)
    probe_C: float = 1.0  # inverse L2 strength of the lbfgs probe
    channels_last: bool = False  # train the networks in NHWC layout (faster convolutions on CPUs and GPUs)
    compile: bool = False  # torch.compile each training step's model side (a minute of compilation first)
    sync_bn: bool = False  # under torchrun on GPUs: BatchNorm statistics over the global batch
    checkpoint_every: int = 1  # epochs between training checkpoints in the run folder (for --resume)
    tensorboard: bool = False  # also write the per-step metrics as TensorBoard event files
    cache: bool = True  # reuse a trained encoder from the encoder cache, and store new ones there
    force: bool = False  # retrain every encoder even when the cache holds it (and store the new one)


@dataclasses.dataclass(frozen=True)
class Plan:
    """Every setting of a study, resolved against its data before any training."""

    methods: dict[str, methods.TrainConfig]  # encoder name -> its method's config
    analyses: dict[str, Any]  # analysis name -> its Config, for those that run
    skipped: dict[str, str]  # analysis name -> why it does not run
    views: str  # the view recipe of the methods that take views
    encoder: str  # the network the methods build, unless set per method
    recipe_epochs: dict[str, int] = dataclasses.field(default_factory=dict)  # before --quick or --epochs


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when present, else cpu; anything else must exist here (one clear error otherwise)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise SslabError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise SslabError(f"device {name!r} is not available: this torch ({torch.__version__}) sees no GPU; "
                             f"use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise SslabError(f"device {name!r} does not exist: {torch.cuda.device_count()} GPU(s) here")
    elif dev.type != "cpu":
        try:
            torch.empty(1, device=dev)
        except Exception:  # noqa: BLE001 -- any backend failure means the same thing to the user
            raise SslabError(f"device {name!r} is not available here; use --device cpu") from None
    return dev


def parse_overrides(items: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """("simclr.temperature=0.1", ...) -> {"simclr": {"temperature": "0.1"}}; names are checked."""
    out: dict[str, dict[str, str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        owner, dot, setting = key.strip().partition(".")
        if not (sep and dot and setting):
            raise SslabError(f"--set expects name.setting=value, got {item!r}")
        if owner not in analyses.REGISTRY:
            methods.parse_encoder(owner)  # a method or an encoder name such as simclr-2neg
        out.setdefault(owner, {})[setting.strip()] = value.strip()
    return out


def check(cfg: StudyConfig) -> None:
    """Everything that can be checked before reading any data: one clear error, before any work."""
    splits.check_fraction("train fraction", cfg.train_fraction)
    if not 0 <= cfg.val_fraction < 1:
        raise SslabError(f"validation fraction must be in [0, 1), got {cfg.val_fraction}")
    splits.protocol(cfg.protocol, label_fraction=cfg.label_fraction, n_labelled=cfg.n_labelled,
                    holdout=cfg.holdout)
    if cfg.epochs is not None and cfg.epochs <= 0:
        raise SslabError(f"epochs must be a positive number, got {cfg.epochs}")
    if cfg.n_images is not None and cfg.n_images < 20:
        raise SslabError(f"--n-images must be at least 20, got {cfg.n_images}")
    if cfg.probe not in PROBES:
        raise SslabError(f"unknown probe {cfg.probe!r}; probes: {', '.join(PROBES)}")
    if cfg.checkpoint_every < 1:
        raise SslabError(f"checkpoint_every must be at least 1 epoch, got {cfg.checkpoint_every}")
    if cfg.tensorboard:
        try:
            import torch.utils.tensorboard  # noqa: F401
        except ImportError:
            raise SslabError("--tensorboard needs the tensorboard package: pip install tensorboard") from None
    if cfg.precision not in ("bf16", "fp32"):
        raise SslabError(f"precision must be bf16 or fp32, got {cfg.precision!r}")
    if not cfg.encoders:
        raise SslabError("no encoders chosen")
    for kind, names in (("encoder", cfg.encoders), ("analysis", cfg.analyses)):
        if len(set(names)) != len(names):
            raise SslabError(f"an {kind} is listed twice: {', '.join(names)}")
    unknown = [a for a in cfg.analyses if a not in analyses.REGISTRY]
    if unknown:
        raise SslabError(f"unknown analysis {unknown[0]!r}; choose from {', '.join(analyses.NAMES)}")
    for name in cfg.encoders:
        methods.parse_encoder(name)
    from sslab import nets

    if cfg.encoder is not None and cfg.encoder not in nets.REGISTRY:
        raise SslabError(f"unknown encoder {cfg.encoder!r}; encoders: {', '.join(nets.REGISTRY)}")
    if cfg.views is not None and cfg.views not in views.REGISTRY:
        raise SslabError(f"unknown view recipe {cfg.views!r}; recipes: {', '.join(views.REGISTRY)}")
    settings = parse_overrides(cfg.overrides)
    for name in cfg.analyses:
        reason = getattr(analyses.REGISTRY[name], "requires", lambda: None)()
        if reason:
            raise SslabError(reason)
        analyses.config(name, settings.get(name, {}))
    for name in cfg.encoders:  # the user's own settings, checked alone (the data's defaults come later)
        method = methods.parse_encoder(name)[0]
        methods.make_config(method, {**settings.get(method, {}), **settings.get(name, {})})
    resolve_device(cfg.device)


def load_images(cfg: StudyConfig) -> Images:
    """The study's images: the file at cfg.data, or dSprites generated from the grid; subsampled and
    relabelled by cfg.target as asked."""
    n = QUICK_IMAGES if cfg.quick and cfg.n_images is None else cfg.n_images
    if cfg.data is None and cfg.needs_data:
        raise SslabError(f"the {cfg.name} study needs --data: {cfg.needs_data}")
    if cfg.data is None:
        images = dsprites.generate(n or EMBEDDED_IMAGES)
    else:
        images = data.load(cfg.data, n_images=n, seed=cfg.split_seed, image_size=cfg.image_size)
    if cfg.target is not None:
        images = images.with_target(cfg.target)
    if int(images.labelled.sum()) < 20:
        raise SslabError(f"{int(images.labelled.sum())} labelled images are too few for a study")
    return images


def plan(cfg: StudyConfig, images: Images, split: splits.Split) -> Plan:
    """Resolve every encoder's method config and every analysis against the data (before training)."""
    fmt = data.REGISTRY.get(images.format)
    views_name = cfg.views or getattr(fmt, "VIEWS", "simclr")
    encoder = cfg.encoder or getattr(fmt, "ENCODER", None) or ("convnet" if images.shape[1] <= 32 else "resnet18")
    recipe = getattr(fmt, "METHODS", {})  # the data's own method settings (e.g. dSprites: temperature 0.1)
    settings = parse_overrides(cfg.overrides)
    resolved, recipe_epochs = {}, {}
    for name in cfg.encoders:
        method, variant = methods.parse_encoder(name)
        cls = methods.REGISTRY[method]
        fields = {f.name for f in dataclasses.fields(cls.Config)}
        values: dict[str, Any] = {k: v for k, v in (("encoder", encoder), ("views", views_name)) if k in fields}
        values |= recipe.get(method, {})
        values |= {**variant, **settings.get(method, {}), **settings.get(name, {})}
        epochs = cfg.epochs or (QUICK_EPOCHS if cfg.quick else None)  # over any method's own (a study file's too)
        recipe_epochs[name] = methods.make_config(method, values).epochs
        if cls.Config.epochs > 0 and epochs is not None:
            values["epochs"] = epochs
        resolved[name] = methods.make_config(method, values)
        try:  # build it once without memory: a layer, encoder or size that cannot work fails now
            with torch.device("meta"):
                methods.create(name, resolved[name], images.shape, max(2, len(split.classes)))
        except SslabError as e:
            raise SslabError(f"{name}: {e}") from None
        except (RuntimeError, ValueError) as e:
            raise SslabError(f"{name} cannot be built for {images.shape} images: {e}") from None
        if cls.uses_labels and len(split.classes) < 2:
            raise SslabError(f"{name} learns from labels, but the main task has {len(split.classes)} class(es)")
    run, skipped = {}, {}
    for name in cfg.analyses:
        reason = analyses.missing(name, images, split)
        if reason:
            skipped[name] = reason
            continue
        run[name] = analyses.config(name, settings.get(name, {}))
        if hasattr(analyses.REGISTRY[name], "validate"):
            analyses.REGISTRY[name].validate(run[name], images)
    return Plan(resolved, run, skipped, views_name, encoder, recipe_epochs)


def run(cfg: StudyConfig, out_dir: str | Path, log: Callable[[str], None] | Progress = print,
        modules: dict[str, torch.nn.Module] | None = None, resume: bool = False) -> dict[str, Any]:
    """Run the study and write results.json, figures and report.html into out_dir (which must not exist).

    The run is written into `<out_dir>.partial/` and renamed when complete. Training checkpoints, finished
    encoders and finished analyses stay there when a run fails or is interrupted, and `resume=True` carries
    on from them (cfg must be the run's own: `study.toml` in that folder). Under torchrun every rank calls
    this; rank 0 alone writes, evaluates and returns the results (the others return {}).
    modules: your own frozen encoders to compare beside cfg.encoders, {name: nn.Module mapping float
    images (B, C, H, W) in [0, 1] to features (B, D)}, e.g. a network trained elsewhere.
    log: where progress goes: a function of one line (print), or a sslab.progress.Progress (live bars).
    The run's name is taken atomically: a second run of the same out_dir while one runs is refused."""
    out_dir = Path(out_dir)
    if cfg.seeds:
        return run_seeds(cfg, out_dir, log, resume)
    main = distributed.is_main()
    modules = dict(modules or {})
    clash = set(modules) & (set(cfg.encoders) | set(methods.REGISTRY))
    if clash:
        raise SslabError(f"a module's name clashes with a method or an encoder of the study: {', '.join(clash)}")
    if out_dir.exists():
        raise SslabError(f"run directory already exists: {out_dir}" + (" (the run is complete)" if resume else ""))
    check(cfg)
    device = resolve_device(cfg.device)
    images = load_images(cfg)
    proto = splits.protocol(cfg.protocol, label_fraction=cfg.label_fraction, n_labelled=cfg.n_labelled,
                            holdout=cfg.holdout)
    split = splits.make_split(images, proto, cfg.split_seed, cfg.train_fraction, cfg.val_fraction)
    the_plan = plan(cfg, images, split)
    the_plan.methods.update({name: methods.REGISTRY["pretrained"].Config() for name in modules})
    tmp = partial(out_dir)
    if resume and not tmp.is_dir():
        raise SslabError(f"nothing to resume: {tmp} does not exist")
    if main:
        if not resume:
            claim(tmp)
        try:
            (tmp / "encoders").mkdir(parents=True, exist_ok=True)
            (tmp / "study.toml").write_text(studies.to_toml(cfg))
        except OSError as e:
            raise SslabError(f"cannot write the run folder {tmp}: {e.strerror}") from None
    distributed.barrier()
    try:
        study = Study(cfg, the_plan, images, split, proto, device, tmp, log, modules)
        results = study.run()
        if main:
            with study.progress.task(_("drawing the figures and writing the report")):
                report.write(tmp, log=lambda problem: study.log("  " + _("warning: {text}").format(text=problem)))
            shutil.rmtree(tmp / "checkpoints", ignore_errors=True)
            tmp.rename(out_dir)
    except BaseException:
        if main and not resumable(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    return results


def run_seeds(cfg: StudyConfig, out_dir: str | Path, log: Callable[[str], None] | Progress = print,
              resume: bool = False) -> dict[str, Any]:
    """The study once per seed in cfg.seeds (out_dir/seed-<s>/, the same split: split_seed is kept), then
    their summary in out_dir (compare.json, report.html): every probe accuracy as mean and standard deviation
    with the per-seed points. A resumed run keeps the finished seeds and resumes the interrupted one."""
    from sslab import compare

    out_dir = Path(out_dir)
    if len(set(cfg.seeds)) != len(cfg.seeds):
        raise SslabError(f"a seed is listed twice: {cfg.seeds}")
    if out_dir.exists() and not resume:
        raise SslabError(f"run directory already exists: {out_dir}")
    check(cfg)
    if distributed.is_main():
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "study.toml").write_text(studies.to_toml(cfg))
    dirs = []
    for s in cfg.seeds:
        one = out_dir / f"seed-{s}"
        dirs.append(one)
        if one.is_dir():
            log(_("seed {seed}: finished earlier, kept").format(seed=s))
            continue
        log(_("[seed {k}/{n}] {seed}").format(k=len(dirs), n=len(cfg.seeds), seed=s))
        run(dataclasses.replace(cfg, seed=s, seeds=()), one, log, resume=resume and partial(one).is_dir())
    if not distributed.is_main():
        return {}
    summary = compare.write(out_dir, dirs, [_("seed {seed}").format(seed=s) for s in cfg.seeds],
                            _("{name}: {n} seeds").format(name=cfg.name, n=len(cfg.seeds)))
    return summary | {"seeds": list(cfg.seeds)}


def load_encoder(run_dir: str | Path, name: str, device: str | torch.device = "cpu") -> methods.Method:
    """A finished run's trained encoder `name`, rebuilt from its settings in results.json and its weights in
    encoders/, in eval mode: `train.extract(m, x)` gives its frozen features of uint8 images x (N, C, H, W)."""
    run_dir = Path(run_dir)
    try:
        results = json.loads((run_dir / "results.json").read_text())
        settings = results["config"]["methods"][name]
    except (OSError, ValueError):
        raise SslabError(f"{run_dir} holds no finished run (no readable results.json)") from None
    except KeyError:
        raise SslabError(f"{run_dir} has no encoder {name!r}; it has {', '.join(results['encoders'])}") from None
    method_name = methods.parse_encoder(name)[0]
    fields = {f.name for f in dataclasses.fields(methods.REGISTRY[method_name].Config)}
    cfg = methods.make_config(method_name, {k: v for k, v in settings.items() if k in fields})
    method = methods.create(name, cfg, tuple(results["data"]["image_shape"]), max(2, len(results["classes"])))
    if method.state_dict() and store.load(run_dir / "encoders", name, method) is None:
        raise SslabError(f"{run_dir / 'encoders' / name}.safetensors is missing or damaged")
    return method.to(device).eval()


def claim(tmp: Path) -> None:
    """Take a run's name: create its unfinished folder, atomically, so two runs of one name cannot share (or
    delete) one folder; the second is refused."""
    try:
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
    except FileExistsError:
        final = tmp.with_name(tmp.name.removesuffix(".partial"))
        raise SslabError(f"{tmp} exists: a run of this name is running, or one was stopped; resume it with "
                         f"sslab run --resume {final}, remove it, or choose another --name") from None
    except OSError as e:
        raise SslabError(f"cannot write the run folder {tmp}: {e.strerror}") from None


def partial(out_dir: Path) -> Path:
    """Where a run is written until it is complete."""
    return out_dir.with_name(out_dir.name + ".partial")


def resumable(tmp: Path) -> bool:
    """True when an unfinished run folder holds work worth resuming: a checkpoint or a finished encoder."""
    return any((tmp / "checkpoints").glob("*.safetensors")) or any((tmp / "encoders").glob("*.json"))


class Study:
    """One run: the trained methods, their cached features, and what the analyses read from them."""

    def __init__(self, cfg: StudyConfig, plan: Plan, images: Images, split: splits.Split, proto: splits.Protocol,
                 device: torch.device, out: Path, log: Callable[[str], None] | Progress,
                 modules: dict[str, torch.nn.Module] | None = None):
        self.cfg, self.plan, self.images, self.split, self.proto = cfg, plan, images, split, proto
        self.modules = modules or {}  # the caller's own frozen encoders, by name
        self.device, self.out = device, out
        self.progress = as_progress(log)  # stages, live tasks, and the log lines
        self.log = self.progress.log
        # a memory-mapped dataset (sslab prepare) stays on disk: batches are read from it, a chunk at a time
        self.x = images.x if images.mapped else images.x.to(device)
        self.chunk = max(1, (256 << 20) // max(1, images.x[0].numel())) if images.mapped else 0  # ~256 MB
        self.class_names = [images.class_names[c] for c in split.classes]  # the main task's classes
        counts = torch.bincount(split.y[split.test], minlength=len(split.classes))
        self.chance = float(counts.max()) / len(split.test)  # the majority class's share of the test images
        parts = [split.labelled, split.val, split.test]
        if split.transfer is not None:
            parts += [split.transfer.train, split.transfer.test]
        self.evaluated = torch.unique(torch.cat(parts))  # the images whose features the probes and analyses read
        self._row = torch.full((len(images),), -1, dtype=torch.int64)
        self._row[self.evaluated] = torch.arange(len(self.evaluated))
        self.methods: dict[str, methods.Method] = {}  # encoder -> its trained method
        self.h: dict[str, torch.Tensor] = {}  # encoder -> (len(evaluated), D) frozen features
        self.results: dict[str, dict[str, Any]] = {}  # encoder -> its probes' results
        self.figures: dict[str, plots.Plot] = {}  # figure key -> what to draw (saved as data, drawn by the report)
        self.method_figures: dict[str, dict] = {}  # figure key -> {"encoder", "caption"}, of those methods draw
        self.timings: dict[str, float] = {}
        self.cached: dict[str, str] = {}  # encoder (and retraining) label -> where its trained weights came from
        self._data_digest: str | None = None
        self.step = "starting"

    # --- what the analyses use ----------------------------------------------------------------------

    def features(self, name: str, idx: torch.Tensor) -> torch.Tensor:
        """Cached frozen features of encoder `name` for the images at idx (among the evaluated ones)."""
        rows = self._row[idx]
        if (rows < 0).any():
            raise ValueError("features were cached for the labelled, validation and test images only")
        return self.h[name][rows]

    def encode(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Features of other uint8 images (e.g. generated pairs) with trained encoder `name`."""
        return extract(self.methods[name], x.to(self.device), self.cfg.precision)

    def uses_labels(self, name: str) -> bool:
        if name in self.modules:
            return False
        return methods.REGISTRY[methods.parse_encoder(name)[0]].uses_labels

    def sort_keys(self) -> dict[str, tuple[torch.Tensor, tuple[str, ...]]]:
        """Ways to group the images: each varying latent factor, then the class. name -> ((N,) labels, names)."""
        keys = {}
        f = self.images.factors
        if f is not None:
            for k, name in enumerate(f.names):
                if f.sizes[k] > 1:
                    keys[name] = (f.classes(name), f.level_names[k])
        keys[N_("class")] = (self.split.y, tuple(self.class_names))  # N_: translated where it is shown
        return keys

    def retrain_and_probe(self, name: str, idx: torch.Tensor, y: torch.Tensor, epoch_scale: float, tag: str) -> float:
        """Train encoder `name` afresh on the images at idx with labels y (N,) (its recipe's epochs x
        epoch_scale), fit a linear probe on their features, and return its accuracy on the test images."""
        mcfg = self.plan.methods[name]
        if mcfg.epochs:
            mcfg = dataclasses.replace(mcfg, epochs=max(1, round(mcfg.epochs * epoch_scale)))
        method, _history = self.train_encoder(name, mcfg, idx, y, tag)
        test = self.split.test
        h_fit = extract(method, self.x, self.cfg.precision, idx=idx.to(self.device))
        h_test = extract(method, self.x, self.cfg.precision, idx=test.to(self.device))
        return self.new_probe().fit(h_fit, y[idx]).score(h_test, y[test])

    def new_probe(self):
        """A fresh, unfitted linear probe of the study's kind (cfg.probe)."""
        return PROBES[self.cfg.probe](self.cfg.probe_C)

    def finetune(self, name: str, idx: torch.Tensor, y: torch.Tensor, test: torch.Tensor, cfg: FinetuneConfig,
                 variant: str | None = None, val: torch.Tensor | None = None) -> tuple[float, Any, float | None]:
        """Fine-tune a copy of trained encoder `name` (or its `variant`) with a new linear head on the
        images at idx with labels y (N,); -> (accuracy, (k, k) confusion counts) on the images at test,
        and the accuracy on the images at val (None without any)."""
        label = name + (f" ({variant})" if variant else "")
        self.step = f"fine-tuning {label}"
        torch.manual_seed(self.cfg.seed)  # the new head's initialisation
        gen = torch.Generator(self.device).manual_seed(self.cfg.seed)
        model = finetune(self.methods[name], self.x, y.to(self.device), idx, cfg, gen, self.cfg.precision, variant)
        acc, confusion = score(model, self.x, y, test, self.cfg.precision)
        on_val = score(model, self.x, y, val, self.cfg.precision)[0] if val is not None and len(val) else None
        return acc, confusion, on_val

    # --- training -------------------------------------------------------------------------------------

    def train_encoder(self, name: str, mcfg: methods.TrainConfig, idx: torch.Tensor, y: torch.Tensor,
                      tag: str = "", main: bool = False) -> tuple[methods.Method, list]:
        """Build `name` and train it on the images at idx (labels y (N,), read by label-using methods only),
        starting from the study's seed; or load it, finished, from the run folder (a resumed run) or the
        encoder cache. main: one of the study's own encoders (checkpointed, stored in the run folder, trained
        by every rank under torchrun), not an analysis's retraining."""
        torch.manual_seed(self.cfg.seed)  # each encoder starts from the same seed, whichever others ran
        gen = torch.Generator(self.device).manual_seed(self.cfg.seed)
        n_classes = max(2, int(y.max()) + 1)  # the task's classes, whichever the training images hold
        if name in self.modules:
            method = methods.REGISTRY["pretrained"].wrap(self.modules[name]).to(self.device)
        else:
            method = methods.create(name, mcfg, self.images.shape, n_classes).to(self.device)
        label = f"{name}{tag}"
        self.step = f"training {label}"
        if not mcfg.epochs or name in self.modules:
            return method, fit(method, self.x, y.to(self.device), gen, self.cfg.precision, idx=idx.to(self.device))
        key = self.cache_key(name, mcfg, idx, y, n_classes)
        meta, source = (store.load(self.out / "encoders", name, method), N_("the run folder")) if main else (None, "")
        if meta is None and self.cfg.cache and not self.cfg.force:
            meta, source = store.load(store.cache_dir(), key, method), N_("the cache")
        if distributed.world()[1] > 1 and main:  # every rank trains, or none: rank 0's finding decides
            meta = distributed.broadcast(meta)
            if meta is not None and not distributed.is_main():
                store.load(self.out / "encoders", name, method) or store.load(store.cache_dir(), key, method)
        if meta is not None:
            self.log("  " + _("{label}: trained encoder loaded from {source} ({key}): {epochs} epochs, {seconds} s "
                              "when trained").format(label=label, source=_(source), key=key[:12], epochs=mcfg.epochs,
                                                     seconds=f"{meta.get('train_seconds', 0):.0f}"))
            self.cached[label] = source
            if main and source == "the cache" and distributed.is_main():  # the run folder holds all its encoders
                store.save(self.out / "encoders", name, method, meta)
            method.eval()
            return method, meta["history"]
        self.log("  " + _("{label}: training {epochs} epochs on {n} images").format(
            label=label, epochs=mcfg.epochs, n=f"{len(idx):,}"))
        done = {"seconds": 0.0}

        def progress(epoch: int, epochs: int, rec: dict[str, float]) -> None:
            took, done["seconds"] = rec["seconds"] - done["seconds"], rec["seconds"]  # rec's is cumulative
            logs = "  ".join(f"{k} {v:.4g}" for k, v in rec.items() if k != "seconds")
            left = took * (epochs - epoch)
            if not tag or epoch == epochs:  # retraining runs log their last epoch only
                self.log("  " + _("{label} epoch {epoch}/{epochs}  {logs}  {took} s, {left} left").format(
                    label=label, epoch=epoch, epochs=epochs, logs=logs, took=f"{took:.1f}",
                    left=duration(left)))

        cfg, safe = self.cfg, label.replace(" ", "_")
        loop = Loop(precision=cfg.precision, channels_last=cfg.channels_last, compile=cfg.compile,
                    sync_bn=cfg.sync_bn, distributed=main, checkpoint_every=cfg.checkpoint_every, chunk_images=self.chunk,
                    checkpoint=self.out / "checkpoints" / f"{name}.safetensors" if main else None,
                    metrics=self.out / "metrics" / f"{safe}.jsonl",
                    tensorboard=self.out / "tensorboard" / safe if cfg.tensorboard else None)
        if loop.checkpoint is not None and loop.checkpoint.exists():
            from sslab.checkpoint import read_meta

            self.log("  " + _("{label}: resuming at epoch {epoch} from {path}").format(
                label=label, epoch=read_meta(loop.checkpoint)["epoch"] + 1, path=loop.checkpoint))
        t0 = time.perf_counter()
        with self.progress.task(_("training {label}").format(label=label), unit=_("steps")) as task:
            history = fit(method, self.x, y.to(self.device), gen, cfg.precision, progress, idx=idx.to(self.device),
                          loop=loop, steps=lambda done, total: task.update(done, total))
        if distributed.is_main():
            meta = {"encoder": name, "key": key, "history": history, "train_seconds": time.perf_counter() - t0,
                    "sslab": __version__}
            if cfg.cache:
                store.save(store.cache_dir(), key, method, meta)
            if main:
                store.save(self.out / "encoders", name, method, meta)
                (self.out / "checkpoints" / f"{name}.safetensors").unlink(missing_ok=True)
        return method, history

    def cache_key(self, name: str, mcfg: methods.TrainConfig, idx: torch.Tensor, y: torch.Tensor, n_classes: int) -> str:
        """What determines a trained encoder's weights, hashed (see sslab.store): the data, its training images
        and (for a label-using method) their labels, the method and its settings, the seed, the precision, the
        loop's layout and order options, the version."""
        if self._data_digest is None:
            self._data_digest = store.digest(self.images.x)
        idx = idx.cpu()
        return store.key({"data": self._data_digest, "images": store.digest(idx), "name": name,
                          "labels": store.digest(y.cpu()[idx]) if self.uses_labels(name) else None,
                          "method": dataclasses.asdict(mcfg), "shape": self.images.shape, "classes": n_classes,
                          "seed": self.cfg.seed, "precision": self.cfg.precision, "channels_last": self.cfg.channels_last,
                          "compile": self.cfg.compile, "chunk": self.chunk, "sslab": __version__})

    # --- the study ------------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        try:
            return self._run()
        except torch.OutOfMemoryError:
            raise SslabError(f"out of memory while {self.step} on {self.device}: use a smaller batch "
                             f"(--set METHOD.batch_size=...), fewer images (--n-images) or smaller ones "
                             f"(--image-size)") from None
        except (RuntimeError, FloatingPointError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise SslabError(f"while {self.step}: {first}") from e

    def _run(self) -> dict[str, Any]:
        cfg, images, split, start = self.cfg, self.images, self.split, time.perf_counter()
        sizes = split.sizes()
        self.log(_("data: {source} ({format}): {n} images of {shape}; {k} classes; {sizes}; device {device}").format(
            n=f"{len(images):,}", shape="x".join(map(str, images.shape)), source=images.source, format=images.format,
            k=len(self.class_names), sizes=", ".join(f"{k} {v}" for k, v in sizes.items()), device=self.device))
        for note in split.notes:
            self.log(f"  {i18n.text(note)}")
        for name, reason in self.plan.skipped.items():
            self.log("  " + _("analysis {name} skipped: {reason}").format(name=name, reason=i18n.text(reason)))
        histories, confusions, recon = {}, {}, {}
        shown = split.test[_spread(split.y[split.test], 8, cfg.seed)]  # test images drawn in figures
        n_enc = len(self.plan.methods)
        for k, (name, mcfg) in enumerate(self.plan.methods.items(), 1):
            self.log(_("[encoder {k}/{n}] {name}").format(k=k, n=n_enc, name=name))
            t0 = time.perf_counter()
            labelled = self.uses_labels(name)
            idx = split.labelled if labelled else split.pretrain
            method, histories[name] = self.train_encoder(name, mcfg, idx, split.y, main=True)
            t_train = time.perf_counter() - t0
            if not distributed.is_main():
                continue  # the other ranks only help train: rank 0 evaluates, analyses and writes
            self.methods[name] = method
            self.step = f"encoding images with {name}"
            with self.progress.task(_("encoding {n} images with {name}").format(n=f"{len(self.evaluated):,}",
                                                                                name=name)):
                self.h[name] = h = extract(method, self.x, cfg.precision, idx=self.evaluated.to(self.device))
            self.step = f"probing {name}"
            with self.progress.task(_("fitting the probes on {name}'s {dim}-d features").format(name=name,
                                                                                               dim=h.shape[1])):
                self.results[name] = self.probe(name, h)
            self.results[name] |= {"method": method.name, "trained_on": len(idx),
                                   "train_seconds": round(t_train, 2), "seconds": round(time.perf_counter() - t0, 2)}
            confusions[name] = self.results[name].pop("confusion")
            for key, fn in method.variants().items():  # e.g. above SimCLR's head, DINO's teacher: probes only
                self.step = f"probing {name} ({key})"
                hv = extract(method, self.x, cfg.precision, idx=self.evaluated.to(self.device), features=fn)
                variant = self.probe(name, hv)
                variant.pop("confusion")
                self.results[name].setdefault("variants", {})[key] = variant
                self.log("  " + _("{name} ({key}): linear probe val {val}  test {test}  kNN test {knn}").format(
                    name=name, key=_(key), val=_pct(variant["val_accuracy"]), test=_pct(variant["test_accuracy"]),
                    knn=_pct(variant["knn_accuracy"])))
            for key, (plot, caption) in method.figures().items():  # e.g. PCA's components
                self.figures[f"{name}_{key}"] = plot
                self.method_figures[f"{name}_{key}"] = {"encoder": name, "caption": caption}
            if hasattr(method, "reconstruct"):
                with torch.no_grad():
                    x_show = self.x[shown.to(self.x.device)].to(self.device)
                    recon[name] = method.reconstruct(x_show.float().div(255)).float().cpu()
            if not mcfg.epochs and method.state_dict():  # trained ones are stored as they finish training
                store.save(self.out / "encoders", name, method, {"encoder": name, "history": []})
            if name in self.cached:
                self.results[name]["from"] = self.cached[name]
            r = self.results[name]
            self.log("  " + _("{name}: linear probe train {train}  val {val}  test {test}  kNN test {knn}  "
                              "({seconds} s)").format(
                name=name, train=_pct(r["train_accuracy"]), val=_pct(r["val_accuracy"]), test=_pct(r["test_accuracy"]),
                knn=_pct(r["knn_accuracy"]), seconds=f"{r['seconds']:.0f}")
                + "".join("\n  " + _("warning: {text}").format(text=i18n.text(w)) for w in r["warnings"]))
        self.timings[N_("encoders")] = round(time.perf_counter() - start, 1)
        if not distributed.is_main():
            return {}

        results: dict[str, Any] = {
            "study": cfg.name, "data": self.describe_data(), "split": sizes | {"notes": list(split.notes)},
            "protocol": dataclasses.asdict(self.proto), "classes": self.class_names,
            "target": cfg.target or "class", "chance": self.chance,
            "chance_note": "the majority class's share of the test images",
            "n_train": len(split.pretrain), "n_probe": len(split.labelled), "n_val": len(split.val),
            "n_test": len(split.test), "encoders": self.results, "histories": histories,
            "confusion": {k: v.tolist() for k, v in confusions.items()}, "skipped": dict(self.plan.skipped),
        }
        saved: list[str] = []  # figures already written, by the analyses as they finish
        n_an = len(self.plan.analyses)
        for k, (key, acfg) in enumerate(self.plan.analyses.items(), 1):
            stage = _("[analysis {k}/{n}] {name}").format(k=k, n=n_an, name=key)
            done = self.out / "analyses" / f"{key}.json"
            if done.is_file():  # a resumed run keeps what it finished
                kept = json.loads(done.read_text())
                results[key], self.timings[key] = kept["results"], kept["seconds"]
                saved += kept["figures"]
                self.log(stage + ": " + _("kept from the interrupted run"))
                continue
            t0 = time.perf_counter()
            self.step = f"running the {key} analysis"
            self.log(stage)
            before = set(self.figures)
            with self.progress.task(_("running the {name} analysis").format(name=key)):
                results[key] = analyses.REGISTRY[key].run(self, acfg)
            self.timings[key] = round(time.perf_counter() - t0, 1)
            new = [k for k in self.figures if k not in before]
            for k in new:
                plots.save_plot(self.figures.pop(k), self.out / "figures" / k)
            saved += new
            done.parent.mkdir(exist_ok=True)
            done.write_text(json.dumps({"results": results[key], "seconds": self.timings[key], "figures": new},
                                       default=str))
            self.log("  " + _("{name} done ({seconds} s)").format(name=key, seconds=f"{self.timings[key]:.0f}"))

        self.step = "drawing the figures"
        self.pictures(histories, confusions, shown, recon)
        for key, plot in self.figures.items():
            plots.save_plot(plot, self.out / "figures" / key)
        figures = [k for k in self.figures] + saved
        results |= {
            "recipe_epochs": self.plan.recipe_epochs, "shortened": self.shortened(),
            "cached": dict(self.cached),
            "figures": {k: f"figures/{k}" for k in figures},
            "method_figures": self.method_figures,
            "timings": self.timings,
            "seconds": round(time.perf_counter() - start, 1),
            "config": dataclasses.asdict(self.cfg) | {
                "methods": {k: dataclasses.asdict(v) for k, v in self.plan.methods.items()},
                "analysis_settings": {k: dataclasses.asdict(v) for k, v in self.plan.analyses.items()},
                "views": self.plan.views, "default_encoder": self.plan.encoder},
            "environment": {"sslab": __version__, "torch": torch.__version__, "python": platform.python_version(),
                            "device": str(self.device), "threads": torch.get_num_threads(), "argv": sys.argv},
        }
        (self.out / "results.json").write_text(json.dumps(results, indent=2, default=str))
        return results

    def probe(self, name: str, h: torch.Tensor) -> dict[str, Any]:
        """Linear and kNN probes fitted on the labelled images' features; accuracy on train, val and test."""
        split, rows = self.split, self._row
        h_fit, y_fit = h[rows[split.labelled]], split.y[split.labelled]
        h_val, h_test = h[rows[split.val]], h[rows[split.test]]
        y_val, y_test = split.y[split.val], split.y[split.test]
        linear = self.new_probe().fit(h_fit, y_fit)
        knn = KNNProbe().fit(h_fit, y_fit)
        warnings = []
        if not getattr(linear, "converged_", True):
            warnings.append(N_("the linear probe stopped at its {n}-iteration cap before converging").format(
                n=linear.max_iter))
        if len(linear.classes_) < 2:
            warnings.append(N_("the probe saw a single class: its accuracy means nothing"))
        if _collapsed(h_test):
            warnings.append(N_("collapsed: every test image has the same features"))
        return {
            "train_accuracy": linear.score(h_fit, y_fit),
            "val_accuracy": linear.score(h_val, y_val) if len(split.val) else None,
            "test_accuracy": linear.score(h_test, y_test),
            "knn_accuracy": knn.score(h_test, y_test),
            "knn_val_accuracy": knn.score(h_val, y_val) if len(split.val) else None,
            "feature_dim": h.shape[1], "probe_iterations": getattr(linear, "n_iter_", None), "warnings": warnings,
            "confusion": linear.confusion(h_test, y_test),
        }

    def shortened(self) -> list[str]:
        """Why this run's numbers are not the study's: a smoke test, or fewer epochs than the recipes (English)."""
        cfg, out = self.cfg, []
        if cfg.quick:
            out.append(N_("--quick: {n} images and {epochs} epochs per trained encoder").format(
                n=len(self.images), epochs=cfg.epochs or QUICK_EPOCHS))
        elif cfg.epochs and any(cfg.epochs < e for e in self.plan.recipe_epochs.values()):
            out.append(N_("--epochs {epochs}: fewer epochs than the recipes ({recipe})").format(
                epochs=cfg.epochs, recipe=", ".join(f"{k} {v}" for k, v in self.plan.recipe_epochs.items() if v)))
        return out

    def describe_data(self) -> dict[str, Any]:
        """What results.json records of the data: where it came from and what it holds."""
        im = self.images
        out = {"source": im.source, "format": im.format, "image_shape": list(im.shape), "n_images": len(im),
               "splits": {k: len(v) for k, v in im.splits.items()} or {"all": len(im)},
               "class_names": list(im.class_names),
               "class_counts": dict(zip(im.class_names, im.class_counts())),
               "unlabelled": int((~im.labelled).sum())}
        if im.factors is not None:
            out["factors"] = {n: s for n, s in zip(im.factors.names, im.factors.sizes)}
        return out

    def pictures(self, histories, confusions, shown, recon) -> None:
        """The figures every study draws: data gallery, views, training curves, confusions, reconstructions."""
        images, cfg, split = self.images, self.cfg, self.split
        g = torch.Generator().manual_seed(cfg.seed)
        pick = split.train[torch.randperm(len(split.train), generator=g)[:16]].sort().values
        if images.factors is not None and images.factors.describe is not None:
            captions, points = images.factors.describe(images.factors.values[pick])
        else:
            captions, points = [images.class_names[c] if c >= 0 else "unlabelled" for c in images.y[pick].tolist()], None
        self.figures["gallery"] = plots.later(plots.gallery, images.x[pick], captions, points)
        recipe, g = views.build(self.plan.views), torch.Generator().manual_seed(cfg.seed)
        x = images.x[shown]
        self.figures["augmented_pairs"] = plots.later(plots.image_rows, [plots.to_float(x), recipe(x, g), recipe(x, g)],
                                                      [N_("image"), N_("view 1"), N_("view 2")])
        if any(histories.values()):
            self.figures["loss_curves"] = plots.later(plots.loss_curves, {k: v for k, v in histories.items() if v})
        self.figures["confusion"] = plots.later(plots.confusions, confusions, self.class_names)
        if recon:
            self.figures["reconstructions"] = plots.later(plots.image_rows, [plots.to_float(x), *recon.values()],
                                                          [N_("image"), *recon])


def _spread(y: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """n positions into y, classes taken in turn, so a figure shows every class it can."""
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(y), generator=g)
    rank = torch.zeros(len(y), dtype=torch.int64)
    for c in torch.unique(y):
        mine = order[y[order] == c]
        rank[mine] = torch.arange(len(mine))
    return order[torch.argsort(rank[order] * (int(y.max()) + 2) + y[order], stable=True)][:n]


def _collapsed(h: torch.Tensor) -> bool:
    """True when the features hardly vary between images: all of them sit at one point."""
    spread = h.float().std(0).norm()
    return bool(spread <= 1e-4 * (h.float().mean(0).norm() + spread) or spread < 1e-8)


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2%}"
