"""Lift / accessory / bear-down: the decision from one contraction's reference-channel features.

Features (computed in ``measure.classify``):
``abd_ratio``  pressure: abdominal rise / pelvic rise over the hold. Bearing down pushes the abdomen
               (the vagina follows passively at 0.4–0.9×, so > 1.1); a lift leaves it within a
               few cmH2O; accessory effort lies between.
``abd_norm``   EMG: abdominal RMS rise as a fraction of its maximal effort (needs its calibration),
               with ``pel_norm`` the pelvic rise as a fraction of the MVC.
``disp_mm``    displacement: the probe is drawn inward (+) on a lift, pushed out (−) bearing down.

The generic thresholds suit a typical patient. How much of a patient's abdominal pressure reaches
the reference sensor, how much transversus co-activation her correct lift carries and how much the
vagina follows a strain all vary from one patient to the next, so the physiotherapist records a few
lifts and bear-downs verified by palpation and :func:`fit` personalises the decision — only where
it must: when the generic thresholds already separate her examples with a margin they stay. Else
they move to her scale: her bear-down against a typical one (``TYPICAL``) gives the scale of her
reference channel; the bear-down threshold moves down to ``BEAR_FRAC`` of her weakest verified
bear-down when that is below the generic one (as high as is safe), or up with the scale when her
reference sees more (never above that share, never below her lifts); the accessory threshold sits
that far above her own typical lift (her normal co-activation), as the generic one sits above a
typical lift.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import median

from device.errors import N_, CalibrationError
from device.pipeline.types import KINDS, Kind
from device.recording import is_finite_number

__all__ = ["KINDS", "Kind", "KindModel", "decide", "fit"]

#: Generic thresholds: (accessory above, bear-down above) on each abdominal feature.
GENERIC = {"abd_ratio": (0.25, 0.95), "abd_norm": (0.12, 0.3)}
#: Where a typical lift and a typical bear-down lie on each feature (the physiology table's centres:
#: co-activation ~0.03, passive follow ~0.65; for EMG the abdominals at ~0.75 of their maximum).
TYPICAL = {"abd_ratio": (0.03, 1.0 / 0.65), "abd_norm": (0.005, 0.75)}
BEAR_FRAC = 0.75         # a personal bear-down threshold stays under this share of her weakest one
GENERIC_MARGIN = 0.15    # generic thresholds are kept when her examples clear them by this share
#: A lift and a bear-down closer than this on the feature cannot be told apart reliably.
MIN_SEPARATION = {"abd_ratio": 0.3, "abd_norm": 0.1}
DISP_MM = 0.3            # generic: pushed out more than this = bearing down
ABD_FEW_CMH2O = 3.0      # an abdominal rise under a few cmH2O is never accessory effort
EMG_RATIO = (2.0, 12.0)  # uncalibrated EMG: abdominal / pelvic µV rise, accessory / bear-down above
MIN_EXAMPLES = 3         # verified examples of each kind a personal model needs


@dataclass(frozen=True)
class KindModel:
    """A patient's own thresholds (``None`` = that channel's generic rule applies)."""

    feature: str | None               # abd_ratio | abd_norm | None (displacement only)
    accessory_above: float | None
    bear_down_above: float | None
    disp_bear_below: float | None
    lift_median: float | None = None  # the examples, for the physio's review
    bear_down_median: float | None = None
    examples: int = 0
    scale: float = 1.0                # her reference channel against a typical one (1 = generic kept)

    def to_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: object, source: str) -> KindModel:
        if not isinstance(d, dict):
            raise CalibrationError(N_("{source}: kinds must be an object"), source=source)
        allowed = set(cls.__dataclass_fields__)
        unknown = set(d) - allowed
        if unknown:
            raise CalibrationError(N_("{source}: kinds: unknown key(s) {items}; allowed: {items2}"),
                                   source=source, items=', '.join(sorted(unknown)), items2=', '.join(sorted(allowed)))
        feature = d.get("feature")
        if feature not in (None, *GENERIC):
            raise CalibrationError(N_("{source}: kinds.feature {feature!r}; allowed: {items} or null"),
                                   source=source, feature=feature, items=', '.join(GENERIC))
        vals: dict[str, float | None] = {}
        for k in ("accessory_above", "bear_down_above", "disp_bear_below", "lift_median", "bear_down_median", "scale"):
            v = d.get(k)
            if v is not None and not is_finite_number(v):
                raise CalibrationError(N_("{source}: kinds.{k} must be a finite number or null, got {v!r}"),
                                       source=source, k=k, v=v)
            vals[k] = None if v is None else float(v)
        if feature is not None and (vals["accessory_above"] is None or vals["bear_down_above"] is None):
            raise CalibrationError(N_("{source}: kinds with feature {feature} needs accessory_above and "
                                      "bear_down_above"), source=source, feature=feature)
        acc, bear = vals["accessory_above"], vals["bear_down_above"]
        if feature is not None and acc is not None and bear is not None and acc > bear:
            raise CalibrationError(N_("{source}: kinds.accessory_above ({acc:g}) must not exceed bear_down_above "
                                      "({bear:g})"), source=source, acc=acc, bear=bear)
        if feature is None and vals["disp_bear_below"] is None:
            raise CalibrationError(N_("{source}: kinds needs an abdominal feature or disp_bear_below"), source=source)
        n = d.get("examples", 0)
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise CalibrationError(N_("{source}: kinds.examples must be a whole number ≥ 0"), source=source)
        scale = 1.0 if vals["scale"] is None else vals["scale"]
        if not 0.01 <= scale <= 100:
            raise CalibrationError(N_("{source}: kinds.scale must be 0.01…100, got {scale:g}"),
                                   source=source, scale=scale)
        return cls(feature, vals["accessory_above"], vals["bear_down_above"], vals["disp_bear_below"],
                   vals["lift_median"], vals["bear_down_median"], n, scale)


def decide(feats: dict, model: KindModel | None = None, few: float = ABD_FEW_CMH2O) -> Kind | None:
    """The kind from the features; ``few`` is "a few cmH2O" in the abdominal channel's unit.
    None when no reference channel was recorded."""
    votes: list[Kind] = []
    if feats.get("abd_norm") is not None or "abd_ratio" in feats:
        votes.append(_abdominal_vote(feats, model, few))
    elif "abd_rise" in feats:  # EMG without the abdominal calibration: rises in µV
        r = feats["abd_rise"] / max(feats["pel_rise"], 1e-9)
        votes.append("bear_down" if r > EMG_RATIO[1] else "accessory" if r > EMG_RATIO[0] else "lift")
    if "disp_mm" in feats:
        below = model.disp_bear_below if model and model.disp_bear_below is not None else -DISP_MM
        if feats["disp_mm"] < below:
            votes.append("bear_down")
        elif not votes:
            votes.append("lift")
    if not votes:
        return None
    return "bear_down" if "bear_down" in votes else votes[0]


def _abdominal_vote(feats: dict, model: KindModel | None, few: float) -> Kind:
    feature = "abd_norm" if feats.get("abd_norm") is not None else "abd_ratio"
    acc, bear = GENERIC[feature]
    if model is not None and model.feature == feature \
            and model.accessory_above is not None and model.bear_down_above is not None:  # checked on load
        acc, bear = model.accessory_above, model.bear_down_above
        few *= model.scale  # "a few cmH2O" as her reference sensor sees them
    x = feats[feature]
    if feature == "abd_norm":
        pn = feats.get("pel_norm")
        if x > bear and (pn is None or pn < 0.5 * x):  # strain with no real squeeze behind it
            return "bear_down"
        return "accessory" if x > acc else "lift"
    if x > bear:
        return "bear_down"
    return "accessory" if x > acc and feats.get("abd_rise", math.inf) > few else "lift"


# ---------------------------------------------------------------------------- personalisation
def fit(examples: list[tuple[str, dict]], check: bool = True, min_each: int = MIN_EXAMPLES) -> KindModel:
    """A patient's thresholds from verified examples ``(kind, features)`` of ``lift`` and
    ``bear_down``. Raises :class:`CalibrationError` naming the problem when the examples cannot
    be separated (each is also left out in turn and must still be classified right)."""
    lifts = [f for k, f in examples if k == "lift"]
    bears = [f for k, f in examples if k == "bear_down"]
    if len(lifts) < min_each or len(bears) < min_each:
        raise CalibrationError(N_("personalising the lift/bear-down decision needs {min_each} verified examples of "
                                  "each; have {n_lifts} lifts and {n_bears} bear-downs"),
                               min_each=min_each, n_lifts=len(lifts), n_bears=len(bears))
    feature = next((f for f in ("abd_norm", "abd_ratio") if all(x.get(f) is not None for x in lifts + bears)), None)
    has_disp = all("disp_mm" in x for x in lifts + bears)
    if feature is None and not has_disp:
        raise CalibrationError(N_("the examples carry no reference-channel measure (an abdominal channel with its "
                                  "calibration, or displacement): nothing to personalise"))
    acc = bear = disp = None
    med_l = med_b = None
    problems = []
    if feature is not None:
        L = sorted(x[feature] for x in lifts)
        B = sorted(x[feature] for x in bears)
        med_l, med_b = median(L), median(B)
        gap_lo, gap_hi = L[-1], B[0]
        if gap_hi <= gap_lo or med_b - med_l < MIN_SEPARATION[feature]:
            problems.append(f"on the abdominal reference ({feature}) the lifts reach {gap_lo:.2f} and the "
                            f"bear-downs start at {gap_hi:.2f} (medians {med_l:.2f} vs {med_b:.2f}; they must "
                            f"not overlap and lie at least {MIN_SEPARATION[feature]:g} apart)")
        else:
            acc_g, bear_g = GENERIC[feature]
            scale = 1.0
            if gap_lo < acc_g * (1 - GENERIC_MARGIN) and gap_hi > bear_g * (1 + GENERIC_MARGIN):
                acc, bear = acc_g, bear_g  # the generic decision already separates her examples
            else:
                t_lift, t_bear = TYPICAL[feature]
                scale = med_b / t_bear
                safe = BEAR_FRAC * gap_hi  # as high as is safe below her weakest bear-down
                bear = safe if safe < bear_g else min(max(bear_g, bear_g * scale), safe)
                if bear <= gap_lo:
                    bear = 0.5 * (gap_lo + gap_hi)
                acc = med_l + (acc_g - t_lift) * scale
                acc = min(max(acc, gap_lo + 0.1 * (bear - gap_lo)), bear)
    if has_disp:
        DL = sorted(x["disp_mm"] for x in lifts)
        DB = sorted(x["disp_mm"] for x in bears)
        if DB[-1] < DL[0]:
            disp = 0.5 * (DB[-1] + DL[0])
        elif feature is None:
            problems.append(f"on displacement the bear-downs reach {DB[-1]:+.2f} mm and the lifts start "
                            f"at {DL[0]:+.2f} mm: a bear-down must push the probe out further than any lift")
    if (feature is not None and acc is None) or (feature is None and disp is None):
        raise CalibrationError(N_("the lift and bear-down examples cannot be separated: {items}. Check the reference "
                                  "probe's placement and record the examples again."), items="; ".join(problems))
    model = KindModel(feature, acc, bear, disp, med_l, med_b, len(lifts) + len(bears),
                      scale if feature is not None else 1.0)
    if check:
        for i, (kind, f) in enumerate(examples):
            if kind not in ("lift", "bear_down"):
                continue
            rest = examples[:i] + examples[i + 1:]
            try:
                held_out = fit(rest, check=False, min_each=min_each - 1)
            except CalibrationError:
                held_out = None
            got = decide(f, held_out) if held_out else None
            if got != kind:
                raise CalibrationError(N_("the examples do not separate reliably: fitted without example {value} "
                                          "({value2}), it is judged {value3}. Record the examples again."),
                                       value=i + 1, value2=kind.replace('_', '-'),
                                       value3=(got or 'undecidable').replace('_', '-'))
    return model
