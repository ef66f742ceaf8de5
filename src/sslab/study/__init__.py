"""A study: train or build each encoder on the same images, freeze it, probe it, analyse it, draw it.

`run(StudyConfig(...), out_dir)` is a whole study as a function; `sslab run` is a thin shell on it. The
package is the study's stages, one file each, read in the order they run:

    config      StudyConfig, the Plan, the study file's TOML form
    resolve     check the settings, load and split the images, resolve every setting (the Plan)
    folder      the run folder: claimed atomically, resumable, read back (load_encoder)
    encoders    train an encoder on the one loop, or load it from the run folder or the encoder cache
    context     one run's trained encoders and cached features: what the analyses read
    evaluation  the linear and kNN probes every encoder gets
    stages      encoders, analyses, pictures: the study's stages
    runner      run and run_seeds: the stages in order, results.json and the report
"""

from sslab.study.config import DEFAULT_ENCODERS, EMBEDDED_IMAGES, QUICK_EPOCHS, QUICK_IMAGES, Plan, StudyConfig
from sslab.study.folder import claim, load_encoder, partial, resumable
from sslab.study.resolve import check, load_images, make_split, parse_overrides, plan
from sslab.study.runner import run, run_seeds

__all__ = ["StudyConfig", "Plan", "DEFAULT_ENCODERS", "EMBEDDED_IMAGES", "QUICK_IMAGES", "QUICK_EPOCHS", "run",
           "run_seeds", "check", "load_images", "make_split", "parse_overrides", "plan", "load_encoder", "claim",
           "partial", "resumable"]
