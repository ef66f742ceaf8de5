"""Readers that survive any file: every format's loader on at least 200 damaged files (bit flips, truncations,
damaged headers, absurd dimensions and label values, wrong dtypes, empty splits; tests/fuzz_loaders.py, fixed
seeds) ends each in a loaded dataset or one SslabError, within 5 s, in a process whose address space is capped
at 1.5 GB above what it holds: nothing is allocated by a header's or a label's value."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sslab import data
from sslab.errors import SslabError

FORMATS = ["dsprites", "medmnist", "mnist_npz", "mnist_idx", "cifar", "stl10", "folder", "prepared"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_damaged_files_end_in_one_clear_error(fmt, tmp_path):
    script = Path(__file__).with_name("fuzz_loaders.py")
    proc = subprocess.run([sys.executable, str(script), fmt, str(tmp_path)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(runs) >= 200, f"only {len(runs)} damaged files"
    crashes = [f"{r['what']}: {r['detail']}" for r in runs if r["outcome"] == "crash"]
    assert not crashes, f"{len(crashes)} of {len(runs)} ended otherwise than in one SslabError:\n" + "\n".join(crashes[:20])
    assert all("\n" not in r["detail"] for r in runs if r["outcome"] == "error")
    assert max(r["seconds"] for r in runs) < 5
    assert sum(r["outcome"] == "error" for r in runs) > len(runs) / 2  # the damage is mostly seen, not loaded


def test_a_dsprites_npz_with_damaged_first_bytes_is_one_line(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "dsprites.npz"
    np.savez_compressed(path, imgs=(rng.random((50, 64, 64)) < 0.1).astype(np.uint8),
                        latents_classes=np.zeros((50, 5), np.int64))
    raw = bytearray(path.read_bytes())
    member = raw.index(b"imgs.npy") + len(b"imgs.npy")  # the first member's name, in its local header
    raw[member + 40:member + 72] = bytes(32)  # its compressed stream, a little past the header: zlib fails
    path.write_bytes(bytes(raw))
    with pytest.raises(SslabError, match=r"dsprites.npz: cannot read as npz \(Error -3 while decompressing"):
        data.load(path)


def test_a_medmnist_label_of_2_to_the_40_fails_at_once(tmp_path):
    path = tmp_path / "pneumoniamnist.npz"
    labels = np.zeros((10, 1), np.int64)
    labels[3] = 2**40
    np.savez(path, train_images=np.zeros((10, 28, 28), np.uint8), train_labels=labels)
    import time

    t0 = time.perf_counter()
    with pytest.raises(SslabError, match="label"):
        data.load(path)
    assert time.perf_counter() - t0 < 1
