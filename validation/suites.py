"""Expectation suites generated from the standards, the CT package and the study metadata.

A suite is data: a great-expectations 1.x suite in its own JSON form (``name``,
``expectations`` with ``type``, ``kwargs`` and ``meta``), one per dataset, generated here
without importing great-expectations, so it can be saved and reviewed
(``studybuild validate --report DIR`` writes ``DIR/suites/<dataset>.json``).
:mod:`validation.gx_run` executes it. Each expectation's ``meta`` names the studybuild rule
(``rule``), its severity, dataset, variable and, for codelist checks, the codelist; ``sb_id``
is unique within the suite, because great-expectations merges identical expectations and
returns results out of order — results are mapped back through ``sb_id``.

What a suite checks (rule ids in ``docs/rules.md``):

======================  ====================================================================
SB0001 / SB0002         Required variable present / never null (IG core Req, spec Req)
SB0003                  Expected variable present (IG core Exp)
SB0004                  Type: Num variables numeric (ADaM dates datetime), Char variables text
SB0005 / SB0006         Value in codelist: non-extensible (error) / extensible (warning)
SB0007                  Value in ISO 3166-1 alpha-3 (COUNTRY)
SB0008 / SB0009         ISO 8601 date/time (--DTC, --STDTC, --ENDTC, ...) / duration (--DUR)
SB0010 / SB0011         Natural keys unique / --SEQ unique within USUBJID
SB0012 / SB0013         Character values <= 200 bytes / ASCII only
======================  ====================================================================

Names <= 8 characters and labels <= 40 are metadata, checked in :mod:`validation.run`
(SB0014-SB0017); they are not row checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
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

    def add(self, etype: str, kwargs: dict, *, rule: str, severity: str, variable: str = "",
            message: str, **extra: Any) -> None:
        key = repr((etype, sorted(kwargs.items())))
        if key in self._seen:          # GX would merge it silently; keep the first
            return
        self._seen.add(key)
        n = len(self.items) + 1
        meta = {"sb_id": f"{self.ctx.name}.{n:04d}", "rule": rule, "severity": severity,
                "dataset": self.ctx.name, "variable": variable, "message": message}
        meta.update({k: v for k, v in extra.items() if v not in (None, "")})
        self.items.append({"type": etype, "kwargs": kwargs, "meta": meta})


def build_suite(ctx: DatasetContext) -> dict:
    """The expectation suite (GX JSON form) for one dataset."""
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

    # presence
    for v in req:
        b.add("expect_column_to_exist", {"column": v}, rule="SB0001", severity="error",
              variable=v, message=f"required variable {v} is missing")
    for v in exp:
        if v in req:
            continue
        b.add("expect_column_to_exist", {"column": v}, rule="SB0003", severity="warning",
              variable=v, message=f"expected variable {v} is missing")
    for v in req:
        if v in colset:
            b.add("expect_column_values_to_not_be_null", {"column": v}, rule="SB0002",
                  severity="error", variable=v, message=f"required variable {v} is null")

    # per-variable value checks
    for c in cols:
        var = ctx.meta.variable(c)
        igvar = ig_variable(name, c)
        vtype = var.type if var is not None else (igvar.type if igvar is not None else None)
        if vtype is None:
            vtype = "Char"
            known = False
        else:
            known = True
        if known:
            if vtype == "Num":
                allowed = NUM_TYPES + (DATE_TYPES if adam else [])
                b.add("expect_column_values_to_be_in_type_list",
                      {"column": c, "type_list": allowed}, rule="SB0004", severity="error",
                      variable=c, message=f"{c} is numeric in the {'ADaMIG' if adam else 'SDTMIG'}"
                      " but the column is not numeric")
            else:
                b.add("expect_column_values_to_be_in_type_list",
                      {"column": c, "type_list": CHAR_TYPES}, rule="SB0004", severity="error",
                      variable=c, message=f"{c} is character in the "
                      f"{'ADaMIG' if adam else 'SDTMIG'} but the column is not text")
        if vtype != "Char":
            continue
        # codelists
        if var is None:
            var = VariableMeta(name=c, label="", type="Char",
                               codelist=igvar.codelists[0] if igvar is not None and
                               igvar.codelists else None)
        vs = _value_set(var, igvar, ctx.codelists)
        if vs is not None:
            values, extensible, label = vs
            rule, sev = ("SB0006", "warning") if extensible else ("SB0005", "error")
            result = _is_result_var(name, c)
            b.add("expect_column_values_to_match_regex",
                  {"column": c, "regex": terms_regex(values, numbers=result)},
                  rule=rule, severity=sev, variable=c,
                  message=f"{c} value is {'neither a number nor ' if result else 'not '}in "
                          f"{'extensible ' if extensible else ''}codelist {label}",
                  codelist=label)
        if c == "COUNTRY" or (igvar is not None and "3166" in igvar.value_domain):
            b.add("expect_column_values_to_match_regex",
                  {"column": c, "regex": terms_regex(sorted(standards.countries()))},
                  rule="SB0007", severity="error", variable=c,
                  message=f"{c} is not an ISO 3166-1 alpha-3 country code",
                  codelist="ISO 3166-1 alpha-3")
        if _is_date_var(c, igvar, adam):
            b.add("expect_column_values_to_match_regex", {"column": c, "regex": DTC_REGEX},
                  rule="SB0008", severity="error", variable=c,
                  message=f"{c} is not an ISO 8601 date/time")
        elif _is_duration_var(c, igvar):
            b.add("expect_column_values_to_match_regex", {"column": c, "regex": DUR_REGEX},
                  rule="SB0009", severity="error", variable=c,
                  message=f"{c} is not an ISO 8601 duration")
        # one expectation for both transport limits; gx_run tells the two apart
        b.add("expect_column_values_to_match_regex", {"column": c, "regex": ASCII_200_REGEX},
              rule="SB0012", severity="error", variable=c, also="SB0013",
              message=f"{c} value is longer than 200 bytes or not ASCII (SAS transport v5)")

    # value-level codelists (e.g. TSVAL where TSPARMCD = 'TPHASE')
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
        cond = " and ".join(f"`{w}` == {val!r}" for w, val in vl.where)
        b.add("expect_column_values_to_match_regex",
              {"column": vl.variable, "regex": terms_regex(values), "row_condition": cond,
               "condition_parser": "pandas"},
              rule="SB0006" if extensible else "SB0005",
              severity="warning" if extensible else "error", variable=vl.variable,
              message=f"{vl.variable} value is not in {'extensible ' if extensible else ''}"
                      f"codelist {label} (where {cond.replace('`', '')})", codelist=label)

    # keys
    keys = [k for k in ctx.meta.keys if k in colset]
    if len(keys) >= 2:
        strict = ctx.from_spec or name in ("DM", "ADSL", "TS", "TA", "TE", "TV", "TI")
        b.add("expect_compound_columns_to_be_unique", {"column_list": keys}, rule="SB0010",
              severity="error" if strict else "warning", variable=",".join(keys),
              message=f"records are not unique on the natural keys {', '.join(keys)}")
    seq = "ASEQ" if adam else f"{name[:2]}SEQ"
    if "USUBJID" in colset and seq in colset:
        b.add("expect_compound_columns_to_be_unique", {"column_list": ["USUBJID", seq]},
              rule="SB0011", severity="error", variable=seq,
              message=f"{seq} is not unique within USUBJID")
    return {"name": f"studybuild.{name}", "expectations": b.items,
            "meta": {"dataset": name, "generated_by": "studybuild.validation.suites",
                     "standard": ctx.meta.standard, "keys": keys,
                     "metadata_source": "study spec" if ctx.from_spec else "implementation guide"}}


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
            out[up] = DatasetContext(up, cols, from_standard(up, cols), False, (), {})
    return out


_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def suite_filename(name: str) -> str:
    return _SAFE.sub("_", name.lower()) + ".json"
