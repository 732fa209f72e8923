"""Metadata for the ADaM datasets (what define.xml, the XPT writer and the checks read):
labels, types, origins (Derived / Predecessor), derivation methods in plain words, and
value-level metadata per PARAMCD for ADRS, ADTTE and ADTR."""

from __future__ import annotations

from typing import Mapping

import pandas as pd

from studybuild import standards
from studybuild.metadata import (CodelistTerm, DatasetMeta, StudyCodelist, StudyMetadata,
                                 ValueLevel, VariableMeta, variable_from_standard)

DATASET_LABELS = {
    "ADSL": "Subject-Level Analysis Dataset",
    "ADRS": "Tumor Response Analysis Dataset",
    "ADTTE": "Time-to-Event Analysis Dataset",
    "ADTR": "Tumor Results Analysis Dataset",
    "ADAE": "Adverse Events Analysis Dataset",
}
CLASSES = {"ADSL": ("SUBJECT LEVEL ANALYSIS DATASET", "One record per subject",
                    ("STUDYID", "USUBJID")),
           "ADRS": ("BASIC DATA STRUCTURE",
                    "One record per subject per parameter per analysis date",
                    ("STUDYID", "USUBJID", "PARAMCD", "ADT", "ASEQ")),
           "ADTTE": ("BASIC DATA STRUCTURE", "One record per subject per parameter",
                     ("STUDYID", "USUBJID", "PARAMCD")),
           "ADTR": ("BASIC DATA STRUCTURE", "One record per subject per parameter per "
                    "analysis visit", ("STUDYID", "USUBJID", "PARAMCD", "AVISITN")),
           "ADAE": ("OCCURRENCE DATA STRUCTURE", "One record per adverse event",
                    ("STUDYID", "USUBJID", "AESEQ"))}
SOURCES = {"ADSL": "DM", "ADRS": "RS", "ADAE": "AE", "ADTR": "TR", "ADTTE": ""}

# labels of variables the IGs do not define (or define with a pattern)
LABELS = {
    "TRT01P": "Planned Treatment for Period 01", "TRT01A": "Actual Treatment for Period 01",
    "AGEGR1": "Pooled Age Group 1", "AGEGR1N": "Pooled Age Group 1 (N)",
    "RACEGR1": "Pooled Race Group 1", "SCRFDT": "Screen Failure Date",
    "FRVDT": "Final Retrieval Visit Date", "ENRLDT": "Date of Enrollment",
    "DTHADY": "Relative Day of Death", "LDDTHELD": "Elapsed Days from Last Dose to Death",
    "LDDTHGR1": "Last Dose to Death - Days Elapsed Grp 1",
    "DTH30FL": "Death Within 30 Days of Last Trt Flag",
    "DTHA30FL": "Death After 30 Days from Last Trt Flag",
    "DTHB30FL": "Death Within 30 Days of First Trt Flag",
    "DTHDOM": "Domain for Date of Death Collection", "DTHCGR1": "Cause of Death Group 1",
    "LALVDOM": "Last Known Alive Date Source Domain",
    "LALVVAR": "Last Known Alive Date Source Variable",
    "NACTDT": "Date of New Anti-Cancer Therapy", "DCTREAS": "Reason for Discont of Treatment",
    "EFFFL": "Efficacy Population Flag", "PDFL": "Progressive Disease Flag",
    "LSEXP": "Lesions Expected", "LSASS": "Lesions Assessed", "NADIR": "Nadir",
    "CHGNAD": "Change from Nadir", "PCHGNAD": "Percent Change from Nadir",
    "ADURN": "Analysis Duration (N)", "ADURU": "Analysis Duration Units",
    "ATOXGR": "Analysis Toxicity Grade", "ATOXGRN": "Analysis Toxicity Grade (N)",
    "ASEV": "Analysis Severity/Intensity", "ASEVN": "Analysis Severity/Intensity (N)",
    "AREL": "Analysis Causality", "AEITOXGR": "Initial Toxicity Grade",
    "AEIRAE": "Immune-Related Adverse Event",
    "AOCCFL": "1st Occurrence within Subject Flag",
    "AOCCSFL": "1st Occurrence of SOC Flag", "AOCCPFL": "1st Occurrence of Preferred Term Flag",
    "AOCCIFL": "1st Max Sev./Int. Occurrence Flag",
    "AOCCSIFL": "1st Max Sev./Int. Occur Within SOC Flag",
    "AOCCPIFL": "1st Max Sev./Int. Occur Within PT Flag",
    "ANL01FL": "Analysis Flag 01", "ANL02FL": "Analysis Flag 02", "ANL03FL": "Analysis Flag 03",
    "ANL04FL": "Analysis Flag 04",
}

METHODS = {
    "TRT01P": "ADSL.TRT01P = DM.ARM.",
    "TRT01A": "ADSL.TRT01A = DM.ACTARM.",
    "TRTSDTM": "Earliest EX.EXSTDTC of a dose (EXDOSE > 0, or 0 for placebo); missing time "
               "imputed as 00:00:00.",
    "TRTSTMF": "Time imputation flag of TRTSDTM (H: hours and minutes imputed).",
    "TRTEDTM": "Latest EX.EXENDTC of a dose (EXDOSE > 0, or 0 for placebo); missing time "
               "imputed as 23:59:59.",
    "TRTETMF": "Time imputation flag of TRTEDTM.",
    "TRTSDT": "Date part of TRTSDTM.", "TRTEDT": "Date part of TRTEDTM.",
    "TRTDURD": "TRTEDT - TRTSDT + 1.",
    "SCRFDT": "DS.DSSTDTC of the disposition event SCREEN FAILURE.",
    "EOSDT": "DS.DSSTDTC of the last end-of-study disposition event (other than screen "
             "failure; DSCAT DISPOSITION EVENT, DSSCAT other than STUDY TREATMENT unless the "
             "study's ADaM options say otherwise).",
    "EOSSTT": "COMPLETED if the end-of-study disposition is COMPLETED, DISCONTINUED for any "
              "other reason, ONGOING without one; missing for screen failures.",
    "DCSREAS": "DS.DSDECOD of the end-of-study disposition when not COMPLETED.",
    "DCSREASP": "DS.DSTERM when DS.DSDECOD is OTHER.",
    "EOTSTT": "As EOSSTT, from the disposition events that end study treatment, chosen by "
              "what they are (DSCAT DISPOSITION EVENT, DSSCAT STUDY TREATMENT or the drug, as "
              "the study's ADaM options declare), never by their epoch: ONGOING while a "
              "treatment the subject received has no ending record, else the status of the "
              "latest ending record.",
    "DCTREAS": "DS.DSDECOD of the latest end-of-treatment disposition when not COMPLETED.",
    "FRVDT": "DS.DSSTDTC of the other event FINAL RETRIEVAL VISIT.",
    "RANDDT": "DS.DSSTDTC of the protocol milestone RANDOMIZED.",
    "ENRLDT": "DS.DSSTDTC of the first enrolment milestone.",
    "DTHDT": "DM.DTHDTC (else DS.DSSTDTC of a DEATH disposition); partial dates imputed as set "
             "in the study's ADaM options (default: first day of the month/year).",
    "DTHDTF": "Imputation flag of DTHDT (D: day, M: month imputed).",
    "DTHCAUS": "AE.AEDECOD of a fatal adverse event (AEOUT FATAL), else DD.DDSTRESC of the "
               "primary cause of death (DDTESTCD PRCDTH), else DS.DSTERM of the DEATH "
               "disposition when it says more than 'death' (order as the study's ADaM options "
               "set).",
    "DTHDOM": "Domain DTHCAUS was taken from.",
    "DTHCGR1": "ADVERSE EVENT if DTHDOM is AE; else the first group of the study's ADaM "
               "options whose words DTHCAUS contains (default: PROGRESSIVE DISEASE for disease "
               "progression or relapse); else OTHER.",
    "DTHADY": "DTHDT - TRTSDT + 1.", "LDDTHELD": "DTHDT - TRTEDT.",
    "LDDTHGR1": "'<= 30' if LDDTHELD <= 30, '> 30' if above.",
    "DTH30FL": "Y if LDDTHGR1 is '<= 30'.", "DTHA30FL": "Y if LDDTHGR1 is '> 30'.",
    "DTHB30FL": "Y if DTHDT <= TRTSDT + 30.",
    "LSTALVDT": "Last of the known-alive dates: AE start/end, LB collection dates (partial dates "
                "imputed to the first day) and TRTEDT (admiral); with the study option 'all', "
                "every dated record of every domain present except deaths.",
    "LALVDOM": "Domain of the record LSTALVDT was taken from.",
    "LALVVAR": "Variable LSTALVDT was taken from.",
    "AGEGR1": "Age group of DM.AGE as set in the study's ADaM options.",
    "AGEGR1N": "Number of AGEGR1 (1 = youngest group).",
    "RACEGR1": "White if DM.RACE is WHITE, Non-white for other races, Missing without one.",
    "SAFFL": "Y if the subject received any dose (EXDOSE > 0, or 0 for placebo), else N.",
    "ITTFL": "Randomised studies: Y if RANDDT is present; otherwise Y if an arm was assigned "
             "(DM.ARMNRS missing, ARMCD not a screen failure/not assigned). Else N.",
    "FASFL": "As ITTFL (study option 'treated': ITTFL and SAFFL).",
    "EFFFL": "Y if FASFL and SAFFL are Y and a target lesion was identified at baseline (TU "
             "TUSTRESC TARGET by the study's evaluator), else N.",
    "NACTDT": "Earliest start (CM.CMSTDTC) of a new anticancer therapy on or after TRTSDT.",
    "ASEQ": "Record number within subject in the dataset's order.",
    "ADT": "Date of the assessment/event; partial dates imputed as documented for the dataset.",
    "ADTF": "Imputation flag of ADT (D: day imputed).",
    "ADY": "ADT - reference date + 1 on/after it, ADT - reference date before.",
    "AVISIT": "VISIT (BASELINE for the screening assessment in ADTR).",
    "AVISITN": "VISITNUM (0 for baseline in ADTR).",
    "ANL01FL": "ADRS: the worst overall response per date on/after the reference date. ADTR: "
               "every baseline target lesion measured.",
    "ANL02FL": "ADRS: assessments up to and including the first PD. ADTR: best post-baseline "
               "percent change.",
    "ANL03FL": "ADTR: complete assessments before the first PD.",
    "ANL04FL": "ADTR: complete assessments or PD.",
    "STARTDT": "Time-to-event origin from ADSL (RANDDT, or TRTSDT/ENRLDT in single-arm "
               "studies; the first response date for duration of response).",
    "CNSR": "0 for an event, 1 for a censored time (docs/censoring.md).",
    "EVNTDESC": "What happened at ADT (event or reason for censoring).",
    "CNSDTDSC": "What the censoring date is.",
    "SRCDOM": "Dataset ADT was taken from.", "SRCVAR": "Variable ADT was taken from.",
    "SRCSEQ": "ASEQ of the ADRS record ADT was taken from.",
    "AEIRAE": "SUPPAE.QVAL where QNAM = 'AEIRAE', matched on USUBJID and AESEQ (IDVARVAL); "
              "set by the study's ADaM option adae.supp.",
    "ASTDTM": "AE.AESTDTC; missing month/day imputed to the first, never before TRTSDT when "
              "the partial date allows it; missing time 00:00.",
    "ASTDT": "Date part of ASTDTM.", "ASTDTF": "Date imputation flag of ASTDTM.",
    "ASTTMF": "Time imputation flag of ASTDTM.",
    "AENDTM": "AE.AEENDTC; missing month/day imputed to the last, never after death, end of "
              "study or the data cut-off; missing time 23:59:59.",
    "AENDT": "Date part of AENDTM.", "AENDTF": "Date imputation flag of AENDTM.",
    "AENTMF": "Time imputation flag of AENDTM.",
    "ASTDY": "ASTDT - TRTSDT (+1 on/after TRTSDT).", "AENDY": "AENDT - TRTSDT (+1 on/after).",
    "ADURN": "AENDT - ASTDT + 1.", "ADURU": "DAYS.",
    "TRTEMFL": "Y if ASTDT is on/after TRTSDT and no later than TRTEDT + the study's TEAE "
               "window, or the start is missing and the end is on/after TRTSDT, or a "
               "pre-treatment event worsened on treatment.",
    "ASEV": "AE.AESEV.", "ASEVN": "1 MILD, 2 MODERATE, 3 SEVERE, 4 DEATH THREATENING.",
    "AREL": "AE.AEREL.", "ATOXGR": "AE.AETOXGR.", "ATOXGRN": "AE.AETOXGR as a number.",
    "AOCCFL": "First TEAE of the subject (by ASTDTM, AESEQ).",
    "AOCCSFL": "First TEAE of the subject in the body system.",
    "AOCCPFL": "First TEAE of the subject with the preferred term.",
    "AOCCIFL": "First TEAE of the subject with the worst grade (or severity).",
    "AOCCSIFL": "First worst-grade TEAE of the subject in the body system.",
    "AOCCPIFL": "First worst-grade TEAE of the subject with the preferred term.",
    "BASE": "AVAL of the baseline record (ABLFL = Y).",
    "ABLFL": "Last assessment on or before study day 1.", "CHG": "AVAL - BASE.",
    "PCHG": "100 * (AVAL - BASE) / BASE.",
    "NADIR": "Smallest AVAL of complete earlier assessments (baseline included).",
    "CHGNAD": "AVAL - NADIR.", "PCHGNAD": "100 * (AVAL - NADIR) / NADIR.",
    "PDFL": "Y if the investigator's overall response on ADT is PD.",
    "LSEXP": "Target lesions identified at baseline.",
    "LSASS": "Target lesions measured at this assessment.",
}

PARAM_METHODS = {
    "OVR": "RS.RSSTRESC of RSTESTCD OVRLRESP by the evaluator.",
    "PD": "Y if an analysed assessment (ANL01FL) is PD; ADT of the first one. Else N.",
    "RSP": "Y at the first CR or PR (confirmation not required), else N.",
    "CB": "Y at the first CR/PR, or SD/NON-CR/NON-PD at least sd_min_days after the reference "
          "date, else N.",
    "BOR": "Best of CR, PR, SD (CR/PR/SD at least sd_min_days after the reference date), "
           "NON-CR/NON-PD, PD, NE; MISSING without assessments. Assessments up to the first PD.",
    "BCP": "Y if BOR is CR or PR, else N.",
    "CRSP": "Y at the first confirmed CR or PR (docs/adam.md: ConfirmationRule), else N.",
    "CCB": "Y at the first confirmed response or late-enough SD/NON-CR/NON-PD, else N.",
    "CBOR": "As BOR with CR and PR only when confirmed.",
    "CBCP": "Y if CBOR is CR or PR, else N.",
    "DEATH": "Y if ADSL.DTHDT is present (ADT = DTHDT), else N.",
    "LSTA": "The last analysed assessment (any response, also after PD).",
    "MDIS": "Y if a target lesion was identified at baseline (TU), else N.",
    "OS": "Origin to death; censored at the last known alive date (or the origin).",
    "PFS": "Origin to the first of PD and death; censored per the study's censoring rule set "
           "(docs/censoring.md).",
    "RSD": "First response to the first of PD and death among responders; censored at the "
           "last assessment.",
    "TTR": "Origin to the first response; censored at the last assessment (or the origin).",
    "SDIAM": "Sum of the target lesions' diameters (short axis for lymph nodes) at the visit.",
}


def _label(dataset: str, name: str) -> str:
    if name in LABELS:
        return LABELS[name]
    vm = variable_from_standard("ADSL" if dataset == "ADSL" else "ADTTE", name)
    if vm is not None and not any(t in vm.label for t in ("{", "xx", "zz", " y ")):
        return vm.label
    src = SOURCES.get(dataset)
    for dom in ([src] if src else []) + ["DM", "RS", "TU", "TR", "AE"]:
        try:
            v = standards.sdtmig().dataset(dom).find(name)
        except standards.StandardsLookupError:
            v = None
        if v is not None:
            return v.label[:40]
    return name


def _type(s: pd.Series) -> str:
    return "Num" if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_datetime64_any_dtype(s) \
        else "Char"


def adam_metadata(datasets: Mapping[str, pd.DataFrame], sdtm_columns: Mapping[str, set[str]],
                  *, study_id: str, studyid: str) -> StudyMetadata:
    """Dataset, variable and value-level metadata for the derived datasets."""
    metas: dict[str, DatasetMeta] = {}
    vlm: list[ValueLevel] = []
    codelists: dict[str, StudyCodelist] = {}
    adsl_cols = set(datasets["ADSL"].columns) if "ADSL" in datasets else set()
    for name, df in datasets.items():
        src = SOURCES.get(name, "")
        vars_ = []
        attrs = df.attrs.get("labels", {}) if isinstance(df.attrs.get("labels"), dict) else {}
        srcs = df.attrs.get("sources", {}) if isinstance(df.attrs.get("sources"), dict) else {}
        for col in df.columns:
            label = attrs.get(col) or _label(name, col)
            if col in srcs:
                origin, source = "Predecessor", srcs[col]
                method = f"{srcs[col]} (first record of the subject)"
            elif name != "ADSL" and col in adsl_cols and col not in ("STUDYID", "USUBJID") \
                    and col not in METHODS:
                origin, source, method = "Predecessor", f"ADSL.{col}", ""
            elif src and col in sdtm_columns.get(src, set()) and col not in METHODS:
                origin, source, method = "Predecessor", f"{src}.{col}", ""
            elif col in ("STUDYID", "USUBJID", "SUBJID", "SITEID") or col in sdtm_columns.get(
                    "DM", set()) and name == "ADSL":
                origin, source, method = "Predecessor", f"DM.{col}", ""
            else:
                origin, source = "Derived", ""
                method = METHODS.get(col, "")
            fmt = ""
            if pd.api.types.is_datetime64_any_dtype(df[col]):
                fmt = "DATETIME20." if col.endswith("DTM") else "DATE9."
            vars_.append(VariableMeta(name=col, label=label[:40], type=_type(df[col]),
                                      origin=origin, source=source, method=method, format=fmt,
                                      codelist=f"CL.PARAMCD.{name}" if col == "PARAMCD" else None,
                                      core="Req" if col in ("STUDYID", "USUBJID", "PARAMCD",
                                                            "PARAM") else "Perm"))
        cls, structure, keys = CLASSES.get(name, ("BASIC DATA STRUCTURE", "", ("STUDYID",
                                                                              "USUBJID")))
        metas[name] = DatasetMeta(name=name, label=DATASET_LABELS.get(name, name),
                                  standard=f"ADaMIG {standards.ADAMIG_VERSION}", class_=cls,
                                  structure=structure,
                                  keys=tuple(k for k in keys if k in df.columns),
                                  variables=tuple(vars_))
        if "PARAMCD" in df.columns:
            params = df[["PARAMCD", "PARAM"]].drop_duplicates("PARAMCD").sort_values("PARAMCD")
            codelists[f"CL.PARAMCD.{name}"] = StudyCodelist(
                id=f"CL.PARAMCD.{name}", name=f"Parameter Codes ({name})",
                terms=tuple(CodelistTerm(value=str(r.PARAMCD), decode=str(r.PARAM))
                            for r in params.itertuples()))
            for r in params.itertuples():
                sub = df[df["PARAMCD"].eq(r.PARAMCD).to_numpy()]
                method = PARAM_METHODS.get(str(r.PARAMCD), "")
                if "AVALC" in df.columns and sub["AVALC"].notna().any():
                    vlm.append(ValueLevel(dataset=name, variable="AVALC",
                                          where=(("PARAMCD", str(r.PARAMCD)),),
                                          label=str(r.PARAM)[:40], type="Char", method=method))
                if "AVAL" in df.columns and sub["AVAL"].notna().any():
                    vlm.append(ValueLevel(dataset=name, variable="AVAL",
                                          where=(("PARAMCD", str(r.PARAMCD)),),
                                          label=str(r.PARAM)[:40], type="Num", method=method,
                                          unit="DAYS" if name == "ADTTE" else
                                          ("mm" if name == "ADTR" else "")))
    return StudyMetadata(study_id=study_id, studyid=studyid, kind="ADaM", datasets=metas,
                         value_level=tuple(vlm), codelists=codelists)


__all__ = ["DATASET_LABELS", "LABELS", "METHODS", "PARAM_METHODS", "adam_metadata"]
