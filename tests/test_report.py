"""Issue 20 end to end: a simulated patient is assessed (the Glazer protocol on the EMG probe, the
pressure assessment on the pressure probe), trains (four weeks on the pressure probe), and the physiotherapist's report
says what the store holds — checked figure by figure, then rendered in a real headless browser
(Chromium) as a screenshot and an A4 PDF."""
import datetime as dt
import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from device import words
from device.appliance.compose import TrainOptions, run
from device.records import assessment
from device.records.report import label, num, phase_name
from device.records.reports import trend
from device.records.store import SessionStore

ROOT = Path(__file__).resolve().parents[1]
PFMT = [sys.executable, "-m", "device.cli"]
SECRET = "bekken-2468-fysio"
MONDAY = dt.date(2026, 11, 2)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


WEEKS = {"pressure": 4, "emg": 1}  # four weeks on one probe; the EMG emulation is the slower (860 SPS)


def _device(root: Path, modality: str, assessment_name: str) -> Path:
    """A calibrated device (2 sessions a week prescribed), assessed, then its weeks of training."""
    d = root / modality
    answers = root / f"{modality}.json"
    answers.write_text(json.dumps({"new_pin": SECRET, "new_pin_again": SECRET, "accept": "y", "physio": "PT-7",
                                   "patient_code": "P-042", "retry": "n", "progression": "y", "days_per_week": "2",
                                   "contact.reps": "4", "contact.sets": "1"}))
    r = subprocess.run(PFMT + ["calibrate", "--data", str(d), "--answers", str(answers), "--modality", modality],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    run(TrainOptions(data_dir=d, programme=assessment_name, speed=0, view="quiet", seed=3, today=MONDAY))
    weeks = WEEKS[modality]
    for week in range(weeks):
        for day, patient in ((0, "correct"), (3, "bears_down" if week == min(1, weeks - 1) else "correct")):
            run(TrainOptions(data_dir=d, speed=0, view="quiet", seed=10 * week + day, patient=patient,
                             today=MONDAY + dt.timedelta(days=7 * week + day + 1)))
    return d


@pytest.fixture(scope="module")
def devices(tmp_path_factory):
    from concurrent.futures import ProcessPoolExecutor

    root = tmp_path_factory.mktemp("report")
    with ProcessPoolExecutor(max_workers=2) as pool:  # the two devices at once (CI has two cores)
        jobs = {m: pool.submit(_device, root, m, a) for m, a in (("pressure", "pressure_assessment"), ("emg", "glazer"))}
        return {m: j.result() for m, j in jobs.items()}


class _Tables(HTMLParser):
    """Every table of the page by its class: rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._cls: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self.svgs: list[str] = []
        self.rects: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._cls = a.get("class") or ""
            self.tables.setdefault(self._cls, [])
        elif tag == "tr" and self._cls is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "svg":
            self.svgs.append(a.get("class") or "")
        elif tag == "rect" and a.get("class") == "contraction":
            self.rects.append(a.get("data-kind") or "")

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._cls is not None:
            self.tables[self._cls].append(self._row)
            self._row = None
        elif tag == "table":
            self._cls = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _report(d: Path, out: Path) -> tuple[str, _Tables]:
    r = subprocess.run(PFMT + ["report", "--data", str(d), "--out", str(out)], capture_output=True, text=True,
                       cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr
    page = out.read_text(encoding="utf-8")
    t = _Tables()
    t.feed(page)
    return page, t


@pytest.mark.slow  # two calibrations, two assessments and 16 sessions, ~2 min
@pytest.mark.parametrize("modality", ["pressure", "emg"])
def test_every_figure_in_the_report_is_the_stored_data(devices, modality, tmp_path):
    d = devices[modality]
    page, t = _report(d, tmp_path / "report.html")
    assert "<script" not in page and "http://" not in page and "https://" not in page  # self-contained
    with SessionStore(d, create=False) as db:
        sessions = db.sessions()
        kind = "glazer" if modality == "emg" else "pressure"
        assessed = next(s for s in sessions if (s.info["summary"] or {}).get("assessment") == kind)
        m = assessment.measure(db, assessed)
        training = [s for s in sessions if not (s.info["summary"] or {}).get("assessment")]
        weeks = trend(training, fill=True, today=dt.date.fromisoformat(sessions[-1].info["started_at"][:10]))
        stored_reps = {s.id: db.reps(s.id) for s in sessions}
    n = WEEKS[modality]
    assert len(training) == 2 * n and len(weeks) == n  # two sessions a week, the assessment on the first Monday
    # the assessment's every figure, as measured from the store
    results = t.tables["results"]
    shown = {(r[0], r[1]): r[2] for r in results[1:]}
    flat = {(phase_name(ph), label(k)): v for ph, vals in m["results"].items() if isinstance(vals, dict)
            for k, v in vals.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    assert flat and len(results) - 1 >= len(flat)
    for key, v in flat.items():
        assert shown[key] == num(v, "{:g}"), key
    norm_rows = {tuple(r) for r in t.tables["norms"] if r != t.tables["norms"][0]}  # latest, and its session
    assert len(norm_rows) == (5 if kind == "glazer" else 1)
    # week by week: done, adherence, strength, endurance, relaxation and faults as trend() has them
    rows = t.tables["weeks"][1:]
    assert [r[0] for r in rows] == [w["week"] for w in weeks]
    for r, w in zip(rows, weeks):
        assert r[2] == num(w["adherence_pct"], "{:.0f}") and r[3] == num(w["strength_max_mvc_pct"], "{:.0f}")
        assert r[4] == num(w["endurance_longest_hold_s"]) and r[5] == num(w["relaxed_pct"], "{:.0f}")
        assert [int(x) for x in r[6:9]] == [w["bear_down"], w["accessory"], w["not_relaxed"]]
    assert sum(int(r[6]) for r in rows) > 0  # the week she bore down shows
    # every session's reps, as stored
    reps_tables = t.tables["reps"]
    assert len(reps_tables) - reps_tables.count(reps_tables[0]) == sum(len(v) for v in stored_reps.values())
    body = [r for r in reps_tables if r != reps_tables[0]]
    every = [r for sid in sorted(stored_reps) for r in stored_reps[sid]]
    for row, r in zip(body, every):
        assert row[0] == r["exercise"] and row[3] == num(r["hold_s"]) and row[5] == num(r["mvc_pct"], "{:.0f}")
        assert row[9] == ("recorded" if r.get("told") == "rep_recorded" else "good" if r["good"]
                          else words.reasons(r["reasons"]) or "—")  # the reasons in words, as she was told
    # the work/rest statistics of every session, the curves with their contractions
    assert len(t.tables["workrest"]) - t.tables["workrest"].count(t.tables["workrest"][0]) == len(sessions)
    assert t.svgs.count("curve") == len(sessions) and t.svgs.count("bars") == 4
    assert "bear_down" in t.rects and "lift" in t.rects
    # the prescription's history and the CERT items
    assert [r[2] for r in t.tables["history"][1:]] == ["PT-7"]
    cert = {r[0]: r[1] for r in t.tables["cert"][1:]}
    assert f"{2 * n} completed in {n} week(s)" in cert["14 Frequency"]
    assert "2 sessions a week prescribed" in cert["14 Frequency"]
    if n >= 4:
        assert cert["7b Progression applied"] != "none"  # four weeks of good sessions progress her


def _overflow_probe(page: str) -> str:
    """The page with a probe that writes, into the title, every element wider than the page."""
    probe = ("<script>window.onload=function(){var w=document.documentElement.clientWidth,bad=[];"
             "document.querySelectorAll('body *').forEach(function(el){var r=el.getBoundingClientRect();"
             "if(r.right>w+1||r.left<-1)bad.push(el.tagName+'.'+(el.className.baseVal!==undefined?el.className.baseVal:el.className));});"
             "document.title='overflow:'+bad.length+':'+bad.slice(0,5).join(',');};</script>")
    return page.replace("</body>", probe + "</body>")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is installed by bootstrap.sh where apt can")
@pytest.mark.parametrize("width", [390, 1200])  # a phone and a PC
def test_the_report_renders_and_prints_in_a_real_browser(devices, tmp_path, width):
    page, t = _report(devices["emg"], tmp_path / "report.html")
    probe = tmp_path / "probe.html"
    probe.write_text(_overflow_probe(page), encoding="utf-8")
    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--window-size={width},2000"]
    dom = subprocess.run(base + ["--virtual-time-budget=5000", "--dump-dom", probe.as_uri()], capture_output=True,
                         text=True, timeout=120).stdout
    title = re.search(r"<title>(.*?)</title>", dom).group(1)
    assert title.startswith("overflow:0:"), f"elements wider than a {width}px page: {title}"
    # every chart there, as the browser built the page
    assert dom.count('<svg class="curve"') == t.svgs.count("curve") and dom.count('<svg class="bars"') == 4
    shot = ROOT / "tests" / "out" / f"report-{width}.png"
    shot.parent.mkdir(exist_ok=True)
    subprocess.run(base + [f"--screenshot={shot}", (tmp_path / "report.html").as_uri()], capture_output=True, timeout=120)
    assert shot.stat().st_size > 20_000  # drawn, not blank
    pdf = tmp_path / "report.pdf"
    subprocess.run(base + ["--no-pdf-header-footer", f"--print-to-pdf={pdf}", (tmp_path / "report.html").as_uri()],
                   capture_output=True, timeout=120)
    data = pdf.read_bytes()
    pages = len(re.findall(rb"/Type\s*/Page[^s]", data))
    sessions = t.svgs.count("curve")
    # the summary (at least two A4 pages), then each session from a page of its own
    assert sessions + 2 <= pages <= 3 * sessions + 6, pages
    assert data[:5] == b"%PDF-"
    shutil.copy(pdf, ROOT / "tests" / "out" / "report.pdf")
