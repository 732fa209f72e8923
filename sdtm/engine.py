"""The mapping engine: record blocks -> SDTM records, then domain algorithms.

For each domain in build order (a domain that reads another is built after it):

1. each record block takes the usable rows of its form, applies its ``where`` filter and
   ``melt`` (wide to long), and becomes one record per (row, melt group);
2. the block's variables are computed in dependency order by their algorithms; sources are
   raw fields of the block's form, fields of one-record-per-subject forms (looked up by
   subject), other variables of the record, or melt aliases;
3. the domain's records are concatenated and its domain algorithms (``derive``) run.

Every record carries ``_REC`` (a record id within the domain); the lineage table maps it to
the raw rows it came from (``FORM``, ``RAW_ROW``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sdtm.registry import Arg, BuildState, DomainContext, ValueContext, algorithms
from sdtm.spec import DomainSpec, RecordBlock, StudySpec, mapping_params, variable_order
from studybuild import standards

LINEAGE_COLUMNS = ["_REC", "FORM", "RAW_ROW"]


def empty_lineage() -> pd.DataFrame:
    return pd.DataFrame({"_REC": pd.Series(dtype="int64"), "FORM": pd.Series(dtype="str"),
                         "RAW_ROW": pd.Series(dtype="float64")})


def var_type(spec: StudySpec, dom: DomainSpec, name: str) -> str:
    vs = dom.variable(name)
    if vs is not None and vs.type:
        return vs.type
    try:
        var = standards.sdtmig().dataset(dom.domain).find(name)
    except standards.StandardsLookupError:
        var = None
    return var.type if var is not None else "Char"


def _where_mask(frame: pd.DataFrame, block: RecordBlock) -> pd.Series:
    m = pd.Series(True, index=frame.index)
    for c in block.where:
        s = frame[c.field]
        up = s.astype("str").str.strip().str.upper()
        if c.present is not None:
            m &= s.notna() if c.present else s.isna()
        if c.in_ is not None:
            m &= up.isin([v.strip().upper() for v in c.in_]).fillna(False)
        if c.not_in is not None:
            m &= (~up.isin([v.strip().upper() for v in c.not_in])).fillna(True) | s.isna()
    return m.astype(bool)


def _melt(frame: pd.DataFrame, block: RecordBlock, state: BuildState
          ) -> pd.DataFrame:
    """One record per (row, melt group) that has a value; rows with none are noted."""
    if not block.melt:
        return frame
    parts = []
    aliases = sorted({a for g in block.melt for a in g.fields})
    for gi, g in enumerate(block.melt):
        part = frame.copy()
        part["@item"] = pd.Series(g.item, index=frame.index, dtype="str")
        part["_MELT"] = gi
        has = pd.Series(False, index=frame.index)
        need = block.require or list(g.fields)
        for a in aliases:
            col = frame[g.fields[a]] if a in g.fields else \
                pd.Series(pd.NA, index=frame.index, dtype="str")
            part["@" + a] = col
            if a in need:
                has |= col.notna()
        parts.append(part[has])
    out = pd.concat(parts, ignore_index=True) if parts else frame.iloc[0:0]
    used = set(out["_ROW"].tolist()) if len(out) else set()
    none = frame[~frame["_ROW"].isin(used)]
    if len(none):
        fields = sorted({f for g in block.melt for f in g.fields.values()})
        state.soft_exclusions.append(pd.DataFrame({
            "FORM": block.form, "RAW_ROW": none["_ROW"].to_numpy(),
            "REASON": f"no value in any of {', '.join(fields)} (record block {block.id})",
            "SUBJECT": none["USUBJID"].to_numpy()}))
    return out.sort_values(["_ROW", "_MELT"], kind="stable").reset_index(drop=True)


def _resolve(ref: str, recs: pd.DataFrame, out: dict[str, pd.Series], block: RecordBlock,
             state: BuildState, ctx: ValueContext, dom: DomainSpec) -> Arg:
    idx = recs.index
    if ref.startswith("@"):
        return Arg(recs[ref].astype("str"), ref, block.form, ref[1:], recs["_ROW"])
    if "." in ref:
        form, fld = ref.split(".", 1)
        if form == block.form:
            return Arg(recs[fld], ref, form, fld, recs["_ROW"])
        other = state.raw_forms[form].set_index("USUBJID")
        values = recs["USUBJID"].map(other[fld]).astype("str")
        rows = recs["USUBJID"].map(other["_ROW"]).astype("float64")
        hit = rows.notna()
        if hit.any():
            ctx.add_lineage(recs.loc[hit, "_REC"], form, rows[hit])
        return Arg(values, ref, form, fld, rows)
    if ref in out:
        return Arg(out[ref], ref)
    if ref in ("USUBJID",):
        return Arg(recs["USUBJID"], ref)
    if ref in ("SUBJID", "SITEID"):
        reg = state.subjects.set_index("USUBJID")[ref]
        return Arg(recs["USUBJID"].map(reg).astype("str"), ref)
    if ref == "STUDYID":
        return Arg(pd.Series(state.study.studyid, index=idx, dtype="str"), ref)
    return Arg(pd.Series(pd.NA, index=idx, dtype="str"), ref)


def _ascii(series: pd.Series, args: list[Arg], ctx: ValueContext) -> pd.Series:
    """Non-ASCII text: transliterated (notice) when the spec allows it; what has no ASCII
    spelling is an error finding naming form, row and field."""
    from sdtm.algorithms import _map_unique
    from studybuild.export.xpt import transliterate

    bad = series.notna() & ~series.str.isascii().fillna(True)
    if not bad.any():
        return series
    src = None
    for a in args:       # the source that holds the non-ASCII text
        if a.form and pd.api.types.is_string_dtype(a.values):
            v = a.values[bad.to_numpy()]
            if (v.notna() & ~v.str.isascii().fillna(True)).any():
                src = a
                break
    if src is None:
        src = next((a for a in args if a.form), args[0] if args else None)
    if ctx.spec.forms.transliterate:
        fixed = _map_unique(series.where(bad), transliterate).astype("str")
        series = series.where(~bad, fixed)
        ctx.report(bad, src, "SB-MAP-TRANSLIT", "notice",
                   "{where}: non-ASCII text {value!r} spelled in ASCII for {variable} "
                   "({n} records)")
        bad = series.notna() & ~series.str.isascii().fillna(True)
        ctx.report(bad, src, "SB-MAP-ASCII", "error",
                   "{where}: text {value!r} has characters with no ASCII spelling; XPT v5 "
                   "cannot hold them ({n} records; fix at source)")
    else:
        ctx.report(bad, src, "SB-MAP-ASCII", "error",
                   "{where}: text {value!r} has non-ASCII characters; XPT v5 cannot hold them "
                   "({n} records; set transliterate: true in forms.yaml or fix at source)")
    return series


def map_block(state: BuildState, dom: DomainSpec, block: RecordBlock, rec_base: int
              ) -> tuple[pd.DataFrame, pd.DataFrame]:
    algs = algorithms()
    raw = state.raw_forms[block.form]
    if block.where:
        keep = _where_mask(raw, block)
        if block.where_reason and (~keep).any():
            out_rows = raw[~keep]
            state.soft_exclusions.append(pd.DataFrame({
                "FORM": block.form, "RAW_ROW": out_rows["_ROW"].to_numpy(),
                "REASON": block.where_reason, "SUBJECT": out_rows["USUBJID"].to_numpy()}))
        frame = raw[keep]
    else:
        frame = raw
    frame = _melt(frame.reset_index(drop=True), block, state)
    recs = frame.reset_index(drop=True)
    recs["_REC"] = np.arange(rec_base, rec_base + len(recs), dtype="int64")
    out: dict[str, pd.Series] = {}
    extra: list[pd.DataFrame] = []
    view = pd.DataFrame({"USUBJID": recs["USUBJID"], "_REC": recs["_REC"],
                         "_ROW": recs["_ROW"]}, index=recs.index)
    for name in variable_order(dom):
        vs = dom.variable(name)
        m = vs.mapping_for(block.id) if vs is not None else None
        if m is None:
            continue
        alg = algs[m.algorithm]
        vtype = var_type(state.spec, dom, name)
        ctx = ValueContext(state=state, domain=dom.domain, variable=name, block=block.id,
                           records=view, var_type=vtype)
        args = [_resolve(r, recs, out, block, state, ctx, dom) for r in m.source]
        result = alg.fn(ctx, args, mapping_params(m))
        result = pd.Series(result, index=recs.index) if not isinstance(result, pd.Series) \
            else result.reindex(recs.index) if not result.index.equals(recs.index) else result
        if vtype == "Num":
            result = pd.to_numeric(result, errors="coerce").astype("float64")
        else:
            result = result.astype("str")
            result = result.where(result.notna() & (result.str.strip() != ""))
            result = _ascii(result, args, ctx)
        out[name] = result
        extra.extend(ctx.extra_lineage)
    frame_out = pd.DataFrame({"USUBJID": recs["USUBJID"].astype("str"),
                              "_REC": recs["_REC"], "_BLOCK": block.id,
                              "_FORM": block.form, "_ROW": recs["_ROW"]}, index=recs.index)
    for k, v in out.items():
        frame_out[k] = v
    lineage = pd.concat([pd.DataFrame({"_REC": recs["_REC"].to_numpy(),
                                       "FORM": block.form,
                                       "RAW_ROW": recs["_ROW"].to_numpy(dtype="float64")})]
                        + extra, ignore_index=True)
    return frame_out, lineage


def build_domain(state: BuildState, dom: DomainSpec) -> None:
    algs = algorithms()
    frames, lineages = [], []
    base = 0
    for block in dom.records:
        f, lin = map_block(state, dom, block, base)
        base += len(f)
        frames.append(f)
        lineages.append(lin)
    if frames:
        frame = pd.concat(frames, ignore_index=True)
        lineage = pd.concat(lineages, ignore_index=True)
    else:
        frame = pd.DataFrame({"USUBJID": pd.Series(dtype="str"),
                              "_REC": pd.Series(dtype="int64")})
        lineage = empty_lineage()
    state.domains[dom.domain] = frame
    state.lineage[dom.domain] = lineage
    ctx = DomainContext(state=state, domain=dom.domain)
    for d in dom.derive:
        alg = algs[d.algorithm]
        frame = alg.fn(ctx, state.domains[dom.domain], mapping_params(d))
        state.domains[dom.domain] = frame.reset_index(drop=True)
    lin = state.lineage[dom.domain]
    lin = lin.drop_duplicates().sort_values(["_REC", "FORM", "RAW_ROW"], kind="stable")
    state.lineage[dom.domain] = lin.reset_index(drop=True)


def build_all(state: BuildState) -> None:
    for name, dom in state.spec.domains.items():
        build_domain(state, dom)
