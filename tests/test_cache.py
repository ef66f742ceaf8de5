"""The encoder cache: the same encoder asked for again is loaded, not retrained; anything that changes its
weights changes its key; --force retrains; the report says which encoders came from the cache."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from sslab import store
from sslab.devices import resolve_precision
from sslab.study import StudyConfig, run

BASE = StudyConfig(n_images=300, encoders=("raw", "supervised", "vae"), epochs=1, analyses=("labels",),
                   overrides=("labels.per_class=(20,)", "labels.fractions=()"))


def _run(tmp_path, name, cfg=BASE, draw=False):
    logs: list[str] = []
    results = run(cfg, tmp_path / name, log=logs.append, draw=draw)
    return results, "\n".join(logs)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """BASE run once, into a cache of its own: (its folder, its results, its log, its cache)."""
    root = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SSLAB_CACHE", str(root / "cache"))
        results, log = _run(root, "first")
        return root / "first", results, log, store.cache_dir()


@pytest.fixture(autouse=True)
def _from_the_first_run(first_run, _own_encoder_cache):
    """Each test starts where the first run left the cache (a copy in its own, empty cache folder)."""
    shutil.copytree(first_run[3], store.cache_dir(), dirs_exist_ok=True)


def test_a_second_study_loads_its_encoders_from_the_cache(tmp_path, first_run):
    out, first, log1, _ = first_run
    assert first["cached"] == {} and "from the cache" not in log1
    entries = sorted(store.cache_dir().glob("*.json"))
    assert len(entries) == 3  # supervised, vae, and supervised retrained on 20 labels per class
    second, log2 = _run(tmp_path, "second", draw=True)
    assert second["cached"] == {"supervised": "the cache", "vae": "the cache",
                                "supervised on 60 labels": "the cache"}
    assert " epochs on " not in log2  # nothing trained: "name: training N epochs on M images"
    for name in ("supervised", "vae"):
        a = load_file(str(out / "encoders" / f"{name}.safetensors"))
        b = load_file(str(tmp_path / "second" / "encoders" / f"{name}.safetensors"))
        assert all(torch.equal(a[k], b[k]) for k in a)
        assert second["encoders"][name]["test_accuracy"] == first["encoders"][name]["test_accuracy"]
        assert second["encoders"][name]["from"] == "the cache"
    assert second["labels"] == first["labels"]
    assert "Loaded finished from the cache" in (tmp_path / "second" / "report.html").read_text()


OTHER_PRECISION = "bf16" if resolve_precision("auto", "cpu") == "fp32" else "fp32"  # not what "auto" resolves to


@pytest.mark.parametrize("change", [{"seed": 1}, {"overrides": BASE.overrides + ("vae.lr=0.0031",)},
                                    {"precision": OTHER_PRECISION}, {"channels_last": False}, {"n_images": 320}])
def test_what_changes_the_weights_changes_the_key(tmp_path, change):
    import dataclasses

    second, _ = _run(tmp_path, "second", dataclasses.replace(BASE, **change))
    assert "vae" not in second["cached"]


def test_force_retrains_and_no_cache_leaves_it_alone(tmp_path):
    import dataclasses

    forced, log = _run(tmp_path, "forced", dataclasses.replace(BASE, force=True))
    assert forced["cached"] == {} and "vae: training 1 epochs" in log
    before = {p.name: p.stat().st_mtime_ns for p in store.cache_dir().iterdir()}
    off, _ = _run(tmp_path, "off", dataclasses.replace(BASE, cache=False))
    assert off["cached"] == {}
    assert {p.name: p.stat().st_mtime_ns for p in store.cache_dir().iterdir()} == before


def test_a_damaged_entry_is_retrained(tmp_path):
    for p in store.cache_dir().glob("*.safetensors"):
        p.write_bytes(b"not a safetensors file")
    second, _ = _run(tmp_path, "second")
    assert second["cached"] == {}
    meta = json.loads(next(store.cache_dir().glob("*.json")).read_text())
    assert meta["history"]  # written again by the retraining
