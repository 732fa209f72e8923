"""Dataset-JSON 1.1 export: files valid against the official schema (JSON and NDJSON), read back
identically (values and types), byte-identical rebuilds, OIDs shared with define.xml, and the
validator's own findings on broken files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from studybuild.datasets import read_dataset, read_folder
from studybuild.define import item_oid, metadata_version_oid, study_oid
from studybuild.errors import ExportError, InputError
from studybuild.export.datasetjson import (read_dataset_json, validate_dataset_json,
                                           write_dataset_json)

DATA = Path(__file__).parent / "data" / "pharmaverse"
CREATED = dt.datetime(2023, 6, 30)


@pytest.fixture(scope="module")
def adsl() -> pd.DataFrame:
    return read_dataset(DATA / "adam" / "adsl.parquet").frame


@pytest.fixture(scope="module")
def tr() -> pd.DataFrame:
    return read_dataset(DATA / "sdtm" / "tr_onco_recist.parquet").frame


def _write(frame, path, name, *, ndjson=False, labels=None, keys=("STUDYID", "USUBJID")):
    return write_dataset_json(frame, path, ndjson=ndjson, name=name, label=f"{name} label",
                              labels=labels or {}, keys=keys,
                              study_oid=study_oid("CDISCPILOT01"),
                              metadata_version_oid=metadata_version_oid("CDISCPILOT01",
                                                                        "ADaM"),
                              metadata_ref="define.xml", created=CREATED)


@pytest.mark.parametrize("ndjson", [False, True], ids=["json", "ndjson"])
def test_adsl_is_schema_valid_and_reads_back_identically(tmp_path, adsl, ndjson):
    path = _write(adsl, tmp_path / f"adsl.{'ndjson' if ndjson else 'json'}", "ADSL",
                  ndjson=ndjson)
    assert validate_dataset_json(path) == []
    back, meta = read_dataset_json(path)
    # character str with NA, numbers float64, dates and datetimes datetime64[s]
    assert back["TRTSDT"].dtype == "datetime64[s]" and back["AGE"].dtype == "float64"
    pd.testing.assert_frame_equal(back, adsl)
    assert meta["name"] == "ADSL" and meta["records"] == len(adsl) == 306
    assert meta["keys"] == ["STUDYID", "USUBJID"]


@pytest.mark.parametrize("ndjson", [False, True], ids=["json", "ndjson"])
def test_sdtm_findings_round_trip(tmp_path, tr, ndjson):
    path = _write(tr, tmp_path / f"tr.{'ndjson' if ndjson else 'json'}", "TR", ndjson=ndjson)
    assert validate_dataset_json(path) == []
    back, _ = read_dataset_json(path)
    pd.testing.assert_frame_equal(back, tr)


def test_rebuild_is_byte_identical(tmp_path, adsl):
    a = _write(adsl, tmp_path / "a" / "adsl.json", "ADSL").read_bytes()
    b = _write(adsl, tmp_path / "b" / "adsl.json", "ADSL").read_bytes()
    assert a == b
    a = _write(adsl, tmp_path / "a" / "adsl.ndjson", "ADSL", ndjson=True).read_bytes()
    b = _write(adsl, tmp_path / "b" / "adsl.ndjson", "ADSL", ndjson=True).read_bytes()
    assert a == b


def test_column_metadata(tmp_path, adsl):
    path = _write(adsl, tmp_path / "adsl.json", "ADSL", labels={"AGE": "Age at Consent"})
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["datasetJSONVersion"] == "1.1.0"
    assert doc["datasetJSONCreationDateTime"] == "2023-06-30T00:00:00"
    assert (doc["studyOID"], doc["metaDataVersionOID"], doc["itemGroupOID"]) == \
        ("STDY.CDISCPILOT01", "MDV.CDISCPILOT01.ADaMIG.1.3", "IG.ADSL")
    cols = {c["name"]: c for c in doc["columns"]}
    # the same OIDs as the define.xml ItemDefs
    assert cols["USUBJID"]["itemOID"] == item_oid("ADSL", "USUBJID") == "IT.ADSL.USUBJID"
    assert cols["USUBJID"]["keySequence"] == 2 and "keySequence" not in cols["AGE"]
    # pharmaverse USUBJIDs are 11 characters ("01-701-1015")
    assert cols["USUBJID"]["dataType"] == "string" and cols["USUBJID"]["length"] == 11
    assert cols["AGE"] == {"itemOID": "IT.ADSL.AGE", "name": "AGE", "label": "Age at Consent",
                           "dataType": "integer"}
    assert cols["TRTDURD"]["label"] == "Total Treatment Duration (Days)"   # from ADaMIG
    assert (cols["TRTSDT"]["dataType"], cols["TRTSDT"]["targetDataType"],
            cols["TRTSDT"]["displayFormat"]) == ("date", "integer", "DATE9.")
    assert (cols["TRTSDTM"]["dataType"], cols["TRTSDTM"]["displayFormat"]) == \
        ("datetime", "DATETIME20.")
    first = dict(zip(cols, doc["rows"][0]))
    row0 = adsl.iloc[0]
    assert first["USUBJID"] == row0["USUBJID"] and first["AGE"] == int(row0["AGE"])
    assert first["TRTSDT"] == row0["TRTSDT"].strftime("%Y-%m-%d")


def test_values_lengths_and_missing(tmp_path):
    frame = pd.DataFrame({
        "STUDYID": pd.Series(["S1", "S1", "S1"], dtype="str"),
        "TERM": pd.Series(["Übelkeit", pd.NA, "a"], dtype="str"),
        "AVAL": [1.5, np.nan, -2.25],
        "N": [1.0, 2.0, np.nan],
        "ADT": pd.Series(["2023-01-02", None, "2023-03-04"], dtype="datetime64[s]"),
    })
    path = _write(frame, tmp_path / "adxx.json", "ADXX", keys=("STUDYID",))
    doc = json.loads(path.read_text(encoding="utf-8"))
    cols = {c["name"]: c for c in doc["columns"]}
    assert cols["TERM"]["length"] == 9          # "Übelkeit": 8 characters, 9 bytes in UTF-8
    assert (cols["AVAL"]["dataType"], cols["N"]["dataType"]) == ("double", "integer")
    assert doc["rows"] == [["S1", "Übelkeit", 1.5, 1, "2023-01-02"],
                           ["S1", None, None, 2, None],
                           ["S1", "a", -2.25, None, "2023-03-04"]]
    assert validate_dataset_json(path) == []
    back, _ = read_dataset_json(path)
    pd.testing.assert_frame_equal(back, frame)


def test_non_finite_numbers_are_refused(tmp_path):
    frame = pd.DataFrame({"AVAL": [1.0, np.inf]})
    with pytest.raises(ExportError, match=r"dataset ADXX.*variable AVAL.*row 2.*inf"):
        _write(frame, tmp_path / "adxx.json", "ADXX", keys=())


def test_validator_reports_schema_and_consistency_errors(tmp_path, tr):
    path = _write(tr.head(3), tmp_path / "tr.json", "TR")
    doc = json.loads(path.read_text(encoding="utf-8"))
    del doc["label"]                          # required by the schema
    doc["columns"][0]["dataType"] = "text"    # not a Dataset-JSON data type
    doc["records"] = 5                        # the file has 3 rows
    seq = next(i for i, c in enumerate(doc["columns"]) if c["name"] == "TRSEQ")
    doc["rows"][1][seq] = "2"                 # integer column holding a string
    path.write_text(json.dumps(doc), encoding="utf-8")
    errors = validate_dataset_json(path)
    assert any(e.startswith("schema: (top level): 'label' is a required property")
               for e in errors)
    assert any(e.startswith("schema: columns/0/dataType: 'text' is not one of") for e in errors)
    assert "records is 5 but the file has 3 rows" in errors
    assert "column TRSEQ (integer): row 2 has str value '2'" in errors
    assert len(errors) == 4
    doc["rows"][2] = doc["rows"][2][:-1]
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert "1 rows do not have 19 values (first: row 3)" in validate_dataset_json(path)
    with pytest.raises(InputError, match="row 3 has 18 values, expected 19"):
        read_dataset_json(path)


def test_ndjson_metadata_line_is_checked_against_the_ndjson_schema(tmp_path, tr):
    path = _write(tr.head(2), tmp_path / "tr.ndjson", "TR", ndjson=True)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and "rows" not in json.loads(lines[0])
    meta = json.loads(lines[0])
    meta["records"] = -1
    path.write_text("\n".join([json.dumps(meta)] + lines[1:]) + "\n", encoding="utf-8")
    errors = validate_dataset_json(path)
    assert any(e.startswith("schema: records: -1 is less than the minimum of 0")
               for e in errors)


def test_folder_reader_takes_dataset_json(tmp_path, tr):
    _write(tr, tmp_path / "tr.json", "TR")
    folder = read_folder(tmp_path)
    assert list(folder.datasets) == ["TR"] and folder.datasets["TR"].format == "json"
    pd.testing.assert_frame_equal(folder["TR"], tr)
