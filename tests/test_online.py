"""The online kNN (sslab.online): what it scores, that it changes nothing of the training, how it sees collapse,
and that a study records it for every trained encoder."""

import json
from types import SimpleNamespace

import pytest
import torch

from sslab import methods
from sslab.data import dsprites
from sslab.errors import SslabError
from sslab.online import MonitorConfig, Online, collapse, curve
from sslab.probes import KNNProbe
from sslab.study import StudyConfig, run
from sslab.train import extract, fit


@pytest.fixture(scope="module")
def data():
    im = dsprites.generate(300, seed=1)
    x = im.x[:, :, ::2, ::2].contiguous()  # 32 px: the code paths of 64 px at a quarter of the work
    idx = torch.arange(300)
    split = SimpleNamespace(labelled=idx[:200], val=idx[200:250], test=idx[250:], y=im.y)
    return x, im.y, split


def _train(x, y, evaluate=None, epochs=3):
    torch.manual_seed(0)
    m = methods.build("simclr", (1, 32, 32), 3, {"epochs": epochs, "batch_size": 64, "views": "dsprites"})
    history = fit(m, x, y, torch.Generator().manual_seed(0), "fp32", idx=torch.arange(200), evaluate=evaluate)
    return m, history


def test_the_monitor_changes_nothing_of_the_training_and_scores_what_a_knn_probe_would(data):
    x, y, split = data
    monitor = Online.of(MonitorConfig(every=2, bank=150, queries=0, test=True), split, seed=0, precision="fp32",
                        channels_last=False)
    plain, h0 = _train(x, y)
    watched, h1 = _train(x, y, lambda m, epoch: monitor(m, x, epoch, 3))
    for (k, a), b in zip(plain.state_dict().items(), watched.state_dict().values()):
        assert torch.equal(a, b), k  # bit for bit: evaluation draws nothing and moves no statistics
    assert [r["loss"] for r in h0] == [r["loss"] for r in h1]
    assert "knn" not in h0[0] and "untrained_knn" in h1[0]
    assert [e for e, _v in curve(h1)] == [0, 2, 3]  # epoch 0 (untrained), every 2nd, and the last
    assert len(monitor.bank) == 150 and set(monitor.bank.tolist()) <= set(split.labelled.tolist())
    feats = lambda idx: extract(watched, x, "fp32", idx=idx)  # noqa: E731
    knn = KNNProbe().fit(feats(monitor.bank), y[monitor.bank])
    assert h1[-1]["knn"] == knn.score(feats(split.val), y[split.val])
    assert h1[-1]["knn_test"] == knn.score(feats(split.test), y[split.test])


def test_collapse_is_a_fall_back_towards_the_untrained_network():
    rise = [(0, 0.40), (1, 0.60), (2, 0.80), (3, 0.82)]
    assert collapse(rise) is None
    fell = rise + [(4, 0.55), (5, 0.50), (6, 0.45)]  # half-way back is 0.61: three evaluations below it
    assert collapse(fell) == {"epoch": 4, "best": 0.82, "last": 0.45, "untrained": 0.40}
    assert collapse(fell[:-1]) is None  # two in a row are not yet three
    assert collapse(rise + [(4, 0.55), (5, 0.70), (6, 0.50), (7, 0.45)]) is None  # a recovery restarts the count
    assert collapse([(0, 0.40), (1, 0.42), (2, 0.39), (3, 0.38), (4, 0.38)]) is None  # never rose: no collapse
    assert collapse(fell, patience=1)["epoch"] == 4


def test_monitor_settings_are_checked():
    with pytest.raises(SslabError, match="monitor.every must be >= 0"):
        MonitorConfig(every=-1)
    with pytest.raises(SslabError, match="monitor.patience must be at least 1"):
        MonitorConfig(patience=0)


def test_a_study_records_every_trained_encoders_curve_and_its_last_point_is_the_final_knn(tmp_path):
    """With the whole labelled set as the bank and the test images scored, the monitor's last evaluation is the
    study's own kNN probe: the same features of the same images with the final weights."""
    cfg = StudyConfig(n_images=400, encoders=("random", "supervised", "simclr"), epochs=2, analyses=(),
                      cache=False, parallel=False, overrides=("monitor.bank=0", "monitor.test=true"))
    results = run(cfg, tmp_path / "r", log=lambda line: None, draw=False)
    for name in ("supervised", "simclr"):
        online = results["encoders"][name]["online"]
        assert [e for e, _v in online["knn"]] == [0, 1, 2]
        assert online["knn_test"][-1][1] == results["encoders"][name]["knn_accuracy"]
        assert online["best_knn_test"] == max(v for _e, v in online["knn_test"])
    assert "online" not in results["encoders"]["random"]  # nothing trained, nothing watched
    saved = json.loads((tmp_path / "r" / "results.json").read_text())
    assert saved["config"]["monitor"]["test"] is True and "online_knn_test" in saved["figures"]


def test_the_cifar10_study_scores_the_protocol_number_on_test(cifar_jpeg, tmp_path, monkeypatch):
    """LightlySSL's protocol as a named study: every training image votes (k = 200), the test images are scored
    during training, the best of those is labelled as selecting on test; no validation images are carved."""
    from click.testing import CliRunner

    from sslab.cli import main

    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["run", "cifar10", "--data", str(cifar_jpeg), "--n-images", "150", "--image-size", "16",
                                  "--epochs", "1", "--methods", "random,simclr", "--set", "simclr.batch_size=64", "--name", "c"])
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "runs" / "c" / "results.json").read_text())
    assert res["n_val"] == 0 and res["config"]["knn_k"] == 200 and res["config"]["methods"]["simclr"]["views"] == "cifar"
    online = res["encoders"]["simclr"]["online"]
    assert "knn" not in online and [e for e, _v in online["knn_test"]] == [0, 1]
    assert online["knn_test"][-1][1] == res["encoders"]["simclr"]["knn_accuracy"]  # every training image voted
    report = (tmp_path / "runs" / "c" / "report.html").read_text()
    assert "selects on test" in report and "k=200" in report
