"""ADSL: one record per subject, from DM plus EX, DS, AE, LB, TU, CM, SUPPDM and whatever
other dated domains the SDTM folder holds.

The steps follow admiral's ADSL template (treatment dates from EX doses > 0 or placebo,
disposition from DS, death from DM/AE/DS, last known alive date from several sources, groupings)
and add what the oncology protocols need: ITTFL/FASFL/EFFFL, EOTSTT, ENRLDT, NACTDT and study
variables (histology, prior lines) named in the study's ``adam/adsl.yaml``.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from adam._frame import (SUBJECT_KEYS, const_str, day_numbers, flag, isin_values,
                         na_str, str_col)
from adam.dates import DateImputation, convert_dtc_to_dt, derive_vars_dt, derive_vars_dtm, \
    derive_vars_dtm_to_dt, dtc_is_invalid
from adam.derive import (DateSource, derive_var_extreme_dt, derive_var_merged_exist_flag,
                         derive_vars_cat, derive_vars_duration, derive_vars_merged)
from adam.options import AdamOptions, AdslOptions, TreatmentEnd
from studybuild.errors import InputError
from studybuild.findings import Findings

KEYS = list(SUBJECT_KEYS)
NOT_ASSIGNED = ("SCRNFAIL", "SCREEN FAILURE", "NOTASSGN", "NOT ASSIGNED", "NOTTRT",
                "NOT TREATED")
# domains whose dates say nothing about being alive during the study
_NOT_ALIVE_DOMAINS = {"DM", "TS", "TA", "TE", "TV", "TI", "TD", "TM", "RELREC", "CO", "DD",
                      "SE", "SM"}


def _valid_dose(ex: pd.DataFrame) -> np.ndarray:
    dose = pd.to_numeric(ex["EXDOSE"], errors="coerce").to_numpy(dtype="float64") \
        if "EXDOSE" in ex.columns else np.full(len(ex), np.nan)
    placebo = ex["EXTRT"].astype("str").str.upper().str.contains("PLACEBO", regex=False) \
        .fillna(False).to_numpy(bool) if "EXTRT" in ex.columns else np.zeros(len(ex), bool)
    with np.errstate(invalid="ignore"):
        # no EXDOSE collected: a record of administration counts as a dose
        return np.where(np.isnan(dose), "EXDOSE" not in ex.columns, (dose > 0) | ((dose == 0)
                                                                                 & placebo))


def _report_bad_dates(df: pd.DataFrame, name: str, cols, findings: Findings) -> None:
    for c in cols:
        if c not in df.columns:
            continue
        bad = dtc_is_invalid(df[c])
        if bad.any():
            rows = np.flatnonzero(bad)
            findings.add("ADAM-DATE-INVALID", "warning",
                         f"{len(rows)} {name}.{c} value(s) are not ISO 8601 dates and were "
                         f"treated as missing (first: {df[c].iloc[rows[0]]!r})",
                         dataset=name, variable=c, row=int(rows[0]) + 1,
                         value=df[c].iloc[rows[0]])


def _status(decod: pd.Series) -> np.ndarray:
    d = decod.to_numpy(dtype=object)
    out = np.where(pd.isna(d), None, np.where(d == "COMPLETED", "COMPLETED",
                                              np.where(d == "SCREEN FAILURE", None,
                                                       "DISCONTINUED")))
    return out


def build_adsl(sdtm: Mapping[str, pd.DataFrame], *, options: AdamOptions,
               findings: Findings) -> pd.DataFrame:
    """Derive ADSL from an SDTM folder's frames (DM required).

    >>> dm = pd.DataFrame({"STUDYID": ["S"], "DOMAIN": ["DM"], "USUBJID": ["S-1"], "AGE": [70.0],
    ...                    "ARM": ["A"], "ACTARM": ["A"], "ARMCD": ["A"], "RACE": ["WHITE"]})
    >>> build_adsl({"DM": dm}, options=AdamOptions(), findings=Findings())[
    ...     ["USUBJID", "AGEGR1", "SAFFL"]].values.tolist()
    [['S-1', '>64', 'N']]
    """
    if "DM" not in sdtm:
        raise InputError("ADaM needs DM (demographics) in the SDTM folder")
    o = options.adsl
    dm = sdtm["DM"]
    missing = [c for c in KEYS if c not in dm.columns]
    if missing:
        raise InputError(f"DM lacks {', '.join(missing)}")
    dup = dm.duplicated(subset=KEYS)
    if dup.any():
        raise InputError(f"DM has more than one record for USUBJID "
                         f"{dm.loc[dup, 'USUBJID'].iloc[0]!r}")
    adsl = dm.drop(columns=[c for c in ("DOMAIN",) if c in dm.columns]).reset_index(drop=True)
    _report_bad_dates(dm, "DM", ["RFSTDTC", "RFENDTC", "DTHDTC", "BRTHDTC", "RFICDTC"],
                      findings)
    new: dict[str, pd.Series] = {}
    if "ARM" in adsl.columns:
        new["TRT01P"] = adsl["ARM"]
    if "ACTARM" in adsl.columns:
        new["TRT01A"] = adsl["ACTARM"]
    adsl = adsl.assign(**new)

    # -- treatment dates (EX) -------------------------------------------------------------
    ex = sdtm.get("EX")
    if ex is not None and len(ex) and "EXSTDTC" in ex.columns:
        _report_bad_dates(ex, "EX", ["EXSTDTC", "EXENDTC"], findings)
        ex_ext = derive_vars_dtm(ex, dtc="EXSTDTC", new_vars_prefix="EXST",
                                 imputation=DateImputation(highest="h"))
        endcol = "EXENDTC" if "EXENDTC" in ex.columns else "EXSTDTC"
        ex_ext = derive_vars_dtm(ex_ext, dtc=endcol, new_vars_prefix="EXEN",
                                 imputation=DateImputation(highest="h", time="last"))
        dosed = _valid_dose(ex_ext)
        seq = ["EXSEQ"] if "EXSEQ" in ex_ext.columns else []
        adsl = derive_vars_merged(
            adsl, dataset_add=ex_ext, filter_add=dosed & ex_ext["EXSTDTM"].notna().to_numpy(),
            new_vars={"TRTSDTM": "EXSTDTM", "TRTSTMF": "EXSTTMF"}, order=["EXSTDTM", *seq],
            mode="first", by_vars=KEYS)
        adsl = derive_vars_merged(
            adsl, dataset_add=ex_ext, filter_add=dosed & ex_ext["EXENDTM"].notna().to_numpy(),
            new_vars={"TRTEDTM": "EXENDTM", "TRTETMF": "EXENTMF"}, order=["EXENDTM", *seq],
            mode="last", by_vars=KEYS)
        if o.ongoing_treatment_end != "last_record":
            adsl = _ongoing_end(adsl, ex_ext, dosed, o.ongoing_treatment_end,
                                options.study.data_cutoff, findings)
        adsl = derive_vars_dtm_to_dt(adsl, source_vars=["TRTSDTM", "TRTEDTM"])
        adsl = derive_vars_duration(adsl, new_var="TRTDURD", start_date="TRTSDT",
                                    end_date="TRTEDT")
        adsl = derive_var_merged_exist_flag(adsl, dataset_add=ex, by_vars=KEYS,
                                            new_var="SAFFL", condition=_valid_dose(ex),
                                            false_value="N", missing_value="N")
        orphans = ~isin_values(ex["USUBJID"], dm["USUBJID"])
        if orphans.any():
            findings.add("ADAM-EX-NODM", "error",
                         f"{int(orphans.sum())} EX record(s) for subjects not in DM "
                         f"(first: {ex.loc[orphans, 'USUBJID'].iloc[0]})", dataset="EX",
                         variable="USUBJID", row=int(np.flatnonzero(orphans)[0]) + 1)
    else:
        nat = pd.Series(np.full(len(adsl), np.datetime64("NaT", "s")))
        adsl = adsl.assign(TRTSDT=nat, TRTEDT=nat, TRTDURD=np.full(len(adsl), np.nan),
                           SAFFL=const_str("N", len(adsl)))
        findings.add("ADAM-ADSL-NOEX", "warning", "no EX: treatment dates are missing and "
                     "SAFFL is N for everyone", dataset="ADSL", variable="TRTSDT")

    # -- disposition (DS) -------------------------------------------------------------------
    ds = sdtm.get("DS")
    randomised = o.randomised
    if ds is not None and len(ds) and "DSDECOD" in ds.columns:
        dtc = "DSSTDTC" if "DSSTDTC" in ds.columns else "DSDTC"
        _report_bad_dates(ds, "DS", [dtc], findings)
        ds_ext = derive_vars_dt(ds, dtc=dtc, new_vars_prefix="DSST")
        seq = ["DSSEQ"] if "DSSEQ" in ds_ext.columns else []
        disp = ds_ext["DSCAT"].eq("DISPOSITION EVENT").to_numpy() if "DSCAT" in ds_ext.columns \
            else np.ones(len(ds_ext), bool)
        decod = ds_ext["DSDECOD"]
        scrf = disp & decod.eq("SCREEN FAILURE").to_numpy()
        adsl = derive_vars_merged(adsl, dataset_add=ds_ext, filter_add=scrf, by_vars=KEYS,
                                  new_vars={"SCRFDT": "DSSTDT"}, order=["DSSTDT", *seq],
                                  mode="last")
        eos = o.eos.mask(ds_ext) & disp
        adsl = derive_vars_merged(adsl, dataset_add=ds_ext,
                                  filter_add=eos & ~decod.eq("SCREEN FAILURE").to_numpy(),
                                  by_vars=KEYS, new_vars={"EOSDT": "DSSTDT"},
                                  order=["DSSTDT", *seq], mode="last")
        last_eos = derive_vars_merged(adsl[KEYS], dataset_add=ds_ext, filter_add=eos,
                                      by_vars=KEYS, new_vars={"_D": "DSDECOD", "_T": "DSTERM"}
                                      if "DSTERM" in ds_ext.columns else {"_D": "DSDECOD"},
                                      order=["DSSTDT", *seq], mode="last", exist_flag="_E")
        st = _status(last_eos["_D"])
        st = np.where(last_eos["_E"].eq("Y").to_numpy(), st, "ONGOING")
        reas = last_eos["_D"].where(~last_eos["_D"].isin(["COMPLETED", "SCREEN FAILURE"]))
        new = {"EOSSTT": str_col(st), "DCSREAS": str_col(reas.to_numpy(dtype=object))}
        if "_T" in last_eos.columns:
            new["DCSREASP"] = str_col(last_eos["_T"].where(last_eos["_D"].eq("OTHER"))
                                      .to_numpy(dtype=object))
        adsl = adsl.assign(**new)
        adsl = _end_of_treatment(adsl, ds_ext, sdtm.get("EX"), o, disp, seq, findings)
        frv = (ds_ext["DSCAT"].eq("OTHER EVENT") & decod.eq("FINAL RETRIEVAL VISIT")).to_numpy() \
            if "DSCAT" in ds_ext.columns else np.zeros(len(ds_ext), bool)
        if frv.any():
            adsl = derive_vars_merged(adsl, dataset_add=ds_ext, filter_add=frv, by_vars=KEYS,
                                      new_vars={"FRVDT": "DSSTDT"}, order=["DSSTDT", *seq],
                                      mode="last")
        rnd = decod.eq("RANDOMIZED").to_numpy()
        if randomised is None:
            randomised = bool(rnd.any())
        if rnd.any() or randomised:
            adsl = derive_vars_merged(adsl, dataset_add=ds_ext, filter_add=rnd, by_vars=KEYS,
                                      new_vars={"RANDDT": "DSSTDT"}, order=["DSSTDT", *seq],
                                      mode="first")
        enr = decod.isin(list(o.enrolment_milestones)).to_numpy()
        if enr.any():
            adsl = derive_vars_merged(adsl, dataset_add=ds_ext, filter_add=enr, by_vars=KEYS,
                                      new_vars={"ENRLDT": "DSSTDT"}, order=["DSSTDT", *seq],
                                      mode="first")
    else:
        findings.add("ADAM-ADSL-NODS", "warning", "no DS: disposition variables and RANDDT "
                     "are not derived", dataset="ADSL", variable="EOSSTT")
    ts = sdtm.get("TS")
    if randomised is None and ts is not None and "TSPARMCD" in ts.columns:
        r = ts.loc[ts["TSPARMCD"].eq("RANDOM"), "TSVAL"]
        randomised = bool(len(r)) and str(r.iloc[0]).upper() in ("Y", "YES")
    randomised = bool(randomised)

    # -- last known alive date, then death (a partial death date may be imputed to no
    #    earlier than the last date known alive: death_imputation.min_dates [LSTALVDT]) ------
    adsl = _lstalvdt(adsl, sdtm, o.lstalvdt, findings)
    adsl = adsl.drop(columns=[c for c in ("_ONGOING",) if c in adsl.columns])
    adsl = _death(adsl, sdtm, o, findings)
    after = day_numbers(adsl["LSTALVDT"]) > day_numbers(adsl["DTHDT"])
    if after.any():
        findings.add("ADAM-ADSL-ALIVEAFTERDEATH", "warning",
                     f"{int(after.sum())} subject(s) have a known-alive date after their "
                     f"death date (first: {adsl.loc[after, 'USUBJID'].iloc[0]})",
                     dataset="ADSL", variable="LSTALVDT", row=int(np.flatnonzero(after)[0]) + 1)

    # -- groupings ----------------------------------------------------------------------------
    if "AGE" in adsl.columns:
        grouping = o.age_groups
        if o.age_group_missing is not None:
            grouping = grouping.model_copy(update={"missing": o.age_group_missing})
        adsl = derive_vars_cat(adsl, source_var="AGE", new_var="AGEGR1", new_var_n="AGEGR1N",
                               grouping=grouping)
    if "RACE" in adsl.columns:
        r = adsl["RACE"]
        adsl = adsl.assign(RACEGR1=str_col(np.where(r.eq("WHITE"), "White",
                                                    np.where(r.notna(), "Non-white",
                                                             "Missing"))))

    # -- population flags -------------------------------------------------------------------
    n = len(adsl)
    if "ARMNRS" in adsl.columns:
        assigned = adsl["ARMNRS"].isna().to_numpy().copy()
    else:
        assigned = np.ones(n, dtype=bool)
    for c in ("ARMCD", "ARM"):
        if c in adsl.columns:
            v = adsl[c].astype("str").str.upper()
            assigned &= v.notna().to_numpy() & ~v.isin(NOT_ASSIGNED).to_numpy()
            assigned &= ~v.str.startswith("SCRNFAIL").fillna(False).to_numpy(bool)
            assigned &= ~v.str.startswith("SCREEN FAIL").fillna(False).to_numpy(bool)
    if randomised and "RANDDT" in adsl.columns:
        itt = adsl["RANDDT"].notna().to_numpy()
    else:
        itt = assigned
    saf = adsl["SAFFL"].eq("Y").to_numpy()
    fas = itt if o.fas == "itt" else itt & saf
    adsl = adsl.assign(ITTFL=flag(itt, false="N"), FASFL=flag(fas, false="N"))
    mdis = measurable_at_baseline(adsl, sdtm, evaluator=options.adrs.evaluator,
                                  baseline_visits=options.adrs.baseline_visits)
    if mdis is not None:
        eff = fas & mdis & (saf if o.efficacy_requires_dose else True)
        adsl = adsl.assign(EFFFL=flag(eff, false="N"))

    # -- new anticancer therapy -------------------------------------------------------------
    cm = sdtm.get("CM")
    if cm is not None and len(cm) and "CMSTDTC" in cm.columns:
        sel = options.adtte.new_therapy.mask(cm)
        if sel.any():
            cm_ext = derive_vars_dt(cm, dtc="CMSTDTC", new_vars_prefix="CMST",
                                    imputation=DateImputation(highest="M", date="first"))
            cm_ext = derive_vars_merged(cm_ext, dataset_add=adsl, by_vars=KEYS,
                                        new_vars={"_TRTSDT": "TRTSDT"})
            after = day_numbers(cm_ext["CMSTDT"]) >= day_numbers(cm_ext["_TRTSDT"])
            adsl = derive_vars_merged(adsl, dataset_add=cm_ext, by_vars=KEYS,
                                      filter_add=sel & after, new_vars={"NACTDT": "CMSTDT"},
                                      order=["CMSTDT"], mode="first")

    # -- study variables (histology, prior lines, ...) ---------------------------------------
    for var, spec in o.extra.items():
        adsl = _extra_var(adsl, sdtm, var, spec, findings)

    adsl.attrs["randomised"] = randomised
    return adsl


def _ongoing_end(adsl: pd.DataFrame, ex_ext: pd.DataFrame, dosed: np.ndarray, how: str,
                 cutoff, findings: Findings) -> pd.DataFrame:
    """TRTEDTM for subjects whose latest dose record has no end date (still on treatment)."""
    seq = ["EXSEQ"] if "EXSEQ" in ex_ext.columns else []
    last = derive_vars_merged(adsl[KEYS], dataset_add=ex_ext,
                              filter_add=dosed & ex_ext["EXSTDTM"].notna().to_numpy(),
                              by_vars=KEYS, new_vars={"_E": "EXENDTC"},
                              order=["EXSTDTM", *seq], mode="last", exist_flag="_X")
    ongoing = last["_X"].eq("Y").to_numpy() & last["_E"].isna().to_numpy()
    if not ongoing.any():
        return adsl
    end = adsl["TRTEDTM"].to_numpy().astype("datetime64[s]").copy()
    tmf = adsl["TRTETMF"].to_numpy(dtype=object).copy()
    if how == "cutoff" and cutoff is not None:
        end[ongoing] = np.datetime64(cutoff, "s") + np.timedelta64(86399, "s")
        tmf[ongoing] = "H"
        words = f"the data cut-off {cutoff}"
    else:
        end[ongoing] = np.datetime64("NaT", "s")
        tmf[ongoing] = None
        words = "missing"
    findings.add("ADAM-ADSL-ONGOING", "notice", f"{int(ongoing.sum())} subject(s) on treatment "
                 f"at the cut-off: TRTEDT is {words}", dataset="ADSL", variable="TRTEDT")
    return adsl.assign(TRTEDTM=pd.Series(end), TRTETMF=str_col(tmf), _ONGOING=ongoing)


def _end_of_treatment(adsl: pd.DataFrame, ds: pd.DataFrame, ex: pd.DataFrame | None,
                      o: AdslOptions, disp: np.ndarray, seq: list[str],
                      findings: Findings) -> pd.DataFrame:
    """EOTSTT and DCTREAS from the DS records that end each study treatment (``eot_treatments``,
    or the single ``eot`` filter). Which records end a treatment is decided by what they are
    (category, subcategory), never by their epoch, so a death in follow-up ends treatment.
    A subject is ONGOING while a treatment they received has no ending record; once all have
    ended, the status and reason are those of the latest ending record (on one day, a
    discontinuation outranks a completion)."""
    treatments = o.eot_treatments or {"": TreatmentEnd(ds=o.eot)}
    n = len(adsl)
    dosed_any = adsl["TRTSDT"].notna().to_numpy() if "TRTSDT" in adsl.columns \
        else np.zeros(n, bool)
    ongoing = np.zeros(n, dtype=bool)
    parts = []
    for k, t in enumerate(treatments.values()):
        m = t.ds.mask(ds) & disp
        if not m.any():
            continue
        sub = ds[m]
        parts.append(sub[KEYS].assign(_D=sub["DSDECOD"].to_numpy(),
                                      _DT=sub["DSSTDT"].to_numpy(), _K=float(k),
                                      _S=pd.to_numeric(sub[seq[0]], errors="coerce").to_numpy()
                                      if seq else 0.0))
        ended = isin_values(adsl["USUBJID"], sub["USUBJID"].unique())
        if t.ex is not None and ex is not None and len(ex) and "USUBJID" in ex.columns:
            given = ex[_valid_dose(ex) & t.ex.mask(ex)]
            received = isin_values(adsl["USUBJID"], given["USUBJID"].unique())
        else:
            received = dosed_any
        ongoing |= received & ~ended
    if not parts:
        findings.add("ADAM-ADSL-NOEOT", "notice",
                     "DS has no end-of-treatment disposition records (the ADSL options eot / "
                     "eot_treatments select none): EOTSTT is not derived", dataset="ADSL",
                     variable="EOTSTT")
        return adsl
    ends = pd.concat(parts, ignore_index=True)
    ends = ends.assign(_NC=(~ends["_D"].isin(["COMPLETED"])).to_numpy(dtype="float64"))
    last = derive_vars_merged(adsl[KEYS], dataset_add=ends, by_vars=KEYS,
                              new_vars={"_D": "_D"}, order=["_DT", "_NC", "_K", "_S"],
                              mode="last", exist_flag="_E")
    has = last["_E"].eq("Y").to_numpy()
    st = np.where(ongoing, "ONGOING", np.where(has, _status(last["_D"]), None))
    st = np.where(~ongoing & ~has & dosed_any, "ONGOING", st)
    reas = last["_D"].where(has & ~ongoing & ~last["_D"].isin(["COMPLETED", "SCREEN FAILURE"])
                            .to_numpy())
    return adsl.assign(EOTSTT=str_col(st), DCTREAS=str_col(reas.to_numpy(dtype=object)))


def _death(adsl: pd.DataFrame, sdtm: Mapping[str, pd.DataFrame], o: AdslOptions,
           findings: Findings) -> pd.DataFrame:
    ds = sdtm.get("DS")
    imp = o.death_imputation
    if "DTHDTC" in adsl.columns:
        adsl = derive_vars_dt(adsl, dtc="DTHDTC", new_vars_prefix="DTH", imputation=imp)
    else:
        adsl = adsl.assign(DTHDT=pd.Series(np.full(len(adsl), np.datetime64("NaT", "s"))),
                           DTHDTF=na_str(len(adsl)))
    # a death recorded only in DS
    if ds is not None and len(ds) and "DSDECOD" in ds.columns:
        dtc = "DSSTDTC" if "DSSTDTC" in ds.columns else "DSDTC"
        death_ds = ds[ds["DSDECOD"].eq("DEATH").to_numpy()]
        if len(death_ds):
            bounds = [c for c in imp.min_dates + imp.max_dates if c in adsl.columns]
            d = derive_vars_merged(death_ds.drop(columns=[c for c in bounds
                                                          if c in death_ds.columns]),
                                   dataset_add=adsl, by_vars=KEYS, new_vars=bounds)
            d = d.assign(_DT=convert_dtc_to_dt(d[dtc], imp, frame=d))
            tmp = derive_vars_merged(adsl[KEYS], dataset_add=d, by_vars=KEYS,
                                     new_vars={"_DT": "_DT"}, order=["_DT"], mode="first")
            fill = adsl["DTHDT"].isna().to_numpy() & tmp["_DT"].notna().to_numpy()
            if fill.any():
                dth = adsl["DTHDT"].to_numpy().copy()
                dth[fill] = tmp["_DT"].to_numpy()[fill]
                adsl = adsl.assign(DTHDT=pd.Series(dth.astype("datetime64[s]")))
                findings.add("ADAM-ADSL-DTHDS", "notice",
                             f"{int(fill.sum())} death date(s) taken from DS because DM.DTHDTC "
                             "is empty", dataset="ADSL", variable="DTHDT")
    if "DTHFL" not in adsl.columns:
        adsl = adsl.assign(DTHFL=flag(adsl["DTHDT"].notna().to_numpy()))
    adsl = _death_cause(adsl, sdtm, o)
    if "TRTSDT" in adsl.columns:
        adsl = derive_vars_duration(adsl, new_var="DTHADY", start_date="TRTSDT",
                                    end_date="DTHDT")
        adsl = derive_vars_duration(adsl, new_var="LDDTHELD", start_date="TRTEDT",
                                    end_date="DTHDT", add_one=False)
        ld = adsl["LDDTHELD"].to_numpy()
        with np.errstate(invalid="ignore"):
            gr = np.where(np.isnan(ld), None, np.where(ld <= 30, "<= 30", "> 30"))
            b30 = day_numbers(adsl["DTHDT"]) <= day_numbers(adsl["TRTSDT"]) + 30
        adsl = adsl.assign(LDDTHGR1=str_col(gr), DTH30FL=flag(gr == "<= 30"),
                           DTHA30FL=flag(gr == "> 30"), DTHB30FL=flag(b30))
    return adsl


def _death_cause(adsl: pd.DataFrame, sdtm: Mapping[str, pd.DataFrame],
                 o: AdslOptions) -> pd.DataFrame:
    """DTHCAUS, DTHDOM and DTHCGR1 (admiral's template, with DD): the first source of
    ``o.death_cause_sources`` that has a cause for the subject: a fatal adverse event
    (AE.AEDECOD where AEOUT is FATAL, earliest AESEQ), the primary cause of death collected on
    the death form (DD.DDSTRESC, else DDORRES, where DDTESTCD is PRCDTH), the DS death record's
    term when it says more than "death". DTHCGR1: ADVERSE EVENT for a cause from AE, else the
    first of ``o.death_cause_groups`` whose words the cause contains, else OTHER."""
    causes = []
    rank = {d: float(i) for i, d in enumerate(o.death_cause_sources)}
    ae = sdtm.get("AE")
    if "AE" in rank and ae is not None and len(ae) and {"AEOUT", "AEDECOD"} <= set(ae.columns):
        fatal = ae[ae["AEOUT"].eq("FATAL").to_numpy() & ae["AEDECOD"].notna().to_numpy()]
        if len(fatal):
            causes.append(fatal[KEYS].assign(_C=fatal["AEDECOD"].to_numpy(), _DOM="AE",
                                              _NR=rank["AE"], _S=fatal.get("AESEQ", np.nan)))
    dd = sdtm.get("DD")
    if "DD" in rank and dd is not None and len(dd) and {"DDTESTCD", "DDORRES"} <= \
            set(dd.columns):
        prim = dd[dd["DDTESTCD"].eq("PRCDTH").to_numpy()]
        val = prim["DDSTRESC"].fillna(prim["DDORRES"]) if "DDSTRESC" in prim.columns \
            else prim["DDORRES"]
        prim, val = prim[val.notna().to_numpy()], val[val.notna().to_numpy()]
        if len(prim):
            causes.append(prim[KEYS].assign(_C=val.to_numpy(), _DOM="DD", _NR=rank["DD"],
                                            _S=prim.get("DDSEQ", np.nan)))
    ds = sdtm.get("DS")
    if "DS" in rank and ds is not None and len(ds) and {"DSDECOD", "DSTERM"} <= set(ds.columns):
        # a term that only says "death" is no cause
        term = ds["DSTERM"].astype("str").str.strip().str.upper()
        dsd = ds[ds["DSDECOD"].eq("DEATH").to_numpy() & term.notna().to_numpy()
                 & ~term.isin(["DEATH"]).to_numpy()]
        if len(dsd):
            causes.append(dsd[KEYS].assign(_C=dsd["DSTERM"].to_numpy(), _DOM="DS",
                                           _NR=rank["DS"], _S=dsd.get("DSSEQ", np.nan)))
    if not causes:
        return adsl
    allc = pd.concat(causes, ignore_index=True)
    allc["_S"] = pd.to_numeric(allc["_S"], errors="coerce")
    adsl = derive_vars_merged(adsl, dataset_add=allc, by_vars=KEYS,
                              new_vars={"DTHCAUS": "_C", "DTHDOM": "_DOM"},
                              order=["_NR", "_S"], mode="first")
    dead = adsl["DTHDT"].notna().to_numpy() | adsl["DTHFL"].eq("Y").to_numpy()
    adsl = adsl.assign(DTHCAUS=str_col(adsl["DTHCAUS"].where(dead).to_numpy(dtype=object)),
                       DTHDOM=str_col(adsl["DTHDOM"].where(dead).to_numpy(dtype=object)))
    cause = adsl["DTHCAUS"].astype("str").str.upper()
    grp = np.where(adsl["DTHDOM"].isna().to_numpy(), None,
                   np.where(adsl["DTHDOM"].eq("AE").to_numpy(), "ADVERSE EVENT", "OTHER")
                   ).astype(object)
    todo = adsl["DTHDOM"].notna().to_numpy() & ~adsl["DTHDOM"].eq("AE").to_numpy()
    for g in o.death_cause_groups:               # first matching group wins
        hit = np.zeros(len(adsl), dtype=bool)
        for word in g.contains:
            hit |= cause.str.contains(word.upper(), regex=False).fillna(False).to_numpy(bool)
        grp[todo & hit] = g.group
        todo &= ~hit
    return adsl.assign(DTHCGR1=str_col(grp))


def _last_per_subject(frame: pd.DataFrame, dates: np.ndarray, seq: pd.Series | None
                      ) -> pd.DataFrame:
    """Each subject's latest date (and the largest sequence number on it): a source of a
    known-alive date reduced before it is compared across domains (LB has millions of
    records, the comparison needs one per subject)."""
    codes, _ = pd.factorize(frame["USUBJID"], use_na_sentinel=True)
    day = dates.astype("datetime64[D]")
    t = day.astype("int64").astype("float64")
    t[np.isnat(day)] = np.nan
    s = pd.to_numeric(seq, errors="coerce").to_numpy(dtype="float64") if seq is not None \
        else np.zeros(len(frame))
    ok = (codes >= 0) & ~np.isnan(t)
    if not ok.any():
        return pd.DataFrame({k: pd.Series([], dtype="str") for k in KEYS}).assign(
            _DT=pd.Series([], dtype="datetime64[s]"), _SEQ=np.zeros(0))
    c, tt, ss = codes[ok], t[ok], np.nan_to_num(s[ok], nan=-np.inf)
    r = np.flatnonzero(ok)
    m = int(c.max()) + 1
    best_t = np.full(m, -np.inf)
    np.maximum.at(best_t, c, tt)                     # latest date per subject
    on = tt == best_t[c]
    best_s = np.full(m, -np.inf)
    np.maximum.at(best_s, c[on], ss[on])             # largest sequence number on it
    on &= ss == best_s[c]
    last = np.full(m, -1, dtype=np.int64)
    np.maximum.at(last, c[on], r[on])                # the last such record
    rows = last[last >= 0]
    out = frame.iloc[rows][KEYS].reset_index(drop=True)
    return out.assign(_DT=dates[rows].astype("datetime64[s]"), _SEQ=best_s[last >= 0])


def _alive_sources(sdtm: Mapping[str, pd.DataFrame], mode: str
                   ) -> tuple[list[DateSource], dict[str, pd.DataFrame]]:
    imp = DateImputation(highest="M", date="first")
    srcs: list[DateSource] = []
    data: dict[str, pd.DataFrame] = {}

    def add(name: str, frame: pd.DataFrame, col: str, seq: str | None) -> None:
        key = f"{name}.{col}"
        data[key] = _last_per_subject(frame, convert_dtc_to_dt(frame[col], imp).to_numpy(),
                                      frame[seq] if seq and seq in frame.columns else None)
        srcs.append(DateSource(key, "_DT", seq="_SEQ",
                               set_values_to={"LALVDOM": name, "LALVVAR": col}))

    if mode == "admiral":
        plan = [("AE", "AESTDTC"), ("AE", "AEENDTC"), ("LB", "LBDTC")]
    else:
        plan = []
        for name in sorted(sdtm):
            if name in _NOT_ALIVE_DOMAINS or name.startswith("SUPP") or name.startswith("AP"):
                continue
            frame = sdtm[name]
            if not set(KEYS) <= set(frame.columns):
                continue
            for col in frame.columns:
                if col.endswith("DTC") and col.startswith(name[:2]):
                    plan.append((name, col))
    for name, col in plan:
        frame = sdtm.get(name)
        if frame is None or col not in frame.columns or not len(frame):
            continue
        if name == "DS" and "DSDECOD" in frame.columns:
            frame = frame[~frame["DSDECOD"].eq("DEATH").to_numpy()]
            frame = frame[~frame["DSDECOD"].eq("LOST TO FOLLOW-UP").to_numpy()]
        if name == "SS" and "SSSTRESC" in frame.columns:      # survival status: ALIVE only
            frame = frame[frame["SSSTRESC"].eq("ALIVE").to_numpy()]
            lka = _supp_values(sdtm.get("SUPPSS"), frame, "SS", "LKADTC")
            if lka is not None:       # the collected date last known alive, not the contact
                frame = frame.assign(SSDTC=lka.fillna(frame["SSDTC"]).to_numpy())
        add(name, frame, col, f"{name[:2]}SEQ")
    return srcs, data


def _supp_values(supp: pd.DataFrame | None, parent: pd.DataFrame, dom: str, qnam: str
                 ) -> pd.Series | None:
    """QVAL of ``qnam`` for each parent record (matched on USUBJID and IDVAR/IDVARVAL)."""
    if supp is None or not len(supp) or not {"QNAM", "QVAL", "IDVAR", "IDVARVAL"} <= \
            set(supp.columns):
        return None
    s = supp[supp["QNAM"].eq(qnam).to_numpy()]
    if not len(s):
        return None
    idvar = s["IDVAR"].dropna().unique()
    if len(idvar) != 1 or idvar[0] not in parent.columns:
        return None
    key = parent[idvar[0]]
    left = parent[["USUBJID"]].assign(_ID=pd.to_numeric(key, errors="coerce").to_numpy()
                                      if pd.api.types.is_numeric_dtype(key) else
                                      key.astype("str").to_numpy())
    right = s[["USUBJID", "QVAL"]].assign(
        _ID=pd.to_numeric(s["IDVARVAL"], errors="coerce").to_numpy()
        if pd.api.types.is_numeric_dtype(key) else s["IDVARVAL"].astype("str").to_numpy())
    right = right.drop_duplicates(["USUBJID", "_ID"])
    out = derive_vars_merged(left, dataset_add=right, by_vars=["USUBJID", "_ID"],
                             new_vars={"_V": "QVAL"})
    return pd.Series(out["_V"].to_numpy(), index=parent.index, dtype="str")


def _lstalvdt(adsl: pd.DataFrame, sdtm: Mapping[str, pd.DataFrame], mode: str,
              findings: Findings) -> pd.DataFrame:
    srcs, data = _alive_sources(sdtm, mode)
    if "TRTEDT" in adsl.columns:
        # a TRTEDT set to the cut-off for ongoing treatment is not a date seen alive
        real = ~adsl["_ONGOING"].to_numpy(bool) if "_ONGOING" in adsl.columns else None
        srcs.append(DateSource("ADSL", "TRTEDT", filter=real,
                               set_values_to={"LALVDOM": "ADSL", "LALVVAR": "TRTEDT"}))
        data["ADSL"] = adsl
    return derive_var_extreme_dt(adsl, new_var="LSTALVDT", sources=srcs, source_datasets=data,
                                 mode="last")


def measurable_at_baseline(adsl: pd.DataFrame, sdtm: Mapping[str, pd.DataFrame], *,
                           evaluator: str, baseline_visits) -> np.ndarray | None:
    """Per ADSL row: a target lesion identified at baseline by ``evaluator`` (None without
    TU)."""
    tu = sdtm.get("TU")
    if tu is None or not len(tu) or "TUSTRESC" not in tu.columns:
        return None
    m = baseline_mask(tu, "TU", adsl, baseline_visits)
    if "TUEVAL" in tu.columns:
        m &= tu["TUEVAL"].eq(evaluator).to_numpy() | tu["TUEVAL"].isna().to_numpy() & \
            (evaluator == "INVESTIGATOR")
    m &= tu["TUSTRESC"].eq("TARGET").to_numpy()
    hit = tu.loc[m, "USUBJID"].unique()
    return isin_values(adsl["USUBJID"], hit)


def baseline_mask(df: pd.DataFrame, dom: str, adsl: pd.DataFrame, baseline_visits,
                  reference: str = "TRTSDT") -> np.ndarray:
    """Records at baseline: a baseline visit name, EPOCH SCREENING, or a date on/before the
    reference date (first dose)."""
    m = np.zeros(len(df), dtype=bool)
    if "VISIT" in df.columns:
        m |= df["VISIT"].astype("str").str.upper().isin([v.upper() for v in baseline_visits]) \
            .to_numpy()
    if "EPOCH" in df.columns:
        m |= df["EPOCH"].eq("SCREENING").to_numpy()
    dtc = f"{dom}DTC"
    if dtc in df.columns and reference in adsl.columns:
        d = day_numbers(convert_dtc_to_dt(df[dtc]))
        ref = derive_vars_merged(df[KEYS], dataset_add=adsl, by_vars=KEYS,
                                 new_vars={"_R": reference})
        with np.errstate(invalid="ignore"):
            m |= d <= day_numbers(ref["_R"])
    return m


def _extra_var(adsl: pd.DataFrame, sdtm: Mapping[str, pd.DataFrame], var: str, spec,
               findings: Findings) -> pd.DataFrame:
    src = sdtm.get(spec.domain.upper())
    if src is None or not len(src):
        findings.add("ADAM-ADSL-EXTRA", "notice", f"{var}: {spec.domain} is not in the SDTM "
                     "folder, so the variable is not derived", dataset="ADSL", variable=var)
        return adsl
    if spec.domain.upper().startswith("SUPP"):
        sub = src[src["QNAM"].eq(spec.qnam).to_numpy()]
        vals = sub[KEYS].assign(_V=sub["QVAL"].to_numpy())
    else:
        m = spec.where.mask(src) if spec.where else np.ones(len(src), bool)
        col = spec.value
        if col is None or col not in src.columns:
            findings.add("ADAM-ADSL-EXTRA", "warning", f"{var}: {spec.domain} has no column "
                         f"{col!r}", dataset="ADSL", variable=var)
            return adsl
        sub = src[m]
        vals = sub[KEYS].assign(_V=sub[col].to_numpy())
    vals = vals.drop_duplicates(subset=KEYS, keep="first")
    if not len(vals):
        findings.add("ADAM-ADSL-EXTRA", "notice", f"{var}: no {spec.domain} record "
                     + (f"with QNAM {spec.qnam}" if spec.qnam else "matches"),
                     dataset="ADSL", variable=var)
    out = derive_vars_merged(adsl, dataset_add=vals, by_vars=KEYS, new_vars={var: "_V"})
    if spec.date:
        out[var] = convert_dtc_to_dt(out[var].astype("str"), DateImputation(highest="M"))
    elif spec.numeric:
        out[var] = pd.to_numeric(out[var], errors="coerce").astype("float64")
    else:
        out[var] = out[var].astype("str")
    attrs = dict(out.attrs)
    if spec.label:
        attrs["labels"] = {**attrs.get("labels", {}), var: spec.label}
    attrs["sources"] = {**attrs.get("sources", {}), var: spec.source}
    out.attrs = attrs
    return out


__all__ = ["baseline_mask", "build_adsl", "measurable_at_baseline"]
