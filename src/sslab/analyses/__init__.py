"""The analysis registry: one module per analysis, registered under its file name (= its CLI name).

An analysis works on a finished study's cached features (and may train again, e.g. `labels`). A module has
  QUESTION   the report section it answers ("What do the encoders keep?");
  ORDER      where it runs and appears (lower first);
  NEEDS      what the data must offer: "factors" (latent factors), "renderer" (images drawn from
             factor values), "holdout" (classes held out for transfer), "shape+posX" style factor names;
  Config     a frozen dataclass of its settings (`--set similarity.rsm_images=500`);
  FIGURES    {figure key: caption} for the report;
  run(ctx, cfg) -> (results, figures)   its results (JSON-able) and {figure key: plots.later(...)}; ctx is
             what it reads of the study (sslab.analyses.base.Context);
  table(results, encoders) -> str | dict  optional HTML above its first figure (or {figure: HTML});
  requires() -> str | None  optional: a reason it cannot run here (e.g. a missing package), checked before training;
  unavailable(cfg) -> str | None  optional: a reason its settings leave it nothing to do (it is then skipped);
  validate(cfg, images)  optional: raise SslabError for settings that cannot work on these images;
  DEFAULT    optional, False: runs only when a study names it (or `--analyses all`);
  QUICK      optional {setting: value}: its smaller budget under --quick (a user's --set still wins); None: left
             out of --quick's default analyses (run when named, or given a setting).
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any

from sslab.settings import configure
from sslab.i18n import N_

_MEMBERS = [importlib.import_module(f"{__name__}.{m.name}") for m in pkgutil.iter_modules(__path__)]
REGISTRY: dict[str, ModuleType] = {m.__name__.rsplit(".", 1)[-1]: m for m in sorted(
    (m for m in _MEMBERS if hasattr(m, "QUESTION")), key=lambda m: m.ORDER)}
NAMES = tuple(REGISTRY)
DEFAULTS = tuple(n for n, m in REGISTRY.items() if getattr(m, "DEFAULT", True))  # a study's analyses unless it names them

_REASONS = {
    "factors": N_("the data has no latent factors (generated data such as dSprites has them)"),
    "renderer": N_("the data has no renderer to draw images that differ in one factor (dSprites has one)"),
    "holdout": N_("no classes are held out (use --protocol lab, or --holdout, with 3 or more classes)"),
}


def missing(name: str, images: Any, split: Any) -> str | None:
    """Why analysis `name` cannot run on this data, or None when it can."""
    for need in REGISTRY[name].NEEDS:
        if need == "factors" and images.factors is None or \
           need == "renderer" and (images.factors is None or images.factors.render is None) or \
           need == "holdout" and split.transfer is None:
            return _REASONS[need]
        if "+" in need:  # named factors, e.g. "shape+posX"
            names = need.split("+")
            have = () if images.factors is None else images.factors.names
            if not set(names) <= set(have):
                return N_("the data has no latent factors {names} (dSprites has them)").format(names=" and ".join(names))
    return None


def config(name: str, overrides: dict[str, Any]) -> Any:
    """The analysis's Config with overrides applied (read as every setting is: sslab.settings)."""
    return configure(REGISTRY[name].Config, overrides, name, f"analysis {name}")
