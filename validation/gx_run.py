"""Run the generated expectation suites with great-expectations 1.x; results become findings.

great-expectations is imported here only (it costs seconds and hundreds of MB), through an
ephemeral context with one pandas data source; progress bars are off. The study's datasets
are stacked into the two frames the suites describe (:mod:`validation.suites`): ``records``
(one GX run for the study) and ``values`` (one GX run per ~1.5 million values), each
validated with ``result_format="COMPLETE"`` so failing rows come back as
``unexpected_index_list``. Stacked rows carry ``dataset`` and ``row`` (0-based position in
that dataset), so a finding's record number is row + 1 in file order.

The datasets' expectations on the same frame column are merged into one (codelist regexes
are joined; the others are identical); results are mapped back through the ``dataset`` and
``variable`` columns of the failing rows and the suite's ``frames`` facts.

SB0012 (at most 200 bytes) and SB0013 (ASCII) are one expectation,
``^[\\x00-\\x7F]{0,200}$`` (for ASCII text, characters are bytes); each failing value is then
measured in UTF-8 bytes and tested for ASCII to report the rule(s) it breaks.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from validation.iso8601 import as_text

_STATE: dict[str, Any] = {}
CHUNK_VALUES = 1_500_000

Emit = Callable[..., None]
KeysOf = Callable[[str, np.ndarray], list[tuple[tuple[str, str], ...]]]
VALUE_COLUMNS = ("value", "dtc", "dur", "country", "ct_error", "ct_warning", "vlm_error",
                 "vlm_warning", "req_value")
RECORD_COLUMNS = ("req_present", "exp_present", "type_check", "key_error", "key_warning",
                  "seq_key")


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


def _gx_suite(name: str, expectations: list[dict]):
    gx = _STATE["gx"]
    from great_expectations.expectations.expectation_configuration import \
        ExpectationConfiguration

    exps = [ExpectationConfiguration(type=e["type"], kwargs=dict(e["kwargs"]),
                                     meta=dict(e["meta"])).to_domain_obj()
            for e in expectations]
    return gx.ExpectationSuite(name=name, expectations=exps)


# --------------------------------------------------------------------------------------------
# stacked frames
# --------------------------------------------------------------------------------------------

def _empty_str(n: int) -> pd.Series:
    return pd.Series(pd.NA, index=pd.RangeIndex(n), dtype="str")


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
    kinds = set(s.dropna().map(type).map(lambda t: t.__name__))
    return "text" if kinds <= {"str"} else "mixed"


def _key_text(df: pd.DataFrame, cols: list[str]) -> pd.Series:
    out = None
    for c in cols:
        t = as_text(df[c]).fillna("\x00")
        out = t if out is None else out + "\x1f" + t
    return out


def records_frame(datasets: Mapping[str, pd.DataFrame], plans: Mapping[str, Mapping]
                  ) -> pd.DataFrame:
    parts = []
    for name, df in datasets.items():
        plan = plans[name]["records"]
        cols = set(df.columns)
        for col, names in (("req_present", plan["required"]),
                           ("exp_present", plan["expected"])):
            if names:
                parts.append(pd.DataFrame({
                    "dataset": name, "row": -1, "variable": list(names),
                    col: ["present" if v in cols else "missing" for v in names]}))
        tv = [(v, t) for v, t in plan["types"].items() if v in cols]
        if tv:
            checks = [f"{t}:{column_kind(df[v])}" for v, t in tv]
            if plan.get("adam"):
                checks = [c + ":ADaM" if c == "Num:date" else c for c in checks]
            parts.append(pd.DataFrame({"dataset": name, "row": -1,
                                       "variable": [v for v, _ in tv], "type_check": checks}))
        if plan["keys"] or plan["seq_keys"]:
            rec = pd.DataFrame({"dataset": name, "row": np.arange(len(df)), "variable": ""})
            if plan["keys"]:
                rec[f"key_{plan['keys_severity']}"] = \
                    (name + "\x1e" + _key_text(df, plan["keys"])).to_numpy()
            if plan["seq_keys"]:
                rec["seq_key"] = (name + "\x1e" + _key_text(df, plan["seq_keys"])).to_numpy()
            parts.append(rec)
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        {"dataset": [], "row": [], "variable": []})
    for c in ("dataset", "variable") + RECORD_COLUMNS:
        out[c] = out[c].astype("str") if c in out.columns else _empty_str(len(out))
    out["row"] = out["row"].astype("int64")
    return out


def _dataset_values(name: str, df: pd.DataFrame, plan: Mapping) -> Iterable[pd.DataFrame]:
    """The values-frame rows of one dataset: its character values stacked long, the derived
    check columns set by masks over the stacked frame, then its required cells."""
    cols = [c for c in plan["columns"] if c in df.columns]
    texts, rows, names = [], [], []
    for c in cols:
        t = as_text(df[c])
        keep = t.notna().to_numpy()
        if keep.any():
            texts.append(t[keep].reset_index(drop=True))
            rows.append(np.flatnonzero(keep))
            names.append(np.full(int(keep.sum()), c, dtype=object))
    if texts:
        val = pd.concat(texts, ignore_index=True)
        row = np.concatenate(rows)
        var = pd.Series(np.concatenate(names), dtype="str")
        n = len(val)
        part = pd.DataFrame({"dataset": name, "row": row, "variable": var, "value": val})
        empty = _empty_str(n)
        for col in ("dtc", "dur", "country"):
            names_ = set(plan.get(col) or ())
            part[col] = val.where(var.isin(names_), empty) if names_ else empty
        item = name + "|" + var + "=" + val
        for col in ("ct_error", "ct_warning"):
            names_ = set((plan.get(col) or {}).keys())
            part[col] = item.where(var.isin(names_), empty) if names_ else empty
        for col in ("vlm_error", "vlm_warning"):
            out, ids = empty, empty
            for vid, spec in (plan.get(col) or {}).items():
                cond = np.ones(len(df), dtype=bool)
                for w, v in spec["where"]:
                    cond &= (as_text(df[w]) == str(v)).fillna(False).to_numpy(dtype=bool)
                hit = pd.Series((var == spec["variable"]).to_numpy() & cond[row])
                out = out.where(~hit, name + "|" + vid + "=" + val)
                ids = ids.where(~hit, vid)
            part[col] = out
            part[col + "_id"] = ids
        yield part
    req = [c for c in plan["required"] if c in df.columns]
    if req:
        present = np.concatenate([as_text(df[c]).notna().to_numpy() for c in req])
        yield pd.DataFrame({"dataset": name, "row": np.tile(np.arange(len(df)), len(req)),
                            "variable": np.repeat(np.array(req, dtype=object), len(df)),
                            "req_value": np.where(present, "present", "missing")})


def values_frames(datasets: Mapping[str, pd.DataFrame], plans: Mapping[str, Mapping],
                  chunk: int = CHUNK_VALUES) -> Iterable[pd.DataFrame]:
    """The stacked values frame, in chunks of about ``chunk`` rows."""
    buf: list[pd.DataFrame] = []
    size = 0

    def flush() -> pd.DataFrame:
        out = pd.concat(buf, ignore_index=True)
        for c in ("dataset", "variable") + VALUE_COLUMNS + ("vlm_error_id", "vlm_warning_id"):
            out[c] = out[c].astype("str") if c in out.columns else _empty_str(len(out))
        return out

    for name, df in datasets.items():
        for part in _dataset_values(name, df, plans[name]["values"]):
            buf.append(part)
            size += len(part)
            if size >= chunk:
                yield flush()
                buf, size = [], 0
    if buf:
        yield flush()


# --------------------------------------------------------------------------------------------
# running
# --------------------------------------------------------------------------------------------

def _codelists_regex(suites: Iterable[Mapping], col: str) -> str:
    r"""The study's codelist regex for a ct_/vlm_ column, with each distinct term list once:
    ``^(?:(?:AE\|AESER|EX\|EXFAST)=(?:N|NA|U|Y)|...)$`` (the suites' per-dataset regexes
    give the same answer; this one is shorter when variables share a codelist)."""
    from validation.suites import NUMBER

    groups: dict[tuple, list[str]] = {}
    for suite in suites:
        for key, spec in (suite["frames"]["values"].get(col) or {}).items():
            groups.setdefault((bool(spec.get("numbers")), tuple(spec["terms"])), []).append(
                re.escape(f"{suite['dataset']}|{key}"))
    alts = []
    for (numbers, terms), keys in sorted(groups.items()):
        t = ([NUMBER] if numbers else []) + [re.escape(x) for x in terms]
        alts.append("(?:" + "|".join(sorted(keys)) + ")=(?:" + "|".join(t) + ")")
    return "^(?:" + "|".join(alts) + ")$"


def _merge_expectations(suites: Iterable[Mapping], frame: str) -> list[dict]:
    """One expectation per (type, column) for the study: codelist regexes joined."""
    suites = list(suites)
    groups: dict[tuple, list[dict]] = {}
    for suite in suites:
        for e in suite["expectations"]:
            if e["frame"] == frame:
                groups.setdefault((e["type"], e["kwargs"].get("column")), []).append(e)
    out = []
    for (etype, col), exps in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        kwargs = dict(exps[0]["kwargs"])
        regexes = sorted({e["kwargs"]["regex"] for e in exps if "regex" in e["kwargs"]})
        if col and col.startswith(("ct_", "vlm_")):
            kwargs["regex"] = _codelists_regex(suites, col)
        elif len(regexes) > 1:
            if all(r.startswith("^(?:") and r.endswith(")$") for r in regexes):
                kwargs["regex"] = "^(?:" + "|".join(r[4:-2] for r in regexes) + ")$"
            else:
                kwargs["regex"] = "|".join(f"(?:{r})" for r in regexes)
        meta = dict(exps[0]["meta"], sb_id=f"{frame}.{col}.{etype}",
                    by_dataset={e["meta"]["dataset"]: e["meta"] for e in exps})
        out.append({"type": etype, "kwargs": kwargs, "meta": meta})
    return out


def _raised(r) -> bool:
    info = r.exception_info or {}
    if not isinstance(info, dict):
        return False
    if "raised_exception" in info:
        return bool(info.get("raised_exception"))
    return any(isinstance(v, dict) and v.get("raised_exception") for v in info.values())


def run_study(suites: Mapping[str, Mapping], datasets: Mapping[str, pd.DataFrame], emit: Emit,
              keys_of: KeysOf) -> None:
    """Validate all datasets against their suites; call ``emit(meta, dataset=, row=, value=,
    keys=, variable=)`` for every failing record (row 1-based) or variable (row None)."""
    datasets = {k: v.reset_index(drop=True) for k, v in datasets.items() if k in suites}
    plans = {k: suites[k]["frames"] for k in datasets}
    rec_exps = _merge_expectations((suites[k] for k in datasets), "records")
    if rec_exps:
        _validate("records", rec_exps, records_frame(datasets, plans), datasets, plans, emit,
                  keys_of)
    val_exps = _merge_expectations((suites[k] for k in datasets), "values")
    if val_exps:
        for chunk in values_frames(datasets, plans):
            _validate("values", val_exps, chunk, datasets, plans, emit, keys_of)


def _validate(kind: str, exps: list[dict], data: pd.DataFrame,
              datasets: Mapping[str, pd.DataFrame], plans: Mapping, emit: Emit,
              keys_of: KeysOf) -> None:
    """Run each expectation on a one-column frame holding only the rows it concerns (the
    non-missing cells of its column): GX filters and copies the whole frame per expectation,
    so a narrow frame is what keeps its cost proportional to the data checked."""
    bd = _batch_definition()
    for exp in exps:
        col = exp["kwargs"].get("column")
        if col not in data.columns:
            continue
        mask = data[col].notna().to_numpy()
        if not mask.any():
            continue
        pos = np.flatnonzero(mask)
        frame = pd.DataFrame({col: data[col].to_numpy()[mask]}).astype("str")
        batch = bd.get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(_gx_suite(f"studybuild.{kind}.{col}", [exp]),
                                result_format="COMPLETE")
        for r in result.results:
            if r.success:
                continue
            if _raised(r):
                for ds, meta in exp["meta"]["by_dataset"].items():
                    emit(dict(meta, message=meta["message"].replace("{variable}", col)),
                         dataset=ds, row=None, value=None, keys=(), variable="",
                         note="could not be evaluated by great-expectations",
                         severity="notice")
                continue
            idx = np.asarray((r.result or {}).get("unexpected_index_list") or [],
                             dtype="int64")
            if len(idx) == 0:
                continue
            sub = data.iloc[pos[idx]]
            for ds, grp in sub.groupby("dataset", sort=True):
                meta = exp["meta"]["by_dataset"].get(ds)
                if meta is None:
                    continue
                _emit_group(kind, col, meta, str(ds), grp, datasets[ds], plans[ds], emit,
                            keys_of)


def _emit_group(kind: str, col: str, meta: Mapping, ds: str, grp: pd.DataFrame,
                df: pd.DataFrame, plan: Mapping, emit: Emit, keys_of: KeysOf) -> None:
    variables = grp["variable"].tolist()
    rows = grp["row"].to_numpy()
    if kind == "records" and col in ("req_present", "exp_present", "type_check"):
        for v, check in zip(variables, grp[col].tolist()):
            msg = meta["message"].format(variable=v)
            value = None
            if col == "type_check":
                exp_t, got = check.split(":")[:2]
                msg += f" (expected {exp_t}, found {got}: dtype {df[v].dtype})"
                nn = df[v].dropna()
                value = None if nn.empty else str(nn.iloc[0])
            emit(meta, dataset=ds, row=None, value=value, keys=(), variable=v, message=msg)
        return
    keys = keys_of(ds, rows)
    if kind == "records":                       # key uniqueness
        cols = plan["records"]["seq_keys"] if col == "seq_key" else plan["records"]["keys"]
        texts = [as_text(df[c]).iloc[rows].tolist() for c in cols]
        for j, (r_, k_) in enumerate(zip(rows.tolist(), keys)):
            val = "; ".join(f"{c}={'' if pd.isna(t[j]) else t[j]}" for c, t in zip(cols, texts))
            emit(meta, dataset=ds, row=r_ + 1, value=val, keys=k_,
                 variable=meta.get("variable", ""))
        return
    if col == "req_value":
        for r_, v_, k_ in zip(rows.tolist(), variables, keys):
            emit(meta, dataset=ds, row=r_ + 1, value=None, keys=k_, variable=v_,
                 message=meta["message"].format(variable=v_))
        return
    vals = grp["value"].tolist()
    if meta.get("also") == "SB0013":
        _transport_limits(meta, ds, rows, variables, vals, keys, emit)
        return
    specs = plan["values"].get(col) if col.startswith(("ct_", "vlm_")) else None
    ids = grp[col + "_id"].tolist() if col.startswith("vlm_") else variables
    for r_, v_, x_, k_, id_ in zip(rows.tolist(), variables, vals, keys, ids):
        spec = (specs or {}).get(id_) or {}
        msg = meta["message"].format(variable=v_, codelist=spec.get("codelist", ""),
                                     condition=spec.get("condition", ""))
        emit(meta, dataset=ds, row=r_ + 1, value=None if pd.isna(x_) else x_, keys=k_,
             variable=v_, message=msg)


def _transport_limits(meta: Mapping, ds: str, rows, variables, vals, keys, emit: Emit) -> None:
    """Split the values that failed ``^[ASCII]{0,200}$`` into SB0012 (more than 200 UTF-8
    bytes) and SB0013 (not ASCII); a value can be both."""
    for r_, v_, x_, k_ in zip(rows.tolist(), variables, vals, keys):
        if x_ is None or pd.isna(x_):
            continue
        nbytes = len(x_.encode("utf-8"))
        if nbytes > 200:
            emit(dict(meta, rule="SB0012"), dataset=ds, row=r_ + 1, value=x_, keys=k_,
                 variable=v_, message=f"{v_} value is {nbytes} bytes, more than 200 "
                                      "(SAS transport v5)")
        if not x_.isascii():
            bad = "".join(sorted({ch for ch in x_ if not ch.isascii()})[:10])
            emit(dict(meta, rule="SB0013"), dataset=ds, row=r_ + 1, value=x_, keys=k_,
                 variable=v_, message=f"{v_} value has non-ASCII characters {bad!r} "
                                      "(SAS transport v5 needs ASCII)")
