"""Run the generated expectation suites with great-expectations 1.x; results become findings.

great-expectations is imported here only (it costs seconds and hundreds of MB), through an
ephemeral context with one pandas data source; progress bars are off. The study's datasets
are checked together, through the frames the suites describe (:mod:`validation.suites`):

- ``values`` checks are regexes on one value each, so GX validates the DISTINCT values of
  each check column across the study (:class:`ValueIndex`); records holding a value GX found
  unexpected are then found by value (``isin``). GX's cost follows the distinct values.
- ``records`` checks: variable presence and types (a few rows per dataset,
  :func:`records_frame`) and key uniqueness on one int64 per record (:func:`key_frames`).

Each expectation runs with ``result_format="COMPLETE"`` on a one-column frame, so failing
cells come back as ``unexpected_index_list``; a finding's record number is the 0-based row
+ 1 in file order.

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
# the frames GX validates
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


def key_ids(df: pd.DataFrame, cols: list[str]) -> np.ndarray:
    """One int64 per record, equal exactly when the records' key values are equal as text
    (missing equals missing): the key columns factorised and their codes combined. Numbers,
    dates and text are factorised as they are (equal values have equal text); other columns
    through their text."""
    acc = np.zeros(len(df), dtype=np.int64)
    for c in cols:
        s = df[c]
        if pd.api.types.is_bool_dtype(s) or not (
                pd.api.types.is_numeric_dtype(s) or pd.api.types.is_datetime64_any_dtype(s)
                or isinstance(s.dtype, pd.StringDtype)):
            s = as_text(s)
        codes, uniq = pd.factorize(s)
        width = len(uniq) + 1
        if acc.any() and width > 1 and int(acc.max()) >= (2 ** 62) // width:
            acc = pd.factorize(acc)[0].astype(np.int64)
        acc = acc * width + (codes.astype(np.int64) + 1)
    return acc


def records_frame(datasets: Mapping[str, pd.DataFrame], plans: Mapping[str, Mapping]
                  ) -> pd.DataFrame:
    """One row per required/expected variable (``req_present``/``exp_present``) and per
    variable with a known type (``type_check``): variable-level facts, a few rows per
    dataset. The per-record key checks are in :func:`key_frames`."""
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
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        {"dataset": [], "row": [], "variable": []})
    for c in ("dataset", "variable", "req_present", "exp_present", "type_check"):
        out[c] = out[c].astype("str") if c in out.columns else _empty_str(len(out))
    out["row"] = out["row"].astype("int64")
    return out


def key_frames(datasets: Mapping[str, pd.DataFrame], plans: Mapping[str, Mapping]
               ) -> dict[str, pd.DataFrame]:
    """Per key column (``key_error``/``key_warning``: natural keys; ``seq_key``: USUBJID +
    --SEQ) a frame with one row per record of every dataset that has such keys:
    ``dataset``, ``row`` (0-based) and the column itself, an int64 key id (:func:`key_ids`,
    offset per dataset so that ids never coincide across datasets)."""
    parts: dict[str, list] = {}
    offset = 0
    for name, df in datasets.items():
        plan = plans[name]["records"]
        for col, cols in ((f"key_{plan['keys_severity']}", plan["keys"]),
                          ("seq_key", plan["seq_keys"])):
            if not cols or not len(df):
                continue
            ids = key_ids(df, list(cols))
            parts.setdefault(col, []).append((name, ids + offset))
            offset += int(ids.max()) + 1
    out = {}
    for col, items in parts.items():
        out[col] = pd.DataFrame({
            "dataset": pd.Series(np.concatenate([np.full(len(i), n, dtype=object)
                                                 for n, i in items]), dtype="str"),
            "row": np.concatenate([np.arange(len(i)) for _, i in items]),
            "variable": "", col: np.concatenate([i for _, i in items])})
    return out



# ADaM arm variables that are null, as DM.ARM is, for a subject never assigned to an arm
_ARM_VARIABLES = re.compile(r"^(?:ARM|TRT\d\dP)$")


def _required_missing(name: str, column: str, df: pd.DataFrame, text: pd.Series) -> np.ndarray:
    """Which cells of a required variable count as missing (SB0002).

    SDTMIG 3.4 leaves DM.ARM null for a subject not assigned to an arm (a screen failure)
    and says why in ARMNRS; ADSL.ARM is DM.ARM and TRTxxP is derived from it, so in an ADaM
    dataset that carries ARMNRS, a null ARM or TRTxxP where ARMNRS is populated is that
    subject's planned arm as the IG records it, not a missing value.

    A variable with a null-flavor companion (``TSVAL`` and ``TSVALNF``) may be null where the
    companion holds the null flavor (SDTMIG 3.4 TS: "TSVAL can only be null when TSVALNF is
    populated"), so such a cell is not missing either.

    >>> df = pd.DataFrame({"ARM": ["A", None, None], "ARMNRS": [None, "SCREEN FAILURE", None]})
    >>> _required_missing("ADSL", "ARM", df, df["ARM"]).tolist()
    [False, False, True]
    >>> ts = pd.DataFrame({"TSVAL": ["2", None, None], "TSVALNF": [None, "PINF", None]})
    >>> _required_missing("TS", "TSVAL", ts, ts["TSVAL"]).tolist()
    [False, False, True]
    """
    miss = text.isna().to_numpy()
    if name.startswith("AD") and "ARMNRS" in df.columns and _ARM_VARIABLES.match(column):
        miss = miss & as_text(df["ARMNRS"]).isna().to_numpy()
    if f"{column}NF" in df.columns:
        miss = miss & as_text(df[f"{column}NF"]).isna().to_numpy()
    return miss


class ValueIndex:
    """The character values a study's values expectations look at, per check column
    (``value``, ``dtc``, ``dur``, ``country``, ``ct_*``, ``vlm_*``, ``req_value``): the
    DISTINCT values GX validates (:meth:`distinct`), and the way back from a failing distinct
    value to the records that hold it (:meth:`rows`).

    Every values expectation is a regex on one value, so a value fails in every record or in
    none; validating each distinct value once makes GX's cost follow the number of distinct
    values, not of records. Derived values are ``DATASET|VARIABLE=value`` (``ct_*``) and
    ``DATASET|Vn=value`` (``vlm_*``, for the records that meet the condition ``Vn``);
    ``req_value`` is ``present``/``missing`` per required cell.
    """

    def __init__(self, datasets: Mapping[str, pd.DataFrame], plans: Mapping[str, Mapping]):
        self.datasets = datasets
        self.plans = plans
        self.text: dict[tuple[str, str], pd.Series] = {}
        self.vlm: dict[tuple[str, str, str], pd.Series] = {}   # (ds, col, var) -> vid per row
        self._distinct: dict[str, list[np.ndarray]] = {}
        for name, df in datasets.items():
            self._index(name, df, plans[name]["values"])

    def _add(self, col: str, values: np.ndarray) -> None:
        if len(values):
            self._distinct.setdefault(col, []).append(values)

    def _index(self, name: str, df: pd.DataFrame, plan: Mapping) -> None:
        cols = [c for c in plan["columns"] if c in df.columns]
        for c in cols:
            t = as_text(df[c])
            if not isinstance(t.dtype, pd.StringDtype):
                t = t.astype("str")
            uniq = t.dropna().unique()
            uniq = np.asarray(uniq, dtype=object)
            self.text[(name, c)] = t
            if not len(uniq):
                continue
            self._add("value", uniq)
            for col in ("dtc", "dur", "country"):
                if c in set(plan.get(col) or ()):
                    self._add(col, uniq)
            for col in ("ct_error", "ct_warning"):
                if c in (plan.get(col) or {}):
                    self._add(col, f"{name}|{c}=" + uniq)
            for col in ("vlm_error", "vlm_warning"):
                vids = None
                for vid, spec in (plan.get(col) or {}).items():
                    if spec["variable"] != c:
                        continue
                    cond = np.ones(len(df), dtype=bool)
                    for w, v in spec["where"]:
                        cond &= (as_text(df[w]) == str(v)).fillna(False).to_numpy(dtype=bool)
                    if vids is None:
                        vids = np.full(len(df), None, dtype=object)
                    vids[cond] = vid          # the last condition a record meets decides
                if vids is None:
                    continue
                ids = pd.Series(vids).where(t.notna().to_numpy(), None)
                self.vlm[(name, col, c)] = ids
                sel = ids.notna().to_numpy()
                if sel.any():
                    pairs = pd.DataFrame({"i": ids[sel].to_numpy(), "v": t[sel].to_numpy()}
                                         ).drop_duplicates()
                    self._add(col, (name + "|" + pairs["i"] + "=" + pairs["v"]).to_numpy(
                        dtype=object))
        for c in plan["required"]:
            if c not in df.columns:
                continue
            if (name, c) not in self.text:
                self.text[(name, c)] = as_text(df[c])
            miss = _required_missing(name, c, df, self.text[(name, c)])
            self._add("req_value", np.array(["missing"] if miss.all() else
                                            ["present", "missing"] if miss.any() else
                                            ["present"], dtype=object))

    def columns(self) -> list[str]:
        return sorted(self._distinct)

    def distinct(self, col: str, chunk: int = CHUNK_VALUES) -> Iterable[pd.Series]:
        """The distinct values of a check column (``str``), in chunks of at most ``chunk``."""
        vals = self._distinct.get(col) or []
        if not vals:
            return
        u = pd.unique(np.concatenate(vals))
        for i in range(0, len(u), chunk):
            yield pd.Series(u[i:i + chunk], dtype="str")

    def rows(self, col: str, name: str, bad: set) -> pd.DataFrame:
        """The records of dataset ``name`` whose ``col`` value is in ``bad``: ``row`` (0-based),
        ``variable``, ``value`` (and ``<col>_id`` for vlm), in the order variables are listed in
        the plan, then by row."""
        plan = self.plans[name]["values"]
        df = self.datasets[name]
        parts = []
        if col == "req_value":
            for c in plan["required"]:
                if c not in df.columns:
                    continue
                miss = _required_missing(name, c, df, self.text[(name, c)])
                hit = np.zeros(len(df), dtype=bool)
                if "missing" in bad:
                    hit |= miss
                if "present" in bad:
                    hit |= ~miss
                if hit.any():
                    r = np.flatnonzero(hit)
                    parts.append(pd.DataFrame({"row": r, "variable": c, "value": pd.Series(
                        np.where(miss[r], "missing", "present"), dtype="str")}))
        else:
            cols = [c for c in plan["columns"] if c in df.columns]
            if col in ("dtc", "dur", "country"):
                cols = [c for c in cols if c in set(plan.get(col) or ())]
            elif col.startswith("ct_"):
                cols = [c for c in cols if c in (plan.get(col) or {})]
            elif col.startswith("vlm_"):
                cols = [c for c in cols if (name, col, c) in self.vlm]
            for c in cols:
                t = self.text[(name, c)]
                if col == "value" or col in ("dtc", "dur", "country"):
                    hit = t.isin(bad).to_numpy(dtype=bool)
                    ids = None
                elif col.startswith("ct_"):
                    pre = f"{name}|{c}="
                    vals = {b[len(pre):] for b in bad if b.startswith(pre)}
                    hit = t.isin(vals).to_numpy(dtype=bool) if vals else None
                    ids = None
                else:
                    ids = self.vlm[(name, col, c)]
                    hit = np.zeros(len(t), dtype=bool)
                    for vid in sorted({b.split("=", 1)[0].split("|", 1)[1] for b in bad
                                       if b.startswith(f"{name}|")}):
                        pre = f"{name}|{vid}="
                        vals = {b[len(pre):] for b in bad if b.startswith(pre)}
                        hit |= (ids.eq(vid).fillna(False).to_numpy(dtype=bool)
                                & t.isin(vals).to_numpy(dtype=bool))
                if hit is None or not hit.any():
                    continue
                r = np.flatnonzero(hit)
                part = pd.DataFrame({"row": r, "variable": c,
                                     "value": t.iloc[r].reset_index(drop=True)})
                if ids is not None:
                    part[col + "_id"] = ids.iloc[r].to_numpy()
                parts.append(part)
        if not parts:
            return pd.DataFrame({"row": np.array([], dtype=np.int64), "variable": [],
                                 "value": []})
        return pd.concat(parts, ignore_index=True)


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
        frames = {None: records_frame(datasets, plans), **key_frames(datasets, plans)}
        for exp in rec_exps:
            col = exp["kwargs"].get("column")
            data = frames[col] if col in frames else frames[None]
            _validate("records", exp, data, datasets, plans, emit, keys_of)
    val_exps = _merge_expectations((suites[k] for k in datasets), "values")
    if val_exps:
        index = ValueIndex(datasets, plans)
        for exp in val_exps:
            _validate_distinct(exp, index, datasets, plans, emit, keys_of)


def _gx_unexpected(kind: str, exp: dict, col: str, values: np.ndarray
                   ) -> tuple[np.ndarray, bool]:
    """Run one expectation on a one-column frame of ``values``; return the positions GX
    found unexpected, and whether GX raised instead of deciding."""
    bd = _batch_definition()
    frame = pd.DataFrame({col: values})
    if frame[col].dtype != np.int64:
        frame = frame.astype("str")
    batch = bd.get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(_gx_suite(f"studybuild.{kind}.{col}", [exp]),
                            result_format="COMPLETE")
    bad: list[np.ndarray] = []
    for r in result.results:
        if r.success:
            continue
        if _raised(r):
            return np.array([], dtype=np.int64), True
        bad.append(np.asarray((r.result or {}).get("unexpected_index_list") or [],
                              dtype="int64"))
    return (np.concatenate(bad) if bad else np.array([], dtype=np.int64)), False


def _not_evaluated(exp: dict, col: str, emit: Emit) -> None:
    for ds, meta in exp["meta"]["by_dataset"].items():
        emit(dict(meta, message=meta["message"].replace("{variable}", col)),
             dataset=ds, row=None, value=None, keys=(), variable="",
             note="could not be evaluated by great-expectations", severity="notice")


def _validate(kind: str, exp: dict, data: pd.DataFrame,
              datasets: Mapping[str, pd.DataFrame], plans: Mapping, emit: Emit,
              keys_of: KeysOf) -> None:
    """Run one records expectation on a one-column frame holding only the rows it concerns
    (the non-missing cells of its column): GX filters and copies the whole frame per
    expectation, so a narrow frame is what keeps its cost proportional to the data checked."""
    col = exp["kwargs"].get("column")
    if col not in data.columns:
        return
    mask = data[col].notna().to_numpy()
    if not mask.any():
        return
    pos = np.flatnonzero(mask)
    idx, raised = _gx_unexpected(kind, exp, col, data[col].to_numpy()[mask])
    if raised:
        _not_evaluated(exp, col, emit)
        return
    if len(idx) == 0:
        return
    sub = data.iloc[np.sort(pos[idx])]
    for ds, grp in sub.groupby("dataset", sort=True):
        meta = exp["meta"]["by_dataset"].get(ds)
        if meta is None:
            continue
        _emit_group(kind, col, meta, str(ds), grp, datasets[ds], plans[ds], emit, keys_of)


def _validate_distinct(exp: dict, index: ValueIndex, datasets: Mapping[str, pd.DataFrame],
                       plans: Mapping, emit: Emit, keys_of: KeysOf) -> None:
    """Run one values expectation on the distinct values of its column; the records holding
    a value GX found unexpected are then found by value (``isin``)."""
    col = exp["kwargs"].get("column")
    bad: set = set()
    for values in index.distinct(col):
        idx, raised = _gx_unexpected("values", exp, col, values.to_numpy(dtype=object))
        if raised:
            _not_evaluated(exp, col, emit)
            return
        bad.update(values.iloc[idx].tolist())
    if not bad:
        return
    for ds in sorted(datasets):
        meta = exp["meta"]["by_dataset"].get(ds)
        if meta is None:
            continue
        grp = index.rows(col, ds, bad)
        if len(grp):
            _emit_group("values", col, meta, ds, grp, datasets[ds], plans[ds], emit, keys_of)


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
