"""End of treatment by what a DS record is (not its epoch), the cause of death from DD, the
rule ADAM-DEATH-ONGOING, and the field accounting (SB-MAP-UNMAPPED-FIELD).

Hand-made frames first (values worked out in the comments), then both seed studies end to end
against the simulator's truth (``_truth/subjects.csv``: TRT_ONGOING, EOT_REASON, DTH_CAUSE).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from adam.adsl import build_adsl
from adam.build import build_adam
from adam.options import AdamOptions, AdslOptions, DeathCauseGroup, TreatmentEnd, Where
from studybuild.errors import SpecError
from studybuild.findings import Findings

THIRD = Path(__file__).parent / "specs" / "zetatinib-nsclc"


def _dm(*subjects: str, died: dict | None = None) -> pd.DataFrame:
    died = died or {}
    return pd.DataFrame({"STUDYID": "S", "DOMAIN": "DM", "USUBJID": list(subjects),
                         "ARM": "A", "ACTARM": "A", "ARMCD": "A",
                         "DTHDTC": pd.Series([died.get(s) for s in subjects], dtype="str"),
                         "DTHFL": pd.Series(["Y" if s in died else None for s in subjects],
                                            dtype="str")})


def _ex(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["USUBJID", "EXTRT", "EXSTDTC", "EXENDTC", "EXDOSE"]) \
        .assign(STUDYID="S", DOMAIN="EX")


def _ds(rows) -> pd.DataFrame:
    f = pd.DataFrame(rows, columns=["USUBJID", "DSCAT", "DSSCAT", "DSDECOD", "DSTERM",
                                    "DSSTDTC", "EPOCH"])
    return f.assign(STUDYID="S", DOMAIN="DS", DSSEQ=range(1, len(f) + 1))


def _adsl(sdtm, **adsl_options) -> pd.DataFrame:
    opts = AdamOptions(adsl=AdslOptions(**adsl_options))
    return build_adsl(sdtm, options=opts, findings=Findings()).set_index("USUBJID")


DE, TRT, STP = "DISPOSITION EVENT", "STUDY TREATMENT", "STUDY PARTICIPATION"


def test_death_in_follow_up_ends_treatment_and_study():
    # 1 died in follow-up: its DS STUDY TREATMENT record (EPOCH FOLLOW-UP) ends treatment,
    #   so EOTSTT DISCONTINUED / DCTREAS DEATH (the epoch rule said ONGOING);
    # 2 still on treatment: no end-of-treatment record, dosed -> ONGOING; in the study;
    # 3 completed treatment (TREATMENT epoch), then withdrew in follow-up.
    dm = _dm("1", "2", "3", died={"1": "2024-03-01"})
    ex = _ex([("1", "X", "2024-01-01", "2024-02-20", 100.0),
              ("2", "X", "2024-01-02", "2024-02-10", 100.0),
              ("3", "X", "2024-01-03", "2024-01-31", 100.0)])
    ds = _ds([("1", DE, TRT, "DEATH", "Death", "2024-03-01", "FOLLOW-UP"),
              ("1", DE, STP, "DEATH", "Death", "2024-03-01", "FOLLOW-UP"),
              ("3", DE, TRT, "COMPLETED", "Completed", "2024-01-31", "TREATMENT"),
              ("3", DE, STP, "WITHDRAWAL BY SUBJECT", "Moved away", "2024-04-01",
               "FOLLOW-UP")])
    a = _adsl({"DM": dm, "EX": ex, "DS": ds})
    assert a.loc["1", ["EOTSTT", "DCTREAS", "EOSSTT", "DCSREAS"]].tolist() == \
        ["DISCONTINUED", "DEATH", "DISCONTINUED", "DEATH"]
    assert a.loc["2", "EOTSTT"] == "ONGOING" and pd.isna(a.loc["2", "DCTREAS"])
    assert a.loc["2", "EOSSTT"] == "ONGOING"
    assert a.loc["3", ["EOTSTT", "EOSSTT", "DCSREAS"]].tolist() == \
        ["COMPLETED", "DISCONTINUED", "WITHDRAWAL BY SUBJECT"]
    assert pd.isna(a.loc["3", "DCTREAS"])
    # the EOS filter does not take the end-of-treatment record: EOSDT of 3 is 2024-04-01
    assert str(a.loc["3", "EOSDT"].date()) == "2024-04-01"


def test_each_drug_must_end_before_treatment_ends():
    both = {"X": TreatmentEnd(ds=Where(equals={"DSCAT": (DE,), "DSSCAT": ("X",)}),
                              ex=Where(equals={"EXTRT": ("X",)})),
            "Y": TreatmentEnd(ds=Where(equals={"DSCAT": (DE,), "DSSCAT": ("Y",)}),
                              ex=Where(equals={"EXTRT": ("Y",)}))}
    dm = _dm("1", "2", "3", "4", died={"1": "2024-11-27"})
    ex = _ex([("1", "X", "2024-01-01", "2024-03-07", 1.0), ("1", "Y", "2024-01-01",
                                                            "2024-11-22", 1.0),
              ("2", "X", "2024-01-01", "2024-03-01", 1.0), ("2", "Y", "2024-01-01",
                                                            "2024-06-01", 1.0),
              ("3", "Y", "2024-01-01", "2024-02-01", 1.0),
              ("4", "X", "2024-01-01", "2024-05-01", 1.0), ("4", "Y", "2024-01-01",
                                                            "2024-05-01", 1.0)])
    ds = _ds([
        # 1 (as 203-007): X completed in the treatment epoch, Y ended by death in follow-up;
        #   the last drug to end is Y: DISCONTINUED, DEATH (the epoch rule said COMPLETED)
        ("1", DE, "X", "COMPLETED", "Completed", "2024-03-07", "TREATMENT"),
        ("1", DE, "Y", "DEATH", "Death", "2024-11-27", "FOLLOW-UP"),
        # 2: X stopped, Y goes on -> still ONGOING, no reason yet
        ("2", DE, "X", "ADVERSE EVENT", "Rash", "2024-03-01", "TREATMENT"),
        # 3 never had X (no EX record of it): Y's end ends treatment
        ("3", DE, "Y", "PROGRESSIVE DISEASE", "PD", "2024-02-01", "TREATMENT"),
        # 4: both end the same day; a discontinuation outranks a completion
        ("4", DE, "X", "COMPLETED", "Completed", "2024-05-01", "TREATMENT"),
        ("4", DE, "Y", "PHYSICIAN DECISION", "PD", "2024-05-01", "TREATMENT")])
    a = _adsl({"DM": dm, "EX": ex, "DS": ds}, eot_treatments=both)
    assert a["EOTSTT"].tolist() == ["DISCONTINUED", "ONGOING", "DISCONTINUED", "DISCONTINUED"]
    assert a["DCTREAS"].tolist()[0] == "DEATH" and pd.isna(a["DCTREAS"].tolist()[1])
    assert a["DCTREAS"].tolist()[2:] == ["PROGRESSIVE DISEASE", "PHYSICIAN DECISION"]


def test_no_end_of_treatment_records_is_a_notice():
    dm = _dm("1")
    ds = _ds([("1", "PROTOCOL MILESTONE", None, "INFORMED CONSENT OBTAINED", "IC",
               "2024-01-01", "SCREENING")])
    f = Findings()
    a = build_adsl({"DM": dm, "DS": ds}, options=AdamOptions(), findings=f)
    assert "EOTSTT" not in a.columns
    assert [x.rule_id for x in f if x.rule_id == "ADAM-ADSL-NOEOT"] == ["ADAM-ADSL-NOEOT"]


def test_cause_of_death_from_ae_then_dd_then_ds_with_groups():
    # 1: fatal AE and DD -> the AE's term, group ADVERSE EVENT (admiral)
    # 2: DD "Disease progression" -> DDSTRESC, group PROGRESSIVE DISEASE
    # 3: DD UNKNOWN -> group UNKNOWN (the study's group), OTHER by default
    # 4: DS term only says "Death" -> no cause
    # 5: DS "DEATH DUE TO SEPSIS" -> the DS term, group OTHER
    dm = _dm("1", "2", "3", "4", "5", died={s: "2024-05-01" for s in "12345"})
    ae = pd.DataFrame({"STUDYID": "S", "DOMAIN": "AE", "USUBJID": ["1", "2"], "AESEQ": [1.0, 1.0],
                       "AEDECOD": ["Pneumonia", "Nausea"], "AEOUT": ["FATAL", "RECOVERED"]})
    dd = pd.DataFrame({"STUDYID": "S", "DOMAIN": "DD", "USUBJID": ["1", "2", "3"],
                       "DDSEQ": 1.0, "DDTESTCD": "PRCDTH",
                       "DDORRES": ["Adverse event", "Disease progression", "Unknown"],
                       "DDSTRESC": ["ADVERSE EVENT", "DISEASE PROGRESSION", "UNKNOWN"]})
    ds = _ds([(s, DE, STP, "DEATH", t, "2024-05-01", "FOLLOW-UP")
              for s, t in (("1", "Death"), ("2", "Death"), ("3", "Death"), ("4", "Death"),
                           ("5", "DEATH DUE TO SEPSIS"))])
    sdtm = {"DM": dm, "AE": ae, "DD": dd, "DS": ds}
    a = _adsl(sdtm)
    assert a["DTHCAUS"].tolist()[:3] == ["Pneumonia", "DISEASE PROGRESSION", "UNKNOWN"]
    assert pd.isna(a.loc["4", "DTHCAUS"]) and a.loc["5", "DTHCAUS"] == "DEATH DUE TO SEPSIS"
    assert a["DTHDOM"].tolist()[:3] == ["AE", "DD", "DD"] and a.loc["5", "DTHDOM"] == "DS"
    assert a["DTHCGR1"].tolist()[:3] == ["ADVERSE EVENT", "PROGRESSIVE DISEASE", "OTHER"]
    assert pd.isna(a.loc["4", "DTHCGR1"]) and a.loc["5", "DTHCGR1"] == "OTHER"
    # the study's groups and order: DD before AE, UNKNOWN a group of its own
    groups = (DeathCauseGroup(group="PROGRESSIVE DISEASE", contains=("DISEASE PROGRESSION",)),
              DeathCauseGroup(group="UNKNOWN", contains=("UNKNOWN",)),
              DeathCauseGroup(group="ADVERSE EVENT", contains=("ADVERSE EVENT",)))
    b = _adsl(sdtm, death_cause_sources=("DD", "AE", "DS"), death_cause_groups=groups)
    assert b["DTHCAUS"].tolist()[:3] == ["ADVERSE EVENT", "DISEASE PROGRESSION", "UNKNOWN"]
    assert b["DTHCGR1"].tolist()[:3] == ["ADVERSE EVENT", "PROGRESSIVE DISEASE", "UNKNOWN"]


def test_options_are_validated_with_file_and_line(tmp_path):
    from studybuild.yamlspec import validate

    with pytest.raises(SpecError, match="adsl.yaml:1: .*Input should be 'AE', 'DD' or 'DS'"):
        validate(AdslOptions, {"death_cause_sources": ["AE", "LB"]}, tmp_path / "adsl.yaml",
                 {(): 1})


# -------------------------------------------------------------------------- seed studies

@pytest.fixture()
def run(seed_build):
    """The seed study's SDTM, its ADSL by USUBJID and the simulator's truth by USUBJID
    (built once per session: tests/conftest.py)."""
    study, _raw, sdtm, res, truth, _studyid = seed_build
    return study, sdtm, res.datasets["ADSL"].set_index("USUBJID"), truth


def test_seed_end_of_treatment_agrees_with_the_truth(run):
    study, _sdtm, adsl, truth = run
    t = truth.reindex(adsl.index)
    ongoing = adsl["EOTSTT"].eq("ONGOING")
    assert ongoing.tolist() == t["TRT_ONGOING"].eq("Y").tolist()
    # surufatinib-sts: 1 still on treatment (was 3: 101-016 and 101-029 died in follow-up)
    assert int(ongoing.sum()) == {"surufatinib-sts": 1, "surufatinib-envafolimab-sts": 0}[study]
    ended = ~ongoing
    assert adsl.loc[ended, "DCTREAS"].fillna("COMPLETED").tolist() == \
        t.loc[ended, "EOT_REASON"].str.upper().tolist()
    dead = {"surufatinib-sts": ["101-016", "101-029"],
            "surufatinib-envafolimab-sts": ["203-004", "203-007"]}[study]
    for s in dead:
        row = adsl[adsl.index.str.endswith(s)].iloc[0]
        assert (row.EOTSTT, row.DCTREAS, row.EOSSTT, row.DCSREAS) == \
            ("DISCONTINUED", "DEATH", "DISCONTINUED", "DEATH"), s


def test_seed_cause_of_death_from_dd(run):
    study, sdtm, adsl, truth = run
    dd = sdtm.datasets["DD"]
    dead = adsl["DTHFL"].eq("Y")
    # one PRCDTH record per death; the coded cause kept in DDRESCAT as the truth has it
    assert len(dd) == int(dead.sum()) == {"surufatinib-sts": 18,
                                          "surufatinib-envafolimab-sts": 33}[study]
    assert dd["DDTESTCD"].eq("PRCDTH").all() and dd["DDTEST"].eq("Primary Cause of Death").all()
    t = truth.set_index(truth.index)["DTH_CAUSE"]
    assert dd.set_index("USUBJID")["DDRESCAT"].to_dict() == \
        t.dropna().str.upper().to_dict()
    # DTHCAUS: the fatal AE's term for the AE death, else DD; never the DS term "Death"
    assert not adsl["DTHCAUS"].astype("str").str.upper().eq("DEATH").any()
    assert adsl.loc[dead, "DTHCAUS"].notna().all()
    counts = adsl["DTHCGR1"].value_counts().to_dict()
    assert counts == {"surufatinib-sts": {"PROGRESSIVE DISEASE": 14, "UNKNOWN": 3,
                                          "ADVERSE EVENT": 1},
                      "surufatinib-envafolimab-sts": {"PROGRESSIVE DISEASE": 29, "UNKNOWN": 2,
                                                      "ADVERSE EVENT": 1, "OTHER": 1}}[study]
    # the "Other" cause of 203-005 is its specification, Stroke
    if study == "surufatinib-envafolimab-sts":
        assert adsl.loc[adsl.index.str.endswith("203-005"), "DTHCAUS"].tolist() == ["STROKE"]


def test_seed_studies_pass_the_new_rules(run):
    from validation.run import validate

    study, sdtm, adsl, _truth = run
    frames = {"ADSL": adsl.reset_index()}
    rep = validate(frames, rules=["ADAM-DEATH-ONGOING"], run_suites=False)
    assert [f.rule_id for f in rep.findings] == []
    # the epoch rule's answer for a subject who died in follow-up is caught
    bad = adsl.reset_index()
    died = bad.index[bad["DTHFL"].eq("Y")][0]
    bad.loc[died, "EOTSTT"] = "ONGOING"
    rep = validate({"ADSL": bad}, rules=["ADAM-DEATH-ONGOING"], run_suites=False)
    assert [(f.rule_id, f.row, f.severity.value) for f in rep.findings] == \
        [("ADAM-DEATH-ONGOING", int(died) + 1, "error")]
    # every declared field is mapped or declared not mapped: no finding, accounting adds up
    assert [f for f in sdtm.findings if f.rule_id == "SB-MAP-UNMAPPED-FIELD"] == []
    acc = sdtm.accounting
    assert (acc["FIELDS"] == acc["FIELDS_MAPPED"] + acc["FIELDS_NOT_MAPPED"]
            + acc["FIELDS_UNACCOUNTED"]).all()
    assert acc["FIELDS_UNACCOUNTED"].eq(0).all()
    # the death form: Subject, SiteNumber, DTHDAT, DTHCAUS, DTHCAUSP mapped; the five EDC
    # identifiers declared not mapped
    death = acc.set_index("FORM").loc["death"]
    assert (death.FIELDS, death.FIELDS_MAPPED, death.FIELDS_NOT_MAPPED) == (10, 5, 5)


def test_dd_is_in_define_xml_and_the_xpt_package(tmp_path):
    from sdtm.build import build_sdtm, write_sdtm
    from studybuild.export.xpt import read_xpt
    from studybuild.simulate import simulate_study

    raw = tmp_path / "raw"
    simulate_study("surufatinib-sts", raw, subjects=None, seed=20240501)
    res = build_sdtm("surufatinib-sts", raw)
    meta = res.metadata.dataset("DD")
    assert meta is not None and meta.label == "Death Details"
    assert list(meta.names)[:6] == ["STUDYID", "DOMAIN", "USUBJID", "DDSEQ", "DDTESTCD",
                                    "DDTEST"]
    write_sdtm(res, tmp_path / "sdtm")
    dd, _ = read_xpt(tmp_path / "sdtm" / "dd.xpt")
    assert len(dd) == 18 and dd["DDSTRESC"].value_counts().to_dict() == \
        {"DISEASE PROGRESSION": 14, "UNKNOWN": 3, "LUNG INFECTION": 1}


# -------------------------------------------------------------------------- field accounting

def _third(tmp_path) -> Path:
    dest = tmp_path / "zetatinib-nsclc"
    shutil.copytree(THIRD, dest)
    return dest


def _add_field(folder: Path, declaration: str) -> None:
    forms = folder / "sdtm" / "forms.yaml"
    text = forms.read_text().replace("      DEATH_DATE: Date of death\n",
                                     "      DEATH_DATE: Date of death\n" + declaration)
    forms.write_text(text)
    raw = folder / "raw" / "patients.csv"
    df = pd.read_csv(raw, dtype=str, keep_default_na=False)
    # a cause on the row with a death date (row 2 of the 4 patients)
    df["DEATH_CAUSE"] = ["" if d == "" else "Progression" for d in df["DEATH_DATE"]]
    df.to_csv(raw, index=False)


def test_an_unmapped_field_is_a_finding_naming_form_field_and_rows(tmp_path):
    from sdtm.build import build_sdtm

    folder = _third(tmp_path)
    _add_field(folder, "      DEATH_CAUSE: Cause of death\n")
    res = build_sdtm(folder, folder / "raw")
    got = [f for f in res.findings if f.rule_id == "SB-MAP-UNMAPPED-FIELD"]
    df = pd.read_csv(folder / "raw" / "patients.csv", dtype=str, keep_default_na=False)
    with_value = [i + 1 for i, v in enumerate(df["DEATH_CAUSE"]) if v]
    assert len(with_value) >= 1
    assert [(f.severity.value, f.source, f.variable, f.row) for f in got] == \
        [("error", "patients", "DEATH_CAUSE", with_value[0])]
    assert f"{len(with_value)} mapped row(s)" in got[0].message
    row = res.accounting.set_index("FORM").loc["patients"]
    assert (row.FIELDS, row.FIELDS_MAPPED, row.FIELDS_NOT_MAPPED, row.FIELDS_UNACCOUNTED) == \
        (10, 9, 0, 1)


def test_a_field_declared_not_mapped_with_a_reason_is_accounted_for(tmp_path):
    from sdtm.build import build_sdtm
    from sdtm.spec_xlsx import load_spec_xlsx, write_spec_xlsx

    folder = _third(tmp_path)
    _add_field(folder, "      DEATH_CAUSE: {label: Cause of death, not_mapped: "
                       "no DD in this test study}\n")
    res = build_sdtm(folder, folder / "raw")
    assert [f for f in res.findings if f.rule_id == "SB-MAP-UNMAPPED-FIELD"] == []
    row = res.accounting.set_index("FORM").loc["patients"]
    assert (row.FIELDS_MAPPED, row.FIELDS_NOT_MAPPED, row.FIELDS_UNACCOUNTED) == (9, 1, 0)
    # the reason survives the Pinnacle 21-layout workbook
    book = write_spec_xlsx(folder, folder / "spec.xlsx")
    spec = load_spec_xlsx(book)
    assert spec.forms.forms["patients"].field_spec("DEATH_CAUSE").not_mapped == \
        "no DD in this test study"


def test_not_mapped_on_a_mapped_field_is_a_spec_error(tmp_path):
    from sdtm.spec import load_spec

    folder = _third(tmp_path)
    forms = folder / "sdtm" / "forms.yaml"
    forms.write_text(forms.read_text().replace(
        "      DEATH_DATE: Date of death\n",
        "      DEATH_DATE: {label: Date of death, not_mapped: not needed}\n"))
    with pytest.raises(SpecError) as e:
        load_spec(folder)
    msg = str(e.value)
    assert "DEATH_DATE" in msg and "not_mapped" in msg and "DM.DTHDTC" in msg
    assert "forms.yaml" in msg


def test_third_study_accounts_for_every_field_and_its_death_ends_the_study():
    from sdtm.build import build_sdtm
    from validation.run import validate

    res = build_sdtm(THIRD, THIRD / "raw")
    assert [f for f in res.findings if f.rule_id == "SB-MAP-UNMAPPED-FIELD"] == []
    assert res.accounting["FIELDS_UNACCOUNTED"].eq(0).all()
    adsl = build_adam(res.datasets).datasets["ADSL"]
    # patient 0002 died on 15/06/2022: the DS death is a disposition event
    dead = adsl[adsl["DTHFL"].eq("Y")]
    assert dead[["USUBJID", "EOSSTT", "DCSREAS"]].values.tolist() == \
        [["ZETA-201-11-0002", "DISCONTINUED", "DEATH"]]
    rep = validate({"ADSL": adsl}, rules=["ADAM-DEATH-ONGOING"], run_suites=False)
    assert [f.rule_id for f in rep.findings] == []
