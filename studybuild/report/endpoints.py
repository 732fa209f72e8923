"""The protocol endpoints, computed from ADaM only: pure functions, no files, no figures.

Everything the reviewer report shows is a number in :class:`Endpoints`, computed here from the
ADaM datasets (ADSL, ADRS, ADTTE, ADTR, ADAE) with vectorised pandas, so every number can be
tested against a hand count. Conventions (see ``docs/report.md``):

- **Population**: ADSL subjects with ``<population> == "Y"`` (default FASFL; when ADSL lacks that
  flag the first of FASFL, ITTFL, EFFFL, SAFFL that it has, and the report says so). TEAEs use
  SAFFL. Groups are the values of TRT01P (efficacy) and TRT01A (safety).
- **Best overall response** is ADRS ``PARAMCD = "BOR"`` (unconfirmed) or ``"CBOR"``
  (confirmed); a population subject with no record counts as ``MISSING`` (in the denominator).
  ORR = CR + PR; DCR = CR + PR + SD + NON-CR/NON-PD (admiralonco's clinical benefit, CB/CCB).
- **Clopper-Pearson** exact interval from beta quantiles.
- **Kaplan-Meier** (lifelines) on ADTTE ``AVAL`` (days) with event = ``CNSR == 0``; pointwise
  log(-log) ("exponential Greenwood") bands; median and its limits by R survival's rule.
- **Waterfall**: per subject the minimum post-baseline ``PCHG`` of the ADTR sum of diameters.
- **TEAEs**: ADAE ``TRTEMFL = "Y"`` in the safety population, each subject counted once per
  row at the maximum grade (ATOXGRN, else ATOXGR, else severity).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
import pandas as pd

from studybuild.errors import InputError

if TYPE_CHECKING:
    from studybuild.report.simon import SimonDesign
    from studybuild.study import SimonTwoStage

#: days per month used for every month shown in the report (365.25 / 12)
DAYS_PER_MONTH = 30.4375

#: display order of response categories; anything else is appended alphabetically
RESPONSE_ORDER = ("CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE", "MISSING")
#: rows every best-overall-response table shows, with zero counts (NON-CR/NON-PD and MISSING
#: are added only when some subject has them)
SHELL_CATEGORIES = ("CR", "PR", "SD", "PD", "NE")
ORR_CATEGORIES = ("CR", "PR")
DCR_CATEGORIES = ("CR", "PR", "SD", "NON-CR/NON-PD")

POPULATION_FALLBACK = ("FASFL", "ITTFL", "EFFFL", "SAFFL")
KM_PARAMS = ("PFS", "OS", "RSD")
ALL = "All subjects"
TOTAL = "Total"
SEVERITY_GRADES = {"MILD": 1.0, "MODERATE": 2.0, "SEVERE": 3.0}
#: causality values that are *not* treatment-related; any other non-missing AREL/AEREL is
#: (RELATED, POSSIBLY RELATED, PROBABLY RELATED, DEFINITELY RELATED, Y, ...)
NOT_RELATED = ("NOT RELATED", "UNLIKELY RELATED", "UNRELATED", "UNLIKELY", "NONE", "N", "NO")


@dataclass(frozen=True)
class Proportion:
    """``n`` of ``N`` with its exact (Clopper-Pearson) confidence interval."""

    n: int
    N: int
    estimate: float
    lower: float
    upper: float


@dataclass
class Endpoints:
    """Every number the reviewer report shows. Frames are sorted and have a fresh index.

    Times are in days (ADTTE ``AVAL`` units); the report converts to months with
    :data:`DAYS_PER_MONTH`. NaN means "not reached / not estimable" for KM medians and limits.
    """

    population: str | None                 # ADSL flag used for efficacy (None: all subjects)
    safety_population: str | None          # ADSL flag used for TEAEs
    groups: tuple[str, ...]                # efficacy groups (TRT01P values) in display order
    safety_groups: tuple[str, ...]
    conf_level: float
    available: dict[str, bool]             # ADSL/ADRS/ADTTE/ADTR/ADAE present?
    notes: list[str]                       # what a reader must know (fallbacks, exclusions)
    subjects: pd.DataFrame                 # USUBJID, SUBJID, GROUP (efficacy population)
    bor: pd.DataFrame                      # PARAMCD, GROUP, AVALC, n, N, pct
    rates: pd.DataFrame                    # ENDPOINT, CONFIRMED, GROUP, n, N, rate, lower, upper
    km: pd.DataFrame                       # PARAMCD, PARAM, GROUP, n, events, censored, median, lower, upper, fu_median, fu_lower, fu_upper
    km_curves: pd.DataFrame                # PARAMCD, GROUP, time, survival, lower, upper
    km_censored: pd.DataFrame              # PARAMCD, GROUP, time, survival (censoring marks)
    at_risk: pd.DataFrame                  # PARAMCD, GROUP, time, n_at_risk
    dor: pd.DataFrame                      # USUBJID, SUBJID, GROUP, BOR, CBOR, STARTDT, ADT, AVAL, CNSR, EVNTDESC
    waterfall: pd.DataFrame                # USUBJID, SUBJID, GROUP, PCHG, RESPONSE (sorted for the plot)
    waterfall_source: str | None           # ADTR PARAMCD used (SUMDIAM / SDIAM)
    response_basis: str | None             # BOR or CBOR: which colours the waterfall
    swimmer: pd.DataFrame                  # USUBJID, SUBJID, GROUP, duration, ongoing, followup_end, death_day
    swimmer_events: pd.DataFrame           # USUBJID, day, AVALC
    swimmer_note: str | None
    teae_overview: pd.DataFrame            # GROUP, CATEGORY, n, N, pct
    teae: pd.DataFrame                     # GROUP, LEVEL, AESOC, AEDECOD, N, ANY, G1..Gk, HIGH, GMISSING
    grade_source: str | None               # ATOXGRN / ATOXGR / ASEVN / AESEV
    grade_labels: tuple[str, ...] = ()     # column labels for G1..Gk
    km_params: dict[str, str] = field(default_factory=dict)   # PARAMCD -> PARAM label
    landmarks: pd.DataFrame = field(default_factory=pd.DataFrame)  # PARAMCD, GROUP, month, time, survival, lower, upper, n_at_risk
    km_origin: dict[str, str] = field(default_factory=dict)   # PARAMCD -> "first dose", ...
    simon: "SimonResult | None" = None     # the primary endpoint against its two-stage design

    def rate(self, endpoint: str, *, confirmed: bool, group: str | None = None) -> Proportion:
        """The ORR/DCR of one group (default: the only group, or Total)."""
        r = self.rates[(self.rates["ENDPOINT"] == endpoint)
                       & (self.rates["CONFIRMED"] == confirmed)]
        if group is None:
            group = TOTAL if (r["GROUP"] == TOTAL).any() else self.groups[0]
        row = r[r["GROUP"] == group]
        if row.empty:
            raise KeyError(f"no {endpoint} for group {group!r}")
        x = row.iloc[0]
        return Proportion(int(x["n"]), int(x["N"]), float(x["rate"]), float(x["lower"]),
                          float(x["upper"]))


# ---------------------------------------------------------------------------------------
# small pure helpers (vector in, vector out)
# ---------------------------------------------------------------------------------------

def clopper_pearson(n: int | np.ndarray, N: int | np.ndarray,
                    conf_level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Exact binomial confidence limits from beta quantiles.

    lower = Beta(a/2; n, N-n+1) (0 when n = 0), upper = Beta(1-a/2; n+1, N-n) (1 when n = N),
    with a = 1 - conf_level. ``N = 0`` gives NaN.

    >>> lo, hi = clopper_pearson(3, 10)
    >>> round(float(lo), 4), round(float(hi), 4)
    (0.0667, 0.6525)
    """
    from scipy.stats import beta

    n = np.asarray(n, dtype="float64")
    N = np.asarray(N, dtype="float64")
    a = 1.0 - conf_level
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(n > 0, beta.ppf(a / 2, np.maximum(n, 1e-300), N - n + 1), 0.0)
        hi = np.where(n < N, beta.ppf(1 - a / 2, n + 1, np.maximum(N - n, 1e-300)), 1.0)
    bad = N <= 0
    lo = np.where(bad, np.nan, lo)
    hi = np.where(bad, np.nan, hi)
    return lo, hi


def survival_quantile(time: np.ndarray, surv: np.ndarray, p: float = 0.5) -> float:
    """First time a step curve falls to ``p`` or below (R survival's rule).

    When the curve sits exactly at ``p`` on an interval and drops below later, the result is the
    midpoint between the start of that flat and the time it drops (as R's ``survfit`` and SAS
    PROC LIFETEST do). NaN when the curve never reaches ``p`` (median not reached).

    >>> survival_quantile(np.array([0., 1, 2, 3]), np.array([1., .75, .5, .25]))
    2.5
    """
    time = np.asarray(time, dtype="float64")
    surv = np.asarray(surv, dtype="float64")
    tol = np.sqrt(np.finfo("float64").eps)
    ok = ~np.isnan(surv)
    time, surv = time[ok], surv[ok]
    hit = np.flatnonzero(surv < p + tol)
    if hit.size == 0:
        return float("nan")
    i = hit[0]
    if abs(surv[i] - p) < tol:
        later = np.flatnonzero(surv[i:] < surv[i] - tol)
        if later.size:
            return float((time[i] + time[i + later[0]]) / 2)
    return float(time[i])


@dataclass(frozen=True)
class KMFit:
    n: int
    events: int
    median: float
    lower: float
    upper: float
    curve: pd.DataFrame          # time, survival, lower, upper (one row per distinct time, from 0)
    censored: pd.DataFrame       # time, survival at each censored time (one row per time)


def kaplan_meier(time: np.ndarray, event: np.ndarray, conf_level: float = 0.95) -> KMFit:
    """Kaplan-Meier estimate (lifelines) with the median and its confidence limits.

    ``time`` in any unit (ADTTE AVAL days), ``event`` 1 for an event, 0 for censored.
    The bands are lifelines' pointwise log(-log) intervals; the median's limits are where the
    bands cross 0.5 (Brookmeyer-Crowley with the log-log transform, SAS's default).

    >>> fit = kaplan_meier(np.array([1., 2, 3, 4]), np.array([1, 1, 1, 1]))
    >>> fit.median   # S = .75, .5, .25, 0: flat at 0.5 from 2 to 3
    2.5
    """
    from lifelines import KaplanMeierFitter

    time = np.asarray(time, dtype="float64")
    event = np.asarray(event, dtype="int64")
    if time.size == 0:
        empty = pd.DataFrame({"time": [], "survival": [], "lower": [], "upper": []},
                             dtype="float64")
        return KMFit(0, 0, np.nan, np.nan, np.nan, empty,
                     pd.DataFrame({"time": [], "survival": []}, dtype="float64"))
    kmf = KaplanMeierFitter(alpha=1 - conf_level)
    kmf.fit(time, event_observed=event)
    sf = kmf.survival_function_.iloc[:, 0]
    ci = kmf.confidence_interval_
    t = sf.index.to_numpy(dtype="float64")
    s = sf.to_numpy(dtype="float64")
    lo = ci.iloc[:, 0].to_numpy(dtype="float64")
    hi = ci.iloc[:, 1].to_numpy(dtype="float64")
    curve = pd.DataFrame({"time": t, "survival": s, "lower": lo, "upper": hi})
    cens_t = np.unique(time[event == 0])
    cens = pd.DataFrame({"time": cens_t,
                         "survival": s[np.searchsorted(t, cens_t, side="right") - 1]})
    return KMFit(int(time.size), int(event.sum()), survival_quantile(t, s),
                 survival_quantile(t, lo), survival_quantile(t, hi), curve, cens)


def survival_at(curve: pd.DataFrame, at: Sequence[float]) -> pd.DataFrame:
    """The step curve of a :class:`KMFit` read at each time in ``at``: survival and its
    pointwise band (the values of the last step at or before the time). NaN beyond the last
    observed time, where the estimate is not defined, and a NaN band while S is still 1.

    >>> fit = kaplan_meier(np.array([1., 2, 3, 4]), np.array([1, 0, 1, 0]))
    >>> survival_at(fit.curve, [0.5, 2.5, 9])["survival"].round(4).tolist()
    [1.0, 0.75, nan]
    """
    at = np.asarray(at, dtype="float64")
    t = curve["time"].to_numpy(dtype="float64")
    i = np.searchsorted(t, at, side="right") - 1
    ok = (i >= 0) & (at <= (t.max() if t.size else -np.inf))
    j = np.clip(i, 0, max(t.size - 1, 0))

    def pick(col: str) -> np.ndarray:
        v = curve[col].to_numpy(dtype="float64")
        return np.where(ok, v[j] if v.size else np.nan, np.nan)

    surv = pick("survival")
    # before the first event S = 1 and the log(-log) interval is not defined (SAS and R give
    # none); lifelines reports (1, 1) there
    band = ok & (surv < 1.0)
    return pd.DataFrame({"time": at, "survival": surv,
                         "lower": np.where(band, pick("lower"), np.nan),
                         "upper": np.where(band, pick("upper"), np.nan)})


def numbers_at_risk(time: np.ndarray, at: Sequence[float]) -> np.ndarray:
    """Subjects still at risk at each time in ``at``: those whose time is >= it.

    >>> numbers_at_risk(np.array([1., 5, 5, 9]), [0, 5, 6, 10]).tolist()
    [4, 3, 1, 0]
    """
    srt = np.sort(np.asarray(time, dtype="float64"))
    return (srt.size - np.searchsorted(srt, np.asarray(at, dtype="float64"), side="left")
            ).astype("int64")


def at_risk_grid(max_days: float, *, max_ticks: int = 9) -> np.ndarray:
    """Times (days) at steps of 0.5, 1, 2, 3, 6, 12 or 24 months covering ``max_days``
    with at most ``max_ticks`` ticks (the smallest such step).

    >>> (at_risk_grid(200) / DAYS_PER_MONTH).tolist()
    [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    >>> (at_risk_grid(43) / DAYS_PER_MONTH).tolist()
    [0.0, 0.5, 1.0]
    """
    months = max(float(max_days), 0.0) / DAYS_PER_MONTH
    for step in (0.5, 1, 2, 3, 6, 12, 24):
        if months / step <= max_ticks - 1:
            break
    n = int(np.floor(months / step + 1e-9))
    return np.arange(n + 1, dtype="float64") * step * DAYS_PER_MONTH


# ---------------------------------------------------------------------------------------
# dataset access
# ---------------------------------------------------------------------------------------

def _get(adam: Mapping[str, pd.DataFrame], name: str) -> pd.DataFrame | None:
    for k, v in adam.items():
        if str(k).upper() == name and v is not None:
            return v
    return None


def _require(df: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"{name} lacks {', '.join(missing)}, which the reviewer report needs",
                         hint=f"derive {', '.join(missing)} in {name} or leave {name} out "
                              "(its section then says 'not available')")


def _param_records(df: pd.DataFrame, name: str, paramcd: str) -> pd.DataFrame:
    """The analysed records of one parameter: ``PARAMCD == paramcd`` and, when the dataset
    has ANL01FL and any of those records carry it, ``ANL01FL == "Y"``. One per subject."""
    rec = df[df["PARAMCD"].eq(paramcd)]
    if "ANL01FL" in rec.columns and rec["ANL01FL"].eq("Y").any():
        rec = rec[rec["ANL01FL"].eq("Y")]
    dup = rec["USUBJID"].duplicated(keep=False)
    if dup.any():
        subj = sorted(rec.loc[dup, "USUBJID"].astype(str).unique())
        raise InputError(f"{name} has more than one analysed {paramcd} record for "
                         f"{len(subj)} subject(s), e.g. {', '.join(subj[:3])}",
                         hint="flag the one record per subject to analyse with ANL01FL = 'Y'")
    return rec


def _present(df: pd.DataFrame, names: Sequence[str | None]) -> list[str]:
    """The columns of ``names`` that ``df`` has, in that order, once each."""
    return [c for c in dict.fromkeys(n for n in names if n) if c in df.columns]


def _order_responses(values: Sequence[str]) -> list[str]:
    known = [v for v in RESPONSE_ORDER if v in set(values)]
    return known + sorted(set(values) - set(RESPONSE_ORDER))


def _groups(values: pd.Series) -> tuple[str, ...]:
    return tuple(sorted(values.astype(str).unique()))


def _population(adsl: pd.DataFrame | None, flag: str | None, fallback: Sequence[str],
                arm_var: str | None, what: str, notes: list[str]
                ) -> tuple[pd.DataFrame | None, str | None]:
    """USUBJID, SUBJID, GROUP of the ADSL subjects flagged ``flag == "Y"``."""
    if adsl is None:
        return None, None
    _require(adsl, "ADSL", ["USUBJID"])
    if adsl["USUBJID"].duplicated().any():
        dup = sorted(adsl.loc[adsl["USUBJID"].duplicated(), "USUBJID"].astype(str).unique())
        raise InputError(f"ADSL has more than one record for {len(dup)} subject(s), "
                         f"e.g. {', '.join(dup[:3])}", hint="ADSL holds one record per subject")
    used = None
    if flag is not None and flag in adsl.columns:
        used = flag
    else:
        used = next((f for f in fallback if f in adsl.columns), None)
        if flag is not None and used is not None:
            notes.append(f"ADSL has no {flag}; the {what} population is {used} = 'Y'.")
        elif flag is not None:
            notes.append(f"ADSL has none of {', '.join(dict.fromkeys([flag, *fallback]))}; "
                         f"the {what} population is every ADSL subject.")
    keep = adsl[used].eq("Y") if used else pd.Series(True, index=adsl.index)
    sub = adsl[keep]
    arm = arm_var if arm_var and arm_var in adsl.columns else None
    group = (sub[arm].astype("str").fillna("Missing arm") if arm
             else pd.Series(ALL, index=sub.index, dtype="str"))
    subjid = sub["SUBJID"] if "SUBJID" in sub.columns else sub["USUBJID"]
    out = pd.DataFrame({"USUBJID": sub["USUBJID"].astype("str").to_numpy(),
                        "SUBJID": subjid.astype("str").to_numpy(),
                        "GROUP": group.to_numpy()})
    return out.sort_values(["GROUP", "USUBJID"], kind="stable").reset_index(drop=True), used


def _attach(df: pd.DataFrame, subjects: pd.DataFrame | None, name: str,
            arm_var: str | None, notes: list[str], population: str = "analysis"
            ) -> pd.DataFrame:
    """Restrict a dataset to the population and add GROUP/SUBJID (inner join on USUBJID).

    Without ADSL every subject of the dataset counts, grouped by its own ``arm_var``."""
    if subjects is None:
        out = df.copy()
        out["GROUP"] = (df[arm_var].astype("str").fillna("Missing arm")
                        if arm_var and arm_var in df.columns else ALL)
        if "SUBJID" not in out.columns:
            out["SUBJID"] = out["USUBJID"]
        return out
    base = df.drop(columns=[c for c in ("GROUP", "SUBJID") if c in df.columns])
    out = base.merge(subjects, on="USUBJID", how="inner", validate="many_to_one")
    dropped = base["USUBJID"].nunique() - out["USUBJID"].nunique()
    if dropped:
        notes.append(f"{name}: {dropped} subject(s) outside the {population} population are "
                     "not counted.")
    return out


def _with_total(groups: tuple[str, ...]) -> tuple[str, ...]:
    return groups + (TOTAL,) if len(groups) > 1 else groups


def _expand_total(df: pd.DataFrame, groups: tuple[str, ...]) -> pd.DataFrame:
    """Append a copy of every row as GROUP = Total when there is more than one group."""
    if len(groups) <= 1:
        return df
    tot = df.copy()
    tot["GROUP"] = TOTAL
    return pd.concat([df, tot], ignore_index=True)


# ---------------------------------------------------------------------------------------
# sections
# ---------------------------------------------------------------------------------------

def _response(adrs: pd.DataFrame | None, subjects: pd.DataFrame | None, groups: tuple[str, ...],
              arm_var: str | None, conf_level: float, notes: list[str]
              ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, pd.DataFrame]]:
    bor_cols = ["PARAMCD", "GROUP", "AVALC", "n", "N", "pct"]
    rate_cols = ["ENDPOINT", "CONFIRMED", "GROUP", "n", "N", "rate", "lower", "upper"]
    per_subject: dict[str, pd.DataFrame] = {}
    if adrs is None:
        return pd.DataFrame(columns=bor_cols), pd.DataFrame(columns=rate_cols), per_subject
    _require(adrs, "ADRS", ["USUBJID", "PARAMCD", "AVALC"])
    bors, rates = [], []
    for paramcd, confirmed in (("BOR", False), ("CBOR", True)):
        rec = _param_records(adrs, "ADRS", paramcd)
        if rec.empty:
            continue
        rec = rec[["USUBJID", "AVALC"] + ([arm_var] if subjects is None and arm_var
                                          and arm_var in rec.columns else [])]
        if subjects is not None:
            subj = subjects.merge(rec[["USUBJID", "AVALC"]], on="USUBJID", how="left")
            outside = (~rec["USUBJID"].isin(subjects["USUBJID"])).sum()
            if outside and paramcd == "BOR":
                notes.append(f"ADRS: {outside} subject(s) with a BOR record are outside the "
                             "efficacy population and not counted.")
        else:
            subj = _attach(rec, None, "ADRS", arm_var, notes)
        subj["AVALC"] = subj["AVALC"].astype("str").fillna("MISSING")
        per_subject[paramcd] = subj[["USUBJID", "AVALC"]]
        subj = _expand_total(subj[["GROUP", "AVALC"]], groups)
        N = subj.groupby("GROUP").size()
        cats = _order_responses(list(SHELL_CATEGORIES) + subj["AVALC"].unique().tolist())
        counts = (subj.groupby(["GROUP", "AVALC"]).size()
                  .reindex(pd.MultiIndex.from_product([list(_with_total(groups)), cats],
                                                      names=["GROUP", "AVALC"]), fill_value=0)
                  .rename("n").reset_index())
        counts["N"] = counts["GROUP"].map(N).fillna(0).astype("int64")
        counts["n"] = counts["n"].astype("int64")
        counts["pct"] = np.where(counts["N"] > 0, 100.0 * counts["n"] / counts["N"].clip(lower=1),
                                 np.nan)
        counts.insert(0, "PARAMCD", paramcd)
        bors.append(counts)
        for endpoint, cat in (("ORR", ORR_CATEGORIES), ("DCR", DCR_CATEGORIES)):
            hit = subj.assign(x=subj["AVALC"].isin(cat)).groupby("GROUP")["x"].sum()
            g = list(_with_total(groups))
            n = hit.reindex(g, fill_value=0).to_numpy(dtype="int64")
            NN = N.reindex(g, fill_value=0).to_numpy(dtype="int64")
            lo, hi = clopper_pearson(n, NN, conf_level)
            with np.errstate(invalid="ignore", divide="ignore"):
                est = np.where(NN > 0, n / np.maximum(NN, 1), np.nan)
            rates.append(pd.DataFrame({"ENDPOINT": endpoint, "CONFIRMED": confirmed, "GROUP": g,
                                       "n": n, "N": NN, "rate": est, "lower": lo, "upper": hi}))
    bor = (pd.concat(bors, ignore_index=True) if bors else pd.DataFrame(columns=bor_cols))
    rate = (pd.concat(rates, ignore_index=True) if rates else pd.DataFrame(columns=rate_cols))
    if not rate.empty:
        rate = rate.sort_values(["ENDPOINT", "CONFIRMED"], ascending=[False, True],
                                kind="stable").reset_index(drop=True)
    return bor, rate, per_subject


def _km(adtte: pd.DataFrame | None, subjects: pd.DataFrame | None, groups: tuple[str, ...],
        arm_var: str | None, conf_level: float, at_risk_months: Sequence[float] | None,
        notes: list[str], landmark_months: Sequence[float] = (6.0, 12.0)):
    km_cols = ["PARAMCD", "PARAM", "GROUP", "n", "events", "censored", "median", "lower",
               "upper", "fu_median", "fu_lower", "fu_upper"]
    rows, curves, cens, risk, marks = [], [], [], [], []
    params: dict[str, str] = {}
    if adtte is not None:
        _require(adtte, "ADTTE", ["USUBJID", "PARAMCD", "AVAL", "CNSR"])
        for paramcd in KM_PARAMS:
            rec = _param_records(adtte, "ADTTE", paramcd)
            if rec.empty:
                continue
            rec = rec[_present(rec, ["USUBJID", "PARAM", "AVAL", "CNSR", arm_var])]
            rec = _attach(rec, subjects, f"ADTTE {paramcd}", arm_var, notes, "efficacy")
            bad = rec["AVAL"].isna() | rec["CNSR"].isna() | (rec["AVAL"] < 0)
            if bad.any():
                notes.append(f"ADTTE {paramcd}: {int(bad.sum())} record(s) without a usable "
                             "AVAL/CNSR (missing or negative) are left out of the estimate.")
                rec = rec[~bad]
            label = (rec["PARAM"].dropna().astype(str).iloc[0]
                     if "PARAM" in rec.columns and rec["PARAM"].notna().any() else paramcd)
            params[paramcd] = label
            grid = (np.asarray(at_risk_months, dtype="float64") * DAYS_PER_MONTH
                    if at_risk_months is not None
                    else at_risk_grid(rec["AVAL"].max() if len(rec) else 0.0))
            present = [g for g in (groups if subjects is not None else _groups(rec["GROUP"]))
                       if (rec["GROUP"] == g).any()]
            for g in present:        # a loop over treatment groups, not subjects
                r = rec[rec["GROUP"] == g]
                t = r["AVAL"].to_numpy(dtype="float64")
                e = (r["CNSR"].to_numpy(dtype="float64") == 0).astype("int64")
                fit = kaplan_meier(t, e, conf_level)
                # median follow-up by the reverse Kaplan-Meier method: censoring is the event
                fu = kaplan_meier(t, 1 - e, conf_level)
                rows.append({"PARAMCD": paramcd, "PARAM": label, "GROUP": g, "n": fit.n,
                             "events": fit.events, "censored": fit.n - fit.events,
                             "median": fit.median, "lower": fit.lower, "upper": fit.upper,
                             "fu_median": fu.median, "fu_lower": fu.lower,
                             "fu_upper": fu.upper})
                lm = survival_at(fit.curve, np.asarray(landmark_months, dtype="float64")
                                 * DAYS_PER_MONTH)
                marks.append(lm.assign(PARAMCD=paramcd, GROUP=g,
                                       month=np.asarray(landmark_months, dtype="float64"),
                                       n_at_risk=numbers_at_risk(t, lm["time"])))
                curves.append(fit.curve.assign(PARAMCD=paramcd, GROUP=g))
                cens.append(fit.censored.assign(PARAMCD=paramcd, GROUP=g))
                risk.append(pd.DataFrame({"PARAMCD": paramcd, "GROUP": g, "time": grid,
                                          "n_at_risk": numbers_at_risk(t, grid)}))
    km = pd.DataFrame(rows, columns=km_cols)

    def cat(frames, cols):
        if not frames:
            return pd.DataFrame(columns=cols)
        return pd.concat(frames, ignore_index=True)[cols]

    return (km, cat(curves, ["PARAMCD", "GROUP", "time", "survival", "lower", "upper"]),
            cat(cens, ["PARAMCD", "GROUP", "time", "survival"]),
            cat(risk, ["PARAMCD", "GROUP", "time", "n_at_risk"]), params,
            cat(marks, ["PARAMCD", "GROUP", "month", "time", "survival", "lower", "upper",
                        "n_at_risk"]))


def _dor(adtte: pd.DataFrame | None, subjects, arm_var, per_subject, notes) -> pd.DataFrame:
    cols = ["USUBJID", "SUBJID", "GROUP", "BOR", "CBOR", "STARTDT", "ADT", "AVAL", "CNSR",
            "EVNTDESC"]
    if adtte is None:
        return pd.DataFrame(columns=cols)
    rec = _param_records(adtte, "ADTTE", "RSD")
    if rec.empty:
        return pd.DataFrame(columns=cols)
    rec = _attach(rec, subjects, "ADTTE RSD", arm_var, [])
    out = pd.DataFrame({"USUBJID": rec["USUBJID"].astype("str"),
                        "SUBJID": rec["SUBJID"].astype("str"), "GROUP": rec["GROUP"]})
    for p in ("BOR", "CBOR"):
        if p in per_subject:
            out[p] = out["USUBJID"].map(per_subject[p].set_index("USUBJID")["AVALC"])
        else:
            out[p] = pd.Series(pd.NA, index=out.index, dtype="str")
    for c in ("STARTDT", "ADT"):
        out[c] = rec[c] if c in rec.columns else pd.Series(pd.NaT, index=rec.index,
                                                           dtype="datetime64[s]")
    out["AVAL"] = rec["AVAL"].astype("float64")
    out["CNSR"] = rec["CNSR"].astype("float64")
    out["EVNTDESC"] = (rec["EVNTDESC"].astype("str") if "EVNTDESC" in rec.columns
                       else pd.Series(pd.NA, index=rec.index, dtype="str"))
    return out.sort_values(["GROUP", "USUBJID"], kind="stable").reset_index(drop=True)[cols]


def _waterfall(adtr: pd.DataFrame | None, subjects, arm_var, per_subject, notes):
    cols = ["USUBJID", "SUBJID", "GROUP", "PCHG", "RESPONSE"]
    empty = pd.DataFrame(columns=cols)
    if adtr is None:
        return empty, None, None
    _require(adtr, "ADTR", ["USUBJID", "PARAMCD", "PCHG"])
    source = next((p for p in ("SUMDIAM", "SDIAM") if adtr["PARAMCD"].eq(p).any()), None)
    if source is None:
        notes.append("ADTR has no sum-of-diameters parameter (SUMDIAM or SDIAM): no waterfall.")
        return empty, None, None
    rec = adtr[adtr["PARAMCD"].eq(source)]
    rec = rec[_present(rec, ["USUBJID", "PCHG", "ANL01FL", "ABLFL", arm_var])]
    if "ANL01FL" in rec.columns and rec["ANL01FL"].eq("Y").any():
        rec = rec[rec["ANL01FL"].eq("Y")]
    if "ABLFL" in rec.columns:
        rec = rec[~rec["ABLFL"].eq("Y")]
    rec = rec[rec["PCHG"].notna()]
    rec = _attach(rec, subjects, "ADTR", arm_var, notes, "efficacy")
    best = (rec.groupby("USUBJID", sort=True)
            .agg(PCHG=("PCHG", "min"), SUBJID=("SUBJID", "first"), GROUP=("GROUP", "first"))
            .reset_index())
    basis = "CBOR" if "CBOR" in per_subject else ("BOR" if "BOR" in per_subject else None)
    if basis:
        best["RESPONSE"] = best["USUBJID"].map(
            per_subject[basis].set_index("USUBJID")["AVALC"]).fillna("MISSING").astype("str")
    else:
        best["RESPONSE"] = "MISSING"
    best = best.sort_values(["PCHG", "USUBJID"], ascending=[False, True], kind="stable")
    return best.reset_index(drop=True)[cols], source, basis


def _swimmer(adsl: pd.DataFrame | None, adrs: pd.DataFrame | None, subjects, max_subjects,
             data_cutoff, notes):
    cols = ["USUBJID", "SUBJID", "GROUP", "duration", "ongoing", "followup_end", "death_day"]
    ev_cols = ["USUBJID", "day", "AVALC"]
    if adsl is None or subjects is None or "TRTSDT" not in adsl.columns:
        return pd.DataFrame(columns=cols), pd.DataFrame(columns=ev_cols), None
    sl = subjects.merge(adsl.drop(columns=[c for c in ("SUBJID",) if c in adsl.columns]),
                        on="USUBJID", how="left")
    sl = sl[sl["TRTSDT"].notna()]
    start = sl["TRTSDT"]

    def day(col):
        if col not in sl.columns:
            return pd.Series(np.nan, index=sl.index)
        return (sl[col] - start).dt.days.astype("float64") + 1

    # overall response at each assessment, as study day from first dose
    events = pd.DataFrame(columns=ev_cols)
    if adrs is not None and {"USUBJID", "PARAMCD", "AVALC", "ADT"} <= set(adrs.columns):
        ovr = adrs[adrs["PARAMCD"].eq("OVR")]
        if "ANL01FL" in ovr.columns and ovr["ANL01FL"].eq("Y").any():
            ovr = ovr[ovr["ANL01FL"].eq("Y")]
        ovr = ovr[["USUBJID", "ADT", "AVALC"]].merge(
            sl[["USUBJID", "TRTSDT"]], on="USUBJID", how="inner")
        ovr = ovr[ovr["ADT"].notna()]
        d = (ovr["ADT"] - ovr["TRTSDT"]).dt.days.astype("float64") + 1
        events = pd.DataFrame({"USUBJID": ovr["USUBJID"].astype("str"), "day": d,
                               "AVALC": ovr["AVALC"].astype("str").fillna("MISSING")})
        events = events[events["day"] >= 1]
    last_seen = sl["USUBJID"].map(events.groupby("USUBJID")["day"].max()).astype("float64")

    end = day("TRTEDT")
    dur = end.copy()
    if "TRTDURD" in sl.columns:
        dur = dur.fillna(sl["TRTDURD"].astype("float64"))
    alive = day("LSTALVDT")
    death = day("DTHDT")
    # still on treatment only when ADSL says so (EOTSTT = ONGOING, or no TRTEDT without an
    # EOTSTT) and nothing in ADSL says otherwise: a subject who died, whose treatment or study
    # ended (EOTSTT/EOSSTT COMPLETED or DISCONTINUED) is not ongoing, whatever else is set
    if "EOTSTT" in sl.columns:
        ongoing = sl["EOTSTT"].eq("ONGOING") | (end.isna() & sl["EOTSTT"].isna())
    else:
        ongoing = end.isna()
    ended = death.notna()
    for col in ("EOTSTT", "EOSSTT"):
        if col in sl.columns:
            ended = ended | sl[col].isin(["COMPLETED", "DISCONTINUED"])
    ongoing = ongoing & ~ended
    # an ongoing bar reaches the data cut-off when known, else the last date the subject was
    # seen (known alive or assessed); a finished one stops at TRTEDT, and no bar passes death
    if data_cutoff is not None:
        reach = ((pd.Timestamp(data_cutoff) - start).dt.days.astype("float64") + 1)
    else:
        reach = pd.concat([alive, last_seen], axis=1).max(axis=1)
    dur = dur.where(~ongoing | reach.isna() | (dur >= reach), reach)
    # no end of treatment recorded but the subject died: treatment ended by death at latest
    dur = dur.where(dur.notna() | ongoing, death)
    dur = dur.where(death.isna() | dur.isna() | (dur <= death), death).fillna(1.0)
    follow = pd.concat([alive, death, last_seen], axis=1).max(axis=1)
    follow = follow.where(follow > dur)
    out = pd.DataFrame({"USUBJID": sl["USUBJID"], "SUBJID": sl["SUBJID"], "GROUP": sl["GROUP"],
                        "duration": dur, "ongoing": ongoing.to_numpy(dtype=bool),
                        "followup_end": follow, "death_day": death})
    note = None
    if len(out) > max_subjects:
        assessed = out["USUBJID"].isin(events["USUBJID"])
        note = (f"{len(out)} treated subjects are more than a swimmer plot can show; "
                f"drawn: the {int(assessed.sum())} with at least one overall response "
                "assessment")
        out = out[assessed]
        if len(out) > max_subjects:
            out = out.sort_values(["duration", "USUBJID"], ascending=[False, True],
                                  kind="stable").head(max_subjects)
            note += f", of whom the {max_subjects} longest on treatment"
        note += "."
    out = out.sort_values(["duration", "USUBJID"], ascending=[False, True], kind="stable")
    events = events[events["USUBJID"].isin(out["USUBJID"])]
    events = events.sort_values(["USUBJID", "day", "AVALC"], kind="stable")
    return out.reset_index(drop=True), events.reset_index(drop=True)[ev_cols], note


def _grades(adae: pd.DataFrame) -> tuple[pd.Series, str | None, tuple[str, ...]]:
    """Numeric grade per record and where it came from."""
    if "ATOXGRN" in adae.columns and adae["ATOXGRN"].notna().any():
        return pd.to_numeric(adae["ATOXGRN"], errors="coerce"), "ATOXGRN", ()
    if "ATOXGR" in adae.columns and adae["ATOXGR"].notna().any():
        return pd.to_numeric(adae["ATOXGR"], errors="coerce"), "ATOXGR", ()
    for c in ("ASEVN", "AESEVN"):
        if c in adae.columns and adae[c].notna().any():
            return pd.to_numeric(adae[c], errors="coerce"), c, ("Mild", "Moderate", "Severe")
    for c in ("ASEV", "AESEV"):
        if c in adae.columns and adae[c].notna().any():
            return (adae[c].astype("str").str.upper().map(SEVERITY_GRADES).astype("float64"), c,
                    ("Mild", "Moderate", "Severe"))
    return pd.Series(np.nan, index=adae.index), None, ()


def _teae(adae: pd.DataFrame | None, subjects: pd.DataFrame | None, groups: tuple[str, ...],
          arm_var: str | None, notes: list[str]):
    ov_cols = ["GROUP", "CATEGORY", "n", "N", "pct"]
    if adae is None:
        return pd.DataFrame(columns=ov_cols), pd.DataFrame(), None, ()
    _require(adae, "ADAE", ["USUBJID", "AEDECOD"])
    acn = sorted(c for c in adae.columns if str(c).startswith("AEACN"))
    adae = adae[_present(adae, ["USUBJID", "TRTEMFL", "AESOC", "AEBODSYS", "AEDECOD",
                                "ATOXGRN", "ATOXGR", "ASEVN", "AESEVN", "ASEV", "AESEV",
                                "AESER", "AESDTH", "AEOUT", "AREL", "AEREL", "AEIRAE", *acn,
                                arm_var])]
    if "TRTEMFL" in adae.columns:
        ae = adae[adae["TRTEMFL"].eq("Y")]
    else:
        ae = adae
        notes.append("ADAE has no TRTEMFL: every adverse event is counted as treatment-emergent.")
    grade, source, sev_labels = _grades(ae)
    ae = ae.assign(GRADE=grade)
    soc = ae["AESOC"] if "AESOC" in ae.columns else pd.Series(pd.NA, index=ae.index, dtype="str")
    if "AEBODSYS" in ae.columns:
        soc = soc.fillna(ae["AEBODSYS"])
    ae = ae.assign(AESOC=soc.astype("str").fillna("Not coded"),
                   AEDECOD=ae["AEDECOD"].astype("str").fillna("Not coded"))
    ae = _attach(ae, subjects, "ADAE", arm_var, notes, "safety")
    if subjects is not None:
        N = subjects.groupby("GROUP").size()
    else:
        N = ae.groupby("GROUP")["USUBJID"].nunique()
        notes.append("Without ADSL the TEAE denominators are the subjects in ADAE.")
    base_groups = groups if subjects is not None else (_groups(ae["GROUP"]) or groups)
    g_all = list(_with_total(base_groups))
    ae = _expand_total(ae, base_groups)
    if len(g_all) > 1:
        N = pd.concat([N, pd.Series({TOTAL: int(N.sum())})])
    N = N.reindex(g_all, fill_value=0).astype("int64")

    # overview: subjects with at least one TEAE of each kind (every row whose source
    # variable ADAE has is shown, zero or not)
    no = pd.Series(False, index=ae.index)
    kinds = [("Any TEAE", pd.Series(True, index=ae.index))]
    rel_var = next((c for c in ("AREL", "AEREL") if c in ae.columns), None)
    related = None
    if rel_var:
        rel = ae[rel_var].astype("str").str.upper()
        related = rel.notna() & ~rel.isin(NOT_RELATED)
        kinds.append(("Treatment-related TEAE", related))
    top = "Grade \u2265 3" if not sev_labels else "Severe"
    high = ae["GRADE"] >= 3
    kinds.append((f"{top} TEAE", high))
    if related is not None:
        kinds.append((f"Treatment-related {top[0].lower() + top[1:]} TEAE", related & high))
    if "AESER" in ae.columns:
        kinds.append(("Serious TEAE", ae["AESER"].eq("Y")))
        if related is not None:
            kinds.append(("Treatment-related serious TEAE", related & ae["AESER"].eq("Y")))
    if acn:
        stop = no.copy()
        for c in acn:                  # AEACN and per-drug AEACNxxx: a loop over columns
            stop = stop | ae[c].eq("DRUG WITHDRAWN")
        kinds.append(("TEAE leading to discontinuation of study treatment", stop))
    death_src = [c for c in ("AESDTH", "AEOUT") if c in ae.columns]
    if death_src or (source and not sev_labels):
        fatal = (ae["GRADE"] >= 5) if source and not sev_labels else no.copy()
        if "AESDTH" in ae.columns:
            fatal = fatal | ae["AESDTH"].eq("Y")
        if "AEOUT" in ae.columns:
            fatal = fatal | ae["AEOUT"].eq("FATAL")
        kinds.append(("TEAE leading to death", fatal))
    if "AEIRAE" in ae.columns:
        kinds.append(("Immune-related TEAE", ae["AEIRAE"].eq("Y")))
    ov = []
    for label, mask in kinds:          # a loop over summary rows, not subjects
        n = ae[mask.to_numpy()].groupby("GROUP")["USUBJID"].nunique().reindex(g_all, fill_value=0)
        ov.append(pd.DataFrame({"GROUP": g_all, "CATEGORY": label,
                                "n": n.to_numpy(dtype="int64"), "N": N.to_numpy()}))
    overview = pd.concat(ov, ignore_index=True)
    overview["pct"] = np.where(overview["N"] > 0, 100.0 * overview["n"] / overview["N"].clip(lower=1),
                               np.nan)

    # by SOC / PT, each subject once per row at the maximum grade
    max_grade = 5 if not sev_labels else 3
    labels = (tuple(f"Grade {i}" for i in range(1, max_grade + 1)) if not sev_labels
              else sev_labels)

    def level(keys: list[str], lvl: str) -> pd.DataFrame:
        per = ae.groupby(["GROUP", *keys, "USUBJID"], dropna=False)["GRADE"].max().reset_index()
        per["GCOL"] = np.where(per["GRADE"].isna(), "GMISSING",
                               "G" + per["GRADE"].fillna(0).clip(1, max_grade)
                               .round().astype("int64").astype("str"))
        tab = per.pivot_table(index=["GROUP", *keys], columns="GCOL", values="USUBJID",
                              aggfunc="count", fill_value=0)
        for c in [f"G{i}" for i in range(1, max_grade + 1)] + ["GMISSING"]:
            if c not in tab.columns:
                tab[c] = 0
        tab = tab[[f"G{i}" for i in range(1, max_grade + 1)] + ["GMISSING"]]
        tab.insert(0, "ANY", tab.sum(axis=1))
        tab = tab.reset_index()
        tab.columns.name = None
        tab.insert(1, "LEVEL", lvl)
        for k in ("AESOC", "AEDECOD"):
            if k not in tab.columns:
                tab[k] = pd.Series(pd.NA, index=tab.index, dtype="str")
        return tab

    if ae.empty:
        teae = pd.DataFrame()
    else:
        anyrow = level([], "ANY")
        socs = level(["AESOC"], "SOC")
        pts = level(["AESOC", "AEDECOD"], "PT")
        # order: SOC by subjects overall (Total or the only group) descending, then name;
        # PTs likewise within their SOC
        ref = g_all[-1]
        soc_n = (socs[socs["GROUP"] == ref][["AESOC", "ANY"]]
                 .rename(columns={"ANY": "_soc_n"}))
        pt_n = (pts[pts["GROUP"] == ref][["AESOC", "AEDECOD", "ANY"]]
                .rename(columns={"ANY": "_pt_n"}))
        teae = pd.concat([anyrow, socs, pts], ignore_index=True)
        teae = teae.merge(soc_n, on="AESOC", how="left").merge(
            pt_n, on=["AESOC", "AEDECOD"], how="left")
        teae["_lvl"] = teae["LEVEL"].map({"ANY": 0, "SOC": 1, "PT": 2})
        teae["_pos"] = teae["_lvl"].clip(upper=1)
        teae["_gi"] = teae["GROUP"].map({g: i for i, g in enumerate(g_all)})
        teae = teae.sort_values(["_gi", "_pos", "_soc_n", "AESOC", "_lvl", "_pt_n", "AEDECOD"],
                                ascending=[True, True, False, True, True, False, True],
                                kind="stable", na_position="first")
        teae["N"] = teae["GROUP"].map(N).astype("int64")
        gcols = [f"G{i}" for i in range(1, max_grade + 1)]
        # subjects at grade >= 3 on a row: each subject sits in one column (the worst grade)
        teae["HIGH"] = teae[[c for c in gcols if int(c[1:]) >= 3]].sum(axis=1)
        teae = teae[["GROUP", "LEVEL", "AESOC", "AEDECOD", "N", "ANY", *gcols, "HIGH",
                     "GMISSING"]]
        teae = teae.reset_index(drop=True)
        for c in ["ANY", *gcols, "HIGH", "GMISSING"]:
            teae[c] = teae[c].astype("int64")
    return overview, teae, source, labels


def _km_origin(adtte: pd.DataFrame | None, adsl: pd.DataFrame | None) -> dict[str, str]:
    """What each time-to-event parameter is measured from, read off the data: ADTTE STARTDT
    equal to ADSL TRTSDT ("first dose"), ENRLDT ("enrolment") or RANDDT ("randomisation") for
    every record; duration of response starts at the first response."""
    out: dict[str, str] = {}
    if adtte is None or "STARTDT" not in adtte.columns or "PARAMCD" not in adtte.columns:
        return out
    names = (("TRTSDT", "first dose"), ("ENRLDT", "enrolment"), ("RANDDT", "randomisation"))
    ref = adsl[["USUBJID", *[c for c, _ in names if c in adsl.columns]]] \
        if adsl is not None and "USUBJID" in adsl.columns else None
    for paramcd in KM_PARAMS:                     # a loop over parameters
        rec = adtte[adtte["PARAMCD"].eq(paramcd) & adtte["STARTDT"].notna()]
        if rec.empty:
            continue
        if paramcd == "RSD":
            out[paramcd] = "first response"
            continue
        if ref is None:
            continue
        m = rec[["USUBJID", "STARTDT"]].merge(ref, on="USUBJID", how="left")
        for col, label in names:       # compared where ADSL has the date (not for undosed)
            if col not in m.columns:
                continue
            both = m[m[col].notna()]
            if len(both) and both["STARTDT"].eq(both[col]).all():
                out[paramcd] = label
                break
    return out


@dataclass(frozen=True)
class SimonResult:
    """The primary response endpoint read against its Simon two-stage design."""

    design: "SimonDesign"
    computed: bool                 # n1/r1/n/r found by the search (not given by the protocol)
    criterion: str                 # optimal / minimax
    endpoint: str                  # e.g. ORR
    paramcd: str                   # CBOR (confirmed) or BOR
    order_var: str | None          # ADSL date that orders enrolment (ENRLDT, ...)
    stage1_n: int                  # subjects of the population among the first n1 enrolled
    stage1_responders: int
    final_n: int                   # subjects among the first n enrolled
    final_responders: int
    total: Proportion              # every population subject, exact CI
    target_alpha: float = float("nan")   # what the design was asked for (study.yaml)
    target_power: float = float("nan")


def _simon(spec, per_subject: dict[str, pd.DataFrame], subjects: pd.DataFrame | None,
           adsl: pd.DataFrame | None, conf_level: float, notes: list[str]
           ) -> SimonResult | None:
    """Stage-1 responders among the first n1 subjects by enrolment order, and responders among
    the first n, against r1 and r; the ORR of every population subject with its exact CI."""
    if spec is None or subjects is None:
        return None
    from studybuild.report.simon import operating_characteristics, simon_design

    paramcd = "CBOR" if spec.confirmed else "BOR"
    if paramcd not in per_subject:
        notes.append(f"The Simon two-stage design counts {'confirmed' if spec.confirmed else ''}"
                     f" responders (ADRS {paramcd}), which ADRS lacks: the primary endpoint "
                     "is not read against its design.")
        return None
    computed = spec.n1 is None
    if computed:
        design = simon_design(spec.p0, spec.p1, spec.alpha, spec.power,
                              criterion=spec.criterion)
        if design is None:
            notes.append("No Simon two-stage design of at most 100 subjects meets the "
                         "study's p0, p1, alpha and power.")
            return None
    else:
        design = operating_characteristics(spec.r1, spec.n1, spec.r, spec.n, spec.p0, spec.p1)
    resp = subjects[["USUBJID"]].merge(per_subject[paramcd], on="USUBJID", how="left")
    resp["HIT"] = resp["AVALC"].isin(ORR_CATEGORIES)
    order_var = None
    if adsl is not None:
        order_var = next((c for c in ("ENRLDT", "RANDDT", "TRTSDT") if c in adsl.columns
                          and adsl[c].notna().any()), None)
    if order_var is not None:
        resp = resp.merge(adsl[["USUBJID", order_var]], on="USUBJID", how="left")
        resp = resp.sort_values([order_var, "USUBJID"], kind="stable", na_position="last")
    else:
        resp = resp.sort_values("USUBJID", kind="stable")
        notes.append("ADSL has no enrolment date (ENRLDT, RANDDT or TRTSDT): the Simon "
                     "stages take subjects in USUBJID order.")
    hit = resp["HIT"].to_numpy(dtype=bool)
    n_all = int(hit.size)
    lo, hi = clopper_pearson(int(hit.sum()), n_all, conf_level)
    total = Proportion(int(hit.sum()), n_all, float(hit.mean()) if n_all else float("nan"),
                       float(lo), float(hi))
    return SimonResult(design=design, computed=computed, criterion=spec.criterion,
                       endpoint=spec.endpoint, paramcd=paramcd, order_var=order_var,
                       stage1_n=int(min(design.n1, n_all)),
                       stage1_responders=int(hit[:design.n1].sum()),
                       final_n=int(min(design.n, n_all)),
                       final_responders=int(hit[:design.n].sum()), total=total,
                       target_alpha=float(spec.alpha), target_power=float(spec.power))


def compute_simon(adam: Mapping[str, pd.DataFrame], spec: "SimonTwoStage", *,
                  population: str | None = "FASFL", conf_level: float = 0.95,
                  notes: list[str] | None = None) -> SimonResult | None:
    """The primary response endpoint against its Simon two-stage design, from ADSL and ADRS
    alone (what :func:`compute_endpoints` returns as ``simon``, for a caller that computed the
    other endpoints without the design).

    >>> from studybuild.datasets import read_folder
    >>> from studybuild.study import SimonTwoStage
    >>> spec = SimonTwoStage(p0=0.1, p1=0.3, alpha=0.05, power=0.8, n1=4, r1=0, n=8, r=2)
    >>> res = compute_simon(read_folder("tests/data/report/handmade").frames(), spec)
    >>> res.stage1_responders, res.final_responders, res.total.n, res.total.N
    (2, 2, 2, 10)
    """
    notes = notes if notes is not None else []
    adsl, adrs = _get(adam, "ADSL"), _get(adam, "ADRS")
    fallback = tuple(f for f in POPULATION_FALLBACK if f != population)
    subjects, _ = _population(adsl, population, fallback, None, "efficacy", notes)
    if subjects is None:
        return None
    _, _, per_subject = _response(adrs, subjects, _groups(subjects["GROUP"]) or (ALL,), None,
                                  conf_level, notes)
    return _simon(spec, per_subject, subjects, adsl, conf_level, notes)


def compute_endpoints(adam: Mapping[str, pd.DataFrame], *, population: str | None = "FASFL",
                      safety_population: str | None = "SAFFL", arm_var: str | None = "TRT01P",
                      safety_arm_var: str | None = "TRT01A", conf_level: float = 0.95,
                      at_risk_months: Sequence[float] | None = None,
                      swimmer_max_subjects: int = 100,
                      data_cutoff: dt.date | None = None,
                      landmark_months: Sequence[float] = (6.0, 12.0),
                      simon: "SimonTwoStage | None" = None) -> Endpoints:
    """Compute every endpoint of the reviewer report from ADaM frames (keys ADSL, ADRS,
    ADTTE, ADTR, ADAE; any may be missing, and its numbers are then empty).

    ``population`` is the ADSL flag of the efficacy population (falls back to ITTFL, EFFFL,
    SAFFL when ADSL lacks it; ``None`` = every ADSL subject); ``arm_var`` groups the efficacy
    results (``None``: one group); ``at_risk_months`` overrides the numbers-at-risk times;
    ``data_cutoff`` (the study's) ends the swimmer bars of subjects still on treatment.

    >>> from studybuild.datasets import read_folder
    >>> ep = compute_endpoints(read_folder("tests/data/pharmaverse/adam").frames(),
    ...                        arm_var=None)
    >>> ep.population, ep.rate("ORR", confirmed=False)        # doctest: +ELLIPSIS
    ('SAFFL', Proportion(n=4, N=254, ...))
    """
    notes: list[str] = []
    adsl = _get(adam, "ADSL")
    adrs, adtte = _get(adam, "ADRS"), _get(adam, "ADTTE")
    adtr, adae = _get(adam, "ADTR"), _get(adam, "ADAE")
    available = {n: _get(adam, n) is not None for n in ("ADSL", "ADRS", "ADTTE", "ADTR", "ADAE")}
    if adsl is None:
        notes.append("ADSL is not available: each section counts the subjects of its own "
                     "dataset, without a population flag.")
    fallback = tuple(f for f in POPULATION_FALLBACK if f != population)
    subjects, pop_used = _population(adsl, population, fallback, arm_var, "efficacy", notes)
    s_arm = safety_arm_var if adsl is not None and safety_arm_var in adsl.columns else arm_var
    s_fallback = tuple(f for f in ("SAFFL",) if f != safety_population)
    safety, saf_used = _population(adsl, safety_population, s_fallback, s_arm, "safety", notes)
    if subjects is not None:
        groups = _groups(subjects["GROUP"]) if len(subjects) else (ALL,)
    else:
        groups = (ALL,)
        for df in (adrs, adtte, adae):
            if df is not None and arm_var and arm_var in df.columns:
                groups = _groups(df[arm_var].astype("str").fillna("Missing arm"))
                break
    safety_groups = (_groups(safety["GROUP"]) if safety is not None and len(safety) else groups)

    bor, rates, per_subject = _response(adrs, subjects, groups, arm_var, conf_level, notes)
    km, curves, cens, risk, params, marks = _km(adtte, subjects, groups, arm_var, conf_level,
                                                at_risk_months, notes, landmark_months)
    dor = _dor(adtte, subjects, arm_var, per_subject, notes)
    wf, wf_source, basis = _waterfall(adtr, subjects, arm_var, per_subject, notes)
    sw, sw_events, sw_note = _swimmer(adsl, adrs, subjects, swimmer_max_subjects, data_cutoff,
                                      notes)
    overview, teae, grade_source, grade_labels = _teae(adae, safety, safety_groups, s_arm, notes)
    if grade_source in ("ASEVN", "AESEVN", "ASEV", "AESEV"):
        notes.append(f"ADAE has no CTCAE grade (ATOXGRN/ATOXGR); TEAEs are tabulated by "
                     f"severity ({grade_source}).")
    simon_result = _simon(simon, per_subject, subjects, adsl, conf_level, notes)
    empty_subj = pd.DataFrame(columns=["USUBJID", "SUBJID", "GROUP"])
    return Endpoints(
        population=pop_used, safety_population=saf_used, groups=groups,
        safety_groups=safety_groups, conf_level=conf_level, available=available,
        notes=list(dict.fromkeys(notes)),
        subjects=subjects if subjects is not None else empty_subj,
        bor=bor, rates=rates, km=km, km_curves=curves, km_censored=cens, at_risk=risk,
        dor=dor, waterfall=wf, waterfall_source=wf_source, response_basis=basis,
        swimmer=sw, swimmer_events=sw_events, swimmer_note=sw_note,
        teae_overview=overview, teae=teae, grade_source=grade_source,
        grade_labels=grade_labels, km_params=params, landmarks=marks,
        km_origin=_km_origin(adtte, adsl),
        simon=simon_result)
