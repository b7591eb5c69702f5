"""Published reference values the report sets each assessment figure beside — with where they
come from, who was measured, their spread, and why the device's own probe may not compare.

Only values the sources state are given; a figure without a reference value says so.
"""
from __future__ import annotations

from dataclasses import dataclass

from device.i18n import N_


@dataclass(frozen=True)
class Norm:
    assessment: str       # glazer | pressure
    path: tuple[str, ...]  # where the figure sits in the assessment's results
    label: str            # marked for the catalogs, translated where shown
    mean: float
    sd: float | None
    unit: str
    population: str
    source: str
    applies: str          # when the device's figure may be compared, and when not

    def z(self, value: float | None) -> float | None:
        """How many of the reference's standard deviations ``value`` lies from its mean."""
        if value is None or not self.sd:
            return None
        return round((value - self.mean) / self.sd, 2)


OLEKSY = ("Oleksy Ł et al. 2020, Normative values for Glazer Protocol in the evaluation of pelvic floor "
          "muscle bioelectrical activity")
OLEKSY_POP = N_("96 healthy nulliparous women")
EMG_APPLIES = N_("sEMG amplitude depends on the probe's electrodes, their placement and the amplifier's band: "
               "compare in absolute µV only with the same kind of vaginal probe; otherwise follow the "
               "patient's own trend between assessments")
ANGELO = "Angelo PH et al. 2017, A manometry classification to assess pelvic floor muscle function in women, PLoS ONE 12(10):e0187045"
PRESSURE_APPLIES = N_("squeeze pressure depends on the probe's size and balloon (it can differ ×2 between probes): "
                    "compare in absolute cmH2O only with the same perineometer probe; otherwise follow the "
                    "patient's own trend")

NORMS: tuple[Norm, ...] = (
    Norm("glazer", ("pre_baseline", "mean_uV"), N_("pre-baseline rest"), 6.26, 3.33, "µV", OLEKSY_POP, OLEKSY, EMG_APPLIES),
    Norm("glazer", ("phasic", "mean_peak_uV"), N_("phasic (quick) contractions"), 49.76, 26.44, "µV", OLEKSY_POP, OLEKSY,
         EMG_APPLIES),
    Norm("glazer", ("tonic", "mean_uV"), N_("tonic contractions"), 37.05, 25.99, "µV", OLEKSY_POP, OLEKSY, EMG_APPLIES),
    Norm("glazer", ("endurance", "mean_uV"), N_("endurance contraction"), 16.10, 6.68, "µV", OLEKSY_POP, OLEKSY, EMG_APPLIES),
    Norm("glazer", ("post_baseline", "mean_uV"), N_("post-baseline rest"), 6.93, 3.99, "µV", OLEKSY_POP, OLEKSY, EMG_APPLIES),
    Norm("pressure", ("power", "max"), N_("maximal squeeze (manometry)"), 35.1, 22.7, "cmH2O",
         N_("288 women, mean age 52.8 years (Brazil); classification: 7.5–14.5 cmH2O very weak, 14.6–26.5 weak"),
         ANGELO, PRESSURE_APPLIES),
)


def for_assessment(kind: str) -> list[Norm]:
    return [n for n in NORMS if n.assessment == kind]


def lookup(results: dict, path: tuple[str, ...]) -> float | None:
    v: object = results
    for k in path:
        if not isinstance(v, dict):
            return None
        v = v.get(k)
    return float(v) if isinstance(v, (int, float)) else None
