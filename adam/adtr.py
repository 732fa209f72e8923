"""ADTR: sum of target-lesion diameters per tumour assessment (PARAMCD SDIAM, admiralonco's
name for RECIST's SUMDIAM), with baseline, change, percent change, nadir and change from nadir —
the data behind waterfall and spider plots.

As admiralonco's ADTR template: the investigator's target-lesion measurements from TR, longest
diameter for non-nodal lesions and short axis for lymph nodes (SAXIS, else the perpendicular
LPERP), ADT from TRDTC (missing day imputed to the first); per visit the sum over the measured
lesions, ANL01FL when every baseline lesion was measured; ABLFL on the last assessment on or
before day 1; NADIR the smallest earlier complete sum; PDFL where the investigator's overall
response on that date is PD; ANL02FL the best post-baseline percent change; ANL03FL complete
assessments before the first PD; ANL04FL complete assessments or PD.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from adam._frame import SUBJECT_KEYS, day_numbers, flag, na_str, str_col
from adam.adrs import BDS_ADSL_VARS, evaluator_words, reference_var
from adam.dates import convert_dtc_to_dt, derive_vars_dt
from adam.derive import (derive_var_base, derive_var_chg, derive_var_extreme_flag,
                         derive_var_merged_exist_flag, derive_var_nadir, derive_var_obs_number,
                         derive_var_pchg, derive_var_relative_flag, derive_vars_dy,
                         derive_vars_merged)
from adam.options import AdamOptions
from studybuild.findings import Findings

KEYS = list(SUBJECT_KEYS)


def target_measurements(sdtm: Mapping[str, pd.DataFrame], evaluator: str) -> pd.DataFrame | None:
    """One diameter per target lesion and assessment (USUBJID, TRLNKID, VISIT, VISITNUM, TRDTC,
    TRSEQ, AVAL, NODAL): LDIAM for non-nodal lesions, SAXIS/LPERP for lymph nodes."""
    tr = sdtm.get("TR")
    if tr is None or not len(tr) or not {"TRTESTCD", "TRLNKID"} <= set(tr.columns):
        return None
    m = tr["TRTESTCD"].isin(["LDIAM", "LPERP", "SAXIS"]).to_numpy().copy()
    if "TREVAL" in tr.columns:
        m &= tr["TREVAL"].eq(evaluator).to_numpy() | (tr["TREVAL"].isna().to_numpy()
                                                      & (evaluator == "INVESTIGATOR"))
    tu = sdtm.get("TU")
    tuloc = None
    if tu is not None and len(tu) and "TULNKID" in tu.columns:
        t = tu.copy()
        if "TUEVAL" in t.columns:
            t = t[t["TUEVAL"].eq(evaluator).to_numpy() | (t["TUEVAL"].isna().to_numpy()
                                                          & (evaluator == "INVESTIGATOR"))]
        cols = KEYS + ["TULNKID"] + [c for c in ("TULOC", "TUSTRESC") if c in t.columns]
        tuloc = t[cols].drop_duplicates(subset=KEYS + ["TULNKID"])
    if "TRGRPID" in tr.columns:
        m &= tr["TRGRPID"].eq("TARGET").to_numpy() | tr["TRGRPID"].isna().to_numpy()
    sub = tr[m].reset_index(drop=True)
    if tuloc is not None:
        sub = derive_vars_merged(sub, dataset_add=tuloc.rename(columns={"TULNKID": "TRLNKID"}),
                                 by_vars=KEYS + ["TRLNKID"],
                                 new_vars=[c for c in ("TULOC", "TUSTRESC") if c in tuloc.columns])
        if "TRGRPID" not in tr.columns and "TUSTRESC" in sub.columns:
            sub = sub[sub["TUSTRESC"].eq("TARGET").to_numpy()]
    nodal = sub["TULOC"].astype("str").str.upper().str.contains("LYMPH NODE", regex=False) \
        .fillna(False).to_numpy(bool) if "TULOC" in sub.columns else np.zeros(len(sub), bool)
    code = sub["TRTESTCD"].to_numpy(dtype=object)
    has_saxis = (code == "SAXIS").any()
    nodal_code = "SAXIS" if has_saxis else "LPERP"
    keep = np.where(nodal, code == nodal_code, code == "LDIAM")
    if not (code == "LPERP").any() and not has_saxis:
        keep = code == "LDIAM"
    sub = sub[keep].reset_index(drop=True)
    val = sub["TRSTRESN"] if "TRSTRESN" in sub.columns else sub.get("TRORRES")
    sub["AVAL"] = pd.to_numeric(val, errors="coerce").astype("float64")
    sub["NODAL"] = nodal[keep]
    return sub


def build_adtr(adsl: pd.DataFrame, sdtm: Mapping[str, pd.DataFrame], *, options: AdamOptions,
               findings: Findings) -> pd.DataFrame | None:
    """Derive ADTR (SDIAM per assessment); None without TR target measurements."""
    o = options.adtr
    meas = target_measurements(sdtm, o.evaluator)
    if meas is None or not len(meas):
        return None
    ref = reference_var(adsl, options.adrs.reference_date)
    who = evaluator_words(o.evaluator)
    dtc = "TRDTC" if "TRDTC" in meas.columns else None
    meas = derive_vars_merged(meas.drop(columns=[c for c in (ref,) if c in meas.columns]),
                              dataset_add=adsl, by_vars=KEYS, new_vars=[ref])
    if dtc:
        meas = derive_vars_dt(meas, dtc=dtc, new_vars_prefix="A", imputation=o.date_imputation)
    else:
        meas["ADT"] = pd.Series(np.full(len(meas), np.datetime64("NaT", "s")))
        meas["ADTF"] = na_str(len(meas))
    meas = derive_vars_dy(meas, reference_date=ref, source_vars=["ADT"])
    visit = meas["VISIT"].astype("str") if "VISIT" in meas.columns else \
        na_str(len(meas))
    is_base = visit.str.upper().isin([v.upper() for v in o.baseline_visits]).to_numpy()
    meas["AVISIT"] = str_col(np.where(is_base, "BASELINE", visit.to_numpy(dtype=object)))
    vn = pd.to_numeric(meas["VISITNUM"], errors="coerce").to_numpy(dtype="float64") \
        if "VISITNUM" in meas.columns else np.full(len(meas), np.nan)
    meas["AVISITN"] = np.where(is_base, 0.0, vn)
    meas["_MEAS"] = ~np.isnan(meas["AVAL"].to_numpy())
    # one value per lesion and visit (duplicates: the last by TRSEQ)
    meas = meas.iloc[np.argsort(meas.get("TRSEQ", pd.Series(np.arange(len(meas))))
                                .to_numpy(dtype="float64"), kind="stable")]
    meas = meas.drop_duplicates(subset=KEYS + ["AVISIT", "TRLNKID"], keep="last")
    grp = meas.groupby(KEYS + ["AVISIT", "AVISITN"], sort=False, dropna=False)
    # sum of the measured diameters (0 when none is measured, as a sum over nothing)
    summ = grp.agg(AVAL=("AVAL", "sum"), ADT=("ADT", "min"), ADY=("ADY", "min"),
                   ADTF=("ADTF", "first")).reset_index()
    # lesions expected (at baseline) and assessed (measured at this visit)
    base_les = meas[meas["AVISIT"].eq("BASELINE").to_numpy()]
    lsexp = _join_sorted(base_les, KEYS, "TRLNKID")
    lsass = _join_sorted(meas[meas["_MEAS"].to_numpy()], KEYS + ["AVISIT"], "TRLNKID")
    summ = derive_vars_merged(summ, dataset_add=lsexp, by_vars=KEYS,
                              new_vars={"LSEXP": "TRLNKID"})
    summ = derive_vars_merged(summ, dataset_add=lsass, by_vars=KEYS + ["AVISIT"],
                              new_vars={"LSASS": "TRLNKID"})
    summ["ANL01FL"] = flag(summ["LSEXP"].eq(summ["LSASS"]).to_numpy())
    summ["ADT"] = summ["ADT"].astype("datetime64[s]")
    summ = summ.assign(PARAMCD="SDIAM", PARAM=f"Target Lesions Sum of Diameters by {who}",
                       PARCAT1="Target Lesion(s)", PARCAT2=who, PARCAT3="RECIST 1.1")
    with np.errstate(invalid="ignore"):
        early = summ["ADY"].to_numpy(dtype="float64") <= 1
    summ = derive_var_extreme_flag(summ, by_vars=KEYS, order=["ADY"], new_var="ABLFL",
                                   mode="last", filter=early)
    summ = derive_var_base(summ, by_vars=KEYS + ["PARAMCD"])
    summ = derive_var_nadir(summ, by_vars=KEYS + ["PARAMCD"], order_var="ADY",
                            filter=lambda d: d["ANL01FL"].eq("Y"))
    summ = derive_var_chg(summ)
    summ = derive_var_pchg(summ)
    a = summ["AVAL"].to_numpy(dtype="float64")
    nad = summ["NADIR"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        summ["CHGNAD"] = a - nad
        summ["PCHGNAD"] = np.where(nad == 0, np.nan, 100 * (a - nad) / nad)
    # PD on the date of the assessment (investigator's overall response)
    rs = sdtm.get("RS")
    if rs is not None and len(rs) and {"RSTESTCD", "RSSTRESC", "RSDTC"} <= set(rs.columns):
        r = rs[rs["RSTESTCD"].eq("OVRLRESP").to_numpy()
               & (rs["RSEVAL"].eq(o.evaluator).to_numpy() if "RSEVAL" in rs.columns else True)]
        r = r.assign(ADT=convert_dtc_to_dt(r["RSDTC"], o.date_imputation.model_copy(
            update={"highest": "D"})))
        summ = derive_var_merged_exist_flag(summ, dataset_add=r, by_vars=KEYS + ["ADT"],
                                            new_var="PDFL",
                                            condition=lambda d: d["RSSTRESC"].eq("PD"))
    else:
        summ["PDFL"] = na_str(len(summ))
    summ = derive_vars_merged(summ, dataset_add=adsl, by_vars=KEYS, new_vars={"_REF": ref})
    with np.errstate(invalid="ignore"):
        post = day_numbers(summ["ADT"]) > day_numbers(summ["_REF"])
    summ = derive_var_extreme_flag(summ, by_vars=KEYS, order=["PCHG"], new_var="ANL02FL",
                                   mode="first", filter=summ["ANL01FL"].eq("Y").to_numpy()
                                   & post)
    comp_or_pd = summ["ANL01FL"].eq("Y").to_numpy() | summ["PDFL"].eq("Y").to_numpy()
    summ = derive_var_relative_flag(summ, by_vars=KEYS, order=["ADY"], new_var="ANL03FL",
                                    condition=lambda d: d["PDFL"].eq("Y"), mode="first",
                                    selection="before", inclusive=False, filter=comp_or_pd)
    summ["ANL04FL"] = flag(comp_or_pd)
    summ = summ.drop(columns=["_REF"])
    summ = derive_var_obs_number(summ, by_vars=KEYS, order=["PARAMCD", "AVISITN"])
    keep = [c for c in BDS_ADSL_VARS if c in adsl.columns]
    summ = derive_vars_merged(summ, dataset_add=adsl, by_vars=KEYS, new_vars=keep)
    summ = summ.sort_values(KEYS + ["ASEQ"], kind="stable").reset_index(drop=True)
    front = [c for c in ("STUDYID", "USUBJID", "SUBJID", "SITEID", "ASEQ", *keep, "PARAMCD",
                         "PARAM", "PARCAT1", "PARCAT2", "PARCAT3", "AVAL", "BASE", "CHG", "PCHG",
                         "NADIR", "CHGNAD", "PCHGNAD", "ABLFL", "ADT", "ADTF", "ADY", "AVISIT",
                         "AVISITN", "ANL01FL", "ANL02FL", "ANL03FL", "ANL04FL", "PDFL", "LSEXP",
                         "LSASS") if c in summ.columns]
    front = list(dict.fromkeys(front))
    return summ[front + [c for c in summ.columns if c not in front]]


__all__ = ["build_adtr", "target_measurements"]


def _join_sorted(df: pd.DataFrame, by: list[str], col: str) -> pd.DataFrame:
    """One row per ``by`` group with ``col`` the group's values sorted and joined by ", "
    (``L1, L2``); groups in sorted key order. The strings are concatenated per group in one
    ``np.add.reduceat`` over the sorted values, not a Python function per group."""
    d = df[by + [col]].astype({col: "str"}).sort_values(by + [col], kind="mergesort")
    if not len(d):
        return d.reset_index(drop=True)
    codes = d.groupby(by, sort=False, dropna=False).ngroup().to_numpy()
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    vals = d[col].to_numpy(dtype=object)
    sep = np.full(len(vals), ", ", dtype=object)
    sep[np.r_[starts[1:] - 1, len(vals) - 1]] = ""
    out = d.iloc[starts][by].reset_index(drop=True)
    out[col] = str_col(np.add.reduceat(vals + sep, starts))
    return out

