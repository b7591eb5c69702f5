"""Issue 22: a recording analysed in blocks is the recording analysed whole — the same JSON to
the last digit — so reading in blocks (bounded memory, any length) cannot change an answer."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from device.cli.analyze import result
from device.errors import InputError
from device.pipeline import analyze, analyze_stream
from device.pipeline.calibration import load_calibration
from device.pipeline.iir import CHUNK
from device.recording import BLOCK_ALIGN, BLOCK_ROWS, Channel, Recording, open_csv, open_edf, read_recording, write_csv

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"
PFMT = [sys.executable, "-m", "device.cli"]
CHOSEN = sorted(EVAL.glob("real/*.csv"))[:4] + sorted(EVAL.glob("dev/*.csv"))[::3]


def _one_shot(csv: Path, cal) -> dict:
    """The old way: the whole file in memory, the pipeline fed it in one block."""
    rec = read_recording(csv)
    p = analyze(rec, cal)

    class Whole:  # what result() reads of a stream
        sample_rate_hz, duration_s, channels = rec.sample_rate_hz, rec.duration_s, rec.channels

    return result(str(csv), Whole, p, cal is not None and bool(cal.channels))  # type: ignore[arg-type]


def _cal(csv: Path):
    c = csv.with_suffix(".cal.json")
    return load_calibration(c) if c.exists() else None


@pytest.mark.skipif(not CHOSEN, reason="the shared eval set sits beside the repository in CI")
@pytest.mark.parametrize("csv", CHOSEN, ids=lambda p: p.stem)
def test_blocks_give_the_one_shot_answer_exactly(csv):
    cal = _cal(csv)
    whole = _one_shot(csv, cal)
    for rows in (BLOCK_ROWS // 4, BLOCK_ROWS):  # a block boundary every 7–65 s, and the default
        s = open_csv(csv, block_rows=rows)
        assert json.dumps(result(str(csv), s, analyze_stream(s, cal), whole["calibrated"])) == json.dumps(whole)
    cmd = PFMT + ["analyze", str(csv), "--json"] + (["--calibration", str(csv.with_suffix(".cal.json"))] if cal else [])
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == json.loads(json.dumps(whole))


def test_an_edf_read_in_blocks_is_the_whole_file(tmp_path):
    import edfio

    rng = np.random.default_rng(3)
    pelvic = 30 * np.abs(np.sin(np.arange(40_000) / 900.0)) + rng.normal(0, 0.3, 40_000)  # 40 s at 1000 Hz
    abdominal = 5 + rng.normal(0, 0.2, 10_000)  # at 250 Hz: interpolated onto the pelvic times
    edf = edfio.Edf([edfio.EdfSignal(pelvic, 1000, label="pelvic_cmH2O", physical_dimension="cmH2O"),
                     edfio.EdfSignal(abdominal, 250, label="abdominal_cmH2O", physical_dimension="cmH2O")])
    p = tmp_path / "r.edf"
    edf.write(p)
    whole = read_recording(p)
    for per in (1, 3, 7):
        s = open_edf(p, block_records=per)
        t, x = (np.concatenate(a) for a in zip(*s.blocks()))
        assert np.array_equal(t, whole.time_s) and np.array_equal(x, whole.data)
    back = edfio.read_edf(p)
    assert np.allclose(whole.data[:, 0], back.signals[0].data)  # edfio's own reading of it
    assert np.allclose(whole.data[:, 1], np.interp(whole.time_s, np.arange(10_000) / 250, back.signals[1].data))


def test_a_fault_deep_in_a_file_read_in_blocks_is_named_by_its_row(tmp_path):
    t = np.arange(200_000) / 1000.0
    rec = Recording(t, np.column_stack([np.sin(t)]), (Channel("pelvic", "cmH2O"),))
    p = tmp_path / "r.csv"
    write_csv(p, rec)
    lines = p.read_text().splitlines()
    lines[150_001] = lines[150_001].split(",")[0] + ",nan"   # data row 150 001, in the third block
    lines[180_001] = "0.5,1.0"                               # and time going back, later
    p.write_text("\n".join(lines) + "\n")
    r = subprocess.run(PFMT + ["analyze", str(p)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 2 and "data row 150001" in r.stderr and "NaN" in r.stderr and "Traceback" not in r.stderr


def test_blocks_fall_on_whole_iir_steps():
    # the filters' matrix steps then cover the same samples read whole or in blocks; a live block
    # of another size gives the same answer to rounding (~1e-13), not to the last bit
    assert BLOCK_ALIGN == CHUNK and BLOCK_ROWS % CHUNK == 0


@pytest.mark.skipif(not CHOSEN, reason="the shared eval set sits beside the repository in CI")
def test_a_live_replay_reads_its_file_in_blocks_and_finds_what_analyze_finds():
    csv = CHOSEN[0]
    cal = csv.with_suffix(".cal.json")
    extra = ["--calibration", str(cal)] if cal.exists() else []
    live = subprocess.run(PFMT + ["live", str(csv), "--speed", "0", *extra], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    whole = subprocess.run(PFMT + ["analyze", str(csv), "--json", *extra], capture_output=True, text=True, cwd=ROOT,
                           timeout=300)
    assert live.returncode == 0 and whole.returncode == 0, live.stderr + whole.stderr
    assert live.stdout.strip().splitlines()[-1] == f"{len(json.loads(whole.stdout)['contractions'])} contraction(s)"


def test_the_rate_is_the_whole_recordings_whatever_the_blocks(tmp_path):
    """The rate comes from the first RATE_WINDOW samples, as a Recording's does, however small the
    blocks: stamps rounded to 1 ms at 860 SPS give a slightly different estimate from a shorter
    first block (an EDF+'s first block is one IIR step of records, 55 040 samples at 860 Hz), so
    its filters and the answer would differ from the one-shot's. A fault in a later block of that
    first stretch is still named by its row."""
    n = 100_000
    t = np.round(np.arange(n) / 860.0, 3)
    rec = Recording(t, np.column_stack([20 + np.sin(t)]), (Channel.parse("pelvic_cmH2O"),))
    path = tmp_path / "r.csv"
    write_csv(path, rec, decimals=6)
    whole = read_recording(path).sample_rate_hz
    assert open_csv(path, 4096).sample_rate_hz == whole == rec.sample_rate_hz
    assert abs(float(np.diff(t[:4096]).size / (t[4095] - t[0])) - whole) > 1e-6  # the first block alone differs
    lines = path.read_text().splitlines()
    lines[20_001] = lines[20_001].split(",")[0] + ",nan"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="data row 20001 "):
        open_csv(path, 4096)
