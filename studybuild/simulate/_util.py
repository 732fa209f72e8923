"""Small vectorised helpers: named random streams, categorical draws, dates as day numbers and
their CRF text (``DD-MON-YYYY``, partial ``UN-MON-YYYY`` / ``UN-UNK-YYYY``)."""

from __future__ import annotations

import datetime as dt
import zlib
from typing import Sequence

import numpy as np
import pandas as pd

EPOCH = dt.date(1970, 1, 1)
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")

# Partial-date kinds (what the CRF shows for an unknown part).
FULL, NO_DAY, NO_DAY_MONTH, NO_DAY_UNK, NO_DAY_MONTH_UNK = 0, 1, 2, 3, 4


class Streams:
    """Independent random generators by name, all derived from one seed.

    Each part of the simulation draws from its own stream, so switching one kind of mess on or
    off (or drawing more numbers in one place) never changes the numbers drawn elsewhere.
    """

    def __init__(self, seed: int):
        self.seed = int(seed)
        self._cache: dict[str, np.random.Generator] = {}

    def __call__(self, name: str) -> np.random.Generator:
        g = self._cache.get(name)
        if g is None:
            g = np.random.default_rng([self.seed & 0xFFFFFFFF, (self.seed >> 32) & 0xFFFFFFFF,
                                       zlib.crc32(name.encode())])
            self._cache[name] = g
        return g


def day(d: dt.date) -> float:
    """A date as a day number (days since 1970-01-01) as float64; NaN is a missing date."""
    return float((d - EPOCH).days)


def pick(rng: np.random.Generator, probs: dict, size: int) -> tuple[np.ndarray, list]:
    """Categorical draw: (index array into keys, keys)."""
    keys = list(probs)
    p = np.array([float(probs[k]) for k in keys])
    p = p / p.sum()
    return rng.choice(len(keys), size=size, p=p), keys


def uniform_int(rng: np.random.Generator, lo, hi, size=None) -> np.ndarray:
    """Integers in [lo, hi] inclusive (lo/hi may be arrays), as float64."""
    lo = np.asarray(lo, dtype=float)
    hi = np.asarray(hi, dtype=float)
    u = rng.random(size if size is not None else np.broadcast(lo, hi).shape)
    return np.floor(lo + u * (hi - lo + 1))


def weibull_median(rng: np.random.Generator, median, shape: float, size: int) -> np.ndarray:
    """Weibull draws with the given median (any unit) and shape."""
    scale = np.asarray(median, dtype=float) / np.log(2.0) ** (1.0 / shape)
    return scale * rng.weibull(shape, size)


def lognormal_median(rng: np.random.Generator, median, sigma: float, size: int) -> np.ndarray:
    return np.asarray(median, dtype=float) * np.exp(sigma * rng.standard_normal(size))


def take(seq: Sequence, idx: np.ndarray) -> np.ndarray:
    """Vectorised ``[seq[i] for i in idx]`` (object array)."""
    arr = np.empty(len(seq), dtype=object)
    arr[:] = list(seq)
    return arr[np.asarray(idx, dtype=np.int64)]


def fmt_dates(days: np.ndarray, kind: np.ndarray | None = None) -> np.ndarray:
    """CRF date text for day numbers (NaN -> None); ``kind`` chooses the partial form per row
    (FULL, NO_DAY ``UN-MAR-2021``, NO_DAY_MONTH ``UN-UNK-2021``, and the ``UNK`` day variants)."""
    days = np.asarray(days, dtype=float)
    out = np.full(days.shape, None, dtype=object)
    ok = ~np.isnan(days)
    if not ok.any():
        return out
    d = days[ok].astype(np.int64)
    uniq, inv = np.unique(d, return_inverse=True)
    tables = np.empty((5, len(uniq)), dtype=object)
    for j, u in enumerate(uniq.tolist()):       # one string per distinct date, not per row
        date = EPOCH + dt.timedelta(days=int(u))
        mon = MONTHS[date.month - 1]
        tables[FULL, j] = f"{date.day:02d}-{mon}-{date.year}"
        tables[NO_DAY, j] = f"UN-{mon}-{date.year}"
        tables[NO_DAY_MONTH, j] = f"UN-UNK-{date.year}"
        tables[NO_DAY_UNK, j] = f"UNK-{mon}-{date.year}"
        tables[NO_DAY_MONTH_UNK, j] = f"UNK-UNK-{date.year}"
    k = np.zeros(len(d), dtype=np.int64) if kind is None else np.asarray(kind)[ok].astype(np.int64)
    out[ok] = tables[k, inv]
    return out


def iso_dates(days: np.ndarray) -> np.ndarray:
    """ISO 8601 text (``2021-03-05``) for day numbers (NaN -> None): used in _truth/."""
    days = np.asarray(days, dtype=float)
    out = np.full(days.shape, None, dtype=object)
    ok = ~np.isnan(days)
    if ok.any():
        out[ok] = np.datetime_as_string(days[ok].astype(np.int64).astype("datetime64[D]"))
    return out


def _by_value(v: np.ndarray, fmt) -> np.ndarray:
    """Format each distinct value once (``fmt`` maps a number to text); NaN -> None."""
    out = np.full(v.shape, None, dtype=object)
    ok = ~np.isnan(v)
    if ok.any():
        uniq, inv = np.unique(v[ok], return_inverse=True)
        out[ok] = np.array([fmt(x) for x in uniq.tolist()], dtype=object)[inv]
    return out


def int_text(values: np.ndarray) -> np.ndarray:
    """Whole numbers as text without a decimal point (NaN -> None)."""
    return _by_value(np.asarray(values, dtype=float), lambda x: str(int(x)))


def dec1_text(values: np.ndarray) -> np.ndarray:
    """One-decimal text (``3.4``), NaN -> None."""
    v = np.rint(np.asarray(values, dtype=float) * 10) / 10
    return _by_value(v, lambda x: f"{x:.1f}")


def group_rank(keys: np.ndarray) -> np.ndarray:
    """0-based position of each row within runs of equal ``keys`` (rows already sorted)."""
    keys = np.asarray(keys)
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    start = np.ones(n, dtype=bool)
    start[1:] = keys[1:] != keys[:-1]
    idx = np.arange(n)
    first = np.maximum.accumulate(np.where(start, idx, 0))
    return idx - first


def group_cummax_prev(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Running maximum of ``values`` over the previous rows of the same key (rows sorted by key);
    -inf for a key's first row."""
    s = pd.Series(values, dtype=float)
    prev = s.groupby(np.asarray(keys), sort=False).shift(1)
    return prev.fillna(-np.inf).groupby(np.asarray(keys), sort=False).cummax().to_numpy()
