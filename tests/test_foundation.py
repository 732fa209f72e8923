"""Foundation: safe YAML with line numbers, study.yaml model, atomic output, dataset reader."""

import os
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from pydantic import BaseModel, ConfigDict

from studybuild.atomic import atomic_file, staged_dir, write_text
from studybuild.datasets import read_dataset, read_folder
from studybuild.errors import InputError, SpecError
from studybuild.study import Study, load_study
from studybuild.yamlspec import load_model, load_yaml, suggest, validate

DATA = Path(__file__).parent / "data"


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    size: int = 0


class Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[Item]


def write(tmp_path, text, name="spec.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


# ---- YAML ---------------------------------------------------------------------------------

def test_yaml_lines_point_at_the_key(tmp_path):
    p = write(tmp_path, """\
        items:
          - name: a
            size: 1
          - name: b
            sise: 2
        """)
    with pytest.raises(SpecError) as e:
        load_model(Doc, p)
    assert str(e.value) == f"{p}:5: items[1].sise: unknown key 'sise'"


def test_yaml_wrong_type_and_missing_key(tmp_path):
    p = write(tmp_path, "items:\n  - name: a\n    size: big\n")
    with pytest.raises(SpecError, match=r"spec.yaml:3: items\[0\].size: Input should be a valid "
                                        r"integer"):
        load_model(Doc, p)
    p = write(tmp_path, "items:\n  - size: 3\n")
    with pytest.raises(SpecError, match=r"spec.yaml:2: items\[0\]: missing required key 'name'"):
        load_model(Doc, p)


def test_yaml_syntax_error_names_line_and_column(tmp_path):
    p = write(tmp_path, "items:\n  - name: a\n   size: 1\n")
    with pytest.raises(SpecError) as e:
        load_yaml(p)
    assert str(e.value).startswith(f"{p}:3: YAML syntax error column")


def test_yaml_duplicate_keys_are_an_error(tmp_path):
    p = write(tmp_path, "a: 1\nb: 2\na: 3\n")
    with pytest.raises(SpecError, match=r"spec.yaml:3: duplicate key 'a'"):
        load_yaml(p)


def test_yaml_python_tags_are_refused(tmp_path):
    p = write(tmp_path, "a: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(SpecError, match=r"spec.yaml:1: YAML tag 'tag:yaml.org,2002:python/"):
        load_yaml(p)


def test_yaml_alias_bomb_is_refused(tmp_path):
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    prev = "a"
    for i in range(1, 9):
        lines.append(f"l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, "
                     f"*{prev}, *{prev}, *{prev}, *{prev}]")
        prev = f"l{i}"
    p = write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(SpecError, match="more than 200000 nodes"):
        load_yaml(p)


def test_yaml_not_utf8_and_missing_file(tmp_path):
    p = tmp_path / "latin.yaml"
    p.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(SpecError, match="latin.yaml:1: file is not UTF-8"):
        load_yaml(p)
    with pytest.raises(SpecError, match="nope.yaml: file not found"):
        load_yaml(tmp_path / "nope.yaml")


def test_suggest_offers_the_closest_name():
    assert suggest("asign", ["assign", "hardcode", "ct"]).startswith("did you mean 'assign'?")
    assert suggest("zzz", ["ct"]) == "known: ct"


# ---- study.yaml ---------------------------------------------------------------------------

def test_both_seed_studies_load_with_their_facts():
    sts = load_study("surufatinib-sts")
    assert sts.studyid == "SURU-STS-II" and sts.planned_subjects == 29
    suru = sts.treatment("SURUFATINIB")
    assert (suru.dose, suru.unit, suru.route, suru.frequency) == (300, "mg", "ORAL", "QD")
    assert sts.cycle_days == 21 and sts.design.centres == "single" and len(sts.sites) == 1
    ta = sts.tumour_assessments
    assert (ta.every_days, ta.window_days, ta.criteria) == (42, 7, "RECIST 1.1")
    combo = load_study("surufatinib-envafolimab-sts")
    assert {t.name for t in combo.treatments} == {"SURUFATINIB", "ENVAFOLIMAB"}
    assert combo.treatment("ENVAFOLIMAB").route == "SUBCUTANEOUS"
    assert combo.survival_follow_up_months >= 42
    assert [e.name for e in combo.endpoints if e.level == "primary"] == ["ORR"]


def test_visit_schedule_expands_series_in_visitnum_order():
    visits = load_study("surufatinib-sts").all_visits()
    by_num = {v.visitnum: v for v in visits}
    assert by_num[1].visit == "SCREENING"
    # cycle n day 1 on study day 1 + 21 (n - 1), window +/- 3 days
    assert (by_num[103].visit, by_num[103].day, by_num[103].window) == ("CYCLE 3 DAY 1", 43, (40, 46))
    # tumour assessment k on day 1 + 42 k (week 6 k), window +/- 7 days
    assert (by_num[202].visit, by_num[202].day, by_num[202].window) == (
        "WEEK 12 TUMOR ASSESSMENT", 85, (78, 92))
    assert [v.visitnum for v in visits] == sorted(v.visitnum for v in visits)
    assert len({v.visit for v in visits}) == len(visits)


def test_study_links_are_checked_with_the_line(tmp_path):
    src = (Path(__file__).parents[1] / "specs/studies/surufatinib-sts/study.yaml").read_text()
    bad = src.replace("elements: [SCRN, SURU, FU]", "elements: [SCRN, SURUX, FU]")
    p = tmp_path / "study.yaml"
    p.write_text(bad)
    with pytest.raises(SpecError) as e:
        load_model(Study, p)
    assert "arm SURU300 uses elements ['SURUX']" in str(e.value)
    assert str(e.value).startswith(f"{p}:")


def test_unknown_country_is_rejected(tmp_path):
    src = (Path(__file__).parents[1] / "specs/studies/surufatinib-sts/study.yaml").read_text()
    p = tmp_path / "study.yaml"
    p.write_text(src.replace("country: CHN", "country: XXX"))
    with pytest.raises(SpecError, match=r"sites\[0\].country: 'XXX' is not an ISO 3166-1"):
        load_model(Study, p)


# ---- atomic output ------------------------------------------------------------------------

def test_atomic_file_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.txt"
    write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_file(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_staged_dir_swaps_whole_folder_or_keeps_old(tmp_path):
    out = tmp_path / "build"
    with staged_dir(out) as stage:
        (stage / "a.txt").write_text("1")
    with pytest.raises(RuntimeError):
        with staged_dir(out) as stage:
            (stage / "b.txt").write_text("2")
            raise RuntimeError("killed")
    assert sorted(p.name for p in out.iterdir()) == ["a.txt"]
    with staged_dir(out) as stage:
        (stage / "c.txt").write_text("3")
    assert sorted(p.name for p in out.iterdir()) == ["c.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["build"]   # no staging leftovers


# ---- dataset reader ----------------------------------------------------------------------

def test_read_pharmaverse_folders():
    sdtm = read_folder(DATA / "pharmaverse/sdtm")
    assert sdtm.kind == "SDTM"
    assert sorted(sdtm.datasets) == ["AE", "DM", "DS", "EX", "LB", "RS", "SUPPAE", "SUPPDM",
                                     "SV", "TR", "TS", "TU"]
    assert len(sdtm["DM"]) == 306 and sdtm["DM"]["AGE"].dtype == "float64"
    assert sdtm["DM"]["DTHDTC"].isna().sum() == 303           # blanks are NA
    adam = read_folder(DATA / "pharmaverse/adam")
    assert adam.kind == "ADaM" and sorted(adam.datasets) == ["ADAE", "ADRS", "ADSL", "ADTR",
                                                             "ADTTE"]
    adsl = adam["ADSL"]
    assert str(adsl["TRTSDT"].dtype) == "datetime64[s]"
    assert adsl.loc[adsl.USUBJID == "01-701-1015", "TRTSDT"].iloc[0] == pd.Timestamp("2014-01-02")


def test_read_csv_with_bom_crlf_and_blanks(tmp_path):
    p = tmp_path / "dm.csv"
    p.write_bytes("\ufeffSTUDYID,DOMAIN,USUBJID,AGE\r\nS,DM,S-1,63\r\nS,DM,S-2,\r\n"
                  .encode("utf-8"))
    ds = read_dataset(p)
    assert ds.name == "DM" and list(ds.frame.columns) == ["STUDYID", "DOMAIN", "USUBJID", "AGE"]
    assert ds.frame["AGE"].tolist()[0] == 63.0 and pd.isna(ds.frame["AGE"][1])


def test_read_errors_name_the_file(tmp_path):
    p = tmp_path / "x.csv"
    p.write_bytes("A,B\nr\xe9sum\xe9,1\n".encode("latin-1"))
    with pytest.raises(InputError, match="x.csv: file is not UTF-8"):
        read_dataset(p)
    empty = tmp_path / "e.csv"
    empty.write_text("")
    with pytest.raises(InputError, match="e.csv: file is empty"):
        read_dataset(empty)
    with pytest.raises(InputError, match="unsupported file type '.sas7bdat'"):
        read_dataset(tmp_path / "dm.sas7bdat")
    with pytest.raises(InputError, match="folder not found"):
        read_folder(tmp_path / "missing")


def test_standard_keys_of_adam_datasets():
    from studybuild.metadata import from_standard

    assert from_standard("ADSL", ["STUDYID", "USUBJID", "AGE"]).keys == ("STUDYID", "USUBJID")
    assert from_standard("ADRS", ["STUDYID", "USUBJID", "PARAMCD", "ADT", "AVALC"]).keys == \
        ("STUDYID", "USUBJID", "PARAMCD", "ADT")
    # an occurrence dataset (no PARAMCD): many records per subject, one per source record, so
    # the subject alone is no key (validate without define.xml reported every ADAE record)
    assert from_standard("ADAE", ["STUDYID", "USUBJID", "AESEQ", "AETERM"]).keys == \
        ("STUDYID", "USUBJID", "AESEQ")
    assert from_standard("ADAE", ["STUDYID", "USUBJID", "ASEQ", "AESEQ"]).keys == \
        ("STUDYID", "USUBJID", "ASEQ")
    assert from_standard("ADXX", ["STUDYID", "USUBJID", "XTERM"]).keys == ()
    # pharmaverse's ADAE is unique on them
    adae = read_folder(Path(__file__).parent / "data" / "pharmaverse" / "adam")["ADAE"]
    keys = list(from_standard("ADAE", adae.columns).keys)
    assert keys == ["STUDYID", "USUBJID", "AESEQ"] and not adae.duplicated(keys).any()
