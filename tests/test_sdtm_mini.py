"""surufatinib-sts on a hand-made 3-subject export (tests/specs/raw-surufatinib-sts-mini):
every value below is worked out by hand from the CSVs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sdtm.build import build_sdtm, write_sdtm
from studybuild.errors import InputError
from studybuild.export.xpt import read_xpt

RAW = Path(__file__).parent / "specs" / "raw-surufatinib-sts-mini"
S1, S2, S3 = (f"SURU-STS-II-101-00{i}" for i in (1, 2, 3))


@pytest.fixture(scope="module")
def result():
    return build_sdtm("surufatinib-sts", RAW)


def number(x: float) -> str:
    return f"{x:g}"


def rows(frame: pd.DataFrame, cols: list[str]) -> list[list]:
    f = frame[cols].astype(object)
    return f.where(f.notna(), None).values.tolist()


def test_dm_reference_dates_age_arm_country(result):
    dm = result.datasets["DM"].set_index("USUBJID")
    # 101-001: first dose 15 Mar 2021, last 6 Jun 2021 (ex_surufatinib rows 1-4); born June
    # 1962, consent 1 Mar 2021 -> 58 whatever the day. Last contact: survival call 1 Sep 2021.
    assert dm.loc[S1, ["RFSTDTC", "RFXENDTC", "RFICDTC", "RFPENDTC", "BRTHDTC", "AGE"]].tolist() \
        == ["2021-03-15", "2021-06-06", "2021-03-01", "2021-09-01", "1962-06", 58.0]
    assert dm.loc[S1, "RFENDTC"] == "2021-06-06"          # treatment ended: the last dose
    # 101-002 is still on treatment (one EX record from 16 Mar, empty EXENDAT): RFXENDTC is
    # the latest EX date there is (its start, CDISC CG0147); RFENDTC is the data cut-off of
    # study.yaml (2025-11-27), as the reference period runs on; 'female' -> F
    assert dm.loc[S2, ["RFXSTDTC", "RFXENDTC", "RFENDTC"]].tolist() == \
        ["2021-03-16", "2021-03-16", "2025-11-27"] and dm.loc[S2, "SEX"] == "F"
    ex2 = result.datasets["EX"].query("USUBJID == @S2")
    assert pd.isna(ex2["EXENDTC"]).all()                   # EX keeps what was collected
    # 14 Jun 1970 -> 2 Mar 2021: 50. 101-003 born 1955 (day and month unknown), consent
    # 3 Mar 2021: 65 or 66 -> imputed 1 July 1955 -> 65; died 20 Apr 2021
    assert dm.loc[S2, "AGE"] == 50.0 and dm.loc[S3, "AGE"] == 65.0
    assert dm.loc[S3, ["DTHDTC", "DTHFL"]].tolist() == ["2021-04-20", "Y"]
    assert pd.isna(dm.loc[S1, "DTHFL"])
    assert set(dm["ARMCD"]) == {"SURU300"} and set(dm["ACTARM"]) == {"Surufatinib 300 mg QD"}
    assert set(dm["COUNTRY"]) == {"CHN"} and dm["USUBJID"].tolist() == [S1, S2, S3] \
        if "USUBJID" in dm else True
    assert list(result.datasets["DM"].columns[:4]) == ["STUDYID", "DOMAIN", "USUBJID", "SUBJID"]
    # expected variables stay even when empty (ARMNRS, ACTARMUD); empty permissible ones go
    assert {"ARMNRS", "ACTARMUD"} <= set(dm.columns) and "INVNAM" not in dm.columns


def test_ex_constant_dose_intervals(result):
    ex = result.datasets["EX"]
    # 101-001: 300 mg 15 Mar-4 Apr and 5 Apr-25 Apr are contiguous -> one record; a 5-day
    # interruption, then 250 mg from 1 May (reason: adverse event) through 6 Jun
    assert rows(ex[ex["USUBJID"] == S1], ["EXSEQ", "EXDOSE", "EXSTDTC", "EXENDTC", "EXADJ",
                                         "EXDOSFRQ", "EXSTDY", "EXENDY"]) == [
        [1.0, 300.0, "2021-03-15", "2021-04-25", None, "QD", 1.0, 42.0],
        [2.0, 250.0, "2021-05-01", "2021-06-06", "ADVERSE EVENT", "QD", 48.0, 84.0]]
    lin = result.lineage[(result.lineage["DOMAIN"] == "EX") & (result.lineage["USUBJID"] == S1)]
    assert lin.groupby("SEQ")["RAW_ROW"].apply(list).to_dict() == {1.0: [1, 2], 2.0: [3, 4]}


def test_tr_sum_of_diameters_in_mm(result):
    tr = result.datasets["TR"]
    sums = tr[tr["TRTESTCD"] == "SUMDIAM"]
    # 101-001: 34 (T01 LDIAM) + 17 (T02 lymph node short axis, LPERP) = 51 at screening;
    # 30 + 16 = 46 at week 6; 33 + 18 = 51 at the unscheduled scan. 101-002 measured in cm:
    # 5.0 cm = 50 mm, 4.5 cm = 45 mm. 101-003: 41 at screening.
    assert rows(sums, ["USUBJID", "VISITNUM", "TRSTRESN", "TRSTRESU", "TRLNKGRP"]) == [
        [S1, 1.0, 51.0, "mm", "A1"], [S1, 201.0, 46.0, "mm", "A201"],
        [S1, 104.01, 51.0, "mm", "A104.01"], [S2, 1.0, 50.0, "mm", "A1"],
        [S2, 201.0, 45.0, "mm", "A201"], [S3, 1.0, 41.0, "mm", "A1"]]
    node = tr[(tr["USUBJID"] == S1) & (tr["TRLNKID"] == "T02")]
    assert set(node["TRTESTCD"]) == {"LPERP"}
    cm = tr[(tr["USUBJID"] == S2) & (tr["TRTESTCD"] == "LDIAM")]
    assert rows(cm, ["TRORRES", "TRORRESU", "TRSTRESC", "TRSTRESN"]) == [
        ["5.0", "cm", "50", 50.0], ["4.5", "cm", "45", 45.0]]
    # baseline flag: the screening records (on or before the first dose)
    assert set(tr.loc[tr["VISITNUM"] == 1.0, "TRLOBXFL"]) == {"Y"}
    assert tr.loc[tr["VISITNUM"] != 1.0, "TRLOBXFL"].isna().all()


def test_tu_rs_links_and_unscheduled_visit_numbering(result):
    tu, tr, rs, sv = (result.datasets[d] for d in ("TU", "TR", "RS", "SV"))
    s1 = tu[tu["USUBJID"] == S1]
    # one TU record per lesion: T01, T02, NT01 at screening, NEW01 at the unscheduled scan
    assert sorted(rows(s1, ["TULNKID", "TUORRES", "VISITNUM"])) == [
        ["NEW01", "NEW", 104.01], ["NT01", "NON-TARGET", 1.0], ["T01", "TARGET", 1.0],
        ["T02", "TARGET", 1.0]]
    # the unscheduled scan of 20 May follows CYCLE 4 DAY 1 (17 May) in the visit form:
    # VISITNUM 104.01 in SV, TR and RS alike
    # SVPRESP/SVOCCUR describe planned visits: both empty for the unscheduled one
    assert rows(sv[(sv["USUBJID"] == S1) & (sv["VISITNUM"] == 104.01)],
                ["VISIT", "SVSTDTC", "SVPRESP", "SVOCCUR"]) == [
        ["UNSCHEDULED 104.01", "2021-05-20", None, None]]
    assert rows(sv[(sv["USUBJID"] == S1) & (sv["VISITNUM"] == 1.0)],
                ["VISIT", "SVPRESP", "SVOCCUR"]) == [["SCREENING", "Y", "Y"]]
    ovr = rs[(rs["RSTESTCD"] == "OVRLRESP")]
    assert rows(ovr, ["USUBJID", "VISITNUM", "RSORRES", "RSSTRESC", "RSLNKGRP", "RSEVAL",
                      "RSCAT"]) == [
        [S1, 201.0, "Stable Disease", "SD", "A201", "INVESTIGATOR", "RECIST 1.1"],
        [S1, 104.01, "PD", "PD", "A104.01", "INVESTIGATOR", "RECIST 1.1"],
        [S2, 201.0, "stable disease", "SD", "A201", "INVESTIGATOR", "RECIST 1.1"]]
    # no non-target lesions for 101-002: NTRGRESP not done, with the reason
    nt = rs[(rs["USUBJID"] == S2) & (rs["RSTESTCD"] == "NTRGRESP")]
    assert rows(nt, ["RSORRES", "RSSTAT", "RSREASND"]) == [
        [None, "NOT DONE", "NO NON-TARGET LESIONS AT BASELINE"]]
    assert set(tr.loc[tr["TRLNKGRP"] == "A104.01", "VISITNUM"]) == {104.01}


def test_ae_ds_se_epoch(result):
    ae = result.datasets["AE"]
    assert rows(ae[ae["USUBJID"] == S1], ["AESEQ", "AETERM", "AEDECOD", "AETOXGR", "AESTDTC",
                                         "AEENDTC", "AESTDY", "EPOCH", "AEENRTPT"]) == [
        [1.0, "Fatigue", "Fatigue", "1", "2021-03-05", None, -10.0, "SCREENING", "ONGOING"],
        [2.0, "high blood pressure", "Hypertension", "3", "2021-04-20", "2021-05", 37.0,
         "TREATMENT", None]]
    assert "AESEV" not in ae.columns          # graded by CTCAE: AESEV empty, so dropped
    # no MedDRA folder: LLT, PT and SOC as the coded export gives them (ae.csv rows 2 and 1:
    # Fatigue 10016256 and Hypertension 10020772 are LLTs that are their own PTs)
    assert rows(ae[ae["USUBJID"] == S1], ["AELLT", "AELLTCD", "AEPTCD", "AEBODSYS", "AEBDSYCD",
                                         "AESOC", "AESOCCD"]) == [
        ["Fatigue", 10016256.0, 10016256.0, "General disorders and administration site conditions",
         10018065.0, "General disorders and administration site conditions", 10018065.0],
        ["Hypertension", 10020772.0, 10020772.0, "Vascular disorders", 10047065.0,
         "Vascular disorders", 10047065.0]]
    # HLT/HLGT need a licensed MedDRA: expected variables kept empty, one notice says why,
    # counting 4 records (6 lines - 1 duplicated line - 1 line of the unknown subject 101-099)
    assert ae[["AEHLT", "AEHLTCD", "AEHLGT", "AEHLGTCD"]].isna().all().all()
    (f,) = [f for f in result.findings if f.rule_id == "SB-MEDDRA-NO-HIERARCHY"]
    assert f.severity.value == "notice" and f.message.startswith(
        "AEHLT, AEHLTCD, AEHLGT, AEHLGTCD left empty in 4 records: no licensed MedDRA")
    # MHSTDY: 2018-01-12 is 1096 days (3 years, 2020 a leap year) + 64 days (12 Jan -> 17 Mar)
    # before RFSTDTC 2021-03-17, so day -1160 (no day 0); partial dates have no study day
    mh = result.datasets["MH"]
    assert rows(mh, ["USUBJID", "MHSTDTC", "MHSTDY"]) == [
        [S1, "2017-10", None], [S1, "2015", None], [S2, "2016", None], [S3, "2018-01-12", -1160.0]]
    nausea = ae[ae["USUBJID"] == S2].iloc[0]
    assert nausea["AETERM"] == "Nausee" and nausea["AESTDTC"] == "2021-04" \
        and pd.isna(nausea["EPOCH"])          # partial date: no epoch, no study day
    se = result.datasets["SE"]
    # 101-003: screening from consent (3 Mar) to the first dose (17 Mar); treatment to the
    # day after the last dose (6 Apr -> 7 Apr); follow-up to death (20 Apr)
    assert rows(se[se["USUBJID"] == S3], ["ETCD", "EPOCH", "SESTDTC", "SEENDTC"]) == [
        ["SCRN", "SCREENING", "2021-03-03", "2021-03-17"],
        ["SURU", "TREATMENT", "2021-03-17", "2021-04-07"],
        ["FU", "FOLLOW-UP", "2021-04-07", "2021-04-20"]]
    ds = result.datasets["DS"]
    # 101-003 died on 20 Apr: the end-of-study disposition event DEATH (eos.csv); the Death
    # Report (death.csv) gives DM.DTHDTC and no second DS record
    assert rows(ds[ds["USUBJID"] == S3], ["DSDECOD", "DSCAT", "DSSCAT", "DSSTDTC", "EPOCH"]) == [
        ["INFORMED CONSENT OBTAINED", "PROTOCOL MILESTONE", None, "2021-03-03", "SCREENING"],
        ["ENTERED INTO TRIAL", "PROTOCOL MILESTONE", None, "2021-03-13", "SCREENING"],
        ["DEATH", "DISPOSITION EVENT", "STUDY TREATMENT", "2021-04-06", "TREATMENT"],
        ["DEATH", "DISPOSITION EVENT", "STUDY PARTICIPATION", "2021-04-20", "FOLLOW-UP"]]
    # one treatment: DSSCAT STUDY TREATMENT says which (no SUPPDS DSTRT any more)
    assert "SUPPDS" not in result.datasets
    assert result.metadata.dataset("DS").keys == ("STUDYID", "USUBJID", "DSCAT", "DSSCAT",
                                                  "DSDECOD", "DSSTDTC")
    assert not ds.duplicated(["USUBJID", "DSCAT", "DSSCAT", "DSDECOD", "DSSTDTC"]).any()


def test_accounting_exclusions_and_findings(result):
    acc = result.accounting.set_index("FORM")
    assert (acc["ROWS_READ"] == acc["ROWS_MAPPED"] + acc["ROWS_EXCLUDED"]).all()
    # ae.csv: 6 rows = 4 mapped + the duplicated line (row 3) + subject 101-099 (row 6)
    assert acc.loc["ae", ["ROWS_READ", "ROWS_MAPPED", "ROWS_EXCLUDED"]].tolist() == [6, 4, 2]
    ex = result.exclusions
    assert rows(ex, ["FORM", "RAW_ROW", "REASON", "SUBJECT"]) == [
        ["ae", 3, "duplicate of row 2 (all fields equal except RecordPosition)", "101-001"],
        ["ae", 6, "subject 101-099 is not in the subject registry form 'enrol'", "101-099"]]
    by_rule = {f.rule_id: f for f in result.findings}
    assert by_rule["SB-MAP-TRANSLIT"].severity.value == "notice"
    assert not result.findings.has_errors


def test_metadata_origins_sources_methods_codelists_value_level(result):
    meta = result.metadata
    assert meta.kind == "SDTM" and meta.studyid == "SURU-STS-II"
    sex = meta.dataset("DM").variable("SEX")
    assert (sex.label, sex.type, sex.core, sex.codelist, sex.origin, sex.source) == (
        "Sex", "Char", "Req", "C66731", "Collected", "dm.SEX")
    # the study codelist holds the terms the data use, with their NCI codes
    assert [(t.value, t.code) for t in meta.codelists["C66731"].terms] == [("F", "C16576"),
                                                                          ("M", "C20197")]
    ex = meta.dataset("EX").variable("EXSTDTC")
    assert ex.method == ("ex_surufatinib.EXSTDAT (the study's date formats) written as ISO "
                         "8601; invalid dates are reported, never imputed.")
    age = meta.dataset("DM").variable("AGE")
    assert age.origin == "Derived" and age.method.startswith("Completed years from BRTHDTC "
                                                             "to RFICDTC")
    assert meta.dataset("TS") is not None and meta.dataset("SUPPTU").variable("QNAM")
    # DSDECOD: SDTMIG names three codelists; each DSCAT gets its own as value-level metadata
    # (milestones are PROTMLST terms, not sponsor extensions of NCOMPLT)
    assert meta.dataset("DS").variable("DSDECOD").codelist is None
    dsvl = {v.where: v for v in meta.value_level if v.dataset == "DS"}
    assert {w: (v.codelist, v.origin) for w, v in dsvl.items()} == {
        (("DSCAT", "DISPOSITION EVENT"),): ("C66727", "Collected"),
        (("DSCAT", "PROTOCOL MILESTONE"),): ("C114118", "Assigned")}
    assert [(t.value, t.code) for t in meta.codelists["C114118"].terms] == [
        ("ENTERED INTO TRIAL", "C161417"), ("INFORMED CONSENT OBTAINED", "C16735")]
    assert [t.value for t in meta.codelists["C66727"].terms] == ["DEATH", "PROGRESSIVE DISEASE"]
    # TS's codelist variables list the terms used: TSVCDREF 'ISO 8601' (SDTMIG's TS examples
    # name it for dates and durations) is a sponsor extension of DICTNAM, without a C-code,
    # so define.xml marks it ExtendedValue and the checks accept it
    # (and 'ClinicalTrials.gov', the registry of REGID NCT06110650, likewise)
    assert [(t.value, t.code) for t in meta.codelists["C66788"].terms] == [
        ("CDISC CT", "C163415"), ("ClinicalTrials.gov", ""), ("ISO 3166", "C209537"),
        ("ISO 8601", "")]
    # AE body system code by the meddra algorithm: origin Assigned, the method names the LLT
    # code, the MedDRA files and the export's column used without a MedDRA folder
    bodsys = meta.dataset("AE").variable("AEBDSYCD")
    assert (bodsys.type, bodsys.origin) == ("Num", "Assigned") and bodsys.method == (
        "The SOC code of the MedDRA LLT whose code is ae.AETERM_LLT_CODE, along the primary SOC "
        "path (licensed MedDRA folder: llt.asc, mdhier.asc); without a MedDRA folder, "
        "ae.AETERM_SOC_CODE as the coder exported it.")
    # MH adds the SDTM model's study day of its start date (its SDTMIG table has MHDY only),
    # right after it (no end date in this export: no MHENDTC, no MHENDY)
    mh = meta.dataset("MH")
    names = [v.name for v in mh.variables]
    assert names[names.index("MHSTDTC") + 1] == "MHSTDY" and "MHENDY" not in names
    assert list(result.datasets["MH"].columns) == names
    st = mh.variable("MHSTDY")
    assert (st.label, st.type, st.role) == ("Study Day of Start of Observation", "Num", "Timing")
    vl = {(v.dataset, v.variable, v.where): v for v in meta.value_level}
    ld = vl[("TR", "TRSTRESN", (("TRTESTCD", "LDIAM"),))]
    assert (ld.label, ld.type, ld.unit, ld.origin) == ("Longest Diameter", "Num", "mm", "Derived")
    assert vl[("RS", "RSSTRESC", (("RSTESTCD", "OVRLRESP"),))].codelist == "C96785"
    assert vl[("RS", "RSSTRESC", (("RSTESTCD", "NEWLPROG"),))].codelist == "C66742"


def test_unreadable_raw_input_stops_with_file_and_row(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(RAW, raw)
    (raw / "death.csv").unlink()
    with pytest.raises(InputError, match=r"death\.csv: raw form file not found"):
        build_sdtm("surufatinib-sts", raw)
    shutil.copy(RAW / "death.csv", raw / "death.csv")
    dm = (raw / "dm.csv").read_text().replace(",SEX,", ",GENDER,")
    (raw / "dm.csv").write_text(dm)
    with pytest.raises(InputError) as info:
        build_sdtm("surufatinib-sts", raw)
    assert str(info.value) == (f"{raw / 'dm.csv'}:0 column SEX: column 'SEX' of form 'dm' is "
                               "missing (re-export the form with that column, or mark the field "
                               "required: false in forms.yaml)")
    shutil.copy(RAW / "dm.csv", raw / "dm.csv")
    (raw / "mh.csv").write_bytes("Project,Subject\nx,caf\xe9\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"mh\.csv:1 column Subject: not UTF-8 text"):
        build_sdtm("surufatinib-sts", raw)
    (raw / "mh.csv").write_text("")
    with pytest.raises(InputError, match=r"mh\.csv: file is empty \(no header row\)"):
        build_sdtm("surufatinib-sts", raw)
    # every form but the registry and demographics header-only: DM, DS (consent, enrolment)
    # and SE (screening) only; subjects are assigned but not treated; empty datasets are not
    # written
    for p in raw.glob("*.csv"):
        if p.name not in ("enrol.csv", "dm.csv"):
            p.write_text((RAW / p.name).read_text().splitlines()[0] + "\n")
    res = build_sdtm("surufatinib-sts", raw)
    assert len(res.datasets["AE"]) == 0 and len(res.datasets["DS"]) == 6
    assert set(res.datasets["DM"]["ARMNRS"]) == {"ASSIGNED, NOT TREATED"}
    assert res.datasets["SE"]["ETCD"].tolist() == ["SCRN"] * 3
    written = {p.name for p in write_sdtm(res, tmp_path / "out")}
    assert "dm.xpt" in written and "ae.xpt" not in written


def test_header_only_bom_crlf_and_text_without_ascii_spelling(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(RAW, raw)
    # a header-only form is fine (nobody has medical history); a BOM and CRLF are read
    header = (RAW / "mh.csv").read_text().splitlines()[0]
    (raw / "mh.csv").write_bytes(("\ufeff" + header + "\r\n").encode("utf-8"))
    crlf = (RAW / "eos.csv").read_text().replace("\n", "\r\n")
    (raw / "eos.csv").write_bytes(crlf.encode("utf-8"))
    # Chinese text has no ASCII spelling: an error naming the form, row and field; a verbatim
    # term over 200 bytes keeps its first 200 in AETERM and the rest in SUPPAE (AETERM1)
    long_term = "Fatigue " + "x" * 242                                  # 250 characters
    text = (raw / "ae.csv").read_text(encoding="utf-8").replace("Pneumonia", "肺炎 pneumonia")
    text = text.replace("high blood pressure", long_term)
    (raw / "ae.csv").write_text(text, encoding="utf-8")
    res = build_sdtm("surufatinib-sts", raw)
    acc = res.accounting.set_index("FORM")
    assert acc.loc["mh", "ROWS_READ"] == 0 and acc.loc["eos", "ROWS_MAPPED"] == 1
    assert res.datasets["DS"]["DSSTDTC"].str.contains("\r").sum() == 0
    ae = res.datasets["AE"]
    row = ae[ae["AETERM"].str.startswith("Fatigue x")]
    assert row["AETERM"].item() == long_term[:200]
    supp = res.datasets["SUPPAE"]
    assert rows(supp, ["USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QVAL"]) == [
        [S1, "AESEQ", number(row["AESEQ"].item()), "AETERM1", long_term[200:]]]
    assert any(f.rule_id == "SB-SDTM-LONGTEXT" for f in res.findings)
    errs = [f for f in res.findings.errors if f.rule_id == "SB-MAP-ASCII"]
    assert len(errs) == 1
    f = errs[0]
    assert (f.dataset, f.variable, f.row) == ("ae.csv", "AETERM", 5)
    assert f.message.startswith("ae.AETERM: text '肺炎 pneumonia' has characters with no ASCII "
                                "spelling")


def test_write_cli_deterministic_and_readable(result, tmp_path, capsys):
    from sdtm.build import build_sdtm_cli

    a = write_sdtm(result, tmp_path / "a")
    # `studybuild sdtm` (same function, fresh build) writes byte-identical files
    assert build_sdtm_cli("surufatinib-sts", RAW, tmp_path / "b") == 0
    out = capsys.readouterr().out
    assert "raw rows: 68 read = 66 mapped + 2 excluded" in out
    b = sorted(p for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert [p.relative_to(tmp_path / "a") for p in a] == [p.relative_to(tmp_path / "b")
                                                           for p in b]
    for pa, pb in zip(a, b):
        assert pa.read_bytes() == pb.read_bytes(), pa.name
    names = {p.name for p in a}
    assert {"dm.xpt", "tr.xpt", "supptu.xpt", "lineage.csv", "accounting.csv",
            "exclusions.csv", "findings.json"} <= names
    tr, meta = read_xpt(tmp_path / "a" / "tr.xpt")
    assert meta.label == "Tumor/Lesion Results" and meta.labels["TRSTRESN"] == \
        "Numeric Result/Finding in Standard Units"
    assert tr.loc[tr["TRTESTCD"] == "SUMDIAM", "TRSTRESN"].tolist() == \
        result.datasets["TR"].loc[lambda d: d["TRTESTCD"] == "SUMDIAM", "TRSTRESN"].tolist()
    lineage = pd.read_csv(tmp_path / "a" / "traceability" / "lineage.csv")
    assert list(lineage.columns) == ["DOMAIN", "RECORD", "USUBJID", "SEQ", "FORM", "RAW_ROW"]


def test_cli_bad_raw_folder_exits_2_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "studybuild", "sdtm", "--study",
                           "surufatinib-sts", "--raw", str(tmp_path / "nope"), "--out",
                           str(tmp_path / "o2")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "raw folder not found" in proc.stderr
