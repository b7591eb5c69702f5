"""What the pipeline hands out and what it carries between samples, as types.

``Contraction`` is one measured contraction in the analysis contract's keys; ``Event`` something
the live pipeline learnt and when; ``Episode`` the contraction a detector has open, from the
threshold crossing until it is measured (``detect`` writes it, ``measure`` reads it).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Literal, get_args

#: The decision per contraction (``None`` when the channels cannot tell).
Kind = Literal["lift", "accessory", "bear_down"]
KINDS: tuple[Kind, ...] = get_args(Kind)
#: What the live pipeline can learn; ``time_s`` is the signal time it refers to.
EventType = Literal["onset", "onset_cancelled", "kind", "offset", "contraction", "artifact", "posture_shift"]
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)


def _r(v: object) -> object:
    if isinstance(v, float):
        return None if math.isnan(v) else round(v, 4)
    return v


@dataclass
class Contraction:
    """One detected contraction, in the keys of the analysis contract plus live timing.

    ``flicks`` are the quick lifts riding on the end of the hold (the contract's name); ``peak``
    is the rise above the pre-onset level and ``mvc_pct`` that rise against the calibrated MVC
    span, in per cent. ``possible_cough`` marks a brief burst on a channel with no reference to
    tell a quick lift from a cough's reflex burst: it is reported, never dropped."""

    onset_s: float
    offset_s: float
    hold_s: float
    peak: float
    flicks: int
    kind: Kind | None
    relaxed: bool
    mvc_pct: float | None = None
    possible_cough: bool = False  # brief, and no reference channel could rule a cough out
    onset_known_at_s: float = math.nan
    kind_known_at_s: float = math.nan
    offset_known_at_s: float = math.nan
    features: dict[str, float] = field(default_factory=dict)

    def to_dict(self, detail: bool = False) -> dict:
        d = {k: _r(v) for k, v in asdict(self).items() if k != "features"}
        if detail:
            d["features"] = {k: _r(v) for k, v in self.features.items()}
        else:
            for k in ("onset_known_at_s", "kind_known_at_s", "offset_known_at_s"):
                d.pop(k)
        return d


@dataclass
class Event:
    """Something the live pipeline learnt: ``type`` happened at ``time_s`` (back-dated signal
    time) and became known when the sample stamped ``known_at_s`` arrived."""

    type: EventType
    time_s: float
    known_at_s: float
    data: dict = field(default_factory=dict)


@dataclass
class Episode:
    """The contraction a detector has open. Indices are history sample indices, times signal
    times of the activity signal (before the conditioning delay is taken off)."""

    k_cross: int                 # the threshold crossing
    t_cross: float
    pre: list[float]             # pre-onset level of every channel
    thr: float                   # the onset threshold in force at the crossing
    t_known: float               # when the onset was known (earlier if announced early)
    rest: float = 0.0            # the resting level before it (before the first of a quick series)
    pmax: float = 0.0            # largest rise so far
    k_below: int | None = None   # since when the level is under half the peak (None: above it)
    t_below: float | None = None
    t_rest: float | None = None  # since when the level is back at rest (None: above it)
    kind_sent: bool = False      # the provisional kind was emitted ...
    kind_at: float | None = None  # ... at this time
    k_end: int | None = None     # the release: first sample of the final stretch under half
    t_offset_known: float | None = None
    settle_min: float = math.inf  # lowest level while settling
    reject: str | None = None    # why ``measure`` found it no contraction
