"""Time-to-event parameters: sources, admiral's ``derive_param_tte``, and the named censoring
rule sets ``admiral`` and ``fda2018`` (documented with their tables in docs/censoring.md).

:func:`derive_param_tte` follows admiral: per subject the first event over all event sources
(ties: the earlier source in the list), else the last censoring date over all censoring
sources (ties: the later source); STARTDT from ADSL; ADT never before STARTDT.

:class:`CensoringRules` adds what the FDA guidance (Clinical Trial Endpoints for the Approval of
Cancer Drugs and Biologics, 2018) asks for PFS-type endpoints on top of that:

- no baseline tumour assessment -> censored at the origin;
- new anticancer therapy before an event -> censored at the last adequate assessment on or
  before the start of that therapy;
- an event after two or more missed assessments -> censored at the last adequate assessment
  before the gap;
- no event and no adequate post-baseline assessment -> censored at the origin.

An *adequate* assessment is an overall response other than NE under ``fda2018``; under
``admiral`` the last assessment of any kind (LSTA) is used, as admiralonco's template does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from adam._frame import (SUBJECT_KEYS, Filter, as_dates, concat_rows, day_numbers, first_last,
                         from_day_numbers, lookup_positions, mask_of, need, set_values, str_col,
                         na_str, take)


@dataclass(frozen=True)
class TteSource:
    """A source of event or censoring dates for :func:`derive_param_tte` (admiral's
    ``event_source`` / ``censor_source``). ``set_values_to`` gives EVNTDESC, CNSDTDSC, SRCDOM,
    SRCVAR, SRCSEQ...: constants, or callables on the source records (``lambda d: d.ASEQ``).
    """

    dataset_name: str
    date: str
    filter: Filter = None
    censor: int = 0
    order: tuple[str, ...] = ()
    set_values_to: Mapping[str, Any] = field(default_factory=dict)
    columns: tuple[str, ...] | None = None   # what filter/set_values_to read (None: all)


def event_source(dataset_name: str, date: str, *, filter: Filter = None,
                 set_values_to: Mapping[str, Any] | None = None,
                 order: Sequence[str] = (), columns: Sequence[str] | None = None
                 ) -> TteSource:
    """An event source (CNSR 0). ``columns`` names what ``filter`` and ``set_values_to``
    read, so that only those are copied (faster on wide datasets).

    >>> event_source("adrs", "ADT", filter=lambda d: d.PARAMCD == "PD").censor
    0
    """
    return TteSource(dataset_name, date, filter, 0, tuple(order), dict(set_values_to or {}),
                     None if columns is None else tuple(columns))


def censor_source(dataset_name: str, date: str, *, filter: Filter = None, censor: int = 1,
                  set_values_to: Mapping[str, Any] | None = None,
                  order: Sequence[str] = (), columns: Sequence[str] | None = None
                  ) -> TteSource:
    """A censoring source (CNSR 1 unless given).

    >>> censor_source("adsl", "LSTALVDT").censor
    1
    """
    return TteSource(dataset_name, date, filter, censor, tuple(order),
                     dict(set_values_to or {}), None if columns is None else tuple(columns))


TTE_VARS = ("EVNTDESC", "CNSDTDSC", "SRCDOM", "SRCVAR", "SRCSEQ")


def _candidates(sources: Sequence[TteSource], source_datasets: Mapping[str, pd.DataFrame],
                keys: list[str], mode: str) -> pd.DataFrame:
    parts = []
    for i, src in enumerate(sources, start=1):
        d = source_datasets.get(src.dataset_name)
        if d is None:
            raise ValueError(f"time-to-event source {src.dataset_name!r} not in source_datasets")
        need(d, keys + [src.date], f"time-to-event source {src.dataset_name}")
        if src.columns is not None:
            cols = list(dict.fromkeys(keys + [src.date] + [o.lstrip("-") for o in src.order]
                                      + list(src.columns)))
            d = d[cols]
        sub = d[mask_of(src.filter, d)] if src.filter is not None else d
        dates = as_dates(sub[src.date]).astype("datetime64[D]").astype("datetime64[s]")
        ok = ~np.isnat(dates)
        sub = sub[ok].reset_index(drop=True)
        part = sub[keys].assign(ADT=dates[ok], CNSR=float(src.censor), _nr=float(i))
        for o in src.order:
            part[f"_o_{o.lstrip('-')}"] = sub[o.lstrip("-")].to_numpy()
        vals = {}
        for k, v in src.set_values_to.items():
            vals[k] = v(sub) if callable(v) else v
        part = set_values(part, vals)
        if len(part):
            ordr = ["ADT"] + [("-" if o.startswith("-") else "") + f"_o_{o.lstrip('-')}"
                              for o in src.order]
            part = part.iloc[first_last(part, keys, ordr, mode)]
        part = part.drop(columns=[c for c in part.columns if c.startswith("_o_")])
        parts.append(part.reset_index(drop=True))
    out = concat_rows(parts)
    if len(out):
        out = out.iloc[first_last(out, keys, ["ADT", "_nr"], mode)].reset_index(drop=True)
    return out


def derive_param_tte(dataset: pd.DataFrame | None = None, *, dataset_adsl: pd.DataFrame,
                     source_datasets: Mapping[str, pd.DataFrame], start_date: str = "TRTSDT",
                     event_conditions: Sequence[TteSource],
                     censor_conditions: Sequence[TteSource],
                     set_values_to: Mapping[str, Any] | None = None,
                     subject_keys: Sequence[str] = SUBJECT_KEYS) -> pd.DataFrame:
    """Append one time-to-event record per subject of ``dataset_adsl`` that has an event or a
    censoring date: ADT, CNSR, STARTDT, the sources' EVNTDESC/CNSDTDSC/SRC* and
    ``set_values_to``. AVAL is left to :func:`adam.derive.derive_vars_duration`.

    >>> adsl = pd.DataFrame({"USUBJID": ["1", "2"], "RANDDT": pd.to_datetime(["2021-01-01"] * 2),
    ...     "DTHDT": pd.to_datetime(["2021-03-01", None]),
    ...     "LSTALVDT": pd.to_datetime(["2021-02-20", "2021-04-01"])})
    >>> death = event_source("adsl", "DTHDT", set_values_to={"EVNTDESC": "Death"})
    >>> alive = censor_source("adsl", "LSTALVDT", set_values_to={"EVNTDESC": "Alive"})
    >>> os_ = derive_param_tte(dataset_adsl=adsl, source_datasets={"adsl": adsl},
    ...     start_date="RANDDT", event_conditions=[death], censor_conditions=[alive],
    ...     subject_keys=["USUBJID"], set_values_to={"PARAMCD": "OS"})
    >>> os_[["USUBJID", "CNSR", "EVNTDESC"]].values.tolist()
    [['1', 0.0, 'Death'], ['2', 1.0, 'Alive']]
    """
    keys = list(subject_keys)
    need(dataset_adsl, keys + [start_date], "derive_param_tte (dataset_adsl)")
    ev = _candidates(event_conditions, source_datasets, keys, "first")
    ce = _candidates(censor_conditions, source_datasets, keys, "last")
    if len(ev) and len(ce):
        has_event = lookup_positions(ce, ev, keys) >= 0
        ce = ce[~has_event]
    res = concat_rows([ev, ce]).drop(columns=["_nr"], errors="ignore")
    for v in TTE_VARS:
        if v not in res.columns:
            res[v] = na_str(len(res)) if v != "SRCSEQ" else np.full(len(res), np.nan)
    adsl = dataset_adsl[keys + [start_date]].drop_duplicates(subset=keys)
    pos = lookup_positions(res, adsl, keys)
    res = res[pos >= 0].reset_index(drop=True)
    pos = pos[pos >= 0]
    start = as_dates(take(adsl[start_date], pos))
    adt = as_dates(res["ADT"])
    later = ~np.isnat(start) & ~np.isnat(adt) & (adt < start)
    adt = np.where(later, start, adt)
    res = res.assign(STARTDT=pd.Series(start), ADT=pd.Series(adt.astype("datetime64[s]")))
    res["SRCSEQ"] = pd.to_numeric(res["SRCSEQ"], errors="coerce").astype("float64")
    # keep the subjects in ADSL order
    order = lookup_positions(res, dataset_adsl[keys].drop_duplicates(), keys)
    res = res.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)
    res = set_values(res, set_values_to)
    if dataset is None:
        return res
    return concat_rows([dataset, res])


class CensoringRules(BaseModel):
    """A named set of censoring rules for PFS-type endpoints (PFS, duration of response, time
    to response). See docs/censoring.md for the tables.

    >>> CensoringRules.fda2018().missed_assessments
    2
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = "admiral"
    adequate_excludes_ne: bool = Field(False, description="an NE assessment is not adequate")
    censor_no_baseline: bool = Field(False, description="no baseline tumour assessment -> "
                                                        "censored at the origin")
    censor_new_therapy: bool = Field(False, description="new anticancer therapy before the "
                                                        "event -> censored at the last "
                                                        "adequate assessment before it")
    missed_assessments: int | None = Field(None, ge=1, description="an event after this many "
                                           "missed assessments is censored")
    interval_days: int = Field(42, ge=1, description="planned days between assessments")
    window_days: int = Field(7, ge=0, description="allowed window around each assessment")

    @classmethod
    def admiral(cls) -> "CensoringRules":
        """admiralonco's template: PD/death, else the last assessment, else the origin."""
        return cls(name="admiral")

    @classmethod
    def fda2018(cls, *, interval_days: int = 42, window_days: int = 7) -> "CensoringRules":
        """FDA guidance (2018) table of PFS censoring."""
        return cls(name="fda2018", adequate_excludes_ne=True, censor_no_baseline=True,
                   censor_new_therapy=True, missed_assessments=2,
                   interval_days=interval_days, window_days=window_days)

    @property
    def missed_gap_days(self) -> float:
        """An event more than this many days after the last adequate assessment (or the
        origin) comes after ``missed_assessments`` missed assessments."""
        if self.missed_assessments is None:
            return np.inf
        return self.missed_assessments * self.interval_days + self.window_days

    @classmethod
    def named(cls, name: str, **kw: Any) -> "CensoringRules":
        if name == "admiral":
            return cls.admiral()
        if name == "fda2018":
            return cls.fda2018(**kw)
        raise ValueError(f"unknown censoring rule set {name!r} (known: admiral, fda2018)")


ORIGIN_WORDS = {"RANDDT": "Randomization", "TRTSDT": "First Dose", "ENRLDT": "Enrollment",
                "RFICDT": "Informed Consent"}


def origin_label(var: str) -> str:
    return ORIGIN_WORDS.get(var, var)


def apply_censoring_rules(tte: pd.DataFrame, *, rules: CensoringRules,
                          assessments: pd.DataFrame, subjects: pd.DataFrame,
                          origin_var: str, subject_keys: Sequence[str] = SUBJECT_KEYS,
                          censor_origin_when_no_assessment: bool = True) -> pd.DataFrame:
    """Apply the ``fda2018``-type rules to time-to-event records made by
    :func:`derive_param_tte` (PD/death events; censoring at the last assessment/origin).

    ``assessments``: the post-origin overall responses that count (subject keys, ADT, AVALC,
    ASEQ). ``subjects``: one row per subject with ``BASEASFL`` (baseline tumour assessment
    done, "Y"/NA) and optionally ``NACTDT`` (start of new anticancer therapy).

    >>> tte = pd.DataFrame({"USUBJID": ["1"], "STARTDT": pd.to_datetime(["2021-01-01"]),
    ...     "ADT": pd.to_datetime(["2021-06-01"]), "CNSR": [0.0], "EVNTDESC": ["Death"],
    ...     "CNSDTDSC": [None], "SRCDOM": ["ADRS"], "SRCVAR": ["ADT"], "SRCSEQ": [9.0]})
    >>> asm = pd.DataFrame({"USUBJID": ["1"], "ADT": pd.to_datetime(["2021-02-12"]),
    ...                     "AVALC": ["SD"], "ASEQ": [3.0]})
    >>> subj = pd.DataFrame({"USUBJID": ["1"], "BASEASFL": ["Y"]})
    >>> out = apply_censoring_rules(tte, rules=CensoringRules.fda2018(), assessments=asm,
    ...     subjects=subj, origin_var="RANDDT", subject_keys=["USUBJID"])
    >>> out[["ADT", "CNSR"]].astype(str).values.tolist()   # 109 days > 2 x 42 + 7
    [['2021-02-12', '1.0']]
    """
    keys = list(subject_keys)
    if rules.name == "admiral" and not (rules.adequate_excludes_ne or rules.censor_no_baseline
                                        or rules.censor_new_therapy or
                                        rules.missed_assessments):
        return tte
    out = tte.copy()
    n = len(out)
    if n == 0:
        return out
    start = day_numbers(out["STARTDT"])
    adt = day_numbers(out["ADT"])
    event = out["CNSR"].to_numpy(dtype="float64") == 0
    a = assessments
    if rules.adequate_excludes_ne:
        a = a[a["AVALC"].ne("NE").to_numpy() & a["AVALC"].notna().to_numpy()]
    a = a.reset_index(drop=True)
    # each TTE record's candidate assessments
    pos = lookup_positions(a, out.reset_index(drop=True)[keys], keys)
    a = a[pos >= 0].reset_index(drop=True)
    owner = pos[pos >= 0]
    a_t = day_numbers(a["ADT"])
    a_seq = a["ASEQ"].to_numpy(dtype="float64") if "ASEQ" in a.columns else np.full(len(a), np.nan)

    def last_before(bound: np.ndarray, inclusive: bool) -> tuple[np.ndarray, np.ndarray]:
        """Per TTE record: date and ASEQ of the last adequate assessment on/after STARTDT and
        before (or on) ``bound``."""
        b = bound[owner]
        ok = (a_t >= start[owner]) & ((a_t <= b) if inclusive else (a_t < b))
        ok &= ~np.isnan(a_t)
        d = np.full(n, np.nan)
        s = np.full(n, np.nan)
        if ok.any():
            frame = pd.DataFrame({"o": owner[ok], "t": a_t[ok], "s": a_seq[ok]})
            frame = frame.sort_values(["o", "t"], kind="stable").drop_duplicates("o", keep="last")
            d[frame["o"].to_numpy()] = frame["t"].to_numpy()
            s[frame["o"].to_numpy()] = frame["s"].to_numpy()
        return d, s

    subj_pos = lookup_positions(out.reset_index(drop=True)[keys], subjects, keys)
    have = subj_pos >= 0
    safe = np.where(have, subj_pos, 0)
    bl = subjects["BASEASFL"].eq("Y").to_numpy()[safe] if "BASEASFL" in subjects.columns and \
        len(subjects) else np.ones(n, bool)
    bl = np.where(have, bl, True)
    nact = day_numbers(subjects["NACTDT"])[safe] if "NACTDT" in subjects.columns and \
        len(subjects) else np.full(n, np.nan)
    nact = np.where(have, nact, np.nan)

    new_adt = adt.copy()
    cnsr = out["CNSR"].to_numpy(dtype="float64").copy()
    desc = out["EVNTDESC"].to_numpy(dtype=object).copy()
    cdesc = out["CNSDTDSC"].to_numpy(dtype=object).copy()
    srcdom = out["SRCDOM"].to_numpy(dtype=object).copy()
    srcvar = out["SRCVAR"].to_numpy(dtype=object).copy()
    srcseq = out["SRCSEQ"].to_numpy(dtype="float64").copy()
    decided = np.zeros(n, dtype=bool)
    origin = origin_label(origin_var)

    def censor_at(m: np.ndarray, date: np.ndarray, seq: np.ndarray, why: str) -> None:
        use_origin = m & np.isnan(date)
        use_asm = m & ~np.isnan(date)
        new_adt[use_asm] = date[use_asm]
        srcdom[use_asm], srcvar[use_asm] = "ADRS", "ADT"
        srcseq[use_asm] = seq[use_asm]
        new_adt[use_origin] = start[use_origin]
        srcdom[use_origin], srcvar[use_origin] = "ADSL", origin_var
        srcseq[use_origin] = np.nan
        cnsr[m] = 1.0
        desc[m] = why
        cdesc[use_asm] = "Last Adequate Tumor Assessment"
        cdesc[use_origin] = origin

    # 1. no baseline tumour assessment
    if rules.censor_no_baseline:
        m = ~bl & ~decided
        censor_at(m, np.full(n, np.nan), np.full(n, np.nan), "No Baseline Tumor Assessment")
        decided |= m
    # 2. new anticancer therapy before the event (or with no event)
    if rules.censor_new_therapy:
        m = ~decided & ~np.isnan(nact) & (~event | (nact < adt))
        d, s = last_before(nact, inclusive=True)
        censor_at(m, d, s, "New Anticancer Therapy")
        decided |= m
    # 3. event after missed assessments
    if rules.missed_assessments:
        d, s = last_before(adt, inclusive=False)
        ref = np.where(np.isnan(d), start, d)
        m = ~decided & event & ((adt - ref) > rules.missed_gap_days)
        censor_at(m, d, s, f"Event After {rules.missed_assessments} or More Missed Assessments")
        decided |= m
    # 4. no event: last adequate assessment, or the origin without one
    m = ~decided & ~event
    inf = np.full(n, np.inf)
    d, s = last_before(inf, inclusive=True)
    if censor_origin_when_no_assessment:
        censor_at(m & np.isnan(d), d, s, "No Adequate Post-baseline Tumor Assessment")
    mm = m & ~np.isnan(d)
    censor_at(mm, d, s, "Last Adequate Tumor Assessment")
    out["ADT"] = from_day_numbers(new_adt)
    out["CNSR"] = cnsr
    out["EVNTDESC"] = str_col(desc, out.index)
    out["CNSDTDSC"] = str_col(cdesc, out.index)
    out["SRCDOM"] = str_col(srcdom, out.index)
    out["SRCVAR"] = str_col(srcvar, out.index)
    out["SRCSEQ"] = srcseq
    return out


__all__ = ["CensoringRules", "TTE_VARS", "TteSource", "apply_censoring_rules", "censor_source",
           "derive_param_tte", "event_source", "origin_label"]
