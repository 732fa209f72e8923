"""ISO 8601 ``--DTC`` text to ADaM dates and datetimes, with admiral's imputation rules.

:class:`DateImputation` is the typed rule (admiral's ``highest_imputation``,
``date_imputation``, ``time_imputation``, ``min_dates``, ``max_dates``); the functions are the
vector versions (``convert_dtc_to_dt``, ``convert_dtc_to_dtm``) and the frame versions
(``derive_vars_dt``, ``derive_vars_dtm``, ``derive_vars_dtm_to_dt``).

Rules, as admiral:

- ``highest`` is the highest component that may be imputed: ``"n"`` none, ``"D"`` day, ``"M"``
  month (and day), ``"Y"`` year (and month and day; then the date comes from ``min_dates`` for
  ``first`` or ``max_dates`` for ``last``). For datetimes ``"h"``/``"m"``/``"s"`` allow only the
  time to be imputed.
- ``date``: ``first`` (01, January), ``mid`` (15th; 30 June when the month is missing),
  ``last`` (last day of the month; 31 December).
- ``time``: ``first`` (00:00:00) or ``last`` (23:59:59) for missing hour/minute/second.
- ``min_dates``/``max_dates``: columns of the frame. An imputed date is moved up to a min date /
  down to a max date when that date lies within the range the partial date allows, so the
  collected parts never change. Typical: AE start never before first dose, AE end never after
  death or the data cut-off.
- Flags: ``*DTF`` is ``Y``/``M``/``D`` for the highest date part imputed, ``*TMF`` is
  ``H``/``M``/``S`` for the highest time part imputed; NA when nothing was imputed.

Dates that cannot be parsed (``2021-02-30``, ``21/03/2021``) become missing; builders report
them as findings.
"""

from __future__ import annotations

import re
from typing import Literal, Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, field_validator

from adam._frame import NAT, as_dates, need, str_col

_ISO = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2})(?::(\d{2})"
                  r"(?::(\d{2})(?:[.,]\d+)?)?)?)?)?)?"
                  r"(?:Z|[+-]\d{2}(?::?\d{2})?)?$")
_DATE_LEVELS = {"n": 0, "s": 1, "m": 2, "h": 3, "D": 4, "M": 5, "Y": 6}


class DateImputation(BaseModel):
    """How to turn a partial ``--DTC`` into a date (admiral's imputation arguments).

    >>> DateImputation(highest="M", date="first", min_dates=("TRTSDT",))
    DateImputation(highest='M', date='first', time='first', min_dates=('TRTSDT',), max_dates=())
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    highest: Literal["n", "s", "m", "h", "D", "M", "Y"] = "n"
    date: Literal["first", "mid", "last"] = "first"
    time: Literal["first", "last"] = "first"
    min_dates: tuple[str, ...] = ()
    max_dates: tuple[str, ...] = ()

    @field_validator("min_dates", "max_dates", mode="before")
    @classmethod
    def _tuple(cls, v):  # a single column name is accepted
        return (v,) if isinstance(v, str) else v


class _Parts:
    """Components of parsed DTC values as float arrays (NaN where absent)."""

    __slots__ = ("y", "mo", "d", "h", "mi", "s", "valid", "present")

    def __init__(self, n: int):
        self.y, self.mo, self.d, self.h, self.mi, self.s = (np.full(n, np.nan) for _ in range(6))
        self.valid = np.zeros(n, dtype=bool)
        self.present = np.zeros(n, dtype=bool)


def _parse_unique(values: pd.Series) -> _Parts:
    p = _Parts(len(values))
    if len(values) == 0:
        return p
    txt = values.astype("str").str.strip()
    p.present = txt.notna().to_numpy() & (txt.fillna("").str.len() > 0).to_numpy()
    ext = txt.str.extract(_ISO)
    for i, name in enumerate(("y", "mo", "d", "h", "mi", "s")):
        setattr(p, name, np.array(pd.to_numeric(ext[i], errors="coerce"), dtype="float64"))
    ok = ~np.isnan(p.y)
    # calendar validity of the parts that are there
    ok &= np.isnan(p.mo) | ((p.mo >= 1) & (p.mo <= 12))
    with np.errstate(invalid="ignore"):
        dim = _days_in_month(p.y, p.mo)
        ok &= np.isnan(p.d) | ((p.d >= 1) & (p.d <= dim))
        ok &= np.isnan(p.h) | ((p.h >= 0) & (p.h <= 23))
        ok &= np.isnan(p.mi) | ((p.mi >= 0) & (p.mi <= 59))
        ok &= np.isnan(p.s) | ((p.s >= 0) & (p.s <= 59))
    p.valid = ok
    for name in ("y", "mo", "d", "h", "mi", "s"):
        arr = getattr(p, name)
        arr[~ok] = np.nan
    return p


def _days_in_month(y: np.ndarray, mo: np.ndarray) -> np.ndarray:
    out = np.full(len(y), np.nan)
    ok = ~np.isnan(y) & ~np.isnan(mo) & (mo >= 1) & (mo <= 12)
    if ok.any():
        m = ((y[ok] - 1970) * 12 + (mo[ok] - 1)).astype("int64").astype("datetime64[M]")
        first = m.astype("datetime64[D]")
        nxt = (m + 1).astype("datetime64[D]")
        out[ok] = (nxt - first).astype("int64")
    return out


def _ymd_to_days(y: np.ndarray, mo: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Day numbers (float, NaN if any part missing) for complete y/m/d."""
    out = np.full(len(y), np.nan)
    ok = ~(np.isnan(y) | np.isnan(mo) | np.isnan(d))
    if ok.any():
        m = ((y[ok] - 1970) * 12 + (mo[ok] - 1)).astype("int64").astype("datetime64[M]")
        out[ok] = (m.astype("datetime64[D]").astype("int64") + d[ok] - 1)
    return out


def _parse(dtc: pd.Series) -> tuple[_Parts, np.ndarray]:
    """Parse via the unique values (dates repeat a lot); returns parts and row->unique codes."""
    codes, uniques = pd.factorize(dtc, use_na_sentinel=True)
    parts = _parse_unique(pd.Series(uniques, dtype="str") if len(uniques) else
                          pd.Series([], dtype="str"))
    return parts, codes


def _impute(parts: _Parts, imp: DateImputation, *, with_time: bool,
            min_days: Sequence[np.ndarray] = (), max_days: Sequence[np.ndarray] = (),
            codes: np.ndarray | None = None, n: int | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Imputed day numbers and seconds-of-day per row, with date and time flag codes.

    Flag codes: date 0 none, 1 D, 2 M, 3 Y; time 0 none, 1 S, 2 M, 3 H.
    """
    if codes is not None:
        absent = codes < 0
        safe = np.where(absent, 0, codes)

        def take(a: np.ndarray) -> np.ndarray:
            if len(a) == 0:
                return np.full(len(codes), np.nan)
            out = a[safe].astype("float64")
            out[absent] = np.nan
            return out
        y, mo, d = take(parts.y), take(parts.mo), take(parts.d)
        h, mi, s = take(parts.h), take(parts.mi), take(parts.s)
        valid = (parts.valid[safe] if len(parts.valid) else np.zeros(len(codes), bool)) & ~absent
    else:
        y, mo, d, h, mi, s = parts.y, parts.mo, parts.d, parts.h, parts.mi, parts.s
        valid = parts.valid
    n = len(y)
    level = _DATE_LEVELS[imp.highest]
    miss_y, miss_mo, miss_d = np.isnan(y), np.isnan(mo), np.isnan(d)
    dflag = np.zeros(n, dtype=np.int8)
    dflag[~miss_y & ~miss_mo & miss_d] = 1
    dflag[~miss_y & miss_mo] = 2
    dflag[miss_y] = 3
    allowed = dflag <= np.select([level >= 6, level >= 5, level >= 4], [3, 2, 1], 0)
    # fully missing values (no text) are only imputed at level Y
    ok = (valid | (miss_y & (level >= 6))) & allowed
    # range of dates the partial value allows
    lo = np.full(n, np.nan)
    hi = np.full(n, np.nan)
    full = dflag == 0
    lo[full] = hi[full] = _ymd_to_days(y[full], mo[full], d[full])
    r = dflag == 1
    if r.any():
        lo[r] = _ymd_to_days(y[r], mo[r], np.ones(r.sum()))
        hi[r] = lo[r] + _days_in_month(y[r], mo[r]) - 1
    r = dflag == 2
    if r.any():
        ones = np.ones(r.sum())
        lo[r] = _ymd_to_days(y[r], ones, ones)
        hi[r] = _ymd_to_days(y[r], np.full(r.sum(), 12.0), np.full(r.sum(), 31.0))
    r = dflag == 3
    lo[r], hi[r] = -np.inf, np.inf
    # base imputation
    days = np.full(n, np.nan)
    days[full] = lo[full]
    if imp.date == "first":
        days[(dflag == 1) | (dflag == 2)] = lo[(dflag == 1) | (dflag == 2)]
    elif imp.date == "last":
        days[(dflag == 1) | (dflag == 2)] = hi[(dflag == 1) | (dflag == 2)]
    else:  # mid: 15th of the month, 30 June of the year
        r = dflag == 1
        days[r] = lo[r] + 14
        r = dflag == 2
        days[r] = _ymd_to_days(y[r], np.full(r.sum(), 6.0), np.full(r.sum(), 30.0))
    # min/max dates, only where something was imputed and the bound is within the range
    imputed = dflag > 0
    for md in min_days:
        md = np.asarray(md, dtype="float64")
        use = imputed & ~np.isnan(md) & (md >= lo) & (md <= hi)
        use_y = use & (dflag == 3)
        days[use_y] = np.where(np.isnan(days[use_y]), md[use_y], np.fmax(days[use_y], md[use_y]))
        use &= ~np.isnan(days) & (days < md)
        days[use] = md[use]
    for md in max_days:
        md = np.asarray(md, dtype="float64")
        use = imputed & ~np.isnan(md) & (md >= lo) & (md <= hi)
        use_y = use & (dflag == 3) & (imp.date == "last")
        days[use_y] = np.where(np.isnan(days[use_y]), md[use_y], np.fmin(days[use_y], md[use_y]))
        use &= ~np.isnan(days) & (days > md)
        days[use] = md[use]
    days[~ok] = np.nan
    dflag[np.isnan(days)] = 0
    # time of day
    secs = np.zeros(n)
    tflag = np.zeros(n, dtype=np.int8)
    if with_time:
        miss_h, miss_mi, miss_s = np.isnan(h), np.isnan(mi), np.isnan(s)
        tflag[miss_s] = 1
        tflag[miss_mi] = 2
        tflag[miss_h] = 3
        tlevel = min(level, 3)
        t_ok = (tflag <= tlevel) | (dflag > 0)
        if imp.time == "first":
            hh, mm, ss = np.where(miss_h, 0, h), np.where(miss_mi, 0, mi), np.where(miss_s, 0, s)
        else:
            hh = np.where(miss_h, 23, h)
            mm = np.where(miss_mi, 59, mi)
            ss = np.where(miss_s, 59, s)
        # a date moved by min/max dates keeps the time imputation rule
        secs = hh * 3600 + mm * 60 + ss
        days[~t_ok] = np.nan
        dflag[np.isnan(days)] = 0
        tflag[np.isnan(days)] = 0
    return days, secs, dflag, tflag


def _impute_rows(parts: _Parts, codes: np.ndarray, imp: DateImputation, *, with_time: bool,
                 min_days: Sequence[np.ndarray], max_days: Sequence[np.ndarray]):
    """Impute per row; without min/max dates the work is done once per distinct value."""
    if min_days or max_days:
        return _impute(parts, imp, with_time=with_time, codes=codes, min_days=min_days,
                       max_days=max_days)
    days, secs, dflag, tflag = _impute(parts, imp, with_time=with_time)
    miss = codes < 0
    c = np.where(miss, 0, codes)
    if len(days) == 0:
        n = len(codes)
        return (np.full(n, np.nan), np.zeros(n), np.zeros(n, np.int8), np.zeros(n, np.int8))
    days, secs, dflag, tflag = days[c], secs[c], dflag[c], tflag[c]
    if miss.any():
        days[miss] = np.nan
        dflag[miss] = 0
        tflag[miss] = 0
    return days, secs, dflag, tflag


def _bound_days(df: pd.DataFrame | None, cols: Sequence[str]) -> list[np.ndarray]:
    if not cols:
        return []
    if df is None:
        raise ValueError("min_dates/max_dates need the frame")
    need(df, cols, "date imputation")
    out = []
    for c in cols:
        v = as_dates(df[c]).astype("datetime64[D]")
        a = v.astype("int64").astype("float64")
        a[np.isnat(v)] = np.nan
        out.append(a)
    return out


def _to_datetime(days: np.ndarray, secs: np.ndarray | None = None) -> np.ndarray:
    out = np.full(len(days), NAT)
    ok = ~np.isnan(days)
    val = days[ok].astype("int64") * 86400
    if secs is not None:
        val = val + secs[ok].astype("int64")
    out[ok] = val.astype("datetime64[s]")
    return out


_DTF = np.array([None, "D", "M", "Y"], dtype=object)
_TMF = np.array([None, "S", "M", "H"], dtype=object)


def convert_dtc_to_dt(dtc: pd.Series, imputation: DateImputation = DateImputation(), *,
                      frame: pd.DataFrame | None = None) -> pd.Series:
    """ISO 8601 text to ``datetime64[s]`` dates (vector in, vector out).

    >>> convert_dtc_to_dt(pd.Series(["2021-03-04T10:00", "2021-03", None]),
    ...                   DateImputation(highest="D", date="last")).dt.date.tolist()
    [datetime.date(2021, 3, 4), datetime.date(2021, 3, 31), NaT]
    """
    parts, codes = _parse(dtc)
    days, _, _, _ = _impute_rows(parts, codes, imputation, with_time=False,
                            min_days=_bound_days(frame, imputation.min_dates),
                            max_days=_bound_days(frame, imputation.max_dates))
    return pd.Series(_to_datetime(days), index=dtc.index)


def convert_dtc_to_dtm(dtc: pd.Series, imputation: DateImputation = DateImputation(highest="h"),
                       *, frame: pd.DataFrame | None = None) -> pd.Series:
    """ISO 8601 text to ``datetime64[s]`` datetimes (vector in, vector out).

    >>> convert_dtc_to_dtm(pd.Series(["2021-03-04T10:30", "2021-03-05"]),
    ...                    DateImputation(highest="h", time="last")).astype(str).tolist()
    ['2021-03-04 10:30:59', '2021-03-05 23:59:59']
    """
    parts, codes = _parse(dtc)
    days, secs, _, _ = _impute_rows(parts, codes, imputation, with_time=True,
                               min_days=_bound_days(frame, imputation.min_dates),
                               max_days=_bound_days(frame, imputation.max_dates))
    return pd.Series(_to_datetime(days, secs), index=dtc.index)


def dtc_is_invalid(dtc: pd.Series) -> np.ndarray:
    """True where the text is present but not an ISO 8601 date/datetime (for findings)."""
    parts, codes = _parse(dtc)
    bad_u = parts.present & ~parts.valid
    if len(bad_u) == 0:
        return np.zeros(len(dtc), dtype=bool)
    return (codes >= 0) & bad_u[np.maximum(codes, 0)]


def derive_vars_dt(dataset: pd.DataFrame, *, dtc: str, new_vars_prefix: str,
                   imputation: DateImputation = DateImputation(),
                   flag_imputation: Literal["auto", "date", "none"] = "auto") -> pd.DataFrame:
    """Add ``<prefix>DT`` (and ``<prefix>DTF`` when imputing) from an ISO 8601 column.

    >>> ae = pd.DataFrame({"AESTDTC": ["2021-03-04", "2021-03", "2021"]})
    >>> derive_vars_dt(ae, dtc="AESTDTC", new_vars_prefix="AST",
    ...                imputation=DateImputation(highest="M"))[["ASTDT", "ASTDTF"]]
    ... # doctest: +NORMALIZE_WHITESPACE
            ASTDT ASTDTF
    0  2021-03-04    NaN
    1  2021-03-01      D
    2  2021-01-01      M
    """
    need(dataset, [dtc], "derive_vars_dt")
    parts, codes = _parse(dataset[dtc])
    days, _, dflag, _ = _impute_rows(parts, codes, imputation, with_time=False,
                                min_days=_bound_days(dataset, imputation.min_dates),
                                max_days=_bound_days(dataset, imputation.max_dates))
    new = {f"{new_vars_prefix}DT": pd.Series(_to_datetime(days), index=dataset.index)}
    if flag_imputation == "date" or (flag_imputation == "auto" and imputation.highest != "n"):
        new[f"{new_vars_prefix}DTF"] = str_col(_DTF[dflag], dataset.index)
    return dataset.assign(**new)


def derive_vars_dtm(dataset: pd.DataFrame, *, dtc: str, new_vars_prefix: str,
                    imputation: DateImputation = DateImputation(highest="h"),
                    flag_imputation: Literal["auto", "both", "date", "time", "none"] = "auto"
                    ) -> pd.DataFrame:
    """Add ``<prefix>DTM`` plus ``<prefix>DTF``/``<prefix>TMF`` imputation flags.

    ``auto`` adds DTF when date parts may be imputed (highest D/M/Y) and TMF always.

    >>> ex = pd.DataFrame({"EXENDTC": ["2021-03-04", "2021-03-05T08:15"]})
    >>> out = derive_vars_dtm(ex, dtc="EXENDTC", new_vars_prefix="EXEN",
    ...                       imputation=DateImputation(highest="h", time="last"))
    >>> out[["EXENDTM", "EXENTMF"]].astype(str).values.tolist()
    [['2021-03-04 23:59:59', 'H'], ['2021-03-05 08:15:59', 'S']]
    """
    need(dataset, [dtc], "derive_vars_dtm")
    parts, codes = _parse(dataset[dtc])
    days, secs, dflag, tflag = _impute_rows(parts, codes, imputation, with_time=True,
                                       min_days=_bound_days(dataset, imputation.min_dates),
                                       max_days=_bound_days(dataset, imputation.max_dates))
    new = {f"{new_vars_prefix}DTM": pd.Series(_to_datetime(days, secs), index=dataset.index)}
    date_levels = _DATE_LEVELS[imputation.highest] >= _DATE_LEVELS["D"]
    if flag_imputation in ("both", "date") or (flag_imputation == "auto" and date_levels):
        new[f"{new_vars_prefix}DTF"] = str_col(_DTF[dflag], dataset.index)
    if flag_imputation in ("both", "time", "auto"):
        new[f"{new_vars_prefix}TMF"] = str_col(_TMF[tflag], dataset.index)
    return dataset.assign(**new)


def derive_vars_dtm_to_dt(dataset: pd.DataFrame, *, source_vars: Sequence[str]) -> pd.DataFrame:
    """Add ``xxDT`` (date part) for each ``xxDTM`` in ``source_vars``.

    >>> d = pd.DataFrame({"TRTSDTM": pd.to_datetime(["2021-03-04 10:00"]).astype("datetime64[s]")})
    >>> derive_vars_dtm_to_dt(d, source_vars=["TRTSDTM"])["TRTSDT"].astype(str).tolist()
    ['2021-03-04']
    """
    need(dataset, source_vars, "derive_vars_dtm_to_dt")
    new = {}
    for v in source_vars:
        if not v.endswith("DTM"):
            raise ValueError(f"{v} is not a *DTM variable")
        d = as_dates(dataset[v]).astype("datetime64[D]").astype("datetime64[s]")
        new[v[:-1]] = pd.Series(d, index=dataset.index)
    return dataset.assign(**new)
