"""Nothing a user hands in is unpickled: a crafted pickle that would run code when loaded is refused with
one clear error, and its code never runs."""

import os
import zipfile

import numpy as np
import pytest
import torch

from sslab import checkpoint, data, methods
from sslab.errors import SslabError


class Payload:
    """Unpickling this creates the file `marker`: what any code of an attacker's could do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_a_crafted_weights_file_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"encoder.weight": Payload(marker)}, tmp_path / "weights.pt")
    with pytest.raises(SslabError, match="only weights are read"):
        methods.build("pretrained", (1, 28, 28), 2, {"weights": str(tmp_path / "weights.pt")})
    assert not marker.exists()


@pytest.mark.parametrize("fmt", ["medmnist", "dsprites"])
def test_a_crafted_npz_is_refused_and_runs_nothing(tmp_path, fmt):
    marker = tmp_path / "pwned"
    evil = np.array([Payload(marker)], dtype=object)
    arrays = {"train_images": evil, "train_labels": np.zeros(1, np.int64)} if fmt == "medmnist" else \
        {"imgs": evil, "latents_classes": np.zeros((1, 5), np.int64)}
    np.savez(tmp_path / "evil.npz", **arrays)  # pickles the object array inside the zip
    with zipfile.ZipFile(tmp_path / "evil.npz") as z:
        assert any(b"posix" in z.read(n) or b"mkdir" in z.read(n) for n in z.namelist())  # the payload is there
    with pytest.raises(SslabError):
        data.load(tmp_path / "evil.npz")
    assert not marker.exists()


def test_a_crafted_checkpoint_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"model": Payload(marker)}, tmp_path / "simclr.safetensors")  # a pickle under a safetensors name
    with pytest.raises(SslabError, match="is not an sslab checkpoint"):
        checkpoint.read_meta(tmp_path / "simclr.safetensors")
    assert not marker.exists()
