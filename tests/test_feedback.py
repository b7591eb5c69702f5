"""Feedback hardware on gpiozero mock pins: every pattern's LED and buzzer states and timings,
warning pre-emption, and hysteresis on the strength bar."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from drivers.clock import RealClock, VirtualClock
from drivers.config import PinsConfig
from drivers.feedback import COLOURS, PATTERNS, Feedback, Hysteresis, Player

PINS = PinsConfig()


def _expected(pattern, value_of):
    """(seconds since the previous change, value) per change of one pin over the pattern."""
    out, t, last, t_last = [], 0.0, 0.0, 0.0
    values = [(s.seconds, value_of(s.colour, s.tone_hz)) for s in pattern.steps]
    values.append((0.0, value_of(pattern.then, 0.0)))
    for seconds, v in values:
        if v != last:
            out.append((t - t_last, v))
            last, t_last = v, t
        t += seconds
    return out


def _changes(pin):
    return [(s.timestamp, float(s.state)) for s in pin.states[1:]]


def _play_on_mock_pins(name):
    factory = MockFactory(pin_class=MockPWMPin)
    fb = Feedback(PINS, RealClock(), pin_factory=factory)
    for p in (*PINS.status, PINS.buzzer):
        factory.pin(p).clear_states()
    fb.player.start()
    fb.player.play(name)
    deadline = time.monotonic() + sum(s.seconds for s in PATTERNS[name].steps) + 5.0
    while fb.player.busy and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.05)  # the final "then" state is applied in the same tick that ends the pattern
    fb.player.stop()
    return factory, fb


# Exact step timing is held in virtual time (test_player_follows_each_pattern_exactly_in_virtual_time);
# here, on real pins and a shared CI machine, a change must never come early and may come late only
# by scheduling delay. Real-time latency is a benchmark figure (pfmt bench --part latency), not a test.
EARLY_S, LATE_S = 0.005, 0.5


def _assert_timed(got, want, label):
    assert [v for _, v in got] == pytest.approx([v for _, v in want]), label
    got_t, want_t = np.cumsum([dt for dt, _ in got]), np.cumsum([dt for dt, _ in want])
    lag = got_t - want_t  # from clear_states(), which precedes play(): lag >= 0 unless a step is early
    assert np.all(lag >= -EARLY_S) and np.all(lag <= LATE_S), (label, got, want)


def test_every_pattern_on_mock_pins_states_and_timings():
    results: dict[str, tuple] = {}

    def run(name):
        results[name] = _play_on_mock_pins(name)

    threads = [threading.Thread(target=run, args=(n,)) for n in PATTERNS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name, (factory, fb) in results.items():
        p = PATTERNS[name]
        for i, pin in enumerate(PINS.status):
            want = _expected(p, lambda c, tone, i=i: float(COLOURS[c][i]))
            _assert_timed(_changes(factory.pin(pin)), want, (name, pin))
        want = _expected(p, lambda c, tone: 0.5 if tone else 0.0)
        _assert_timed(_changes(factory.pin(PINS.buzzer)), want, (name, "buzzer"))
        fb.close()


def test_tones_have_the_pattern_pitch():
    clock = VirtualClock()
    factory = MockFactory(pin_class=MockPWMPin)
    fb = Feedback(PINS, clock, pin_factory=factory)
    fb.player.play("warning_bear_down")
    assert factory.pin(PINS.buzzer).frequency == pytest.approx(196.0, rel=0.01)
    fb.close()


def test_player_follows_each_pattern_exactly_in_virtual_time():
    for name, p in PATTERNS.items():
        clock = VirtualClock()
        out = []
        player = Player(lambda c, tone, out=out, clock=clock: out.append((clock.now(), c, tone)), clock)
        player.play(name)
        while (due := player.tick()) is not None:
            clock.sleep_until(due)
        t, expect = 0.0, []
        for s in p.steps:
            expect.append((t, s.colour, s.tone_hz))
            t += s.seconds
        expect.append((t, p.then, 0.0))
        dedup = [e for i, e in enumerate(expect) if i == 0 or e[1:] != expect[i - 1][1:]]
        assert [(round(a, 9), b, c) for a, b, c in out] == [(round(a, 9), b, c) for a, b, c in dedup], name


def test_warning_preempts_a_cue_and_a_cue_waits_for_a_warning():
    clock = VirtualClock()
    player = Player(lambda c, tone: None, clock)
    player.play("get_ready")
    clock.sleep_until(0.1)
    player.tick()
    player.play("warning_bear_down")
    assert player.current.name == "warning_bear_down"
    player.play("squeeze")  # queued behind the warning
    assert player.current.name == "warning_bear_down"
    clock.sleep_until(5.0)
    player.tick()
    names = [n for _, n in player.started]
    assert names == ["get_ready", "warning_bear_down", "squeeze"]
    assert player.started[2][0] == pytest.approx(0.1 + 0.8)


def test_unknown_pattern_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown pattern 'blink'; known: get_ready"):
        Player(lambda c, t: None, VirtualClock()).play("blink")


def test_bar_hysteresis_does_not_flicker_on_a_boundary():
    rng = np.random.default_rng(1)
    h = Hysteresis(8, 1.25)
    boundary = 5 / 8 * 1.25  # exactly between 4 and 5 LEDs
    levels = [h.update(boundary + rng.normal(0, 0.015)) for _ in range(500)]  # ±0.45 cmH2O on 30
    assert sum(a != b for a, b in zip(levels, levels[1:])) <= 1
    assert h.update(1.25) == 8 and h.update(0.0) == 0


def test_strength_bar_on_mock_pins():
    factory = MockFactory(pin_class=MockPWMPin)
    fb = Feedback(PINS, VirtualClock(), pin_factory=factory)
    assert fb.strength(1.0) == 6  # the target sits at the 6th of 8 LEDs (bar tops at 125 %)
    lit = [factory.pin(p).state for p in PINS.bar]
    assert lit == [1] * 6 + [0] * 2
    fb.strength(0.05)
    assert [factory.pin(p).state for p in PINS.bar] == [0] * 8
    fb.close()


def test_pitch_follows_strength_for_eyes_closed_training():
    factory = MockFactory(pin_class=MockPWMPin)
    fb = Feedback(PINS, VirtualClock(), pin_factory=factory)
    fb.follow_pitch = True
    fb.strength(0.4)
    low = factory.pin(PINS.buzzer).frequency
    fb.strength(1.0)
    high = factory.pin(PINS.buzzer).frequency
    assert 220 <= low < high <= 880
    fb.close()


def test_button_press_reaches_the_callback():
    factory = MockFactory(pin_class=MockPWMPin)
    fb = Feedback(PINS, VirtualClock(), pin_factory=factory)
    pressed = threading.Event()
    fb.button.when_pressed = pressed.set
    factory.pin(PINS.button).drive_low()
    assert pressed.wait(1.0)
    fb.close()
