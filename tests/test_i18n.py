"""Messages and reports in another language: every marked message has an entry in every catalogue, stored
English messages are translated with their values, the language comes from --lang or the environment, and
a new language starts from a generated catalogue."""

import shutil

import polib
import pytest
from click.testing import CliRunner

from sslab import i18n
from sslab.cli import main

LANGUAGES = [lang for lang in i18n.languages() if lang != "en"]


@pytest.fixture(autouse=True)
def english_unless_asked():
    i18n.use("en")
    yield
    i18n.use(None)


def test_japanese_is_there():
    assert "ja" in LANGUAGES


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_message_has_an_entry_with_the_same_placeholders(lang):
    po = polib.pofile(str(i18n.LOCALE / f"{lang}.po"))
    entries = {e.msgid: e for e in po}
    marked = i18n.marked()
    assert len(marked) > 150
    missing = [m for m in marked if m not in entries or not entries[m].msgstr or "fuzzy" in entries[m].flags]
    assert not missing, f"{len(missing)} messages lack a {lang} entry, e.g. {missing[:3]}"
    for msgid in marked:
        assert i18n.placeholders(entries[msgid].msgstr) == i18n.placeholders(msgid), msgid
    stale = [e.msgid for e in po if e.msgid not in marked]
    assert not stale, f"entries for messages no longer in the code: {stale[:3]}"


def test_marked_finds_calls_and_study_texts():
    marked = i18n.marked()
    assert "How many labels do they need?" in marked  # N_ in an analysis module
    assert "[encoder {k}/{n}] {name}" in marked  # _ in the study
    assert any(m.startswith("What do supervised, generative and contrastive encoders") for m in marked)  # a study's about


def test_messages_and_stored_texts_are_translated():
    assert i18n._("How many labels do they need?") == "How many labels do they need?"
    i18n.use("ja")
    assert i18n._("How many labels do they need?") == "ラベルはどれだけ必要か？"
    assert i18n._("a message with no entry") == "a message with no entry"  # English is the fallback
    # A note stored in English in results.json, with its values carried into the template.
    assert i18n.text("test: 4000 images drawn at random (20%, seed 2021)") == "テスト：無作為に選んだ 4000 枚（20%、シード 2021）"
    assert i18n.text("held out for transfer: classes a, b") == "転移用に取り置いたクラス：a, b"
    assert i18n.text("something else entirely") == "something else entirely"


@pytest.mark.parametrize("env, expected", [
    ({"LANG": "ja_JP.UTF-8"}, "ja"), ({"LANG": "fr_FR.UTF-8"}, "en"), ({"LANG": "C"}, "en"), ({}, "en"),
    ({"LANGUAGE": "ja:en", "LANG": "en_GB.UTF-8"}, "ja"), ({"LC_ALL": "en_US.UTF-8", "LANG": "ja_JP.UTF-8"}, "en"),
])
def test_the_language_comes_from_the_environment(env, expected, monkeypatch):
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    i18n.use(None)
    assert i18n.current() == expected


def test_an_unknown_language_is_one_line(tmp_path):
    r = CliRunner().invoke(main, ["report", str(tmp_path), "--lang", "xx"])
    assert r.exit_code == 2 and r.stderr.strip() == "sslab: error: no messages in language 'xx'; languages: en, ja"


def test_command_line_messages_follow_the_language(tmp_path):
    r = CliRunner().invoke(main, ["report", str(tmp_path / "nothing"), "--lang", "ja"])
    assert r.exit_code == 2 and r.stderr.startswith("sslab: エラー: ")
    assert "Neuromatch の dSprites チュートリアル" in CliRunner().invoke(main, ["studies", "--lang", "ja"]).output
    r = CliRunner(env={"LANG": "ja_JP.UTF-8", "LANGUAGE": "", "LC_ALL": "", "LC_MESSAGES": ""}).invoke(main, ["studies"])
    assert "Neuromatch の dSprites チュートリアル" in r.output


def test_a_new_language_starts_from_every_message(tmp_path, monkeypatch):
    shutil.copy(i18n.LOCALE / "ja.po", tmp_path / "ja.po")
    monkeypatch.setattr(i18n, "LOCALE", tmp_path)
    i18n.update("de")
    de = polib.pofile(str(tmp_path / "de.po"))
    assert {e.msgid for e in de} == set(i18n.marked()) and all(e.msgstr == "" for e in de)
    assert "de" in i18n.languages()
    i18n.update("ja")  # an existing catalogue keeps its translations
    ja = polib.pofile(str(tmp_path / "ja.po"))
    assert len(ja.translated_entries()) == len(i18n.marked())


def test_a_language_for_a_block_leaves_the_setting_as_it_was(monkeypatch):
    monkeypatch.setenv("LANG", "ja_JP.UTF-8")
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(var, raising=False)
    i18n.use(None)
    with i18n.language("en") as lang:
        assert lang == "en" and i18n._("The data") == "The data"
    assert i18n.current() == "ja"  # from the environment again, not pinned to what the block used
