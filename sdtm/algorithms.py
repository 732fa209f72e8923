"""Value algorithms: one SDTM variable for the records of a record block, vectorised.

Each is registered in :mod:`sdtm.registry` with its parameter model; ``docs/algorithms.md``
documents them with examples. A function receives the resolved sources (``args``, aligned with
the block's records) and returns a Series on the same index; it records findings through
``ctx.report`` and never raises for bad data.
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import ConfigDict, Field, field_validator, model_validator

from sdtm import dates
from sdtm.registry import Arg, NoParams, Params, ValueContext, register

# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _per_distinct(s: pd.Series, fn) -> pd.Series:
    """``fn(s)`` for a value-by-value ``fn``, computed on each distinct value once (missing
    included) and mapped back: visit names, units and codes repeat across records."""
    if len(s) < 4096:
        return fn(s)
    codes, uniq = pd.factorize(s, use_na_sentinel=False)
    if len(uniq) * 2 > len(s):
        return fn(s)
    out = fn(pd.Series(uniq, dtype=s.dtype)).iloc[codes]
    out.index = s.index
    return out


def _norm(s: pd.Series) -> pd.Series:
    """Trimmed, upper-cased text with inner blanks collapsed; NA for blank."""
    return _per_distinct(s.astype("str"), _norm_text)


def _norm_text(t: pd.Series) -> pd.Series:
    t = t.str.strip().str.upper().str.replace(r"\s+", " ", regex=True)
    return t.where(t.notna() & (t != ""))


def _text(s: pd.Series) -> pd.Series:
    return _per_distinct(s.astype("str"), _trim_text)


def _trim_text(t: pd.Series) -> pd.Series:
    t = t.str.strip()
    return t.where(t.notna() & (t != ""))


def _map_unique(s: pd.Series, fn) -> pd.Series:
    """Apply a Python function to each distinct non-missing value only (values repeat)."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    mapped = np.array([fn(u) for u in uniques] + [None], dtype=object)
    out = pd.Series(mapped[codes], index=s.index)
    return out


def number_text(s: pd.Series) -> pd.Series:
    """Numbers as SDTM character results: 21.0 -> '21', 21.50 -> '21.5' (up to 10 digits)."""
    num = pd.to_numeric(s, errors="coerce")
    return _map_unique(num.where(num.notna()),
                       lambda v: format(float(v), ".10g")).astype("str").where(num.notna())


def _constant(ctx: ValueContext, value) -> pd.Series:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return pd.Series(float(value), index=ctx.records.index, dtype="float64")
    return pd.Series(str(value), index=ctx.records.index, dtype="str")


def parsed_dates(ctx: ValueContext, arg: Arg, formats: tuple[str, ...],
                 times: Arg | None = None) -> tuple[pd.Series, pd.Series]:
    """ISO dates and invalid flags for a date source. A raw field is parsed once per build
    (whole form column, cached) and taken by raw row; other sources are parsed as given."""
    cacheable = (arg.form is not None and not arg.ref.startswith("@") and arg.rows is not None
                 and arg.form in ctx.state.raw_forms
                 and (times is None or (times.form == arg.form and not times.ref.startswith("@"))))
    if not cacheable:
        return dates.parse_dates(arg.values, formats,
                                 times.values if times is not None else None)
    cache = ctx.state.__dict__.setdefault("_date_cache", {})
    key = (arg.form, arg.field, formats, times.field if times is not None else None)
    if key not in cache:
        raw = ctx.state.raw_forms[arg.form]
        iso, bad = dates.parse_dates(raw[arg.field], formats,
                                     raw[times.field] if times is not None else None)
        idx = raw["_ROW"].to_numpy()
        cache[key] = (pd.Series(iso.to_numpy(), index=idx, dtype="str"),
                      pd.Series(bad.to_numpy(), index=idx, dtype=bool))
    iso_all, bad_all = cache[key]
    rows = arg.rows.to_numpy(dtype="float64")
    ok = ~np.isnan(rows)
    r = np.where(ok, rows, -1).astype("int64")
    iso = pd.Series(iso_all.reindex(r).to_numpy(), index=arg.values.index, dtype="str")
    bad = pd.Series(bad_all.reindex(r).fillna(False).to_numpy(dtype=bool),
                    index=arg.values.index)
    return iso.where(ok), bad & ok


def _fmt_src(sources: list[str]) -> str:
    return ", ".join(sources) if sources else "(none)"


def _to_number(ctx: ValueContext, arg: Arg, values: pd.Series, lo=None, hi=None) -> pd.Series:
    txt = _text(values)
    num = pd.to_numeric(txt, errors="coerce")
    bad = txt.notna() & num.isna()
    ctx.report(bad, arg, "SB-MAP-NUM", "error",
               "{where}: value {value!r} is not a number ({n} records); " + ctx.variable +
               " left empty (correct it at source)")
    if lo is not None:
        ctx.report(num < lo, Arg(number_text(num), arg.ref, arg.form, arg.field, arg.rows),
                   "SB-MAP-RANGE", "error",
                   "{where}: value {value} is below the allowed minimum " + f"{lo:g}" +
                   " ({n} records); kept as collected (correct it at source)")
    if hi is not None:
        ctx.report(num > hi, Arg(number_text(num), arg.ref, arg.form, arg.field, arg.rows),
                   "SB-MAP-RANGE", "error",
                   "{where}: value {value} is above the allowed maximum " + f"{hi:g}" +
                   " ({n} records); kept as collected (correct it at source)")
    return num.astype("float64")


# --------------------------------------------------------------------------------------------
# assign, hardcode
# --------------------------------------------------------------------------------------------

class AssignParams(Params):
    trim: bool = True
    upper: bool = False
    map: dict[str, str] = Field(default_factory=dict,
                                description="replace collected values (case-insensitive)")
    pattern: str | None = Field(None, description="regular expression with one group; the "
                                                  "group is kept ('Grade 3' -> '3')")
    min: float | None = None
    max: float | None = None

    @field_validator("pattern")
    @classmethod
    def _one_group(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            rx = re.compile(v)
        except re.error as e:
            raise ValueError(f"pattern is not a valid regular expression: {e}") from None
        if rx.groups != 1:
            raise ValueError("pattern must have exactly one (group)")
        return v


def _describe_assign(p: AssignParams, src: list[str]) -> str:
    words = [f"Copied from {_fmt_src(src)}"]
    if p.trim:
        words.append("blanks trimmed")
    if p.upper:
        words.append("upper-cased")
    if p.pattern:
        words.append(f"the part matching {p.pattern!r} kept")
    if p.map:
        words.append("values replaced: " + ", ".join(f"{k!r} -> {v!r}"
                                                    for k, v in sorted(p.map.items())))
    return "; ".join(words) + "."


@register("assign", "value", AssignParams, sources=(1, 1), origin="Collected",
          summary="Copy a collected value (trimmed; optionally upper-cased, re-mapped, a part "
                  "extracted); numbers for numeric variables.",
          describe=_describe_assign, example=("' grade 3 ' (pattern '(\\d)')", "'3'"))
def assign(ctx: ValueContext, args: list[Arg], p: AssignParams) -> pd.Series:
    arg = args[0]
    s = arg.values
    if ctx.var_type == "Num" and pd.api.types.is_numeric_dtype(s):
        return s.astype("float64")
    if ctx.var_type == "Char" and pd.api.types.is_numeric_dtype(s):
        return number_text(s)
    s = s.astype("str")
    if p.trim:
        s = _text(s)
    if p.map:
        keys = {k.strip().upper(): v for k, v in p.map.items()}
        hit = _norm(s).map(keys)
        s = hit.where(hit.notna(), s).astype("str")
    if p.pattern:
        got = s.str.extract(p.pattern, expand=False)
        s = got.where(got.notna(), s).astype("str")
    if p.upper:
        s = s.str.upper()
    if ctx.var_type == "Num":
        return _to_number(ctx, arg, s, p.min, p.max)
    return s.astype("str")


class HardcodeParams(Params):
    value: str | float


@register("hardcode", "value", HardcodeParams, origin="Assigned",
          summary="The same value for every record.",
          describe=lambda p, s: f"Set to {p.value!r}.", example=("", "'RECIST 1.1'"))
def hardcode(ctx: ValueContext, args: list[Arg], p: HardcodeParams) -> pd.Series:
    if ctx.var_type == "Num":
        return _constant(ctx, float(p.value))
    return _constant(ctx, str(p.value))


# --------------------------------------------------------------------------------------------
# ct: controlled terminology
# --------------------------------------------------------------------------------------------

class CtParams(Params):
    codelist: str | None = Field(None, description="C-code, short name or study codelist id; "
                                                   "default: the variable's SDTMIG codelist")
    map: dict[str, str] | str = Field(default_factory=dict,
                                      description="collected value -> submission value, or "
                                                  "the name of a map in codelists.yaml")
    unmapped: Literal["keep", "missing"] = "keep"


def _describe_ct(p: CtParams, src: list[str]) -> str:
    cl = p.codelist or "the variable's codelist"
    text = (f"{_fmt_src(src)} mapped to {cl} submission values (case-insensitive match on "
            "submission value, synonym or preferred term")
    if p.map:
        text += ", after the study map " + (repr(p.map) if isinstance(p.map, str) else
                                            ", ".join(f"{k!r} -> {v!r}"
                                                      for k, v in sorted(p.map.items())))
    return text + ")."


@register("ct", "value", CtParams, sources=(1, 1), origin="Collected",
          summary="Map a collected value to CDISC CT (submission values, synonyms, study map; "
                  "case-insensitive); unmapped values are findings.",
          describe=_describe_ct, example=("'male'", "'M' (codelist SEX)"))
def ct(ctx: ValueContext, args: list[Arg], p: CtParams) -> pd.Series:
    from sdtm.terminology import resolve_codelist, study_map

    arg = args[0]
    cl = resolve_codelist(ctx.spec, p.codelist, ctx.domain, ctx.variable)
    smap = study_map(ctx.spec, p.map)
    collected = _text(arg.values.astype("str"))

    def one(v: str):
        key = " ".join(v.strip().upper().split())
        if key in smap:
            return smap[key]
        return cl.lookup(v)

    out = _map_unique(collected, one)
    missing = collected.notna() & out.isna()
    sev = "warning" if cl.extensible else "error"
    what = "kept as collected" if p.unmapped == "keep" else "left empty"
    ctx.report(missing, arg, "SB-MAP-CT", sev,
               "{where}: value {value!r} is not in codelist " + cl.label +
               " nor in the study map ({n} records); " + what + " (correct it at source, or "
               "map it to a submission value in codelists.yaml)")
    if p.unmapped == "keep":
        out = out.where(~missing, collected.str.upper())
    return out.astype("str")


class DecodeParams(Params):
    codelist: str | None = Field(None, description="codelist of the decoded variable (TRTEST)")
    from_codelist: str | None = Field(None, description="codelist of the source (TRTESTCD)")
    map: dict[str, str] = Field(default_factory=dict, description="decodes for values not in CT")


@register("ct_decode", "value", DecodeParams, sources=(1, 1), origin="Assigned",
          summary="Decode a code through CT: the term of the paired codelist with the same "
                  "C-code (TRTESTCD 'LDIAM' -> TRTEST 'Longest Diameter').",
          describe=lambda p, s: f"Decode of {_fmt_src(s)} (the paired codelist term with the "
                                "same NCI code).",
          example=("'LDIAM'", "'Longest Diameter'"))
def ct_decode(ctx: ValueContext, args: list[Arg], p: DecodeParams) -> pd.Series:
    from sdtm.terminology import decode_table

    arg = args[0]
    src_var = arg.ref if "." not in arg.ref and not arg.ref.startswith("@") else None
    table = decode_table(ctx.spec, ctx.domain, ctx.variable, src_var, p.codelist,
                         p.from_codelist)
    table = {**table, **{k.upper(): v for k, v in p.map.items()}}
    codes = _text(arg.values.astype("str"))
    out = codes.str.upper().map(table)
    ctx.report(codes.notna() & out.isna(), arg, "SB-MAP-DECODE", "error",
               "{where}: code {value!r} has no decode ({n} records)")
    return out.astype("str")


# --------------------------------------------------------------------------------------------
# dictionary: reference data in specs/dictionaries
# --------------------------------------------------------------------------------------------

class DictionaryParams(Params):
    dictionary: str = Field(description="id of a file of specs/dictionaries (meddra-soc)")
    key: str = Field(description="column matched with the collected value (case-insensitive)")
    value: str = Field(description="column whose value is the result")

    @model_validator(mode="after")
    def _exists(self):
        from sdtm.dictionaries import lookup_table
        from studybuild.errors import SpecError

        try:
            lookup_table(self.dictionary, self.key, self.value)
        except SpecError as e:
            raise ValueError(str(e)) from None
        return self


def _describe_dictionary(p: DictionaryParams, src: list[str]) -> str:
    return (f"{p.value} of the entry of dictionary {p.dictionary} (specs/dictionaries/"
            f"{p.dictionary}.csv) whose {p.key} is {_fmt_src(src)} (case-insensitive).")


@register("dictionary", "value", DictionaryParams, sources=(1, 1), origin="Assigned",
          summary="Look a collected value up in a reference dictionary of specs/dictionaries "
                  "(e.g. a MedDRA SOC name -> its SOC code); unmatched values are findings.",
          describe=_describe_dictionary,
          example=("'Cardiac disorders' (meddra-soc, SOC_NAME -> SOC_CODE)", "10007541"))
def dictionary(ctx: ValueContext, args: list[Arg], p: DictionaryParams) -> pd.Series:
    from sdtm.dictionaries import lookup_table, norm_key

    arg = args[0]
    table = lookup_table(p.dictionary, p.key, p.value)
    collected = _text(arg.values.astype("str"))
    out = _map_unique(collected, lambda v: table.get(norm_key(v))).astype("str")
    ctx.report(collected.notna() & out.isna(), arg, "SB-MAP-DICT", "error",
               "{where}: value {value!r} is not a " + p.key + " of dictionary " +
               p.dictionary + " ({n} records); " + ctx.variable + " left empty")
    if ctx.var_type == "Num":
        return pd.to_numeric(out, errors="coerce").astype("float64")
    return out


# --------------------------------------------------------------------------------------------
# iso8601
# --------------------------------------------------------------------------------------------

class IsoParams(Params):
    formats: list[str] | None = Field(None, description="allowed collected patterns; default: "
                                                        "forms.yaml date_formats")
    partial: bool = Field(True, description="allow partial dates (kept partial)")

    @field_validator("formats")
    @classmethod
    def _known(cls, v):
        if v is None:
            return v
        for f in v:
            if f not in dates.FORMATS:
                raise ValueError(f"unknown date format {f!r}; known: {', '.join(dates.FORMATS)}")
        return v


def _describe_iso(p: IsoParams, src: list[str]) -> str:
    fm = ", ".join(p.formats) if p.formats else "the study's date formats"
    text = f"{_fmt_src(src)} ({fm}) written as ISO 8601"
    if p.partial:
        text += "; unknown day or month (UN/UNK) kept as a partial date"
    return text + "; invalid dates are reported, never imputed."


@register("iso8601", "value", IsoParams, sources=(1, 2), origin="Collected",
          summary="Collected date (+ optional time) to ISO 8601; partial dates kept partial; "
                  "invalid dates become findings, never guesses.",
          describe=_describe_iso, example=("'UN-MAR-2021'", "'2021-03'"))
def iso8601(ctx: ValueContext, args: list[Arg], p: IsoParams) -> pd.Series:
    formats = tuple(p.formats or ctx.spec.forms.date_formats)
    arg = args[0]
    times = args[1].values if len(args) > 1 else None
    if arg.form is None and not arg.ref.startswith("@"):
        # an SDTM variable of this record: already ISO 8601
        iso, bad = arg.values.astype("str"), pd.Series(False, index=arg.values.index)
    else:
        iso, bad = parsed_dates(ctx, arg, formats, args[1] if len(args) > 1 else None)
    ctx.report(bad, arg, "SB-MAP-DATE", "error",
               "{where}: {value!r} is not a valid date in " + "/".join(formats) +
               " ({n} records); " + ctx.variable + " left empty, never imputed (correct it at "
               "source, or add its pattern to date_formats in forms.yaml)")
    if not p.partial:
        part = iso.notna() & ~dates.is_complete(iso)
        ctx.report(part, arg, "SB-MAP-DATE-PARTIAL", "error",
                   "{where}: partial date {value!r} is not allowed for " + ctx.variable +
                   " ({n} records); left empty")
        iso = iso.where(~part)
    return iso.astype("str")


# --------------------------------------------------------------------------------------------
# condition, combine
# --------------------------------------------------------------------------------------------

class ConditionParams(Params):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    test: Literal["present", "absent", "equals", "not_equals"] = "present"
    values: list[str] = Field(default_factory=list)
    then: str | float | None = None
    then_source: int | None = None
    else_: str | float | None = Field(None, alias="else")
    else_source: int | None = None

    @model_validator(mode="after")
    def _check(self):
        if self.test in ("equals", "not_equals") and not self.values:
            raise ValueError(f"test {self.test!r} needs 'values'")
        if self.then is None and self.then_source is None:
            raise ValueError("give 'then' (a value) or 'then_source' (a source index)")
        return self


def _describe_condition(p: ConditionParams, src: list[str]) -> str:
    first = src[0] if src else "?"
    test = {"present": f"{first} has a value", "absent": f"{first} is empty",
            "equals": f"{first} is one of {p.values}",
            "not_equals": f"{first} is not one of {p.values}"}[p.test]

    def val(v, i):
        return f"the value of {src[i]}" if i is not None and i < len(src) else repr(v)

    text = f"{val(p.then, p.then_source)} when {test}"
    if p.else_ is not None or p.else_source is not None:
        text += f", otherwise {val(p.else_, p.else_source)}"
    return text[0].upper() + text[1:] + "."


@register("condition", "value", ConditionParams, sources=(1, None), origin="Derived",
          summary="A value (or another source's value) when a source has a value / equals "
                  "given values; else another value or empty.",
          describe=_describe_condition, example=("death date '2022-01-05'", "'Y'"))
def condition(ctx: ValueContext, args: list[Arg], p: ConditionParams) -> pd.Series:
    test_values = _norm(args[0].values.astype("str")) if not \
        pd.api.types.is_numeric_dtype(args[0].values) else args[0].values
    if p.test == "present":
        cond = test_values.notna()
    elif p.test == "absent":
        cond = test_values.isna()
    else:
        wanted = {v.strip().upper() for v in p.values}
        hit = test_values.astype("str").isin(wanted) & test_values.notna()
        cond = hit if p.test == "equals" else (~hit & test_values.notna())

    def pick(value, index):
        if index is not None:
            s = args[index].values
            return s.astype("float64") if ctx.var_type == "Num" else s.astype("str")
        if value is None:
            return pd.Series(np.nan if ctx.var_type == "Num" else pd.NA,
                             index=ctx.records.index,
                             dtype="float64" if ctx.var_type == "Num" else "str")
        return hardcode(ctx, [], HardcodeParams(value=value))

    yes = pick(p.then, p.then_source)
    no = pick(p.else_, p.else_source)
    out = yes.where(cond.to_numpy(), no)
    return out.astype("float64" if ctx.var_type == "Num" else "str")


_PLACE = re.compile(r"\{(\d+)(?::0?(\d+))?\}")


class CombineParams(Params):
    template: str | None = Field(None, description="text with {0}, {1} (source values); "
                                                   "{0:02} pads numbers with zeros")
    separator: str | None = Field(None, description="join the non-empty values with this")
    upper: bool = False

    @model_validator(mode="after")
    def _one(self):
        if (self.template is None) == (self.separator is None):
            raise ValueError("give exactly one of 'template' or 'separator'")
        if self.template is not None:
            rest = _PLACE.sub("", self.template)
            if "{" in rest or "}" in rest:
                raise ValueError("template may only hold placeholders like {0} or {1:02}")
        return self


def _describe_combine(p: CombineParams, src: list[str]) -> str:
    if p.template is not None:
        def name(m):
            i = int(m.group(1))
            return f"<{src[i]}>" if i < len(src) else m.group(0)
        return f"Built as '{_PLACE.sub(name, p.template)}'."
    return f"The non-empty values of {_fmt_src(src)} joined with {p.separator!r}."


@register("combine", "value", CombineParams, sources=(1, None), origin="Derived",
          summary="Build text from several sources with a template ('T{0:02}') or a separator.",
          describe=_describe_combine, example=("'3' (template 'T{0:02}')", "'T03'"))
def combine(ctx: ValueContext, args: list[Arg], p: CombineParams) -> pd.Series:
    vals = [number_text(a.values) if pd.api.types.is_numeric_dtype(a.values)
            else _text(a.values.astype("str")) for a in args]
    if p.separator is not None:
        out = pd.Series("", index=ctx.records.index, dtype="str")
        seen = pd.Series(False, index=ctx.records.index)
        for v in vals:
            add = v.notna()
            out = out.where(~add, out + np.where(seen & add, p.separator, "") + v.fillna(""))
            seen = seen | add
        out = out.where(seen)
    else:
        template = p.template or ""
        pieces: list[pd.Series | str] = []
        pos = 0
        ok = pd.Series(True, index=ctx.records.index)
        for m in _PLACE.finditer(template):
            pieces.append(template[pos:m.start()])
            i = int(m.group(1))
            if i >= len(vals):
                v = pd.Series(pd.NA, index=ctx.records.index, dtype="str")
            else:
                v = vals[i]
            if m.group(2):
                width = int(m.group(2))
                digits = v.str.fullmatch(r"\d+").fillna(False)
                v = v.where(~digits, v.str.zfill(width))
            ok &= v.notna()
            pieces.append(v)
            pos = m.end()
        pieces.append(template[pos:])
        out = pd.Series("", index=ctx.records.index, dtype="str")
        for piece in pieces:
            out = out + (piece.fillna("") if isinstance(piece, pd.Series) else piece)
        out = out.where(ok)
    if p.upper:
        out = out.str.upper()
    return out.astype("str")


# --------------------------------------------------------------------------------------------
# unit conversion
# --------------------------------------------------------------------------------------------

# each unit's size in the dimension's base unit (mm for length, mg for mass)
UNIT_SIZES: dict[str, tuple[str, float]] = {
    "MM": ("length", 1.0), "MILLIMETER": ("length", 1.0), "MILLIMETERS": ("length", 1.0),
    "MILLIMETRE": ("length", 1.0), "MILLIMETRES": ("length", 1.0),
    "CM": ("length", 10.0), "CENTIMETER": ("length", 10.0), "CENTIMETERS": ("length", 10.0),
    "CENTIMETRE": ("length", 10.0), "CENTIMETRES": ("length", 10.0),
    "M": ("length", 1000.0), "IN": ("length", 25.4), "INCH": ("length", 25.4),
    "UG": ("mass", 0.001), "MCG": ("mass", 0.001), "MG": ("mass", 1.0), "G": ("mass", 1000.0),
}


class UnitParams(Params):
    to: str = Field(description="target unit, e.g. mm")
    from_unit: str | None = Field(None, description="unit of every value when no unit source")
    factors: dict[str, float] = Field(default_factory=dict,
                                      description="unit -> factor to the target unit (adds to "
                                                  "or overrides the built-in length/mass table)")
    special: dict[str, float] = Field(default_factory=dict,
                                      description="text results -> value in the target unit "
                                                  "(e.g. TOO SMALL TO MEASURE: 5)")
    digits: int | None = Field(None, description="round to this many decimals")

    @model_validator(mode="after")
    def _known_target(self):
        if self.to.upper() not in UNIT_SIZES and not self.factors:
            raise ValueError(f"unknown target unit {self.to!r}; give 'factors'")
        return self

    def factor(self, unit: str) -> float | None:
        u = " ".join(unit.strip().upper().split())
        facs = {k.strip().upper(): v for k, v in self.factors.items()}
        if u in facs:
            return facs[u]
        if u == self.to.strip().upper():
            return 1.0
        src, dst = UNIT_SIZES.get(u), UNIT_SIZES.get(self.to.strip().upper())
        if src is None or dst is None or src[0] != dst[0]:
            return None
        return src[1] / dst[1]


def _describe_unit(p: UnitParams, src: list[str]) -> str:
    text = f"{src[0] if src else '?'} converted to {p.to}"
    if len(src) > 1:
        text += f" from the unit in {src[1]}"
    elif p.from_unit:
        text += f" from {p.from_unit}"
    text += " (1 cm = 10 mm)" if p.to.lower() == "mm" else ""
    if p.special:
        text += "; " + ", ".join(f"{k!r} counts as {v:g} {p.to}" for k, v in p.special.items())
    return text + "."


@register("unit", "value", UnitParams, sources=(1, 2), origin="Derived",
          summary="Convert a collected number to a standard unit (cm -> mm) using the "
                  "collected unit or a fixed one; undeclared units are findings.",
          describe=_describe_unit, example=("'2.3' 'cm' (to mm)", "23.0"))
def unit(ctx: ValueContext, args: list[Arg], p: UnitParams) -> pd.Series:
    arg = args[0]
    txt = _text(arg.values.astype("str"))
    special = {k.strip().upper(): v for k, v in p.special.items()}
    spec_val = _norm(txt).map(special)
    num = pd.to_numeric(txt, errors="coerce")
    bad = txt.notna() & num.isna() & spec_val.isna()
    ctx.report(bad, arg, "SB-MAP-NUM", "error",
               "{where}: value {value!r} is not a number ({n} records); " + ctx.variable +
               " left empty")
    if len(args) > 1:
        units = _text(args[1].values.astype("str"))
        uarg = args[1]
    else:
        units = pd.Series(p.from_unit, index=txt.index, dtype="str")
        uarg = arg
    factor = pd.to_numeric(_map_unique(units, p.factor), errors="coerce")
    no_unit = num.notna() & units.isna()
    ctx.report(no_unit, arg, "SB-MAP-UNIT", "error",
               "{where}: value {value} has no unit ({n} records); " + ctx.variable +
               " left empty")
    undeclared = num.notna() & units.notna() & factor.isna()
    ctx.report(undeclared, uarg, "SB-MAP-UNIT", "error",
               "{where}: unit {value!r} cannot be converted to " + p.to +
               " ({n} records; declare it in the spec's 'factors'); " + ctx.variable +
               " left empty")
    out = (num * factor).astype("float64")
    out = out.where(spec_val.isna(), spec_val.astype("float64"))
    if p.digits is not None:
        out = out.round(p.digits)
    return out.astype("float64")


# --------------------------------------------------------------------------------------------
# treatment facts and arms (from study.yaml)
# --------------------------------------------------------------------------------------------

class TreatmentParams(Params):
    attribute: Literal["dose", "unit", "form", "route", "frequency", "name"]


@register("treatment", "value", TreatmentParams, sources=(1, 1), origin="Protocol",
          summary="A fact of the study treatment named by the source (EXTRT), from "
                  "study.yaml: dose, unit, form, route or frequency.",
          describe=lambda p, s: f"The {p.attribute} of the treatment in {s[0] if s else '?'} "
                                "as planned in the protocol (study.yaml).",
          example=("'SURUFATINIB' (attribute route)", "'ORAL'"))
def treatment(ctx: ValueContext, args: list[Arg], p: TreatmentParams) -> pd.Series:
    arg = args[0]
    names = _norm(arg.values.astype("str"))
    table = {t.name.upper(): getattr(t, p.attribute) for t in ctx.study.treatments}
    out = names.map(table)
    ctx.report(names.notna() & out.isna(), arg, "SB-MAP-TRT", "error",
               "{where}: treatment {value!r} is not in study.yaml treatments ({n} records)")
    if ctx.var_type == "Num":
        return pd.to_numeric(out, errors="coerce").astype("float64")
    return out.astype("str")


class ArmParams(Params):
    output: Literal["code", "name"] = "code"
    arm: str | None = Field(None, description="ARMCD every record with all sources present "
                                              "gets (single-arm studies)")


def _arm_table(ctx: ValueContext) -> tuple[dict[str, str], dict[str, str]]:
    by_code = {a.armcd.upper(): a.armcd for a in ctx.study.arms}
    by_name = {a.arm.upper(): a.armcd for a in ctx.study.arms}
    return by_code, by_name


def _arm_out(ctx: ValueContext, codes: pd.Series, output: str) -> pd.Series:
    if output == "code":
        return codes.astype("str")
    names = {a.armcd: a.arm for a in ctx.study.arms}
    return codes.map(names).astype("str")


def _describe_arm(p: ArmParams, src: list[str]) -> str:
    what = "ARMCD" if p.output == "code" else "ARM"
    if p.arm:
        return (f"{what} of arm {p.arm} (study.yaml) for subjects with "
                f"{' and '.join(src) if src else 'a record'}; empty otherwise.")
    return f"{what} of the arm in {_fmt_src(src)} (matched to study.yaml arms by code or name)."


@register("arm", "value", ArmParams, sources=(0, None), origin="Assigned",
          summary="Planned arm code or name: the collected arm (code or name) matched to "
                  "study.yaml, or a fixed arm for subjects whose sources are all present.",
          describe=_describe_arm, example=("enrolment date '2021-04-01' (arm SURU300)",
                                           "'SURU300'"))
def arm(ctx: ValueContext, args: list[Arg], p: ArmParams) -> pd.Series:
    by_code, by_name = _arm_table(ctx)
    if p.arm is not None:
        present = pd.Series(True, index=ctx.records.index)
        for a in args:
            present &= a.values.notna()
        codes = pd.Series(by_code.get(p.arm.upper()), index=ctx.records.index,
                          dtype="str").where(present)
        return _arm_out(ctx, codes, p.output)
    if not args:
        codes = pd.Series(pd.NA, index=ctx.records.index, dtype="str")
        return _arm_out(ctx, codes, p.output)
    arg = args[0]
    got = _norm(arg.values.astype("str"))
    codes = got.map(by_code)
    codes = codes.where(codes.notna(), got.map(by_name))
    ctx.report(got.notna() & codes.isna(), arg, "SB-MAP-ARM", "error",
               "{where}: arm {value!r} is not an arm of study.yaml ({n} records)")
    return _arm_out(ctx, codes.astype("str"), p.output)


class ActualArmParams(Params):
    output: Literal["code", "name"] = "code"


@register("actual_arm", "value", ActualArmParams, sources=(2, 2), origin="Derived",
          summary="Actual arm: the planned arm (source 1) for treated subjects (source 2, e.g. "
                  "RFXSTDTC, has a value); empty for subjects never treated.",
          describe=lambda p, s: f"{'ACTARMCD' if p.output == 'code' else 'ACTARM'}: the "
                                f"planned arm {s[0] if s else ''} when {s[1] if len(s) > 1 else ''}"
                                " has a value (the subject was treated as planned); empty "
                                "otherwise.",
          example=("'SURU300', '2021-04-02'", "'SURU300'"))
def actual_arm(ctx: ValueContext, args: list[Arg], p: ActualArmParams) -> pd.Series:
    codes = _text(args[0].values.astype("str"))
    by_code, by_name = _arm_table(ctx)
    codes = _norm(codes).map(by_code).where(_norm(codes).map(by_code).notna(),
                                            _norm(codes).map(by_name))
    treated = args[1].values.notna()
    return _arm_out(ctx, codes.where(treated).astype("str"), p.output)


class ArmNullParams(Params):
    not_assigned: Literal["SCREEN FAILURE", "NOT ASSIGNED"] = "SCREEN FAILURE"


@register("arm_null_reason", "value", ArmNullParams, sources=(2, 2), origin="Derived",
          summary="ARMNRS: 'SCREEN FAILURE' / 'NOT ASSIGNED' when the planned arm (source 1) "
                  "is empty, 'ASSIGNED, NOT TREATED' when the treatment start (source 2) is.",
          describe=lambda p, s: f"'{p.not_assigned}' when {s[0] if s else 'ARMCD'} is empty; "
                                f"'ASSIGNED, NOT TREATED' when {s[1] if len(s) > 1 else ''} is "
                                "empty; otherwise empty.",
          example=("'SURU300', empty", "'ASSIGNED, NOT TREATED'"))
def arm_null_reason(ctx: ValueContext, args: list[Arg], p: ArmNullParams) -> pd.Series:
    assigned = args[0].values.notna()
    treated = args[1].values.notna()
    out = pd.Series(pd.NA, index=ctx.records.index, dtype="str")
    out = out.where(assigned | treated, p.not_assigned)
    out = out.where(~(assigned & ~treated), "ASSIGNED, NOT TREATED")
    return out.astype("str")


class CountryParams(Params):
    map: dict[str, str] = Field(default_factory=dict,
                                description="collected value -> ISO 3166-1 alpha-3")


@register("country", "value", CountryParams, sources=(0, 1), origin="Collected",
          summary="ISO 3166-1 alpha-3 country: the collected country (name, alpha-2 or "
                  "alpha-3, case-insensitive) or, with no source, the site's country in "
                  "study.yaml.",
          describe=lambda p, s: (f"{s[0]} as ISO 3166-1 alpha-3 (name, alpha-2 or alpha-3 "
                                 "matched case-insensitively)." if s else
                                 "The country of the subject's site (study.yaml), ISO 3166-1 "
                                 "alpha-3."),
          example=("'China'", "'CHN'"))
def country(ctx: ValueContext, args: list[Arg], p: CountryParams) -> pd.Series:
    from studybuild.standards import country_lookup

    if not args:
        sites = {s.siteid: s.country for s in ctx.study.sites}
        subj = ctx.state.subjects.set_index("USUBJID")["SITEID"]
        site = ctx.usubjid.map(subj)
        out = site.map(sites)
        ctx.report(site.notna() & out.isna(), Arg(site, "SITEID"), "SB-MAP-COUNTRY", "error",
                   "site {value!r} is not in study.yaml sites ({n} records); COUNTRY left "
                   "empty")
        return out.astype("str")
    arg = args[0]
    got = _norm(arg.values.astype("str"))
    table = dict(country_lookup())
    table.update({k.strip().upper(): v for k, v in p.map.items()})
    out = got.map(table)
    ctx.report(got.notna() & out.isna(), arg, "SB-MAP-COUNTRY", "error",
               "{where}: country {value!r} is not an ISO 3166-1 country name or code ({n} "
               "records); add it to the map")
    return out.astype("str")


# --------------------------------------------------------------------------------------------
# age, subject-level dates
# --------------------------------------------------------------------------------------------

class AgeParams(Params):
    unit: Literal["YEARS"] = "YEARS"
    partial: Literal["mid", "missing"] = Field(
        "mid", description="partial birth dates: 'mid' imputes day 15 / 1 July when the age "
                           "depends on them, 'missing' leaves AGE empty then")


def _parts(iso: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    s = iso.astype("str")
    y = pd.to_numeric(s.str.slice(0, 4).where(s.str.len() >= 4), errors="coerce")
    m = pd.to_numeric(s.str.slice(5, 7).where(s.str.len() >= 7), errors="coerce")
    d = pd.to_numeric(s.str.slice(8, 10).where(s.str.len() >= 10), errors="coerce")
    return y, m, d


def _years_between(by, bm, bd, ry, rm, rd) -> pd.Series:
    before = (rm < bm) | ((rm == bm) & (rd < bd))
    return (ry - by - before.astype("float64")).astype("float64")


@register("age", "value", AgeParams, sources=(2, 2), origin="Derived",
          summary="Age in completed years at a reference date (source 2, e.g. RFICDTC) from a "
                  "birth date (source 1) that may be partial.",
          describe=lambda p, s: (f"Completed years from {s[0] if s else 'BRTHDTC'} to "
                                 f"{s[1] if len(s) > 1 else 'RFICDTC'}"
                                 + ("; a partial birth date is completed with day 15 / 1 July "
                                    "only when the age depends on it." if p.partial == "mid"
                                    else "; empty when a partial birth date leaves it "
                                         "undetermined.")),
          example=("'1960-07', '2021-03-10'", "60.0"))
def age(ctx: ValueContext, args: list[Arg], p: AgeParams) -> pd.Series:
    by, bm, bd = _parts(args[0].values)
    ry, rm, rd = _parts(args[1].values)
    ref_ok = rd.notna()
    # bounds over every birth date the partial value allows
    lo_m, hi_m = bm.fillna(12), bm.fillna(1)
    lo_d = bd.fillna(31)   # latest birth day -> youngest
    hi_d = bd.fillna(1)
    youngest = _years_between(by, lo_m, lo_d, ry, rm, rd)
    oldest = _years_between(by, hi_m, hi_d, ry, rm, rd)
    exact = youngest == oldest
    # 'mid': an unknown day is the 15th, an unknown month (and day) is 1 July
    imp_m = bm.fillna(7)
    imp_d = bd.where(bd.notna(), pd.Series(np.where(bm.notna(), 15.0, 1.0), index=bd.index))
    mid = _years_between(by, imp_m, imp_d, ry, rm, rd)
    out = youngest.where(exact, mid if p.partial == "mid" else np.nan)
    out = out.where(ref_ok & by.notna())
    imputed = ref_ok & by.notna() & ~exact
    if imputed.any() and p.partial == "mid":
        ctx.state.findings.add(
            "SB-MAP-AGE-IMPUTED", "notice",
            f"AGE for {int(imputed.sum())} subject(s) depends on the unknown part of a partial "
            "birth date; computed with day 15 / 1 July", dataset=ctx.domain, variable="AGE")
    no_ref = args[1].values.notna() & ~ref_ok
    ctx.report(no_ref, args[1], "SB-MAP-AGE", "warning",
               "reference date {value!r} is partial; AGE left empty ({n} records)")
    return out.astype("float64")


class Where(Params):
    variable: str = Field(description="DOMAIN.VAR of the domain being searched")
    present: bool | None = None
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    in_: list[str] | None = Field(None, alias="in")
    not_in: list[str] | None = None
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def mask(self, frame: pd.DataFrame, var: str) -> pd.Series:
        s = frame[var] if var in frame else pd.Series(pd.NA, index=frame.index)
        m = pd.Series(True, index=frame.index)
        if self.present is not None:
            m &= s.notna() if self.present else s.isna()
        num = pd.to_numeric(s, errors="coerce") if any(
            v is not None for v in (self.gt, self.ge, self.lt, self.le)) else None
        if self.gt is not None:
            m &= num > self.gt
        if self.ge is not None:
            m &= num >= self.ge
        if self.lt is not None:
            m &= num < self.lt
        if self.le is not None:
            m &= num <= self.le
        up = s.astype("str").str.upper()
        if self.in_ is not None:
            m &= up.isin([v.upper() for v in self.in_])
        if self.not_in is not None:
            m &= ~up.isin([v.upper() for v in self.not_in]) | s.isna()
        return m.fillna(False).astype(bool)

    def text(self) -> str:
        parts = []
        if self.present is not None:
            parts.append("has a value" if self.present else "is empty")
        for op, word in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            v = getattr(self, op)
            if v is not None:
                parts.append(f"{word} {v:g}")
        if self.in_ is not None:
            parts.append(f"in {self.in_}")
        if self.not_in is not None:
            parts.append(f"not in {self.not_in}")
        return f"{self.variable} " + " and ".join(parts)


class SubjectDateParams(Params):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    pick: Literal["first", "last"]
    from_: list[str] = Field(default_factory=list, alias="from",
                             description="DOMAIN.VAR of other domains (EX.EXSTDTC)")
    raw: list[str] = Field(default_factory=list,
                           description="form.FIELD of raw forms with several rows per "
                                       "subject (dates parsed with the study's formats)")
    where: list[Where] = Field(default_factory=list)
    complete_only: bool = Field(True, description="compare complete dates only")
    empty_if_missing: bool = Field(False, description="empty when any selected record of a "
                                                      "'from' domain lacks the date (ongoing)")
    cutoff_if_missing: bool = Field(False, description="like empty_if_missing, but the data "
                                                       "cut-off date (study.yaml) instead of "
                                                       "empty: the subject is still ongoing "
                                                       "at the cut-off")

    @model_validator(mode="after")
    def _one_missing_rule(self):
        if self.empty_if_missing and self.cutoff_if_missing:
            raise ValueError("give empty_if_missing or cutoff_if_missing, not both")
        return self

    @field_validator("from_")
    @classmethod
    def _dotted(cls, v):
        for item in v:
            if not re.fullmatch(r"[A-Z][A-Z0-9]{1,7}\.[A-Z][A-Z0-9_]{0,7}", item):
                raise ValueError(f"'from' items are DOMAIN.VARIABLE, got {item!r}")
        return v


def _describe_subject_date(p: SubjectDateParams, src: list[str]) -> str:
    items = list(src) + list(p.from_) + list(p.raw)
    text = f"The {'earliest' if p.pick == 'first' else 'latest'} " + \
        ("complete " if p.complete_only else "") + f"date among {', '.join(items)}"
    if p.where:
        text += " (records where " + "; ".join(w.text() for w in p.where) + ")"
    if p.empty_if_missing:
        text += "; empty while any of those records has no date (ongoing)"
    if p.cutoff_if_missing:
        text += ("; the data cut-off date while any of those records has no date (still "
                 "ongoing at the cut-off)")
    return text + "."


def _needs_subject_date(p: SubjectDateParams) -> set[str]:
    return {f.split(".")[0] for f in p.from_} | {w.variable.split(".")[0] for w in p.where}


@register("subject_date", "value", SubjectDateParams, sources=(0, None), origin="Derived",
          summary="The first or last date per subject among variables of this record, other "
                  "domains (EX.EXSTDTC, with record filters) and raw forms.",
          describe=_describe_subject_date, needs=_needs_subject_date,
          example=("EX.EXSTDTC '2021-04-02', '2021-05-01' (pick first)", "'2021-04-02'"))
def subject_date(ctx: ValueContext, args: list[Arg], p: SubjectDateParams) -> pd.Series:
    frames = []
    blocked: set[str] = set()
    recs = ctx.records
    for a in args:
        frames.append(pd.DataFrame({"USUBJID": recs["USUBJID"].to_numpy(),
                                    "D": a.values.astype("str").to_numpy(),
                                    "SRC": "", "REC": np.nan, "ROW": np.nan}))
    for ref in p.from_:
        dom, var = ref.split(".")
        frame = ctx.state.domains.get(dom)
        if frame is None or var not in frame:
            continue
        keep = pd.Series(True, index=frame.index)
        for w in p.where:
            wd, wv = w.variable.split(".")
            if wd == dom:
                keep &= w.mask(frame, wv)
        f = frame[keep]
        if p.empty_if_missing or p.cutoff_if_missing:
            blocked.update(f.loc[f[var].isna(), "USUBJID"].tolist())
        frames.append(pd.DataFrame({"USUBJID": f["USUBJID"].to_numpy(),
                                    "D": f[var].astype("str").to_numpy(), "SRC": dom,
                                    "REC": f["_REC"].to_numpy(dtype="float64"),
                                    "ROW": np.nan}))
    for ref in p.raw:
        form, fieldname = ref.split(".", 1)
        raw = ctx.state.raw_forms.get(form)
        if raw is None:
            continue
        iso, _bad = dates.parse_dates(raw[fieldname], tuple(ctx.spec.forms.date_formats))
        frames.append(pd.DataFrame({"USUBJID": raw["USUBJID"].to_numpy(),
                                    "D": iso.to_numpy(), "SRC": "raw:" + form, "REC": np.nan,
                                    "ROW": raw["_ROW"].to_numpy(dtype="float64")}))
    if not frames:
        return pd.Series(pd.NA, index=recs.index, dtype="str")
    allc = pd.concat(frames, ignore_index=True)
    allc = allc[allc["D"].notna()]
    if p.complete_only:
        allc = allc[dates.is_complete(allc["D"])]
    allc = allc.assign(K=allc["D"].str.slice(0, 10))
    allc = allc.sort_values(["USUBJID", "K", "SRC"], kind="stable")
    pick = allc.drop_duplicates("USUBJID", keep="first" if p.pick == "first" else "last")
    pick = pick[~pick["USUBJID"].isin(blocked)].set_index("USUBJID")
    out = recs["USUBJID"].map(pick["D"]).astype("str")
    if p.cutoff_if_missing and blocked:
        ongoing = recs["USUBJID"].isin(blocked)
        out = out.where(~ongoing, ctx.study.dates.data_cutoff.isoformat()).astype("str")
    # lineage: the raw row or the SDTM record that gave the date
    chosen = recs[["USUBJID", "_REC"]].astype({"USUBJID": "str"}).merge(
        pick.reset_index().astype({"USUBJID": "str"}), on="USUBJID", how="inner")  # empty: dtypes
    raw_hit = chosen[chosen["ROW"].notna()]
    if len(raw_hit):
        ctx.add_lineage(raw_hit["_REC"], raw_hit["SRC"].str.slice(4), raw_hit["ROW"])
    dom_hit = chosen[chosen["REC"].notna() & (chosen["SRC"] != "")]
    for dom, g in dom_hit.groupby("SRC", sort=True):
        lin = ctx.state.lineage.get(dom)
        if lin is None:
            continue
        j = g[["_REC", "REC"]].merge(lin.rename(columns={"_REC": "REC"}), on="REC")
        ctx.add_lineage(j["_REC"], j["FORM"], j["RAW_ROW"])
    return out


class OrderedParams(Params):
    order: list[str] = Field(min_length=1, description="values from least to most; the result "
                                                       "is the highest found among the sources")
    map: dict[str, str] = Field(default_factory=dict, description="collected -> value of order")


@register("max_ordered", "value", OrderedParams, sources=(1, None), origin="Derived",
          summary="The highest-ranked value among several sources by a given order (e.g. the "
                  "strongest relationship or action over two study drugs).",
          describe=lambda p, s: f"The highest of {_fmt_src(s)} in the order "
                                f"{' < '.join(p.order)}.",
          example=("'Not related', 'Possibly related'", "'POSSIBLY RELATED'"))
def max_ordered(ctx: ValueContext, args: list[Arg], p: OrderedParams) -> pd.Series:
    rank = {" ".join(v.upper().split()): i for i, v in enumerate(p.order)}
    extra = {" ".join(k.upper().split()): rank.get(" ".join(v.upper().split()))
             for k, v in p.map.items()}
    best = pd.Series(-1.0, index=ctx.records.index)
    for a in args:
        vals = _norm(a.values.astype("str"))
        r = vals.map({**rank, **{k: v for k, v in extra.items() if v is not None}})
        ctx.report(vals.notna() & r.isna(), a, "SB-MAP-ORDER", "error",
                   "{where}: value {value!r} is not one of the ordered values ({n} records)")
        best = np.fmax(best, r.astype("float64").fillna(-1.0))
    names = pd.Series(p.order, dtype="str")
    out = pd.Series(pd.NA, index=ctx.records.index, dtype="str")
    has = best >= 0
    out[has] = names.iloc[best[has].astype(int).to_numpy()].to_numpy()
    return out.astype("str")


# --------------------------------------------------------------------------------------------
# visits
# --------------------------------------------------------------------------------------------

class VisitReference(Params):
    form: str = Field(description="raw form with one row per performed visit (sv)")
    name: str = Field(description="its visit-name field (InstanceName)")
    date: str = Field(description="its visit-date field (VISDAT)")


class VisitParams(Params):
    map: dict[str, str] | str = Field(default_factory=dict,
                                      description="collected visit/folder name -> planned VISIT, "
                                                  "or the name of a map in codelists.yaml")
    unscheduled: list[str] = Field(default_factory=lambda: ["UNSCHEDULED", "UNSCHED", "UNS"],
                                   description="names (or their start) of unscheduled visits")
    window: bool = Field(False, description="names not in the schedule are placed by the "
                                            "study day of the date source in the visit windows")
    step: float = Field(0.01, gt=0, lt=1, description="VISITNUM step of unscheduled visits "
                                                      "after the previous planned visit, and of "
                                                      "repeats of a planned visit")
    reference: VisitReference | None = Field(
        None, description="number unscheduled visits from this form's visits, so that every "
                          "domain gives an unscheduled visit the same VISITNUM")
    output: Literal["auto", "visitnum", "visit", "visitdy", "planned"] = Field(
        "auto", description="what to return; 'auto' follows the variable (VISITNUM, VISIT, "
                            "VISITDY); 'planned' is Y for a visit of the schedule")


def _describe_visit(p: VisitParams, src: list[str]) -> str:
    text = (f"Planned visit matched by name from {src[0] if src else '?'} (study.yaml visit "
            "schedule")
    if p.map:
        text += " and the study map"
    text += "); a repeat 'NAME (n)' of a planned visit gets VISITNUM + " + \
        f"{p.step:g} x (n - 1)"
    if p.window:
        text += "; other names placed by the study day of " + \
            (src[1] if len(src) > 1 else "the date") + " in the visit windows"
    text += (f"; unscheduled visits numbered after the previous planned visit (by date"
             + (f", among the visits in {p.reference.form}.{p.reference.name}"
                if p.reference else "") +
             f") in steps of {p.step:g}, VISIT 'UNSCHEDULED <VISITNUM>'.")
    return text


def _needs_visit(p: VisitParams) -> set[str]:
    return {"DM"} if p.window else set()


def visit_table(study) -> pd.DataFrame:
    vs = study.all_visits()
    return pd.DataFrame({
        "VISITNUM": [float(v.visitnum) for v in vs], "VISIT": [v.visit for v in vs],
        "VISITDY": [float(v.day) if v.day is not None else np.nan for v in vs],
        "LO": [float(v.window[0]) if v.window else np.nan for v in vs],
        "HI": [float(v.window[1]) if v.window else np.nan for v in vs]})


@register("visit", "value", VisitParams, sources=(1, 2), origin="Derived",
          summary="VISITNUM / VISIT / VISITDY from the collected visit name and date: planned "
                  "visits by name (or study day in the window), repeats 'NAME (n)' and "
                  "unscheduled visits numbered after the previous planned one.",
          describe=_describe_visit, needs=_needs_visit,
          example=("'Cycle 2 Day 1'", "VISITNUM 102, VISIT 'CYCLE 2 DAY 1'"))
def visit(ctx: ValueContext, args: list[Arg], p: VisitParams) -> pd.Series:
    cache = ctx.state.__dict__.setdefault("_visit_cache", {})
    key = (ctx.domain, ctx.block, tuple(a.ref for a in args), p.model_dump_json())
    if key not in cache:
        cache[key] = _visits(ctx, args, p)
    num, name, vday, planned = cache[key]
    out = p.output if p.output != "auto" else \
        {"VISITNUM": "visitnum", "VISITDY": "visitdy"}.get(ctx.variable, "visit")
    if out == "visitnum":
        return num
    if out == "visitdy":
        return vday
    if out == "planned":
        return pd.Series("Y", index=num.index, dtype="str").where(planned)
    return name


_INSTANCE = r"^(?P<base>.*?)\s*\((?P<n>\d+)\)$"


def _split_instance(names: pd.Series) -> tuple[pd.Series, pd.Series]:
    if len(names) >= 4096:       # visit names repeat: split each distinct name once
        codes, uniq = pd.factorize(names, use_na_sentinel=False)
        if len(uniq) * 2 <= len(names):
            base, n = _split_instance(pd.Series(uniq, dtype=names.dtype))
            base, n = base.iloc[codes], n.iloc[codes]
            base.index = n.index = names.index
            return base, n
    parts = names.str.extract(_INSTANCE)
    base = parts["base"].where(parts["base"].notna(), names).astype("str")
    n = pd.to_numeric(parts["n"], errors="coerce").astype("float64")
    return base, n


def _visit_map(spec, p: VisitParams) -> dict[str, str]:
    if isinstance(p.map, str):
        return dict(spec.codelists.maps.get(p.map, {}))
    return dict(p.map)


def _planned(p: VisitParams, table: pd.DataFrame, names: pd.Series, vmap: dict[str, str]
             ) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    """(VISITNUM of planned names, is-unscheduled, base name, instance) for normalised names."""
    by_name = dict(zip(table["VISIT"].str.upper(), table["VISITNUM"]))
    lookup = dict(by_name)
    for k, v in vmap.items():
        lookup[" ".join(k.strip().upper().split())] = by_name.get(v.strip().upper())
    base, inst = _split_instance(names)
    num = names.map(lookup).astype("float64")
    from_base = num.isna() & base.notna()
    num = num.where(~from_base, base.map(lookup).astype("float64"))
    repeat = from_base & num.notna() & inst.notna()
    num = num.where(~repeat, num + p.step * (inst - 1))
    prefixes = tuple(u.strip().upper() for u in p.unscheduled)
    unsched = names.notna() & num.isna() & base.str.startswith(prefixes).fillna(False)
    return num.round(6), unsched, base, inst.where(repeat)


def _number_unscheduled(subj: pd.Series, when: pd.Series, num: pd.Series,
                        unsched: pd.Series, step: float,
                        more_planned: pd.DataFrame | None = None) -> pd.Series:
    """VISITNUM of unscheduled records: previous planned visit of the subject by date + step
    x rank of the date among that subject's unscheduled dates after it. ``more_planned``
    (USUBJID, T, N) adds planned visits seen elsewhere (the reference visit form)."""
    out = pd.Series(np.nan, index=num.index, dtype="float64")
    t = dates.to_datetime(when)
    planned = pd.DataFrame({"USUBJID": subj, "T": t, "N": num})
    planned = planned[num.notna() & ~unsched & t.notna()]
    if more_planned is not None and len(more_planned):
        planned = pd.concat([planned, more_planned], ignore_index=True)
    planned = planned.groupby(["USUBJID", "T"], sort=False)["N"].max().reset_index()
    uns = pd.DataFrame({"USUBJID": subj[unsched], "T": t[unsched], "I": num.index[unsched]})
    uns = uns.dropna(subset=["T"]).sort_values("T", kind="stable")
    if not len(uns):
        return out
    if len(planned):
        m = pd.merge_asof(uns, planned.sort_values("T"), on="T", by="USUBJID",
                          direction="backward")
    else:
        m = uns.assign(N=np.nan)
    m["N"] = m["N"].fillna(0.0)
    m["K"] = m.groupby(["USUBJID", "N"], sort=False)["T"].rank(method="dense")
    out[m["I"].to_numpy()] = (m["N"] + step * m["K"]).round(6).to_numpy()
    return out


def _reference_visits(ctx: ValueContext, p: VisitParams, table: pd.DataFrame
                      ) -> tuple[pd.Series, pd.DataFrame]:
    """(USUBJID, visit name) -> VISITNUM of the unscheduled visits of the reference form, and
    its planned visits (USUBJID, T, N); computed once per build."""
    r = p.reference
    cache = ctx.state.__dict__.setdefault("_visit_ref_cache", {})
    vmap = _visit_map(ctx.spec, p)
    key = (r.form, r.name, r.date, p.step, tuple(p.unscheduled), tuple(sorted(vmap.items())))
    if key in cache:
        return cache[key]
    ref = ctx.state.raw_forms[r.form]
    rnames = _norm(ref[r.name].astype("str"))
    rnum, runs, _, _ = _planned(p, table, rnames, vmap)
    rwhen, _ = dates.parse_dates(ref[r.date], tuple(ctx.spec.forms.date_formats))
    rvn = _number_unscheduled(ref["USUBJID"], rwhen, rnum, runs, p.step)
    out = pd.Series(rvn[runs].to_numpy(), index=pd.MultiIndex.from_arrays(
        [ref["USUBJID"][runs], rnames[runs]]))
    out = out[~out.index.duplicated()]
    rt = dates.to_datetime(rwhen)
    keep = rnum.notna() & ~runs & rt.notna()
    planned = pd.DataFrame({"USUBJID": ref["USUBJID"][keep].to_numpy(),
                            "T": rt[keep].to_numpy(), "N": rnum[keep].to_numpy()})
    out = (out, planned)
    cache[key] = out
    return out


def _visits(ctx: ValueContext, args: list[Arg], p: VisitParams):
    table = visit_table(ctx.study)
    arg = args[0]
    names = _norm(arg.values.astype("str"))
    num, unsched, base, inst = _planned(p, table, names, _visit_map(ctx.spec, p))
    when = args[1].values.astype("str") if len(args) > 1 else \
        pd.Series(pd.NA, index=names.index, dtype="str")
    if len(args) > 1 and args[1].form is not None:
        when, _ = parsed_dates(ctx, args[1], tuple(ctx.spec.forms.date_formats))
    unknown = names.notna() & num.isna() & ~unsched
    if p.window and unknown.any():
        dm = ctx.state.domains.get("DM")
        ref = ctx.usubjid.map(dm.set_index("USUBJID")["RFSTDTC"]) if dm is not None and \
            "RFSTDTC" in dm else pd.Series(pd.NA, index=names.index, dtype="str")
        day = dates.study_day(when, ref)
        win = table.dropna(subset=["LO", "HI"])
        d = day[unknown].to_numpy()
        if len(d):
            inside = (d[:, None] >= win["LO"].to_numpy()[None, :]) & \
                (d[:, None] <= win["HI"].to_numpy()[None, :])
            dist = np.where(inside, np.abs(d[:, None] - win["VISITDY"].to_numpy()[None, :]),
                            np.inf)
            best = np.argmin(dist, axis=1)
            found = np.isfinite(dist[np.arange(len(d)), best])
            num[unknown] = np.where(found, win["VISITNUM"].to_numpy()[best], np.nan)
        outside = unknown & num.isna()
        unsched = unsched | outside       # outside every window: an unscheduled visit
        unknown = unknown & False
    ctx.report(unknown, arg, "SB-MAP-VISIT", "error",
               "{where}: visit {value!r} is not in the visit schedule, the study map or the "
               "unscheduled names ({n} records); VISITNUM left empty")
    ctx.report(names.isna(), arg, "SB-MAP-VISIT", "warning",
               "{where}: no visit name ({n} records); VISITNUM left empty", per_value=False)
    if unsched.any():
        ctx.report(unsched & dates.to_datetime(when).isna(), args[1] if len(args) > 1 else arg,
                   "SB-MAP-VISIT", "error",
                   "{where}: unscheduled visit without a complete date ({n} records); "
                   "VISITNUM left empty", per_value=False)
        table_ref, ref_planned = (None, None)
        if p.reference is not None and p.reference.form in ctx.state.raw_forms:
            table_ref, ref_planned = _reference_visits(ctx, p, table)
        local = _number_unscheduled(ctx.usubjid, when, num, unsched, p.step, ref_planned)
        if table_ref is not None:
            keys = pd.MultiIndex.from_arrays([ctx.usubjid, names])
            got = pd.Series(table_ref.reindex(keys).to_numpy(), index=names.index)
            local = got.where(got.notna(), local)
        num = num.where(~unsched, local)
    vnames = num.map(dict(zip(table["VISITNUM"], table["VISIT"])))
    rep = (inst > 1) & num.notna()
    vnames = vnames.where(~rep, base + " (" + number_text(inst) + ")")
    vnames = vnames.where(~(unsched & num.notna()), "UNSCHEDULED " + number_text(num))
    vday = num.map(dict(zip(table["VISITNUM"], table["VISITDY"]))).astype("float64")
    planned = num.notna() & ~unsched
    return num.astype("float64"), vnames.astype("str"), vday, planned


__all__ = ["NoParams", "number_text", "visit_table", "UNIT_SIZES", "Where"]
