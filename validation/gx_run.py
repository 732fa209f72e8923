"""Run generated expectation suites with great-expectations 1.x and turn results into findings.

great-expectations is imported here only (it costs seconds and hundreds of MB), through an
ephemeral context with one pandas data source; progress bars are off. Each dataset is
validated with ``result_format="COMPLETE"`` so that failing rows come back as
``unexpected_index_list``; the frame is handed over with a 0..n-1 index, so index + 1 is the
1-based record number in file order. Results are matched to the suite through
``meta["sb_id"]`` (GX returns them in its own order).

Two checks need a little pandas after GX:

- SB0012 (at most 200 bytes) and SB0013 (ASCII) are one expectation,
  ``^[\x00-\x7F]{0,200}$`` (for ASCII text characters are bytes); each failing value is then
  measured in UTF-8 bytes and tested for ASCII to report the rule(s) it breaks.
- A type expectation fails for the whole column; the finding names the column's type and
  the first value that does not fit.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from validation.iso8601 import as_text

_STATE: dict[str, Any] = {}


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


Emit = Callable[..., None]


def run_suite(suite: Mapping[str, Any], frame: pd.DataFrame, emit: Emit,
              keys_of: Callable[[np.ndarray], list[tuple[tuple[str, str], ...]]]) -> None:
    """Validate ``frame`` against ``suite``; call ``emit(meta, row=, value=, keys=, note=)``
    for every failing record (row is 1-based) or column (row None)."""
    if not suite["expectations"]:
        return
    df = frame.reset_index(drop=True)
    # GX 1.x does not recognise pandas' str dtype in type lists: a text column is text, so
    # the Char type expectation on such a column is decided here (and passes).
    exps = [e for e in suite["expectations"]
            if not (e["type"] == "expect_column_values_to_be_in_type_list" and
                    "str" in e["kwargs"]["type_list"] and e["kwargs"]["column"] in df.columns
                    and isinstance(df[e["kwargs"]["column"]].dtype, pd.StringDtype))]
    if not exps:
        return
    suite = dict(suite, expectations=exps)
    bd = _batch_definition()
    by_id = {e["meta"]["sb_id"]: e for e in suite["expectations"]}
    batch = bd.get_batch(batch_parameters={"dataframe": df})
    result = batch.validate(_suite_object(suite), result_format="COMPLETE")
    for r in result.results:
        meta = dict(r.expectation_config.meta or {})
        exp = by_id.get(meta.get("sb_id"))
        if exp is None or r.success:
            continue
        info = r.exception_info or {}
        raised = info.get("raised_exception") if isinstance(info, dict) and \
            "raised_exception" in info else any(
                isinstance(v, dict) and v.get("raised_exception") for v in info.values()) \
            if isinstance(info, dict) else False
        col = exp["kwargs"].get("column")
        if raised:
            emit(exp["meta"], row=None, value=None, keys=(),
                 note="could not be evaluated by great-expectations", severity="notice")
            continue
        etype = exp["type"]
        res = r.result or {}
        if etype == "expect_column_to_exist":
            emit(exp["meta"], row=None, value=None, keys=())
            continue
        if etype == "expect_column_values_to_be_in_type_list":
            emit(exp["meta"], row=None, value=_type_example(df[col]), keys=())
            continue
        idx = np.asarray(res.get("unexpected_index_list") or [], dtype="int64")
        if etype == "expect_compound_columns_to_be_unique":
            cols = exp["kwargs"]["column_list"]
            texts = [as_text(df[c]) for c in cols]
            vals = ["; ".join(f"{c}={'' if pd.isna(t.iloc[i]) else t.iloc[i]}"
                              for c, t in zip(cols, texts)) for i in idx]
        else:
            t = as_text(df[col])
            vals = [None if pd.isna(v) else str(v) for v in t.iloc[idx].tolist()]
        keys = keys_of(idx)
        if exp["meta"].get("also") == "SB0013":
            _transport_limits(exp["meta"], vals, idx, keys, emit)
            continue
        for i, v, k in zip(idx.tolist(), vals, keys):
            emit(exp["meta"], row=i + 1, value=v, keys=k)


def _transport_limits(meta: Mapping, vals: list, idx: np.ndarray, keys: list, emit: Emit
                      ) -> None:
    """Split the values that failed ``^[ASCII]{0,200}$`` into SB0012 (more than 200 UTF-8
    bytes) and SB0013 (not ASCII); a value can be both."""
    col = meta.get("variable", "")
    for i, v, k in zip(idx.tolist(), vals, keys):
        if v is None:
            continue
        nbytes = len(v.encode("utf-8"))
        if nbytes > 200:
            emit(dict(meta, rule="SB0012", message=f"{col} value is {nbytes} bytes, more than "
                      "200 (SAS transport v5)"), row=i + 1, value=v, keys=k)
        if not v.isascii():
            bad = sorted({ch for ch in v if not ch.isascii()})
            emit(dict(meta, rule="SB0013", message=f"{col} value has non-ASCII characters "
                      f"{''.join(bad[:10])!r} (SAS transport v5 needs ASCII)"), row=i + 1,
                 value=v, keys=k)


def _type_example(s: pd.Series) -> str:
    nn = s.dropna()
    first = "" if nn.empty else str(nn.iloc[0])
    return f"column type {s.dtype}" + (f", e.g. {first!r}" if first else "")
