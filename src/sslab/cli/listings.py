"""`sslab methods | encoders | views | studies`: what the registries hold."""

from __future__ import annotations

import dataclasses
import sys

import click

from sslab import i18n
from sslab.cli.common import fail, language, main


@main.command(name="methods")
def list_methods() -> None:
    """List the registered methods by family, with their default settings."""
    from sslab import data
    from sslab.methods import FAMILIES, REGISTRY, TrainConfig, by_family

    w = 2 + max(map(len, REGISTRY))  # the names' column
    family = None
    for name in by_family(sorted(REGISTRY)):
        cls = REGISTRY[name]
        if cls.family != family:
            family = cls.family
            click.echo(f"[{i18n.text(FAMILIES[family])}]")
        doc = (sys.modules[cls.__module__].__doc__ or "").strip().splitlines()[0]
        click.echo(f"{name:<{w}}{doc}")

        shown = [f for f in dataclasses.fields(cls.Config)  # training settings only where there is training
                 if cls.Config.epochs or f.name not in {g.name for g in dataclasses.fields(TrainConfig)}]
        if shown:
            click.echo(f"{'':<{w}}defaults: " + ", ".join(f"{f.name}={getattr(cls.Config(), f.name)}" for f in shown))
        for fmt, module in data.REGISTRY.items():
            if name in getattr(module, "METHODS", {}):
                click.echo(f"{'':<{w}}{fmt} data sets: "
                           + ", ".join(f"{k}={v}" for k, v in module.METHODS[name].items()))


@main.command(name="encoders")
@click.option("--shape", default="1,28,28", show_default=True, help="Input shape C,H,W for the feature widths.")
def list_encoders(shape: str) -> None:
    """List the registered encoders, with their feature width for an input shape."""
    from sslab import nets

    try:
        image_shape = tuple(int(v) for v in shape.split(","))
        if len(image_shape) != 3:
            raise ValueError
    except ValueError:
        fail(f"--shape must be C,H,W, e.g. 3,32,32; got {shape!r}")
    click.echo(f"{'encoder':<14}{'features':>9}  at {'x'.join(map(str, image_shape))}")
    for name, description, dim in nets.describe(image_shape):
        click.echo(f"{name:<14}{(f'{dim}-d' if dim else 'too small'):>9}  {description}")


@main.command(name="views")
def list_views() -> None:
    """List the view recipes (augmentations), their settings, and what they skip on grey images."""
    from sslab import views

    click.echo(views.listing())


@main.command(name="studies")
@language
def list_studies() -> None:
    """List the named studies (`sslab run NAME`)."""
    from sslab import studies

    for name in studies.names():
        click.echo(f"{name:<14}{i18n.text(studies.read(name).get('description', ''))}")
