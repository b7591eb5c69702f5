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

from device.errors import N_, Aborted, InputError, PfmtError, localize
from device.i18n import ENGLISH, Language


class Console(Protocol):
    tr: Language  # the physiotherapist's language: what is said and asked is in it

    def say(self, text: str | PfmtError, /, **fields: object) -> None:
        """Tell the physio ``text`` — a message template marked for the catalogs, its ``fields``
        apart (an error among them is told in her language), or an error itself."""

    def ask(self, prompt: str, key: str, default: str | None = None, secret: bool = False) -> str:
        """The physio's answer (``default`` on an empty answer) to ``prompt`` (a marked message,
        asked in her language). Raises :class:`Aborted` when the physio types ``abort`` or the
        input ends."""


def told(tr: Language, text: str | PfmtError, fields: dict[str, object]) -> str:
    """``text`` in the language ``tr``: a template translated and filled, an error localized."""
    return text.localized(tr) if isinstance(text, PfmtError) else localize(text, fields, tr)


class TerminalConsole:
    def __init__(self, out=None, inp=None, tr: Language = ENGLISH) -> None:
        self.out = out or sys.stdout
        self.inp = inp or sys.stdin
        self.tr = tr

    def say(self, text: str | PfmtError, /, **fields: object) -> None:
        print(told(self.tr, text, fields), file=self.out, flush=True)

    def ask(self, prompt: str, key: str, default: str | None = None, secret: bool = False) -> str:
        shown = self.tr(prompt) + (f" [{default}]" if default not in (None, "") else "") + ": "
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
            raise Aborted(N_("calibration stopped; nothing was saved")) from None
        ans = ans.strip()
        if ans.lower() == "abort":
            raise Aborted(N_("calibration aborted by the physiotherapist; nothing was saved"))
        return ans if ans else (default or "")


class ScriptedConsole:
    """Answers by key from ``answers`` (a value, or a list used in turn, the last one repeating);
    a key with no answer takes the question's default — and with no default either, it is an error
    naming the key. ``transcript`` records everything said and answered."""

    def __init__(self, answers: dict[str, object] | None = None, echo: bool = False, tr: Language = ENGLISH) -> None:
        self.answers = {k: deque(v) if isinstance(v, list) else v for k, v in (answers or {}).items()}
        self.transcript: list[str] = []
        self.echo = echo
        self.tr = tr

    def say(self, text: str | PfmtError, /, **fields: object) -> None:
        self._log(told(self.tr, text, fields))

    def ask(self, prompt: str, key: str, default: str | None = None, secret: bool = False) -> str:
        a = self.answers.get(key)
        if isinstance(a, deque):
            ans = a.popleft() if len(a) > 1 else (a[0] if a else None)
        else:
            ans = a
        if ans is None:
            if default is None:
                raise InputError(N_("the answers give nothing for {key!r} ({prompt}) and it has no default"),
                                 key=key, prompt=prompt)
            ans = default
        ans = str(ans)
        self._log(f"{self.tr(prompt)}: {'****' if secret else ans}")
        if ans.strip().lower() == "abort":
            raise Aborted(N_("calibration aborted by the physiotherapist; nothing was saved"))
        return ans.strip()

    def _log(self, text: str) -> None:
        self.transcript.append(text)
        if self.echo:
            print(text, flush=True)
