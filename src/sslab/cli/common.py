"""What every `sslab` command shares: the command group, one-line failures, --lang, list options."""

from __future__ import annotations

import sys

import click

from sslab import i18n
from sslab.errors import SslabError
from sslab.i18n import _


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="sslab")
def main() -> None:
    """Train several image encoders on the same data, freeze them, and compare what they learned."""


def fail(message: str, code: int = 2) -> None:
    """One line on stderr, `sslab: error: ...`, in the current language where the message has an entry; exit."""
    click.echo(f"sslab: {_('error')}: {i18n.text(message)}", err=True)
    sys.exit(code)


def language(command):
    """The --lang option: messages and reports in that language (default: the environment's, else English)."""
    def choose(ctx, param, value):
        try:
            i18n.use(value)
        except SslabError as e:
            fail(str(e))
        return value

    return click.option("--lang", metavar="CODE", callback=choose, expose_value=False, is_eager=True,
                        help=f"Language of the messages and the report: {', '.join(i18n.languages())} (default: "
                             f"from LANG, else en).")(command)


def as_list(value: str | None) -> tuple[str, ...] | None:
    """'a, b,c' -> ('a', 'b', 'c'); None stays None (the option was not given)."""
    return None if value is None else tuple(v.strip() for v in value.split(",") if v.strip())


def mean_sd(stat: dict) -> str:
    return f"{stat['mean']:.2%} ± {stat['sd']:.2%}"
