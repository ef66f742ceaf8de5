"""Settings from strings: a frozen config dataclass built from `--set name.key=value` strings or TOML values.

Every family with settings (methods, analyses, view recipes, the study itself) builds its config here, so a
value is read one way everywhere: strings are Python literals ('0.1', '2', 'none', 'true', '(0.5, 1.0)'),
ints pass as floats, lists as tuples, and anything that does not match a field's annotation, or a key that is
not a field, is one clear SslabError.
"""

from __future__ import annotations

import ast
import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any

from sslab.errors import SslabError


def coerce(key: str, value: Any, annotation: Any) -> Any:
    """A setting's value (a --set string, or a TOML value) -> the type its field is annotated with."""
    if isinstance(value, str):
        try:
            value = ast.literal_eval({"true": "True", "false": "False", "none": "None"}.get(value.lower(), value))
        except (ValueError, SyntaxError):
            pass  # a plain string, e.g. an encoder name
    allowed = typing.get_args(annotation) if isinstance(annotation, types.UnionType) or \
        typing.get_origin(annotation) is typing.Union else (annotation,)
    for t in allowed:
        base = typing.get_origin(t) or t
        if t is type(None) and value is None:
            return None
        if base is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if base is tuple and isinstance(value, list):
            value = tuple(value)
        if isinstance(base, type) and isinstance(value, base) and not (base is int and isinstance(value, bool)):
            return value
    names = " or ".join("none" if t is type(None) else getattr(typing.get_origin(t) or t, "__name__", str(t))
                        for t in allowed)
    raise SslabError(f"{key}: expected {names}, got {value!r}")


def configure(cls: type, values: Mapping[str, Any], owner: str, what: str | None = None,
              ignored: frozenset[str] = frozenset()) -> Any:
    """cls(**values), each value coerced to its field's annotation.

    owner prefixes a bad value's error (`simclr.lr: expected float, got 'x'`); what names the owner in an
    unknown key's error (default: owner). ignored: fields that exist but mean nothing here (e.g. the training
    settings of a method that trains nothing): setting one is refused like an unknown key, naming why.
    """
    fields = [f.name for f in dataclasses.fields(cls) if f.init]
    hints = typing.get_type_hints(cls)
    for key in values:
        if key in ignored:
            raise SslabError(f"{what or owner} does not use {key!r}: it has nothing to train")
        if key not in fields:
            usable = [f for f in fields if f not in ignored]
            raise SslabError(f"{what or owner} has no setting {key!r}; settings: {', '.join(usable) or 'none'}")
    return cls(**{k: coerce(f"{owner}.{k}", v, hints[k]) for k, v in values.items()})
