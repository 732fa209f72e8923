"""Expectation suites generated from the standards, the CT package and the study metadata.

A suite is data, generated here without importing great-expectations, saved by
``studybuild validate --report DIR`` as ``DIR/suites/<dataset>.json`` for review, and run by
:mod:`validation.gx_run`. It lists great-expectations 1.x expectations (``type``,
``kwargs``, ``meta``) on two frames that the runner builds for the whole study, stacking the
datasets, plus the facts it needs to build them (``frames``):

``values``    one row per character value (``dataset``, ``row``, ``variable``, ``value``)
              and per required cell; derived columns hold a value only where a check
              concerns it (``dtc``, ``dur``, ``country``; ``ct_error``/``ct_warning`` hold
              ``DATASET|VARIABLE=value`` for variables with a codelist, ``vlm_*``
              ``DATASET|Vn=value`` for value-level codelists whose condition the record
              meets; ``req_value`` is ``present``/``missing`` for required variables) and are
              missing elsewhere, which GX skips;
``records``   one row per required/expected variable (``req_present``/``exp_present``), per
              variable with a known type (``type_check`` = ``Num:num``, ``Char:text``, ...),
              and per record (``key_error``/``key_warning``, ``seq_key``: the natural keys
              and USUBJID + --SEQ joined, with the dataset name, for uniqueness).

So a study takes one GX run per check column, whatever its number of datasets and
variables (GX's fixed cost per expectation is tens of milliseconds); the runner validates
the distinct values of each ``values`` column (a regex decides each value alone) and the
keys as one integer per record (:mod:`validation.gx_run`). Each expectation's ``meta`` names the studybuild rule, its severity and
message and a ``sb_id`` unique within the suite; the runner merges the datasets'
expectations on the same column (codelist regexes joined) and maps results back through the
``dataset`` and ``variable`` columns (GX merges identical expectations silently and returns
results in its own order).

What a suite checks (rule ids in ``docs/rules.md``):

======================  ====================================================================
SB0001 / SB0002         Required variable present / never null (IG core Req, spec Req)
SB0003                  Expected variable present (IG core Exp)
SB0004                  Type: Num variables numeric (ADaM dates datetime), Char variables text
SB0005 / SB0006         Value in codelist: non-extensible (error) / extensible (warning),
                        looked up by C-code; for --ORRES/--STRESC numbers are results too
SB0007                  Value in ISO 3166-1 alpha-3 (COUNTRY)
SB0008 / SB0009         ISO 8601 date/time (--DTC, --STDTC, --ENDTC, ...) / duration (--DUR)
SB0010 / SB0011         Natural keys unique / --SEQ unique within USUBJID
SB0012 / SB0013         Character values <= 200 bytes / ASCII only (one regex, told apart
                        after the run)
======================  ====================================================================

Names <= 8 characters and labels <= 40 are metadata, checked in :mod:`validation.run`
(SB0014-SB0017); they are not row checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any, Iterable, Mapping

from studybuild import standards
from studybuild.metadata import DatasetMeta, StudyMetadata, ValueLevel, VariableMeta
from validation.iso8601 import DTC_REGEX, DUR_REGEX

ASCII_REGEX = r"^[\x00-\x7F]*$"
ASCII_200_REGEX = r"^[\x00-\x7F]{0,200}$"
NUM_TYPES = ["float64", "float32", "int64", "int32", "int16", "int8", "Float64", "Int64",
             "Int32", "uint8", "bool"]
DATE_TYPES = ["datetime64[s]", "datetime64[ms]", "datetime64[us]", "datetime64[ns]",
              "datetime64"]
CHAR_TYPES = ["str", "string", "object"]


@dataclass(frozen=True)
class DatasetContext:
    """What the suite generator knows about one dataset."""

    name: str
    columns: tuple[str, ...]
    meta: DatasetMeta
    from_spec: bool                      # metadata came from a study spec (not the IG alone)
    value_level: tuple[ValueLevel, ...] = ()
    codelists: Mapping[str, Any] = None  # study codelists by id


def adam_structure(name: str, columns: Iterable[str]) -> str:
    """ADSL, TTE (has CNSR), BDS (has PARAMCD) or OCCDS (neither)."""
    cols = {c.upper() for c in columns}
    if name.upper() == "ADSL":
        return "ADSL"
    if "CNSR" in cols:
        return "TTE"
    if "PARAMCD" in cols:
        return "BDS"
    return "OCCDS"


def _concrete(name: str) -> str:
    """A pattern variable made concrete for presence checks (TRTxxP -> TRT01P)."""
    return name.replace("xx", "01").replace("zz", "01").replace("y", "1").replace("w", "1")


def ig_cores(name: str, columns: Iterable[str]) -> tuple[list[str], list[str]]:
    """(required, expected) variable names from the IG for a dataset."""
    up = name.upper()
    if up.startswith("AD"):
        st = adam_structure(up, columns)
        if st == "OCCDS":
            return ["STUDYID", "USUBJID"], []
        ds = standards.adamig().structure(st)
        req = [_concrete(v.name) for v in ds if v.core == "Req" and "*" not in v.name]
        exp = [_concrete(v.name) for v in ds if v.core == "Exp" and "*" not in v.name]
        return req, exp
    try:
        ds = standards.sdtmig().dataset(up)
    except standards.StandardsLookupError:
        return [], []
    req = [v.name for v in ds if v.core == "Req"]
    exp = [v.name for v in ds if v.core == "Exp"]
    if up.startswith("SUPP"):
        return req, exp
    p = up[:2]
    if len(up) > 2 and ds.name != up:        # split domain (e.g. QSCG): IG names use QS
        req = [p + v[2:] if v.startswith(ds.name[:2]) else v for v in req]
        exp = [p + v[2:] if v.startswith(ds.name[:2]) else v for v in exp]
    return req, exp


def ig_variable(dataset: str, name: str) -> standards.Variable | None:
    up = dataset.upper()
    if up.startswith("AD"):
        ad = standards.adamig()
        return ad.structure("ADSL").find(name) or ad.structure("TTE").find(name)
    try:
        return standards.sdtmig().dataset(up).find(name)
    except standards.StandardsLookupError:
        return None


@cache
def _generic_types() -> tuple[dict[str, str], dict[str, str]]:
    """Types of SDTMIG variables by exact name and by --suffix, across all domains (for
    variables a domain does not define, e.g. VISITNUM in DS, or custom domains' XYSEQ)."""
    exact: dict[str, set] = {}
    suffix: dict[str, set] = {}
    for ds in standards.sdtmig().datasets.values():
        for v in ds:
            exact.setdefault(v.name, set()).add(v.type)
            if v.name.startswith(ds.name[:2]) and len(v.name) > 2:
                suffix.setdefault(v.name[2:], set()).add(v.type)
    one = lambda d: {k: next(iter(t)) for k, t in d.items() if len(t) == 1}  # noqa: E731
    return one(exact), one(suffix)


def generic_type(dataset: str, name: str) -> str | None:
    if dataset.upper().startswith("AD"):
        return None
    exact, suffix = _generic_types()
    return exact.get(name) or suffix.get(name[2:]) if len(name) > 2 else exact.get(name)


def _codelist(code: str):
    for fn in (standards.ct, standards.adam_ct):
        try:
            return fn().codelist(code)
        except standards.StandardsLookupError:
            continue
    return None


def _value_set(var: VariableMeta, igvar: standards.Variable | None,
               study_codelists: Mapping[str, Any] | None
               ) -> tuple[list[str], bool, str] | None:
    """(allowed values, extensible, codelist label) for a variable, or None."""
    codes: list[str] = []
    extra: list[str] = []
    label = ""
    if var.codelist:
        scl = (study_codelists or {}).get(var.codelist)
        if scl is not None:
            extra = [t.value for t in scl.terms]
            label = scl.id
            if scl.ct_code:
                codes.append(scl.ct_code)
        else:
            codes.append(var.codelist)
    if igvar is not None and igvar.codelists and (not codes or codes[0] in igvar.codelists):
        for c in igvar.codelists:
            if c not in codes:
                codes.append(c)
    values: set[str] = set(extra)
    extensible = False
    found = []
    for c in codes:
        cl = _codelist(c)
        if cl is None:
            continue
        found.append(f"{cl.short_name} ({cl.code})")
        values |= set(cl.submission_values)
        extensible = extensible or cl.extensible
    if not found and not extra:
        return None
    if not found and extra:
        # a study-defined codelist with no CDISC parent: its terms are the rule
        return sorted(values), False, label
    return sorted(values), extensible, label or ", ".join(found)


NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def terms_regex(values: Iterable[str], *, numbers: bool = False) -> str:
    """A full-match regex for 'one of these terms' (plus numbers, for result variables).
    great-expectations copies a value_set many times per expectation, which makes codelists of
    hundreds of terms slow; one regex string costs nothing to copy."""
    alts = ([NUMBER] if numbers else []) + [re.escape(v) for v in sorted(values)]
    return "^(?:" + "|".join(alts) + ")$"


def _is_result_var(dataset: str, name: str) -> bool:
    """--ORRES / --STRESC (findings results), whose codelists list character results only."""
    return not dataset.startswith("AD") and len(name) > 2 and name[2:] in ("ORRES", "STRESC")


def _is_date_var(name: str, igvar: standards.Variable | None, adam: bool) -> bool:
    if igvar is not None and igvar.value_domain.startswith("ISO 8601 datetime"):
        return True
    return name.endswith("DTC")


def _is_duration_var(name: str, igvar: standards.Variable | None) -> bool:
    if igvar is not None and igvar.value_domain.startswith("ISO 8601 duration"):
        return True
    return name.endswith("DUR") and not name.endswith("DURD")


class _Builder:
    def __init__(self, ctx: DatasetContext):
        self.ctx = ctx
        self.items: list[dict] = []
        self._seen: set[str] = set()

    def add(self, frame: str, etype: str, kwargs: dict, *, rule: str, severity: str,
            message: str, variable: str = "", **extra: Any) -> None:
        key = repr((frame, etype, sorted(kwargs.items())))
        if key in self._seen:          # GX would merge it silently; keep the first
            return
        self._seen.add(key)
        meta = {"sb_id": f"{self.ctx.name}.{len(self.items) + 1:04d}", "rule": rule,
                "severity": severity, "dataset": self.ctx.name, "variable": variable,
                "message": message}
        meta.update({k: v for k, v in extra.items() if v not in (None, "")})
        self.items.append({"frame": frame, "type": etype, "kwargs": kwargs, "meta": meta})


def _ct_regex(dataset: str, entries: Mapping[str, dict]) -> str:
    """One regex over ``DATASET|KEY=value`` for several variables' (or conditions')
    codelists."""
    alts = []
    for key, e in sorted(entries.items()):
        terms = ([NUMBER] if e.get("numbers") else []) + [re.escape(t) for t in e["terms"]]
        alts.append(re.escape(f"{dataset}|{key}=") + "(?:" + "|".join(terms) + ")")
    return "^(?:" + "|".join(alts) + ")$"


PRESENT_REGEX = r"^present$"
TYPES_REGEX = r"^(?:Num:(?:num|empty)|Char:(?:text|empty))$|^Num:date:ADaM$"


def build_suite(ctx: DatasetContext) -> dict:
    """The expectation suite for one dataset: the checks, as GX expectations on the study's
    stacked ``values`` and ``records`` frames (see the module docstring), and the facts the
    runner needs to build those frames."""
    b = _Builder(ctx)
    name = ctx.name
    adam = name.startswith("AD")
    cols = list(ctx.columns)
    colset = set(cols)
    req, exp = ig_cores(name, cols)
    for v in ctx.meta.variables:
        if v.core == "Req" and v.name not in req:
            req.append(v.name)
        if v.core == "Exp" and v.name not in exp and v.name not in req:
            exp.append(v.name)
    exp = [v for v in exp if v not in req]
    keys = [k for k in ctx.meta.keys if k in colset]
    keys = keys if len(keys) >= 2 else []
    strict = ctx.from_spec or name in ("DM", "ADSL", "TS", "TA", "TE", "TV", "TI")
    seq = "ASEQ" if adam else f"{name[:2]}SEQ"
    seq_keys = ["USUBJID", seq] if "USUBJID" in colset and seq in colset else []

    # per-variable facts
    types: dict[str, str] = {}
    chars: list[str] = []
    dtc, dur, country = [], [], []
    ct: dict[str, dict[str, dict]] = {"ct_error": {}, "ct_warning": {}}
    for c in cols:
        var = ctx.meta.variable(c)
        igvar = ig_variable(name, c)
        if igvar is not None:
            vtype = igvar.type if not ctx.from_spec or var is None else var.type
        elif ctx.from_spec and var is not None:
            vtype = var.type
        else:   # not in this dataset's IG table: the type it has elsewhere in the IG, if any
            vtype = generic_type(name, c)
            if vtype is None and var is not None and var.type == "Num":
                # unknown to the IG, and its values are numbers (``from_standard`` looked at
                # the data): not character, so not an ISO 8601 value (ADaM TRTDUR in days)
                continue
        if vtype is not None:
            types[c] = vtype
        if vtype == "Num":
            continue
        chars.append(c)
        if var is None:
            var = VariableMeta(name=c, label="", type="Char",
                               codelist=igvar.codelists[0] if igvar is not None and
                               igvar.codelists else None)
        vs = _value_set(var, igvar, ctx.codelists)
        if vs is not None:
            values, extensible, label = vs
            ct["ct_warning" if extensible else "ct_error"][c] = {
                "codelist": label, "extensible": extensible,
                "numbers": _is_result_var(name, c), "terms": values}
        if c == "COUNTRY" or (igvar is not None and "3166" in igvar.value_domain):
            country.append(c)
        if _is_date_var(c, igvar, adam):
            dtc.append(c)
        elif _is_duration_var(c, igvar):
            dur.append(c)

    # value-level codelists (e.g. TSVAL where TSPARMCD = 'TPHASE'): each condition gets an id
    vlm: dict[str, dict[str, dict]] = {"vlm_error": {}, "vlm_warning": {}}
    for vl in ctx.value_level:
        if vl.dataset.upper() != name or not vl.codelist or vl.variable not in colset:
            continue
        if any(w not in colset for w, _ in vl.where):
            continue
        vs = _value_set(VariableMeta(name=vl.variable, label=vl.label, type=vl.type,
                                     codelist=vl.codelist), None, ctx.codelists)
        if vs is None:
            continue
        values, extensible, label = vs
        vid = f"V{sum(len(v) for v in vlm.values()) + 1}"
        vlm["vlm_warning" if extensible else "vlm_error"][vid] = {
            "variable": vl.variable, "where": [list(w) for w in vl.where], "codelist": label,
            "extensible": extensible, "terms": values,
            "condition": " and ".join(f"{w} = {v!r}" for w, v in vl.where)}

    present_req = [v for v in req if v in colset]
    # records frame: presence, types, keys
    if req:
        b.add("records", "expect_column_values_to_match_regex",
              {"column": "req_present", "regex": PRESENT_REGEX}, rule="SB0001",
              severity="error", message="required variable {variable} is missing")
    if exp:
        b.add("records", "expect_column_values_to_match_regex",
              {"column": "exp_present", "regex": PRESENT_REGEX}, rule="SB0003",
              severity="warning", message="expected variable {variable} is missing")
    if types:
        b.add("records", "expect_column_values_to_match_regex",
              {"column": "type_check", "regex": TYPES_REGEX}, rule="SB0004", severity="error",
              message="{variable} has the wrong type for the "
                      f"{'ADaMIG' if adam else 'SDTMIG'}")
    if keys:
        sev = "error" if strict else "warning"
        b.add("records", "expect_column_values_to_be_unique", {"column": f"key_{sev}"},
              rule="SB0010", severity=sev, variable=",".join(keys),
              message=f"records are not unique on the natural keys {', '.join(keys)}")
    if seq_keys:
        b.add("records", "expect_column_values_to_be_unique", {"column": "seq_key"},
              rule="SB0011", severity="error", variable=seq,
              message=f"{seq} is not unique within USUBJID")
    # values frame: every character value, plus required cells
    if present_req:
        b.add("values", "expect_column_values_to_match_regex",
              {"column": "req_value", "regex": PRESENT_REGEX}, rule="SB0002",
              severity="error", message="required variable {variable} is null")
    if chars:
        b.add("values", "expect_column_values_to_match_regex",
              {"column": "value", "regex": ASCII_200_REGEX}, rule="SB0012",
              severity="error", also="SB0013",
              message="{variable} value is longer than 200 bytes or not ASCII")
    if dtc:
        b.add("values", "expect_column_values_to_match_regex",
              {"column": "dtc", "regex": DTC_REGEX}, rule="SB0008", severity="error",
              message="{variable} is not an ISO 8601 date/time")
    if dur:
        b.add("values", "expect_column_values_to_match_regex",
              {"column": "dur", "regex": DUR_REGEX}, rule="SB0009", severity="error",
              message="{variable} is not an ISO 8601 duration")
    if country:
        b.add("values", "expect_column_values_to_match_regex",
              {"column": "country", "regex": terms_regex(sorted(standards.countries()))},
              rule="SB0007", severity="error",
              message="{variable} is not an ISO 3166-1 alpha-3 country code")
    for col, rule, sev, plan in (("ct_error", "SB0005", "error", ct["ct_error"]),
                                 ("ct_warning", "SB0006", "warning", ct["ct_warning"]),
                                 ("vlm_error", "SB0005", "error", vlm["vlm_error"]),
                                 ("vlm_warning", "SB0006", "warning", vlm["vlm_warning"])):
        if plan:
            b.add("values", "expect_column_values_to_match_regex",
                  {"column": col, "regex": _ct_regex(name, plan)}, rule=rule, severity=sev,
                  message="{variable} value is not in "
                  + ("extensible " if sev == "warning" else "") + "codelist {codelist}"
                  + (" (where {condition})" if col.startswith("vlm") else ""))

    plan = {
        "values": {"columns": chars, "required": present_req, "dtc": dtc, "dur": dur,
                   "country": country, "ct_error": ct["ct_error"],
                   "ct_warning": ct["ct_warning"], "vlm_error": vlm["vlm_error"],
                   "vlm_warning": vlm["vlm_warning"]},
        "records": {"required": req, "expected": exp, "types": types, "adam": adam,
                    "keys": keys, "keys_severity": "error" if strict else "warning",
                    "seq_keys": seq_keys},
    }
    return {"name": f"studybuild.{name}", "dataset": name, "frames": plan,
            "expectations": b.items,
            "meta": {"dataset": name, "generated_by": "studybuild validation.suites",
                     "standard": ctx.meta.standard, "keys": keys,
                     "metadata_source": "study spec" if ctx.from_spec
                     else "implementation guide"}}


def expectation_count(suite: Mapping) -> int:
    return len(suite["expectations"])


def contexts(frames: Mapping[str, Any], metadata: Iterable[StudyMetadata] = ()
             ) -> dict[str, DatasetContext]:
    """A :class:`DatasetContext` per frame: spec metadata where given, else the IG's."""
    from studybuild.metadata import from_standard

    metas: dict[str, tuple[DatasetMeta, StudyMetadata]] = {}
    for md in metadata:
        if md is None:
            continue
        for k, dm in md.datasets.items():
            metas[k.upper()] = (dm, md)
    out = {}
    for name, frame in frames.items():
        up = name.upper()
        cols = tuple(str(c) for c in frame.columns)
        if up in metas:
            dm, md = metas[up]
            out[up] = DatasetContext(up, cols, dm, True, tuple(md.value_level),
                                     dict(md.codelists))
        else:
            out[up] = DatasetContext(up, cols, from_standard(up, cols, frame=frame), False, (),
                                     {})
    return out


_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def suite_filename(name: str) -> str:
    return _SAFE.sub("_", name.lower()) + ".json"
