"""A study's settings: StudyConfig (every field in a study file, most on the command line), the Plan that
resolves them against the data before any training, and a study's file form (TOML, read and written here).

A study file holds StudyConfig fields at the top level and method, encoder or analysis settings in
`[set.<name>]` tables (the file form of `--set name.setting=value`):

    name = "dsprites"
    encoders = ["raw", "random", "supervised", "vae", "simclr", "simclr-2neg"]

    [set.simclr]
    temperature = 0.1
"""

from __future__ import annotations

import ast
import dataclasses
import sys
import typing
from pathlib import Path
from typing import Any

from sslab import analyses, methods
from sslab.errors import SslabError
from sslab.online import MonitorConfig
from sslab.settings import coerce

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DEFAULT_ENCODERS = ("raw", "random", "supervised", "vae", "simclr", "simclr-2neg")
EMBEDDED_IMAGES = 20_000  # the dSprites subset generated when no data is given (the tutorial's size)
QUICK_IMAGES, QUICK_EPOCHS = 2000, 3


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
    quick: bool = False  # smoke-test profile: 2,000 images, 3 epochs per trained encoder (over any epochs setting), smaller analyses
    quick_images: int = QUICK_IMAGES  # the images a --quick run keeps (a study of a costly network keeps fewer)
    epochs: int | None = None  # train every trained encoder for this many epochs (None: its recipe; over --set)
    overrides: tuple[str, ...] = ()  # "name.setting=value" for a method, encoder, analysis or the monitor
    precision: str = "auto"  # "bf16" autocast, "fp32", or "auto": bf16 where the device computes in it natively
    device: str = "auto"  # "auto" (cuda if present), "cpu", "cuda", "cuda:1", ...
    probe: str = "lbfgs"  # the linear probe: lbfgs (converged logistic regression), tutorial or uva (sslab.probes)
    probe_C: float = 1.0  # inverse L2 strength of the lbfgs probe (the other probes take no C)
    knn_k: int = 20  # neighbours that vote in the kNN probe (and the online kNN while training)
    knn_temperature: float = 0.07  # each vote weighs exp(cosine similarity / this)
    channels_last: bool = True  # train the networks in NHWC layout (1.9x faster for the dSprites SimCLR step here)
    compile: bool = False  # torch.compile each training step's model side (a minute of compilation first)
    parallel: bool = True  # on a CPU with 2+ threads: a second process trains the later encoders meanwhile
    sync_bn: bool = False  # under torchrun on GPUs: BatchNorm statistics over the global batch
    checkpoint_every: int = 1  # epochs between training checkpoints in the run folder (for --resume)
    keep_every: int = 0  # > 0: keep each trained encoder's weights every this many epochs (snapshots/<encoder>/)
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
    precision: str = "fp32"  # the precision the networks run in ("auto" resolved for the device)
    monitor: MonitorConfig = dataclasses.field(default_factory=MonitorConfig)  # the online kNN while training


def read_toml(path: Path) -> dict[str, Any]:
    """The StudyConfig fields a study file sets (its [set.*] tables as `overrides`)."""
    try:
        raw = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise SslabError(f"{path}: not valid TOML ({e})") from None
    except OSError as e:
        raise SslabError(f"{path}: cannot read ({e.strerror})") from None
    sets = raw.pop("set", {})
    if not isinstance(sets, dict) or not all(isinstance(v, dict) for v in sets.values()):
        raise SslabError(f"{path}: [set.<name>] tables must hold settings, e.g. [set.simclr] temperature = 0.1")
    fields = [f.name for f in dataclasses.fields(StudyConfig) if f.name != "overrides"]
    hints = typing.get_type_hints(StudyConfig)
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in fields:
            raise SslabError(f"{path}: unknown study setting {key!r}; settings: {', '.join(fields)}, "
                             f"and [set.<name>] tables")
        out[key] = coerce(f"{path.name}: {key}", value, hints[key])
    out["overrides"] = tuple(f"{owner}.{k}={_literal(v)}" for owner, table in sets.items() for k, v in table.items())
    return out


def to_toml(cfg: StudyConfig) -> str:
    """A StudyConfig as a study file (fields at their default are written too, so the file is complete)."""
    lines = ["# sslab study, resolved: re-run it with `sslab run THIS_FILE.toml`"]
    sets: dict[str, dict[str, str]] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name == "overrides":
            for item in value:
                key, _sep, v = item.partition("=")
                owner, _dot, setting = key.partition(".")
                sets.setdefault(owner.strip(), {})[setting.strip()] = v.strip()
        elif value is None:
            lines.append(f"# {f.name} = (not set)")
        else:
            lines.append(f"{f.name} = {_toml_value(value)}")
    for owner, table in sets.items():
        lines += ["", f"[set.{_key(owner)}]"]
        lines += [f"{k} = {_toml_value(_parse(v))}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def _literal(v: Any) -> str:
    """A TOML value -> the --set string that coerce() parses back to it."""
    return repr(tuple(v)) if isinstance(v, list) else repr(v) if isinstance(v, str) else str(v)


def _parse(v: str) -> Any:
    try:
        return ast.literal_eval({"true": "True", "false": "False"}.get(v.lower(), v))
    except (ValueError, SyntaxError):
        return v


def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else f'"{k}"'


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")
