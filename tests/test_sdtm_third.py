"""Onboarding a third study needs a spec folder only: tests/specs/zetatinib-nsclc maps a
differently shaped export (tests/specs/zetatinib-nsclc/raw/README.md) with the same engine.
Expected values are worked out by hand from the raw CSVs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sdtm.build import build_sdtm

THIRD = Path(__file__).parent / "specs" / "zetatinib-nsclc"
P1, P2, P3, P4 = (f"ZETA-201-{s}" for s in ("11-0001", "11-0002", "12-0003", "12-0004"))


@pytest.fixture(scope="module")
def res():
    return build_sdtm(THIRD, THIRD / "raw")


def rows(frame: pd.DataFrame, cols: list[str]) -> list[list]:
    f = frame[cols].astype(object)
    return f.where(f.notna(), None).values.tolist()


def test_no_python_for_the_third_study():
    # the folder holds YAML and CSV only
    kinds = {p.suffix for p in THIRD.rglob("*") if p.is_file()}
    assert kinds <= {".yaml", ".csv", ".md"}


def test_dm_from_one_row_per_patient(res):
    dm = res.datasets["DM"]
    # USUBJID = STUDYID-SITEID-SUBJID (the default template); 0003 never enrolled
    assert rows(dm, ["USUBJID", "SITEID", "SUBJID", "SEX", "COUNTRY", "ARMCD", "ARMNRS",
                     "RFXSTDTC", "AGE"]) == [
        [P1, "11", "0001", "F", "GBR", "ZETA100", None, "2022-01-10", 63.0],
        [P2, "11", "0002", "M", "GBR", "ZETA100", None, "2022-01-15", 51.0],
        [P3, "12", "0003", "F", "FRA", None, "SCREEN FAILURE", None, 72.0],
        [P4, "12", "0004", "M", "FRA", "ZETA100", None, "2022-02-20", 42.0]]
    # DOB 'UK/06/1958' -> 1958-06; consent 3 Jan 2022 -> 63 for any June birthday.
    # 14 Feb 1970 -> 5 Jan 2022: 51. 'UK/UK/1949' -> 1949; 10 Feb 2022: 72 or 73 -> 1 July
    # imputed -> 72. 1 Jan 1980 -> 12 Feb 2022: 42.
    assert dm.loc[dm["USUBJID"] == P1, "BRTHDTC"].item() == "1958-06"
    assert dm.loc[dm["USUBJID"] == P2, ["DTHDTC", "DTHFL"]].values.tolist() == \
        [["2022-06-15", "Y"]]


def test_ex_dates_yyyymmdd_merged_and_treatment_facts(res):
    ex = res.datasets["EX"]
    # 0001: 10 Jan-20 Feb and 21 Feb-15 Mar (100 mg) are contiguous -> one record (the
    # duplicated line is excluded); 75 mg from 1 Apr after an interruption, reason kept
    assert rows(ex[ex["USUBJID"] == P1], ["EXDOSE", "EXSTDTC", "EXENDTC", "EXADJ", "EXDOSFRM",
                                         "EXROUTE"]) == [
        [100.0, "2022-01-10", "2022-03-15", None, "TABLET", "ORAL"],
        [75.0, "2022-04-01", "2022-06-01", "NEUTROPENIA", "TABLET", "ORAL"]]
    assert rows(res.exclusions, ["FORM", "RAW_ROW", "REASON"]) == [
        ["adverse", 4, "subject 0009 is not in the subject registry form 'patients'"],
        ["dosing", 3, "exact duplicate of row 2"]]


def test_wide_scan_rows_become_tu_tr_rs(res):
    tu, tr, rs = res.datasets["TU"], res.datasets["TR"], res.datasets["RS"]
    assert rows(tu[tu["USUBJID"] == P2], ["TULNKID", "TULOC", "TUMETHOD"]) == [
        ["T01", "LYMPH NODE", "MRI"], ["T02", "LUNG", "MRI"], ["T03", "ADRENAL GLAND", "MRI"]]
    sums = tr[tr["TRTESTCD"] == "SUMDIAM"]
    # 0001: 40 + 22 = 62 at baseline, 32 + 18 = 50 at W6, 30 + 16 = 46 at W12, 29 + 15 = 44
    # at the EXTRA scan of 10 May (day 121: in the WEEK 18 window 127 +/- 7 -> VISITNUM 12)
    assert rows(sums[sums["USUBJID"] == P1], ["VISIT", "VISITNUM", "TRSTRESN"]) == [
        ["BASELINE", 1.0, 62.0], ["WEEK 6", 10.0, 50.0], ["WEEK 12", 11.0, 46.0],
        ["WEEK 18", 12.0, 44.0]]
    # 0002: 25 + 30 + 15 = 70, 30 + 35 + 15 = 80, 40 + 45 + 20 = 105
    assert sums.loc[sums["USUBJID"] == P2, "TRSTRESN"].tolist() == [70.0, 80.0, 105.0]
    ovr = rs[rs["RSTESTCD"] == "OVRLRESP"]
    assert rows(ovr[ovr["USUBJID"] == P2], ["VISIT", "RSSTRESC", "RSLNKGRP"]) == [
        ["WEEK 6", "SD", "A10"], ["WEEK 12", "PD", "A11"]]
    assert set(ovr["RSLNKGRP"]) <= set(tr["TRLNKGRP"])


def test_ae_roman_grades_and_mixed_date_patterns(res):
    ae = res.datasets["AE"]
    assert rows(ae, ["USUBJID", "AETOXGR", "AESER", "AESTDTC", "AEENDTC", "EPOCH"]) == [
        [P1, "3", "N", "2022-03-10", "2022-03-30", "TREATMENT"],
        [P2, "5", "Y", "2022-06-01", "2022-06-15", "FOLLOW-UP"],
        [P4, "1", "N", "2022-03", None, None]]
    # SOC codes from specs/dictionaries/meddra-soc.csv: Investigations, Respiratory...,
    # Skin and subcutaneous tissue disorders
    assert ae["AEBDSYCD"].tolist() == [10022891.0, 10038738.0, 10040785.0]


def test_sv_derived_from_the_visits_of_tu_tr_rs(res):
    sv = res.datasets["SV"]
    assert rows(sv[sv["USUBJID"] == P1], ["VISITNUM", "VISIT", "SVSTDTC", "SVPRESP",
                                          "SVOCCUR"]) == [
        [1.0, "BASELINE", "2022-01-05", "Y", "Y"], [10.0, "WEEK 6", "2022-02-22", "Y", "Y"],
        [11.0, "WEEK 12", "2022-04-05", "Y", "Y"], [12.0, "WEEK 18", "2022-05-10", "Y", "Y"]]
    # SVOCCUR only where SVPRESP says planned (CORE-000038)
    assert (sv["SVOCCUR"].isna() == sv["SVPRESP"].isna()).all()
    se = res.datasets["SE"]
    assert rows(se[se["USUBJID"] == P3], ["ETCD", "SESTDTC"]) == [["SCRN", "2022-02-10"]]
    acc = res.accounting
    assert (acc["ROWS_READ"] == acc["ROWS_MAPPED"] + acc["ROWS_EXCLUDED"]).all()
    assert not res.findings.has_errors
