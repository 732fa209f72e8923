"""ISO 8601 dates for SDTM: parsing collected dates, study days, comparisons (all vectorised).

Collected dates arrive as text in a few EDC patterns. :func:`parse_dates` turns them into
ISO 8601 text (``--DTC``), keeping partial dates partial and never guessing:

==================  ===================  ============
pattern             example              ISO 8601
==================  ===================  ============
``DD-MON-YYYY``     ``05-MAR-2021``      ``2021-03-05``
                    ``UN-MAR-2021``      ``2021-03``
                    ``UN-UNK-2021``      ``2021``
``YYYY-MM-DD``      ``2021-03-05``       ``2021-03-05``
                    ``2021-03-UN``       ``2021-03``
                    ``2021-03``          ``2021-03``
                    ``2021``             ``2021``
``DD/MM/YYYY``      ``05/03/2021``       ``2021-03-05``
``MM/DD/YYYY``      ``03/05/2021``       ``2021-03-05``
``YYYYMMDD``        ``20210305``         ``2021-03-05``
``DDMONYYYY``       ``05MAR2021``        ``2021-03-05``
==================  ===================  ============

Unknown parts are written ``UN``, ``UNK``, ``UK``, ``NK`` or ``--`` (any case). A day without
a month cannot be said in SDTM's partial form, so ``15-UNK-2021`` becomes ``2021``. A value
that matches no allowed pattern, or names an impossible date (``30-FEB-2021``), is *invalid*:
the result is missing and the caller records a finding.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pandas as pd

MONTHS = {m: i + 1 for i, m in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"))}
UNKNOWN = r"(?:UNK|UN|UK|NK|--|XX|X)"

# named group patterns; y/m/d groups may hold an unknown token
_D = rf"(?P<d>\d{{1,2}}|{UNKNOWN})"
_MNUM = rf"(?P<m>\d{{1,2}}|{UNKNOWN})"
_MON = rf"(?P<m>[A-Z]{{3}}|{UNKNOWN})"
_Y = r"(?P<y>\d{4})"

FORMATS: dict[str, str] = {
    "DD-MON-YYYY": rf"(?:{_D}[- ])?{_MON}[- ]{_Y}",
    "DDMONYYYY": rf"{_D}?{_MON}{_Y}",
    "YYYY-MM-DD": rf"{_Y}(?:-{_MNUM}(?:-{_D})?)?",
    "YYYYMMDD": r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})",
    "DD/MM/YYYY": rf"(?:{_D}/)?{_MNUM}/{_Y}",
    "MM/DD/YYYY": rf"{_MNUM}/(?:{_D}/)?{_Y}",
}
TIME_RE = r"(?P<H>\d{1,2}|UN|UK|NK|--):(?P<M>\d{2}|UN|UK|NK|--)(?::(?P<S>\d{2}))?"
_DAYS_IN_MONTH = np.array([0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


_UNKNOWN_RE = re.compile(rf"^{UNKNOWN}$")
_COMPILED = {name: re.compile(rf"^(?:{rx})$") for name, rx in FORMATS.items()}
_TIME_COMPILED = re.compile(rf"^{TIME_RE}$")


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return int(_DAYS_IN_MONTH[month])


@lru_cache(maxsize=200_000)
def parse_one(text: str | None, formats: tuple[str, ...], time: str | None = None
              ) -> tuple[str | None, bool]:
    """(ISO 8601 text or None, invalid) for one collected date (and optional time).
    Called once per distinct value by :func:`parse_dates`."""
    if text is None:
        return None, False
    t = text.strip().upper()
    if not t:
        return None, False
    for f in formats:
        m = _COMPILED[f].match(t)
        if m is None:
            continue
        g = m.groupdict()
        year = int(g["y"])
        mon_raw, day_raw = g.get("m"), g.get("d")
        month = None
        if mon_raw is not None and not _UNKNOWN_RE.match(mon_raw):
            month = MONTHS.get(mon_raw) if mon_raw.isalpha() else int(mon_raw)
            if month is None or not 1 <= month <= 12:
                return None, True
        day = None
        if day_raw is not None and not _UNKNOWN_RE.match(day_raw) and month is not None:
            day = int(day_raw)          # a day without a month is dropped
            if not 1 <= day <= _days_in_month(year, month):
                return None, True
        iso = f"{year:04d}" + (f"-{month:02d}" if month else "") + (f"-{day:02d}" if day else "")
        if time is not None and time.strip():
            tm = _TIME_COMPILED.match(time.strip().upper())
            if tm is None:
                return None, True
            hh, mm, ss = tm.group("H"), tm.group("M"), tm.group("S")
            if not hh.isdigit():
                return iso, False
            if int(hh) > 23 or (mm.isdigit() and int(mm) > 59) or (ss and int(ss) > 59):
                return None, True
            if day is not None:
                iso += f"T{int(hh):02d}" + (f":{int(mm):02d}" if mm.isdigit() else "") + \
                    (f":{int(ss):02d}" if ss and mm.isdigit() else "")
        return iso, False
    return None, True


def parse_dates(values: pd.Series, formats: tuple[str, ...] | list[str] = ("DD-MON-YYYY",
                                                                           "YYYY-MM-DD"),
                times: pd.Series | None = None) -> tuple[pd.Series, pd.Series]:
    """ISO 8601 text for collected dates (and optional times); returns ``(iso, invalid)``.

    ``invalid`` is a boolean mask of values that were given but could not be read (wrong
    pattern or impossible date); their ISO value is missing. Missing input stays missing
    and is not invalid. Each distinct value is parsed once (dates repeat a lot).

    >>> iso, bad = parse_dates(pd.Series(["05-MAR-2021", "UN-MAR-2021", "30-FEB-2021", None]))
    >>> iso.tolist(), bad.tolist()
    (['2021-03-05', '2021-03', nan, nan], [False, False, True, False])
    """
    formats = tuple(formats)
    for f in formats:
        if f not in FORMATS:
            raise ValueError(f"unknown date format {f!r}; known: {', '.join(FORMATS)}")
    if times is None:
        codes, uniques = pd.factorize(values.astype("str"), use_na_sentinel=True)
        parsed = [parse_one(u, formats) for u in uniques]
    else:
        pair = pd.MultiIndex.from_arrays([values.astype("str"), times.astype("str")])
        codes, uniques = pd.factorize(pair, use_na_sentinel=True)
        parsed = [parse_one(None if pd.isna(a) else a, formats, None if pd.isna(b) else b)
                  for a, b in uniques]
    iso_u = np.array([p[0] for p in parsed] + [None], dtype=object)
    bad_u = np.array([p[1] for p in parsed] + [False], dtype=bool)
    return (pd.Series(iso_u[codes], index=values.index, dtype="str"),
            pd.Series(bad_u[codes], index=values.index, dtype=bool))


_DAY_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(T.*)?$")
_NAT = np.datetime64("NaT", "s")


@lru_cache(maxsize=200_000)
def _day(value: str) -> np.datetime64:
    m = _DAY_RE.match(value)
    if m is None:
        return _NAT
    try:
        return np.datetime64(f"{m.group(1)}-{m.group(2)}-{m.group(3)}", "s")
    except ValueError:
        return _NAT


def to_datetime(iso: pd.Series) -> pd.Series:
    """datetime64[s] for complete ISO dates (date part of datetimes); NaT for partial/missing."""
    codes, uniques = pd.factorize(iso.astype("str"), use_na_sentinel=True)
    days = np.array([_day(u) for u in uniques] + [_NAT], dtype="datetime64[s]")
    return pd.Series(days[codes], index=iso.index, dtype="datetime64[s]")


def is_complete(iso: pd.Series) -> pd.Series:
    return iso.astype("str").str.fullmatch(r"\d{4}-\d{2}-\d{2}(T.*)?").fillna(False).astype(bool)


def study_day(dtc: pd.Series, ref: pd.Series) -> pd.Series:
    """SDTM study day of ``dtc`` relative to ``ref`` (RFSTDTC): no day 0, so the reference
    date is day 1 and the day before is day -1. Missing unless both dates are complete.

    >>> study_day(pd.Series(["2021-03-10", "2021-03-09", "2021-03"]),
    ...           pd.Series(["2021-03-10"] * 3)).tolist()
    [1.0, -1.0, nan]
    """
    a = to_datetime(dtc)
    b = to_datetime(ref)
    days = (a - b) / pd.Timedelta(days=1)
    return (days + (days >= 0)).astype("float64")


def from_datetime(ts: pd.Series) -> pd.Series:
    """ISO 8601 date text (YYYY-MM-DD) for a datetime64 series; NA for NaT."""
    return ts.dt.strftime("%Y-%m-%d").astype("str").where(ts.notna())


def sort_key(iso: pd.Series) -> pd.Series:
    """A text key that sorts ISO dates chronologically with partial dates first within their
    period and missing last ('2021' < '2021-03' < '2021-03-05')."""
    return iso.astype("str").fillna("~")


def add_days(iso: pd.Series, days: int | float | pd.Series) -> pd.Series:
    """Complete ISO dates shifted by ``days``; partial or missing dates give missing."""
    ts = to_datetime(iso)
    return from_datetime(ts + pd.to_timedelta(days, unit="D"))


_ISO_RE = re.compile(r"^\d{4}(-\d{2}(-\d{2}(T\d{2}(:\d{2}(:\d{2})?)?)?)?)?$")


def valid_iso(value: str) -> bool:
    """True for ISO 8601 date/datetime text as SDTM writes it (complete or partial)."""
    return bool(_ISO_RE.match(value))
