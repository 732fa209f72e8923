"""Spec validation: every mistake is one line naming the file, the line and the fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sdtm.spec import load_spec
from sdtm.spec_xlsx import load_spec_xlsx, write_spec_xlsx
from studybuild.errors import SpecError

THIRD = Path(__file__).parent / "specs" / "zetatinib-nsclc"


@pytest.fixture
def spec_dir(tmp_path: Path) -> Path:
    dest = tmp_path / "zetatinib-nsclc"
    shutil.copytree(THIRD, dest, ignore=shutil.ignore_patterns("raw"))
    return dest


def edit(folder: Path, name: str, old: str, new: str) -> tuple[Path, int]:
    """Replace text in sdtm/<name>; return the file and the 1-based line of the change."""
    path = folder / "sdtm" / name
    text = path.read_text()
    assert old in text, old
    text = text.replace(old, new, 1)
    path.write_text(text)
    line = text[: text.index(new)].count("\n") + 1 if new else \
        text[: text.index(old) if old in text else 0].count("\n") + 1
    return path, line


def error_of(folder: Path) -> str:
    with pytest.raises(SpecError) as info:
        load_spec(folder)
    text = str(info.value)
    assert "\n" not in text
    return text


def test_the_valid_specs_load():
    for study in ("surufatinib-sts", "surufatinib-envafolimab-sts", THIRD):
        spec = load_spec(study)
        assert {"DM", "EX", "AE", "TU", "TR", "RS", "SE", "SV"} <= set(spec.domains)
    # a domain is built after the domains it reads: DM after EX, SE after DM, SV last here
    order = load_spec(THIRD).order
    assert order.index("EX") < order.index("DM") < order.index("SE")
    assert order.index("TR") < order.index("SV")


def test_unknown_algorithm(spec_dir):
    path, line = edit(spec_dir, "ae.yaml", "{name: AETERM, source: adverse.TERM, algorithm: assign}",
                      "{name: AETERM, source: adverse.TERM, algorithm: asign}")
    assert error_of(spec_dir).startswith(
        f"{path}:{line}: variables[1].algorithm: unknown algorithm 'asign' (did you mean "
        "'assign'? known: ")
    assert error_of(spec_dir).endswith("(see docs/algorithms.md)")


def test_unknown_form(spec_dir):
    path, line = edit(spec_dir, "ae.yaml", "source: adverse.TERM,", "source: adverse_log.TERM,")
    assert error_of(spec_dir).startswith(
        f"{path}:{line}: variables[1].source: unknown form 'adverse_log' in source "
        "'adverse_log.TERM' (did you mean 'adverse'? known: ")
    assert error_of(spec_dir).endswith("(declare it in forms.yaml)")


def test_unknown_field(spec_dir):
    path, line = edit(spec_dir, "ae.yaml", "source: adverse.TERM,", "source: adverse.TERMS,")
    assert error_of(spec_dir).startswith(
        f"{path}:{line}: variables[1].source: form 'adverse' has no field 'TERMS' (did you "
        "mean 'TERM'? known: ")


def test_variable_not_in_the_sdtmig_domain(spec_dir):
    path, line = edit(spec_dir, "ae.yaml", "{name: AEREL,", "{name: AERELN,")
    msg = error_of(spec_dir)
    assert msg.startswith(f"{path}:{line}: variables[6].name: AERELN is not a variable of "
                          "SDTMIG 3.4 AE (did you mean 'AEREL'? known: ")
    assert msg.endswith("(fix the name, or declare a supplemental qualifier with "
                        "'supp: {label: ...}')")


def test_missing_required_variable(spec_dir):
    path = spec_dir / "sdtm" / "ae.yaml"
    text = path.read_text().replace(
        "  - {name: AETERM, source: adverse.TERM, algorithm: assign}\n", "")
    path.write_text(text)
    line = text[: text.index("  - {id: ae, form: adverse}")].count("\n") + 1
    assert error_of(spec_dir) == (
        f"{path}:{line}: records[0]: required variable AETERM has no mapping (add '- name: "
        "AETERM' with source/algorithm)")


def test_yaml_syntax_error(spec_dir):
    path, line = edit(spec_dir, "tr.yaml", "  - {name: TRGRPID, algorithm: hardcode, value: TARGET}",
                      "  - {name: TRGRPID, algorithm: hardcode, value: TARGET")
    msg = error_of(spec_dir)
    assert msg.startswith(f"{path}:")
    assert "YAML syntax error" in msg and msg.endswith(
        "(check indentation, colons and quotes on that line)")
    assert int(msg.split(":")[1]) in (line, line + 1)      # where YAML notices it


def test_unknown_parameter_and_unquoted_yes(spec_dir):
    path, line = edit(spec_dir, "ae.yaml", "{name: AEREL, source: adverse.CAUSALITY, algorithm: "
                      "assign, upper: true}", "{name: AEREL, source: adverse.CAUSALITY, "
                      "algorithm: assign, uper: true}")
    assert error_of(spec_dir) == (
        f"{path}:{line}: variables[6].uper: unknown parameter 'uper' for algorithm 'assign' "
        "(did you mean 'upper'? known: map, max, min, pattern, trim, upper)")
    shutil.copy(THIRD / "sdtm" / "ae.yaml", spec_dir / "sdtm" / "ae.yaml")
    path, line = edit(spec_dir, "dm.yaml", 'values: ["Y"], then: ZETA100}',
                      "values: [Yes], then: ZETA100}")
    msg = error_of(spec_dir)
    assert msg.startswith(f"{path}:{line}: variables[")
    assert "write it in quotes, e.g. \"Yes\"" in msg


def test_cycle_and_unknown_domain_algorithm(spec_dir):
    path, line = edit(spec_dir, "dm.yaml", "{name: RFSTDTC, source: RFXSTDTC, algorithm: assign}",
                      "{name: RFSTDTC, source: RFENDTC, algorithm: assign}")
    edit(spec_dir, "dm.yaml", "{name: RFENDTC, algorithm: subject_date, pick: last, "
         "from: [EX.EXENDTC], cutoff_if_missing: true}",
         "{name: RFENDTC, source: RFSTDTC, algorithm: assign}")
    assert "variables depend on each other in a cycle: RFENDTC -> RFSTDTC -> RFENDTC" in \
        error_of(spec_dir) or "RFSTDTC -> RFENDTC -> RFSTDTC" in error_of(spec_dir)
    shutil.copy(THIRD / "sdtm" / "dm.yaml", spec_dir / "sdtm" / "dm.yaml")
    path, line = edit(spec_dir, "ex.yaml", "{algorithm: exposure_intervals,",
                      "{algorithm: exposure_interval,")
    assert error_of(spec_dir).startswith(
        f"{path}:{line}: derive[0].algorithm: unknown domain algorithm 'exposure_interval' "
        "(did you mean 'exposure_intervals'?")


def test_raw_file_names_cannot_leave_the_raw_folder(spec_dir):
    path, line = edit(spec_dir, "forms.yaml", "  dosing:\n", "  dosing:\n    file: ../x.csv\n")
    msg = error_of(spec_dir)
    assert msg.startswith(f"{path}:{line + 1}: forms.dosing.file: file '../x.csv' must be a "
                          "plain file name inside the raw folder")


def test_workbook_round_trip_and_errors(tmp_path):
    folder = tmp_path / "zetatinib-nsclc"
    folder.mkdir()
    shutil.copy(THIRD / "study.yaml", folder / "study.yaml")
    book = write_spec_xlsx(THIRD, folder / "spec.xlsx")
    spec = load_spec_xlsx(book)
    assert spec.domains == load_spec(THIRD).domains
    assert spec.forms == load_spec(THIRD).forms
    # an unknown algorithm in the workbook names the sheet and row
    import openpyxl

    wb = openpyxl.load_workbook(book)
    ws = wb["Variables"]
    head = [c.value for c in ws[1]]
    col = head.index("Algorithm") + 1
    row = next(r for r in range(2, ws.max_row + 1)
               if ws.cell(r, head.index("Variable") + 1).value == "AETERM")
    ws.cell(row, col).value = "asign"
    wb.save(book)
    with pytest.raises(SpecError) as info:
        load_spec_xlsx(book)
    assert str(info.value).startswith(
        f"{book}:{row}: sheet Variables row {row}: variables[1].algorithm: unknown algorithm "
        "'asign' (did you mean 'assign'?")


def test_natural_keys_from_the_spec(tmp_path, spec_dir):
    # DS, AE and MH name their keys (define.xml KeySequence); other domains keep the SDTMIG's
    spec = load_spec("surufatinib-envafolimab-sts")
    assert spec.domains["DS"].keys == ["STUDYID", "USUBJID", "DSCAT", "DSSCAT", "DSDECOD",
                                       "DSSTDTC"]
    assert spec.domains["AE"].keys == ["STUDYID", "USUBJID", "AEDECOD", "AESTDTC", "AESPID"]
    assert spec.domains["CM"].keys is None
    # the workbook carries them in P21's Key Variables column, both ways
    folder = tmp_path / "combo"
    folder.mkdir()
    shutil.copy(Path("specs/studies/surufatinib-envafolimab-sts/study.yaml"),
                folder / "study.yaml")
    book = write_spec_xlsx("surufatinib-envafolimab-sts", folder / "spec.xlsx")
    assert load_spec_xlsx(book).domains == spec.domains
    # a key that is not a variable of the domain
    path, line = edit(spec_dir, "ds.yaml", "domain: DS\n",
                      "domain: DS\nkeys: [STUDYID, USUBJID, DSDECODE, DSSTDTC]\n")
    assert error_of(spec_dir).startswith(
        f"{path}:{line + 1}: keys[2]: key DSDECODE is not a variable of SDTMIG 3.4 DS (did you "
        "mean 'DSDECOD'? known: DOMAIN, DSCAT, DSDECOD, ")


def test_every_algorithm_and_parameter_is_documented():
    from sdtm.registry import algorithms

    doc = (Path(__file__).parent.parent / "docs" / "algorithms.md").read_text()
    for name, alg in algorithms().items():
        assert f"### {name}" in doc or f", {name}" in doc or f"### arm, {name}" in doc, name
        for fname, field in alg.params.model_fields.items():
            assert f"`{field.alias or fname}`" in doc, (name, fname)


# -- values the spec fixes are checked against the variable's codelist at load ---------------

def test_a_hardcoded_value_outside_its_non_extensible_codelist(spec_dir):
    # AGEU: C66781 (non-extensible) has DAYS, HOURS, MONTHS, WEEKS, YEARS; 'YEERS' used to
    # load and only fail at validate (SB0005 on every DM record)
    path, line = edit(spec_dir, "dm.yaml", "{name: AGEU, algorithm: hardcode, value: YEARS}",
                      "{name: AGEU, algorithm: hardcode, value: YEERS}")
    assert error_of(spec_dir) == (
        f"{path}:{line}: variables[10].value: hardcoded value 'YEERS' of DM.AGEU is not a term "
        "of the non-extensible codelist AGEU (C66781) (did you mean 'YEARS'? known: DAYS, "
        "HOURS, MONTHS, WEEKS, YEARS)")


def test_a_condition_value_and_a_map_target_outside_their_codelists(spec_dir):
    # DTHFL: NY (C66742) has N and Y only
    path, line = edit(spec_dir, "dm.yaml", 'test: present, then: "Y"}',
                      'test: present, then: "YES"}')
    assert error_of(spec_dir) == (
        f"{path}:{line}: variables[7].then: then value 'YES' of DM.DTHFL is the term 'Y' of the "
        "non-extensible codelist NY (C66742) written otherwise (write it as 'Y', the "
        "submission value)")
    shutil.copy(THIRD / "sdtm" / "dm.yaml", spec_dir / "sdtm" / "dm.yaml")
    # a named map's target: the error names codelists.yaml and the map entry's line
    path, line = edit(spec_dir, "codelists.yaml", 'SERIOUS: {"1": "Y", "0": "N"}',
                      'SERIOUS: {"1": "Y", "0": "NN"}')
    assert error_of(spec_dir) == (
        f"{path}:{line}: maps.SERIOUS.0: map SERIOUS target 'NN' (for '0') of AE.AESER is not "
        "a term of the non-extensible codelist NY (C66742) (did you mean 'N'? known: N, NA, U, "
        "Y)")


def test_an_extensible_codelist_takes_a_sponsor_term_but_not_a_misspelt_term(spec_dir):
    # UNIT (C71620) is extensible: a unit that is no CDISC term is a sponsor extension
    # (define.xml marks it ExtendedValue="Yes"); a term in other case is a typo of 'mg'
    edit(spec_dir, "ex.yaml", "{name: EXDOSU, algorithm: hardcode, value: mg}",
         "{name: EXDOSU, algorithm: hardcode, value: mg/tablet}")
    spec = load_spec(spec_dir)
    assert spec.domains["EX"].variable("EXDOSU").mapping.params["value"] == "mg/tablet"
    path, line = edit(spec_dir, "ex.yaml", "value: mg/tablet}", "value: MG}")
    assert error_of(spec_dir) == (
        f"{path}:{line}: variables[2].value: hardcoded value 'MG' of EX.EXDOSU is the term 'mg' "
        "of the codelist UNIT (C71620) written otherwise (write it as 'mg', the submission "
        "value)")


def test_a_workbook_fixed_value_outside_its_codelist_names_the_sheet_row(tmp_path):
    import openpyxl

    folder = tmp_path / "zetatinib-nsclc"
    folder.mkdir()
    shutil.copy(THIRD / "study.yaml", folder / "study.yaml")
    book = write_spec_xlsx(THIRD, folder / "spec.xlsx")
    wb = openpyxl.load_workbook(book)
    ws = wb["Variables"]
    head = [c.value for c in ws[1]]
    row = next(r for r in range(2, ws.max_row + 1)
               if ws.cell(r, head.index("Variable") + 1).value == "AGEU")
    cell = ws.cell(row, head.index("Parameters") + 1)
    assert "YEARS" in cell.value
    cell.value = cell.value.replace("YEARS", "YEERS")
    wb.save(book)
    with pytest.raises(SpecError) as info:
        load_spec_xlsx(book)
    assert str(info.value).startswith(
        f"{book}:{row}: sheet Variables row {row}: variables[10].value: hardcoded value 'YEERS' "
        "of DM.AGEU is not a term of the non-extensible codelist AGEU (C66781) (did you mean "
        "'YEARS'?")


def test_a_treatment_fact_of_study_yaml_is_checked_where_ex_uses_it(spec_dir):
    # EXROUTE comes from study.yaml's treatment (algorithm: treatment); ROUTE (C66729) is
    # extensible, and 'Oral' is its term ORAL written otherwise
    path = spec_dir / "study.yaml"
    text = path.read_text()
    path.write_text(text.replace("    route: ORAL\n", "    route: Oral\n"))
    line = text[: text.index("    route: ORAL\n")].count("\n") + 1
    assert error_of(spec_dir) == (
        f"{path}:{line}: treatments[0].route: treatment ZETATINIB route 'Oral' of EX.EXROUTE is the "
        "term 'ORAL' of the codelist ROUTE (C66729) written otherwise (write it as 'ORAL', the "
        "submission value)")
