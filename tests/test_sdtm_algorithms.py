"""Each SDTM mapping algorithm on small inputs, against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sdtm import dates
from sdtm.registry import Arg, BuildState, DomainContext, ValueContext, algorithms
from sdtm.spec import load_spec
from studybuild.findings import Findings

SPEC = load_spec("surufatinib-sts")
ALG = algorithms()


def make_ctx(n: int, *, domain: str = "DM", variable: str = "X", var_type: str = "Char",
             subjects: list[str] | None = None, state: BuildState | None = None) -> ValueContext:
    subj = subjects or [f"S-{i + 1}" for i in range(n)]
    recs = pd.DataFrame({"USUBJID": pd.Series(subj, dtype="str"),
                         "_REC": np.arange(n, dtype="int64"),
                         "_ROW": np.arange(1, n + 1, dtype="int64")})
    state = state or BuildState(spec=SPEC, study=SPEC.study, findings=Findings(),
                                subjects=pd.DataFrame({"USUBJID": subj, "SUBJID": subj,
                                                       "SITEID": ["101"] * n}))
    return ValueContext(state=state, domain=domain, variable=variable, block="b",
                        records=recs, var_type=var_type)


def arg(values, ref: str = "f.FLD", numeric: bool = False) -> Arg:
    s = pd.Series(values, dtype="float64" if numeric else "str")
    form, _, fld = ref.partition(".")
    return Arg(s, ref, form if fld else None, fld or None,
               pd.Series(np.arange(1, len(s) + 1), dtype="float64"))


def run(name: str, ctx: ValueContext, args: list[Arg], **params):
    alg = ALG[name]
    return alg.fn(ctx, args, alg.params.model_validate(params))


def values(s: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in s.tolist()]


# --- dates ------------------------------------------------------------------------------------

def test_parse_dates_patterns_partial_and_invalid():
    raw = pd.Series(["05-MAR-2021", "un-mar-2021", "UNK-UNK-2021", "2021-03-05", "2021-03",
                     "2021", "30-FEB-2021", "29-FEB-2020", "31/12/2021", None, "UN-MAR-21"])
    iso, bad = dates.parse_dates(raw, ("DD-MON-YYYY", "YYYY-MM-DD"))
    # partial dates stay partial; 30 Feb is impossible, 2020 is a leap year; DD/MM/YYYY and a
    # two-digit year are not allowed patterns here: invalid, never guessed
    assert values(iso) == ["2021-03-05", "2021-03", "2021", "2021-03-05", "2021-03", "2021",
                           None, "2020-02-29", None, None, None]
    assert bad.tolist() == [False, False, False, False, False, False, True, False, True,
                            False, True]


def test_parse_dates_with_time_and_other_patterns():
    iso, bad = dates.parse_dates(pd.Series(["31/12/2021", "UK/06/1958", "20220110"]),
                                 ("DD/MM/YYYY", "YYYYMMDD"))
    assert values(iso) == ["2021-12-31", "1958-06", "2022-01-10"]
    iso, bad = dates.parse_dates(pd.Series(["05-MAR-2021", "05-MAR-2021", "UN-MAR-2021"]),
                                 times=pd.Series(["9:05", "24:00", "10:00"]))
    # a time is added only to a complete date; 24:00 is not a valid time
    assert values(iso) == ["2021-03-05T09:05", None, "2021-03"]
    assert bad.tolist() == [False, True, False]


def test_study_day_has_no_day_zero():
    # RFSTDTC 2021-03-10 is day 1, the day before is day -1; partial dates get no day
    dy = dates.study_day(pd.Series(["2021-03-10", "2021-03-09", "2021-04-09", "2021-03"]),
                         pd.Series(["2021-03-10"] * 4))
    assert values(dy) == [1.0, -1.0, 31.0, None]   # 10 Mar -> 9 Apr = 30 days later: day 31


# --- assign, hardcode, ct ---------------------------------------------------------------------

def test_assign_trim_upper_pattern_map_and_numbers():
    ctx = make_ctx(3)
    out = run("assign", ctx, [arg([" grade 3 ", "Grade 1", None])], pattern=r"([1-5])")
    assert values(out) == ["3", "1", None]
    out = run("assign", ctx, [arg(["Unrelated", "related ", "x"])], upper=True,
              map={"unrelated": "NOT RELATED"})
    assert values(out) == ["NOT RELATED", "RELATED", "X"]
    ctx = make_ctx(3, variable="EXDOSE", var_type="Num")
    out = run("assign", ctx, [arg(["300", "abc", "-5"], "ex.EXDOSE")], min=0)
    assert values(out) == [300.0, None, -5.0]
    rules = sorted(f.rule_id for f in ctx.state.findings)
    assert rules == ["SB-MAP-NUM", "SB-MAP-RANGE"]
    msg = [f.message for f in ctx.state.findings if f.rule_id == "SB-MAP-NUM"][0]
    assert "ex.EXDOSE: value 'abc' is not a number" in msg and "row 2" in msg


def test_hardcode():
    assert values(run("hardcode", make_ctx(2), [], value="RECIST 1.1")) == ["RECIST 1.1"] * 2
    assert values(run("hardcode", make_ctx(1, var_type="Num"), [], value=5)) == [5.0]


def test_ct_submission_values_synonyms_study_map_and_unmapped():
    ctx = make_ctx(5, variable="SEX")
    out = run("ct", ctx, [arg(["male", " FEMALE ", "M", "Mle", None], "dm.SEX")],
              codelist="SEX")
    # 'male'/'FEMALE' are synonyms of M/F (any case), 'M' a submission value; 'Mle' is not in
    # the non-extensible SEX codelist: kept as collected (upper-cased) and an error finding
    assert values(out) == ["M", "F", "M", "MLE", None]
    (f,) = list(ctx.state.findings)
    assert (f.rule_id, f.severity.value, f.variable, f.row) == ("SB-MAP-CT", "error", "SEX", 4)
    assert "value 'Mle' is not in codelist SEX (C66731)" in f.message
    ctx = make_ctx(2, variable="AEOUT")
    out = run("ct", ctx, [arg(["resolved", "Fatal"])], codelist="OUT",
              map={"Resolved": "RECOVERED/RESOLVED"})
    assert values(out) == ["RECOVERED/RESOLVED", "FATAL"]
    ctx = make_ctx(1, variable="EXDOSFRQ")
    out = run("ct", ctx, [arg(["Once daily"])], codelist="FREQ", map="FREQ")   # named map
    assert values(out) == ["QD"]
    ctx = make_ctx(1, variable="EXROUTE")
    run("ct", ctx, [arg(["By mouth"])], codelist="ROUTE")
    assert list(ctx.state.findings)[0].severity.value == "warning"   # extensible codelist


def test_ct_decode_pairs_codelists_by_term_code():
    ctx = make_ctx(3, domain="TR", variable="TRTEST")
    out = run("ct_decode", ctx, [arg(["LDIAM", "SUMDIAM", "LPERP"], "TRTESTCD")])
    assert values(out) == ["Longest Diameter", "Sum of Diameter", "Longest Perpendicular"]


def test_dictionary_meddra_soc_names_and_codes():
    ctx = make_ctx(4, domain="AE", variable="AEBDSYCD", var_type="Num")
    soc = arg(["Vascular disorders", "vascular  DISORDERS", "Vascular disorder", None],
              "ae.AETERM_SOC")
    # specs/dictionaries/meddra-soc.csv: Vascular disorders = 10047065; a near miss is not a
    # match (error, left empty), a blank stays blank without a finding
    out = run("dictionary", ctx, [soc], dictionary="meddra-soc", key="SOC_NAME", value="SOC_CODE")
    assert values(out) == [10047065.0, 10047065.0, None, None] and out.dtype == "float64"
    (f,) = list(ctx.state.findings)
    assert (f.rule_id, f.severity.value, f.row) == ("SB-MAP-DICT", "error", 3)
    assert "'Vascular disorder' is not a SOC_NAME of dictionary meddra-soc" in f.message
    ctx = make_ctx(4, domain="AE", variable="AEBODSYS")
    name = run("dictionary", ctx, [soc], dictionary="meddra-soc", key="SOC_NAME",
               value="SOC_NAME")
    assert values(name) == ["Vascular disorders", "Vascular disorders", None, None]
    # the loader refuses an unknown dictionary or column, naming what there is
    with pytest.raises(ValueError,
                       match=r"unknown dictionary 'meddra' \(known: ctcae-5.0, meddra-soc"):
        ALG["dictionary"].params.model_validate(
            {"dictionary": "meddra", "key": "SOC_NAME", "value": "SOC_CODE"})
    with pytest.raises(ValueError, match="has no column 'CODE'"):
        ALG["dictionary"].params.model_validate(
            {"dictionary": "meddra-soc", "key": "SOC_NAME", "value": "CODE"})
    with pytest.raises(ValueError, match="unknown dictionary"):
        ALG["dictionary"].params.model_validate(
            {"dictionary": "../standards/ct", "key": "a", "value": "b"})


def test_meddra_soc_dictionary_has_the_27_socs():
    from sdtm.dictionaries import load_dictionary, lookup_table

    d = load_dictionary("meddra-soc")
    assert d.columns == ("SOC_CODE", "SOC_NAME") and len(d.rows) == 27
    codes = [r[0] for r in d.rows]
    assert len(set(codes)) == 27 and all(c.isdigit() and len(c) == 8 for c in codes)
    table = lookup_table("meddra-soc", "SOC_NAME", "SOC_CODE")
    # the codes quoted in the issue notes
    assert {k: table[k] for k in ("CARDIAC DISORDERS", "INVESTIGATIONS",
                                  "NERVOUS SYSTEM DISORDERS")} == {
        "CARDIAC DISORDERS": "10007541", "INVESTIGATIONS": "10022891",
        "NERVOUS SYSTEM DISORDERS": "10029205"}
    # every SOC the simulator's CTCAE vocabulary uses is in the dictionary
    from pathlib import Path

    import studybuild.simulate as sim
    from studybuild.yamlspec import load_yaml

    vocab = load_yaml(Path(sim.__file__).parent / "vocabulary.yaml")[0]["ae_terms"]
    assert {v["soc"].upper() for v in vocab.values()} <= set(table)


# --- iso8601, condition, combine ---------------------------------------------------------------

def test_iso8601_partial_allowed_or_not():
    ctx = make_ctx(3, variable="AESTDTC")
    out = run("iso8601", ctx, [arg(["UN-MAY-2021", "31-JUN-2021", "12-may-2021"], "ae.AESTDAT")])
    assert values(out) == ["2021-05", None, "2021-05-12"]
    (f,) = list(ctx.state.findings)
    assert f.rule_id == "SB-MAP-DATE" and f.row == 2 and "'31-JUN-2021'" in f.message
    ctx = make_ctx(1, variable="EXSTDTC")
    out = run("iso8601", ctx, [arg(["UN-MAY-2021"], "ex.EXSTDAT")], partial=False)
    assert values(out) == [None]
    assert [f.rule_id for f in ctx.state.findings] == ["SB-MAP-DATE-PARTIAL"]


def test_condition_value_or_other_source():
    ctx = make_ctx(3, variable="AEENRTPT")
    out = run("condition", ctx, [arg(["Yes", "no", "Y"])], test="equals", values=["Yes", "Y"],
              then="ONGOING")
    assert values(out) == ["ONGOING", None, "ONGOING"]
    out = run("condition", make_ctx(3), [arg(["x", None, "y"]), arg(["A", "B", "C"]),
                                         arg(["a", "b", "c"])],
              test="present", then_source=1, **{"else_source": 2})
    assert values(out) == ["A", "b", "C"]


def test_combine_template_zero_pad_and_separator():
    out = run("combine", make_ctx(3), [arg(["3", "12", None])], template="T{0:02}")
    assert values(out) == ["T03", "T12", None]
    out = run("combine", make_ctx(2), [arg(["201", "104.01"])], template="A{0}")
    assert values(out) == ["A201", "A104.01"]
    out = run("combine", make_ctx(2), [arg(["a", None]), arg(["b", "c"])], separator="; ")
    assert values(out) == ["a; b", "c"]
    with pytest.raises(Exception):
        ALG["combine"].params.model_validate({"template": "{0.__class__}"})


# --- units ------------------------------------------------------------------------------------

def test_unit_cm_to_mm_declared_units_only():
    ctx = make_ctx(5, domain="TR", variable="TRSTRESN", var_type="Num")
    out = run("unit", ctx, [arg(["2.3", "34", "1.5", "n/a", "12"], "tu.TRLDIAM"),
                            arg(["cm", "mm", "inch", "mm", None], "tu.TRORRESU")], to="mm")
    # 2.3 cm = 23 mm; 34 mm stays; 1.5 inch = 38.1 mm (built-in length table)
    assert values(out)[:3] == [pytest.approx(23.0), 34.0, pytest.approx(38.1)]
    assert values(out)[3:] == [None, None]          # not a number; no unit: findings
    assert sorted(f.rule_id for f in ctx.state.findings) == ["SB-MAP-NUM", "SB-MAP-UNIT"]
    ctx = make_ctx(1, domain="TR", variable="TRSTRESN", var_type="Num")
    out = run("unit", ctx, [arg(["3"]), arg(["furlong"], "tu.U")], to="mm")
    (f,) = list(ctx.state.findings)
    assert values(out) == [None] and "unit 'furlong' cannot be converted to mm" in f.message


# --- subject-level derivations -----------------------------------------------------------------

def test_age_with_partial_birth_dates():
    ctx = make_ctx(5, variable="AGE", var_type="Num")
    out = run("age", ctx, [arg(["1960-07-20", "1960-07-20", "1962-06", "1955", "1960"], "BRTHDTC"),
                           arg(["2021-07-19", "2021-07-20", "2021-03-01", "2021-03-03", "2021"],
                               "RFICDTC")])
    # 20 Jul 1960 -> 19 Jul 2021: 60 (birthday not reached); on the birthday: 61.
    # June 1962 -> 1 Mar 2021: 58 whatever the day (exact). 1955 -> 3 Mar 2021 is 65 or 66
    # depending on the birthday: imputed 1 July 1955 -> 65. A partial reference gives no AGE.
    assert values(out) == [60.0, 61.0, 58.0, 65.0, None]
    rules = sorted(f.rule_id for f in ctx.state.findings)
    assert rules == ["SB-MAP-AGE", "SB-MAP-AGE-IMPUTED"]
    ctx = make_ctx(1, variable="AGE", var_type="Num")
    out = run("age", ctx, [arg(["1955"], "BRTHDTC"), arg(["2021-03-03"], "RFICDTC")],
              partial="missing")
    assert values(out) == [None]


def test_subject_date_first_last_and_ongoing():
    state = BuildState(spec=SPEC, study=SPEC.study, findings=Findings(),
                       subjects=pd.DataFrame({"USUBJID": ["A", "B"], "SUBJID": ["A", "B"],
                                              "SITEID": ["101", "101"]}))
    state.domains["EX"] = pd.DataFrame({
        "USUBJID": ["A", "A", "A", "B"], "_REC": [0, 1, 2, 3],
        "EXSTDTC": ["2021-03-15", "2021-05-01", "2021-02-01", "2021-03-16"],
        "EXENDTC": ["2021-04-25", "2021-06-06", "2021-02-01", None],
        "EXDOSE": [300.0, 250.0, 0.0, 300.0]})
    state.lineage["EX"] = pd.DataFrame({"_REC": [0, 1, 2, 3], "FORM": ["ex"] * 4,
                                        "RAW_ROW": [1.0, 3.0, 5.0, 6.0]})
    ctx = make_ctx(2, subjects=["A", "B"], state=state, variable="RFXSTDTC")
    first = run("subject_date", ctx, [], pick="first", **{"from": ["EX.EXSTDTC"]},
                where=[{"variable": "EX.EXDOSE", "gt": 0}])
    # the dose-0 record of 1 Feb does not count
    assert values(first) == ["2021-03-15", "2021-03-16"]
    last = run("subject_date", ctx, [], pick="last", **{"from": ["EX.EXENDTC"]},
               empty_if_missing=True)
    assert values(last) == ["2021-06-06", None]          # B is still on treatment
    # RFENDTC of the seed specs: B still on treatment -> the data cut-off of study.yaml
    ref_end = run("subject_date", ctx, [], pick="last", **{"from": ["EX.EXENDTC"]},
                  where=[{"variable": "EX.EXDOSE", "gt": 0}], cutoff_if_missing=True)
    assert values(ref_end) == ["2021-06-06", SPEC.study.dates.data_cutoff.isoformat()]
    assert SPEC.study.dates.data_cutoff.isoformat() == "2025-11-27"
    # RFXENDTC of the seed specs (CG0147): latest EXSTDTC or EXENDTC -> B: its start, 16 Mar
    last_ex = run("subject_date", ctx, [], pick="last", **{"from": ["EX.EXSTDTC", "EX.EXENDTC"]},
                  where=[{"variable": "EX.EXDOSE", "gt": 0}])
    assert values(last_ex) == ["2021-06-06", "2021-03-16"]
    with pytest.raises(ValueError, match="not both"):
        ALG["subject_date"].params.model_validate(
            {"pick": "last", "empty_if_missing": True, "cutoff_if_missing": True})
    lin = pd.concat(ctx.extra_lineage)
    assert set(map(tuple, lin[["_REC", "RAW_ROW"]].to_numpy().tolist())) >= {(0, 1.0), (1, 6.0)}


def test_arm_actual_arm_and_null_reason():
    ctx = make_ctx(3)
    armcd = run("arm", ctx, [arg(["2021-03-10", "2021-03-12", None], "enrol.ENRLDAT")],
                arm="SURU300")
    assert values(armcd) == ["SURU300", "SURU300", None]
    assert values(run("arm", ctx, [Arg(armcd, "ARMCD")], output="name")) == \
        ["Surufatinib 300 mg QD", "Surufatinib 300 mg QD", None]
    first_dose = Arg(pd.Series(["2021-03-15", None, None], dtype="str"), "RFXSTDTC")
    assert values(run("actual_arm", ctx, [Arg(armcd, "ARMCD"), first_dose])) == \
        ["SURU300", None, None]
    assert values(run("arm_null_reason", ctx, [Arg(armcd, "ARMCD"), first_dose])) == \
        [None, "ASSIGNED, NOT TREATED", "SCREEN FAILURE"]


def test_country_from_names_codes_and_site():
    ctx = make_ctx(4, variable="COUNTRY")
    out = run("country", ctx, [arg(["China", "chn", "FR", "PRC"], "dm.COUNTRY")],
              map={"PRC": "CHN"})
    assert values(out) == ["CHN", "CHN", "FRA", "CHN"]
    assert values(run("country", make_ctx(1), [])) == ["CHN"]     # site 101's country


def test_treatment_facts_and_max_ordered():
    ctx = make_ctx(2)
    out = run("treatment", ctx, [arg(["SURUFATINIB", "Surufatinib"], "EXTRT")],
              attribute="route")
    assert values(out) == ["ORAL", "ORAL"]
    out = run("max_ordered", make_ctx(3), [arg(["Not related", "Related", None]),
                                           arg(["Possibly related", "unrelated", None])],
              order=["NOT RELATED", "POSSIBLY RELATED", "RELATED"],
              map={"Unrelated": "NOT RELATED"})
    assert values(out) == ["POSSIBLY RELATED", "RELATED", None]


# --- visits -----------------------------------------------------------------------------------

def test_visit_planned_repeated_unscheduled_and_unknown():
    ctx = make_ctx(6, domain="TR", variable="VISITNUM", var_type="Num",
                   subjects=["A"] * 5 + ["B"])
    names = arg(["Screening", "Cycle 2 Day 1", "Unscheduled (1)", "Unscheduled (2)",
                 "Survival Follow-up (3)", "Week 99"], "tu.InstanceName")
    when = arg(["01-MAR-2021", "05-APR-2021", "20-APR-2021", "22-APR-2021", "01-SEP-2021",
                "01-MAY-2021"], "tu.TRDAT")
    num = run("visit", ctx, [names, when])
    # planned by name (CYCLE 2 DAY 1 = 102); two unscheduled visits after 102 by date ->
    # 102.01, 102.02; third survival follow-up = 901 + 2 x 0.01; 'WEEK 99' is not planned
    assert values(num) == [1.0, 102.0, 102.01, 102.02, 901.02, None]
    ctx.variable = "VISIT"
    assert values(run("visit", ctx, [names, when])) == [
        "SCREENING", "CYCLE 2 DAY 1", "UNSCHEDULED 102.01", "UNSCHEDULED 102.02",
        "SURVIVAL FOLLOW-UP (3)", None]
    assert any(f.rule_id == "SB-MAP-VISIT" and "visit 'Week 99' is not in the visit schedule" in f.message
               for f in ctx.state.findings)


def test_visit_window_places_unknown_names_by_study_day():
    state = BuildState(spec=SPEC, study=SPEC.study, findings=Findings(),
                       subjects=pd.DataFrame({"USUBJID": ["A"], "SUBJID": ["A"],
                                              "SITEID": ["101"]}))
    state.domains["DM"] = pd.DataFrame({"USUBJID": ["A"], "RFSTDTC": ["2021-03-01"]})
    ctx = make_ctx(2, domain="RS", variable="VISITNUM", var_type="Num", subjects=["A", "A"],
                   state=state)
    # 2021-04-17 is day 48: inside WEEK 6 TUMOR ASSESSMENT (day 43 +/- 7) only (CYCLE 3 DAY 1
    # is day 43 +/- 3) -> 201; day 75 is in no window -> an unscheduled visit after 201
    out = run("visit", ctx, [arg(["Scan A", "Scan B"]),
                             arg(["17-APR-2021", "14-MAY-2021"], "rs.RSDAT")],
              window=True)
    assert values(out) == [201.0, 201.01]


# --- domain algorithms --------------------------------------------------------------------------

def _dctx(domain: str, frame: pd.DataFrame, lineage: pd.DataFrame) -> DomainContext:
    state = BuildState(spec=SPEC, study=SPEC.study, findings=Findings())
    state.domains[domain] = frame
    state.lineage[domain] = lineage
    return DomainContext(state=state, domain=domain)


def test_exposure_intervals_merge_split_and_lineage():
    ex = pd.DataFrame({
        "USUBJID": ["A"] * 5, "_REC": [0, 1, 2, 3, 4], "EXTRT": ["SURUFATINIB"] * 5,
        "EXDOSE": [300.0, 300.0, 0.0, 250.0, 250.0], "EXDOSU": ["mg"] * 5,
        "EXADJ": [None, None, "ADVERSE EVENT", "ADVERSE EVENT", None],
        "EXSTDTC": ["2021-03-15", "2021-04-05", "2021-04-26", "2021-05-01", "2021-05-17"],
        "EXENDTC": ["2021-04-04", "2021-04-25", "2021-04-30", "2021-05-16", None]})
    lin = pd.DataFrame({"_REC": [0, 1, 2, 3, 4], "FORM": ["ex"] * 5,
                        "RAW_ROW": [1.0, 2.0, 3.0, 4.0, 5.0]})
    ctx = _dctx("EX", ex, lin)
    p = ALG["exposure_intervals"].params.model_validate({})
    out = ALG["exposure_intervals"].fn(ctx, ex, p)
    # 15 Mar-4 Apr and 5 Apr-25 Apr are contiguous at 300 mg: one record. The dose-0 line is
    # an interruption (no record). 250 mg restarts with a reason (a new record), and the next
    # 250 mg line continues it; it is ongoing, so the interval has no end.
    assert out[["EXDOSE", "EXSTDTC", "EXENDTC", "EXADJ"]].astype(object).where(
        out[["EXDOSE", "EXSTDTC", "EXENDTC", "EXADJ"]].notna(), None).values.tolist() == [
        [300.0, "2021-03-15", "2021-04-25", None],
        [250.0, "2021-05-01", None, "ADVERSE EVENT"]]
    lin_out = ctx.lineage()
    assert sorted(lin_out.loc[lin_out["_REC"] == 0, "RAW_ROW"].tolist()) == [1.0, 2.0]
    assert sorted(lin_out.loc[lin_out["_REC"] == 3, "RAW_ROW"].tolist()) == [4.0, 5.0]
    soft = pd.concat(ctx.state.soft_exclusions)
    assert soft["RAW_ROW"].tolist() == [3.0] and "interruption" in soft["REASON"].iloc[0]


def test_sum_of_diameters_only_when_every_target_is_measured():
    tr = pd.DataFrame({
        "USUBJID": ["A"] * 5 + ["B"] * 2, "_REC": range(7),
        "TRGRPID": ["TARGET"] * 4 + ["NON-TARGET", "TARGET", "TARGET"],
        "TRLNKID": ["T01", "T02", "T01", "T02", "NT01", "T01", "T02"],
        "TRLNKGRP": ["A1", "A1", "A201", "A201", "A201", "A1", "A1"],
        "TRTESTCD": ["LDIAM", "LPERP", "LDIAM", "LPERP", "TUMSTATE", "LDIAM", "LDIAM"],
        "TRSTRESN": [34.0, 17.0, 30.0, 16.0, np.nan, 50.0, np.nan],
        "TRDTC": ["2021-03-05", "2021-03-05", "2021-04-26", "2021-04-26", "2021-04-26",
                  "2021-03-06", "2021-03-06"], "VISITNUM": [1.0, 1, 201, 201, 201, 1, 1]})
    lin = pd.DataFrame({"_REC": range(7), "FORM": ["tu"] * 7, "RAW_ROW": np.arange(1.0, 8.0)})
    ctx = _dctx("TR", tr, lin)
    out = ALG["sum_of_diameters"].fn(ctx, tr, ALG["sum_of_diameters"].params.model_validate({}))
    sums = out[out["TRTESTCD"] == "SUMDIAM"]
    # A: 34 + 17 = 51 mm at A1, 30 + 16 = 46 mm at A201 (the non-target is not summed);
    # B: T02 not measured at A1 -> no sum (a notice)
    assert sums[["USUBJID", "TRLNKGRP", "TRSTRESN", "TRORRES", "TRSTRESU"]].values.tolist() == [
        ["A", "A1", 51.0, "51", "mm"], ["A", "A201", 46.0, "46", "mm"]]
    assert [f.rule_id for f in ctx.state.findings] == ["SB-TR-SUMDIAM"]
    rec = sums["_REC"].iloc[1]
    assert sorted(ctx.lineage().loc[lambda d: d["_REC"] == rec, "RAW_ROW"]) == [3.0, 4.0]


def test_first_record_keeps_the_earliest():
    tu = pd.DataFrame({"USUBJID": ["A", "A", "A"], "_REC": [0, 1, 2],
                       "TULNKID": ["T01", "T01", "T02"],
                       "TUDTC": ["2021-04-26", "2021-03-05", "2021-04-26"]})
    lin = pd.DataFrame({"_REC": [0, 1, 2], "FORM": ["tu"] * 3, "RAW_ROW": [2.0, 1.0, 3.0]})
    ctx = _dctx("TU", tu, lin)
    out = ALG["first_record"].fn(ctx, tu, ALG["first_record"].params.model_validate(
        {"by": ["TULNKID"], "order": ["TUDTC"]}))
    assert out[["TULNKID", "TUDTC"]].values.tolist() == [["T01", "2021-03-05"],
                                                         ["T02", "2021-04-26"]]
    assert sorted(ctx.lineage()["RAW_ROW"]) == [1.0, 3.0]
