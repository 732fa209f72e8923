"""Run generated expectation suites with great-expectations 1.x and turn results into findings.

great-expectations is imported here only (it costs seconds and hundreds of MB), through an
ephemeral context with one pandas data source; progress bars are off. The frames a suite
names (``records``, ``values``, ``required``, ``types``; see :mod:`validation.suites`) are
built here from the dataset, vectorised, and each is validated with
``result_format="COMPLETE"`` so failing rows come back as ``unexpected_index_list``. Frames
carry the dataset's 0-based row in a ``row`` column (the dataset itself has a 0..n-1 index),
so the finding's record number is row + 1 in file order. Results are matched to the suite
through ``meta["sb_id"]`` (GX returns them in its own order).

SB0012 (at most 200 bytes) and SB0013 (ASCII) are one expectation,
``^[\\x00-\\x7F]{0,200}$`` (for ASCII text, characters are bytes); each failing value is then
measured in UTF-8 bytes and tested for ASCII to report the rule(s) it breaks.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from validation.iso8601 import as_text

_STATE: dict[str, Any] = {}

Emit = Callable[..., None]


def _batch_definition():
    if "bd" in _STATE:
        return _STATE["bd"]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False,
                                                     metric_calculations=False)
    ds = ctx.data_sources.add_pandas("studybuild")
    asset = ds.add_dataframe_asset("dataset")
    _STATE["bd"] = asset.add_batch_definition_whole_dataframe("whole")
    _STATE["gx"] = gx
    return _STATE["bd"]


def _suite_object(suite: Mapping[str, Any]):
    gx = _STATE["gx"]
    from great_expectations.expectations.expectation_configuration import \
        ExpectationConfiguration

    exps = [ExpectationConfiguration(type=e["type"], kwargs=dict(e["kwargs"]),
                                     meta=dict(e["meta"])).to_domain_obj()
            for e in suite["expectations"]]
    return gx.ExpectationSuite(name=suite["name"], expectations=exps)


# --------------------------------------------------------------------------------------------
# frames
# --------------------------------------------------------------------------------------------

def _stack(df: pd.DataFrame, cols: list[str], *, keep_missing: bool) -> pd.DataFrame:
    """Columns stacked long: row (0-based), variable, value (text)."""
    parts_v, parts_r, parts_n = [], [], []
    for c in cols:
        if c not in df.columns:
            continue
        t = as_text(df[c])
        if not keep_missing:
            t = t[t.notna()]
        parts_v.append(t.reset_index(drop=True))
        parts_r.append(t.index.to_numpy())
        parts_n.append(np.full(len(t), c, dtype=object))
    if not parts_v:
        return pd.DataFrame({"row": np.array([], dtype="int64"),
                             "variable": pd.Series([], dtype="str"),
                             "value": pd.Series([], dtype="str")})
    return pd.DataFrame({"row": np.concatenate(parts_r).astype("int64"),
                         "variable": pd.Series(np.concatenate(parts_n)).astype("str"),
                         "value": pd.concat(parts_v, ignore_index=True).astype("str")})


def values_frame(df: pd.DataFrame, plan: Mapping) -> pd.DataFrame:
    """Every non-missing character value, long, with the derived check columns."""
    long = _stack(df, list(plan["columns"]), keep_missing=False)
    var = long["variable"]
    val = long["value"]
    empty = pd.Series(pd.NA, index=long.index, dtype="str")
    for col in ("dtc", "dur", "country"):
        names = set(plan.get(col) or ())
        long[col] = val.where(var.isin(names), empty) if names else empty
    item = var + "=" + val
    for col in ("ct_error", "ct_warning"):
        names = set((plan.get(col) or {}).keys())
        long[col] = item.where(var.isin(names), empty) if names else empty
    return long


def types_frame(df: pd.DataFrame, plan: Mapping) -> pd.DataFrame:
    rows = []
    for var, expected in plan["variables"].items():
        if var not in df.columns:
            continue
        rows.append((var, expected, column_kind(df[var])))
    out = pd.DataFrame(rows, columns=["variable", "expected", "actual"])
    out["check"] = (out["expected"] + ":" + out["actual"]).astype("str")
    out["row"] = -1
    return out


def column_kind(s: pd.Series) -> str:
    """num, date, text, empty (all missing) or mixed."""
    if s.isna().all():
        return "empty"
    if pd.api.types.is_bool_dtype(s):
        return "mixed"
    if pd.api.types.is_numeric_dtype(s):
        return "num"
    if pd.api.types.is_datetime64_any_dtype(s):
        return "date"
    if isinstance(s.dtype, pd.StringDtype):
        return "text"
    nn = s.dropna()
    kinds = set(nn.map(type).map(lambda t: t.__name__))
    return "text" if kinds <= {"str"} else "mixed"


# --------------------------------------------------------------------------------------------
# running
# --------------------------------------------------------------------------------------------

def _raised(r) -> bool:
    info = r.exception_info or {}
    if not isinstance(info, dict):
        return False
    if "raised_exception" in info:
        return bool(info.get("raised_exception"))
    return any(isinstance(v, dict) and v.get("raised_exception") for v in info.values())


def run_suite(suite: Mapping[str, Any], frame: pd.DataFrame, emit: Emit,
              keys_of: Callable[[np.ndarray], list[tuple[tuple[str, str], ...]]]) -> None:
    """Validate a dataset against its suite; call ``emit(meta, row=, value=, keys=,
    variable=)`` for every failing record (row is 1-based) or variable (row None)."""
    df = frame.reset_index(drop=True)
    plans = suite["frames"]
    for kind, sub in suite["suites"].items():
        if not sub["expectations"]:
            continue
        if kind == "records":
            data = df
        elif kind == "values":
            data = values_frame(df, plans["values"])
        elif kind == "required":
            data = _stack(df, list(plans["required"]["columns"]), keep_missing=True)
        else:
            data = types_frame(df, plans["types"])
        if len(data) == 0 and kind != "records":
            continue
        _validate(kind, sub, data, df, plans, emit, keys_of)


def _validate(kind: str, sub: Mapping, data: pd.DataFrame, df: pd.DataFrame, plans: Mapping,
              emit: Emit, keys_of) -> None:
    bd = _batch_definition()
    by_id = {e["meta"]["sb_id"]: e for e in sub["expectations"]}
    batch = bd.get_batch(batch_parameters={"dataframe": data})
    result = batch.validate(_suite_object(sub), result_format="COMPLETE")
    for r in result.results:
        exp = by_id.get((r.expectation_config.meta or {}).get("sb_id"))
        if exp is None or r.success:
            continue
        meta = exp["meta"]
        if _raised(r):
            emit(dict(meta, message=meta["message"].replace("{variable}", "a variable")),
                 row=None, value=None, keys=(), variable=meta.get("variable", ""),
                 note="could not be evaluated by great-expectations", severity="notice")
            continue
        res = r.result or {}
        etype = exp["type"]
        if etype == "expect_table_columns_to_match_set":
            missing = ((res.get("details") or {}).get("mismatched") or {}).get("missing") or []
            for v in sorted(missing):
                emit(dict(meta, message=meta["message"].format(variable=v)), row=None,
                     value=None, keys=(), variable=v)
            continue
        idx = np.asarray(res.get("unexpected_index_list") or [], dtype="int64")
        if len(idx) == 0:
            continue
        if kind == "types":
            for i in idx:
                var = data["variable"].iloc[i]
                emit(dict(meta, message=meta["message"].format(variable=var) +
                          f" (expected {data['expected'].iloc[i]}, found "
                          f"{data['actual'].iloc[i]}: dtype {df[var].dtype})"),
                     row=None, value=_example(df[var]), keys=(), variable=var)
            continue
        if kind == "records":
            _records_findings(exp, idx, df, emit, keys_of)
            continue
        rows = data["row"].to_numpy()[idx]
        variables = data["variable"].to_numpy()[idx]
        vals = data["value"].to_numpy()[idx]
        keys = keys_of(rows)
        if meta.get("also") == "SB0013":
            _transport_limits(meta, rows, variables, vals, keys, emit)
            continue
        col = exp["kwargs"].get("column")
        cls = (plans["values"].get(col) or {}) if col in ("ct_error", "ct_warning") else {}
        for r_, v_, x_, k_ in zip(rows.tolist(), variables.tolist(), vals.tolist(), keys):
            label = (cls.get(v_) or {}).get("codelist", "")
            msg = meta["message"].format(variable=v_, codelist=label)
            emit(dict(meta, message=msg, codelist=label), row=r_ + 1,
                 value=None if pd.isna(x_) else x_, keys=k_, variable=v_)


def _records_findings(exp: Mapping, idx: np.ndarray, df: pd.DataFrame, emit: Emit,
                      keys_of) -> None:
    meta = exp["meta"]
    keys = keys_of(idx)
    if exp["type"] == "expect_compound_columns_to_be_unique":
        cols = exp["kwargs"]["column_list"]
        texts = [as_text(df[c]).iloc[idx].tolist() for c in cols]
        for j, (i, k) in enumerate(zip(idx.tolist(), keys)):
            val = "; ".join(f"{c}={'' if pd.isna(t[j]) else t[j]}" for c, t in zip(cols, texts))
            emit(meta, row=i + 1, value=val, keys=k, variable=meta.get("variable", ""))
        return
    col = exp["kwargs"]["column"]
    t = as_text(df[col]).iloc[idx].tolist()
    for j, (i, k) in enumerate(zip(idx.tolist(), keys)):
        emit(meta, row=i + 1, value=None if pd.isna(t[j]) else t[j], keys=k, variable=col)


def _transport_limits(meta: Mapping, rows, variables, vals, keys, emit: Emit) -> None:
    """Split the values that failed ``^[ASCII]{0,200}$`` into SB0012 (more than 200 UTF-8
    bytes) and SB0013 (not ASCII); a value can be both."""
    for r_, v_, x_, k_ in zip(rows.tolist(), variables.tolist(), vals.tolist(), keys):
        if x_ is None or pd.isna(x_):
            continue
        nbytes = len(x_.encode("utf-8"))
        if nbytes > 200:
            emit(dict(meta, rule="SB0012", message=f"{v_} value is {nbytes} bytes, more "
                      "than 200 (SAS transport v5)"), row=r_ + 1, value=x_, keys=k_,
                 variable=v_)
        if not x_.isascii():
            bad = "".join(sorted({ch for ch in x_ if not ch.isascii()})[:10])
            emit(dict(meta, rule="SB0013", message=f"{v_} value has non-ASCII characters "
                      f"{bad!r} (SAS transport v5 needs ASCII)"), row=r_ + 1, value=x_,
                 keys=k_, variable=v_)


def _example(s: pd.Series) -> str:
    nn = s.dropna()
    return "" if nn.empty else str(nn.iloc[0])
