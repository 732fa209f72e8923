"""An independent RECIST 1.1 check: recompute each assessment's target, non-target and overall
response from the measurements (TR) and lesion identifications (TU), and list where the
investigator's overall response in RS disagrees.

Rules (RECIST 1.1, Eisenhauer et al. 2009):

- target lesions: the diameter is the longest diameter, for lymph nodes the short axis (SAXIS,
  else LPERP). CR: every non-nodal lesion gone (0 mm) and every node < 10 mm. PD: the sum is at
  least 20% and at least 5 mm above the nadir (the smallest sum so far, baseline included).
  PR: the sum is at least 30% below baseline. Otherwise SD. A lesion not measured makes the
  response NE, unless the measured ones already show PD.
- non-target lesions (TR TUMSTATE): any UNEQUIVOCAL PROGRESSION -> PD; all ABSENT -> CR; one not
  assessed -> NE; else NON-CR/NON-PD.
- new lesion (TU TUSTRESC NEW, or TR TRGRPID NEW) -> PD.
- overall response: RECIST 1.1 tables 1 (target disease) and 2 (non-target disease only).

Visits are matched by USUBJID and VISIT (by date when RS has no VISIT).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from adam._frame import SUBJECT_KEYS, day_numbers, isin_values, str_col
from adam.adsl import baseline_mask
from adam.adtr import target_measurements
from adam.dates import DateImputation, convert_dtc_to_dt
from adam.options import AdamOptions
from studybuild.findings import Findings

KEYS = list(SUBJECT_KEYS)
COLUMNS = ["STUDYID", "USUBJID", "VISIT", "ADT", "INVESTIGATOR", "RECOMPUTED", "TARGET",
           "NONTARGET", "NEWLESION", "REASON"]
_EPS = 1e-9


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="datetime64[s]" if c == "ADT" else "str")
                         for c in COLUMNS})


def _eval_mask(df: pd.DataFrame, col: str, evaluator: str) -> np.ndarray:
    if col not in df.columns:
        return np.ones(len(df), dtype=bool)
    return df[col].eq(evaluator).to_numpy() | (df[col].isna().to_numpy()
                                               & (evaluator == "INVESTIGATOR"))


def _fmt(x: np.ndarray) -> np.ndarray:
    return np.array([("%g" % v) if not np.isnan(v) else "?" for v in x], dtype=object)


def target_response(adsl: pd.DataFrame, sdtm: Mapping[str, pd.DataFrame], *,
                    evaluator: str, baseline_visits) -> pd.DataFrame | None:
    """Per subject and post-baseline visit: SOD, baseline, nadir, lesions missing and the
    target response."""
    meas = target_measurements(sdtm, evaluator)
    if meas is None or not len(meas):
        return None
    meas = meas.drop_duplicates(subset=KEYS + ["VISIT", "TRLNKID"], keep="last") \
        .reset_index(drop=True)
    base = baseline_mask(meas, "TR", adsl, baseline_visits)
    bl = meas[base & ~np.isnan(meas["AVAL"].to_numpy())]
    base_les = bl[KEYS + ["TRLNKID"]].drop_duplicates()
    n_base = base_les.groupby(KEYS).size().rename("NBASE").reset_index()
    base_sod = bl.groupby(KEYS)["AVAL"].sum().rename("BASESOD").reset_index()
    post = meas[~base].merge(base_les, on=KEYS + ["TRLNKID"], how="inner")
    if not len(post):
        return None
    dts = convert_dtc_to_dt(post["TRDTC"], DateImputation(highest="M")) \
        if "TRDTC" in post.columns else pd.Series(np.full(len(post), np.datetime64("NaT", "s")))
    post = post.assign(_DT=dts.to_numpy(), _MEAS=~np.isnan(post["AVAL"].to_numpy()))
    post["_GONE"] = np.where(post["NODAL"].to_numpy(bool), post["AVAL"].to_numpy() < 10,
                             post["AVAL"].to_numpy() == 0) & post["_MEAS"].to_numpy()
    vis_cols = KEYS + ["VISIT"] + (["VISITNUM"] if "VISITNUM" in post.columns else [])
    g = post.groupby(KEYS + ["VISIT"], sort=False)
    per = g.agg(SOD=("AVAL", "sum"), NMEAS=("_MEAS", "sum"), NGONE=("_GONE", "sum"),
                ADT=("_DT", "min")).reset_index()
    if "VISITNUM" in post.columns:
        per = per.merge(post[vis_cols].drop_duplicates(KEYS + ["VISIT"]), on=KEYS + ["VISIT"],
                        how="left")
    per = per.merge(n_base, on=KEYS, how="left").merge(base_sod, on=KEYS, how="left")
    per["ADT"] = per["ADT"].astype("datetime64[s]")
    complete = per["NMEAS"].to_numpy() == per["NBASE"].to_numpy()
    # nadir: smallest complete sum before this visit (baseline included); visits in date
    # order (unscheduled visit numbers need not be chronological), then VISITNUM
    vnum = per["VISITNUM"].to_numpy(dtype="float64") if "VISITNUM" in per.columns else \
        np.zeros(len(per))
    per = per.assign(_K=day_numbers(per["ADT"]), _K2=vnum,
                     _C=np.where(complete, per["SOD"].to_numpy(), np.inf))
    per = per.sort_values(KEYS + ["_K", "_K2"], kind="stable", na_position="last") \
        .reset_index(drop=True)
    complete = per["NMEAS"].to_numpy() == per["NBASE"].to_numpy()
    run = per.groupby(KEYS, sort=False)["_C"].cummin()
    prev = run.groupby([per[k] for k in KEYS], sort=False).shift(1).to_numpy(dtype="float64")
    base_v = per["BASESOD"].to_numpy(dtype="float64")
    nadir = np.fmin(np.where(np.isnan(prev) | np.isinf(prev), np.inf, prev), base_v)
    sod = per["SOD"].to_numpy(dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        pd_ = (sod >= 1.2 * nadir - _EPS) & (sod - nadir >= 5 - _EPS)
        pr = sod <= 0.7 * base_v + _EPS
    cr = complete & (per["NGONE"].to_numpy() == per["NBASE"].to_numpy())
    resp = np.where(cr, "CR", np.where(pd_, "PD", np.where(~complete, "NE",
                                                           np.where(pr, "PR", "SD"))))
    per["TARGET"] = resp
    per["NADIR"] = nadir
    per["COMPLETE"] = complete
    return per.drop(columns=["_K", "_K2", "_C"])


def nontarget_response(adsl: pd.DataFrame, sdtm: Mapping[str, pd.DataFrame], *,
                       evaluator: str, baseline_visits) -> pd.DataFrame | None:
    tr = sdtm.get("TR")
    if tr is None or not len(tr) or "TRTESTCD" not in tr.columns:
        return None
    m = tr["TRTESTCD"].eq("TUMSTATE").to_numpy() & _eval_mask(tr, "TREVAL", evaluator)
    if "TRGRPID" in tr.columns:
        m &= tr["TRGRPID"].eq("NON-TARGET").to_numpy()
    nt = tr[m]
    if not len(nt):
        return None
    nt = nt.drop_duplicates(subset=KEYS + ["VISIT", "TRLNKID"], keep="last").reset_index(drop=True)
    base = baseline_mask(nt, "TR", adsl, baseline_visits)
    base_les = nt.loc[base, KEYS + ["TRLNKID"]].drop_duplicates()
    nbase = base_les.groupby(KEYS).size().rename("NNT").reset_index()
    post = nt[~base].merge(base_les, on=KEYS + ["TRLNKID"], how="inner")
    val = (post["TRSTRESC"] if "TRSTRESC" in post.columns else post["TRORRES"]).astype("str") \
        .str.upper()
    post = post.assign(_PD=val.str.contains("UNEQUIVOCAL|PROGRESSION", regex=True).fillna(False)
                       .to_numpy(bool),
                       _ABS=val.eq("ABSENT").to_numpy(), _ASS=val.notna().to_numpy()
                       & ~val.isin(["NOT ASSESSED", "NOT EVALUABLE", "NE"]).to_numpy())
    per = post.groupby(KEYS + ["VISIT"], sort=False).agg(
        NPD=("_PD", "sum"), NABS=("_ABS", "sum"), NASS=("_ASS", "sum")).reset_index()
    per = per.merge(nbase, on=KEYS, how="left")
    resp = np.where(per["NPD"].to_numpy() > 0, "PD",
                    np.where(per["NASS"].to_numpy() < per["NNT"].to_numpy(), "NE",
                             np.where(per["NABS"].to_numpy() == per["NNT"].to_numpy(), "CR",
                                      "NON-CR/NON-PD")))
    per["NONTARGET"] = resp
    return per


def new_lesions(sdtm: Mapping[str, pd.DataFrame], evaluator: str) -> pd.DataFrame:
    parts = []
    tu = sdtm.get("TU")
    if tu is not None and len(tu) and {"TUSTRESC", "VISIT"} <= set(tu.columns):
        m = tu["TUSTRESC"].eq("NEW").to_numpy() & _eval_mask(tu, "TUEVAL", evaluator)
        parts.append(tu.loc[m, KEYS + ["VISIT"]])
    tr = sdtm.get("TR")
    if tr is not None and len(tr) and {"TRGRPID", "VISIT"} <= set(tr.columns):
        m = tr["TRGRPID"].eq("NEW").to_numpy() & _eval_mask(tr, "TREVAL", evaluator)
        parts.append(tr.loc[m, KEYS + ["VISIT"]])
    if not parts:
        return pd.DataFrame(columns=KEYS + ["VISIT", "NEWLESION"])
    return pd.concat(parts).drop_duplicates().assign(NEWLESION="Y")


def overall_response(target: np.ndarray, nontarget: np.ndarray, new: np.ndarray) -> np.ndarray:
    """RECIST 1.1 tables 1 and 2 (``target``/``nontarget`` None when there is no such disease).

    >>> overall_response(np.array(["CR", "CR", "PR", None], dtype=object),
    ...                  np.array(["CR", "NON-CR/NON-PD", "NE", "CR"], dtype=object),
    ...                  np.array([False, False, False, False])).tolist()
    ['CR', 'PR', 'PR', 'CR']
    """
    t = pd.Series(target, dtype="object")
    nt = pd.Series(nontarget, dtype="object")
    has_t = t.notna().to_numpy()
    nt_ok = nt.isna() | nt.isin(["CR", "NON-CR/NON-PD", "NE"])
    pd_any = t.eq("PD").to_numpy() | nt.eq("PD").to_numpy() | np.asarray(new, bool)
    with_t = np.select(
        [t.eq("CR") & (nt.isna() | nt.eq("CR")), t.eq("CR") & nt_ok, t.eq("PR") & nt_ok,
         t.eq("SD") & nt_ok, t.eq("NE") & nt_ok],
        ["CR", "PR", "PR", "SD", "NE"], default="NE")
    without_t = np.select([nt.eq("CR"), nt.eq("NON-CR/NON-PD")], ["CR", "NON-CR/NON-PD"],
                          default="NE")
    out = np.where(pd_any, "PD", np.where(has_t, with_t, without_t)).astype(object)
    out[~has_t & nt.isna().to_numpy() & ~pd_any] = None
    return out


def recist_check(adsl: pd.DataFrame, sdtm: Mapping[str, pd.DataFrame], *,
                 options: AdamOptions, findings: Findings) -> pd.DataFrame:
    """Disagreements between RS (the evaluator's OVRLRESP) and the recomputation from TR/TU:
    one row per assessment with both answers and the reason."""
    o = options.adrs
    rs = sdtm.get("RS")
    if rs is None or not len(rs) or "RSTESTCD" not in rs.columns:
        return _empty()
    tgt = target_response(adsl, sdtm, evaluator=o.evaluator, baseline_visits=o.baseline_visits)
    ntg = nontarget_response(adsl, sdtm, evaluator=o.evaluator,
                             baseline_visits=o.baseline_visits)
    if tgt is None and ntg is None:
        return _empty()
    ovr = rs[rs["RSTESTCD"].eq("OVRLRESP").to_numpy() & _eval_mask(rs, "RSEVAL", o.evaluator)]
    if "VISIT" not in ovr.columns:
        return _empty()
    ovr = ovr.assign(ADT=convert_dtc_to_dt(ovr["RSDTC"], o.date_imputation).to_numpy())
    ovr = ovr[KEYS + ["VISIT", "ADT", "RSSTRESC"]].drop_duplicates(KEYS + ["VISIT"], keep="last")
    visits = [f[KEYS + ["VISIT"]] for f in (tgt, ntg) if f is not None]
    allv = pd.concat(visits + [ovr[KEYS + ["VISIT"]]]).drop_duplicates()
    res = allv.merge(ovr, on=KEYS + ["VISIT"], how="left")
    # subjects with measurements only: the check covers subjects the recomputation knows
    known = pd.concat(visits)["USUBJID"].unique()
    res = res[isin_values(res["USUBJID"], known)]
    if tgt is not None:
        res = res.merge(tgt[KEYS + ["VISIT", "SOD", "BASESOD", "NADIR", "NMEAS", "NBASE",
                                    "TARGET", "ADT"]].rename(columns={"ADT": "_TDT"}),
                        on=KEYS + ["VISIT"], how="left")
        has_tdis = isin_values(res["USUBJID"], tgt["USUBJID"])
    else:
        has_tdis = np.zeros(len(res), bool)
        for c in ("SOD", "BASESOD", "NADIR", "NMEAS", "NBASE"):
            res[c] = np.nan
        res["TARGET"] = None
        res["_TDT"] = pd.Series(np.full(len(res), np.datetime64("NaT", "s")), index=res.index)
    if ntg is not None:
        res = res.merge(ntg[KEYS + ["VISIT", "NONTARGET"]], on=KEYS + ["VISIT"], how="left")
        has_nt = isin_values(res["USUBJID"], ntg["USUBJID"])
    else:
        res["NONTARGET"] = None
        has_nt = np.zeros(len(res), bool)
    new = new_lesions(sdtm, o.evaluator)
    res = res.merge(new, on=KEYS + ["VISIT"], how="left") if len(new) else \
        res.assign(NEWLESION=None)
    t = res["TARGET"].to_numpy(dtype=object)
    t = np.where(has_tdis & pd.isna(t), "NE", t)        # a visit without target measurements
    nt = res["NONTARGET"].to_numpy(dtype=object)
    nt = np.where(has_nt & pd.isna(nt), "NE", nt)
    t = np.where(has_tdis, t, None)
    nt = np.where(has_nt, nt, None)
    newfl = res["NEWLESION"].eq("Y").to_numpy()
    rec = overall_response(t, nt, newfl)
    inv = res["RSSTRESC"].to_numpy(dtype=object)
    differ = np.array([a != b for a, b in zip(inv, rec)], dtype=bool) if len(res) else \
        np.zeros(0, bool)
    sod, base, nad = (res[c].to_numpy(dtype="float64") for c in ("SOD", "BASESOD", "NADIR"))
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = 100 * (sod - base) / base
        pctn = 100 * (sod - nad) / nad
    nmeas, nbase = res["NMEAS"].to_numpy(dtype="float64"), res["NBASE"].to_numpy(dtype="float64")
    reason = np.where(
        has_tdis,
        "target " + pd.Series(t, dtype="object").fillna("NE").to_numpy(dtype=object)
        + ": sum " + _fmt(sod) + " mm, " + _fmt(np.round(pct, 1)) + "% from baseline "
        + _fmt(base) + " mm, " + _fmt(np.round(pctn, 1)) + "% from nadir " + _fmt(nad)
        + " mm, " + _fmt(nmeas) + " of " + _fmt(nbase) + " lesions measured",
        "no target lesions").astype(object)
    reason = reason + np.where(has_nt, "; non-target " + pd.Series(nt, dtype="object")
                               .fillna("NE").to_numpy(dtype=object), "; no non-target lesions")
    reason = reason + np.where(newfl, "; new lesion", "")
    reason = np.where(pd.isna(inv), "no overall response in RS for this assessment; " + reason,
                      reason)
    adt = res["ADT"].to_numpy().astype("datetime64[s]")
    tdt = res["_TDT"].to_numpy().astype("datetime64[s]")
    adt = np.where(np.isnat(adt), tdt, adt)
    out = pd.DataFrame({
        "STUDYID": res["STUDYID"].to_numpy(), "USUBJID": res["USUBJID"].to_numpy(),
        "VISIT": res["VISIT"].to_numpy(), "ADT": adt,
        "INVESTIGATOR": str_col(inv), "RECOMPUTED": str_col(rec), "TARGET": str_col(t),
        "NONTARGET": str_col(nt), "NEWLESION": str_col(np.where(newfl, "Y", None)),
        "REASON": str_col(reason)})
    out = out[differ].sort_values(["USUBJID", "ADT", "VISIT"], kind="stable") \
        .reset_index(drop=True)
    for c in ("STUDYID", "USUBJID", "VISIT"):
        out[c] = out[c].astype("str")
    if len(out):
        first = out.iloc[0]
        findings.add("ADAM-RECIST-DISAGREE", "warning",
                     f"{len(out)} overall response(s) in RS differ from the RECIST 1.1 "
                     f"recomputation from TR/TU (first: {first.USUBJID} {first.VISIT}: "
                     f"{first.INVESTIGATOR} vs {first.RECOMPUTED})", dataset="RS",
                     variable="RSSTRESC", keys={"USUBJID": first.USUBJID,
                                                "VISIT": first.VISIT})
    return out


__all__ = ["COLUMNS", "new_lesions", "nontarget_response", "overall_response", "recist_check",
           "target_response"]
