"""ISO 8601 shapes and vectorised date helpers shared by the expectation suites and the rule engine.

SDTM dates are text (``--DTC``): complete (``2021-03-15T10:30``), partial (``2021-03``, ``2021``)
or with unknown middle components written as a hyphen (``2021---15``: year and day known, month
not; SDTMIG 3.4 section 4.4.7). Durations (``--DUR``) are ISO 8601 durations (``P1Y2M``,
``PT30M``, ``P2W``).

Date comparisons between two partial dates are made at their *common precision*: ``2021-03``
versus ``2021-03-15`` compares ``2021-03`` with ``2021-03`` (equal), so a partial end date is
never "before" a complete start date in the same month. This is how Pinnacle 21 compares
partial dates; it avoids the false findings that padding missing components would create.

>>> import pandas as pd
>>> precision_prefix(pd.Series(["2021-03-15T10:30", "2021---15", "x"])).tolist()
['2021-03-15T10:30', '2021', nan]
"""

from __future__ import annotations

import operator
import re
import warnings
from typing import Callable

import numpy as np
import pandas as pd

# One date/time as SDTMIG allows it (section 4.4.7): a complete date must be a real calendar
# day (leap years included); components may be replaced by '-' when unknown ("2003---15",
# "--12-15", "2003-12-15T-:15"); a time needs a day component.
_Y = r"\d{4}"
_M = r"(?:0[1-9]|1[0-2])"
_D = r"(?:0[1-9]|[12]\d|3[01])"
_LEAP = r"(?:\d\d(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)"
_FULL = (rf"(?:{_Y}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-"
         rf"(?:0[1-9]|[12]\d|30)|02-(?:0[1-9]|1\d|2[0-8]))|{_LEAP}-02-29)")
_WITH_DAY = rf"(?:{_FULL}|--(?:{_M}|-)-(?:{_D}|-)|{_Y}---(?:{_D}|-)|{_Y}-{_M}--)"
_NO_DAY = rf"(?:{_Y}(?:-{_M})?|--{_M})"
_TIME = (r"(?:[01]\d|2[0-3]|-)(?::(?:[0-5]\d|-)(?::(?:[0-5]\d(?:\.\d+)?|-))?)?"
         r"(?:Z|[+-](?:[01]\d|2[0-3])(?::?[0-5]\d)?)?")
DATETIME = rf"(?:{_WITH_DAY}(?:T{_TIME})?|{_NO_DAY})"
DURATION = (r"-?P(?=\d|T\d)(?:\d+(?:[.,]\d+)?Y)?(?:\d+(?:[.,]\d+)?M)?(?:\d+(?:[.,]\d+)?W)?"
            r"(?:\d+(?:[.,]\d+)?D)?(?:T(?=\d)(?:\d+(?:[.,]\d+)?H)?(?:\d+(?:[.,]\d+)?M)?"
            r"(?:\d+(?:[.,]\d+)?S)?)?")

#: full-string regex for --DTC/--STDTC/--ENDTC values: a date/time, or an interval of two
#: date/times or a date/time and a duration (``2021-03-01/2021-03-05``, ``2021-03-01/P3D``)
DTC_REGEX = rf"^(?:{DATETIME})(?:/(?:{DATETIME}|{DURATION}))?$|^{DURATION}/{DATETIME}$"
#: full-string regex for --DUR values
DUR_REGEX = rf"^{DURATION}$"

_PREFIX = re.compile(r"^(\d{4}(?:-\d{2}(?:-\d{2}(?:T\d{2}(?::\d{2}(?::\d{2})?)?)?)?)?)")
_PREFIX_NAMED = r"^(?P<p>\d{4}(?:-\d{2}(?:-\d{2}(?:T\d{2}(?::\d{2}(?::\d{2})?)?)?)?)?)"
_COMPLETE = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:T\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?)?(?:Z|[+-]\d{2}:?\d{2})?$")

#: length of the prefix kept for each named component
COMPONENT_LENGTH = {"year": 4, "month": 7, "day": 10, "hour": 13, "minute": 16, "second": 19}


#: columns shorter than this are converted directly (factorising would cost more)
DISTINCT_MIN = 4096


def by_distinct(s: pd.Series, fn: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """``fn(s)`` computed on each distinct value of ``s`` once (missing included) and mapped
    back to every record. For a function that looks at one value at a time (or only at the
    set of values, like "every value at midnight") this is exactly ``fn(s)``, at the cost of
    one hash pass plus ``fn`` on the distinct values; dates, codes and visit numbers repeat
    across records, so that is usually far less."""
    if len(s) < DISTINCT_MIN:
        return fn(s)
    codes, uniq = pd.factorize(s, use_na_sentinel=False)
    if len(uniq) * 2 > len(s):
        return fn(s)
    res = fn(pd.Series(uniq, dtype=s.dtype))
    out = res.iloc[codes]
    out.index = s.index
    return out


def _datetime_text(s: pd.Series) -> pd.Series:
    nn = s.dropna()
    fmt = "%Y-%m-%d" if len(nn) == 0 or bool((nn == nn.dt.normalize()).all()) \
        else "%Y-%m-%dT%H:%M:%S"
    return s.dt.strftime(fmt).astype("str")


def as_text(s: pd.Series) -> pd.Series:
    """A column as text (pandas ``str`` dtype) with missing values kept missing: datetime64 as
    ISO 8601 (date only when every value is at midnight), whole numbers without ``.0``, text
    unchanged."""
    if isinstance(s.dtype, pd.StringDtype):
        return s if s.dtype == "str" else s.astype("str")
    if pd.api.types.is_datetime64_any_dtype(s):
        return by_distinct(s, _datetime_text)
    if pd.api.types.is_bool_dtype(s):
        return s.map({True: "true", False: "false"}).astype("str")
    if pd.api.types.is_numeric_dtype(s):
        return by_distinct(s, _number_text)
    return s.astype("str")


def _number_text(s: pd.Series) -> pd.Series:
    f = pd.to_numeric(s, errors="coerce").astype("float64")
    arr = f.to_numpy()
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(arr) & (arr == np.round(arr)) & (np.abs(arr) < 1e15)
    out = f.astype("str")
    if whole.any():
        out = out.where(~whole, pd.Series(np.where(whole, arr, 0).astype("int64"),
                                          index=s.index).astype("str"))
    return out


def regex_mask(t: pd.Series, pattern: str, *, search: bool = False) -> np.ndarray:
    """Boolean array: does each (text) value match ``pattern`` at its start (``re.match``;
    anywhere with ``search``)? Missing values give False. Uses Arrow's RE2 directly (pandas
    re-parses the pattern with Python's parser on every call), with pandas as the fallback
    for patterns RE2 does not support; each distinct value is matched once."""
    t = as_text(t)
    return by_distinct(t, lambda u: pd.Series(_regex_mask(u, pattern, search), index=u.index)
                       ).to_numpy(dtype=bool)


def _regex_mask(t: pd.Series, pattern: str, search: bool) -> np.ndarray:
    try:
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = pa.array(t, type=pa.string(), from_pandas=True)
        res = pc.match_substring_regex(arr, pattern if search else f"^(?:{pattern})")
        return res.fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
    except Exception:  # noqa: BLE001 - RE2 refuses some Python patterns: use pandas
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            m = t.str.contains(pattern, regex=True) if search else t.str.match(pattern)
        return m.fillna(False).to_numpy(dtype=bool)


def _extract_prefix(t: pd.Series) -> pd.Series:
    try:
        import pyarrow as pa
        import pyarrow.compute as pc

        arr = pa.array(t, type=pa.string(), from_pandas=True)
        got = pc.extract_regex(arr, _PREFIX_NAMED)
        vals = pc.if_else(got.is_valid(), got.field("p"), pa.scalar(None, pa.string()))
        return pd.Series(vals.to_pandas(), index=t.index).astype("str")
    except Exception:  # noqa: BLE001
        return t.str.extract(_PREFIX, expand=False)


def precision_prefix(s: pd.Series) -> pd.Series:
    """The known leading part of each ISO 8601 value (up to the first unknown component):
    ``2021-03-15T10:30`` -> itself, ``2021---15`` -> ``2021``; NaN when not a date at all.
    The text before a ``/`` (interval start) is used for intervals."""
    return by_distinct(as_text(s), _precision_prefix)


def _precision_prefix(t: pd.Series) -> pd.Series:
    if t.notna().any():          # (an all-missing column has no .str result to index)
        t = t.str.split("/", n=1).str[0]
    return _extract_prefix(t)


def is_complete_date(s: pd.Series) -> pd.Series:
    """True where the value holds a complete, valid calendar date (with or without time)."""
    return by_distinct(as_text(s), _is_complete_date)


def _is_complete_date(t: pd.Series) -> pd.Series:
    shape = pd.Series(_regex_mask(t, _COMPLETE.pattern, False), index=t.index)
    valid = pd.Series(False, index=t.index)
    if shape.any():
        parsed = pd.to_datetime(t[shape].str.slice(0, 10), format="%Y-%m-%d", errors="coerce")
        valid[shape] = parsed.notna().to_numpy()
    return valid


def date_part(s: pd.Series) -> pd.Series:
    """datetime64 of the date part of complete dates; NaT elsewhere."""
    return by_distinct(as_text(s), _date_part)


def _date_part(t: pd.Series) -> pd.Series:
    ok = _is_complete_date(t)
    out = pd.Series(pd.NaT, index=t.index, dtype="datetime64[s]")
    if ok.any():
        out[ok] = pd.to_datetime(t[ok].str.slice(0, 10), format="%Y-%m-%d").astype(
            "datetime64[s]").to_numpy()
    return out


def is_valid_dtc(s: pd.Series) -> pd.Series:
    """True where a non-missing value has the ISO 8601 shape SDTM allows for --DTC (and, when
    the date part is complete, names a real calendar day). Missing values are True."""
    return by_distinct(as_text(s), _is_valid_dtc)


def _is_valid_dtc(t: pd.Series) -> pd.Series:
    present = t.notna()
    ok = pd.Series(_regex_mask(t, DTC_REGEX, False), index=t.index)
    complete = present & pd.Series(_regex_mask(t, r"\d{4}-\d{2}-\d{2}", False), index=t.index)
    if complete.any():
        real = pd.to_datetime(t[complete].str.slice(0, 10), format="%Y-%m-%d", errors="coerce")
        ok[complete] = ok[complete] & real.notna().to_numpy()
    return ok | ~present


def is_valid_duration(s: pd.Series, *, negative: bool = True) -> pd.Series:
    t = as_text(s)
    ok = pd.Series(regex_mask(t, DUR_REGEX), index=t.index)
    if not negative:
        ok &= ~t.str.startswith("-").fillna(False).astype(bool)
    return ok | t.isna()


_OPS: dict[str, Callable] = {"eq": operator.eq, "ne": operator.ne, "lt": operator.lt,
                             "le": operator.le, "gt": operator.gt, "ge": operator.ge}


def compare_dates(a: pd.Series, b: pd.Series | str, op: str, component: str | None = None
                  ) -> pd.Series:
    """Compare two columns (or a column and one date) of ISO 8601 values with ``op``
    (eq, ne, lt, le, gt, ge). Missing or non-date values compare False. Without ``component``
    (or with ``"auto"``) values are compared at their common precision; with a component
    (year, month, day, hour, minute, second) both are cut to it and rows where either lacks it
    compare False."""
    pa = precision_prefix(a)
    if isinstance(b, pd.Series):
        pb = precision_prefix(b.reindex(a.index))
    else:
        pb = precision_prefix(pd.Series([b] * len(a), index=a.index, dtype=object))
    la = pa.str.len()
    lb = pb.str.len()
    both = pa.notna() & pb.notna()
    out = pd.Series(False, index=a.index)
    if not both.any():
        return out
    fn = _OPS[op]
    if component and component != "auto":
        n = COMPONENT_LENGTH[component]
        sel = both & (la >= n) & (lb >= n)
        if sel.any():
            out[sel] = fn(pa[sel].str.slice(0, n), pb[sel].str.slice(0, n)).to_numpy()
        return out
    common = np.minimum(la.fillna(0), lb.fillna(0)).astype(int)
    for n in sorted(set(common[both].tolist())):
        sel = both & (common == n)
        out[sel] = fn(pa[sel].str.slice(0, n), pb[sel].str.slice(0, n)).to_numpy()
    return out


def study_day(dtc: pd.Series, ref: pd.Series) -> pd.Series:
    """SDTM study day: date - reference + 1 on or after the reference, date - reference before
    it (no day 0); NaN unless both date parts are complete. Works on ISO text or datetime64."""
    d = date_part(dtc)
    r = date_part(ref.reindex(dtc.index))
    diff = (d - r).dt.days.astype("float64")
    return diff.where(diff < 0, diff + 1)
