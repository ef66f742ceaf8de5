"""Several seeds and several runs side by side: `--seeds` and `sslab compare`."""

import json
import statistics

import pytest
from click.testing import CliRunner

from sslab.cli import main
from sslab.monitor import Monitor
from sslab.study import StudyConfig, run

CFG = StudyConfig(n_images=300, encoders=("raw", "vae"), epochs=1, analyses=("labels",),
                  overrides=("labels.per_class=(10, 40)", "labels.fractions=()"))


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """CFG run with seeds 0, 1 and 2: (its folder, its summary)."""
    import dataclasses

    out = tmp_path_factory.mktemp("seeds")
    with pytest.MonkeyPatch.context() as mp:  # an encoder cache of its own
        mp.setenv("SSLAB_CACHE", str(out / "cache"))
        return out, run(dataclasses.replace(CFG, seeds=(0, 1, 2)), out / "s")


def test_seeds_train_each_encoder_per_seed_on_one_split_and_summarise(seeded):
    tmp_path, summary = seeded
    runs = [json.loads((tmp_path / "s" / f"seed-{k}" / "results.json").read_text()) for k in range(3)]
    assert [r["config"]["seed"] for r in runs] == [0, 1, 2]
    assert len({json.dumps(r["split"]) for r in runs}) == 1  # the same split for every seed
    vae = [r["encoders"]["vae"]["test_accuracy"] for r in runs]
    stat = summary["encoders"]["vae"]["test_accuracy"]
    assert stat["points"] == vae and len(set(vae)) > 1  # the seeds train different networks
    assert stat["mean"] == pytest.approx(statistics.fmean(vae)) and stat["sd"] == pytest.approx(statistics.stdev(vae))
    raw = summary["encoders"]["raw"]["test_accuracy"]
    assert raw["sd"] == 0 and raw["mean"] == runs[0]["encoders"]["raw"]["test_accuracy"]  # pixels: no seed
    curve = summary["images_per_class"]["vae"]["40"]
    assert curve["points"] == [r["labels"]["images_per_class"]["vae"]["40"] for r in runs]
    page = (tmp_path / "s" / "report.html").read_text()
    assert page.count("<img") == 3 and "seed 2" in page and "seed-2/report.html" in page
    assert json.loads((tmp_path / "s" / "compare.json").read_text())["runs"] == ["seed 0", "seed 1", "seed 2"]


def test_compare_puts_runs_side_by_side(seeded, tmp_path):
    runs = seeded[0] / "s"
    r = CliRunner().invoke(main, ["compare", str(runs / "seed-0"), str(runs / "seed-1"), "--out", str(tmp_path / "c")])
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "c" / "compare.json").read_text())
    tests = [json.loads((runs / n / "results.json").read_text())["encoders"]["vae"]["test_accuracy"]
             for n in ("seed-0", "seed-1")]
    assert summary["encoders"]["vae"]["test_accuracy"]["points"] == tests
    assert "vae" in r.output and f"{statistics.fmean(tests):.2%}" in r.output
    bad = CliRunner().invoke(main, ["compare", str(tmp_path / "nope")])
    assert bad.exit_code == 2 and "is not a finished run" in bad.output


def test_metrics_are_json_lines_and_tensorboard_events(tmp_path):
    records = [{"step": 1, "epoch": 1, "lr": 0.1, "loss": 2.5}, {"step": 2, "epoch": 1, "lr": 0.2, "loss": 2.25}]
    m = Monitor(tmp_path / "m.jsonl")
    m.write(records)
    m.close()
    assert [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()] == records
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    m = Monitor(None, tmp_path / "tb", "simclr")
    m.write(records)
    m.close()
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "tb")).Reload()
    assert [e.value for e in events.Scalars("simclr/loss")] == [2.5, 2.25]
