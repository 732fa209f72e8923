"""validate on real and foreign data: the pharmaverse SDTM/ADaM (findings checked by hand),
reports (json, html, junit; byte-identical), findings baseline, the export gate, the
``studybuild validate`` / ``rules`` commands, and folders studybuild did not make (XPT v5 and
v8, CSV, parquet, Dataset-JSON; unknown domains, custom variables, blank columns, odd types).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from lxml import etree

from studybuild.cli import cli
from studybuild.datasets import read_folder
from studybuild.errors import GateError, SpecError
from validation.gate import enforce_gate
from validation.report import write_reports
from validation.rules import registry
from validation.run import validate, validate_folder

DATA = Path(__file__).parent / "data"
BASE = DATA / "validation" / "base"
PHARMA = DATA / "pharmaverse"


@pytest.fixture(scope="module")
def pharma_sdtm():
    return read_folder(PHARMA / "sdtm").frames()


@pytest.fixture(scope="module")
def engine_report(pharma_sdtm):
    """Every cross-dataset and CORE rule on the pharmaverse SDTM (no suites: fast)."""
    return validate(pharma_sdtm, run_suites=False)


def by_rule(rep, rule):
    return [f for f in rep.findings if f.rule_id == rule]


# -------------------------------------------------------------------------------- pharmaverse

def test_pharmaverse_study_day_error_found_by_hand(engine_report):
    # ae.parquet record 971: 01-716-1063 AESEQ 1 starts 2013-05-09, the subject's RFSTDTC is
    # 2013-05-09 as well, so AESTDY must be 1 (2013-05-09 - 2013-05-09 + 1); it is 366.
    (f,) = by_rule(engine_report, "SB-CORE-000552")
    assert (f.dataset, f.row, dict(f.keys)) == ("AE", 971, {"USUBJID": "01-716-1063",
                                                            "AESEQ": "1"})
    assert "AESTDY=366" in f.value and "$val_stdy=1" in f.value
    assert f.core_ids == ("CORE-000552",) and f.severity.value == "error"


def test_pharmaverse_records_after_death(engine_report):
    # 01-710-1083 died 2013-08-02 (dm.DTHDTC); AE record 747 (AEDTC 2013-08-03) and SV record
    # 2225 (SVSTDTC 2013-08-03) are dated the day after, and the pilot has no EPOCH.
    got = {(f.dataset, f.row) for f in by_rule(engine_report, "SB0111")}
    assert got == {("AE", 747), ("SV", 2225)}


def test_pharmaverse_exposure_outside_reference_dates(engine_report):
    # e.g. 01-704-1233 EXSEQ 2 starts 2013-04-05, the day after RFXENDTC 2013-04-04
    got = {(f.row, dict(f.keys)["USUBJID"]) for f in by_rule(engine_report, "SB0101")}
    assert got == {(174, "01-704-1233"), (199, "01-705-1031"), (217, "01-705-1303"),
                   (224, "01-705-1377")}


def test_pharmaverse_serious_criteria_and_meddra_codes(engine_report):
    # AE record 108: 01-701-1192 AESEQ 7 PNEUMONIA has AESHOSP = Y but AESER = N
    f = next(f for f in by_rule(engine_report, "SB-CORE-000022") if f.row == 108)
    assert dict(f.keys) == {"USUBJID": "01-701-1192", "AESEQ": "7"}
    assert len(by_rule(engine_report, "SB-CORE-000022")) == 36
    # the pilot never filled AEBDSYCD although AEBODSYS is there: every AE record
    assert len(by_rule(engine_report, "SB-CORE-000024")) == 1191
    # screen failures: ARMCD 'Scrnfail' with ARMNRS 'SCREEN FAILURE' (52 subjects)
    assert len(by_rule(engine_report, "SB-CORE-000121")) == 52


def test_pharmaverse_suites_on_dm_ds_ts(pharma_sdtm):
    suite_rules = [r for r, i in registry().items() if i.kind in ("suite", "metadata")]
    rep = validate({k: pharma_sdtm[k] for k in ("DM", "DS", "TS")}, rules=suite_rules)
    ds = by_rule(rep, "SB0006")
    # sponsor disposition terms outside the extensible codelists of DSDECOD
    assert {f.value for f in ds if f.dataset == "DS"} == {"FINAL LAB VISIT",
                                                          "FINAL RETRIEVAL VISIT"}
    # TS records 4 and 5 use TSPARMCD AGESPAN / TSPARM 'Age Group', not in CT 2025-03-28
    assert {(f.row, f.variable, f.value) for f in ds if f.dataset == "TS" and f.row in (4, 5)} \
        == {(4, "TSPARMCD", "AGESPAN"), (5, "TSPARMCD", "AGESPAN"), (4, "TSPARM", "Age Group"),
            (5, "TSPARM", "Age Group")}
    assert {f.variable for f in by_rule(rep, "SB0003") if f.dataset == "TS"} == \
        {"TSVALCD", "TSVCDREF", "TSVCDVER"}
    assert rep.counts()["error"] == 0


def test_pharmaverse_adam(tmp_path):
    frames = read_folder(PHARMA / "adam").frames()
    rep = validate(frames, run_suites=False)
    # admiralonco's ADRS has LSTA records with neither AVAL nor AVALC (298 subjects without
    # a disease assessment); ADaMIG 1.3 permits that on a record, and every BDS dataset has
    # AVAL or AVALC, so SB0205 reports nothing
    adrs = frames["ADRS"]
    empty = adrs["AVAL"].isna() & adrs["AVALC"].isna()
    assert int(empty.sum()) == 298 and set(adrs.loc[empty, "PARAMCD"]) == {"LSTA"}
    assert by_rule(rep, "SB0205") == [] and "SB0205" in rep.rules_run
    assert rep.kind == "ADaM" and not by_rule(rep, "SB0201")


# -------------------------------------------------------------------------------- reports

@pytest.fixture(scope="module")
def bad_base():
    frames = read_folder(BASE).frames()
    dm = frames["DM"].copy()
    dm.loc[2, "SEX"] = "Mle"                       # DM record 3: off-codelist (SB0005)
    ae = frames["AE"].copy()
    ae.loc[0, "AEENDTC"] = "2021-01-19"            # AE record 1 ends before it starts
    ae.loc[0, "AEENDY"] = 9.0                      # (and its study day follows: warning)
    frames.update(DM=dm, AE=ae)
    return frames


@pytest.fixture(scope="module")
def bad_report(bad_base):
    return validate(bad_base)


def test_reports_are_complete_self_contained_and_byte_identical(bad_base, bad_report,
                                                                 tmp_path):
    rep = copy.deepcopy(bad_report)
    a, b = tmp_path / "a", tmp_path / "b"
    pa = write_reports(rep, a)
    # a second run over the same inputs writes the same bytes (engine rules are enough to
    # show it: the suites' findings are in both reports through the first run's copy)
    write_reports(copy.deepcopy(bad_report), b)
    for p in pa:
        rel = p.relative_to(a)
        assert (b / rel).read_bytes() == p.read_bytes(), rel
    data = json.loads((a / "report.json").read_text())
    f = next(f for f in data["findings"] if f["rule_id"] == "SB0005")
    assert (f["dataset"], f["variable"], f["row"], f["value"], f["keys"]) == \
        ("DM", "SEX", 3, "Mle", {"USUBJID": "BASE01-003"})
    assert f["p21_ids"] == ["CT2001", "CT2004"] and f["severity"] == "error"
    g = next(f for f in data["findings"] if f["rule_id"] == "SB-CORE-000718")
    assert (g["dataset"], g["row"], g["core_ids"]) == ("AE", 1, ["CORE-000718"])
    assert data["summary"]["error"] == 2
    dm = next(d for d in data["datasets"] if d["name"] == "DM")
    assert (dm["records"], dm["errors"]) == (3, 1)
    html = (a / "report.html").read_text()
    assert "http://" not in html and "https://" not in html and "<script src" not in html
    assert "applyFilters" in html and "BASE01-003" in html
    junit = etree.fromstring((a / "junit.xml").read_bytes())
    cases = junit.findall(".//testcase")
    assert len(cases) == len(rep.rules_run)
    failed = {c.get("name").split(":")[0] for c in cases if c.find("failure") is not None}
    assert failed == {"SB0005", "SB-CORE-000718"}
    assert json.loads((a / "suites" / "dm.json").read_text())["dataset"] == "DM"


def test_validate_does_not_touch_the_callers_frames(bad_base):
    before = {k: v.copy() for k, v in bad_base.items()}
    validate(bad_base, run_suites=False)
    for k, v in bad_base.items():
        pd.testing.assert_frame_equal(v, before[k])


# -------------------------------------------------------------------------------- baseline + gate

def test_baseline_accepts_findings_with_a_reason(bad_base, tmp_path):
    base = tmp_path / "baseline.yaml"
    base.write_text("accepted:\n"
                    "  - rule: SB0005\n    dataset: DM\n    variable: SEX\n"
                    "    keys: {USUBJID: BASE01-003}\n"
                    "    reason: Sponsor spelling, corrected in the next data transfer\n"
                    "  - rule: CORE-000718\n    reason: End date confirmed by the site\n"
                    "  - rule: SB0101\n    reason: nothing matches this one\n")
    rep = validate(bad_base, baseline=base, rules=["SB0005", "SB-CORE-000718", "SB0101",
                                                   "SB-CORE-000708"])
    acc = [f for f in rep.findings if f.accepted]
    assert {(f.rule_id, f.accepted) for f in acc} == {
        ("SB0005", "Sponsor spelling, corrected in the next data transfer"),
        ("SB-CORE-000718", "End date confirmed by the site")}
    assert rep.counts()["error"] == 0 and not rep.has_errors
    assert rep.baseline.unused == (3,)
    (stale,) = by_rule(rep, "SB0902")
    assert "entry 3" in stale.message and stale.severity.value == "notice"
    enforce_gate(rep, allow_errors=False, stage="SDTM")        # accepted errors do not stop it
    assert rep.gate["result"] == "passed"


def test_bad_baseline_names_file_and_line(bad_base, tmp_path):
    base = tmp_path / "baseline.yaml"
    base.write_text("accepted:\n  - rule: SB0005\n    dataset: DM\n")
    with pytest.raises(SpecError) as e:
        validate(bad_base, baseline=base, run_suites=False)
    assert "baseline.yaml:2" in str(e.value) and "reason" in str(e.value)


def test_gate_refuses_errors_and_records_an_override(bad_report):
    rep = copy.deepcopy(bad_report)
    with pytest.raises(GateError) as e:
        enforce_gate(rep, allow_errors=False, stage="SDTM")
    msg = str(e.value)
    assert msg.startswith("SDTM checks found 2 errors (1 warnings); export refused")
    assert "SB0005 x1 (SEX value is not in codelist SEX (C66731); first: DM.SEX row 3)" in msg
    assert e.value.exit_code == 1
    assert rep.gate["result"] == "refused"
    enforce_gate(rep, allow_errors=True, stage="SDTM")
    assert rep.gate["override"] and rep.gate_override
    assert rep.to_dict()["gate"]["result"] == "errors allowed (--allow-errors)"


# -------------------------------------------------------------------------------- CLI

def test_cli_validate_exit_codes_and_reports(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(cli, ["validate", str(BASE)])
    assert ok.exit_code == 0, ok.output
    assert "0 errors, 0 warnings, 0 notices" in ok.output
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("dm.csv", "ts.csv"):
        shutil.copy(BASE / name, bad / name)
    dm = (bad / "dm.csv").read_text().replace(",M,ASIAN", ",Male,ASIAN", 1)
    (bad / "dm.csv").write_text(dm)
    (bad / "notes.txt").write_text("not a dataset")
    res = runner.invoke(cli, ["validate", str(bad), "--report", str(tmp_path / "rep")])
    assert res.exit_code == 1, res.output
    assert "SB0005" in res.output and (tmp_path / "rep" / "report.html").is_file()
    data = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert any(f["rule_id"] == "SB0901" and "notes.txt" in f["message"]
               for f in data["findings"])
    missing = runner.invoke(cli, ["validate", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "folder not found" in missing.output


def test_console_summary_is_readable_at_80_columns_and_piped(engine_report):
    import io

    from rich.console import Console

    from validation.report import console_summary

    buf = io.StringIO()        # what `studybuild validate ... | cat` gets: no terminal
    console_summary(engine_report, console=Console(file=buf, width=80, color_system=None))
    lines = buf.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    # the counts (engine rules only, no suites) and the run on two short lines
    assert lines[:2] == ["SDTM: 1,340 errors, 72 warnings, 0 notices",
                         f"12 datasets, {len(engine_report.rules_run)} rules run; metadata "
                         "from implementation guides"]
    # one entry per finding group: severity, rule, count, where: message, on the first line;
    # wrapped text stays under the message column, never squeezed into empty columns
    i = lines.index(next(x for x in lines if x.startswith("top findings")))
    first = lines[i + 1]
    assert first.split()[:3] == ["error", "SB-CORE-000024", "1,191"]
    # the finding names the rule's variable (CORE's "# Variable: --BDSYCD"), the empty one
    assert "AE.AEBDSYCD: --BODSYS is not empty and --BDSYCD" in first
    col = first.index("AE.AEBDSYCD")
    body = [x for x in lines[i + 1:] if x.startswith(" ")]
    assert body and all(x[:col].strip() == "" and x[col] != " " for x in body)
    text = " ".join(x.strip() for x in lines[i + 1:])
    assert "(first: row 1 01-701-1015)" in text
    entries = [x for x in lines[i + 1:] if not x.startswith(" ")]
    assert len(entries) == 10 and lines[i].startswith("top findings (10 of ")


def test_cli_rules_lists_every_rule():
    res = CliRunner().invoke(cli, ["rules", "--json"])
    assert res.exit_code == 0
    rules = {r["id"]: r for r in json.loads(res.output)}
    assert set(rules) == set(registry())
    assert rules["SB0001"]["core_ids"] == ["CORE-000355"]
    assert rules["SB-CORE-000201"]["message"] == "USUBJID is not found in DM.USUBJID"
    assert rules["SB0114"]["fda_ids"] == ["TRC1734"]
    table = CliRunner().invoke(cli, ["rules"])
    assert table.exit_code == 0 and "SB-CORE-000718" in table.output


def test_cli_validate_with_define_xml(tmp_path):
    # the CDISC example define.xml describes other datasets: its metadata is used where it
    # applies and the run completes
    small = tmp_path / "small"
    small.mkdir()
    for name in ("dm.csv", "ts.csv", "ae.csv"):
        shutil.copy(BASE / name, small / name)
    res = CliRunner().invoke(cli, ["validate", str(small), "--define",
                                   str(DATA / "define" / "define_msg_sdtm.xml"),
                                   "--report", str(tmp_path / "rep")])
    assert res.exit_code in (0, 1), res.output
    data = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert data["metadata_source"] == f"define.xml {DATA / 'define' / 'define_msg_sdtm.xml'}"


# -------------------------------------------------------------------------------- any folder

def test_same_data_from_xpt_parquet_and_dataset_json(tmp_path):
    """The base study written as SAS transport v5, parquet and Dataset-JSON reads back as the
    same frames as from CSV (so the same findings); the XPT folder validates clean."""
    from studybuild.export.datasetjson import write_dataset_json
    from studybuild.export.xpt import write_xpt

    frames = read_folder(BASE).frames()
    for fmt in ("xpt", "parquet", "json"):
        d = tmp_path / fmt
        d.mkdir()
        for name, f in frames.items():
            if fmt == "xpt":
                # SV.EPOCH is not an SDTMIG 3.4 SV variable: its label comes from us
                write_xpt(f, d, dataset=name, labels={"EPOCH": "Epoch"})
            elif fmt == "parquet":
                f.to_parquet(d / f"{name.lower()}.parquet")
            else:
                write_dataset_json(f, d / f"{name.lower()}.json", name=name, label=name,
                                   labels={"EPOCH": "Epoch"}, study_oid="BASE01",
                                   created=dt.datetime(2021, 5, 1))
        back = read_folder(d).frames()
        assert set(back) == set(frames)
        for name, f in frames.items():
            # (the XPT writer puts variables in IG order; SV.EPOCH is not in the IG's SV)
            pd.testing.assert_frame_equal(back[name][list(f.columns)].reset_index(drop=True),
                                          f, check_dtype=False, check_index_type=False)
    rep = validate_folder(tmp_path / "xpt")
    assert rep.counts() == {"error": 0, "warning": 0, "notice": 0}, \
        [(x.rule_id, x.dataset, x.variable, x.message) for x in rep.findings][:5]
    assert rep.source == str(tmp_path / "xpt")


def test_foreign_sas_transport_files_load_and_are_checked(tmp_path):
    """XPT written as another sponsor's SAS session would (pyreadstat, no studybuild checks):
    v8 with long names and labels, an unknown domain, custom variables, all-blank columns,
    numbers stored as text and text stored as numbers."""
    import pyreadstat

    n = 4
    ae = pd.DataFrame({
        "STUDYID": ["X1"] * n, "DOMAIN": ["AE"] * n,
        "USUBJID": ["X1-01", "X1-01", "X1-02", "X1-09"],
        "AESEQ": ["1", "2", "1", "one"],                     # Num stored as text
        "AETERM": ["HEADACHE", "NAUSEA", "RASH", ""],        # blank required value
        "AEDECOD": ["Headache", "Nausea", "Rash", ""],
        "AESTDTC": ["2020-01-05", "05JAN2020", "2020-02-30", ""],
        "AESEV": ["MILD", "Severe", "", ""],
        "AEBLANK": ["", "", "", ""],                         # all-blank custom column
        "AENUMMISS": [np.nan] * n,                           # all-missing numeric
        "AESPONSORVARIABLE": ["a", "b", "c", "d"],           # > 8 characters (v8 only)
        "VISIT": [1.0, 2.0, 3.0, 4.0],                       # Char stored as number
    })
    xy = pd.DataFrame({"STUDYID": ["X1"], "DOMAIN": ["XY"], "USUBJID": ["X1-01"],
                       "XYSEQ": [1.0], "XYTESTCD": ["ABC"], "XYORRES": ["12"]})
    dm = pd.DataFrame({"STUDYID": ["X1", "X1"], "DOMAIN": ["DM", "DM"],
                       "USUBJID": ["X1-01", "X1-02"], "SUBJID": ["01", "02"],
                       "SITEID": ["1", "1"], "SEX": ["M", "F"], "COUNTRY": ["USA", "USA"]})
    folder = tmp_path / "sponsor"
    folder.mkdir()
    pyreadstat.write_xport(ae, str(folder / "ae.xpt"), table_name="AE", file_format_version=8,
                           column_labels=["Study Identifier"] * 2 + [
                               "A label much longer than forty characters for v8 files"] +
                           [""] * (ae.shape[1] - 3))
    pyreadstat.write_xport(xy, str(folder / "xy.xpt"), table_name="XY", file_format_version=5)
    pyreadstat.write_xport(dm, str(folder / "dm.xpt"), table_name="DM", file_format_version=5)
    rep = validate_folder(folder)
    rules = {(f.rule_id, f.dataset, f.variable) for f in rep.findings}
    assert ("SB0014", "AE", "AESPONSORVARIABLE") in rules          # name > 8
    assert ("SB0015", "AE", "USUBJID") in rules                    # label > 40
    assert ("SB0004", "AE", "AESEQ") in rules                      # Num holding text
    assert ("SB0004", "AE", "VISIT") in rules                      # Char holding numbers
    assert ("SB0002", "AE", "AETERM") in rules                     # blank required value
    assert ("SB0018", "XY", "") in rules                           # unknown domain: notice
    assert ("SB-CORE-000201", "AE", "USUBJID") in rules            # X1-09 not in DM
    bad_dates = {f.value for f in rep.findings if f.rule_id == "SB0008"}
    assert bad_dates == {"05JAN2020", "2020-02-30"}
    assert not by_rule(rep, "SB0900")                              # nothing crashed
    assert rep.has_errors


def test_value_level_codelist_from_study_metadata():
    from studybuild.metadata import StudyMetadata, ValueLevel, from_standard

    frames = read_folder(BASE).frames()
    ts = frames["TS"].copy()
    ts.loc[1, "TSVAL"] = "PHASE 2"                 # TS record 2 is TSPARMCD = TPHASE
    meta = StudyMetadata(study_id="base", studyid="BASE01", kind="SDTM",
                         datasets={"TS": from_standard("TS", ts.columns)},
                         value_level=(ValueLevel(dataset="TS", variable="TSVAL",
                                                 where=(("TSPARMCD", "TPHASE"),),
                                                 label="Trial Phase", type="Char",
                                                 codelist="C66737"),))
    rep = validate({"TS": ts}, metadata=meta, rules=["SB0005", "SB0006"])
    (f,) = rep.findings
    assert (f.rule_id, f.row, f.variable, f.value) == ("SB0006", 2, "TSVAL", "PHASE 2")
    assert f.message == ("TSVAL value is not in extensible codelist TPHASE (C66737) "
                         "(where TSPARMCD = 'TPHASE')")


def test_a_rule_that_breaks_on_odd_data_is_reported_not_raised(monkeypatch):
    from validation import engine

    def boom(ev, leaf):
        raise RuntimeError("odd data")

    monkeypatch.setitem(engine.OPERATORS, "date_greater_than", boom)
    rep = validate(read_folder(BASE).frames(), rules=["SB-CORE-000718"], run_suites=False)
    (f,) = by_rule(rep, "SB0900")
    assert "SB-CORE-000718" in f.message and "odd data" in f.message
    assert f.severity.value == "notice"
