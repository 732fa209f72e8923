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


def _is_unknown(s: pd.Series) -> pd.Series:
    return s.notna() & s.str.fullmatch(UNKNOWN)


def _month_number(m: pd.Series) -> pd.Series:
    """Month as float (NaN when unknown/missing); -1 for a name that is not a month."""
    num = pd.to_numeric(m.where(m.str.fullmatch(r"\d{1,2}").fillna(False)), errors="coerce")
    named = m.map(MONTHS, na_action="ignore")
    named = pd.to_numeric(named, errors="coerce")
    letters = m.str.fullmatch(r"[A-Z]{3}").fillna(False) & ~_is_unknown(m).fillna(False)
    out = num.fillna(named)
    out = out.mask(letters & named.isna(), -1)
    return out.astype("float64")


def parse_dates(values: pd.Series, formats: tuple[str, ...] | list[str] = ("DD-MON-YYYY",
                                                                           "YYYY-MM-DD"),
                times: pd.Series | None = None) -> tuple[pd.Series, pd.Series]:
    """ISO 8601 text for collected dates (and optional times); returns ``(iso, invalid)``.

    ``invalid`` is a boolean mask of values that were given but could not be read (wrong
    pattern or impossible date); their ISO value is missing. Missing input stays missing
    and is not invalid.

    >>> iso, bad = parse_dates(pd.Series(["05-MAR-2021", "UN-MAR-2021", "30-FEB-2021", None]))
    >>> iso.tolist(), bad.tolist()
    (['2021-03-05', '2021-03', nan, nan], [False, False, True, False])
    """
    for f in formats:
        if f not in FORMATS:
            raise ValueError(f"unknown date format {f!r}; known: {', '.join(FORMATS)}")
    # parse each distinct (date, time) once: collected dates repeat a lot
    if times is None:
        codes, uniques = pd.factorize(values.astype("str"), use_na_sentinel=True)
        u_iso, u_bad = _parse_unique(pd.Series(uniques, dtype="str"), tuple(formats), None)
    else:
        pair = pd.MultiIndex.from_arrays([values.astype("str"), times.astype("str")])
        codes, uniques = pd.factorize(pair, use_na_sentinel=True)
        u_iso, u_bad = _parse_unique(pd.Series(uniques.get_level_values(0), dtype="str"),
                                     tuple(formats),
                                     pd.Series(uniques.get_level_values(1), dtype="str"))
    iso_arr = np.append(u_iso.to_numpy(dtype=object), np.nan)[codes]
    bad_arr = np.append(u_bad.to_numpy(dtype=bool), False)[codes]
    return (pd.Series(iso_arr, index=values.index, dtype="str"),
            pd.Series(bad_arr, index=values.index, dtype=bool))


def _parse_unique(values: pd.Series, formats: tuple[str, ...], times: pd.Series | None
                  ) -> tuple[pd.Series, pd.Series]:
    text = values.astype("str").str.strip().str.upper()
    text = text.where(text.notna() & (text != ""))
    given = text.notna()
    y = pd.Series(np.nan, index=values.index, dtype="float64")
    m = y.copy()
    d = y.copy()
    matched = pd.Series(False, index=values.index)
    m_unknown = pd.Series(False, index=values.index)
    for f in formats:
        todo = given & ~matched
        if not todo.any():
            break
        parts = text[todo].str.extract(rf"^(?:{FORMATS[f]})$")
        ok = parts["y"].notna()
        if not ok.any():
            continue
        parts = parts[ok]
        idx = parts.index
        mm = _month_number(parts["m"]) if "m" in parts else pd.Series(np.nan, index=idx)
        dd_raw = parts["d"] if "d" in parts else pd.Series(pd.NA, index=idx, dtype="str")
        dd = pd.to_numeric(dd_raw.where(dd_raw.str.fullmatch(r"\d{1,2}").fillna(False)),
                           errors="coerce")
        y[idx] = parts["y"].astype("float64")
        m[idx] = mm
        d[idx] = dd
        m_unknown[idx] = parts["m"].isna() | _is_unknown(parts["m"]).fillna(False)
        matched[idx] = True
    # a day without a month is dropped (SDTM partial dates run from the left)
    d = d.where(~m.isna())
    bad_month = (m < 1) | (m > 12)
    mi = m.fillna(0).clip(0, 12).astype(int).to_numpy()
    dim = _DAYS_IN_MONTH[mi].astype("float64")
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    dim = np.where((mi == 2) & ~leap.to_numpy(), 28, dim)
    bad_day = d.notna() & ((d < 1) | (d > dim))
    invalid = given & (~matched | bad_month | bad_day)
    ok = matched & ~invalid
    iso = _num_text(y, 4, "") + _num_text(m, 2, "-") + _num_text(d, 2, "-")
    iso = iso.where(ok)
    if times is not None:
        iso, bad_time = _add_times(iso, times)
        invalid = invalid | (bad_time & ok)
        iso = iso.where(~invalid)
    return iso.astype("str"), invalid.astype(bool)


def _num_text(v: pd.Series, width: int, prefix: str) -> pd.Series:
    """'-03' style text for whole numbers; '' where missing (vectorised)."""
    txt = v.astype("Int64").astype("str").str.zfill(width)
    return (prefix + txt).where(v.notna(), "").astype("str")


def _add_times(iso: pd.Series, times: pd.Series) -> tuple[pd.Series, pd.Series]:
    t = times.astype("str").str.strip().str.upper()
    t = t.where(t.notna() & (t != ""))
    parts = t.str.extract(rf"^{TIME_RE}$")
    h = pd.to_numeric(parts["H"], errors="coerce")
    mi = pd.to_numeric(parts["M"], errors="coerce")
    s = pd.to_numeric(parts["S"], errors="coerce")
    bad = t.notna() & (parts["H"].isna() | (h > 23) | (mi > 59) | (s > 59))
    complete_date = iso.str.len() == 10
    add = _num_text(h, 2, "T") + _num_text(mi.where(h.notna()), 2, ":") + \
        _num_text(s.where(h.notna() & mi.notna()), 2, ":")
    use = complete_date.fillna(False) & ~bad & h.notna()
    out = iso.where(~use, iso.fillna("") + add)
    return out, bad.fillna(False)


def to_datetime(iso: pd.Series) -> pd.Series:
    """datetime64[s] for complete ISO dates (date part of datetimes); NaT for partial/missing."""
    s = iso.astype("str")
    day = s.str.slice(0, 10)
    full = s.str.fullmatch(r"\d{4}-\d{2}-\d{2}(T.*)?").fillna(False)
    out = pd.to_datetime(day.where(full), format="%Y-%m-%d", errors="coerce")
    return out.astype("datetime64[s]")


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
