"""`sslab report` and `sslab compare`: pages over finished runs, without retraining."""

from __future__ import annotations

import time
from pathlib import Path

import click

from sslab.cli.common import fail, language, main, mean_sd
from sslab.errors import SslabError
from sslab.i18n import _


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@language
def report(run_dir: str) -> None:
    """Re-render RUN_DIR/report.html from its results.json and saved figure data (no retraining), e.g. in
    another language: `sslab report RUN_DIR --lang ja`. A figure that cannot be drawn is named on stderr
    and in the page, and the rest is rendered."""
    from sslab import report as report_mod

    try:
        path = report_mod.write(run_dir, log=lambda problem: click.echo(f"sslab: {_('warning')}: {problem}", err=True))
    except SslabError as e:
        fail(str(e))
    click.echo(path)


@main.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(file_okay=False), help="Folder for compare.json and report.html "
              "(default: runs/compare-<date>-<time>).")
@language
def compare(run_dirs, out) -> None:
    """Put finished runs side by side: every encoder's probe accuracies in each, their mean and standard
    deviation, and figures with every run's point (one table, one page)."""
    from sslab import compare as compare_mod

    try:
        out_dir = Path(out or time.strftime("runs/compare-%Y%m%d-%H%M%S"))
        s = compare_mod.write(out_dir, [Path(d) for d in run_dirs])
    except SslabError as e:
        fail(str(e))
    click.echo(f"{'encoder':<22}" + "".join(f"{label:>20}" for _k, label in compare_mod.METRICS))
    for name, e in s["encoders"].items():
        click.echo(f"{name:<22}" + "".join(f"{(mean_sd(e[k]) if e[k]['mean'] is not None else '-'):>20}"
                                           for k, _label in compare_mod.METRICS))
    click.echo(f"\n{len(run_dirs)} runs; report: {out_dir / 'report.html'}")
