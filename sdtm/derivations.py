"""Domain algorithms: reshape a domain's mapped records (``derive:`` in a domain spec).

- ``exposure_intervals``: EX log rows -> one record per constant-dose interval per drug;
- ``first_record``: keep the first record per key (a lesion is identified once in TU);
- ``sum_of_diameters``: add the RECIST sum-of-diameters records to TR;
- ``subject_elements``: build SE from anchor dates (consent, first/last dose, ...);
- ``subject_visits``: build SV from the visits of every other domain.

Each returns the new frame and keeps the domain's lineage table in step (``ctx.set_lineage``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from sdtm import dates
from sdtm.algorithms import number_text, visit_table
from sdtm.registry import DomainContext, Params, register
from studybuild import standards


def _new_recs(ctx: DomainContext, frame: pd.DataFrame, n: int) -> np.ndarray:
    start = int(frame["_REC"].max()) + 1 if len(frame) else 0
    lin = ctx.lineage()
    if len(lin):
        start = max(start, int(lin["_REC"].max()) + 1)
    return np.arange(start, start + n, dtype="int64")


def _soft_exclude(ctx: DomainContext, frame: pd.DataFrame, reason: str | pd.Series) -> None:
    """The raw rows of records a derivation drops: excluded with ``reason`` unless another
    record still maps them."""
    lin = ctx.lineage()
    rows = lin[lin["_REC"].isin(frame["_REC"])]
    if not len(rows):
        return
    if isinstance(reason, pd.Series):
        r = rows["_REC"].map(pd.Series(reason.to_numpy(), index=frame["_REC"].to_numpy()))
    else:
        r = reason
    subj = rows["_REC"].map(pd.Series(frame["USUBJID"].to_numpy(),
                                      index=frame["_REC"].to_numpy()))
    ctx.state.soft_exclusions.append(pd.DataFrame({
        "FORM": rows["FORM"].to_numpy(), "RAW_ROW": rows["RAW_ROW"].to_numpy(),
        "REASON": np.asarray(r, dtype=object) if not isinstance(r, str) else r,
        "SUBJECT": subj.to_numpy()}))


def _same(a: pd.Series, b: pd.Series) -> pd.Series:
    return (a == b).fillna(False) | (a.isna() & b.isna())


# --------------------------------------------------------------------------------------------
# EX: constant-dose intervals
# --------------------------------------------------------------------------------------------

class IntervalParams(Params):
    by: list[str] = Field(default_factory=lambda: ["EXTRT"],
                          description="besides USUBJID: what identifies a drug")
    same: list[str] = Field(default_factory=lambda: ["EXDOSE", "EXDOSU", "EXDOSFRM",
                                                     "EXDOSFRQ", "EXROUTE"],
                            description="a change in any of these starts a new interval")
    start: str = "EXSTDTC"
    end: str = "EXENDTC"
    dose: str = "EXDOSE"
    adjust: str | None = Field("EXADJ", description="a record with a reason for change "
                                                     "starts a new interval")
    gap_days: int = Field(1, ge=0, description="a record starting at most this many days "
                                               "after the previous one ends continues it")
    zero_dose: Literal["drop", "keep"] = Field(
        "drop", description="records with dose 0 (interruptions) end the interval and are "
                            "not exposure records ('drop') or are kept as records")


def _describe_intervals(p: IntervalParams, src) -> str:
    return (f"Administration records of each subject and {', '.join(p.by)} sorted by "
            f"{p.start}; consecutive records with the same {', '.join(p.same)} that follow "
            f"each other within {p.gap_days} day(s) and have no {p.adjust or 'reason'} are "
            f"merged into one record ({p.start} of the first, {p.end} of the last); an "
            "interruption (a gap, or a dose-0 record) or a dose change starts a new record.")


@register("exposure_intervals", "domain", IntervalParams,
          summary="EX: merge administration log rows into one record per constant-dose "
                  "interval per drug; interruptions and dose changes split records.",
          describe=_describe_intervals,
          example=("300 mg 01-05 to 01-21, 300 mg 01-22 to 02-11, 250 mg 02-20 to 03-10",
                   "2 records: 300 mg 01-05..02-11; 250 mg 02-20..03-10 (EXADJ kept)"))
def exposure_intervals(ctx: DomainContext, frame: pd.DataFrame, p: IntervalParams
                       ) -> pd.DataFrame:
    if not len(frame):
        return frame
    f = frame.copy()
    for c in p.by + p.same + [p.start, p.end] + ([p.adjust] if p.adjust else []):
        if c not in f:
            f[c] = pd.Series(pd.NA, index=f.index, dtype="str")
    if p.zero_dose == "drop" and p.dose in f:
        zero = pd.to_numeric(f[p.dose], errors="coerce") == 0
        if zero.any():
            _soft_exclude(ctx, f[zero], "dose 0 (interruption): ends the exposure interval, "
                                        "no EX record")
            f = f[~zero]
    s = dates.to_datetime(f[p.start])
    e = dates.to_datetime(f[p.end])
    f = f.assign(_S=s, _E=e)
    keys = ["USUBJID"] + p.by
    f = f.sort_values(keys + ["_S", "_E", "_REC"], kind="stable", na_position="last")
    g = f.groupby(keys, sort=False, dropna=False)
    prev_e = g["_E"].shift(1)
    first = g.cumcount() == 0
    new = first | f["_S"].isna() | prev_e.isna()
    for c in p.same:
        new |= ~_same(f[c], g[c].shift(1))
    if p.adjust:
        new |= f[p.adjust].notna()
    gap = (f["_S"] - prev_e) / pd.Timedelta(days=1)
    new |= (gap > p.gap_days).fillna(True)
    overlap = ~first & (gap < 1).fillna(False) & f["_S"].notna()
    if overlap.any():
        ov = f[overlap]
        ctx.findings.add("SB-EX-OVERLAP", "warning",
                         f"{int(overlap.sum())} administration record(s) start before the "
                         f"previous one of the same drug ends (first: {ov['USUBJID'].iloc[0]}, "
                         f"{ov[p.start].iloc[0]}); merged or kept as separate records",
                         dataset="EX", variable=p.start, keys={"USUBJID": ov["USUBJID"].iloc[0]})
    gid = new.cumsum()
    gidv = gid.to_numpy()
    is_last = ~pd.Series(gidv).duplicated(keep="last").to_numpy()
    head = f[new.to_numpy()].copy()
    head[p.end] = f[p.end].to_numpy()[is_last]      # groups are contiguous and in order
    rec_of = pd.Series(head["_REC"].to_numpy(), index=np.unique(gid.to_numpy()))
    mapping = pd.Series(rec_of.loc[gid.to_numpy()].to_numpy(), index=f["_REC"].to_numpy())
    lin = ctx.lineage()
    lin = lin[lin["_REC"].isin(mapping.index)].copy()
    lin["_REC"] = lin["_REC"].map(mapping).astype("int64")
    ctx.set_lineage(lin)
    return head.drop(columns=["_S", "_E"]).reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# TU: first record per lesion
# --------------------------------------------------------------------------------------------

class FirstParams(Params):
    by: list[str] = Field(description="besides USUBJID: the key kept once (TULNKID)")
    order: list[str] = Field(default_factory=list, description="earliest first (TUDTC)")
    reason: str = Field("already identified at an earlier assessment",
                        description="exclusion reason of the raw rows no other record uses")


@register("first_record", "domain", FirstParams,
          summary="Keep the first record per key (e.g. a lesion is identified once in TU, at "
                  "the first assessment that shows it).",
          describe=lambda p, s: f"One record per subject and {', '.join(p.by)}: the first "
                                f"by {', '.join(p.order) or 'record order'}.",
          example=("T01 at screening, week 6, week 12", "T01 at screening"))
def first_record(ctx: DomainContext, frame: pd.DataFrame, p: FirstParams) -> pd.DataFrame:
    if not len(frame):
        return frame
    keys = ["USUBJID"] + p.by
    order = [dates.sort_key(frame[c]) if c.endswith("DTC") else frame[c] for c in p.order]
    f = frame.assign(**{f"_O{i}": o for i, o in enumerate(order)})
    f = f.sort_values(keys + [f"_O{i}" for i in range(len(order))] + ["_REC"],
                      kind="stable", na_position="last")
    dup = f.duplicated(keys, keep="first")
    dropped = f[dup]
    if len(dropped):
        label = dropped[p.by[0]].astype("str") if p.by else ""
        _soft_exclude(ctx, dropped, f"{ctx.domain}: " + label + " " + p.reason
                      if isinstance(label, pd.Series) else f"{ctx.domain}: {p.reason}")
    keep = f[~dup].drop(columns=[f"_O{i}" for i in range(len(order))])
    lin = ctx.lineage()
    ctx.set_lineage(lin[lin["_REC"].isin(keep["_REC"])])
    return keep.sort_values("_REC", kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# TR: sum of diameters
# --------------------------------------------------------------------------------------------

class SumParams(Params):
    testcd: str = "SUMDIAM"
    from_tests: list[str] = Field(default_factory=lambda: ["LDIAM", "LPERP"],
                                  description="the per-lesion measurements summed")
    where: dict[str, list[str]] = Field(default_factory=lambda: {"TRGRPID": ["TARGET"]},
                                        description="which records are target measurements")
    by: list[str] = Field(default_factory=lambda: ["TRLNKGRP"],
                          description="besides USUBJID: one assessment")
    lesion: str = "TRLNKID"
    keep: list[str] = Field(default_factory=lambda: [
        "TRGRPID", "TRLNKGRP", "TRMETHOD", "TREVAL", "TREVALID", "VISITNUM", "VISIT",
        "VISITDY", "TRDTC"], description="taken from the assessment's target records")
    unit: str = "mm"
    require_all: bool = Field(True, description="derive a sum only when every target lesion "
                                                "of the subject has a measurement")


def _describe_sum(p: SumParams, src) -> str:
    w = "; ".join(f"{k} in {v}" for k, v in p.where.items())
    return (f"TRTESTCD {p.testcd}: sum of TRSTRESN ({p.unit}) of the {', '.join(p.from_tests)}"
            f" records ({w}) of each subject and {', '.join(p.by)}"
            + ("; derived only when every target lesion of the subject was measured." if
               p.require_all else "."))


def _sum_provides(p: SumParams, domain: str) -> set[str]:
    return set()


@register("sum_of_diameters", "domain", SumParams,
          summary="TR: add one sum-of-diameters record (SUMDIAM, mm) per subject and "
                  "assessment from the target-lesion measurements (RECIST 1.1).",
          describe=_describe_sum, provides=_sum_provides,
          example=("T01 LDIAM 23 mm, T02 LPERP 12 mm (same TRLNKGRP)", "SUMDIAM 35 mm"))
def sum_of_diameters(ctx: DomainContext, frame: pd.DataFrame, p: SumParams) -> pd.DataFrame:
    if not len(frame) or "TRTESTCD" not in frame:
        return frame
    tgt = frame["TRTESTCD"].isin(p.from_tests)
    for col, vals in p.where.items():
        if col in frame:
            tgt &= frame[col].astype("str").str.upper().isin([v.upper() for v in vals])
        else:
            tgt &= False
    t = frame[tgt.fillna(False)]
    if not len(t):
        return frame
    keys = ["USUBJID"] + p.by
    n_lesions = t.groupby("USUBJID")[p.lesion].nunique()
    grp = t.groupby(keys, sort=True, dropna=False)
    agg = grp.agg(_SUM=("TRSTRESN", "sum"), _N=("TRSTRESN", "count"),
                  _L=(p.lesion, "nunique"), _REC0=("_REC", "min"))
    agg = agg.reset_index()
    agg["_NEED"] = agg["USUBJID"].map(n_lesions)
    complete = (agg["_N"] == agg["_NEED"]) & (agg["_L"] == agg["_NEED"])
    for k in p.by:
        complete &= agg[k].notna()
    if p.require_all and (~complete).any():
        bad = agg[~complete]
        ctx.findings.add("SB-TR-SUMDIAM", "notice",
                         f"{len(bad)} assessment(s) do not have a measurement for every target "
                         f"lesion (first: {bad['USUBJID'].iloc[0]}, {p.by[0] if p.by else ''} "
                         f"{bad[p.by[0]].iloc[0] if p.by else ''}: {int(bad['_N'].iloc[0])} of "
                         f"{int(bad['_NEED'].iloc[0])}); no {p.testcd} record for them",
                         dataset="TR", variable="TRSTRESN")
        agg = agg[complete]
    if not len(agg):
        return frame
    firsts = t.sort_values(keys + ["_REC"], kind="stable").groupby(
        keys, sort=True, dropna=False).first().reset_index()
    agg = agg.merge(firsts[keys + [c for c in p.keep if c in firsts and c not in keys]],
                    on=keys, how="left")
    if "TRDTC" in t:
        last_dt = t.assign(_K=dates.sort_key(t["TRDTC"])).groupby(keys, dropna=False)["TRDTC"].max()
        agg["TRDTC"] = agg.set_index(keys).index.map(last_dt)
    total = agg["_SUM"].round(6)
    text = number_text(total)
    test = _trtest(p.testcd)
    new = pd.DataFrame({"USUBJID": agg["USUBJID"].to_numpy(), "TRTESTCD": p.testcd,
                        "TRTEST": test, "TRORRES": text.to_numpy(), "TRORRESU": p.unit,
                        "TRSTRESC": text.to_numpy(), "TRSTRESN": total.to_numpy(),
                        "TRSTRESU": p.unit})
    for c in p.keep:
        if c in agg and c not in new:
            new[c] = agg[c].to_numpy()
    for c in keys:
        new[c] = agg[c].to_numpy()
    new["_REC"] = _new_recs(ctx, frame, len(new))
    new["_BLOCK"] = "derived:" + p.testcd
    # lineage: every raw row behind the summed measurements
    t_key = t[keys + ["_REC"]].merge(agg[keys].assign(_NEW=new["_REC"].to_numpy()), on=keys)
    lin = ctx.lineage()
    add = t_key[["_REC", "_NEW"]].merge(lin, on="_REC")[["_NEW", "FORM", "RAW_ROW"]]
    add = add.rename(columns={"_NEW": "_REC"})
    ctx.set_lineage(pd.concat([lin, add], ignore_index=True))
    out = pd.concat([frame, new], ignore_index=True)
    for c in frame.columns:
        if c in out and frame[c].dtype == "str":
            out[c] = out[c].astype("str")
    return out


def _trtest(testcd: str) -> str:
    from sdtm.terminology import decode_table

    table = decode_table(None, "TR", "TRTEST", "TRTESTCD", None, None)
    return table.get(testcd.upper(), testcd)


# --------------------------------------------------------------------------------------------
# SE: subject elements
# --------------------------------------------------------------------------------------------

class Anchor(Params):
    variable: str | None = Field(None, description="DOMAIN.VAR with one date per subject "
                                                   "(DM.RFICDTC)")
    first_dose: list[str] | None = Field(None, description="first EXSTDTC of these EXTRT "
                                                           "('*' = any)")
    last_dose: list[str] | None = Field(None, description="last EXENDTC of these EXTRT; empty "
                                                          "while any is ongoing")
    plus_days: int = 0

    @model_validator(mode="after")
    def _one(self):
        if sum(x is not None for x in (self.variable, self.first_dose, self.last_dose)) != 1:
            raise ValueError("an anchor is exactly one of variable, first_dose, last_dose")
        return self

    def text(self) -> str:
        if self.variable:
            base = self.variable
        elif self.first_dose is not None:
            base = f"first dose of {', '.join(self.first_dose)}"
        else:
            base = f"last dose of {', '.join(self.last_dose or [])}"
        if self.plus_days:
            base += f" + {self.plus_days} day(s)"
        return base


class ElementRule(Params):
    etcd: str
    start: Anchor


class ElementsParams(Params):
    elements: list[ElementRule]
    end: Anchor = Field(description="end of the subject's last element (DM.RFPENDTC)")


def _anchor(ctx: DomainContext, a: Anchor) -> pd.DataFrame:
    """USUBJID, D (datetime), SRC (domain), REC (record id) for one anchor."""
    cols = {"USUBJID": pd.Series(dtype="str"), "D": pd.Series(dtype="datetime64[s]"),
            "SRC": pd.Series(dtype="str"), "REC": pd.Series(dtype="float64")}
    if a.variable:
        dom, var = a.variable.split(".")
        f = ctx.state.domains.get(dom)
        if f is None or var not in f:
            return pd.DataFrame(cols)
        out = pd.DataFrame({"USUBJID": f["USUBJID"], "D": dates.to_datetime(f[var]),
                            "SRC": dom, "REC": f["_REC"].astype("float64")})
    else:
        ex = ctx.state.domains.get("EX")
        if ex is None or not len(ex):
            return pd.DataFrame(cols)
        names = a.first_dose if a.first_dose is not None else a.last_dose
        sel = ex if "*" in names else ex[ex["EXTRT"].astype("str").str.upper().isin(
            [n.upper() for n in names])]
        if "EXDOSE" in sel:
            sel = sel[~(pd.to_numeric(sel["EXDOSE"], errors="coerce") == 0)]
        if a.first_dose is not None:
            d = dates.to_datetime(sel["EXSTDTC"])
            out = pd.DataFrame({"USUBJID": sel["USUBJID"], "D": d, "SRC": "EX",
                                "REC": sel["_REC"].astype("float64")})
            out = out.dropna(subset=["D"]).sort_values(["USUBJID", "D", "REC"], kind="stable")
            out = out.drop_duplicates("USUBJID", keep="first")
        else:
            end = sel["EXENDTC"] if "EXENDTC" in sel else pd.Series(pd.NA, index=sel.index)
            d = dates.to_datetime(end)
            ongoing = sel.loc[d.isna(), "USUBJID"].unique()
            out = pd.DataFrame({"USUBJID": sel["USUBJID"], "D": d, "SRC": "EX",
                                "REC": sel["_REC"].astype("float64")})
            out = out.dropna(subset=["D"]).sort_values(["USUBJID", "D", "REC"], kind="stable")
            out = out.drop_duplicates("USUBJID", keep="last")
            out = out[~out["USUBJID"].isin(ongoing)]
    out = out.dropna(subset=["D"])
    if a.plus_days:
        out = out.assign(D=out["D"] + pd.Timedelta(days=a.plus_days))
    return out.drop_duplicates("USUBJID").reset_index(drop=True)


def _describe_elements(p: ElementsParams, src) -> str:
    parts = [f"{e.etcd} from {e.start.text()}" for e in p.elements]
    return ("Each subject's elements in order: " + "; ".join(parts) +
            ". An element ends when the next one starts (the last at " + p.end.text() +
            "); an element without a start date, starting after the data cut-off, or "
            "starting no earlier than the next, is skipped.")


def _elements_check(spec, dom, p: ElementsParams):
    known = {e.etcd for e in spec.study.elements}
    for i, e in enumerate(p.elements):
        if e.etcd not in known:
            return (("elements",), f"element {e.etcd!r} is not in study.yaml elements "
                    f"(known: {', '.join(sorted(known))})")
    return None


def _elements_needs(p: ElementsParams) -> set[str]:
    out = set()
    for a in [e.start for e in p.elements] + [p.end]:
        if a.variable:
            out.add(a.variable.split(".")[0])
        else:
            out.add("EX")
    return out | {"DM"}


def _all_vars(domain: str) -> set[str]:
    return {v.name for v in standards.sdtmig().dataset(domain).variables}


@register("subject_elements", "domain", ElementsParams,
          summary="SE: each subject's elements from anchor dates (a DM date, first or last "
                  "dose of given drugs, plus days); an element ends when the next starts.",
          describe=_describe_elements, needs=_elements_needs,
          provides=lambda p, d: _all_vars(d),
          example=("RFICDTC 2021-03-01, first dose 2021-03-20, last dose 2021-09-01",
                   "SCRN 03-01..03-20, SURU 03-20..09-02, FU 09-02.."))
def subject_elements(ctx: DomainContext, frame: pd.DataFrame, p: ElementsParams
                     ) -> pd.DataFrame:
    dm = ctx.state.domains.get("DM")
    if dm is None or not len(dm):
        return frame
    subj = pd.DataFrame({"USUBJID": dm["USUBJID"].to_numpy()})
    starts, srcs, recs = [], [], []
    for e in p.elements:
        a = _anchor(ctx, e.start).set_index("USUBJID")
        starts.append(pd.Series(a["D"].reindex(subj["USUBJID"]).to_numpy(),
                                index=subj.index, dtype="datetime64[s]"))
        srcs.append(pd.Series(a["SRC"].reindex(subj["USUBJID"]).to_numpy(), index=subj.index,
                              dtype="str"))
        recs.append(pd.Series(a["REC"].reindex(subj["USUBJID"]).to_numpy(), index=subj.index,
                              dtype="float64"))
    cutoff = pd.Timestamp(ctx.study.dates.data_cutoff)
    starts = [s_.where(s_ <= cutoff) for s_ in starts]     # nothing starts after the cut-off
    end_a = _anchor(ctx, p.end).set_index("USUBJID")
    final_end = pd.Series(end_a["D"].reindex(subj["USUBJID"]).to_numpy(), index=subj.index,
                          dtype="datetime64[s]")
    n = len(p.elements)
    keep: list[pd.Series] = [pd.Series(False, index=subj.index)] * n
    next_start = pd.Series(pd.NaT, index=subj.index, dtype="datetime64[s]")
    for i in range(n - 1, -1, -1):
        s = starts[i]
        k = s.notna() & (next_start.isna() | (s < next_start))
        keep[i] = k
        next_start = s.where(k, next_start)
    # an element's end is the next kept element's start; recompute in forward order
    rows = []
    elements = {e.etcd: e for e in ctx.study.elements}
    arms = {a.armcd: a for a in ctx.study.arms}
    armcd = dm["ARMCD"] if "ARMCD" in dm else pd.Series(pd.NA, index=dm.index, dtype="str")
    for i, e in enumerate(p.elements):
        k = keep[i]
        later = pd.Series(pd.NaT, index=subj.index, dtype="datetime64[s]")
        for j in range(n - 1, i, -1):
            later = starts[j].where(keep[j], later)
        end = later.where(later.notna(), final_end)
        end = end.where(end.isna() | (end >= starts[i]), starts[i])
        el = elements[e.etcd]
        taet = armcd.map({cd: (a.elements.index(e.etcd) + 1 if e.etcd in a.elements else np.nan)
                          for cd, a in arms.items()}).astype("float64")
        part = pd.DataFrame({
            "USUBJID": subj["USUBJID"], "ETCD": e.etcd, "ELEMENT": el.element,
            "TAETORD": taet.to_numpy(), "EPOCH": el.epoch,
            "SESTDTC": dates.from_datetime(starts[i]), "SEENDTC": dates.from_datetime(end),
            "_SRC": srcs[i], "_SRCREC": recs[i], "_ORD": i})
        rows.append(part[k.to_numpy()])
    out = pd.concat(rows, ignore_index=True).sort_values(["USUBJID", "_ORD"], kind="stable")
    out = out.reset_index(drop=True)
    out["_REC"] = np.arange(len(out), dtype="int64")
    out["_BLOCK"] = "derived:SE"
    # lineage: the record that gave each element's start date
    parts = []
    for dom, g in out.dropna(subset=["_SRCREC"]).groupby("_SRC", sort=True):
        lin = ctx.state.lineage.get(dom)
        if lin is None:
            continue
        j = g[["_REC", "_SRCREC"]].merge(lin.rename(columns={"_REC": "_SRCREC"}),
                                         left_on="_SRCREC", right_on="_SRCREC")
        parts.append(j[["_REC", "FORM", "RAW_ROW"]])
    ctx.set_lineage(pd.concat(parts, ignore_index=True) if parts else ctx.lineage())
    for c in ("SESTDTC", "SEENDTC", "ETCD", "ELEMENT", "EPOCH", "USUBJID"):
        out[c] = out[c].astype("str")
    return out.drop(columns=["_SRC", "_SRCREC", "_ORD"])


subject_elements.check = _elements_check


# --------------------------------------------------------------------------------------------
# SV: subject visits
# --------------------------------------------------------------------------------------------

class VisitsParams(Params):
    domains: list[str] | None = Field(None, description="domains whose visits count; "
                                                        "default: every domain with VISITNUM")


def _date_var(frame: pd.DataFrame, domain: str) -> str | None:
    for c in (f"{domain}DTC", f"{domain}STDTC"):
        if c in frame:
            return c
    return None


@register("subject_visits", "domain", VisitsParams,
          summary="SV: one record per subject and visit seen in any domain; start/end = the "
                  "earliest/latest date of that visit's records. With record blocks (a visit "
                  "form), only the visits they lack are added.",
          describe=lambda p, s: ("One record per subject and VISITNUM found in "
                                 + (", ".join(p.domains) if p.domains else "any domain")
                                 + "; SVSTDTC/SVENDTC the earliest/latest date of its records; "
                                   "SVPRESP and SVOCCUR Y for planned visits, empty for "
                                   "unscheduled ones (SDTMIG: they describe planned visits)."),
          needs=lambda p: set(p.domains) if p.domains else {"*"},
          provides=lambda p, d: _all_vars(d),
          example=("TR and RS records at VISITNUM 201 on 2021-05-01 and 2021-05-03",
                   "SV 201 2021-05-01..2021-05-03"))
def subject_visits(ctx: DomainContext, frame: pd.DataFrame, p: VisitsParams) -> pd.DataFrame:
    before = ctx.lineage()
    parts = []
    names = p.domains or [d for d in ctx.state.domains if d not in ("SV", ctx.domain)]
    for d in names:
        f = ctx.state.domains.get(d)
        if f is None or "VISITNUM" not in f or not len(f):
            continue
        dv = _date_var(f, d)
        part = pd.DataFrame({"USUBJID": f["USUBJID"], "VISITNUM": f["VISITNUM"],
                             "VISIT": f["VISIT"] if "VISIT" in f else pd.NA,
                             "D": f[dv].astype("str").str.slice(0, 10) if dv else pd.NA,
                             "DOM": d, "SRCREC": f["_REC"]})
        parts.append(part.dropna(subset=["VISITNUM"]))
    if not parts:
        return frame
    allv = pd.concat(parts, ignore_index=True)
    allv["VISIT"] = allv["VISIT"].astype("str")
    allv["D"] = allv["D"].astype("str")
    g = allv.groupby(["USUBJID", "VISITNUM"], sort=True)
    comp = allv[dates.is_complete(allv["D"])]
    gc = comp.groupby(["USUBJID", "VISITNUM"], sort=True)["D"]
    out = g.agg(VISIT=("VISIT", "first"))
    # the domains of each unscheduled visit (few), for SVUPDES
    table = visit_table(ctx.study)
    uns = allv[~allv["VISITNUM"].isin(table["VISITNUM"])][["USUBJID", "VISITNUM", "DOM"]]
    uns = uns.drop_duplicates().sort_values(["USUBJID", "VISITNUM", "DOM"])
    doms = uns.groupby(["USUBJID", "VISITNUM"], sort=True)["DOM"].agg(", ".join)
    out["_DOMS"] = doms
    out["SVSTDTC"] = gc.min()
    out["SVENDTC"] = gc.max()
    anyd = allv.dropna(subset=["D"]).groupby(["USUBJID", "VISITNUM"])["D"]
    out["SVSTDTC"] = out["SVSTDTC"].fillna(anyd.min())
    out["SVENDTC"] = out["SVENDTC"].fillna(anyd.max())
    out = out.reset_index()
    planned = out["VISITNUM"].isin(table["VISITNUM"])
    out["VISITDY"] = out["VISITNUM"].map(dict(zip(table["VISITNUM"], table["VISITDY"])))
    out["SVPRESP"] = pd.Series("Y", index=out.index, dtype="str").where(planned)
    out["SVOCCUR"] = out["SVPRESP"]          # occurrence of a planned visit; null if unplanned
    out["SVUPDES"] = ("Unscheduled visit with records in " + out["_DOMS"]).where(~planned)
    out["_REC"] = np.arange(len(out), dtype="int64")
    out["_BLOCK"] = "derived:SV"
    # lineage: every raw row behind the visit's records
    key = allv.merge(out[["USUBJID", "VISITNUM", "_REC"]], on=["USUBJID", "VISITNUM"])
    lparts = []
    for d, gk in key.groupby("DOM", sort=True):
        lin = ctx.state.lineage.get(d)
        if lin is None:
            continue
        j = gk[["_REC", "SRCREC"]].merge(lin.rename(columns={"_REC": "SRCREC"}),
                                         on="SRCREC")
        lparts.append(j[["_REC", "FORM", "RAW_ROW"]])
    ctx.set_lineage(pd.concat(lparts, ignore_index=True).drop_duplicates()
                    if lparts else ctx.lineage())
    for c in ("USUBJID", "VISIT", "SVSTDTC", "SVENDTC", "SVPRESP", "SVOCCUR", "SVUPDES"):
        out[c] = out[c].astype("str")
    out = out.drop(columns=["_DOMS"])
    if len(frame) and "VISITNUM" in frame:
        # SV mapped from a visit form: add only the visits no SV record has
        have = pd.MultiIndex.from_frame(frame[["USUBJID", "VISITNUM"]])
        new = pd.Series(~pd.MultiIndex.from_frame(out[["USUBJID", "VISITNUM"]]).isin(have),
                        index=out.index)
        if new.any():
            ctx.findings.add("SB-SV-ADDED", "notice",
                             f"{int(new.sum())} visit(s) have records in other domains but "
                             f"no SV record (first: {out.loc[new, 'USUBJID'].iloc[0]} VISITNUM "
                             f"{out.loc[new, 'VISITNUM'].iloc[0]:g}); added from those records",
                             dataset="SV", variable="VISITNUM")
        added = out[new.to_numpy()].copy()
        keep_lin = ctx.lineage()
        keep_lin = keep_lin[keep_lin["_REC"].isin(added["_REC"])]
        offset = int(frame["_REC"].max()) + 1
        added["_REC"] = added["_REC"] + offset
        keep_lin = keep_lin.assign(_REC=keep_lin["_REC"] + offset)
        ctx.set_lineage(pd.concat([before, keep_lin], ignore_index=True))
        return pd.concat([frame, added], ignore_index=True)
    return out
