"""`sslab` command line: a thin shell over sslab.study, sslab.report and the registries, a module per command
family (run; report and compare; prepare; the listings; bench). Heavy imports wait inside each command, so
`sslab --help` answers at once."""

from sslab.cli import bench, listings, prepare, results, run  # noqa: F401 (each registers its commands)
from sslab.cli.common import main

__all__ = ["main"]
