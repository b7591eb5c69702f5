"""``pfmt speech``: render the spoken cues once, offline (espeak-ng), in each language the device
speaks — ``DATA/speech/<lang>/<cue>.wav`` — so a session only plays them (``[voice] speech``)."""
from __future__ import annotations

import argparse
from pathlib import Path

from device.cli.args import default_data
from device.i18n import LANGUAGES, language
from device.words import speech
from drivers import speech as voice

#: espeak-ng's voice for each language.
VOICES = {"en": "en", "nb": "nb", "sv": "sv", "da": "da"}


def speech_dir(data: str | Path, lang: str) -> Path:
    return Path(data) / "speech" / lang


def add_arguments(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("action", choices=("render",))
    sp.add_argument("--lang", action="append", choices=sorted(LANGUAGES),
                    help="a language to render (repeatable; default: all four)")
    sp.add_argument("--data", default=default_data(), metavar="DIR")


def main(args: argparse.Namespace) -> int:
    for code in args.lang or list(LANGUAGES):
        tr = language(code)  # each language's line in its own words
        clips = voice.render(speech(tr), VOICES[code], speech_dir(args.data, code))
        print(tr("{language}: {n} spoken cues in {folder}").format(language=LANGUAGES[code], n=len(clips),
                                                                    folder=speech_dir(args.data, code)))
    return 0
