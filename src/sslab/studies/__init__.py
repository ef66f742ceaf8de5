"""Named studies: one TOML file each in this folder, registered under its file name (`sslab studies`).

A study file holds StudyConfig fields at the top level and method, encoder or analysis settings in
`[set.<name>]` tables (the file form of `--set name.setting=value`):

    name = "dsprites"
    description = "What do supervised, generative and contrastive encoders keep of dSprites?"
    encoders = ["raw", "random", "supervised", "vae", "simclr", "simclr-2neg"]

    [set.simclr]
    temperature = 0.1

`sslab run NAME` runs a named study, `sslab run path/to/study.toml` a file, and `--print-config`
prints the resolved study in the same form, so a study is saved, shared and re-run exactly.
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from pathlib import Path
from typing import Any

from sslab.errors import SslabError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

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
    """The StudyConfig fields a study file sets (its [set.*] tables as `overrides`)."""
    from sslab.study import StudyConfig

    path = find(name_or_path)
    try:
        raw = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise SslabError(f"{path}: not valid TOML ({e})") from None
    sets = raw.pop("set", {})
    if not isinstance(sets, dict) or not all(isinstance(v, dict) for v in sets.values()):
        raise SslabError(f"{path}: [set.<name>] tables must hold settings, e.g. [set.simclr] temperature = 0.1")
    fields = {f.name: f for f in dataclasses.fields(StudyConfig)}
    hints = typing.get_type_hints(StudyConfig)
    from sslab.methods import coerce

    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in fields or key == "overrides":
            raise SslabError(f"{path}: unknown study setting {key!r}; settings: "
                             f"{', '.join(k for k in fields if k != 'overrides')}, and [set.<name>] tables")
        out[key] = coerce(f"{path.name}: {key}", value, hints[key])
    out["overrides"] = tuple(f"{owner}.{k}={_literal(v)}" for owner, table in sets.items() for k, v in table.items())
    return out


def _literal(v: Any) -> str:
    """A TOML value -> the --set string that coerce() parses back to it."""
    return repr(tuple(v)) if isinstance(v, list) else repr(v) if isinstance(v, str) else str(v)


def to_toml(cfg: Any) -> str:
    """A StudyConfig as a study file (fields at their default are written too, so the file is complete)."""
    lines = [f"# sslab study, resolved: re-run it with `sslab run THIS_FILE.toml`"]
    sets: dict[str, dict[str, str]] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name == "overrides":
            for item in value:
                key, _, v = item.partition("=")
                owner, _, setting = key.partition(".")
                sets.setdefault(owner.strip(), {})[setting.strip()] = v.strip()
            continue
        if value is None:
            lines.append(f"# {f.name} = (not set)")
            continue
        lines.append(f"{f.name} = {_toml_value(value)}")
    for owner, table in sets.items():
        lines += ["", f"[set.{_key(owner)}]"]
        for k, v in table.items():
            lines.append(f"{k} = {_toml_value(_parse(v))}")
    return "\n".join(lines) + "\n"


def _parse(v: str) -> Any:
    import ast

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
    if v is None:
        raise ValueError("TOML has no null")
    raise TypeError(f"cannot write {type(v).__name__} to TOML")
