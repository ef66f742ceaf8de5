"""Shared fixtures: the real data in ../shared/data (tests skip with a reason where it is absent)."""

import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def literal(message: str) -> str:
    """A `match=` pattern for pytest.raises that finds `message` literally in the error's text."""
    return re.escape(message)


def shared(name: str) -> Path:
    """A file or folder of ../shared/data, or a skip saying where it was looked for."""
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"real data {name} not found in {SHARED}")
    return path


@pytest.fixture(scope="session")
def real_dsprites_path() -> Path:
    return shared("dsprites_subset.npz")


@pytest.fixture(scope="session")
def cifar_jpeg(tmp_path_factory):
    """The 60,000 CIFAR-10 JPEGs extracted, into memory (/dev/shm) where there is one: on the project
    machine's shared disk, creating and deleting 60,000 files took from 2 s to over a minute, in memory 1.2 s."""
    archive = shared("cifar10-jpeg.tar.gz")
    ram = Path("/dev/shm")
    in_ram = ram.is_dir() and os.access(ram, os.W_OK) and shutil.disk_usage(ram).free > 2e9
    with tempfile.TemporaryDirectory(dir=ram if in_ram else tmp_path_factory.getbasetemp()) as root:
        if shutil.which("tar"):  # GNU tar: 1 s, where tarfile takes 10 s for the 60,000 members
            subprocess.run(["tar", "xzf", str(archive), "-C", root], check=True)
        else:
            with tarfile.open(archive) as tar:
                tar.extractall(root, filter="data")
        yield Path(root)


@pytest.fixture(autouse=True)
def _own_encoder_cache(tmp_path, monkeypatch):
    """Every test its own, empty encoder cache: nothing read from or written to ~/.cache/sslab."""
    monkeypatch.setenv("SSLAB_CACHE", str(tmp_path / "sslab-cache"))
