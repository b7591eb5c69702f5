import json
import subprocess

import numpy as np
import pytest

from device.errors import CalibrationError, InputError
from device.pipeline.calibration import Calibration, load_calibration
from device.recording import Channel, Recording, read_csv, read_recording, write_csv


def _write(tmp_path, text, name="r.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


GOOD = "time_s,pelvic_cmH2O\n" + "".join(f"{i / 100:.2f},{20 + (i % 3) * 0.1}\n" for i in range(300))


def test_reads_a_good_csv(tmp_path):
    rec = read_csv(_write(tmp_path, GOOD))
    assert rec.channels == (Channel("pelvic", "cmH2O"),)
    assert rec.data.shape == (300, 1)
    assert rec.sample_rate_hz == pytest.approx(100.0)


@pytest.mark.parametrize("text, fragment", [
    ("", "empty"),
    ("t,pelvic_cmH2O\n0,1\n0.01,2\n", "first column must be time_s"),
    ("time_s,pelvic_psi\n0,1\n0.01,2\n", "unknown unit 'psi'"),
    ("time_s,vaginal_cmH2O\n0,1\n0.01,2\n", "role must be one of"),
    ("time_s,displacement_cmH2O\n0,1\n0.01,2\n", "displacement channel is measured in mm"),
    ("time_s,pelvic_cmH2O\n", "no data rows"),
    ("time_s,pelvic_cmH2O\n0,1\n0.01,nan\n0.02,1\n", "NaN"),
    ("time_s,pelvic_cmH2O\n0,1\n0.02,1\n0.01,1\n", "must increase strictly"),
    ("time_s,pelvic_cmH2O\n0,1\n0.01,x\n", "'x' is not a number"),
    ("time_s,pelvic_cmH2O\n0,1\n0.01,1,3\n", "has 3 values"),
    ("time_s,abdominal_cmH2O\n0,1\n0.01,2\n", "first channel after time_s must be the pelvic"),
    ("time_s,pelvic_cmH2O,pelvic_uV\n0,1,1\n0.01,2,2\n", "appears 2 times"),
])
def test_malformed_csv_names_the_problem(tmp_path, text, fragment):
    path = _write(tmp_path, text)
    with pytest.raises(InputError, match=fragment.replace("(", r"\(")) as e:
        read_csv(path)
    assert str(e.value).count(path.name) == 1, str(e.value)  # the file named once ("h.csv: h.csv: …" was said)


def test_missing_file_and_unknown_type(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_recording(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="unknown recording type"):
        read_recording(_write(tmp_path, "x", "r.xlsx"))


@pytest.mark.parametrize("obj, fragment", [
    ({"pelvic": {"rest": 5, "mvc": 5}}, "must be greater than"),
    ({"pelvic": {"rest": 0, "mvc": -3}}, "must be greater than"),
    ({"pelvic": {"rest": 0}}, "mvc is missing"),
    ({"pelvic": {"rest": 0, "mvc": "x"}}, "finite number"),
    ({"pelvic": {"rest": 0, "mvc": 3, "gain": 2}}, "unknown key"),
    ({"rectal": {"rest": 0, "mvc": 3}}, "unknown channel 'rectal'"),
    ([1, 2], "JSON object"),
])
def test_bad_calibration_is_refused(tmp_path, obj, fragment):
    p = tmp_path / "c.json"
    p.write_text(json.dumps(obj))
    with pytest.raises(CalibrationError, match=fragment):
        load_calibration(p)


def test_calibration_not_json(tmp_path):
    p = tmp_path / "c.json"
    p.write_text("{rest: 1")
    with pytest.raises(CalibrationError, match="not valid JSON"):
        load_calibration(p)


def test_csv_round_trip_is_atomic_and_exact(tmp_path):
    t = np.arange(500) / 250.0
    rec = Recording(t, np.column_stack([np.sin(t), np.cos(t)]),
                    (Channel("pelvic", "cmH2O"), Channel("abdominal", "cmH2O")))
    p = tmp_path / "sub" / "out.csv"
    write_csv(p, rec)
    back = read_csv(p)
    assert np.allclose(back.data, rec.data, atol=1e-4)
    assert [x.name for x in tmp_path.joinpath("sub").iterdir()] == ["out.csv"]  # no temp left


@pytest.mark.parametrize("text, fragment", [
    ("time_s,pelvic_cmH2O\n", "no data rows"),
    ("time_s,pelvic_furlong\n0,1\n0.1,1\n", "unknown unit"),
    ("", "empty"),
])
def test_cli_malformed_input_exits_2_with_one_line(tmp_path, pfmt_cmd, text, fragment):
    p = _write(tmp_path, text)
    r = subprocess.run(pfmt_cmd + ["analyze", str(p), "--json"], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert fragment in r.stderr and "Traceback" not in r.stderr


def test_cli_bad_calibration_exits_2(tmp_path, pfmt_cmd):
    p = _write(tmp_path, GOOD)
    c = tmp_path / "c.json"
    c.write_text(json.dumps({"pelvic": {"rest": 10, "mvc": 2}}))
    r = subprocess.run(pfmt_cmd + ["analyze", str(p), "--calibration", str(c), "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "mvc (2) must be greater than pelvic.rest (10)" in r.stderr


def test_empty_calibration_object_is_uncalibrated():
    assert Calibration.from_dict({}).channels == {}
