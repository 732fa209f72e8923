"""Small vectorised helpers shared by the derivations (internal).

Conventions (DEVELOPERS.md): character missing is NA in ``str`` columns, ADaM dates are
``datetime64[s]``, numbers float64. Filters are given as ``None`` (all rows), a callable taking
the frame and returning a boolean Series/array, or a boolean array/Series aligned to the frame.
Orders are lists of column names; a leading ``-`` sorts that column descending (``"-ASEVN"``).
Missing values sort last whatever the direction, as in dplyr's ``arrange()``.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Sequence, Union

import numpy as np
import pandas as pd
import pyarrow as pa

from studybuild.errors import InputError

Filter = Union[None, Callable[[pd.DataFrame], Any], pd.Series, np.ndarray]
SUBJECT_KEYS: tuple[str, ...] = ("STUDYID", "USUBJID")
NAT = np.datetime64("NaT", "s")
DAY = np.timedelta64(1, "D")


def mask_of(filter_: Filter, df: pd.DataFrame) -> np.ndarray:
    """Evaluate a filter on ``df``: a numpy bool array (NA counts as False)."""
    if filter_ is None:
        return np.ones(len(df), dtype=bool)
    val = filter_(df) if callable(filter_) else filter_
    if isinstance(val, pd.Series):
        if len(val) != len(df):
            raise ValueError(f"filter gives {len(val)} values for {len(df)} rows")
        return val.fillna(False).to_numpy(dtype=bool) if val.dtype == object or \
            isinstance(val.dtype, pd.BooleanDtype) else val.to_numpy(dtype=bool, na_value=False)
    arr = np.asarray(val)
    if arr.shape == ():
        return np.full(len(df), bool(arr))
    if len(arr) != len(df):
        raise ValueError(f"filter gives {len(arr)} values for {len(df)} rows")
    return arr.astype(bool)


def need(df: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise InputError naming the missing columns (a derivation's required inputs)."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"{what} needs column(s) {', '.join(missing)} which the input lacks",
                         hint="check the SDTM/ADaM input or the study's ADaM options")


def _from_arrow(arr: pa.Array, index: pd.Index | None = None) -> pd.Series:
    return pd.Series(pd.array(arr, dtype="str"), index=index)


def str_col(values: Any, index: pd.Index | None = None) -> pd.Series:
    """A ``str`` column from an array with None/NaN for missing (converted by pyarrow in C,
    much faster than pandas' element-wise path for large object arrays)."""
    if isinstance(values, pd.Series):
        values = values.to_numpy(dtype=object)
    arr = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
    if arr.dtype != object:
        arr = arr.astype(object)
    return _from_arrow(pa.array(arr, type=pa.large_string(), from_pandas=True), index)


def na_str(n: int, index: pd.Index | None = None) -> pd.Series:
    """An all-missing ``str`` column of length ``n``."""
    return _from_arrow(pa.nulls(n, pa.large_string()), index)


def choose_str(codes: np.ndarray, labels: Sequence[str | None],
               index: pd.Index | None = None) -> pd.Series:
    """``labels[code]`` per row (a code of -1 or a None label gives missing)."""
    base = pa.array(list(labels) + [None], type=pa.large_string())
    codes = np.asarray(codes, dtype=np.int64)
    codes = np.where(codes < 0, len(labels), codes)
    return _from_arrow(base.take(pa.array(codes)), index)


def const_str(value: str | None, n: int, index: pd.Index | None = None) -> pd.Series:
    """A ``str`` column holding one value."""
    return choose_str(np.zeros(n, dtype=np.int64), [value], index)


def flag(mask: np.ndarray, index: pd.Index | None = None, *, true: str = "Y",
         false: str | None = None) -> pd.Series:
    """'Y' where ``mask`` else ``false`` (NA by default), as a ``str`` column."""
    return choose_str(np.where(np.asarray(mask, bool), 0, 1), [true, false], index)


def isin_values(s: pd.Series, values: Any) -> np.ndarray:
    """``s.isin(values)`` for long value lists (pandas' str ``isin`` converts every value to
    a Python object; this factorises both once)."""
    vals = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values, dtype=object))
    if len(vals) == 0 or len(s) == 0:
        return np.zeros(len(s), dtype=bool)
    both = pd.concat([s.astype(object) if s.dtype != vals.dtype else s,
                      vals.astype(object) if s.dtype != vals.dtype else vals],
                     ignore_index=True)
    codes, _ = pd.factorize(both, use_na_sentinel=True)
    left, right = codes[:len(s)], codes[len(s):]
    present = np.zeros(codes.max(initial=-1) + 2, dtype=bool)
    present[right[right >= 0]] = True
    return np.where(left >= 0, present[np.maximum(left, 0)], False)


def map_values(s: pd.Series, mapping: Mapping[Any, float]) -> np.ndarray:
    """Float codes for the values of ``s`` (missing where unmapped), via the distinct values."""
    codes, uniq = pd.factorize(s, use_na_sentinel=True)
    vals = np.array([mapping.get(u, np.nan) for u in uniq] + [np.nan], dtype="float64")
    return vals[np.where(codes < 0, len(uniq), codes)]


def date_col(values: Any, index: pd.Index | None = None) -> pd.Series:
    """A ``datetime64[s]`` column."""
    arr = np.asarray(values)
    if arr.dtype.kind != "M":
        arr = pd.to_datetime(pd.Series(arr), errors="coerce").to_numpy()
    return pd.Series(arr.astype("datetime64[s]"), index=index)


def as_dates(s: pd.Series | np.ndarray) -> np.ndarray:
    """Values as numpy ``datetime64[s]`` (dates from parquet objects or text converted)."""
    if isinstance(s, pd.Series):
        if pd.api.types.is_datetime64_any_dtype(s):
            return s.to_numpy().astype("datetime64[s]")
        return pd.to_datetime(s, errors="coerce").to_numpy().astype("datetime64[s]")
    arr = np.asarray(s)
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[s]")
    return pd.to_datetime(pd.Series(arr), errors="coerce").to_numpy().astype("datetime64[s]")


def day_numbers(s: pd.Series | np.ndarray) -> np.ndarray:
    """Dates as float day numbers since 1970-01-01 (NaN for missing); time parts dropped."""
    d = as_dates(s).astype("datetime64[D]")
    out = d.astype("int64").astype("float64")
    out[np.isnat(d)] = np.nan
    return out


def from_day_numbers(days: np.ndarray) -> np.ndarray:
    """Float day numbers back to ``datetime64[s]`` (NaN -> NaT)."""
    days = np.asarray(days, dtype="float64")
    out = np.full(len(days), NAT)
    ok = ~np.isnan(days)
    out[ok] = days[ok].astype("int64").astype("datetime64[D]").astype("datetime64[s]")
    return out


def _sort_key(s: pd.Series, descending: bool) -> np.ndarray:
    """A float key that sorts ``s`` (NA last in both directions)."""
    if pd.api.types.is_datetime64_any_dtype(s):
        v = s.to_numpy().astype("datetime64[s]")
        key = v.astype("int64").astype("float64")
        key[np.isnat(v)] = np.nan
    elif pd.api.types.is_bool_dtype(s):
        key = s.to_numpy().astype("float64")
    elif pd.api.types.is_numeric_dtype(s):
        key = s.to_numpy(dtype="float64", na_value=np.nan)
    else:
        codes, _ = pd.factorize(s, sort=True, use_na_sentinel=True)
        key = codes.astype("float64")
        key[codes < 0] = np.nan
    if descending:
        key = -key
    key = np.where(np.isnan(key), np.inf, key)
    return key


def parse_order(order: Sequence[str] | None) -> list[tuple[str, bool]]:
    out = []
    for o in order or ():
        o = str(o)
        out.append((o[1:], True) if o.startswith("-") else (o, False))
    return out


def group_codes(df: pd.DataFrame, by_vars: Sequence[str]) -> np.ndarray:
    """Integer group id per row for the combination of ``by_vars`` (NA is its own value)."""
    if not by_vars:
        return np.zeros(len(df), dtype=np.int64)
    codes = None
    for c in by_vars:
        k, uniq = pd.factorize(df[c], use_na_sentinel=False)
        k = k.astype(np.int64)
        codes = k if codes is None else codes * (len(uniq) + 1) + k
        if codes.max(initial=0) > 2 ** 53:
            codes, _ = pd.factorize(codes)
            codes = codes.astype(np.int64)
    codes, _ = pd.factorize(codes)
    return codes.astype(np.int64)


def order_positions(df: pd.DataFrame, keys: Sequence[str] | None,
                    groups: np.ndarray | None = None) -> np.ndarray:
    """Row positions sorted by group (if given), then ``keys``; stable (ties keep input order)."""
    cols = parse_order(keys)
    arrays = [np.arange(len(df))]
    for name, desc in reversed(cols):
        arrays.append(_sort_key(df[name], desc))
    if groups is not None:
        arrays.append(groups)
    return np.lexsort(arrays)


def first_last(df: pd.DataFrame, by_vars: Sequence[str], order: Sequence[str] | None,
               mode: str) -> np.ndarray:
    """Positions of the first/last row per by-group under ``order`` (one row per group)."""
    if mode not in ("first", "last"):
        raise ValueError(f"mode must be 'first' or 'last', not {mode!r}")
    if len(df) == 0:
        return np.zeros(0, dtype=np.int64)
    g = group_codes(df, by_vars)
    pos = order_positions(df, order, g)
    gs = g[pos]
    if mode == "first":
        keep = np.r_[True, gs[1:] != gs[:-1]]
    else:
        keep = np.r_[gs[1:] != gs[:-1], True]
    return pos[keep]


def _joint_codes(left: pd.DataFrame, right: pd.DataFrame, by_vars: Sequence[str]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """One int64 key per row of each frame, equal exactly when all ``by_vars`` are equal."""
    nl = len(left)
    lk = np.zeros(nl, dtype=np.int64)
    rk = np.zeros(len(right), dtype=np.int64)
    for c in by_vars:
        a, b = left[c], right[c]
        if a.dtype != b.dtype:
            both = pd.concat([a.astype(object), b.astype(object)], ignore_index=True)
        else:
            both = pd.concat([a, b], ignore_index=True)
        codes, uniq = pd.factorize(both, use_na_sentinel=False)
        codes = codes.astype(np.int64)
        size = len(uniq) + 1
        if (lk.max(initial=0) + 1) * size > 2 ** 62 or (rk.max(initial=0) + 1) * size > 2 ** 62:
            allk, _ = pd.factorize(np.concatenate([lk, rk]))
            lk, rk = allk[:nl].astype(np.int64), allk[nl:].astype(np.int64)
        lk = lk * size + codes[:nl]
        rk = rk * size + codes[nl:]
    return lk, rk


def lookup_positions(left: pd.DataFrame, right: pd.DataFrame, by_vars: Sequence[str]
                     ) -> np.ndarray:
    """For each row of ``left`` the position of the matching row in ``right`` (unique keys
    there), or -1."""
    if len(right) == 0 or len(left) == 0:
        return np.full(len(left), -1, dtype=np.int64)
    lk, rk = _joint_codes(left, right, by_vars)
    return pd.Index(rk).get_indexer(lk).astype(np.int64)


def take(s: pd.Series, pos: np.ndarray, index: pd.Index | None = None) -> pd.Series:
    """``s`` at positions (-1 gives missing), keeping the dtype."""
    pos = np.asarray(pos, dtype=np.int64)
    arr = s.array.take(pos, allow_fill=True) if len(s) else \
        pd.Series([None] * len(pos), dtype=s.dtype).array
    return pd.Series(arr, index=index, name=s.name)


def concat_rows(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Stack frames (union of columns, missing filled with NA), keeping column dtypes where
    every frame agrees; a fresh RangeIndex."""
    frames = [f for f in frames if f is not None]
    if not frames:
        return pd.DataFrame()
    cols: list[str] = []
    for f in frames:
        cols += [c for c in f.columns if c not in cols]
    dtypes: dict[str, Any] = {}
    for c in cols:
        ts = [f[c].dtype for f in frames if c in f.columns and len(f)]
        if ts:
            dtypes[c] = ts[0]
    parts = []
    for f in frames:
        add = {c: _empty(len(f), f.index, _empty_dtype(dtypes.get(c)))
               for c in cols if c not in f.columns}
        g = f.assign(**add) if add else f
        parts.append(g[cols])
    non_empty = [p for p in parts if len(p)] or parts[:1]
    out = pd.concat(non_empty, ignore_index=True)
    for c, t in dtypes.items():
        if out[c].dtype != t:
            try:
                out[c] = out[c].astype(t)
            except (TypeError, ValueError):
                pass
    return out


def concat_sorted(parts: list[pd.DataFrame], keys: Sequence[str],
                  columns: Sequence[str] | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Stack ``parts`` and sort by ``keys``, column by column (text through pyarrow, numbers
    through numpy), releasing each part's column once used: the peak stays near one copy of
    the data instead of three (stack, sort, reindex). ``parts`` is emptied. Returns the frame
    and the 0-based rank of each row within its first key (for sequence numbers)."""
    frames = [p for p in parts if p is not None and len(p)]
    parts.clear()
    cols: list[str] = []
    for p in frames:
        cols += [c for c in p.columns if c not in cols]
    if columns is not None:
        cols = [c for c in cols if c in columns]
    keyframe = concat_rows([p[[k for k in keys if k in p.columns]] for p in frames])
    g = keyframe[keys[0]].to_numpy()
    perm = order_positions(keyframe, list(keys[1:]), group_codes(keyframe, [keys[0]]))
    gs = g[perm]
    n = len(perm)
    starts = np.r_[0, np.flatnonzero(gs[1:] != gs[:-1]) + 1] if n else np.zeros(0, np.int64)
    rank = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n])) if n else np.zeros(0)
    del keyframe
    lengths = [len(p) for p in frames]
    pieces_by_col = {c: [p[c] if c in p.columns else None for p in frames] for c in cols}
    del frames
    pa_perm = pa.array(perm)
    out: dict[str, Any] = {}
    for c in cols:
        pieces = pieces_by_col.pop(c)
        first = next(x for x in pieces if x is not None)
        kind = first.dtype
        if pd.api.types.is_string_dtype(kind) and not kind == object:
            chunks = []
            for x, m in zip(pieces, lengths):
                if x is None:
                    chunks.append(pa.nulls(m, pa.large_string()))
                else:
                    chunks.extend(x.array.__arrow_array__().cast(pa.large_string()).chunks)
            col = pa.chunked_array(chunks, type=pa.large_string()).take(pa_perm)
            out[c] = pd.array(col, dtype="str")
        elif pd.api.types.is_datetime64_any_dtype(kind) or (
                pd.api.types.is_numeric_dtype(kind) and not pd.api.types.is_bool_dtype(kind)):
            dt = pd.api.types.is_datetime64_any_dtype(kind)
            fill = NAT if dt else np.nan
            arrs = [np.full(m, fill) if x is None else
                    (as_dates(x) if dt else
                     pd.to_numeric(x, errors="coerce").to_numpy(dtype="float64",
                                                                na_value=np.nan))
                    for x, m in zip(pieces, lengths)]
            out[c] = np.concatenate(arrs)[perm]
        else:
            ser = [pd.Series([None] * m, dtype=object) if x is None else
                   x.reset_index(drop=True) for x, m in zip(pieces, lengths)]
            out[c] = pd.concat(ser, ignore_index=True).to_numpy()[perm]
        del pieces
    return pd.DataFrame(out, index=pd.RangeIndex(n)), rank


def _empty(n: int, index: pd.Index, dtype: Any) -> pd.Series:
    if dtype == "str":
        return na_str(n, index)
    if dtype == "datetime64[s]":
        return pd.Series(np.full(n, NAT), index=index)
    return pd.Series(np.full(n, np.nan), index=index)


def _empty_dtype(t: Any) -> Any:
    if t is None:
        return "str"
    if pd.api.types.is_datetime64_any_dtype(t):
        return "datetime64[s]"
    if pd.api.types.is_bool_dtype(t) or pd.api.types.is_integer_dtype(t):
        return "float64"
    if pd.api.types.is_numeric_dtype(t):
        return "float64"
    return "str"


def set_values(out: pd.DataFrame, values: Mapping[str, Any] | None) -> pd.DataFrame:
    """Assign ``values``: constants broadcast; callables are called with the frame; Series or
    arrays are taken as they are."""
    if not values:
        return out
    new: dict[str, Any] = {}
    for name, v in values.items():
        if callable(v):
            v = v(out)
        if isinstance(v, pd.Series):
            v = v.set_axis(out.index) if len(v) == len(out) else v
        elif isinstance(v, np.ndarray):
            v = pd.Series(v, index=out.index)
        elif isinstance(v, str):
            v = const_str(v, len(out), out.index)
        elif v is None:
            v = na_str(len(out), out.index)
        elif isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
            v = pd.Series(np.full(len(out), float(v)), index=out.index)
        new[name] = v
    return out.assign(**new)
