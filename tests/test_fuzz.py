"""Fuzzing, bounded (issue 19): every reader the outside world can reach — serial console lines,
CSV and EDF+ recordings, calibration JSON, device and programme TOML — answers arbitrary input
with its own error family or a result, never another exception, a hang or non-JSON. Each property
runs a fixed number of examples (no deadline: the machines are shared), derandomised so a failure
is reproduced by the next run."""
import atexit
import contextlib
import json
import math
import shutil
import string
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device.config import parse_config
from device.errors import PfmtError
from device.pipeline.calibration import Calibration, load_calibration
from device.recording import read_recording
from device.records.serial_console import ConsoleConfig, SerialConsole
from device.training.programme import ProgrammeError, parse_programme

FUZZ = settings(max_examples=200, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
TMP = Path(tempfile.mkdtemp(prefix="pfmt-fuzz-"))
atexit.register(shutil.rmtree, TMP, True)

words = st.sampled_from(["HELLO", "LIST", "SHOW", "TREND", "EXPORT", "GET", "TIME", "HELP", "SET", "all",
                         "UNLOCK", "LOCK", "DELETE", "WIPE", "QUIT",
                         "1", "0", "-1", "99999999999999999999", "json,edf", "../x", "a\x00b", "\x1b[2J"])
lines = st.one_of(st.binary(max_size=600), st.lists(words, max_size=5).map(lambda w: " ".join(w).encode()))


@FUZZ
@given(lines)
def test_serial_console_lines(line):
    con = SerialConsole(ConsoleConfig(TMP / "data", TMP / "exports", unlock=lambda s: s == "open sesame",
                                      patient_code=lambda: "P-042"))
    if line[:1] in b"ABCDEFGHIJKLMNOPQRSTUVWXYZ":  # half the requests as an unlocked physio's
        assert con.handle(b"UNLOCK open sesame")[0].startswith(("OK", "ERR"))
    out = con.handle(line)
    assert isinstance(out, list) and all(isinstance(x, str) for x in out)
    for x in out:
        assert x.startswith(("OK", "ERR")) and "\n" not in x and "\x1b" not in x
        if x.startswith("OK {") or x.startswith("OK ["):
            json.loads(x[3:])


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
              st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from(["pelvic", "abdominal", "rest", "mvc", "kinds", "x"])
                                            | st.text(max_size=8), inner, max_size=4)),
    max_leaves=20)


@FUZZ
@given(json_values)
def test_calibration_dicts(d):
    try:
        cal = Calibration.from_dict(d, "fuzz")
    except PfmtError:
        return
    assert isinstance(cal, Calibration)


@FUZZ
@given(st.binary(max_size=400))
def test_calibration_files(data):
    p = TMP / "cal.json"
    p.write_bytes(data)
    with contextlib.suppress(PfmtError):
        load_calibration(p)


csv_text = st.one_of(
    st.binary(max_size=600),
    st.lists(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(str),
                                st.sampled_from(["", "x", "1e400", "-0", "nan"])), min_size=1, max_size=4),
             max_size=30).map(lambda rows: ("time_s,pelvic_cmH2O,abdominal_cmH2O\n" +
                                            "\n".join(",".join(r) for r in rows)).encode()))


@FUZZ
@given(csv_text)
def test_csv_recordings(data):
    p = TMP / "rec.csv"
    p.write_bytes(data)
    try:
        rec = read_recording(p)
    except PfmtError:
        return
    assert len(rec.time_s) == rec.data.shape[0]


@FUZZ
@given(st.binary(min_size=0, max_size=1200))
def test_edf_recordings(data):
    p = TMP / "rec.edf"
    header = b"0       " + data  # an EDF header's first field, then anything
    p.write_bytes(header)
    with contextlib.suppress(PfmtError):
        read_recording(p)


toml_scalars = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                         st.text(string.printable, max_size=10), st.lists(st.integers(0, 40), max_size=10))
config_docs = st.fixed_dictionaries({}, optional={
    "board": st.dictionaries(st.sampled_from(["name", "i2c_bus", "pin_factory", "x"]), toml_scalars, max_size=3),
    "sampling": st.dictionaries(st.sampled_from(["rate_hz", "block_s", "queue_blocks"]), toml_scalars, max_size=3),
    "adc": st.lists(st.dictionaries(st.sampled_from(["model", "address", "ready_pin"]), toml_scalars, max_size=3),
                    max_size=3),
    "channel": st.lists(st.dictionaries(st.sampled_from(["role", "unit", "adc", "positive", "gain", "data_rate",
                                                         "volts_per_unit", "offset_v", "valid_v"]),
                                        toml_scalars, max_size=9), max_size=3),
    "pins": st.dictionaries(st.sampled_from(["bar", "status", "buzzer", "button", "tonal"]), toml_scalars, max_size=5),
})


@FUZZ
@given(config_docs)
def test_device_configurations(doc):
    try:
        cfg = parse_config(doc, "fuzz")
    except PfmtError:
        return
    assert all(math.isfinite(c.volts_per_unit) for c in cfg.channels)


programme_docs = st.fixed_dictionaries(
    {"name": st.text(max_size=12), "title": st.text(max_size=12), "source": st.text(max_size=12)},
    optional={"mode": st.sampled_from(["all", "sequence", "x"]), "days_per_week": toml_scalars,
              "sessions_per_day": toml_scalars, "weeks": toml_scalars, "next_programme": toml_scalars,
              "exercise": st.lists(st.dictionaries(st.sampled_from(["name", "title", "kind", "target_mvc", "hold_s",
                                                                    "reps", "sets", "rest_s", "quick_lifts"]),
                                                   toml_scalars, max_size=9), max_size=3)})


@FUZZ
@given(programme_docs)
def test_programmes(doc):
    with contextlib.suppress(ProgrammeError, PfmtError):
        parse_programme(doc, "fuzz")
