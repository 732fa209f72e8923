"""ADRS: overall response per assessment (OVR) and the per-subject RECIST 1.1 parameters
with admiralonco's PARAMCDs: PD, RSP, CB, BOR, BCP, CRSP, CCB, CBOR, CBCP, DEATH, LSTA, MDIS.

Flow (admiralonco's ADRS template):

1. OVR: RS overall responses (RSTESTCD OVRLRESP) of the chosen evaluator; ADT from RSDTC
   (missing day imputed to the last day, ADTF); AVALC = RSSTRESC, AVAL 1 (CR) .. 6 (NE).
2. ANL01FL: the worst assessment per date, on or after the reference date (randomisation);
   ANL02FL: assessments up to and including the first PD.
3. Parameters from the OVR records flagged ANL01FL and ANL02FL with the events of
   :func:`adam.response.recist_events`; every parameter record keeps the source record's
   variables (ADT, VISIT, RSSEQ...).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from adam._frame import (SUBJECT_KEYS, concat_sorted, day_numbers, isin_values,
                         lookup_positions, map_values, na_str, take)
from adam.adsl import baseline_mask
from adam.dates import derive_vars_dt, dtc_is_invalid
from adam.derive import (aval_resp, derive_extreme_event, derive_extreme_records,
                         derive_param_exist_flag, derive_var_extreme_flag,
                         derive_var_relative_flag, derive_vars_merged,
                         yn_to_numeric)
from adam.options import AdamOptions
from adam.response import RESPONSES, ResponseRules, recist_events
from studybuild.errors import InputError
from studybuild.findings import Findings

KEYS = list(SUBJECT_KEYS)
# ADSL variables copied into ADRS/ADTTE/ADTR/ADAE: identification, treatment, populations and
# the usual subgroups (admiral's templates copy every ADSL variable; the rest stays in ADSL)
BDS_ADSL_VARS = ("SUBJID", "SITEID", "AGE", "SEX", "RACE", "TRT01P", "TRT01A", "TRTSDT",
                 "RANDDT", "SAFFL", "ITTFL", "FASFL", "EFFFL")
_WORST = {"NE": 1, "CR": 2, "PR": 3, "SD": 4, "NON-CR/NON-PD": 5, "PD": 6}


def evaluator_words(evaluator: str) -> str:
    return {"INVESTIGATOR": "Investigator", "INDEPENDENT ASSESSOR": "Independent Assessor"} \
        .get(evaluator.upper(), evaluator.title())


def reference_var(adsl: pd.DataFrame, choice: str) -> str:
    """The ADSL date responses are timed from: ``auto`` is RANDDT for randomised studies,
    else the first dose date."""
    if choice != "auto":
        return choice
    if adsl.attrs.get("randomised", True) and "RANDDT" in adsl.columns and \
            adsl["RANDDT"].notna().any():
        return "RANDDT"
    return "TRTSDT"


def build_adrs(adsl: pd.DataFrame, sdtm: Mapping[str, pd.DataFrame], *, options: AdamOptions,
               findings: Findings) -> pd.DataFrame | None:
    """Derive ADRS from RS (and TU for MDIS); None when the folder has no RS.

    >>> adsl = pd.DataFrame({"STUDYID": ["S"], "USUBJID": ["S-1"],
    ...     "RANDDT": pd.to_datetime(["2021-01-01"]).astype("datetime64[s]"),
    ...     "TRTSDT": pd.to_datetime(["2021-01-01"]).astype("datetime64[s]"),
    ...     "DTHDT": pd.Series([None], dtype="datetime64[s]")})
    >>> rs = pd.DataFrame({"STUDYID": "S", "USUBJID": "S-1", "RSTESTCD": "OVRLRESP",
    ...     "RSEVAL": "INVESTIGATOR", "RSSEQ": [1.0, 2.0], "VISITNUM": [2.0, 3.0],
    ...     "RSSTRESC": ["PR", "PR"], "RSDTC": ["2021-02-12", "2021-03-26"]})
    >>> adrs = build_adrs(adsl, {"RS": rs}, options=AdamOptions(), findings=Findings())
    >>> adrs.set_index("PARAMCD").loc[["BOR", "CBOR", "CRSP"], "AVALC"].tolist()
    ['PR', 'PR', 'Y']
    """
    rs = sdtm.get("RS")
    if rs is None or not len(rs):
        return None
    o = options.adrs
    need_cols = ["RSTESTCD", "RSSTRESC", "RSDTC"]
    missing = [c for c in KEYS + need_cols if c not in rs.columns]
    if missing:
        raise InputError(f"RS lacks {', '.join(missing)}", hint="ADRS reads RSTESTCD = "
                         "OVRLRESP records with RSSTRESC and RSDTC")
    ref = reference_var(adsl, o.reference_date)
    if ref not in adsl.columns:
        raise InputError(f"ADRS reference date {ref} is not in ADSL",
                         hint="set adrs.reference_date in the study's adam/adrs.yaml")
    m = rs["RSTESTCD"].eq("OVRLRESP").to_numpy().copy()
    if "RSEVAL" in rs.columns:
        ev = rs["RSEVAL"]
        m &= ev.eq(o.evaluator).to_numpy() | (ev.isna().to_numpy() & (o.evaluator ==
                                                                      "INVESTIGATOR"))
    if o.accepted_only and "RSACPTFL" in rs.columns:
        m &= rs["RSACPTFL"].eq("Y").to_numpy()
    src = rs[m].reset_index(drop=True)
    bad = dtc_is_invalid(src["RSDTC"])
    if bad.any():
        findings.add("ADAM-DATE-INVALID", "warning", f"{int(bad.sum())} RS.RSDTC value(s) are "
                     "not ISO 8601 dates; those assessments have no ADT", dataset="RS",
                     variable="RSDTC")
    who = evaluator_words(o.evaluator)
    par = {"PARCAT1": "Tumor Response", "PARCAT2": who, "PARCAT3": "RECIST 1.1"}
    adsl_ref = [c for c in dict.fromkeys([ref, "NACTDT"]) if c in adsl.columns]
    ovr = derive_vars_merged(src.drop(columns=[c for c in adsl_ref if c in src.columns]),
                             dataset_add=adsl, by_vars=KEYS, new_vars=adsl_ref)
    orphans = ~isin_values(src["USUBJID"], adsl["USUBJID"])
    if orphans.any():
        findings.add("ADAM-RS-NODM", "error", f"{int(orphans.sum())} RS record(s) for subjects "
                     f"not in DM (first: {src.loc[orphans, 'USUBJID'].iloc[0]})", dataset="RS",
                     variable="USUBJID")
    ovr = ovr.assign(PARAMCD="OVR", PARAM=f"Overall Response by {who}", **par)
    ovr = derive_vars_dt(ovr, dtc="RSDTC", new_vars_prefix="A", imputation=o.date_imputation)
    ovr = ovr.assign(AVISIT=ovr["VISIT"] if "VISIT" in ovr.columns else na_str(len(ovr)),
                     AVALC=ovr["RSSTRESC"])
    if "VISITNUM" in ovr.columns:
        ovr["AVISITN"] = pd.to_numeric(ovr["VISITNUM"], errors="coerce").astype("float64")
    ovr["AVAL"] = aval_resp(ovr["AVALC"])
    unknown = ovr["AVALC"].notna().to_numpy() & ~ovr["AVALC"].isin(RESPONSES).to_numpy()
    if unknown.any():
        findings.add("ADAM-ADRS-RESPONSE", "warning",
                     f"{int(unknown.sum())} overall response(s) are not RECIST 1.1 values "
                     f"({', '.join(RESPONSES)}); they are not analysed (first: "
                     f"{ovr.loc[unknown, 'AVALC'].iloc[0]!r})", dataset="RS",
                     variable="RSSTRESC")
    seq = ["RSSEQ"] if "RSSEQ" in ovr.columns else []
    with np.errstate(invalid="ignore"):
        usable = ~np.isnan(ovr["AVAL"].to_numpy()) & \
            (day_numbers(ovr["ADT"]) >= day_numbers(ovr[ref]))
        if o.exclude_after_new_therapy and "NACTDT" in ovr.columns:
            nact = day_numbers(ovr["NACTDT"])
            usable &= np.isnan(nact) | (day_numbers(ovr["ADT"]) < nact)
    ovr["_WORST"] = map_values(ovr["AVALC"], _WORST)
    ovr = derive_var_extreme_flag(ovr, by_vars=KEYS + ["ADT"], order=["_WORST", *seq],
                                  new_var="ANL01FL", mode="last", filter=usable)
    ovr = derive_var_relative_flag(ovr, by_vars=KEYS, order=["ADT", *seq], new_var="ANL02FL",
                                   condition=lambda d: d["AVALC"].eq("PD"), mode="first",
                                   selection="before", inclusive=True)
    ovr = ovr.drop(columns=["_WORST"] + [c for c in ("NACTDT",) if c in ovr.columns and
                                         c != ref])
    # the subject as an integer (ADSL row) for every grouping: strings are factorised once
    S = ["_S"]
    adsl_k = adsl[KEYS + [ref]].assign(_S=np.arange(len(adsl), dtype=np.int64))
    pos = lookup_positions(ovr, adsl_k, KEYS)
    other, _ = pd.factorize(ovr["USUBJID"])
    ovr["_S"] = np.where(pos >= 0, pos, len(adsl) + other).astype(np.int64)
    # parameter records carry the source assessment's timing and traceability variables
    narrow = [c for c in ("_S", *KEYS, ref, "ADT", "ADTF", "AVISIT", "AVISITN", "VISIT",
                          "VISITNUM", "RSSEQ", "RSEVAL", "RSDTC", "AVALC", "AVAL", "ANL01FL",
                          "ANL02FL") if c in ovr.columns]
    ovr_n = ovr[narrow]
    anl = ovr["ANL01FL"].eq("Y").to_numpy()
    counted = ovr_n[anl & ovr["ANL02FL"].eq("Y").to_numpy()]
    rules = ResponseRules(reference_date=ref, sd_min_days=o.sd_min_days,
                          sd_window_days=o.sd_window_days, confirmation=o.confirmation)
    ev = recist_events(rules, by_vars=S)
    adsl_src = adsl_k
    ref_vars = list(adsl_k.columns)
    srcs = {"ovr": counted, "adsl": adsl_src}

    def pcode(code: str, param: str, **extra) -> dict:
        return {"PARAMCD": code, "PARAM": param, **par, **extra}

    def yn(d: pd.DataFrame) -> np.ndarray:
        return yn_to_numeric(d["AVALC"])

    def resp(d: pd.DataFrame) -> np.ndarray:
        return aval_resp(d["AVALC"])

    parts = [ovr]
    # progressive disease
    parts.append(derive_extreme_records(
        dataset_ref=adsl_src, dataset_add=ovr_n, by_vars=S, ref_vars=ref_vars,
        filter_add=anl & ovr["AVALC"].eq("PD").to_numpy(), order=["ADT", *seq], mode="first",
        exist_flag="AVALC", false_value="N",
        set_values_to=pcode("PD", f"Disease Progression by {who}", AVAL=yn, ANL01FL="Y")))
    parts.append(derive_extreme_event(
        None, by_vars=S, events=[ev["rsp_y"], ev["no_data_n"]], source_datasets=srcs,
        order=["event_nr", "ADT"], mode="first",
        set_values_to=pcode("RSP", f"Response by {who} (confirmation not required)", AVAL=yn,
                            ANL01FL="Y")))
    parts.append(derive_extreme_event(
        None, by_vars=S, events=[ev["rsp_y"], ev["cb_y"], ev["no_data_n"]],
        source_datasets=srcs, order=["-AVALC", "ADT", "event_nr"], mode="first",
        set_values_to=pcode("CB", f"Clinical Benefit by {who} (confirmation for response not "
                            "required)", AVAL=yn, ANL01FL="Y")))
    bor = derive_extreme_event(
        None, by_vars=S, events=[ev[k] for k in ("bor_cr", "bor_pr", "bor_sd", "bor_non_crpd",
                                                 "bor_pd", "bor_ne", "no_data_missing")],
        source_datasets=srcs, order=["event_nr", "ADT"], mode="first",
        set_values_to=pcode("BOR", f"Best Overall Response by {who} (confirmation not "
                            "required)", AVAL=resp, ANL01FL="Y"))
    parts.append(bor)
    parts.append(derive_extreme_records(
        dataset_ref=adsl_src, dataset_add=bor, by_vars=S, ref_vars=ref_vars,
        filter_add=lambda d: d["AVALC"].isin(["CR", "PR"]), exist_flag="AVALC",
        false_value="N",
        set_values_to=pcode("BCP", f"Best Overall Response of CR/PR by {who} (confirmation "
                            "not required)", AVAL=yn, ANL01FL="Y")))
    parts.append(derive_extreme_event(
        None, by_vars=S, events=[ev["crsp_y_cr"], ev["crsp_y_pr"], ev["no_data_n"]],
        source_datasets=srcs, order=["-AVALC", "ADT", "event_nr"], mode="first",
        set_values_to=pcode("CRSP", f"Confirmed Response by {who}", AVAL=yn, ANL01FL="Y")))
    parts.append(derive_extreme_event(
        None, by_vars=S, events=[ev["crsp_y_cr"], ev["crsp_y_pr"], ev["cb_y"],
                                 ev["no_data_n"]],
        source_datasets=srcs, order=["-AVALC", "ADT", "event_nr"], mode="first",
        set_values_to=pcode("CCB", f"Confirmed Clinical Benefit by {who}", AVAL=yn,
                            ANL01FL="Y")))
    cbor = derive_extreme_event(
        None, by_vars=S, events=[ev[k] for k in ("cbor_cr", "cbor_pr", "bor_sd",
                                                 "bor_non_crpd", "bor_pd", "bor_ne",
                                                 "no_data_missing")],
        source_datasets=srcs, order=["event_nr", "ADT"], mode="first",
        set_values_to=pcode("CBOR", f"Best Confirmed Overall Response by {who}", AVAL=resp,
                            ANL01FL="Y"))
    parts.append(cbor)
    parts.append(derive_extreme_records(
        dataset_ref=adsl_src, dataset_add=cbor, by_vars=S, ref_vars=ref_vars,
        filter_add=lambda d: d["AVALC"].isin(["CR", "PR"]), exist_flag="AVALC",
        false_value="N",
        set_values_to=pcode("CBCP", f"Best Confirmed Overall Response of CR/PR by {who}",
                            AVAL=yn, ANL01FL="Y")))
    # death
    if "DTHDT" in adsl.columns:
        dth = adsl_k.assign(DTHDT=adsl["DTHDT"].to_numpy())
        parts.append(derive_extreme_records(
            dataset_ref=dth, dataset_add=dth, by_vars=S, ref_vars=ref_vars,
            filter_add=lambda d: d["DTHDT"].notna(), exist_flag="AVALC", false_value="N",
            set_values_to={"PARAMCD": "DEATH", "PARAM": "Death", "PARCAT1": "Reference Event",
                           "AVAL": yn, "ANL01FL": "Y", "ADT": lambda d: d["DTHDT"]}
        ).drop(columns=["DTHDT"]))
    # last disease assessment (any analysed assessment, also after PD)
    parts.append(derive_extreme_records(
        dataset_ref=adsl_src, dataset_add=ovr_n, by_vars=S, ref_vars=ref_vars, filter_add=anl,
        order=["ADT", *seq], mode="last",
        set_values_to=pcode("LSTA", f"Last Disease Assessment by {who}", ANL01FL="Y")))
    # measurable disease at baseline
    tu = sdtm.get("TU")
    if tu is not None and len(tu) and "TUSTRESC" in tu.columns:
        cond = baseline_mask(tu, "TU", adsl, o.baseline_visits) & tu["TUSTRESC"].eq(
            "TARGET").to_numpy()
        if "TUEVAL" in tu.columns:
            cond &= tu["TUEVAL"].eq(o.evaluator).to_numpy() | (
                tu["TUEVAL"].isna().to_numpy() & (o.evaluator == "INVESTIGATOR"))
        tpos = lookup_positions(tu, adsl_k, KEYS)
        tu_k = pd.DataFrame({"_S": tpos})
        parts.append(derive_param_exist_flag(
            dataset_ref=adsl_src, dataset_add=tu_k, by_vars=S, ref_vars=ref_vars,
            condition=cond & (tpos >= 0), false_value="N", missing_value="N",
            set_values_to={"PARAMCD": "MDIS", "PARAM": f"Measurable Disease at Baseline by {who}",
                           "PARCAT2": who, "PARCAT3": "RECIST 1.1", "AVAL": yn,
                           "ANL01FL": "Y"}))
    # one sort gives the output order (subject, parameter, date) and ASEQ; the parts are
    # emptied column by column on the way, so the peak stays near one copy of ADRS
    del ovr_n, counted, bor, cbor, srcs
    seq_keys = ["_S", "PARAMCD", "ADT"] + [c for c in ("VISITNUM", "RSSEQ") if c in ovr.columns]
    del ovr
    # subject identifiers come from ADSL by subject number (a sequential read) unless RS has
    # subjects ADSL lacks
    from_adsl = not bool((ovr_s := parts[0]["_S"].to_numpy() >= len(adsl)).any()) \
        if len(parts[0]) else True
    cols = None
    if from_adsl:
        names: list[str] = []
        for p in parts:
            names += [c for c in p.columns if c not in names]
        cols = [c for c in names if c not in KEYS]
    adrs, rank = concat_sorted(parts, seq_keys, columns=cols)
    del parts, ovr_s
    if from_adsl:
        spos0 = adrs["_S"].to_numpy()
        adrs.insert(0, "USUBJID", take(adsl["USUBJID"], spos0))
        adrs.insert(0, "STUDYID", take(adsl["STUDYID"], spos0))
    adrs["ASEQ"] = rank.astype("float64") + 1
    adrs["AVAL"] = adrs["AVAL"].astype("float64")
    adrs = adrs.drop(columns=[c for c in BDS_ADSL_VARS + ("DOMAIN",) if c in adrs.columns
                              and c != ref])
    keep = [c for c in BDS_ADSL_VARS if c in adsl.columns and c != ref]
    spos = adrs["_S"].to_numpy()
    inside = spos < len(adsl)
    for c in keep:
        adrs[c] = take(adsl[c], np.where(inside, spos, -1))
    adrs = adrs.drop(columns=["_S"])
    return _order_columns(adrs)


_FRONT = ["STUDYID", "USUBJID", "SUBJID", "SITEID", "ASEQ", "AGE", "AGEU", "SEX", "RACE", "ARM",
          "ARMCD", "ACTARM", "ACTARMCD", "TRT01P", "TRT01A", "TRTSDT", "TRTEDT", "RANDDT",
          "ENRLDT", "SAFFL", "ITTFL", "FASFL", "EFFFL", "PARAMCD", "PARAM", "PARCAT1", "PARCAT2",
          "PARCAT3", "AVALC", "AVAL", "ADT", "ADTF", "ADY", "AVISIT", "AVISITN", "ANL01FL",
          "ANL02FL"]


def _order_columns(df: pd.DataFrame) -> pd.DataFrame:
    front = [c for c in _FRONT if c in df.columns]
    return df[front + [c for c in df.columns if c not in front]]


__all__ = ["BDS_ADSL_VARS", "build_adrs", "evaluator_words", "reference_var"]
