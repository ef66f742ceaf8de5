import json
import re
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from sslab.errors import SslabError
from click.testing import CliRunner

from sslab.cli import main

ERROR_CASES = {
    "missing file": (["--data", "nowhere.npz"], "data not found: nowhere.npz"),
    "npz of something else": (["--data", "{tmp}/empty.npz"], "not a dataset sslab reads"),
    "wrong image shape": (["--data", "{tmp}/small.npz"], "imgs must be uint8 (N, 64, 64)"),
    "unknown method": (["--methods", "raw,nnclr"], "unknown method 'nnclr'"),
    "fraction above 1": (["--label-fraction", "1.5"], "label fraction must be in (0, 1]"),
    "fraction zero": (["--train-fraction", "0"], "train fraction must be in (0, 1]"),
    "zero epochs": (["--epochs", "0"], "epochs must be a positive number"),
    "negative epochs via --set": (["--set", "vae.epochs=-3"], "vae.epochs must be a positive number"),
    "epochs of an untrained method": (["--set", "random.epochs=2"], "random does not use 'epochs': it has nothing"),
    "lr of an untrained method": (["--methods", "raw,pca", "--set", "pca.lr=5"], "pca does not use 'lr'"),
    "setting of an encoder not run": (["--methods", "raw", "--set", "vae.epochs=3"], "does not run the encoder vae"),
    "setting of an analysis not run": (["--analyses", "none", "--umap-colour", "shape"], "does not run the analysis umap"),
    "probe_C of a probe without C": (["{tmp}/tutorial_probe.toml"], "the tutorial probe takes no C"),
    "bad --set": (["--set", "simclr"], "--set expects name.setting=value"),
    "text for an int": (["--set", "simclr.neg_pairs=abc"], "simclr.neg_pairs: expected int or none, got 'abc'"),
    "float for an int": (["--set", "simclr.neg_pairs=2.5"], "simclr.neg_pairs: expected int or none, got 2.5"),
    "negative head width": (["--set", "simclr.proj_dim=-5"], "simclr.proj_dim must be 0 (no head) or a positive"),
    "unknown layer": (["--set", "supervised.layer=nope"], "no layer 'nope'"),
    "unknown analysis": (["--analyses", "similarity,tsne"], "unknown analysis 'tsne'"),
    "unknown analysis setting": (["--set", "similarity.images=5"], "analysis similarity has no setting 'images'"),
    "unknown UMAP colour": (["--umap-colour", "colour"], "unknown UMAP colour 'colour'"),
    "unknown target": (["--target", "colour"], "unknown factor 'colour'"),
    "unknown device": (["--device", "foo"], "unknown device 'foo'"),
    "unknown encoder": (["--encoder", "vgg"], "unknown encoder 'vgg'"),
    "unknown views": (["--views", "heavy"], "unknown view recipe 'heavy'"),
    "unknown study": (["mnist-1000"], "unknown study 'mnist-1000'"),
    "too few images": (["--n-images", "5"], "--n-images must be at least 20"),
    "name with a path": (["--name", "../elsewhere"], "--name must be a plain folder name"),
    "unwritable output": (["--out", "{tmp}/file.txt/runs"], "cannot write the run folder"),
    "resume with study options": (["--resume", "{tmp}/run"], "--resume takes no other study options"),
    "seeds not numbers": (["--seeds", "0,x"], "--seeds takes whole numbers separated by commas"),
    "a seed twice": (["--seeds", "1,1"], "a seed is listed twice"),
    "checkpoints every 0 epochs": (["--checkpoint-every", "0"], "checkpoint_every must be at least 1 epoch"),
}
if not torch.cuda.is_available():
    ERROR_CASES["absent GPU"] = (["--device", "cuda"], "device 'cuda' is not available")


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad")
    np.savez(tmp / "empty.npz", other=np.zeros(3))
    np.savez(tmp / "small.npz", imgs=np.zeros((5, 28, 28), np.uint8), latents_classes=np.zeros((5, 5), np.int64))
    (tmp / "file.txt").write_text("a file where a folder should be")
    (tmp / "tutorial_probe.toml").write_text('probe = "tutorial"\nprobe_C = 0.5\n')
    return tmp


@pytest.mark.parametrize("case", ERROR_CASES)
def test_errors_are_one_clear_line_before_any_work(case, bad_files, tmp_path, monkeypatch):
    args, message = ERROR_CASES[case]
    args = [a.replace("{tmp}", str(bad_files)) for a in args]
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["run", "--quick", *args])
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sslab: error: "), r.stderr
    assert message in lines[0]
    assert "training" not in r.stderr  # nothing was trained
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def sslab(*args, cwd):
    return subprocess.run([sys.executable, "-m", "sslab", *args], cwd=cwd, capture_output=True, text=True, timeout=900)


FIGURES = ("gallery", "augmented_pairs", "loss_curves", "online_knn", "online_rankme", "confusion", "reconstructions",
           "rsm", "rsm_histograms", "cka", "factor_profile", "spectrum", "neighbours", "layer_probes", "layer_cka",
           "label_fraction", "images_per_class", "robustness", "bias")


def test_quick_dsprites_study_end_to_end(tmp_path):
    # --quick alone keeps 2,000 images; 600 at 32 px keep this test short and still run everything it runs.
    r = sslab("run", "--quick", "--n-images", "600", "--image-size", "32", "--out", str(tmp_path / "runs"),
              "--name", "smoke", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    run = tmp_path / "runs" / "smoke"
    results = json.loads((run / "results.json").read_text())
    names = ("raw", "random", "vae", "supervised", "simclr", "simclr-2neg")  # grouped by family
    assert tuple(results["encoders"]) == names
    assert results["data"]["format"] == "dsprites" and results["data"]["n_images"] == 600
    assert results["data"]["factors"] == {"shape": 3, "scale": 6, "orientation": 40, "posX": 32, "posY": 32}
    assert results["split"]["test"] == 120 and results["split"]["val"] == 48 and results["split"]["train"] == 432
    test_counts = np.array(results["confusion"]["raw"]).sum(1)
    assert results["chance"] == pytest.approx(test_counts.max() / test_counts.sum())  # the majority class's share
    for name in names:
        assert np.array(results["confusion"][name]).sum() == results["n_test"]
        assert results["encoders"][name]["warnings"] == [] or name == "raw"
    assert results["config"]["quick"] is True and results["config"]["methods"]["simclr-2neg"]["neg_pairs"] == 2
    assert results["config"]["methods"]["simclr"]["temperature"] == 0.1  # the dSprites recipe
    assert results["config"]["methods"]["simclr"]["views"] == "dsprites"
    # Every trained encoder learned something in the quick profile's 3 epochs.
    for name in ("supervised", "vae", "simclr", "simclr-2neg"):
        losses = [h["loss"] for h in results["histories"][name]]
        assert len(losses) == 3 and losses[-1] < losses[0], (name, losses)
    # Every default analysis ran and reported every encoder, but transfer (nothing held out) and UMAP (--quick).
    assert list(results["skipped"]) == ["transfer", "umap"] and not {"transfer", "umap"} & set(results)
    assert "left out of --quick" in results["skipped"]["umap"]
    cka = np.array(results["similarity"]["cka"]["matrix"])
    assert cka.shape == (6, 6) and np.allclose(cka, cka.T) and (cka[~np.eye(6, dtype=bool)] < 0.9999).any()
    factors = results["factors"]
    assert factors["factors"] == ["shape", "scale", "orientation", "posX", "posY"]
    assert factors["n_fit"] == 432 and factors["n_pairs"] == 200  # --quick's 500, capped by the 432 labelled
    for name in names:
        assert set(factors["accuracy"][name]) == set(factors["invariance"][name]) == set(factors["factors"])
    # Raw pixels change far more when a sprite moves than when it turns in place.
    assert factors["invariance"]["raw"]["posX"] < factors["invariance"]["raw"]["orientation"]
    labels = results["labels"]
    assert labels["retrained"] == ["supervised"]
    assert list(labels["label_fraction"]["simclr"]) == ["0.05", "0.2", "1.0"]  # the --quick curves
    assert list(labels["images_per_class"]["vae"]) == ["10", "100"]
    assert labels["sizes"]["images_per_class"]["10"] == 30
    assert labels["label_fraction"]["raw"]["1.0"] == results["encoders"]["raw"]["test_accuracy"]
    n_five_percent = labels["sizes"]["label_fraction"]["0.05"]
    assert 22 <= n_five_percent <= 24  # 5% of each class's ~144 training images, rounded up
    assert f"supervised on {n_five_percent} labels: training 15 epochs" in r.stderr  # epochs x min(1/f, 5)
    bias = results["bias"]
    assert bias["n_biased"] == bias["n_control"] > 0 and set(bias["encoders"]) == set(names)
    assert "simclr on the biased set: training 3 epochs" in r.stderr
    for fig in FIGURES:  # saved as data, drawn by the report (and written beside it as PNGs)
        assert (run / "figures" / f"{fig}.json").is_file(), fig
        assert sum(p.stat().st_size for p in (run / "figures").glob(f"{fig}*.png")) > 1000, fig
    html = (run / "report.html").read_text()
    assert html.count("<figure>") == len(FIGURES) and "simclr-2neg" in html
    assert html.count("<img ") == html.count(" alt='") > len(FIGURES)  # panels: one image per encoder
    assert "Smoke test: these numbers come from a shortened run (--quick: 600 images and 3 epochs" in html
    # Progress, as a log file sees it: stages, per-epoch times with what is left, no control characters.
    assert "[encoder 6/6] simclr-2neg" in r.stderr and "[analysis 8/8] bias" in r.stderr
    assert re.search(r"  simclr epoch 2/3  loss \S+ .* knn \d+\.\d+%  \d+\.\d s \([\d,]+ images/s\), \d+ s left", r.stderr), \
        r.stderr[-2000:]
    assert "\x1b" not in r.stderr and "\r" not in r.stderr
    assert "<h1>sslab study: smoke</h1>" in html  # rendered before the rename, titled after it
    for question in ("What do the encoders keep?", "How many labels do they need?", "Do they survive a biased",
                     "Is a representation collapsed", "Which layer holds what?", "What do the encoders ignore?",
                     "The <b>transfer</b> analysis did not run: no classes are held out"):
        assert question in html
    assert (run / "encoders" / "supervised.safetensors").is_file()
    assert "chance" in r.stdout and "kNN" in r.stdout
    assert not list((tmp_path / "runs").glob("*.partial"))
    # An existing run folder is never overwritten.
    again = CliRunner().invoke(main, ["run", "--quick", "--methods", "raw", "--out", str(tmp_path / "runs"),
                                      "--name", "smoke"])
    assert again.exit_code == 2 and "already exists" in again.stderr


def test_analyses_can_be_chosen(tmp_path, monkeypatch):
    """Named analyses run, UMAP under --quick too (in this process: its compilation is paid once for the suite)."""
    pytest.importorskip("umap")
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["run", "--quick", "--n-images", "600", "--methods", "raw,random",
                                  "--analyses", "similarity,umap", "--name", "s"])
    assert r.exit_code == 0, r.output[-3000:]
    results = json.loads((tmp_path / "runs" / "s" / "results.json").read_text())
    assert {"similarity", "umap"} <= set(results) and not {"factors", "labels", "bias"} & set(results)
    assert results["umap"]["n_images"] > 0 and "umap" not in results["skipped"]
    assert {"rsm", "cka", "confusion", "umap"} <= set(results["figures"]) and "bias" not in results["figures"]
    assert "[analysis 2/2] umap" in r.stderr and "bias" not in r.stderr


def test_every_method_in_one_study(tmp_path, monkeypatch):
    zoo = "pca,linear_ae,ae,conv_ae,vae,supcon,dino,simclr"
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["run", "--quick", "--n-images", "400", "--image-size", "32", "--epochs", "1",
                                  "--methods", zoo, "--analyses", "none", "--set", "simclr.proj_dim=16",
                                  "--set", "supcon.proj_dim=16", "--set", "supcon.head=linear_bn", "--out", "runs",
                                  "--name", "zoo"])
    assert r.exit_code == 0, r.output[-3000:]
    res = json.loads((tmp_path / "runs" / "zoo" / "results.json").read_text())
    assert list(res["encoders"]) == ["pca", "linear_ae", "ae", "conv_ae", "vae", "supcon", "simclr", "dino"]  # families
    assert res["encoders"]["pca"]["feature_dim"] == 128 and res["encoders"]["supcon"]["trained_on"] == res["n_probe"]
    # probed elsewhere too: above SimCLR's head (16-d), DINO's teacher (the encoder's width)
    assert res["encoders"]["simclr"]["variants"]["above the head"]["feature_dim"] == 16
    assert res["encoders"]["dino"]["variants"]["teacher"]["feature_dim"] == res["encoders"]["dino"]["feature_dim"]
    assert "top5" in res["histories"]["simclr"][0] and "above the head" in (tmp_path / "runs" / "zoo" / "report.html").read_text()
    assert {"reconstructions", "pca_components", "pca_variance", "linear_ae_weights", "linear_ae_wwt"} <= set(res["figures"])
    assert "pca: The first" in (tmp_path / "runs" / "zoo" / "report.html").read_text()


REAL = {  # data -> (options, what must hold of results.json); the report is drawn for one of them
    "pneumoniamnist.npz": (["--n-images", "600", "--no-report"], dict(format="medmnist", classes=["normal", "pneumonia"],
                                                         views="lab", encoder="convnet")),
    "retinamnist.npz": (["--n-images", "800", "--protocol", "lab"],
                        dict(format="medmnist", views="lab", encoder="convnet", held_out=2)),
    "mnist": (["--n-images", "2000", "--protocol", "blog", "--no-report"], dict(format="mnist", views="digits",
                                                                  encoder="encoder_core", labelled=200)),
    "cifar10-jpeg": (["--n-images", "300", "--no-report"], dict(format="folder", views="simclr", encoder="convnet",
                                                 classes=["airplane", "automobile", "bird", "cat", "deer", "dog",
                                                          "frog", "horse", "ship", "truck"])),
    "dsprites_subset.npz": (["--n-images", "600", "--image-size", "32", "--analyses", "factors", "--no-report"],
                            dict(format="dsprites", views="dsprites", encoder="encoder_core")),
}


@pytest.mark.parametrize("name", REAL)
def test_quick_study_on_real_data(name, tmp_path, monkeypatch, request):
    from conftest import shared

    path = request.getfixturevalue("cifar_jpeg") if name == "cifar10-jpeg" else shared(name)
    options, expect = REAL[name]
    monkeypatch.chdir(tmp_path)
    args = ["run", "--data", str(path), "--quick", "--epochs", "1", "--methods", "raw,random,supervised,simclr",
            "--analyses", "similarity,transfer", "--name", "r", *options]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output[-3000:]
    res = json.loads((tmp_path / "runs" / "r" / "results.json").read_text())
    assert res["data"]["format"] == expect["format"] and res["config"]["views"] == expect["views"]
    assert res["config"]["methods"]["simclr"]["encoder"] == expect["encoder"]
    if "classes" in expect:
        assert res["classes"] == expect["classes"]
    test_counts = np.array(res["confusion"]["raw"]).sum(1)
    assert res["chance"] == pytest.approx(test_counts.max() / test_counts.sum())
    assert res["encoders"]["supervised"]["test_accuracy"] > 0 and res["encoders"]["simclr"]["feature_dim"] > 0
    if expect["format"] == "medmnist":  # the file's own validation and test splits
        assert res["data"]["splits"].keys() == {"train", "val", "test"} and "val:" not in " ".join(res["split"]["notes"])
    if "held_out" in expect:
        assert len(res["transfer"]["classes"]) == expect["held_out"] and set(res["transfer"]["encoders"]) >= {"simclr"}
    elif "--analyses" not in options:
        assert "transfer" in res["skipped"]
    if "labelled" in expect:
        assert res["n_probe"] == expect["labelled"] and res["n_train"] == res["split"]["train"] - expect["labelled"]
    if expect["format"] == "dsprites":
        assert res["config"]["methods"]["simclr"]["temperature"] == 0.1 and "factors" in res
    if "--no-report" in options:  # results.json and the figures' data, for `sslab report` to draw later
        assert not (tmp_path / "runs" / "r" / "report.html").exists() and "no report drawn" in r.stdout
        assert all((tmp_path / "runs" / "r" / f).with_suffix(".json").is_file() for f in res["figures"].values())
    else:
        assert (tmp_path / "runs" / "r" / "report.html").stat().st_size > 10_000


def test_print_config_round_trips_through_a_study_file(tmp_path):
    runner = CliRunner()
    first = runner.invoke(main, ["run", "--print-config", "--set", "simclr.temperature=0.2", "--protocol", "lab",
                                 "--methods", "raw,simclr", "--n-images", "300"])
    assert first.exit_code == 0, first.output
    assert 'protocol = "lab"' in first.stdout and "[set.simclr]\ntemperature = 0.2" in first.stdout
    (tmp_path / "study.toml").write_text(first.stdout)
    second = runner.invoke(main, ["run", str(tmp_path / "study.toml"), "--print-config"])
    assert second.exit_code == 0 and second.stdout == first.stdout  # saved, shared and re-run exactly


def test_listings(tmp_path):
    runner = CliRunner()
    studies = runner.invoke(main, ["studies"])
    assert studies.exit_code == 0 and [line.split()[0] for line in studies.stdout.splitlines()] == [
        "cifar10", "dsprites", "medmnist", "mnist-200", "stl10"]
    encoders = runner.invoke(main, ["encoders", "--shape", "3,32,32"])
    assert encoders.exit_code == 0 and "resnet18" in encoders.stdout and "512-d" in encoders.stdout
    assert "convnet" in encoders.stdout and "128-d" in encoders.stdout
    views = runner.invoke(main, ["views"])
    assert views.exit_code == 0 and "digits" in views.stdout and "skips: saturation, hue, grayscale" in views.stdout
    methods = runner.invoke(main, ["methods"])
    assert methods.exit_code == 0 and "dsprites data sets: temperature=0.1" in methods.stdout
    listed = [line.split()[0] for line in methods.stdout.splitlines() if line[:1].isalpha()]
    for name in ("byol", "moco", "barlow_twins", "vicreg", "simsiam", "swav", "mae"):
        assert name in listed
    families = [line for line in methods.stdout.splitlines() if line.startswith("[")]
    assert families[0] == "[baselines]" and "[masked modelling]" in families and len(families) == 8
    assert "vit_tiny" in encoders.stdout and "vit_mini" in encoders.stdout


def test_help_explains_options():
    r = CliRunner().invoke(main, ["run", "--help"])
    assert r.exit_code == 0
    for opt in ("--data", "--quick", "--methods", "--analyses", "--umap-colour", "--seed", "--split-seed", "--out",
                "--epochs", "--set", "--protocol", "--n-images", "--encoder", "--views", "--print-config"):
        assert opt in r.stdout
    assert "20% of labels per class, 30% of" in " ".join(r.stdout.split()) and "%%" not in r.stdout


def test_python_api_own_module_probe_protocol_and_finetuning(tmp_path):
    from sslab.study import StudyConfig, run

    own = torch.nn.Sequential(torch.nn.AvgPool2d(8), torch.nn.Flatten())  # 64 px -> 64 features
    cfg = StudyConfig(quick=True, n_images=600, epochs=1, encoders=("raw", "simclr"), protocol="lab",
                      analyses=("finetune", "transfer"), probe="uva",
                      overrides=("simclr.proj_dim=8", "finetune.epochs=2", "transfer.epochs=2"))
    res = run(cfg, tmp_path / "api", log=lambda m: None, modules={"pooled": own})
    assert list(res["encoders"]) == ["raw", "simclr", "pooled"] and res["encoders"]["pooled"]["feature_dim"] == 64
    assert res["config"]["probe"] == "uva" and res["encoders"]["raw"]["probe_iterations"] is None
    tuned = res["finetune"]["encoders"]
    assert set(tuned) == {"raw", "simclr", "simclr (above the head)", "pooled"} and res["finetune"]["epochs"] == 2
    assert all(0 <= v["finetuned"] <= 1 and v["frozen"] == pytest.approx(
        res["encoders"][k.split(" ")[0]]["test_accuracy"] if "(" not in k else
        res["encoders"]["simclr"]["variants"]["above the head"]["test_accuracy"]) for k, v in tuned.items())
    assert {"finetuned", "linear", "knn"} <= set(res["transfer"]["encoders"]["simclr"])
    assert {"finetune", "transfer_confusion_finetuned"} <= set(res["figures"])
    with pytest.raises(SslabError, match="clashes"):
        run(cfg, tmp_path / "again", log=lambda m: None, modules={"simclr": own})


@pytest.mark.parametrize("study", ["dsprites", "medmnist", "mnist-200", "stl10"])
def test_named_studies_resolve_and_say_what_they_ask(study):
    from sslab import studies

    assert study in studies.names()
    fields = studies.read(study)
    assert fields["name"] == study and len(fields["description"]) > 20
    r = CliRunner().invoke(main, ["run", study, "--print-config"])
    assert r.exit_code == 0, r.output  # every setting of the file is known and valid before any data is read
    assert len(fields["about"]) > 300
    if study != "dsprites":
        assert fields["needs_data"]
        r = CliRunner().invoke(main, ["run", study, "--out", "nowhere"])
        assert r.exit_code == 2 and f"the {study} study needs --data" in r.output


def test_quick_and_epochs_override_a_study_files_epochs():
    from sslab import studies
    from sslab.data import from_arrays, splits
    from sslab.study import StudyConfig, plan

    images = from_arrays(torch.randint(0, 256, (200, 3, 32, 32), dtype=torch.uint8), torch.arange(200) % 4)
    split = splits.make_split(images)
    fields = studies.read("stl10")  # simclr 500 epochs, supervised 100
    assert plan(StudyConfig(**fields), images, split).methods["simclr"].epochs == 500
    quick = plan(StudyConfig(**fields, quick=True), images, split).methods
    assert quick["simclr"].epochs == quick["supervised"].epochs == 3 and quick["simclr"].temperature == 0.07
    assert plan(StudyConfig(**fields, quick=True, epochs=1), images, split).methods["supervised"].epochs == 1


def _start(*args, cwd):
    return subprocess.Popen([sys.executable, "-m", "sslab", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_is_one_line_and_exit_130(sig, tmp_path):
    """Ctrl-C, or SIGTERM (a scheduler's stop), after the first epoch's checkpoint: one line naming the --resume
    command, exit 130, the unfinished run folder kept."""
    p = _start("run", "--methods", "simclr", "--n-images", "600", "--image-size", "32", "--analyses", "none",
               "--out", "runs", "--name", "cut", cwd=tmp_path)
    seen = ""
    for line in p.stderr:  # interrupt once the first epoch (and its checkpoint) is done
        seen += line
        if "simclr epoch 1/" in line:
            break
    p.send_signal(sig)
    out, err = p.communicate(timeout=120)
    lines = (seen + err).strip().splitlines()
    assert p.returncode == 130, seen + err
    assert lines[-1].startswith("sslab: error: interrupted; carry on with: sslab run --resume") and \
        "Traceback" not in seen + err
    assert any((tmp_path / "runs" / "cut.partial" / "checkpoints").glob("simclr.safetensors"))


def test_two_runs_of_one_name_never_share_a_folder(tmp_path):
    args = ("run", "--methods", "random,supervised", "--epochs", "1", "--n-images", "400", "--image-size", "32",
            "--analyses", "none", "--no-report", "--out", "runs", "--name", "same")
    first, second = _start(*args, cwd=tmp_path), _start(*args, cwd=tmp_path)
    done = [(p.wait(timeout=300), p.stderr.read()) for p in (first, second)]
    codes = sorted(code for code, _ in done)
    assert codes == [0, 2], done
    failed = next(err for code, err in done if code == 2).strip().splitlines()
    assert len(failed) == 1 and failed[0].startswith("sslab: error: ")
    assert "a run of this name is running" in failed[0] or "already exists" in failed[0]
    # The winner's run is whole: nothing of it was deleted by the other.
    results = json.loads((tmp_path / "runs" / "same" / "results.json").read_text())
    assert list(results["encoders"]) == ["random", "supervised"]
    assert (tmp_path / "runs" / "same" / "encoders" / "supervised.safetensors").is_file()
    assert not (tmp_path / "runs" / "same.partial").exists() and not (tmp_path / "runs" / "same" / "report.html").exists()
    drawn = CliRunner().invoke(main, ["report", str(tmp_path / "runs" / "same")])  # --no-report: drawn later
    assert drawn.exit_code == 0 and "<figure>" in (tmp_path / "runs" / "same" / "report.html").read_text()


def test_quiet_prints_only_the_table(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["run", "--quick", "--methods", "random", "--analyses", "none", "--n-images", "300",
                                  "--quiet", "--name", "q"])
    assert r.exit_code == 0 and r.stderr == "", r.stderr
    assert "random" in r.stdout and "report: " in r.stdout and "smoke test (--quick: 300 images" in r.stdout


def test_a_study_runs_its_encoders_grouped_by_family_and_gives_mae_a_vit():
    from sslab.data import from_arrays, splits
    from sslab.study import StudyConfig, plan

    images = from_arrays(torch.randint(0, 256, (200, 1, 32, 32), dtype=torch.uint8), torch.arange(200) % 4)
    split = splits.make_split(images)
    asked = ("mae", "swav", "simclr", "byol", "raw", "vicreg", "supervised", "moco", "vae", "random")
    p = plan(StudyConfig(encoders=asked, analyses=()), images, split)
    assert list(p.methods) == ["raw", "random", "vae", "supervised", "simclr", "moco", "byol", "vicreg", "swav", "mae"]
    assert p.methods["mae"].encoder == "vit_mini" and p.methods["simclr"].encoder == "convnet"  # the data's default
    vit = plan(StudyConfig(encoders=("mae",), analyses=(), encoder="vit_tiny"), images, split)
    assert vit.methods["mae"].encoder == "vit_tiny"
