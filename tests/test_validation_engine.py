"""The rule engine's building blocks: ISO 8601 shapes and date arithmetic, CORE operator
semantics (null handling, column-or-literal values, joins, grouped operations), scope, and
generated suites as data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from validation import engine, iso8601
from validation.suites import build_suite, contexts


def s(*vals):
    return pd.Series(list(vals), dtype="str")


# -------------------------------------------------------------------------------- ISO 8601

@pytest.mark.parametrize("value,ok", [
    ("2021-03-15", True), ("2021-03-15T10:30", True), ("2021-03-15T10:30:15.5Z", True),
    ("2021-03", True), ("2021", True),
    ("2021---15", True),          # SDTMIG 4.4.7: unknown month
    ("--12-15", True),            # unknown year
    ("2003-12-15T-:15", True),    # unknown hour
    ("2021-03-01/2021-03-05", True), ("2021-03-01/P3D", True),
    ("2020-02-29", True), ("2000-02-29", True),         # leap years
    ("2021-02-29", False), ("1900-02-29", False),       # not leap years
    ("2021-04-31", False), ("2021-13", False), ("2021-03-15T24:00", False),
    ("15MAR2021", False), ("2021/03/15", False), ("x", False),
])
def test_dtc_shape(value, ok):
    assert bool(iso8601.is_valid_dtc(s(value)).iloc[0]) is ok


@pytest.mark.parametrize("value,ok", [("P1Y2M", True), ("PT30M", True), ("P2W", True),
                                      ("P1.5D", True), ("-P1D", True), ("P", False),
                                      ("PT", False), ("1D", False), ("P1H", False)])
def test_duration_shape(value, ok):
    assert bool(iso8601.is_valid_duration(s(value)).iloc[0]) is ok


def test_precision_prefix_stops_at_the_first_unknown_component():
    assert iso8601.precision_prefix(s("2021-03-15T10:30", "2021---15", "2021-03-01/2021-04-01",
                                      "x")).tolist()[:3] == ["2021-03-15T10:30", "2021",
                                                              "2021-03-01"]


def test_dates_compare_at_their_common_precision():
    a = s("2021-03", "2021-03-10", "2021-03-10T10:00", None, "2021-02")
    b = s("2021-03-15", "2021-03-09", "2021-03-10", "2021-03-01", "2021-03-15")
    # 2021-03 vs 2021-03-15 -> compared as months: equal, neither before nor after
    assert iso8601.compare_dates(a, b, "lt").tolist() == [False, False, False, False, True]
    assert iso8601.compare_dates(a, b, "gt").tolist() == [False, True, False, False, False]
    assert iso8601.compare_dates(a, b, "eq").tolist() == [True, False, True, False, False]
    # with a component: rows lacking it compare False
    assert iso8601.compare_dates(a, b, "eq", "day").tolist() == [False, False, True, False,
                                                                  False]


def test_study_day_has_no_day_zero():
    # 2021-01-11 is day 1; 01-10 is day -1; 03-01 is day 31 (Jan 11..31) + 28 (Feb) + 1 = 50
    dtc = s("2021-01-11", "2021-01-10", "2021-03-01T08:00", "2021-03", None)
    ref = s("2021-01-11T08:00", "2021-01-11", "2021-01-11", "2021-01-11", "2021-01-11")
    out = iso8601.study_day(dtc, ref)
    assert out.iloc[:3].tolist() == [1.0, -1.0, 50.0]
    assert out.iloc[3:].isna().all()


def test_as_text_keeps_missing_and_drops_dot_zero():
    assert iso8601.as_text(pd.Series([1.0, 2.5, np.nan])).tolist()[:2] == ["1", "2.5"]
    assert iso8601.as_text(pd.Series([1.0, 2.5, np.nan])).isna().tolist() == [False, False, True]
    d = pd.Series(pd.to_datetime(["2021-01-01", None])).astype("datetime64[s]")
    assert iso8601.as_text(d).iloc[0] == "2021-01-01"


# -------------------------------------------------------------------------------- operators

def run_rule(record, frames, name=None):
    rule = engine.compile_rule("T", dict({"Rule Type": "Record Data",
                                          "Scope": {"Domains": {"Include": [name or "ALL"]}}},
                                         **record))
    return rule.run(engine.StudyData(frames))


AE = pd.DataFrame({"STUDYID": s("S", "S", "S", "S"), "DOMAIN": s("AE", "AE", "AE", "AE"),
                   "USUBJID": s("1", "1", "2", "3"), "AESEQ": [1.0, 2.0, 1.0, 1.0],
                   "AESER": s("Y", None, "N", None), "AESDTH": s("Y", "N", None, None),
                   "AESTDTC": s("2021-01-05", "2021-02", "2021-03-01", None),
                   "AEENDTC": s("2021-01-04", "2021-02-03", None, "2021-01-01")})
DM = pd.DataFrame({"STUDYID": s("S", "S"), "DOMAIN": s("DM", "DM"), "USUBJID": s("1", "2"),
                   "RFSTDTC": s("2021-01-01", "2021-02-01"), "DTHFL": s("Y", None)})


def rows(hits):
    return [h.row for h in hits]


def test_not_equal_to_follows_cores_null_truth_table():
    # not_equal_to: both null -> False; one null -> True; values differ -> True
    hits = run_rule({"Check": {"all": [{"name": "AESER", "operator": "not_equal_to",
                                        "value": "AESDTH"}]}}, {"AE": AE})
    assert rows(hits) == [1, 2]          # rows 2 (null vs N) and 3 (N vs null); row 0 equal
    hits = run_rule({"Check": {"all": [{"name": "AESER", "operator": "equal_to",
                                        "value": "AESDTH"}]}}, {"AE": AE})
    assert rows(hits) == [0]


def test_value_is_a_column_when_it_names_one_unless_literal():
    rec = {"Check": {"all": [{"name": "AESER", "operator": "equal_to", "value": "AESDTH",
                              "value_is_literal": True}]}}
    assert rows(run_rule(rec, {"AE": AE})) == []   # no AESER is the text 'AESDTH'


def test_prefix_expansion_and_dates_at_common_precision():
    # --STDTC > --ENDTC: row 0 (01-05 > 01-04); row 1 2021-02 vs 2021-02-03 equal at month
    rec = {"Check": {"all": [{"name": "--STDTC", "operator": "date_greater_than",
                              "value": "--ENDTC"}]}}
    assert rows(run_rule(rec, {"AE": AE})) == [0]


def test_missing_variable_makes_the_rule_not_applicable_but_is_false_inside_any():
    rec = {"Check": {"all": [{"name": "AEXXX", "operator": "empty"}]}}
    assert run_rule(rec, {"AE": AE}) == []
    rec = {"Check": {"any": [{"name": "AEXXX", "operator": "empty"},
                             {"name": "AESER", "operator": "equal_to", "value": "N"}]}}
    assert rows(run_rule(rec, {"AE": AE})) == [2]


def test_match_datasets_joins_and_reports_the_original_row():
    rec = {"Check": {"all": [{"name": "AESTDTC", "operator": "date_less_than",
                              "value": "RFSTDTC"}]},
           "Match Datasets": [{"Name": "DM", "Keys": ["USUBJID"]}]}
    # subject 2 starts 2021-03-01, after RFSTDTC 2021-02-01; subject 1 no; subject 3 not in DM
    assert rows(run_rule(rec, {"AE": AE, "DM": DM})) == []
    ae = AE.assign(AESTDTC=s("2020-12-31", "2021-02", "2021-03-01", None))
    assert rows(run_rule(rec, {"AE": ae, "DM": DM})) == [0]


def test_distinct_from_another_domain_and_grouped_membership():
    rec = {"Check": {"all": [{"name": "USUBJID", "operator": "is_not_contained_by",
                              "value": "$dm"}]},
           "Operations": [{"id": "$dm", "operator": "distinct", "domain": "DM",
                           "name": "USUBJID"}]}
    assert rows(run_rule(rec, {"AE": AE, "DM": DM}, "AE")) == [3]
    # grouped: is the AE's AESER among the values this subject has in DM.DTHFL (as text)?
    rec = {"Check": {"all": [{"name": "AESDTH", "operator": "is_contained_by",
                              "value": "$fl"}]},
           "Operations": [{"id": "$fl", "operator": "distinct", "domain": "DM", "name": "DTHFL",
                           "group": ["USUBJID"]}]}
    assert rows(run_rule(rec, {"AE": AE, "DM": DM}, "AE")) == [0]


def test_operation_on_a_missing_domain_is_not_applicable():
    rec = {"Check": {"all": [{"name": "USUBJID", "operator": "is_not_contained_by",
                              "value": "$x"}]},
           "Operations": [{"id": "$x", "operator": "distinct", "domain": "EX",
                           "name": "USUBJID"}]}
    assert run_rule(rec, {"AE": AE, "DM": DM}, "AE") == []


def test_unique_relationship_flags_both_sides():
    f = pd.DataFrame({"STUDYID": s("S", "S", "S"), "DOMAIN": s("TA", "TA", "TA"),
                      "ARMCD": s("A", "A", "B"), "ARM": s("Arm A", "Arm A2", "Arm B")})
    rec = {"Check": {"all": [{"name": "ARM", "operator": "is_not_unique_relationship",
                              "value": "ARMCD"}]}}
    assert rows(run_rule(rec, {"TA": f}, "TA")) == [0, 1]


def test_scope_by_class_and_domain():
    rule = engine.compile_rule("T", {"Rule Type": "Record Data",
                                     "Scope": {"Classes": {"Include": ["FINDINGS"]},
                                               "Domains": {"Include": ["ALL"]}},
                                     "Check": {"all": [{"name": "USUBJID",
                                                        "operator": "non_empty"}]}})
    data = engine.StudyData({"AE": AE, "DM": DM,
                             "XY": pd.DataFrame({"USUBJID": s("1"), "XYTESTCD": s("A")})})
    assert [h.dataset for h in rule.run(data)] == ["XY"]   # custom domain guessed FINDINGS
    assert data.class_of("AE") == "EVENTS"
    assert engine.sdtm_class("SUPPAE", ["QNAM"]) == "RELATIONSHIP"


def test_unsupported_features_are_named_at_compile_time():
    with pytest.raises(engine.Unsupported, match="operator 'frobnicate'"):
        engine.compile_rule("T", {"Rule Type": "Record Data",
                                  "Check": {"all": [{"name": "A", "operator": "frobnicate"}]}})
    assert engine.unsupported_features({"Rule Type": "JSONata", "Check": {}}) == \
        ["rule type 'JSONata'"]


def test_operators_work_on_whole_columns_at_scale():
    # 200,000 records: a join, a grouped distinct and a date comparison, no per-row Python
    n = 200_000
    ae = pd.DataFrame({"STUDYID": "S", "DOMAIN": "AE",
                       "USUBJID": pd.Series(np.arange(n) % 5000).astype(str).astype("str"),
                       "AESTDTC": pd.Series(["2021-01-05"] * n, dtype="str")})
    dm = pd.DataFrame({"USUBJID": pd.Series(np.arange(5000)).astype(str).astype("str"),
                       "RFSTDTC": pd.Series(["2021-01-06"] * 4999 + ["2021-01-01"],
                                            dtype="str")})
    rec = {"Check": {"all": [{"name": "AESTDTC", "operator": "date_less_than",
                              "value": "RFSTDTC"}]},
           "Match Datasets": [{"Name": "DM", "Keys": ["USUBJID"]}]}
    hits = run_rule(rec, {"AE": ae, "DM": dm}, "AE")
    assert len(hits) == n - n // 5000    # every subject but '4999' starts before RFSTDTC


# -------------------------------------------------------------------------------- suites

def test_suite_is_json_data_generated_from_standards_and_ct():
    dm = pd.DataFrame({"STUDYID": s("S"), "DOMAIN": s("DM"), "USUBJID": s("S-1"),
                       "SUBJID": s("1"), "SITEID": s("01"), "SEX": s("M"),
                       "COUNTRY": s("CHN"), "RFSTDTC": s("2021-01-01"), "AGE": [50.0]})
    suite = build_suite(contexts({"DM": dm})["DM"])
    json.dumps(suite)                                     # plain data
    exps = {e["meta"]["rule"]: e for e in suite["expectations"]}
    assert suite["frames"]["records"]["required"] == ["STUDYID", "DOMAIN", "USUBJID", "SUBJID",
                                                      "SITEID", "SEX", "COUNTRY"]
    assert exps["SB0001"]["kwargs"] == {"column": "req_present", "regex": "^present$"}
    # SEX is non-extensible C66731 (F, INTERSEX, M, U): an error-level regex over DS|VAR=value
    assert suite["frames"]["values"]["ct_error"]["SEX"]["terms"] == ["F", "INTERSEX", "M",
                                                                      "U"]
    assert r"DM\|SEX=(?:F|INTERSEX|M|U)" in exps["SB0005"]["kwargs"]["regex"]
    assert suite["frames"]["values"]["dtc"] == ["RFSTDTC"]
    assert suite["frames"]["values"]["country"] == ["COUNTRY"]
    assert suite["frames"]["records"]["types"]["AGE"] == "Num"
    ids = [e["meta"]["sb_id"] for e in suite["expectations"]]
    assert len(ids) == len(set(ids))                      # unique: GX results map back


def test_study_frames_hold_every_dataset_and_distinct_values():
    from validation.gx_run import ValueIndex, key_frames, records_frame

    frames = {"DM": pd.DataFrame({"STUDYID": s("S", "S"), "DOMAIN": s("DM", "DM"),
                                  "USUBJID": s("S-1", "S-2"), "SEX": s("M", None)}),
              "TS": pd.DataFrame({"STUDYID": s("S"), "DOMAIN": s("TS"), "TSSEQ": [1.0],
                                  "TSPARMCD": s("SSTDTC"), "TSPARM": s("Study Start Date"),
                                  "TSVAL": s("2021-01-04")})}
    ctxs = contexts(frames)
    plans = {k: build_suite(c)["frames"] for k, c in ctxs.items()}
    index = ValueIndex(frames, plans)
    # GX sees each distinct value once: "S" (STUDYID of 3 records) and "DM" (2) once each
    values = sorted(v for chunk in index.distinct("value") for v in chunk)
    assert values == sorted(["S", "DM", "S-1", "S-2", "M", "TS", "SSTDTC",
                             "Study Start Date", "2021-01-04"])
    ct = sorted(v for chunk in index.distinct("ct_error") for v in chunk)
    assert ct == ["DM|SEX=M"]             # SEX (C66731, non-extensible); record 2 is blank
    # required cells: DM SEX of record 2 is missing, so both outcomes are checked
    assert sorted(v for chunk in index.distinct("req_value") for v in chunk) == [
        "missing", "present"]
    # and a failing distinct value leads back to its records, by value
    back = index.rows("req_value", "DM", {"missing"})
    assert back[["row", "variable", "value"]].values.tolist() == [[1, "SEX", "missing"]]
    back = index.rows("value", "DM", {"S"})
    assert back[["row", "variable"]].values.tolist() == [[0, "STUDYID"], [1, "STUDYID"]]
    rec = records_frame(frames, plans)
    missing = rec[rec.req_present == "missing"]
    assert sorted(zip(missing.dataset, missing.variable)) == [("DM", "COUNTRY"),
                                                              ("DM", "SITEID"),
                                                              ("DM", "SUBJID")]
    assert rec[(rec.dataset == "TS") & (rec.variable == "TSSEQ")].type_check.dropna().tolist() \
        == ["Num:num"]
    # USUBJID + --SEQ as one integer per record: DM has no DMSEQ; TS has one record
    keys = key_frames(frames, plans)
    assert set(keys) <= {"key_error", "key_warning", "seq_key"}
    for col, kf in keys.items():
        assert kf[col].dtype == np.int64
        assert not kf.duplicated(["dataset", "row"]).any()


def test_key_ids_equal_exactly_when_keys_are_equal():
    from validation.gx_run import key_ids

    df = pd.DataFrame({"USUBJID": s("A", "A", "B", None, None, "A"),
                       "SEQ": [1.0, 2.0, 1.0, 1.0, 1.0, 1.0]})
    ids = key_ids(df, ["USUBJID", "SEQ"])
    # rows 0 and 5 are (A, 1); rows 3 and 4 are (missing, 1); the others differ
    assert ids[0] == ids[5] and ids[3] == ids[4]
    assert len({ids[0], ids[1], ids[2], ids[3]}) == 4