"""ADAE: adverse events with analysis dates, treatment emergence and occurrence flags.

As admiral's ADAE template: ASTDTM/ASTDT with missing day/month imputed to the first (never
before first dose), AENDTM/AENDT to the last (never after death, end of study or the data
cut-off), study days, duration; TRTEMFL by the protocol's window (onset on/after first dose
and within ``teae_window_days`` of the last dose, or a pre-treatment event that worsened);
ASEV/ASEVN, AREL, ATOXGR/ATOXGRN; first-occurrence flags among TEAEs:

========== ============================================ ======================================
flag       records                                      first by
========== ============================================ ======================================
AOCCFL     each subject                                 ASTDTM, AESEQ
AOCCSFL    each subject and body system (AEBODSYS)      ASTDTM, AESEQ
AOCCPFL    each subject, body system and term (AEDECOD) ASTDTM, AESEQ
AOCCIFL    each subject                                 worst grade (or severity), ASTDTM, AESEQ
AOCCSIFL   each subject and body system                 worst grade, ASTDTM, AESEQ
AOCCPIFL   each subject, body system and term           worst grade, ASTDTM, AESEQ
========== ============================================ ======================================
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from adam._frame import SUBJECT_KEYS, isin_values, na_str
from adam.adrs import BDS_ADSL_VARS
from adam.adsl import _report_bad_dates
from adam.dates import derive_vars_dtm, derive_vars_dtm_to_dt
from adam.derive import (derive_var_extreme_flag, derive_var_trtemfl, derive_vars_duration,
                         derive_vars_dy, derive_vars_merged)
from adam.options import AdamOptions
from studybuild.findings import Findings

KEYS = list(SUBJECT_KEYS)
SEVERITY = {"MILD": 1.0, "MODERATE": 2.0, "SEVERE": 3.0, "DEATH THREATENING": 4.0}


def build_adae(adsl: pd.DataFrame, sdtm: Mapping[str, pd.DataFrame], *, options: AdamOptions,
               findings: Findings) -> pd.DataFrame | None:
    """Derive ADAE from AE (None when the folder has no AE).

    >>> adsl = pd.DataFrame({"STUDYID": ["S"], "USUBJID": ["S-1"],
    ...     "TRTSDT": pd.to_datetime(["2021-01-10"]).astype("datetime64[s]"),
    ...     "TRTEDT": pd.to_datetime(["2021-02-10"]).astype("datetime64[s]")})
    >>> ae = pd.DataFrame({"STUDYID": "S", "USUBJID": "S-1", "AESEQ": [1.0, 2.0],
    ...     "AEDECOD": ["NAUSEA", "RASH"], "AEBODSYS": ["GI", "SKIN"],
    ...     "AESTDTC": ["2021-01", "2021-03-20"], "AEENDTC": [None, None]})
    >>> adae = build_adae(adsl, {"AE": ae}, options=AdamOptions(), findings=Findings())
    >>> adae["ASTDT"].dt.strftime("%Y-%m-%d").tolist(), adae["TRTEMFL"].tolist()
    (['2021-01-10', '2021-03-20'], ['Y', nan])
    """
    ae = sdtm.get("AE")
    if ae is None or not len(ae) or "AESTDTC" not in ae.columns:
        return None
    o = options.adae
    _report_bad_dates(ae, "AE", ["AESTDTC", "AEENDTC"], findings)
    use = [c for c in ("TRTSDT", "TRTEDT", "DTHDT", "EOSDT") if c in adsl.columns]
    adae = derive_vars_merged(ae.drop(columns=[c for c in ("DOMAIN",) if c in ae.columns])
                              .reset_index(drop=True), dataset_add=adsl, by_vars=KEYS,
                              new_vars=use)
    orphans = ~isin_values(ae["USUBJID"], adsl["USUBJID"])
    if orphans.any():
        findings.add("ADAM-AE-NODM", "error", f"{int(orphans.sum())} AE record(s) for subjects "
                     "not in DM", dataset="AE", variable="USUBJID",
                     row=int(np.flatnonzero(orphans)[0]) + 1)
    start_imp = o.start_imputation.model_copy(
        update={"min_dates": tuple(c for c in o.start_imputation.min_dates if c in adae.columns)})
    max_dates = [c for c in o.end_imputation.max_dates if c in adae.columns]
    cutoff = options.study.data_cutoff
    if cutoff is not None:
        adae["_CUTOFF"] = pd.Series(np.full(len(adae), np.datetime64(cutoff, "s")))
        max_dates.append("_CUTOFF")
    end_imp = o.end_imputation.model_copy(update={"max_dates": tuple(max_dates)})
    adae = derive_vars_dtm(adae, dtc="AESTDTC", new_vars_prefix="AST", imputation=start_imp)
    if "AEENDTC" in adae.columns:
        adae = derive_vars_dtm(adae, dtc="AEENDTC", new_vars_prefix="AEN", imputation=end_imp)
    else:
        adae["AENDTM"] = pd.Series(np.full(len(adae), np.datetime64("NaT", "s")))
    adae = derive_vars_dtm_to_dt(adae, source_vars=["ASTDTM", "AENDTM"])
    if "TRTSDT" in adae.columns:
        adae = derive_vars_dy(adae, reference_date="TRTSDT", source_vars=["ASTDT", "AENDT"])
    adae = derive_vars_duration(adae, new_var="ADURN", new_var_unit="ADURU", start_date="ASTDT",
                                end_date="AENDT")
    grade = None
    if "AETOXGR" in adae.columns:
        g = pd.to_numeric(adae["AETOXGR"], errors="coerce").astype("float64")
        adae["ATOXGR"] = adae["AETOXGR"].astype("str")
        adae["ATOXGRN"] = g
        grade = "ATOXGRN"
    if "AESEV" in adae.columns:
        adae["ASEV"] = adae["AESEV"]
        adae["ASEVN"] = adae["AESEV"].map(SEVERITY).astype("float64")
        grade = grade or "ASEVN"
    if "AEREL" in adae.columns:
        adae["AREL"] = adae["AEREL"]
    initial = None
    supp = sdtm.get("SUPPAE")
    if o.initial_grade_qnam and supp is not None and len(supp):
        s = supp[supp["QNAM"].eq(o.initial_grade_qnam).to_numpy()]
        s = s.assign(AESEQ=pd.to_numeric(s["IDVARVAL"], errors="coerce"))[KEYS + ["AESEQ",
                                                                                  "QVAL"]]
        adae = derive_vars_merged(adae, dataset_add=s.drop_duplicates(KEYS + ["AESEQ"]),
                                  by_vars=KEYS + ["AESEQ"], new_vars={"AEITOXGR": "QVAL"})
        initial = "AEITOXGR"
    for var, qnam in o.supp.items():          # a loop over study-chosen variables
        if supp is None or not len(supp) or not supp["QNAM"].eq(qnam).any():
            continue
        s = supp[supp["QNAM"].eq(qnam).to_numpy()]
        s = s.assign(AESEQ=pd.to_numeric(s["IDVARVAL"], errors="coerce"))[KEYS + ["AESEQ",
                                                                                  "QVAL"]]
        adae = derive_vars_merged(adae, dataset_add=s.drop_duplicates(KEYS + ["AESEQ"]),
                                  by_vars=KEYS + ["AESEQ"], new_vars={var: "QVAL"})
    if "TRTSDT" in adae.columns:
        adae = derive_var_trtemfl(
            adae, start_date="ASTDT", end_date="AENDT", trt_start_date="TRTSDT",
            trt_end_date="TRTEDT" if "TRTEDT" in adae.columns else None,
            end_window=o.teae_window_days if "TRTEDT" in adae.columns else None,
            initial_intensity=initial, intensity="AETOXGR" if initial else None)
    else:
        adae["TRTEMFL"] = na_str(len(adae))
    teae = adae["TRTEMFL"].eq("Y").to_numpy()
    seq = ["AESEQ"] if "AESEQ" in adae.columns else []
    levels = [("", []), ("S", ["AEBODSYS"]), ("P", ["AEBODSYS", "AEDECOD"])]
    for suffix, extra in levels:
        if any(c not in adae.columns for c in extra):
            continue
        adae = derive_var_extreme_flag(adae, by_vars=KEYS + extra, order=["ASTDTM", *seq],
                                       new_var=f"AOCC{suffix}FL", mode="first", filter=teae)
        if grade:
            adae = derive_var_extreme_flag(adae, by_vars=KEYS + extra,
                                           order=[f"-{grade}", "ASTDTM", *seq],
                                           new_var=f"AOCC{suffix}IFL", mode="first",
                                           filter=teae)
    adae = adae.drop(columns=[c for c in ("_CUTOFF",) if c in adae.columns])
    keep = [c for c in BDS_ADSL_VARS + ("DTHDT", "EOSDT") if c in adsl.columns
            and c not in adae.columns]
    adae = derive_vars_merged(adae, dataset_add=adsl, by_vars=KEYS, new_vars=keep)
    adae = adae.sort_values(KEYS + seq, kind="stable").reset_index(drop=True)
    front = [c for c in ("STUDYID", "USUBJID", "SUBJID", "SITEID", "AGE", "AGEU", "SEX", "RACE",
                         "ARM", "ARMCD", "ACTARM", "ACTARMCD", "TRT01P", "TRT01A", "TRTSDT",
                         "TRTEDT", "SAFFL", "AESEQ") if c in adae.columns]
    return adae[front + [c for c in adae.columns if c not in front]]


__all__ = ["SEVERITY", "build_adae"]
