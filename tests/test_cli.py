import json
import subprocess
import sys

import numpy as np
import pytest

ERROR_CASES = {
    "missing file": (["--data", "nowhere.npz"], "data file not found"),
    "npz without arrays": (["--data", "{tmp}/empty.npz"], "missing array(s) imgs, latents_classes"),
    "wrong image shape": (["--data", "{tmp}/small.npz"], "imgs must be uint8 (N, 64, 64)"),
    "wrong dtype": (["--data", "{tmp}/float.npz"], "imgs must be uint8"),
    "unknown method": (["--methods", "raw,byol"], "unknown method 'byol'"),
    "fraction above 1": (["--label-fraction", "1.5"], "label fraction must be in (0, 1]"),
    "fraction zero": (["--train-fraction", "0"], "train fraction must be in (0, 1]"),
    "zero epochs": (["--epochs", "0"], "epochs must be a positive number"),
    "negative epochs via --set": (["--set", "vae.epochs=-3"], "vae.epochs must be a positive number"),
    "bad --set": (["--set", "simclr"], "--set expects method.setting=value"),
}


def sslab(*args, cwd):
    return subprocess.run([sys.executable, "-m", "sslab", *args], cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad")
    np.savez(tmp / "empty.npz", other=np.zeros(3))
    np.savez(tmp / "small.npz", imgs=np.zeros((5, 28, 28), np.uint8), latents_classes=np.zeros((5, 5), np.int64))
    np.savez(tmp / "float.npz", imgs=np.zeros((5, 64, 64), np.float64), latents_classes=np.zeros((5, 5), np.int64))
    return tmp


@pytest.mark.parametrize("case", ERROR_CASES)
def test_errors_are_one_clear_line(case, bad_files, tmp_path):
    args, message = ERROR_CASES[case]
    args = [a.replace("{tmp}", str(bad_files)) for a in args]
    r = sslab("run", "--quick", "--out", "runs", *args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert message in lines[0]
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_quick_run_end_to_end(tmp_path):
    r = sslab("run", "--quick", "--out", str(tmp_path / "runs"), "--name", "smoke", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    run = tmp_path / "runs" / "smoke"
    results = json.loads((run / "results.json").read_text())
    for name in ("raw", "random", "supervised", "vae", "simclr", "simclr-2neg"):
        assert 0 <= results[name]["test_accuracy"] <= 1 and 0 <= results[name]["train_accuracy"] <= 1
    assert results["chance"] == pytest.approx(1 / 3)
    assert results["config"]["quick"] is True and results["config"]["methods"]["simclr-2neg"]["neg_pairs"] == 2
    # Every trained encoder learned something in the quick profile's 3 epochs.
    for name in ("supervised", "vae", "simclr", "simclr-2neg"):
        losses = [r["loss"] for r in results["histories"][name]]
        assert len(losses) == 3 and losses[-1] < losses[0], (name, losses)
    assert results["supervised"]["test_accuracy"] > results["chance"] + 0.05
    for fig in ("rsm", "loss_curves", "augmented_pairs", "vae_reconstructions"):
        assert (run / f"{fig}.png").stat().st_size > 1000
    html = (run / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4 and "simclr-2neg" in html
    assert (run / "encoders" / "supervised.safetensors").is_file()
    assert "chance" in r.stdout and "supervised" in r.stdout
    assert not list((tmp_path / "runs").glob("*.partial"))
    # The report re-renders from the saved results alone.
    (run / "report.html").unlink()
    assert sslab("report", str(run), cwd=tmp_path).returncode == 0 and (run / "report.html").is_file()
    # An existing run folder is never overwritten.
    again = sslab("run", "--quick", "--methods", "raw", "--out", str(tmp_path / "runs"), "--name", "smoke", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_help_explains_options(tmp_path):
    r = sslab("run", "--help", cwd=tmp_path)
    assert r.returncode == 0
    for opt in ("--data", "--quick", "--methods", "--seed", "--out", "--epochs", "--set"):
        assert opt in r.stdout
