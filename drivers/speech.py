"""Spoken cues on a speaker: short WAV clips, one per cue, rendered once offline and played when
the cue's pattern starts — so the voice is as punctual as the tone beside it.

Knows files, ALSA's ``aplay`` and espeak-ng; nothing of training. The texts come from the caller
(in the patient's language); the clips live in a folder ``<dir>/<name>.wav``. Rendering trims the
leading silence espeak-ng puts before a word, so a clip's first sound is its onset.

- :class:`Speaker` plays a clip with ``aplay`` without waiting (a new cue cuts the one before).
- :class:`RecordingSpeaker` (the emulated device) keeps (time, name) and mixes the clips at their
  times into one WAV, to listen to and to measure.
"""
from __future__ import annotations

import shutil
import subprocess
import wave
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from drivers.errors import N_, ConfigError, HardwareError

RATE_HZ = 22050  # espeak-ng's own rate
SILENCE = 0.02  # of full scale: below it is the silence trimmed before a clip's first sound


def _espeak() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise HardwareError(N_("spoken cues need espeak-ng (Debian/Raspberry Pi OS package espeak-ng)"))
    return exe


def read_wav(path: Path) -> np.ndarray:
    """A mono 16-bit WAV as floats in [-1, 1]."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise ConfigError(N_("{path}: a clip must be mono 16-bit PCM"), path=path)
        if w.getframerate() != RATE_HZ:
            raise ConfigError(N_("{path}: a clip must be at {rate_hz} Hz, not {value}"),
                              path=path, rate_hz=RATE_HZ, value=w.getframerate())
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(float) / 32768.0


def write_wav(path: Path, x: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE_HZ)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


def render(texts: Mapping[str, str], voice: str, folder: Path, speed_wpm: int = 150) -> list[Path]:
    """Render each ``name → text`` with espeak-ng's ``voice`` into ``folder/<name>.wav``, its
    leading silence trimmed."""
    folder.mkdir(parents=True, exist_ok=True)
    exe, out = _espeak(), []
    for name, text in texts.items():
        raw = folder / f".{name}.raw.wav"
        r = subprocess.run([exe, "-v", voice, "-s", str(speed_wpm), "-w", str(raw), text], capture_output=True, text=True)
        if r.returncode != 0:
            raise HardwareError(N_("espeak-ng could not speak {text!r} in voice {voice!r}: {value}"),
                                text=text, voice=voice, value=r.stderr.strip())
        x = read_wav(raw)
        raw.unlink()
        loud = np.flatnonzero(np.abs(x) > SILENCE)
        x = x[loud[0]:loud[-1] + 1] if len(loud) else x[:0]
        write_wav(folder / f"{name}.wav", x)
        out.append(folder / f"{name}.wav")
    return out


class Speaker:
    """Plays ``folder/<name>.wav`` on the device's sound output (ALSA ``aplay``), not waiting."""

    def __init__(self, folder: Path, device: str | None = None) -> None:
        self.folder, self.device = Path(folder), device
        self._aplay = shutil.which("aplay")
        if self._aplay is None:
            raise HardwareError(N_("spoken cues need aplay (Debian/Raspberry Pi OS package alsa-utils)"))
        self._proc: subprocess.Popen | None = None

    def say(self, name: str, at: float) -> None:
        clip = self.folder / f"{name}.wav"
        if not clip.is_file():
            return  # a cue without words (a tick, a light only)
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()  # the new cue is what counts now
        cmd = [str(self._aplay), "-q"] + (["-D", self.device] if self.device else []) + [str(clip)]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class RecordingSpeaker:
    """The emulated device's speaker: what was said when, mixed into one WAV on demand."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.said: list[tuple[float, str]] = []
        self._clips: dict[str, np.ndarray] = {}

    def say(self, name: str, at: float) -> None:
        clip = self.folder / f"{name}.wav"
        if clip.is_file():
            if name not in self._clips:
                self._clips[name] = read_wav(clip)
            self.said.append((at, name))

    def mix(self, path: Path, t0: float = 0.0) -> list[tuple[float, str]]:
        """Write every clip at its time (from ``t0``) into one WAV; returns (seconds, name) placed.
        A clip cut by the next cue is cut in the mix too, as on the device."""
        end = max((at - t0 + len(self._clips[n]) / RATE_HZ for at, n in self.said), default=0.0)
        out = np.zeros(int(end * RATE_HZ) + 1)
        for k, (at, name) in enumerate(self.said):
            a = int(round((at - t0) * RATE_HZ))
            clip = self._clips[name]
            if k + 1 < len(self.said):
                clip = clip[: max(0, int(round((self.said[k + 1][0] - at) * RATE_HZ)))]
            out[a:a + len(clip)] = clip[: len(out) - a]
        write_wav(path, out)
        return [(round(at - t0, 3), n) for at, n in self.said]
