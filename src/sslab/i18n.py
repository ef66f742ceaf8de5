"""Messages in the reader's language: gettext catalogues (`sslab/locale/<lang>.po`), English the default.

Mark a message `_("...")` where it is shown, or `N_("...")` where it is defined but shown elsewhere (it
is translated there, with `_(text)`). Placeholders are `str.format` names: `_("{n} images").format(n=n)`.
A message without an entry in the language's catalogue is shown in English.

Stored messages (a run's split notes, warnings, why an analysis was skipped) stay English in results.json
and are translated when the report is rendered: `text()` matches them against the catalogue's templates.

Add a language: `python -m sslab.i18n XX` writes `locale/XX.po` with every message (or adds the new ones
to an existing file); fill in each msgstr; then `sslab run --lang XX` or `LANG=XX...`.
"""

from __future__ import annotations

import ast
import os
import re
import string
import sys
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import polib

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from sslab.errors import SslabError

LOCALE = Path(__file__).parent / "locale"
_current: str | None = None  # None: from the environment (LANGUAGE, LC_ALL, LC_MESSAGES, LANG)


def languages() -> tuple[str, ...]:
    """The languages sslab speaks: English and every catalogue in sslab/locale."""
    return ("en", *sorted(p.stem for p in LOCALE.glob("*.po")))


def use(lang: str | None) -> str:
    """Show messages in `lang` from now on (None: the environment's language, English if sslab lacks it)."""
    global _current
    if lang is not None and lang not in languages():
        raise SslabError(f"no messages in language {lang!r}; languages: {', '.join(languages())}")
    _current = lang
    return current()


@contextmanager
def language(lang: str | None):
    """Messages in `lang` inside the block (None: leave the language as it is), as they were after it."""
    global _current
    saved = _current
    if lang is not None:
        use(lang)
    try:
        yield current()
    finally:
        _current = saved


def current() -> str:
    if _current is not None:
        return _current
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        for value in os.environ.get(var, "").split(":"):  # e.g. ja_JP.UTF-8, or LANGUAGE=ja:en
            code = value.split(".")[0].split("_")[0].lower()
            if code in ("c", "posix"):
                return "en"
            if code:
                return code if code in languages() else "en"
    return "en"


@cache
def catalogue(lang: str) -> dict[str, str]:
    """msgid -> msgstr of the language's translated, non-fuzzy entries."""
    if lang == "en":
        return {}
    po = polib.pofile(str(LOCALE / f"{lang}.po"))
    return {e.msgid: e.msgstr for e in po.translated_entries()}


def _(msgid: str) -> str:
    """msgid in the current language (English when it has no entry)."""
    return catalogue(current()).get(msgid, msgid)


def N_(msgid: str) -> str:
    """Marks msgid for the catalogue without translating it here (it is translated where shown)."""
    return msgid


def text(message: str) -> str:
    """A stored English message in the current language: an exact entry, or a template with placeholders
    whose English form matches the message (its values carried over), else the message unchanged."""
    cat = catalogue(current())
    if message in cat:
        return cat[message]
    for msgid, pattern in _patterns(current()):
        m = pattern.fullmatch(message)
        if m:
            return cat[msgid].format(**m.groupdict())
    return message


@cache
def _patterns(lang: str) -> list[tuple[str, re.Pattern]]:
    """(msgid, a regex its English form matches, each placeholder a named group) for templated entries."""
    out = []
    for msgid in catalogue(lang):
        parts = list(string.Formatter().parse(msgid))
        fields = [f for _l, f, _s, _c in parts if f is not None]
        if not fields or not all(f.isidentifier() for f in fields) or any(spec for _l, _f, spec, _c in parts):
            continue  # no placeholders, or ones a regex group cannot stand for
        regex, seen = "", set()
        for literal, field, _spec, _conv in parts:
            regex += re.escape(literal)
            if field is not None:
                regex += f"(?P={field})" if field in seen else f"(?P<{field}>.+?)"
                seen.add(field)
        out.append((msgid, re.compile(regex, re.S)))
    return out


def placeholders(message: str) -> set[str]:
    """The str.format field names in a message."""
    return {f for _l, f, _s, _c in string.Formatter().parse(message) if f is not None}


def marked(root: Path = Path(__file__).parent) -> dict[str, str]:
    """Every message marked with _("...") or N_("...") in the package's source, and the description and
    about text of each named study (studies/*.toml, read here as text: i18n sits below the study layer):
    msgid -> first place."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("_", "N_")
                    and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                found.setdefault(node.args[0].value, f"{path.relative_to(root.parent)}:{node.lineno}")
    for path in sorted((root / "studies").glob("*.toml")):
        study = tomllib.loads(path.read_text())
        for key in ("description", "about"):
            if study.get(key):
                found.setdefault(study[key], f"{path.relative_to(root.parent)}:1")
    return found


def update(lang: str) -> Path:
    """Write locale/<lang>.po with every marked message: new ones with an empty msgstr, the rest kept."""
    path = LOCALE / f"{lang}.po"
    po = polib.pofile(str(path)) if path.is_file() else polib.POFile()
    po.metadata = po.metadata or {"Content-Type": "text/plain; charset=UTF-8", "Language": lang}
    have = {e.msgid for e in po}
    for msgid, where in marked().items():
        if msgid not in have:
            po.append(polib.POEntry(msgid=msgid, msgstr="", occurrences=[tuple(where.rsplit(":", 1))]))
    po.save(str(path))
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m sslab.i18n LANG   (writes or updates sslab/locale/LANG.po)")
    print(update(sys.argv[1]))
