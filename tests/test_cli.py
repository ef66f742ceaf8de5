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
    "unknown analysis": (["--analyses", "similarity,tsne"], "unknown analysis 'tsne'"),
    "unknown UMAP colour": (["--umap-colour", "colour"], "unknown UMAP colour 'colour'"),
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


FIGURES = ("gallery", "augmented_pairs", "loss_curves", "confusion", "vae_reconstructions", "rsm", "rsm_histograms",
           "cka", "factor_profile", "umap", "label_fraction", "images_per_class", "bias")


def test_quick_run_end_to_end(tmp_path):
    r = sslab("run", "--quick", "--out", str(tmp_path / "runs"), "--name", "smoke", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    run = tmp_path / "runs" / "smoke"
    results = json.loads((run / "results.json").read_text())
    names = ("raw", "random", "supervised", "vae", "simclr", "simclr-2neg")
    assert tuple(results["encoders"]) == names
    for name in names:
        for key in ("test_accuracy", "train_accuracy", "knn_accuracy"):
            assert 0 <= results["encoders"][name][key] <= 1
        assert np.array(results["confusion"][name]).sum() == results["n_test"]
    assert results["chance"] == pytest.approx(1 / 3)
    assert results["config"]["quick"] is True and results["config"]["methods"]["simclr-2neg"]["neg_pairs"] == 2
    # Every trained encoder learned something in the quick profile's 3 epochs.
    for name in ("supervised", "vae", "simclr", "simclr-2neg"):
        losses = [r["loss"] for r in results["histories"][name]]
        assert len(losses) == 3 and losses[-1] < losses[0], (name, losses)
    assert results["encoders"]["supervised"]["test_accuracy"] > results["chance"] + 0.05
    # Every analysis ran and reported every encoder.
    cka = np.array(results["similarity"]["cka"]["matrix"])
    assert cka.shape == (6, 6) and np.allclose(np.diag(cka), 1) and np.allclose(cka, cka.T)
    factors = results["factors"]
    assert factors["factors"] == ["shape", "scale", "orientation", "posX", "posY"]
    for name in names:
        assert set(factors["accuracy"][name]) == set(factors["invariance"][name]) == set(factors["factors"])
        assert all(v <= 1 for v in factors["invariance"][name].values())
    # Raw pixels change far more when a sprite moves than when it turns in place.
    assert factors["invariance"]["raw"]["posX"] < factors["invariance"]["raw"]["orientation"]
    labels = results["labels"]
    assert labels["retrained"] == ["supervised"]
    assert list(labels["label_fraction"]["simclr"]) == ["0.01", "0.05", "0.1", "0.2", "0.5", "1.0"]
    assert list(labels["images_per_class"]["vae"]) == ["10", "20", "50", "100", "200", "500"]
    assert labels["sizes"]["images_per_class"]["10"] == 30
    assert labels["label_fraction"]["raw"]["1.0"] == results["encoders"]["raw"]["test_accuracy"]
    assert "[supervised on 40 labels] training 15 epochs" in r.stderr  # 1% of 4,000: epochs x 5
    bias = results["bias"]
    assert bias["n_biased"] == bias["n_control"] > 0 and set(bias["encoders"]) == set(names)
    assert "[simclr on the biased set] training 3 epochs" in r.stderr
    assert results["umap"]["n_images"] > 0
    for fig in FIGURES:
        assert (run / f"{fig}.png").stat().st_size > 1000, fig
    html = (run / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(FIGURES) and "simclr-2neg" in html
    assert "<h1>sslab study: smoke</h1>" in html  # rendered before the rename, titled after it
    for question in ("What do the encoders keep?", "How many labels do they need?", "Do they survive a biased"):
        assert question in html
    assert (run / "encoders" / "supervised.safetensors").is_file()
    assert "chance" in r.stdout and "kNN" in r.stdout
    assert not list((tmp_path / "runs").glob("*.partial"))
    # The report re-renders from the saved results alone.
    (run / "report.html").unlink()
    assert sslab("report", str(run), cwd=tmp_path).returncode == 0 and (run / "report.html").is_file()
    # An existing run folder is never overwritten.
    again = sslab("run", "--quick", "--methods", "raw", "--out", str(tmp_path / "runs"), "--name", "smoke", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_analyses_can_be_chosen(tmp_path):
    r = sslab("run", "--quick", "--methods", "raw,random", "--analyses", "similarity", "--out", "runs", "--name", "s",
              cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    results = json.loads((tmp_path / "runs" / "s" / "results.json").read_text())
    assert "similarity" in results and not {"factors", "labels", "bias", "umap"} & set(results)
    assert {"rsm", "cka", "confusion"} <= set(results["figures"]) and "bias" not in results["figures"]
    assert "analysis: bias" not in r.stderr


def test_help_explains_options(tmp_path):
    r = sslab("run", "--help", cwd=tmp_path)
    assert r.returncode == 0
    for opt in ("--data", "--quick", "--methods", "--analyses", "--umap-colour", "--seed", "--out", "--epochs", "--set"):
        assert opt in r.stdout
