"""The pipeline against the simulator's truth, live vs offline equality, and EDF+ input."""
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from device.pipeline import Pipeline, analyze
from device.pipeline.calibration import Calibration, load_calibration
from device.recording import Recording, read_recording
from device.sim.simulate import Scenario, Squeeze, random_scenario, simulate, write_example


def _match(truth, det, tol=1.0):
    pairs = []
    used = set()
    for t in truth:
        best = min((abs(d.onset_s - t["onset_s"]), j) for j, d in enumerate(det)
                   if j not in used) if len(used) < len(det) else (9e9, -1)
        if best[0] <= tol:
            used.add(best[1])
            pairs.append((t, det[best[1]]))
    return pairs


def _run(sc, seed=3):
    rec, truth, cal = simulate(sc, seed)
    p = analyze(rec, Calibration.from_dict(cal))
    return rec, truth, p


@pytest.mark.parametrize("kw", [
    dict(modality="pressure"),
    dict(modality="pressure", abdominal=True),
    dict(modality="pressure", abdominal=True, displacement=True),
    dict(modality="pressure", displacement=True),
    dict(modality="emg"),
    dict(modality="emg", abdominal=True),
])
def test_detects_what_the_simulator_did(kw):
    """Detection and timing against the issue's targets on two simulated sessions: F1 ≥ 0.97
    (≤ 1 miss or extra in 16), every onset within 0.3 s, median hold error ≤ 5 %."""
    found = missed = extra = 0
    hold_err = []
    for seed in (11, 12):
        sc = random_scenario(seed, n_contractions=8, **kw)
        rec, truth, p = _run(sc, seed)
        pairs = _match(truth["contractions"], p.contractions)
        found += len(pairs)
        missed += len(truth["contractions"]) - len(pairs)
        # on a lone pelvic EMG channel a cough's burst is reported as a possible cough (nothing
        # there can tell it from a quick lift); anything else extra is a mistake
        matched = {id(d) for _, d in pairs}
        extra += sum(1 for d in p.contractions if id(d) not in matched and not (
            d.possible_cough and any(abs(d.onset_s - a["time_s"]) < 1.0 for a in truth["artifacts"])))
        for t, d in pairs:
            assert abs(d.onset_s - t["onset_s"]) < 0.3
            hold_err.append(abs(d.hold_s - t["hold_s"]) / max(t["hold_s"], 0.5))
    assert missed + extra <= 1, (found, missed, extra)
    assert np.median(hold_err) <= 0.05, hold_err
    assert np.mean(np.array(hold_err) < 0.25) >= 0.9, hold_err


def test_coughs_are_never_contractions():
    sc = Scenario(modality="pressure", abdominal=True, sample_rate_hz=250, duration_s=40,
                  coughs=[8.0, 14.0, 20.5, 27.0, 33.0])
    rec, truth, p = _run(sc)
    assert p.contractions == []
    assert sum(e.type == "artifact" for e in p.events) == 5


def test_kinds_and_relaxation_from_reference_channels():
    sq = [Squeeze(5, 4, kind="lift"), Squeeze(15, 4, kind="bear_down"),
          Squeeze(25, 4, kind="accessory"), Squeeze(35, 4, kind="lift", relaxed=False),
          Squeeze(45, 6, kind="lift", flicks=3)]
    sc = Scenario(modality="pressure", abdominal=True, displacement=True, sample_rate_hz=250,
                  duration_s=58, squeezes=sq, pelvic_mvc=35)
    rec, truth, p = _run(sc)
    assert [c.kind for c in p.contractions] == ["lift", "bear_down", "accessory", "lift", "lift"]
    assert [c.relaxed for c in p.contractions] == [True, True, True, False, True]
    assert [c.flicks for c in p.contractions] == [0, 0, 0, 0, 3]


def test_pelvic_channel_alone_cannot_tell_the_kind():
    sc = Scenario(modality="pressure", sample_rate_hz=64, duration_s=20,
                  squeezes=[Squeeze(5, 5, kind="bear_down")])
    rec, truth, p = _run(sc)
    assert len(p.contractions) == 1 and p.contractions[0].kind is None


@pytest.mark.parametrize("modality, fs", [("pressure", 8.0), ("pressure", 64.0), ("pressure", 3300.0),
                                          ("emg", 860.0), ("emg", 3300.0)])
def test_chunked_output_equals_one_shot(modality, fs):
    sc = random_scenario(5, modality=modality, abdominal=True, sample_rate_hz=fs, n_contractions=5)
    rec, truth, cal = simulate(sc, 5)
    c = Calibration.from_dict(cal)
    whole = analyze(rec, c)
    rng = np.random.default_rng(1)
    p = Pipeline(rec.channels, rec.sample_rate_hz, c)
    i = 0
    while i < len(rec.time_s):
        n = int(rng.integers(1, 400))
        p.process(rec.time_s[i:i + n], rec.data[i:i + n])
        i += n
    p.finish()
    assert len(whole.contractions) >= 3
    assert [c.to_dict(detail=True) for c in p.contractions] == \
        [c.to_dict(detail=True) for c in whole.contractions]


@pytest.mark.parametrize("seed", [9008, 9026])
def test_chunked_equals_one_shot_with_an_abdominal_emg_detector(seed):
    """Pelvic and abdominal EMG each have a detector; an abdominal detection is kept (as bearing
    down) only when no pelvic squeeze overlaps it. That decision must use what the pelvic detector
    knew at that sample, not what it learnt later in the same block, or a one-shot analysis keeps
    different contractions from the live device (it did, on these recordings)."""
    sc = random_scenario(seed, modality="emg", abdominal=True, hard=False)
    rec, truth, cal = simulate(sc, seed)
    c = Calibration.from_dict(cal)
    whole = analyze(rec, c)
    live = analyze(rec, c, block_s=0.05)
    assert len(whole.contractions) >= 5
    assert [x.to_dict(detail=True) for x in live.contractions] == \
        [x.to_dict(detail=True) for x in whole.contractions]


def test_early_onset_is_announced_before_the_threshold_and_confirmed():
    """Calibrated pressure: a squeeze rising fast is announced (``onset``, early) before the level
    crosses the onset threshold; the crossing confirms it without a second onset. Breathing alone
    (±2 cmH2O at 0.3 Hz) and a slow drift announce nothing."""
    from device.pipeline import detect

    sq = [Squeeze(6, 5, strength=0.6, rise_s=1.0), Squeeze(22, 5, strength=0.5, rise_s=0.8)]
    sc = Scenario(modality="pressure", sample_rate_hz=250, duration_s=36, squeezes=sq, pelvic_mvc=40,
                  respiration_amp=2.0, drift=2.0, noise=0.1)
    rec, truth, cal = simulate(sc, 3)
    p = analyze(rec, Calibration.from_dict(cal), block_s=0.02)
    onsets = [e for e in p.events if e.type == "onset"]
    assert len(p.contractions) == 2 and len(onsets) == 2 and all(e.data.get("early") for e in onsets)
    assert not any(e.type == "onset_cancelled" for e in p.events)
    for c, t in zip(p.contractions, truth["contractions"]):
        crossed = next(e.known_at_s for e in p.events if e.type == "kind" and abs(e.time_s - c.onset_s) < 1.5) \
            - detect.KIND_AFTER_S  # the kind is sent KIND_AFTER_S after the threshold crossing
        assert c.onset_known_at_s < crossed - 0.05
        assert 0.0 < c.onset_known_at_s - t["onset_s"] < 0.3
    quiet = Scenario(modality="pressure", sample_rate_hz=250, duration_s=60, squeezes=[], pelvic_mvc=40,
                     respiration_amp=2.0, drift=4.0, noise=0.1)
    rec, _, cal = simulate(quiet, 4)
    p = analyze(rec, Calibration.from_dict(cal), block_s=0.02)
    assert [e.type for e in p.events if e.type.startswith("onset")] == []


def test_breathing_is_not_a_contraction():
    """A weak pelvic floor (MVC 8 cmH2O) and deep breathing (±1.8 cmH2O): each breath swells the
    pressure by a third of the MVC. Slow, symmetric, short and weak, it is rejected as breathing;
    the one real squeeze, as slow to rise as DESIGN allows, is kept."""
    sc = Scenario(modality="pressure", sample_rate_hz=100, duration_s=90, pelvic_mvc=8,
                  squeezes=[Squeeze(40, 4, strength=0.8, rise_s=1.1)], respiration_amp=1.8,
                  drift=0.0, noise=0.2)
    rec, truth, cal = simulate(sc, 3)
    p = analyze(rec, Calibration.from_dict(cal))
    within = [c for c in p.contractions if c.offset_s < 88]  # the last breath is cut by the end
    assert len(within) == 1 and abs(within[0].onset_s - 40) < 1.2, [(c.onset_s, c.hold_s) for c in within]
    assert sum("breathing" in e.data.get("reason", "") for e in p.events if e.type == "artifact") >= 10


def test_the_first_breaths_after_a_squeeze_are_still_breaths(tmp_path):
    """Breathing goes on through a squeeze. A weak pelvic floor (MVC 12 cmH2O) breathing at ±1.4,
    bearing down for 8–9 s a few seconds after a lift: the breaths right after the strain each
    swell a quarter of the MVC, and no train of them fits in the 20 s before (the two squeezes fill
    it). They are the breaths seen before, not lifts: this fresh held-out recording had two such
    phantom lifts (55.8 s, 160.3 s), the breaths on either side were rejected as breathing."""
    csv = Path(write_example(tmp_path / "pd.csv", seed=9123, modality="pressure", abdominal=False,
                             displacement=True, hard=True))
    truth = json.loads(csv.with_suffix(".json").read_text())
    p = analyze(read_recording(csv), load_calibration(csv.with_name("pd.cal.json")))
    found = [round(c.onset_s, 1) for c in p.contractions]
    assert not [t for t in found if 54 < t < 58 or 158 < t < 162], found
    assert all(any(abs(f - t["onset_s"]) < 0.5 for f in found) for t in truth["contractions"]), found
    said = [e.data["reason"] for e in p.events if e.type == "artifact" and (54 < e.time_s < 58 or 158 < e.time_s < 162)]
    assert said and all("like the breaths before the last contraction" in r for r in said), said


@pytest.mark.parametrize("seed, strain_s, relaxed", [(9026, 7.08, True), (9017, 27.67, False)])
def test_a_strain_is_not_taken_for_the_co_activity_of_what_follows_it(tmp_path, seed, strain_s, relaxed):
    """Two-channel EMG, fresh held-out recordings. 9026: the strain's crosstalk opened a pelvic
    episode that was then rejected as too small, but the abdominal effort had already been judged
    co-activity of it, so the strain was lost. 9017: the tone left after a strain began on the
    pelvic channel as the strain ended, and that overlap of a few tens of ms made the strain
    co-activity. Both strains are found, as bearing down; whether she relaxed is the pelvic
    floor's answer. The decision may wait for the pelvic episode's outcome, so a live run in
    50 ms blocks must find the same, known at the same time."""
    csv = Path(write_example(tmp_path / "e2.csv", seed=seed, modality="emg", abdominal=True))
    rec = read_recording(csv)
    cal = load_calibration(csv.with_name("e2.cal.json"))
    whole = analyze(rec, cal)
    strains = [c for c in whole.contractions if abs(c.onset_s - strain_s) < 0.5]
    assert len(strains) == 1 and strains[0].kind == "bear_down", [(c.onset_s, c.kind) for c in whole.contractions]
    assert strains[0].relaxed is relaxed
    live = analyze(rec, cal, block_s=0.05)  # (small blocks agree with one-shot to rounding, ~1e-13)
    assert [c.to_dict() for c in live.contractions] == [c.to_dict() for c in whole.contractions]
    assert sorted((e.type, round(e.time_s, 9), round(e.known_at_s, 9)) for e in live.events) == \
        sorted((e.type, round(e.time_s, 9), round(e.known_at_s, 9)) for e in whole.events)


def test_a_set_of_quick_lifts_on_emg_is_counted_whole(tmp_path):
    """Single-channel EMG, fresh held-out recordings: envelope noise takes a share of each quick
    lift, and sets of 3 were counted 1 (9024 at 123.6 s, 9033 at 26.1 s). The set is followed
    from its clearest lift; a hold without quick lifts still has none or one, never a set."""
    for seed, at in ((9024, 123.6), (9033, 26.1)):
        csv = Path(write_example(tmp_path / f"e1_{seed}.csv", seed=seed, modality="emg", abdominal=False))
        truth = json.loads(csv.with_suffix(".json").read_text())["contractions"]
        found = analyze(read_recording(csv), load_calibration(csv.with_name(f"e1_{seed}.cal.json"))).contractions
        (c,) = [c for c in found if abs(c.onset_s - at) < 0.5]
        assert c.flicks == 3, (seed, c.flicks)
        for t in truth:
            m = [c for c in found if abs(c.onset_s - t["onset_s"]) < 1.0]
            if t["flicks"] == 0 and m:
                assert m[0].flicks <= 1, (seed, t["onset_s"], m[0].flicks)


def test_live_events_come_before_the_contraction_ends():
    sc = Scenario(modality="pressure", abdominal=True, sample_rate_hz=860, duration_s=30,
                  squeezes=[Squeeze(5, 8, kind="bear_down", strength=0.8)], pelvic_mvc=30)
    rec, truth, cal = simulate(sc, 1)
    p = Pipeline(rec.channels, rec.sample_rate_hz, Calibration.from_dict(cal))
    events = []
    for i in range(0, len(rec.time_s), 86):  # 0.1 s blocks, as the sampler delivers them
        events += p.process(rec.time_s[i:i + 86], rec.data[i:i + 86])
    events += p.finish()
    onset = next(e for e in events if e.type == "onset")
    kind = next(e for e in events if e.type == "kind")
    assert 0 <= onset.known_at_s - 5.0 <= 0.35
    assert kind.data["kind"] == "bear_down" and kind.known_at_s < 8.0


def test_edf_input_gives_the_csv_answer(tmp_path, pfmt_cmd):
    edfio = pytest.importorskip("edfio")
    sc = random_scenario(21, modality="pressure", abdominal=True, sample_rate_hz=250, n_contractions=4)
    rec, truth, cal = simulate(sc, 21)
    sigs = [edfio.EdfSignal(rec.data[:, i], sampling_frequency=250, label=ch.name,
                            physical_dimension=ch.unit) for i, ch in enumerate(rec.channels)]
    # EDF stores 16-bit samples; a file whose length is a whole number of 1 s records
    n = (len(rec.time_s) // 250) * 250
    sigs = [edfio.EdfSignal(s.data[:n], sampling_frequency=250, label=s.label,
                            physical_dimension=s.physical_dimension) for s in sigs]
    path = tmp_path / "r.edf"
    edfio.Edf(sigs).write(path)
    calp = tmp_path / "c.json"
    calp.write_text(json.dumps(cal))
    r = subprocess.run(pfmt_cmd + ["analyze", str(path), "--calibration", str(calp), "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert len(out["contractions"]) == len(truth["contractions"])
    for c, t in zip(out["contractions"], truth["contractions"]):
        assert abs(c["onset_s"] - t["onset_s"]) < 0.2 and c["kind"] == t["kind"]


def test_emg_below_100_sps_is_refused():
    from device.errors import InputError
    from device.recording import Channel
    with pytest.raises(InputError, match="at least 100 SPS"):
        Pipeline((Channel("pelvic", "uV"),), 64.0)


def test_analyze_contract_keys(tmp_path, pfmt_cmd):
    from device.sim.simulate import write_example
    csv = write_example(tmp_path / "x.csv", seed=4, modality="pressure", abdominal=True)
    r = subprocess.run(pfmt_cmd + ["analyze", csv, "--calibration",
                                   str(tmp_path / "x.cal.json"), "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["contractions"]
    for c in out["contractions"]:
        assert {"onset_s", "offset_s", "hold_s", "peak", "flicks", "kind", "relaxed"} <= set(c)
        assert c["kind"] in ("lift", "accessory", "bear_down")
    table = subprocess.run(pfmt_cmd + ["analyze", csv], capture_output=True, text=True)
    assert table.returncode == 0 and "onset s" in table.stdout


def test_simulated_truth_of_a_pressure_drop():
    """A hypopressive apnoea lowers the pelvic pressure: its truth is the drop itself (negative
    peak, hold from the half-drop points), and a squeeze that ends past the recording is cut."""
    sq = [Squeeze(5, 6, strength=-0.2, rise_s=1.0, release_s=1.0, fatigue=0.0),
          Squeeze(17, 6, strength=0.6)]
    sc = Scenario(modality="pressure", sample_rate_hz=100, duration_s=20, squeezes=sq,
                  pelvic_mvc=40)
    _, truth, _ = simulate(sc, seed=1)
    drop, cut = truth["contractions"]
    assert drop["peak"] == pytest.approx(-0.2 * 40, abs=0.05)
    assert drop["hold_s"] == pytest.approx(6 + 1.0, abs=0.05)   # plateau + half of rise and release
    assert cut["peak"] == pytest.approx(0.6 * 40, abs=0.1)    # reached at the end of the rise
    assert 2.5 < cut["hold_s"] < 2.7                            # from the half-rise to the last sample


def test_simulated_emg_tone_after_an_unrelaxed_strain_is_pelvic_sized():
    """Tone left after a strain sits on the pelvic EMG at a fraction of the pelvic range — not
    scaled by the strain's abdominal peak (which put 2–3× the pelvic MVC on the pelvic channel) —
    and the pipeline reports one effort at the strain's onset, not a late "lift" after it."""
    sq = [Squeeze(5, 5, kind="bear_down", relaxed=False), Squeeze(20, 4)]
    sc = Scenario(modality="emg", abdominal=True, sample_rate_hz=1000, duration_s=30, squeezes=sq,
                  pelvic_rest=4, pelvic_mvc=40, abdominal_rest=5, abdominal_mvc=250, noise=1.0)
    rec, truth, cal = simulate(sc, seed=2)
    pel = rec.data[:, 0]
    after = slice(int(13 * 1000), int(18 * 1000))  # the strain has released by ~11.8 s
    rms = float(np.sqrt(np.mean((pel[after] - pel[after].mean()) ** 2)))
    assert 4 < rms < 0.5 * 40, rms
    p = analyze(rec, Calibration.from_dict(cal))
    found = [(round(c.onset_s), c.kind) for c in p.contractions]
    assert [t for t, _ in found] == [5, 20] and found[0][1] != "lift" and found[1][1] == "lift", found


def test_a_brief_squeeze_with_quiet_abdominals_is_a_quick_lift_and_a_cough_is_not():
    """On pelvic EMG a quick lift can be as brief as a cough; with the abdominal EMG calibrated,
    the cough's abdominal burst tells them apart. Without it nothing can: both brief bursts are
    reported, flagged as possible coughs — brevity alone never drops a contraction."""
    sq = [Squeeze(5, 0.15, rise_s=0.2, release_s=0.2, strength=0.8), Squeeze(15, 4)]
    for seed in range(4):
        sc = Scenario(modality="emg", abdominal=True, sample_rate_hz=1000, duration_s=25, squeezes=sq,
                      coughs=[10.0], pelvic_rest=4.0, pelvic_mvc=40.0, abdominal_rest=5.0,
                      abdominal_mvc=250.0, noise=1.0)
        rec, truth, cal = simulate(sc, seed=seed)
        assert truth["contractions"][0]["hold_s"] < 0.38  # narrower than the old width-only cough gate
        both = analyze(rec, Calibration.from_dict(cal)).contractions
        assert [round(c.onset_s) for c in both] == [5, 15], (seed, both)
        assert not any(c.possible_cough for c in both)  # the abdominal channel ruled a cough out
        pelvic = Recording(rec.time_s, rec.data[:, :1], rec.channels[:1])
        alone = {round(c.onset_s): c for c in analyze(pelvic, Calibration.from_dict({"pelvic": cal["pelvic"]})).contractions}
        assert sorted(alone) == [5, 10, 15], (seed, sorted(alone))
        assert alone[5].possible_cough and alone[10].possible_cough and not alone[15].possible_cough


def test_early_onset_from_the_trough_after_tone_is_let_go():
    """Tone left from an unrelaxed squeeze, let go just before the next one: the level falls below
    the resting level the detector learnt, and the new squeeze is announced as it rises from the
    trough — not only once it has climbed back past the old resting level."""
    sq = [Squeeze(5, 5, strength=0.8, relaxed=False), Squeeze(16, 5, strength=0.6, rise_s=1.0)]
    late = []
    for seed in range(3):
        sc = Scenario(modality="pressure", sample_rate_hz=250, duration_s=26, squeezes=sq,
                      pelvic_mvc=40, noise=0.1, respiration_amp=0.5)
        rec, truth, cal = simulate(sc, seed=seed)
        p = Pipeline(rec.channels, rec.sample_rate_hz, Calibration.from_dict(cal))
        for a in range(0, len(rec.time_s), 12):
            p.process(rec.time_s[a:a + 12], rec.data[a:a + 12])
        p.finish()
        second = [c for c in p.contractions if abs(c.onset_s - 16) < 0.5]
        assert len(second) == 1, (seed, [c.onset_s for c in p.contractions])
        late.append(second[0].onset_known_at_s - 16)
    assert max(late) < 0.4, late  # 0.47–0.49 s when measured from the resting level only


def test_tone_left_after_a_weak_emg_squeeze_is_not_a_contraction():
    """A weak patient's unrelaxed squeeze leaves a raised, noisy EMG envelope until her next
    one. Noise peaks on it cross a threshold scaled to her small MVC, but the level never holds
    after them: no plateau, no contraction (7 of them over these seeds without the rule)."""
    extra = 0
    for seed in range(10):
        sq = [Squeeze(5, 15, strength=0.9, relaxed=False), Squeeze(32, 3, strength=0.9)]
        sc = Scenario(modality="emg", sample_rate_hz=860, duration_s=40, squeezes=sq, hard=True,
                      pelvic_rest=5.5, pelvic_mvc=11.3, noise=1.3)
        rec, truth, cal = simulate(sc, seed=seed)
        found = [c.onset_s for c in analyze(rec, Calibration.from_dict(cal)).contractions]
        assert any(abs(t - 5) < 0.7 for t in found) and any(abs(t - 32) < 0.7 for t in found), (seed, found)
        extra += sum(22 < t < 31.5 for t in found)  # between the first release and the next squeeze
    assert extra <= 1, extra


def test_a_squeeze_after_a_posture_step_down_is_seen():
    """A posture step drops the pressure by a few cmH2O. The falling level must not be learnt as
    resting noise: that raised a weak patient's threshold above her next squeeze."""
    missed = []
    for seed in range(6):
        sq = [Squeeze(8, 6, strength=0.9), Squeeze(25, 8, strength=0.85)]
        sc = Scenario(modality="pressure", sample_rate_hz=250, duration_s=40, squeezes=sq, hard=True,
                      pelvic_mvc=9.0, noise=0.25, drift=3.0, respiration_amp=1.5,
                      posture_steps=[(20.0, -5.5)])
        rec, truth, cal = simulate(sc, seed=seed)
        found = [c.onset_s for c in analyze(rec, Calibration.from_dict(cal)).contractions]
        if not any(abs(t - 25) < 1.0 for t in found):
            missed.append((seed, found))
    assert not missed, missed


def test_breathing_is_recognised_by_its_train_and_never_swallows_a_squeeze():
    """A minute of breathing at ±2 cmH2O gives no contraction, calibrated or not (uncalibrated it
    gave 13); light (15 % MVC) and normal squeezes among the breaths are kept with their %MVC."""
    for seed in range(3):
        sq = [Squeeze(62, 3.0, strength=0.15, rise_s=0.4), Squeeze(80, 2.5, strength=0.55, rise_s=0.6)]
        sc = Scenario(modality="pressure", sample_rate_hz=250, duration_s=95, squeezes=sq,
                      pelvic_mvc=40.0, noise=0.1, respiration_amp=2.0, drift=0.0)
        rec, truth, cal = simulate(sc, seed=seed)
        for c in (Calibration.from_dict(cal), None):
            found = analyze(rec, c).contractions
            # on a breath, the light squeeze's rise starts somewhere in the breath's trough
            assert len(found) == 2 and found[0].onset_s < 62.5 < 64 < found[0].offset_s < 67.5 \
                and abs(found[1].onset_s - 80) < 0.3, (seed, c is None, [x.onset_s for x in found])
            if c is not None:
                assert 10 < found[0].mvc_pct < 25 and 45 < found[1].mvc_pct < 65
