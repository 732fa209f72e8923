"""Generic post-processing, one implementation for every domain.

After all domains are mapped: STUDYID, DOMAIN, SUBJID/SITEID (DM), EPOCH from the subject's
elements (SE) by date, study days (--DY, --STDY, --ENDY; no day 0; complete dates only; the
SDTM model's --STDY/--ENDY are added to a domain whose SDTMIG table lacks them, e.g. MH),
--LOBXFL (last non-missing result on or before the first dose), --SEQ (unique within USUBJID,
sorted by the spec's keys, ties by raw order), text over 200 bytes split into SUPP--,
variable order and set from SDTMIG (required kept and checked, expected kept even when empty,
permissible dropped when entirely empty), and SUPP-- datasets for the spec's supplemental
qualifiers (QNAM <= 8, QLABEL <= 40, IDVAR = --SEQ).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sdtm import dates
from sdtm.algorithms import number_text
from sdtm.registry import BuildState
from studybuild import standards

MAX_BYTES = 200
_SUPP_COLUMNS = ["STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QLABEL",
                 "QVAL", "QORIG", "QEVAL"]


def _ig(domain: str):
    return standards.sdtmig().dataset(domain)


# SDTM v2.0 timing variables that a general-observation-class domain may add when its SDTMIG
# table lacks them (SDTMIG 3.4 section 2.5: any timing variable of the model may be added):
# the study days of the start and end dates. FDA business rules FB3202/FB3203 (CORE-000328,
# CORE-000776) expect --STDY/--ENDY wherever --STDTC/--ENDTC are submitted (e.g. MH).
MODEL_STUDY_DAYS = (("STDY", "STDTC", "Study Day of Start of Observation"),
                    ("ENDY", "ENDTC", "Study Day of End of Observation"))
_GENERAL_CLASSES = ("Events", "Interventions", "Findings", "Findings About")


def model_study_days(domain: str, columns) -> dict[str, str]:
    """Study-day variables (name -> label) that ``domain`` adds from the SDTM model: --STDY
    for --STDTC and --ENDY for --ENDTC when the domain's SDTMIG table has not got them."""
    try:
        ig = _ig(domain)
    except standards.StandardsLookupError:
        return {}
    if ig.class_ not in _GENERAL_CLASSES:
        return {}
    cols = set(columns)
    return {f"{domain}{dy}": label for dy, dtc, label in MODEL_STUDY_DAYS
            if f"{domain}{dtc}" in cols and not ig.has(f"{domain}{dy}")}


def _insert_model_days(cols: list[str], domain: str, added: list[str]) -> list[str]:
    """Place added study days in SDTM model order: after --DTC/--STDTC/--ENDTC/--DY."""
    out = list(cols)
    for name in added:
        after = [f"{domain}{s}" for s in ("DTC", "STDTC", "ENDTC", "DY", "STDY")]
        pos = max((out.index(a) for a in after if a in out), default=len(out) - 1)
        out.insert(pos + 1, name)
    return out


def date_variable(frame: pd.DataFrame, domain: str) -> str | None:
    """The date a record is placed by: --DTC (findings), else --STDTC."""
    for c in (f"{domain}DTC", f"{domain}STDTC"):
        if c in frame:
            return c
    return None


def assign_epoch(frame: pd.DataFrame, se: pd.DataFrame, dtc: str) -> pd.Series:
    """EPOCH of the subject's element that contains each record's (complete) date: the
    element with the latest start on or before the date, if the date is not after its end."""
    out = pd.Series(pd.NA, index=frame.index, dtype="str")
    if se is None or not len(se) or not len(frame):
        return out
    rec = pd.DataFrame({"USUBJID": frame["USUBJID"].astype("str"),
                        "T": dates.to_datetime(frame[dtc]), "I": np.arange(len(frame))})
    rec = rec.dropna(subset=["T"]).sort_values("T", kind="stable")
    el = pd.DataFrame({"USUBJID": se["USUBJID"].astype("str"),
                       "S": dates.to_datetime(se["SESTDTC"]),
                       "E": dates.to_datetime(se["SEENDTC"]), "EPOCH": se["EPOCH"]})
    el = el.dropna(subset=["S"]).sort_values("S", kind="stable")
    if not len(rec) or not len(el):
        return out
    m = pd.merge_asof(rec, el, left_on="T", right_on="S", by="USUBJID", direction="backward")
    ok = m["S"].notna() & (m["E"].isna() | (m["T"] <= m["E"]))
    vals = m["EPOCH"].where(ok)
    arr = out.to_numpy(dtype=object)
    arr[m["I"].to_numpy()] = vals.to_numpy(dtype=object)
    return pd.Series(arr, index=frame.index, dtype="str")


def baseline_flag(frame: pd.DataFrame, domain: str, first_dose: pd.Series) -> pd.Series:
    """--LOBXFL: 'Y' on the last record with a result on or before the first dose, per
    subject, test (and lesion and evaluator when the domain has them)."""
    out = pd.Series(pd.NA, index=frame.index, dtype="str")
    res = next((c for c in (f"{domain}ORRES", f"{domain}STRESC") if c in frame), None)
    dtc = f"{domain}DTC"
    testcd = f"{domain}TESTCD"
    if res is None or dtc not in frame or testcd not in frame or not len(frame):
        return out
    t = dates.to_datetime(frame[dtc])
    ref = dates.to_datetime(frame["USUBJID"].map(first_dose))
    ok = frame[res].notna() & t.notna() & ref.notna() & (t <= ref)
    keys = ["USUBJID", testcd] + [c for c in (f"{domain}LNKID", f"{domain}EVAL",
                                              f"{domain}EVALID") if c in frame]
    cand = frame.loc[ok, keys].assign(_T=t[ok], _R=frame.loc[ok, "_REC"])
    if not len(cand):
        return out
    cand = cand.sort_values(keys + ["_T", "_R"], kind="stable", na_position="first")
    last = ~cand.duplicated(keys, keep="last")
    out.loc[cand.index[last.to_numpy()]] = "Y"
    return out


def assign_seq(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    """1, 2, ... within USUBJID in the order of ``keys`` (ties by record order)."""
    if not len(frame):
        return pd.Series(dtype="float64")
    order = {}
    for i, k in enumerate(keys):
        if k not in frame:
            continue
        s = frame[k]
        order[f"_K{i}"] = dates.sort_key(s) if k.endswith("DTC") else s
    f = pd.DataFrame({"USUBJID": frame["USUBJID"], **order, "_REC": frame["_REC"]},
                     index=frame.index)
    f = f.sort_values(["USUBJID"] + list(order) + ["_REC"], kind="stable", na_position="last")
    seq = f.groupby("USUBJID", sort=False).cumcount() + 1
    return seq.reindex(frame.index).astype("float64")


def _byte_len(s: pd.Series) -> pd.Series:
    return s.str.encode("utf-8").str.len()


def split_long_text(frame: pd.DataFrame, domain: str, state: BuildState,
                    labels: dict[str, str]) -> tuple[pd.DataFrame, list[tuple]]:
    """Text over 200 bytes: the first 200 in the variable, the rest in SUPP-- records named
    VAR1, VAR2 ... (SDTMIG 4.5.3.2). Returns the frame and (QNAM, QLABEL, values) items."""
    extra = []
    for c in list(frame.columns):
        if c.startswith("_") or frame[c].dtype != "str":
            continue
        s = frame[c]
        if not len(s) or not (s.str.len().max() > MAX_BYTES // 4):   # 4 bytes/char at most
            continue
        long = s.notna() & (_byte_len(s.fillna("")) > MAX_BYTES)
        if not long.any():
            continue
        first = int(np.flatnonzero(long.to_numpy())[0])
        subj = frame["USUBJID"].iloc[first] if "USUBJID" in frame else ""
        raw = ""
        lin = state.lineage.get(domain)
        if lin is not None and "_REC" in frame and len(lin):
            hit = lin[lin["_REC"] == frame["_REC"].iloc[first]]
            if len(hit):
                raw = f"; raw {hit['FORM'].iloc[0]} row {int(hit['RAW_ROW'].iloc[0])}"
        state.findings.add("SB-SDTM-LONGTEXT", "notice",
                           f"{int(long.sum())} value(s) of {c} are over {MAX_BYTES} bytes; the "
                           f"first {MAX_BYTES} are kept in {c}, the rest is in SUPP{domain} "
                           f"({c[:7]}1, ...) (first: record {first + 1}, {subj}{raw})",
                           dataset=domain, variable=c, row=first + 1,
                           keys={"USUBJID": subj})
        rest = s.where(long)
        frame[c] = s.where(~long, s.str.slice(0, MAX_BYTES))
        rest = rest.str.slice(MAX_BYTES)
        n = 1
        while rest.notna().any():
            piece = rest.str.slice(0, MAX_BYTES)
            qnam = f"{c[:7]}{n}"
            label = (labels.get(c, c)[:28] + f" (cont. {n})")[:40]
            extra.append((qnam, label, piece.where(rest.notna() & (rest != ""))))
            rest = rest.str.slice(MAX_BYTES)
            rest = rest.where(rest.notna() & (rest != ""))
            n += 1
    return frame, extra


def supp_frame(parent: pd.DataFrame, domain: str, studyid: str,
               items: list[tuple[str, str, pd.Series, str, str | None]]) -> pd.DataFrame:
    """SUPP-- records for (QNAM, QLABEL, values, QORIG, QEVAL) items of a parent frame."""
    seqvar = f"{domain}SEQ"
    parts = []
    for qnam, qlabel, values, qorig, qeval in items:
        v = values.reindex(parent.index)
        text = number_text(v) if pd.api.types.is_numeric_dtype(v) else v.astype("str")
        keep = text.notna() & (text.str.strip() != "")
        if not keep.any():
            continue
        p = parent[keep]
        parts.append(pd.DataFrame({
            "STUDYID": studyid, "RDOMAIN": domain, "USUBJID": p["USUBJID"].to_numpy(),
            "IDVAR": seqvar if seqvar in parent else pd.NA,
            "IDVARVAL": number_text(p[seqvar]).to_numpy() if seqvar in parent else pd.NA,
            "QNAM": qnam, "QLABEL": qlabel, "QVAL": text[keep].to_numpy(), "QORIG": qorig,
            "QEVAL": qeval if qeval else pd.NA, "_PREC": p["_REC"].to_numpy(),
            "_SEQ": p[seqvar].to_numpy() if seqvar in parent else 0.0}))
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, ignore_index=True)
    out = out.sort_values(["USUBJID", "_SEQ", "QNAM"], kind="stable").reset_index(drop=True)
    for c in _SUPP_COLUMNS:
        out[c] = out[c].astype("str")
    return out


def finalize_domain(state: BuildState, domain: str, frame: pd.DataFrame,
                    supp_vars: list, labels: dict[str, str]
                    ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Post-process one domain; returns (dataset with internal columns _REC, SUPP or None)."""
    ig = _ig(domain)
    spec_dom = state.spec.domains[domain]
    f = frame.copy()
    f["STUDYID"] = state.study.studyid
    f["DOMAIN"] = domain
    reg = state.subjects.set_index("USUBJID") if state.subjects is not None else None
    if domain == "DM" and reg is not None:
        f["SUBJID"] = f["USUBJID"].map(reg["SUBJID"]).astype("str")
        f["SITEID"] = f["USUBJID"].map(reg["SITEID"]).astype("str")
    dm = state.domains.get("DM")
    se = state.domains.get("SE")
    dtc = date_variable(f, domain)
    if ig.has("EPOCH") and domain not in ("SE", "DM", "SV") and se is not None and dtc:
        if "EPOCH" not in f or f["EPOCH"].isna().all():
            f["EPOCH"] = assign_epoch(f, se, dtc)
    if dm is not None and "RFSTDTC" in dm:
        rf = f["USUBJID"].map(dm.set_index("USUBJID")["RFSTDTC"])
        for var in ig.variables:
            if var.name.endswith("DY") and var.name not in ("VISITDY",) and \
                    var.name[:-2] + "DTC" in f and var.name not in f:
                f[var.name] = dates.study_day(f[var.name[:-2] + "DTC"], rf)
        model_days = model_study_days(domain, f.columns)
        for name in model_days:
            f[name] = dates.study_day(f[name[:-2] + "DTC"], rf)
    else:
        model_days = {}
    lob = f"{domain}LOBXFL"
    if ig.has(lob) and lob not in f and dm is not None and "RFXSTDTC" in dm:
        f[lob] = baseline_flag(f, domain, dm.set_index("USUBJID")["RFXSTDTC"])
    seqvar = f"{domain}SEQ"
    if ig.has(seqvar):
        f[seqvar] = assign_seq(f, spec_dom.sort)
        f = f.sort_values(["USUBJID", seqvar], kind="stable")
    elif domain == "SV":
        f = f.sort_values(["USUBJID", "VISITNUM"], kind="stable")
    else:
        f = f.sort_values(["USUBJID", "_REC"], kind="stable")
    f = f.reset_index(drop=True)
    f, long_items = split_long_text(f, domain, state, labels)
    # SUPP--: declared qualifiers and the rest of long text
    items = []
    for v in supp_vars:
        if v.name in f:
            items.append((v.name, v.supp.label or v.label or v.name, f[v.name],
                          v.supp.origin or _origin_of(state, domain, v.name), v.supp.qeval))
    items += [(q, lab, vals, "Collected", None) for q, lab, vals in long_items]
    supp = supp_frame(f, domain, state.study.studyid, items) if items else None
    # the IG's variables in IG order: required and expected always, permissible when used
    cols = []
    for var in ig.variables:
        name = var.name
        if name in f:
            if var.core in ("Req", "Exp") or f[name].notna().any():
                cols.append(name)
        elif var.core in ("Req", "Exp"):
            f[name] = pd.Series(np.nan if var.type == "Num" else pd.NA, index=f.index,
                                dtype="float64" if var.type == "Num" else "str")
            cols.append(name)
    # a study day goes with its date: kept whenever the date variable is (even if no date is
    # complete enough to give a day), as the FDA business rules expect
    added = [n for n in model_days if n[:-2] + "DTC" in cols]
    if added:
        cols = _insert_model_days(cols, domain, added)
    for var in ig.variables:
        if var.core == "Req" and var.name in f:
            empty = f[var.name].isna()
            if empty.any():
                first = int(np.flatnonzero(empty.to_numpy())[0]) + 1
                state.findings.add(
                    "SB-SDTM-REQ", "error",
                    f"required variable {var.name} is empty in {int(empty.sum())} record(s) "
                    f"(first: record {first}, {f['USUBJID'].iloc[first - 1]})",
                    dataset=domain, variable=var.name, row=first,
                    keys={"USUBJID": f["USUBJID"].iloc[first - 1]}, core_ids=(), p21_ids=())
    out = f[cols + ["_REC"]].copy()
    for var in ig.variables:
        if var.name in out:
            if var.type == "Num":
                out[var.name] = pd.to_numeric(out[var.name], errors="coerce").astype("float64")
            else:
                out[var.name] = out[var.name].astype("str")
    for name in added:
        out[name] = pd.to_numeric(out[name], errors="coerce").astype("float64")
    return out, supp


def _origin_of(state: BuildState, domain: str, name: str) -> str:
    from sdtm.meta import variable_origin

    return variable_origin(state.spec, state.spec.domains[domain], name)[0]
