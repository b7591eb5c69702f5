"""Issue 21 (begun): her language through gettext catalogs, checked so no message stays untranslated."""
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from device.errors import ConfigError
from device.i18n import LANGUAGES, language

ROOT = Path(__file__).resolve().parents[1]
PFMT = [sys.executable, "-m", "device.cli"]


def _checker():
    spec = importlib.util.spec_from_file_location("check_catalogs", ROOT / "scripts" / "check-catalogs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_marked_message_is_translated_in_every_language():
    assert _checker().problems() == []


def test_a_new_untranslated_message_fails_the_check(tmp_path):
    for d in ("device", "drivers", "calibration"):
        shutil.copytree(ROOT / d, tmp_path / d, ignore=shutil.ignore_patterns("__pycache__"))
    assert _checker().problems(tmp_path) == []
    words = tmp_path / "device/words.py"
    words.write_text(words.read_text() + '\nNEW = N_("Squeeze a little longer")\n')
    bad = _checker().problems(tmp_path)
    assert {b.split(":")[0] for b in bad} == {"nb", "sv", "da"} and all("Squeeze a little longer" in b for b in bad)


@pytest.mark.parametrize("code, words", [
    ("nb", {"Squeeze": "Knip", "Hold": "Hold", "Let go": "Slipp", "Quick lift": "Raskt løft", "Rest": "Hvil"}),
    ("sv", {"Squeeze": "Knip", "Hold": "Håll", "Let go": "Släpp", "Quick squeezes": "Snabba knip", "Rest": "Vila"}),
    ("da", {"Squeeze": "Knib", "Hold": "Hold", "Let go": "Slip", "Quick squeezes": "Hurtige knib", "Rest": "Hvil"}),
])
def test_the_leaflets_own_words(code, words):
    tr = language(code)
    assert {k: tr(k) for k in words} == words


def test_numbers_in_each_languages_notation():
    assert language("en").num(2.5) == "2.5" and language("nb").num(2.5) == "2,5"
    assert language("sv").num(12.25, "{:.2f}") == "12,25" and language("da").num(None) == "—"


def test_an_unknown_language_is_refused_with_the_allowed_ones(tmp_path):
    with pytest.raises(ConfigError, match="allowed: en .English., nb"):
        language("fi")
    cfg = tmp_path / "device.toml"
    cfg.write_text((ROOT / "examples" / "device.toml").read_text() + '\n[voice]\nlanguage = "de"\n')
    r = subprocess.run(PFMT + ["train", "--config", str(cfg), "--data", str(tmp_path / "d"), "--speed", "0",
                               "--view", "quiet", "--reps", "1", "--sets", "1"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "[voice] language" in r.stderr and "'de'" in r.stderr and "Traceback" not in r.stderr
    assert set(LANGUAGES) == {"en", "nb", "sv", "da"}


def test_a_session_in_norwegian(tmp_path):
    r = subprocess.run(PFMT + ["train", "--data", str(tmp_path / "d"), "--speed", "0", "--view", "lines", "--lang", "nb",
                               "--reps", "2", "--sets", "1"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "serie 1 rep 1: bra" in r.stdout and "fullført på" in r.stdout and "øvelse" in r.stdout


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is installed by bootstrap.sh where apt can")
@pytest.mark.parametrize("code", ["nb", "sv", "da", "en"])
def test_spoken_cues_start_within_50_ms_of_their_cues(tmp_path, code):
    """Spoken cues rendered offline (espeak-ng) and played by the emulated device into one WAV:
    every word begins within 50 ms of its cue, and nothing is heard that was not cued."""
    import json

    import numpy as np

    from drivers.speech import RATE_HZ, read_wav

    d = tmp_path / "d"
    r = subprocess.run(PFMT + ["speech", "render", "--lang", code, "--data", str(d)], capture_output=True, text=True,
                       cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    wav = tmp_path / "cues.wav"
    r = subprocess.run(PFMT + ["train", "--data", str(d), "--speed", "0", "--view", "quiet", "--lang", code, "--reps", "3",
                               "--sets", "1", "--speech-out", str(wav), "--json"], capture_output=True, text=True, cwd=ROOT,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    said = json.loads(r.stdout)["speech"]
    assert [n for _, n in said[:4]] == ["get_ready", "squeeze", "release", "rest"]
    x = read_wav(wav)
    frame = int(0.005 * RATE_HZ)
    loud = np.abs(x[: len(x) // frame * frame]).reshape(-1, frame).max(axis=1) > 0.02
    onsets, quiet_for = [], 1e9
    for i, on in enumerate(loud):  # a sound after at least 60 ms of silence is a new word
        if on and quiet_for >= 0.06:
            onsets.append(i * frame / RATE_HZ)
        quiet_for = 0.0 if on else quiet_for + frame / RATE_HZ
    cue_times = [t for t, _ in said]
    for t in cue_times:
        assert min(abs(o - t) for o in onsets) <= 0.05, f"cue at {t:.3f} s: no word within 50 ms"
    for o in onsets:  # within a word, the voice may pause (a comma): each pause follows a cue
        assert any(-0.05 <= o - t < 3.0 for t in cue_times), f"a sound at {o:.3f} s that no cue began"


def test_the_session_list_in_swedish(tmp_path):
    d = tmp_path / "d"
    subprocess.run(PFMT + ["train", "--data", str(d), "--speed", "0", "--view", "quiet", "--reps", "1", "--sets", "1"],
                   check=True, capture_output=True, cwd=ROOT, timeout=300)
    r = subprocess.run(PFMT + ["sessions", "--data", str(d), "--lang", "sv"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and "startad" in r.stdout and "genomförd" in r.stdout and "bra/gjort" in r.stdout
    r = subprocess.run(PFMT + ["sessions", "--data", str(d), "--json"], capture_output=True, text=True, cwd=ROOT)
    assert '"status": "completed"' in r.stdout  # machine-readable output stays language-neutral


def test_a_tr_inside_an_f_string_is_seen_by_the_check(tmp_path):
    # xgettext does not look inside an f-string's fields; the check must (the report's are there)
    for d in ("device", "drivers", "calibration"):
        shutil.copytree(ROOT / d, tmp_path / d, ignore=shutil.ignore_patterns("__pycache__"))
    f = tmp_path / "device/words.py"
    f.write_text(f.read_text() + '\n\ndef shown(tr):\n    return f"<h2>{tr(\'A heading nobody translated\')}</h2>"\n')
    assert any("A heading nobody translated" in b for b in _checker().problems(tmp_path))


def test_every_built_in_programme_carries_its_own_translations():
    from device.training.programme import builtin_names, load_programme

    for name in builtin_names():
        p = load_programme(name)
        for code in ("nb", "sv", "da"):
            assert p.text("title", code) != p.title, (name, code)
            if p.notes:
                assert p.text("notes", code) != p.notes, (name, code)
            for ex in p.exercises:
                assert ex.text("title", code) != ex.title and (not ex.cue or ex.text("cue", code) != ex.cue), \
                    (name, ex.name, code)
    ex = load_programme("norwegian_intensive").exercise("contact")
    assert ex.text("cue", "nb") == "Løft lett innover og oppover, slipp så helt."  # the leaflet's words
    assert ex.text("cue", "en") == ex.cue


@pytest.mark.parametrize("table, why", [
    ('[translation.de]\ntitle = "x"\n', "translation.de: not a language"),
    ('[translation.nb]\nsubtitle = "x"\n', "unknown key 'subtitle'"),
    ('[translation.nb]\ntitle = ""\n', "translation.nb.title must be text"),
    ('translation = 3\n', "translation must be a table"),
])
def test_a_bad_translation_in_a_programme_file_is_refused_by_name(tmp_path, table, why):
    from device.training.programme import ProgrammeError, load_programme

    text = (ROOT / "device/training/programmes/maintenance.toml").read_text(encoding="utf-8")
    head, _, rest = text.partition("\n[translation.nb]")
    f = tmp_path / "mine.toml"
    f.write_text(head + "\n" + table + "\n[[exercise]]" + rest.partition("[[exercise]]")[2], encoding="utf-8")
    with pytest.raises(ProgrammeError, match=why.replace("(", r"\(")):
        load_programme(f)


def test_a_session_summary_carries_the_programme_title_in_each_language(tmp_path):
    from device.cli.train import TrainOptions, run
    from device.records.summary import title_in

    s = run(TrainOptions(programme="maintenance", speed=0, data_dir=tmp_path, view="quiet",
                         overrides={"reps": 1, "sets": 1}))
    assert title_in(s, "da") == "Vedligeholdelse: 8–12 maksimale knib 1–2 gange om ugen"
    assert title_in(s, "en") == s["programme_title"] and title_in({"programme": "x"}, "nb") == "x"


def _english_left(text: str, code: str) -> list[str]:
    """The English messages (their fixed words, between fields) found in ``text`` written in
    ``code``, of those the catalog translates differently: what a reader of ``code`` would see
    untranslated. Short fragments are left out (a word like "s" or "MVC" is the same everywhere)."""
    import re

    checker = _checker()
    have = checker.catalog(ROOT / "device" / "locale" / code / "LC_MESSAGES" / "pfmt.po")
    found = []
    for msgid, (msgstr, _) in have.items():
        if msgstr == msgid:
            continue
        for part in re.split(r"\{[^{}]*\}", msgid):
            part = part.strip(" .,:;()—-")
            if len(part) >= 14 and part not in msgstr and part in text:
                found.append(part)
    # and English that was never marked: its little words, which these languages do not have
    from device.records import norms

    for cited in (norms.OLEKSY, norms.ANGELO):  # a paper's title is cited as it was published
        text = text.replace(cited, "")
    found += [m.group(0) for m in re.finditer(r"(?i)(?:^|(?<=\s))(?:the|is|are|was|with|this|your|of|and|not|has)"
                                              r"(?=\s)[^\n]{0,40}", text)]
    return sorted(set(found))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A device the physiotherapist calibrated in Danish, with a training session and a pressure
    assessment; returns its data directory and what the calibration dialogue said."""
    import json

    root = tmp_path_factory.mktemp("i18n")
    d = root / "d"
    answers = root / "answers.json"
    answers.write_text(json.dumps({"new_pin": "bekken-2468-fysio", "new_pin_again": "bekken-2468-fysio",
                                   "accept": "j", "physio": "PT-7", "patient_code": "P-042", "retry": "n",
                                   "progression": "j", "contact.reps": "2", "contact.sets": "1"}))
    r = subprocess.run(PFMT + ["calibrate", "--data", str(d), "--answers", str(answers), "--lang", "da"],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    for args in ([], ["--programme", "pressure_assessment"]):
        t = subprocess.run(PFMT + ["train", "--data", str(d), "--speed", "0", "--view", "quiet", *args],
                           capture_output=True, text=True, cwd=ROOT, timeout=600)
        assert t.returncode == 0, t.stderr
    return d, r.stdout


def test_the_calibration_dialogue_in_danish(trained):
    _, said = trained
    assert "Patientkalibrering. Indfør proben" in said and "Gennemgang:" in said and "Godkend og gem" in said
    assert "j/N" in said or "J/n" in said  # her own yes and no
    assert _english_left(said, "da") == []


@pytest.mark.parametrize("code", ["nb", "sv", "da"])
def test_the_report_in_each_language_leaves_no_english(trained, tmp_path, code):
    out = tmp_path / f"report-{code}.html"
    r = subprocess.run(PFMT + ["report", "--data", str(trained[0]), "--out", str(out), "--lang", code],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    page = out.read_text(encoding="utf-8")
    assert f'<html lang="{code}">' in page
    import html as h
    import re

    text = h.unescape(re.sub(r"<style>.*?</style>|<[^>]+>", " ", page, flags=re.S))
    assert _english_left(text, code) == []
    assert re.search(r"\d,\d", text)  # decimal commas
    english = tmp_path / "report-en.html"  # and the probe finds English where it is
    subprocess.run(PFMT + ["report", "--data", str(trained[0]), "--out", str(english), "--lang", "en"], cwd=ROOT,
                   check=True, capture_output=True, timeout=300)
    assert len(_english_left(h.unescape(re.sub(r"<[^>]+>", " ", english.read_text(encoding="utf-8"))), code)) > 20
    assert _english_left(r.stdout, code) == []  # what the command said


@pytest.mark.parametrize("code", ["nb", "sv", "da"])
def test_errors_are_told_in_the_readers_language(tmp_path, code):
    r = subprocess.run(PFMT + ["report", "--data", str(tmp_path / "none"), "--lang", code], capture_output=True,
                       text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith(f"pfmt report: {language(code)('error')}: ") and _english_left(r.stderr, code) == []
    assert str(tmp_path / "none") in r.stderr  # the field, as given


@pytest.mark.parametrize("code", ["nb", "sv", "da"])
def test_her_sessions_read_in_each_language_leave_no_english(trained, code):
    d = str(trained[0])
    for args in (["sessions", "list"], ["sessions", "show", "1"], ["sessions", "show", "2"], ["sessions", "trend"],
                 ["sessions", "check"], ["profile", "show"]):
        r = subprocess.run(PFMT + [*args, "--data", d, "--lang", code], capture_output=True, text=True, cwd=ROOT,
                           timeout=120)
        assert r.returncode == 0, (args, r.stderr)
        assert _english_left(r.stdout, code) == [], args


@pytest.mark.parametrize("code", ["nb", "sv", "da"])
def test_a_session_as_she_sees_it_leaves_no_english(tmp_path, code):
    r = subprocess.run(PFMT + ["train", "--data", str(tmp_path / "d"), "--speed", "0", "--view", "lines", "--lang", code,
                               "--reps", "2", "--sets", "1", "--patient", "bears_down"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    assert _english_left(r.stdout, code) == []


def test_an_error_is_told_in_her_language_with_her_numbers_and_its_english_kept():
    import pickle

    from device.errors import N_, CalibrationError, Phrase

    e = CalibrationError(N_("{role}: saturated at {what}: the ADC is at its ±{fs:g} V limit for {value:.0f} % of the "
                            "samples; {hint}"), role="pelvic", what=Phrase(N_("the shorted inputs")), fs=4.096,
                         value=12.0, hint=Phrase(N_("use a lower reference")))
    assert str(e) == ("pelvic: saturated at the shorted inputs: the ADC is at its ±4.096 V limit for 12 % of the "
                      "samples; use a lower reference")
    assert e.localized(language("nb")) == ("pelvic: mettet ved de kortsluttede inngangene: ADC-en er ved grensen "
                                           "±4,096 V for 12 % av prøvene; bruk en lavere referanse")
    outer = CalibrationError(N_("{name}: {e} (nothing was saved)"), name="sensor", e=e)
    assert "(ingenting ble lagret)" in outer.localized(language("nb")) and "mettet ved" in outer.localized(language("nb"))
    assert str(pickle.loads(pickle.dumps(e))) == str(e)
    assert str(CalibrationError("{a} {b}", a=1)) == "{a} {b} {'a': 1}"  # a template that does not fit: no crash
