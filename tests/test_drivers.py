"""drivers/: the real adafruit driver through the register-level emulator, the 3.0.5 workarounds,
the fault-surviving sampler, the configuration file and the ready line."""
from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from adafruit_ads1x15.ads1x15 import Mode
from adafruit_ads1x15.ads1015 import ADS1015
from adafruit_ads1x15.ads1115 import ADS1115
from adafruit_ads1x15.analog_in import AnalogIn

from device.config import default_config, load_config, parse_config
from device.errors import ConfigError
from drivers.ads import FULL_SCALE_V, GAINS, RATES, Chip, ConversionTimeout, GpioReady, Input
from drivers.clock import VirtualClock
from drivers.emulator import Ads1x15Emulator, EmulatedI2C, EmulatedReady, array_source, constant_source
from drivers.sampler import Sampler

ROOT = Path(__file__).resolve().parent.parent
PINS = (0.40, 0.15, 0.65, 0.05)  # fractions of full scale on AIN0..AIN3
DIFF = ((0, 1), (0, 3), (1, 3), (2, 3))


def _rig(model="ADS1115", volts=(0.0,) * 4, **kw):
    clock = VirtualClock()
    bus = EmulatedI2C(clock)
    chip = bus.attach(Ads1x15Emulator(clock, constant_source(*volts), model=model, **kw))
    return clock, bus, chip


def _lsb(model: str, gain: float) -> float:
    return FULL_SCALE_V[gain] / (32768 if model == "ADS1115" else 2048)


@pytest.mark.parametrize("model", ["ADS1115", "ADS1015"])
@pytest.mark.parametrize("gain", GAINS)
def test_real_driver_reads_known_voltages_every_input_gain_and_rate(model, gain):
    fs = FULL_SCALE_V[gain]
    volts = tuple(f * fs for f in PINS)
    clock, bus, _ = _rig(model, volts)
    cls = ADS1115 if model == "ADS1115" else ADS1015
    tol = _lsb(model, gain) * 1.01
    for rate in RATES[model]:
        ads = cls(bus, gain=gain, data_rate=rate)
        for pin in range(4):
            assert abs(AnalogIn(ads, pin).voltage - volts[pin]) <= tol, (pin, rate)
        for p, n in DIFF:
            assert abs(AnalogIn(ads, p, n).voltage - (volts[p] - volts[n])) <= tol, (p, n, rate)
        # The same through our chip reader (single-shot round robin, per-input gain and rate).
        inputs = [Input(p, None, gain, rate) for p in range(4)] + [Input(p, n, gain, rate) for p, n in DIFF]
        chip = Chip(bus, model, 0x48, inputs, clock)
        chip.configure()
        expect = list(volts) + [volts[p] - volts[n] for p, n in DIFF]
        got = [chip.volts(k, raw) for k, raw in enumerate(chip.read_all())]
        assert np.allclose(got, expect, atol=tol)


def test_conversion_time_follows_data_rate_and_oscillator_error():
    clock, bus, _ = _rig(volts=(1.0,), rate_error=-0.08)
    chip = Chip(bus, "ADS1115", 0x48, [Input(0, None, 1, 8), Input(1, None, 1, 8)], clock)
    chip.configure()
    t0 = clock.now()
    assert abs(chip.volts(0, chip.single_shot(0)) - 1.0) < 1e-3
    assert (clock.now() - t0) == pytest.approx(1 / (8 * 0.92), rel=0.06)


def test_full_scale_saturates_at_the_rail():
    clock, bus, _ = _rig(volts=(5.0,))
    chip = Chip(bus, "ADS1115", 0x48, [Input(0, None, 2, 860), Input(1)], clock)
    chip.configure()
    raw = chip.single_shot(0)
    assert chip.at_rail(raw) and chip.volts(0, raw) == pytest.approx(2.048, abs=1e-3)


# --- the library's 3.0.5 bugs, each reproduced and then worked around -----------------------
def test_bug1_continuous_mode_ignores_channel_and_workaround():
    volts = (0.5, 1.0, 1.5, 2.0)
    clock, bus, emu = _rig(volts=volts)
    ads = ADS1115(bus, gain=1, data_rate=860, mode=Mode.CONTINUOUS)
    clock.spend(0.01)
    assert AnalogIn(ads, 2).voltage == pytest.approx(-0.5, abs=1e-3)  # AIN0−AIN1, not AIN2
    emu.power_on()
    chip = Chip(bus, "ADS1115", 0x48, [Input(2, None, 1, 860)], clock)
    chip.configure()
    clock.spend(0.01)
    assert chip.volts(0, chip.read_latest()) == pytest.approx(1.5, abs=1e-3)


def test_bug2_read_after_setting_change_returns_config_and_workaround():
    clock, bus, emu = _rig(volts=(0.0, 0.0, 1.5))
    chip = Chip(bus, "ADS1115", 0x48, [Input(2, None, 1, 860)], clock)
    chip.configure()
    ads = chip.ads
    ads.gain = 2  # the setter leaves the pointer on CONFIG
    clock.spend(0.01)
    assert AnalogIn(ads, 2).value == emu.config  # the bug: config register read as a sample
    chip.inputs = [Input(2, None, 2, 860)]
    chip.configure()  # our reconfiguration re-points to the conversion register
    clock.spend(0.01)
    assert chip.volts(0, chip.read_latest()) == pytest.approx(1.5, abs=1e-4)


def test_bug3_single_shot_stuck_conversion_times_out_instead_of_hanging():
    clock, bus, emu = _rig(volts=(1.0,))
    chip = Chip(bus, "ADS1115", 0x48, [Input(0), Input(1)], clock)
    chip.configure()
    emu.inject("stuck", clock.now())
    with pytest.raises(ConversionTimeout):
        chip.read_all()
    assert clock.now() < 0.1  # gave up after its deadline, a few ms


def test_absent_chip_is_an_oserror_not_a_hang():
    clock, bus, _ = _rig()
    chip = Chip(bus, "ADS1115", 0x4A, [Input(0)], clock)
    with pytest.raises(OSError):
        chip.configure()


def test_conversion_ready_line_pulses_once_per_conversion():
    clock, bus, emu = _rig(volts=(1.0,), rate_error=0.05)
    chip = Chip(bus, "ADS1115", 0x48, [Input(0, None, 1, 860)], clock, ready=True)
    chip.configure()
    assert emu.ready_mode()
    line = EmulatedReady(emu, clock)
    edges = [line.wait(clock.now() + 0.01) for _ in range(861)]
    assert all(e is not None for e in edges)
    assert np.mean(np.diff(edges)) == pytest.approx(1 / (860 * 1.05), rel=1e-6)


def test_gpio_ready_line_on_mock_pins():
    from gpiozero.pins.mock import MockFactory

    from drivers.clock import RealClock

    factory = MockFactory()
    line = GpioReady(17, RealClock(), pin_factory=factory)
    pin = factory.pin(17)
    clock = RealClock()
    assert line.wait(clock.now() + 0.01) is None
    threading.Timer(0.02, pin.drive_low).start()
    assert line.wait(clock.now() + 1.0) is not None
    line.close()


# --- the sampler under faults ----------------------------------------------------------------
def _emulated_sampler(ready: bool, seconds: float = 70.0, rate_errors=(-0.05, 0.04)):
    cfg = default_config("pressure", abdominal=True)
    clock = VirtualClock()
    bus = EmulatedI2C(clock, seed=3)
    t = np.arange(0, seconds, 1e-3)
    cmh2o = 20 + 10 * np.sin(2 * np.pi * 0.2 * t)
    chips = [bus.attach(Ads1x15Emulator(clock, array_source(t, {0: c.to_volts(cmh2o)}),
                                        address=c.adc, rate_error=e, noise_lsb=1, seed=i))
             for i, (c, e) in enumerate(zip(cfg.channels, rate_errors))]
    line = EmulatedReady(chips[0], clock) if ready else None
    return Sampler(cfg, bus, clock, line), clock, bus, chips


def _run_until(s, clock, t_end: float) -> list:
    s.open()
    blocks = []
    while clock.now() < t_end:
        blocks.append(s.read_block())
    return blocks


def _accounted(blocks) -> tuple[np.ndarray, list]:
    """Every index from 0 to the last is either delivered once or inside exactly one gap."""
    idx = np.concatenate([b.index for b in blocks])
    assert np.all(np.diff(idx) > 0), "a sample was duplicated or reordered"
    gaps = [g for b in blocks for g in b.gaps]
    seen = np.zeros(idx[-1] + 1, int)
    seen[idx] += 1
    for g in gaps:
        seen[g.index:g.index + g.count] += 1
    assert np.all(seen == 1), "a frame is missing from both the data and the gaps, or counted twice"
    return idx, gaps


@pytest.mark.parametrize("ready", [True, False], ids=["ready-line", "deadline-polled"])
def test_sixty_seconds_at_860sps_with_faults(ready):
    s, clock, bus, chips = _emulated_sampler(ready)
    chips[0].inject("eio", 5.0, 6.0, probability=0.3)
    chips[0].inject("stuck", 10.0, 10.5)
    bus.inject("lockup", 20.0, 21.0)
    chips[0].inject("saturate", 30.0, 31.0)
    chips[1].inject("unplugged", 40.0, 42.0)
    chips[1].inject("nack", 50.0, 50.2)
    blocks = _run_until(s, clock, 60.0)
    idx, gaps = _accounted(blocks)
    assert s.stats.skipped == sum(g.count for g in gaps)
    events = [(e.kind, e.t, e.channel) for b in blocks for e in b.events]
    kinds = Counter(k for k, _, _ in events)
    assert kinds["i2c_error"] + kinds["stuck"] >= 3 and kinds["i2c_ok"] == kinds["i2c_error"] + kinds["stuck"]

    def first(kind, after, channel=""):
        return min(t for k, t, c in events if k == kind and t >= after and (not channel or c == channel))

    assert first("saturated", 30.0, "pelvic_cmH2O") - 30.0 < 1.0
    assert first("sensor_ok", 31.0, "pelvic_cmH2O") - 31.0 < 1.0
    assert first("unplugged", 40.0, "abdominal_cmH2O") - 40.0 < 1.0
    assert first("sensor_ok", 42.0, "abdominal_cmH2O") - 42.0 < 1.0
    # Sampling resumed by itself: the last 5 s are complete and the values are right.
    tail = np.concatenate([b.t for b in blocks]) > 55.0
    last = np.concatenate([b.values for b in blocks])[tail]
    assert np.all(np.abs(last - last.mean(0)) < 12) and abs(last.mean() - 20) < 3
    t_all = np.concatenate([b.t for b in blocks])
    assert np.all(np.diff(t_all) > 0)
    rate = s.stats.frames / (t_all[-1] - t_all[0])
    assert 0.85 * 860 < rate < 1.1 * 860


def test_ready_line_stuck_is_a_gap_and_recovers():
    s, clock, bus, chips = _emulated_sampler(True)
    chips[0].inject("stuck", 2.0, 3.0)
    blocks = _run_until(s, clock, 5.0)
    _, gaps = _accounted(blocks)
    stuck = [g for g in gaps if g.reason == "stuck"]
    assert len(stuck) == 1 and 0.9 * 817 < stuck[0].count < 1.6 * 817


def test_overflow_is_counted_and_accounted_when_the_consumer_stalls():
    s, clock, bus, chips = _emulated_sampler(False, seconds=20)
    s.config = s.config  # queue of 4 blocks: the consumer below stalls on purpose
    import queue as q

    s.queue = q.Queue(maxsize=4)
    s.start()
    while clock.now() < 3.0:
        threading.Event().wait(0.001)
    blocks = []
    while clock.now() < 6.0 or not s.queue.empty():
        b = s.get(timeout=0.01)
        if b is not None:
            blocks.append(b)
        if clock.now() > 6.0:
            s.stop()
    s.stop()
    while (b := s.get(timeout=0)) is not None:
        blocks.append(b)
    assert s.stats.overflows > 0
    _, gaps = _accounted(blocks)
    assert any(g.reason == "overflow" for g in gaps)


def test_values_are_in_the_channel_unit():
    s, clock, bus, chips = _emulated_sampler(True, seconds=3)
    s.open()
    b = s.read_block()
    expect = 20 + 10 * np.sin(2 * np.pi * 0.2 * b.t)
    c = s.config.channels[0]
    lsb = FULL_SCALE_V[c.gain] / 32768 / c.volts_per_unit  # one ADC code in the channel's unit
    assert np.allclose(b.values[:, 0], expect, atol=3 * lsb)


# --- configuration ---------------------------------------------------------------------------
def test_example_configuration_loads():
    cfg = load_config(ROOT / "examples" / "device.toml")
    assert [c.name for c in cfg.channels] == ["pelvic_cmH2O", "abdominal_cmH2O"]
    assert cfg.channels[0].gain == pytest.approx(2 / 3) and cfg.adcs[1].ready_pin == 18


def _cfg(**over):
    data = {"adc": [{"address": 0x48}],
            "channel": [{"role": "pelvic", "unit": "cmH2O", "positive": 0, "volts_per_unit": 0.044}]}
    for k, v in over.items():
        data[k] = v
    return data


@pytest.mark.parametrize("data, message", [
    (_cfg(sampling={"rate": 860}), "[sampling] unknown option 'rate'"),
    (_cfg(board={"i2c_bus": "one"}), "[board] option 'i2c_bus' must be int"),
    (_cfg(sampling={"rate_hz": 5000}), "outside 8…3300"),
    (_cfg(pins={"buzzer": 2}), "I2C SDA"),
    (_cfg(pins={"buzzer": 40}), "not a free header GPIO"),
    (_cfg(pins={"buzzer": 4}), "GPIO4 is used twice"),
    (_cfg(pins={"status": [22, 23]}), "needs 3–3 GPIO numbers"),
    (_cfg(channel=[{"role": "pelvic", "unit": "psi", "positive": 0, "volts_per_unit": 1}]), "unknown unit 'psi'"),
    (_cfg(channel=[{"role": "pelvic", "unit": "cmH2O", "positive": 1, "negative": 2, "volts_per_unit": 1}]), "differential input 1−2"),
    (_cfg(channel=[{"role": "pelvic", "unit": "cmH2O", "positive": 0, "gain": 3, "volts_per_unit": 1}]), "option 'gain' = 3; allowed: 2/3, 1, 2, 4, 8, 16"),
    (_cfg(channel=[{"role": "pelvic", "unit": "cmH2O", "positive": 0, "data_rate": 100, "volts_per_unit": 1}]), "option 'data_rate' = 100"),
    (_cfg(channel=[{"role": "pelvic", "unit": "cmH2O", "positive": 0, "data_rate": 475, "volts_per_unit": 1}]), "needs data_rate ≥ 860"),
    (_cfg(channel=[{"role": "abdominal", "unit": "cmH2O", "positive": 0, "volts_per_unit": 1}]), "role 'pelvic' is required"),
    (_cfg(channel=[{"role": "pelvic", "unit": "cmH2O", "positive": 0, "volts_per_unit": 0}]), "must not be 0"),
    (_cfg(adc=[{"address": 0x50}]), "option 'address' = 0x50; allowed: 0x48, 0x49, 0x4a, 0x4b"),
    (_cfg(adc=[{"address": 0x48, "chip": "x"}]), "[adc #1] unknown option 'chip'"),
    (_cfg(extra={}), "unknown option 'extra'"),
])
def test_configuration_errors_name_option_and_section(data, message):
    with pytest.raises(ConfigError) as e:
        parse_config(data)
    assert message in str(e.value)


def test_configuration_file_errors(tmp_path):
    p = tmp_path / "device.toml"
    p.write_text("[board\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(p)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")


def test_config_cli_reports_one_line(tmp_path, pfmt_cmd):
    import subprocess

    p = tmp_path / "device.toml"
    p.write_text((ROOT / "examples" / "device.toml").read_text().replace("tonal = true", "tonal = true\nvolume = 3"))
    r = subprocess.run(pfmt_cmd + ["config", str(p)], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "[pins] unknown option 'volume'" in r.stderr
    r = subprocess.run(pfmt_cmd + ["config", str(ROOT / "examples" / "device.toml")], capture_output=True, text=True)
    assert r.returncode == 0 and "pelvic_cmH2O" in r.stdout, r.stderr


def test_sensor_monitor_judges_the_same_windows_whatever_the_blocks():
    """Judged per block for speed, the monitor must report each change at the frame that ends
    its window, exactly as a frame-by-frame judgement would, for any block lengths."""
    from drivers.sampler import _Monitor

    rng = np.random.default_rng(5)
    n, window = 5000, 37
    rail = np.zeros(n, bool)
    volts = np.full(n, 1.0)
    rail[800:1500] = True  # saturated
    volts[2600:3300] = 4.99  # unplugged (outside the valid 0.2–4.8 V)
    rail[4000:4010] = True  # too short to change the state
    one = _Monitor("x", (0.2, 4.8), window)
    frame_by_frame = [(i, s) for i in range(n) for _, s in one.feed(rail[i:i + 1], volts[i:i + 1])]
    assert [s for _, s in frame_by_frame] == ["saturated", "ok", "unplugged", "ok"]
    assert all((i + 1) % window == 0 for i, _ in frame_by_frame)
    for _ in range(5):
        cuts = np.unique(np.r_[0, rng.integers(1, n, 60), n])
        mon, got = _Monitor("x", (0.2, 4.8), window), []
        for a, b in zip(cuts[:-1], cuts[1:]):
            got += [(a + pos, s) for pos, s in mon.feed(rail[a:b], volts[a:b])]
        assert got == frame_by_frame


def test_each_emulated_chip_reads_its_own_signals():
    """Two chips that each mix a recorded (array) input with a function input: every channel reads
    its own signal. (The array lookups were once closures over a variable the loop over chips
    rebinds, so the first chip read the last chip's arrays.) Labels are free at the drivers'
    level, so four channels on two chips can be built without the device's three roles."""
    from drivers import config as hw
    from drivers.rig import emulated

    data = {"sampling": {"rate_hz": 100, "block_s": 0.05},
            "adc": [{"address": 0x48}, {"address": 0x49}],
            "channel": [{"role": r, "unit": "V", "adc": a, "positive": p, "volts_per_unit": 1.0}
                        for r, a, p in (("a", 0x48, 0), ("b", 0x48, 1), ("c", 0x49, 0), ("d", 0x49, 1))]}
    cfg = hw.parse_config(data)
    t = np.arange(0.0, 5.0, 0.001)
    signals = {"a": (t, np.full_like(t, 1.0)), "b": lambda _t: 0.5,
               "c": (t, np.full_like(t, 2.0)), "d": lambda _t: 1.5}
    rig = emulated(cfg, VirtualClock(), signals, threaded=False, noise_lsb=0.0)
    rig.start()
    blocks = [rig.next_block() for _ in range(20)]
    rig.close()
    values = np.concatenate([b.values for b in blocks if b is not None and len(b.t)])
    assert values.shape[1] == 4
    assert np.allclose(np.median(values, axis=0), [1.0, 0.5, 2.0, 1.5], atol=0.01)
