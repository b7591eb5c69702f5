"""How the calibration workflow talks to the physiotherapist.

On the device that is a terminal — the USB serial console or an SSH session, both plain ttys — so
:class:`TerminalConsole` is ``print``/``input`` (``getpass`` for the PIN). :class:`ScriptedConsole`
answers from a script (tests, unattended runs with ``pfmt calibrate --answers``) and keeps the
transcript. Every question has a ``key`` so a script can answer it by name.
"""
from __future__ import annotations

import getpass
import sys
from collections import deque
from typing import Protocol

from device.errors import Aborted, InputError


class Console(Protocol):
    def say(self, text: str) -> None: ...

    def ask(self, prompt: str, key: str, default: str | None = None, secret: bool = False) -> str:
        """The physio's answer (``default`` on an empty answer). Raises :class:`Aborted` when the
        physio types ``abort`` or the input ends."""


class TerminalConsole:
    def __init__(self, out=None, inp=None) -> None:
        self.out = out or sys.stdout
        self.inp = inp or sys.stdin

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def ask(self, prompt: str, key: str, default: str | None = None, secret: bool = False) -> str:
        shown = f"{prompt}" + (f" [{default}]" if default not in (None, "") else "") + ": "
        try:
            if secret and self.inp is sys.stdin and sys.stdin.isatty():
                ans = getpass.getpass(shown)
            else:
                self.out.write(shown)
                self.out.flush()
                line = self.inp.readline()
                if not line:
                    raise EOFError
                ans = line.rstrip("\r\n")
        except (EOFError, KeyboardInterrupt):
            raise Aborted("calibration stopped; nothing was saved") from None
        ans = ans.strip()
        if ans.lower() == "abort":
            raise Aborted("calibration aborted by the physiotherapist; nothing was saved")
        return ans if ans else (default or "")


class ScriptedConsole:
    """Answers by key from ``answers`` (a value, or a list used in turn, the last one repeating);
    a key with no answer takes the question's default — and with no default either, it is an error
    naming the key. ``transcript`` records everything said and answered."""

    def __init__(self, answers: dict[str, object] | None = None, echo: bool = False) -> None:
        self.answers = {k: deque(v) if isinstance(v, list) else v for k, v in (answers or {}).items()}
        self.transcript: list[str] = []
        self.echo = echo

    def say(self, text: str) -> None:
        self._log(text)

    def ask(self, prompt: str, key: str, default: str | None = None, secret: bool = False) -> str:
        a = self.answers.get(key)
        if isinstance(a, deque):
            ans = a.popleft() if len(a) > 1 else (a[0] if a else None)
        else:
            ans = a
        if ans is None:
            if default is None:
                raise InputError(f"the answers give nothing for {key!r} ({prompt}) and it has no default")
            ans = default
        ans = str(ans)
        self._log(f"{prompt}: {'****' if secret else ans}")
        if ans.strip().lower() == "abort":
            raise Aborted("calibration aborted by the physiotherapist; nothing was saved")
        return ans.strip()

    def _log(self, text: str) -> None:
        self.transcript.append(text)
        if self.echo:
            print(text, flush=True)
