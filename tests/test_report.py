"""The report as a person meets it: a first screen with the question, data, encoders and headline table; a
banner on shortened runs; a table of contents; figures drawn from saved data, sized for the column with text
of 10 px or more, each with alt text; Japanese on request; one clear line for what cannot be rendered."""

import json
import re
import shutil

import matplotlib.text
import pytest
import torch
from click.testing import CliRunner

from sslab import i18n, plots
from sslab.cli import main
from sslab.study import StudyConfig, run

COLUMN = 1000  # the report's column, in CSS pixels: figures drawn wider would be shrunk


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A small finished study: one untrained and one trained encoder (1 epoch of its 8), with the similarity
    analysis (its RSM grid) and every figure a study always draws."""
    out = tmp_path_factory.mktemp("report") / "small"
    cfg = StudyConfig(name="small", encoders=("random", "supervised"), n_images=400, epochs=1,
                      analyses=("similarity",), seed=0)
    with i18n.language("en"):
        run(cfg, out, log=lambda m: None)
    return out


@pytest.fixture
def fresh(run_dir, tmp_path):
    """A copy of the finished run, free to damage."""
    return shutil.copytree(run_dir, tmp_path / "small")


def _render(path, *args):
    r = CliRunner().invoke(main, ["report", str(path), *args])
    return r, (path / "report.html").read_text() if (path / "report.html").is_file() else ""


def test_first_screen_contents_banner_and_what_ran(fresh):
    r, page = _render(fresh, "--lang", "en")
    assert r.exit_code == 0, r.output
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page and '<html lang="en">' in page
    first = page[: page.index("<nav>")]  # the first screen: title, banner, data, encoders, headline table
    assert "<h1>sslab study: small</h1>" in first
    assert "Smoke test: these numbers come from a shortened run (--epochs 1: fewer epochs than the recipes " \
           "(supervised 8))" in first
    assert "400 images of 1x64x64" in first and "Encoders: random, supervised." in first
    assert first.count("<tr>") == 4  # header, chance, two encoders
    assert "<th>family</th>" in first and "<td>baselines</td><td>random</td>" in first  # each family named once
    assert "<td>supervised</td><td>supervised</td>" in first
    anchors = re.findall(r"<a href='#([^']+)'>", page)
    assert len(anchors) >= 5 and all(f"id='{a}'" in page or f'id="{a}"' in page for a in anchors)
    assert "Images used: 400." in page and "1 <small>(recipe: 8)</small>" in page
    # An unshortened run has no banner.
    results = json.loads((fresh / "results.json").read_text())
    (fresh / "results.json").write_text(json.dumps(results | {"shortened": []}))
    assert "Smoke test" not in _render(fresh)[1]


def test_figures_fit_the_column_with_readable_text_and_alt(run_dir):
    page = (run_dir / "report.html").read_text()
    images = re.findall(r"<img src='data:image/png;base64,[^']+' width='(\d+)' alt='([^']+)'>", page)
    assert len(images) == page.count("<img ") >= 8
    assert all(int(w) <= COLUMN for w, _ in images)
    assert all(len(alt) > 20 for _, alt in images)
    assert re.search(r"alt='Each panel is one encoder&#x27;s linear probe on the test images: [^']+ — supervised'", page)
    assert page.count("<div class='panels'>") >= 1  # the confusion matrices: one panel per encoder
    for spec in (run_dir / "figures").glob("*.json"):
        with i18n.language("en"):
            figures = plots.draw(plots.load_plot(spec.with_suffix("")))
        for fig in figures:
            fig.canvas.draw()
            texts = [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text().strip()]
            small = [(t.get_text(), t.get_fontsize()) for t in texts if t.get_fontsize() * plots.DPI / 72 < 10]
            assert not small, (spec.stem, small)
            assert fig.get_figwidth() * plots.DPI <= 830, spec.stem


def test_rsm_grid_names_group_values_with_one_colour_bar(run_dir):
    with i18n.language("en"):
        fig, = plots.draw(plots.load_plot(run_dir / "figures" / "rsm"))
    fig.canvas.draw()
    *grid, bar = fig.axes
    assert len(grid) == 2 * 5 and bar.get_ylabel() == "cosine similarity"  # one colour bar, shared
    keys = [ax.get_title() for ax in grid if ax.get_title()]
    assert keys == ["shape", "scale", "orientation", "posX", "posY"]
    bottom = grid[-5:]
    labels = [[t.get_text() for t in ax.get_xticklabels()] for ax in bottom]
    assert labels[0] == ["square", "ellipse", "heart"]
    assert labels[2][0] == "0°" and labels[2][-1].endswith("°") and labels[3][0] == "0.00" and labels[3][-1] == "1.00"
    assert all(not ax.get_xticklabels() for ax in grid[:-5])  # values once, under the bottom row


def test_japanese_report_and_figures(fresh, monkeypatch):
    english = (fresh / "figures" / "rsm_histograms.png").read_bytes()
    r, page = _render(fresh, "--lang", "ja")
    assert r.exit_code == 0 and '<html lang="ja">' in page
    for text in ("目次", "各エンコーダーからラベルをどれだけ読み出せるか？", "エンコーダーは何を保持しているか？",
                 "動作確認用の短縮実行", "使用した画像：400 枚。", "検証：", "テスト：無作為に選んだ"):
        assert text in page, text
    with i18n.language("ja"):
        no_font = plots.font_missing()
    if no_font:  # no Japanese font on this machine: labels stay English, and the page says so
        assert "日本語フォントが見つからない" in page
    else:
        assert (fresh / "figures" / "rsm_histograms.png").read_bytes() != english
        monkeypatch.setattr(plots, "font_missing", lambda: True)  # as on a machine without one
        assert "日本語フォントが見つからない" in _render(fresh, "--lang", "ja")[1]


def test_a_missing_figure_is_one_warning_and_the_rest_renders(fresh):
    (fresh / "figures" / "cka.json").unlink()
    r, page = _render(fresh, "--lang", "en")
    assert r.exit_code == 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sslab: warning: figure cka could not be drawn from ")
    assert "figure cka could not be drawn" in page and page.count("<figure>") >= 6


@pytest.mark.parametrize("content, message", [
    ('{"encoders": ', "cannot read {path}: Expecting value"),
    ('{"encoders": {}}', "{path} is not a complete sslab results file (KeyError: 'figures')"),
    (b"\xff\xfe\x00", "cannot read {path}: 'utf-8' codec can't decode"),
])
def test_a_corrupt_results_file_is_one_line(fresh, content, message):
    path = fresh / "results.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    r, _ = _render(fresh)
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sslab: error: " + message.format(path=path)), r.stderr


def test_a_run_from_before_figure_data_still_renders(fresh):
    results = json.loads((fresh / "results.json").read_text())
    shutil.copy(fresh / "figures" / "cka.png", fresh / "cka.png")
    results["figures"]["cka"] = "cka.png"
    (fresh / "results.json").write_text(json.dumps(results))
    r, page = _render(fresh)
    assert r.exit_code == 0 and r.stderr == ""
    assert page.count("<figure>") == len(results["figures"])


def test_a_runs_encoders_load_for_reuse(run_dir, tmp_path):
    from safetensors.torch import load_file

    from sslab import train
    from sslab.data import dsprites
    from sslab.errors import SslabError
    from sslab.study import load_encoder

    m = load_encoder(run_dir, "supervised")
    saved = load_file(str(run_dir / "encoders" / "supervised.safetensors"))
    assert not m.training and all(torch.equal(m.state_dict()[k], v) for k, v in saved.items())
    assert train.extract(m, dsprites.generate(50).x).shape == (50, 84)
    with pytest.raises(SslabError, match="has no encoder 'vae'; it has random, supervised"):
        load_encoder(run_dir, "vae")
    broken = shutil.copytree(run_dir, tmp_path / "broken")
    (broken / "encoders" / "supervised.safetensors").write_bytes(b"not weights")
    with pytest.raises(SslabError, match="supervised.safetensors is missing or damaged"):
        load_encoder(broken, "supervised")


def test_a_report_that_cannot_be_written_is_one_line(fresh):
    (fresh / "report.html").unlink()
    (fresh / "report.html").mkdir()  # something in the way that no permission bit would catch for root
    r = CliRunner().invoke(main, ["report", str(fresh)])
    lines = r.stderr.strip().splitlines()
    assert r.exit_code == 2 and len(lines) == 1
    assert lines[0] == f"sslab: error: cannot write {fresh / 'report.html'}: Is a directory"
