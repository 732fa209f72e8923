"""Every study the project ships passes its own gate: the third study (tests/specs/zetatinib-nsclc,
the one the README points to) built end to end from its raw CSVs exports with 0 errors.

Its build used to be refused with CORE-000027 (element FU had neither TEENRL nor TEDUR),
CORE-000191 (RFENDTC empty for subject 0004, still on treatment at the cut-off), CORE-000266
(the fatal serious AE had no seriousness criterion) and SB0002 on ADSL ARM/TRT01P for the screen
failure 0003 (null as DM.ARM is, with ARMNRS saying why)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest
from click.testing import CliRunner

from studybuild.export.layout import adam_dir, sdtm_dir
from studybuild.cli import cli
from studybuild.paths import specs_dir
from validation.run import validate_folder

THIRD = Path(__file__).parent / "specs" / "zetatinib-nsclc"
STUDY = "zetatinib-nsclc"


@pytest.fixture(scope="module")
def package(tmp_path_factory, monkeypatch_module) -> Path:
    """`studybuild build --study zetatinib-nsclc` against a spec library holding the study (as
    the bad-input corpus does: STUDYBUILD_SPECS, the standards and dictionaries linked in)."""
    root = tmp_path_factory.mktemp("third")
    lib = root / "specs"
    (lib / "studies").mkdir(parents=True)
    for name in ("standards", "dictionaries"):
        (lib / name).symlink_to(specs_dir() / name, target_is_directory=True)
    shutil.copytree(THIRD, lib / "studies" / STUDY, ignore=shutil.ignore_patterns("raw"))
    monkeypatch_module.setenv("STUDYBUILD_SPECS", str(lib))
    specs_dir.cache_clear()
    try:
        res = CliRunner().invoke(cli, ["build", "--study", STUDY, "--raw", str(THIRD / "raw"),
                                       "--out", str(root / "out")])
    finally:
        monkeypatch_module.delenv("STUDYBUILD_SPECS")
        specs_dir.cache_clear()
    assert res.exit_code == 0, res.output
    return root / "out" / STUDY


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_the_third_study_passes_its_gate(package):
    report = json.loads((package / "validation" / "report.json").read_text())
    errors = [(f["rule_id"], f["dataset"], f["variable"]) for f in report["findings"]
              if f["severity"] == "error"]
    assert errors == []
    assert (report["gate"]["errors"], report["gate"]["override"]) == (0, False)
    assert [s["result"] for s in report["gate"]["stages"]] == ["passed", "passed"]
    assert (sdtm_dir(package) / "dm.xpt").is_file()
    assert (adam_dir(package) / "adsl.xpt").is_file()


def test_the_spec_fixes_reach_the_datasets(package):
    from studybuild.export.xpt import read_xpt

    sdtm = sdtm_dir(package)
    dm = read_xpt(sdtm / "dm.xpt")[0].set_index("USUBJID")
    # 0004's dosing row has no TO (ongoing): RFENDTC is the data cut-off (study.yaml);
    # 0001's last dose ends 1 Jun 2022; the screen failure 0003 has none
    assert dm.loc["ZETA-201-12-0004", "RFENDTC"] == "2022-12-31"
    assert dm.loc["ZETA-201-11-0001", "RFENDTC"] == "2022-06-01"
    assert pd.isna(dm.loc["ZETA-201-12-0003", "RFENDTC"])
    te = read_xpt(sdtm / "te.xpt")[0].set_index("ETCD")
    assert te.loc["FU", "TEENRL"] == "Death, withdrawal of consent or end of study"
    ae = read_xpt(sdtm / "ae.xpt")[0]
    # the grade V (fatal) pneumonitis of 0002 is the only serious event and results in death
    assert ae[["AETOXGR", "AESER", "AESDTH"]].astype(object).where(
        ae[["AETOXGR", "AESER", "AESDTH"]].notna(), None).values.tolist() == [
        ["3", "N", None], ["5", "Y", "Y"], ["1", "N", None]]
    adsl = read_xpt(adam_dir(package) / "adsl.xpt")[0]
    sf = adsl[adsl["USUBJID"] == "ZETA-201-12-0003"]
    assert sf["ARMNRS"].tolist() == ["SCREEN FAILURE"]
    assert sf["ARM"].isna().all() and sf["TRT01P"].isna().all()


def test_a_null_adsl_arm_is_an_error_only_without_armnrs(tmp_path):
    # SDTMIG 3.4: ARM is null for a subject not assigned to an arm, ARMNRS says why; ADSL.ARM
    # is DM.ARM and TRT01P comes from it. Subject 3 has neither: SB0002 for ARM and TRT01P.
    adsl = pd.DataFrame({
        "STUDYID": ["S"] * 3, "USUBJID": ["S-1", "S-2", "S-3"], "SUBJID": ["1", "2", "3"],
        "SITEID": ["1"] * 3, "AGE": [60.0, 61.0, 62.0], "AGEU": ["YEARS"] * 3,
        "SEX": ["F", "M", "F"], "RACE": ["WHITE"] * 3, "ARM": ["Drug", "", ""],
        "ARMNRS": ["", "SCREEN FAILURE", ""], "TRT01P": ["Drug", "", ""]})
    folder = tmp_path / "adam"
    folder.mkdir()
    pyreadstat.write_xport(adsl, str(folder / "adsl.xpt"), table_name="ADSL",
                           file_format_version=5)
    rep = validate_folder(folder)
    null = sorted((f.variable, f.row) for f in rep.findings if f.rule_id == "SB0002")
    assert null == [("ARM", 3), ("TRT01P", 3)]


def test_every_dataset_of_the_third_study_has_keys_in_define_xml(package):
    from test_define_keys import assert_every_dataset_keyed

    sdtm = assert_every_dataset_keyed(sdtm_dir(package))
    assert_every_dataset_keyed(adam_dir(package))
    assert sdtm["SV"] == ["STUDYID", "USUBJID", "VISITNUM"]
