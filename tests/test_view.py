"""The live view as a person reads it (issue 17): the status line fits the terminal at every
moment (80 columns and narrower), says each state in plain words, and a line tells each
instruction, result and warning; ``--json`` keeps standard output for the JSON alone."""
from __future__ import annotations

import io
import json
import re
import subprocess
import sys

import device.appliance.compose as cli_train
from device.training.view import LiveView
from device.words import PHASE, REASON, WARNING

INTERNAL = re.compile(r"\b(get_ready|set_rest|quick_lift|bear_down|not_relaxed|too_weak|True|False|None)\b|_")


def _capture(tmp_path, width, patient="correct", **kw):
    buf = io.StringIO()
    view = LiveView(True, out=buf, width=width, every_s=0.0)
    orig = cli_train.make_view
    cli_train.make_view = lambda *a, **k: view
    try:
        s = cli_train.run(cli_train.TrainOptions(programme="norwegian_intensive", patient=patient, speed=0, seed=2,
                                                 data_dir=tmp_path / f"{patient}-{width}", view="live",
                                                 overrides={"reps": 2, "sets": 2, "set_rest_s": 5.0, **kw}))
    finally:
        cli_train.make_view = orig
    out = buf.getvalue().replace("\x1b[K", "")
    # "\r<status>" is redrawn in place; "\r<line>\n<line>\n" are the told lines that scroll above
    chunks = out.split("\r")
    status = [c.rstrip("\n") for c in chunks if c and ("\n" not in c.rstrip("\n") and
                                                       (not c.endswith("\n") or c is chunks[-1]))]
    news = [line for c in chunks if c.endswith("\n") and c is not chunks[-1] for line in c.split("\n") if line.strip()]
    return s, status, news


def test_the_status_line_fits_and_speaks_plainly(tmp_path):
    for width, patient in ((80, "bears_down"), (60, "weak"), (40, "correct")):
        s, status, news = _capture(tmp_path, width, patient)
        assert status and all(len(line) < width for line in status), max(status, key=len)
        for line in status + news:
            assert not INTERNAL.search(line), line
        phases = {w for w in PHASE.values() if any(line.startswith(w) for line in status)}
        assert {"Get ready", "Squeeze", "Hold", "Let go", "Rest", "Set done, rest"} <= phases, phases
        # her instruction, and a line for each result she heard
        assert any("Lift gently inwards" in line for line in news)
        results = [line for line in news if re.match(r"\s+set \d rep \d: ", line)]
        assert len(results) == 4
        if patient == "weak":
            assert all(REASON["too_weak"] in line for line in results)
        if patient == "bears_down":
            assert any(WARNING["warning_bear_down"] in line for line in news)
        if width == 80:  # at 80 columns the whole line is there: countdown, bar, place, strength
            assert any(re.match(r"Hold +\d\.\d s +\[[█░]+\] contact set 1/2 rep 1/2 +\d+/30 %MVC light", line)
                       for line in status), status[:5]


def test_json_is_alone_on_standard_output(tmp_path):
    p = subprocess.run([sys.executable, "-m", "device.cli", "train", "--speed", "0", "--reps", "1", "--sets", "1",
                        "--data", str(tmp_path), "--json"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["completed"] is True
    assert "set 1 rep 1:" in p.stderr


def test_a_cut_off_session_is_shown_with_what_it_has(tmp_path):
    """A session stopped with Ctrl-C is stored with the runner's part only (no progression, no
    adherence): `pfmt sessions show` once died on it with KeyError: 'progression'."""
    from device.training.view import format_summary
    s, _, _ = _capture(tmp_path, 80)
    for k in ("progression", "adherence", "stored_at"):
        s.pop(k)
    s["completed"], s["interrupted"] = False, True
    text = format_summary(s)
    assert "interrupted" in text and "progression: not assessed" in text


def test_the_summary_after_a_session_fits_the_terminal(tmp_path):
    """The dose, set and adherence lines ran to 110–143 characters (more in Norwegian): wrapped
    to the terminal at spaces, a rep row's reasons continue under its result column, and no word
    is lost or split (a path longer than the line stays whole, to be copied)."""
    from device.i18n import language
    from device.training.view import REP_ROW_RESULT_AT, format_summary
    s, _, _ = _capture(tmp_path, 80, patient="weak")
    for lang in ("en", "nb"):
        whole = format_summary(s, language(lang))
        assert max(len(ln) for ln in whole.splitlines()) > 100  # what there is to wrap
        for width in (79, 60):
            text = format_summary(s, language(lang), width)
            lines = text.splitlines()
            assert all(len(ln) <= width or len(ln.split()) == 1 for ln in lines), [ln for ln in lines if len(ln) > width]
            assert text.split() == whole.split()
            if width == 79:
                cont = [ln for prev, ln in zip(lines, lines[1:]) if re.match(r"\S+ +\d+ +\d+ ", prev)
                        and ln.startswith(" ")]
                assert cont and all(ln[:REP_ROW_RESULT_AT].strip() == "" and ln[REP_ROW_RESULT_AT] != " "
                                    for ln in cont), cont


def test_a_session_does_not_keep_the_events_it_has_handled(tmp_path, monkeypatch):
    """The session handles each block's events and stores them: the pipeline does not keep them
    as well (an hour of EMG makes some 15 000, memory that grew with the session's length)."""
    from device.pipeline import Pipeline
    from device.records.store import SessionStore
    seen: list[Pipeline] = []
    orig = Pipeline.process

    def process(self, t, block):
        if not seen:
            seen.append(self)
        return orig(self, t, block)

    monkeypatch.setattr(Pipeline, "process", process)
    s, _, _ = _capture(tmp_path, 80)
    assert seen and seen[0].events == [] and seen[0].contractions
    with SessionStore(tmp_path / "correct-80", create=False) as db:
        (sess,) = db.sessions()
        assert len(db.events(sess.id, ("contraction",))) >= len(seen[0].contractions) > 0
