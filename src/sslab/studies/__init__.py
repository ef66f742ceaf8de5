"""Named studies: one TOML file each in this folder, registered under its file name (`sslab studies`).

A study file holds StudyConfig fields at the top level and method, encoder or analysis settings in
`[set.<name>]` tables (the file form of `--set name.setting=value`; see sslab.study.config):

    name = "dsprites"
    description = "What do supervised, generative and contrastive encoders keep of dSprites?"
    encoders = ["raw", "random", "supervised", "vae", "simclr", "simclr-2neg"]

    [set.simclr]
    temperature = 0.1

`sslab run NAME` runs a named study, `sslab run path/to/study.toml` a file, and `--print-config`
prints the resolved study in the same form, so a study is saved, shared and re-run exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sslab.errors import SslabError
from sslab.study.config import read_toml

HERE = Path(__file__).parent


def names() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.toml"))


def find(name_or_path: str) -> Path:
    """A study name (`dsprites`) or a path to a .toml file -> the file."""
    path = Path(name_or_path)
    if path.suffix == ".toml":
        if not path.is_file():
            raise SslabError(f"study file not found: {path}")
        return path
    if (HERE / f"{name_or_path}.toml").is_file():
        return HERE / f"{name_or_path}.toml"
    raise SslabError(f"unknown study {name_or_path!r}; studies: {', '.join(names())} (or a path to a .toml file)")


def read(name_or_path: str) -> dict[str, Any]:
    """The StudyConfig fields a named study or a study file sets (its [set.*] tables as `overrides`)."""
    return read_toml(find(name_or_path))
