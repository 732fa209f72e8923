"""ADTTE: overall survival (OS), progression-free survival (PFS), duration of response (RSD)
and time to response (TTR), with STARTDT, ADT, AVAL (days), CNSR, EVNTDESC, CNSDTDSC and
SRCDOM/SRCVAR/SRCSEQ tracing each date to its record.

Sources follow admiralonco's ``tte_source`` objects: death and progression from ADRS (DEATH, PD),
last assessment from ADRS LSTA, last known alive date and the origin from ADSL. The censoring
rule set (``admiral`` or ``fda2018``, docs/censoring.md) then adjusts PFS/RSD/TTR.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from adam._frame import SUBJECT_KEYS, concat_rows, flag, isin_values
from adam.adrs import BDS_ADSL_VARS, reference_var
from adam.adsl import baseline_mask
from adam.derive import derive_var_obs_number, derive_vars_duration, derive_vars_merged
from adam.options import AdamOptions
from adam.tte import (CensoringRules, apply_censoring_rules, censor_source, derive_param_tte,
                      event_source, origin_label)
from studybuild.findings import Findings

KEYS = list(SUBJECT_KEYS)
PARAMS = {"OS": "Overall Survival", "PFS": "Progression Free Survival",
          "RSD": "Duration of Response", "TTR": "Time to Response"}


def _adrs_source(paramcd: str, censor: bool, desc: str, cdesc: str | None, *,
                 yes: bool = True):
    def filt(d: pd.DataFrame) -> np.ndarray:
        m = d["PARAMCD"].eq(paramcd).to_numpy() & d["ANL01FL"].eq("Y").to_numpy()
        if yes:
            m &= d["AVALC"].eq("Y").to_numpy()
        return m
    vals = {"EVNTDESC": desc, "CNSDTDSC": cdesc, "SRCDOM": "ADRS", "SRCVAR": "ADT",
            "SRCSEQ": lambda d: d["ASEQ"]}
    maker = censor_source if censor else event_source
    return maker("adrs", "ADT", filter=filt, set_values_to=vals,
                 columns=("PARAMCD", "ANL01FL", "AVALC", "ASEQ"))


def _adsl_source(var: str, censor: bool, desc: str, cdesc: str | None):
    vals = {"EVNTDESC": desc, "CNSDTDSC": cdesc, "SRCDOM": "ADSL", "SRCVAR": var,
            "SRCSEQ": np.nan}
    maker = censor_source if censor else event_source
    return maker("adsl", var, set_values_to=vals, columns=())


def baseline_assessed(adsl: pd.DataFrame, sdtm: Mapping[str, pd.DataFrame], *,
                      evaluator: str, baseline_visits) -> np.ndarray | None:
    """Per ADSL row: any tumour identification/measurement at baseline (TU or TR)."""
    hit = []
    for dom in ("TU", "TR"):
        d = sdtm.get(dom)
        if d is None or not len(d):
            continue
        m = baseline_mask(d, dom, adsl, baseline_visits)
        ev = f"{dom}EVAL"
        if ev in d.columns:
            m &= d[ev].eq(evaluator).to_numpy() | (d[ev].isna().to_numpy()
                                                   & (evaluator == "INVESTIGATOR"))
        hit.append(d.loc[m, "USUBJID"].unique())
    if not hit:
        return None
    return isin_values(adsl["USUBJID"], np.unique(np.concatenate(hit)))


def build_adtte(adsl: pd.DataFrame, adrs: pd.DataFrame | None,
                sdtm: Mapping[str, pd.DataFrame], *, options: AdamOptions,
                findings: Findings) -> pd.DataFrame | None:
    """Derive ADTTE (OS always when ADSL has dates; PFS, RSD, TTR need ADRS).

    >>> adsl = pd.DataFrame({"STUDYID": ["S"], "USUBJID": ["S-1"], "TRTSDT": pd.to_datetime(
    ...     ["2021-01-01"]).astype("datetime64[s]"), "DTHDT": pd.to_datetime(["2021-03-01"])
    ...     .astype("datetime64[s]"), "LSTALVDT": pd.to_datetime(["2021-03-01"])
    ...     .astype("datetime64[s]")})
    >>> tte = build_adtte(adsl, None, {}, options=AdamOptions(), findings=Findings())
    >>> tte[["PARAMCD", "AVAL", "CNSR", "EVNTDESC"]].values.tolist()
    [['OS', 60.0, 0.0, 'Death']]
    """
    o = options.adtte
    origin = reference_var(adsl, o.origin)
    if origin not in adsl.columns or adsl[origin].isna().all():
        findings.add("ADAM-ADTTE-ORIGIN", "warning", f"no subject has the time-to-event origin "
                     f"{origin}; ADTTE is not derived", dataset="ADTTE", variable="STARTDT")
        return None
    rules: CensoringRules = o.rules()
    olabel = origin_label(origin)
    origin_censor = _adsl_source(origin, True, olabel, olabel)
    src: dict[str, pd.DataFrame] = {"adsl": adsl}
    if adrs is not None:
        # only the analysed records of the parameters the sources read, and their variables
        use = ["PARAMCD", "AVALC", "ADT", "ANL01FL", "ASEQ"]
        keep = adrs["PARAMCD"].isin(["OVR", "PD", "DEATH", "LSTA", o.response_param]) \
            .to_numpy() & adrs["ANL01FL"].eq("Y").to_numpy()
        adrs = adrs.loc[keep, KEYS + use]
        src["adrs"] = adrs
        death = _adrs_source("DEATH", False, "Death", None)
    else:
        death = _adsl_source("DTHDT", False, "Death", None)
    alive = _adsl_source("LSTALVDT", True, "Alive", "Alive During Study") \
        if "LSTALVDT" in adsl.columns else None
    parts = []
    wanted = [p for p in o.parameters if p == "OS" or adrs is not None]
    if "OS" in wanted and "DTHDT" in adsl.columns:
        parts.append(derive_param_tte(
            dataset_adsl=adsl, source_datasets=src, start_date=origin,
            event_conditions=[death], censor_conditions=[c for c in (alive, origin_censor) if c],
            set_values_to={"PARAMCD": "OS", "PARAM": PARAMS["OS"]}))
    if adrs is not None:
        pd_ev = _adrs_source("PD", False, "Disease Progression", None)
        lasta = _adrs_source("LSTA", True, "Last Tumor Assessment", "Last Tumor Assessment",
                             yes=False)
        ovr = adrs[adrs["PARAMCD"].eq("OVR").to_numpy() & adrs["ANL01FL"].eq("Y").to_numpy()]
        asm = ovr[KEYS + ["ADT", "AVALC", "ASEQ"]]
        subj = adsl[KEYS].copy()
        bl = baseline_assessed(adsl, sdtm, evaluator=options.adrs.evaluator,
                               baseline_visits=options.adrs.baseline_visits)
        if bl is None:
            bl = np.ones(len(adsl), dtype=bool)
            if rules.censor_no_baseline:
                findings.add("ADAM-ADTTE-NOBASELINE", "notice", "no TU/TR: every subject is "
                             "taken to have a baseline tumour assessment", dataset="ADTTE")
        subj["BASEASFL"] = flag(bl)
        if "NACTDT" in adsl.columns:
            subj["NACTDT"] = adsl["NACTDT"].to_numpy()
        if "PFS" in wanted:
            pfs = derive_param_tte(
                dataset_adsl=adsl, source_datasets=src, start_date=origin,
                event_conditions=[pd_ev, death], censor_conditions=[lasta, origin_censor],
                set_values_to={"PARAMCD": "PFS", "PARAM": PARAMS["PFS"]})
            parts.append(apply_censoring_rules(pfs, rules=rules, assessments=asm,
                                               subjects=subj, origin_var=origin))
        rsp = adrs[adrs["PARAMCD"].eq(o.response_param).to_numpy()
                   & adrs["AVALC"].eq("Y").to_numpy() & adrs["ANL01FL"].eq("Y").to_numpy()]
        if "RSD" in wanted:
            responders = derive_vars_merged(adsl[KEYS], dataset_add=rsp, by_vars=KEYS,
                                            new_vars={"TEMP_RESPDT": "ADT"})
            responders = responders[responders["TEMP_RESPDT"].notna().to_numpy()]
            if len(responders):
                rsd = derive_param_tte(
                    dataset_adsl=responders, source_datasets=src, start_date="TEMP_RESPDT",
                    event_conditions=[pd_ev, death], censor_conditions=[lasta],
                    set_values_to={"PARAMCD": "RSD", "PARAM": PARAMS["RSD"]})
                r2 = rules.model_copy(update={"censor_no_baseline": False})
                parts.append(apply_censoring_rules(rsd, rules=r2, assessments=asm,
                                                   subjects=subj, origin_var="TEMP_RESPDT",
                                                   censor_origin_when_no_assessment=True))
        if "TTR" in wanted:
            resp_ev = event_source("adrs", "ADT",
                                   filter=lambda d: d["PARAMCD"].eq(o.response_param).to_numpy()
                                   & d["AVALC"].eq("Y").to_numpy()
                                   & d["ANL01FL"].eq("Y").to_numpy(),
                                   set_values_to={"EVNTDESC": "Response", "CNSDTDSC": None,
                                                  "SRCDOM": "ADRS", "SRCVAR": "ADT",
                                                  "SRCSEQ": lambda d: d["ASEQ"]},
                                   columns=("PARAMCD", "ANL01FL", "AVALC", "ASEQ"))
            ttr = derive_param_tte(
                dataset_adsl=adsl, source_datasets=src, start_date=origin,
                event_conditions=[resp_ev], censor_conditions=[lasta, origin_censor],
                set_values_to={"PARAMCD": "TTR", "PARAM": PARAMS["TTR"]})
            r3 = rules.model_copy(update={"missed_assessments": None})
            parts.append(apply_censoring_rules(ttr, rules=r3, assessments=asm, subjects=subj,
                                               origin_var=origin))
    if not parts:
        return None
    tte = concat_rows(parts)
    tte = derive_vars_duration(tte, new_var="AVAL", start_date="STARTDT", end_date="ADT")
    tte["CNSR"] = tte["CNSR"].astype("float64")
    tte = derive_var_obs_number(tte, by_vars=KEYS, order=["PARAMCD"])
    keep = [c for c in BDS_ADSL_VARS if c in adsl.columns]
    tte = derive_vars_merged(tte.drop(columns=[c for c in keep if c in tte.columns]),
                             dataset_add=adsl, by_vars=KEYS, new_vars=keep)
    tte = tte.sort_values(KEYS + ["ASEQ"], kind="stable").reset_index(drop=True)
    front = [c for c in ("STUDYID", "USUBJID", "SUBJID", "SITEID", "ASEQ", *keep, "PARAMCD",
                         "PARAM", "AVAL", "STARTDT", "ADT", "CNSR", "EVNTDESC", "CNSDTDSC",
                         "SRCDOM", "SRCVAR", "SRCSEQ") if c in tte.columns]
    tte = tte[list(dict.fromkeys(front + list(tte.columns)))]
    tte["EVNTDESC"] = tte["EVNTDESC"].astype("str")
    tte["CNSDTDSC"] = tte["CNSDTDSC"].astype("str")
    return tte


__all__ = ["PARAMS", "baseline_assessed", "build_adtte"]
