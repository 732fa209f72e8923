"""False positives found by running ``studybuild validate`` on real folders (issue 16): each
test builds the smallest frame that showed the finding, checks it is gone, and (where the rule
should still fire) that a real problem next to it is still found."""

from __future__ import annotations

import numpy as np
import pandas as pd

from validation.run import validate


def _found(rep, rule):
    return [(f.dataset, f.row, f.variable) for f in rep.findings if f.rule_id == rule]


def _lb(stresc, stresn, visitnum=None):
    n = len(stresc)
    lb = pd.DataFrame({
        "STUDYID": ["S1"] * n, "DOMAIN": ["LB"] * n, "USUBJID": ["S1-01"] * n,
        "LBSEQ": np.arange(1.0, n + 1), "LBTESTCD": ["GLUC"] * n, "LBTEST": ["Glucose"] * n,
        "LBORRES": pd.Series(stresc, dtype="str"), "LBSTRESC": pd.Series(stresc, dtype="str"),
        "LBSTRESN": np.array(stresn, dtype="float64")})
    if visitnum is not None:
        lb["VISITNUM"] = np.array(visitnum, dtype="float64")
    return lb


# -- 1. float noise from SAS transport -------------------------------------------------------

def test_stresn_with_transport_noise_equals_its_character_result():
    # 185.9256 comes back from an IBM-float XPT as 185.92559999999997 (it agrees to 16
    # significant digits); 185.9257 is a different number and is still flagged.
    lb = _lb(["185.9256", "185.9256", "1.2"], [185.92559999999997, 185.9257, 1.2000000000000002])
    rep = validate({"LB": lb}, rules=["SB-CORE-000542"], run_suites=False)
    assert [row for _, row, _ in _found(rep, "SB-CORE-000542")] == [2]


def test_visitnum_with_transport_noise_is_among_sv_visitnum():
    # SV holds VISITNUM 1.2; LB's 1.2000000000000002 is the same visit; 1.3 is not in SV.
    sv = pd.DataFrame({"STUDYID": ["S1"] * 2, "DOMAIN": ["SV"] * 2, "USUBJID": ["S1-01"] * 2,
                       "VISITNUM": [1.0, 1.2], "VISIT": ["SCREENING", "DAY 1.2"],
                       "SVSTDTC": ["2020-01-01", "2020-01-02"]})
    lb = _lb(["1", "2", "3"], [1.0, 2.0, 3.0], visitnum=[1.2000000000000002, 1.2, 1.3])
    rep = validate({"LB": lb, "SV": sv}, rules=["SB-CORE-000168"], run_suites=False)
    assert _found(rep, "SB-CORE-000168") == [("LB", 3, "VISITNUM")]


# -- 2. SB0009 on numeric ADaM durations -----------------------------------------------------

def test_numeric_adam_duration_is_not_an_iso8601_value():
    # TRTDUR (days, numeric) is not an ADaMIG ADSL variable and no define is given: it is
    # numeric, so not an ISO 8601 duration; a character duration (EXDUR-like) still is.
    adsl = pd.DataFrame({"STUDYID": ["S1"] * 2, "USUBJID": ["S1-01", "S1-02"],
                         "TRTDUR": [43.0, 120.0],
                         "WASHDUR": pd.Series(["P2W", "2 weeks"], dtype="str")})
    rep = validate({"ADSL": adsl}, rules=["SB0009"])
    assert _found(rep, "SB0009") == [("ADSL", 2, "WASHDUR")]


# -- 3. SB0002 on TSVAL null with a null flavor -----------------------------------------------

def test_tsval_null_with_a_null_flavor_is_not_missing():
    # SDTMIG 3.4 TS: "TSVAL can only be null when TSVALNF is populated". AGEMAX with no upper
    # limit is TSVAL null, TSVALNF = PINF; a null TSVAL with no null flavor is still missing.
    import dataclasses

    from studybuild.metadata import StudyMetadata, from_standard

    ts = pd.DataFrame({"STUDYID": ["S1"] * 3, "DOMAIN": ["TS"] * 3, "TSSEQ": [1.0, 1.0, 1.0],
                       "TSPARMCD": ["AGEMIN", "AGEMAX", "SPONSOR"],
                       "TSPARM": ["Planned Minimum Age of Subjects",
                                  "Planned Maximum Age of Subjects", "Clinical Study Sponsor"],
                       "TSVAL": pd.Series(["P18Y", None, None], dtype="str"),
                       "TSVALNF": pd.Series([None, "PINF", None], dtype="str")})
    dm = from_standard("TS", ts.columns)
    # a define that makes TSVAL mandatory, as sponsors' defines often do
    req = tuple(dataclasses.replace(v, core="Req") if v.name == "TSVAL" else v
                for v in dm.variables)
    meta = StudyMetadata(study_id="s1", studyid="S1", kind="SDTM",
                         datasets={"TS": dataclasses.replace(dm, variables=req)})
    rep = validate({"TS": ts}, metadata=meta, rules=["SB0002"])
    assert _found(rep, "SB0002") == [("TS", 3, "TSVAL")]


# -- 6. findings name the variable the rule is about -----------------------------------------

def test_core_findings_name_the_rules_subject_variable():
    # CORE-000294 is about TSVAL (its first condition is on TSPARMCD); CORE-000022 is about
    # AESER (its first output variable is AETERM): "# Variable:" in the published rules.
    ts = pd.DataFrame({"STUDYID": ["S1"] * 2, "DOMAIN": ["TS"] * 2, "TSSEQ": [1.0, 1.0],
                       "TSPARMCD": ["AGEMIN", "AGEMAX"],
                       "TSPARM": ["Planned Minimum Age of Subjects",
                                  "Planned Maximum Age of Subjects"],
                       "TSVAL": pd.Series(["P18Y", "65 years"], dtype="str")})
    ae = pd.DataFrame({"STUDYID": ["S1"] * 2, "DOMAIN": ["AE"] * 2, "USUBJID": ["S1-01"] * 2,
                       "AESEQ": [1.0, 2.0], "AETERM": ["HEADACHE", "SEPSIS"],
                       "AESTDTC": ["2020-01-02", "2020-01-05"],
                       "AESER": pd.Series(["N", "N"], dtype="str"),
                       "AESHOSP": pd.Series(["N", "Y"], dtype="str")})
    rep = validate({"TS": ts, "AE": ae}, rules=["SB-CORE-000294", "SB-CORE-000022"],
                   run_suites=False)
    assert _found(rep, "SB-CORE-000294") == [("TS", 2, "TSVAL")]
    assert _found(rep, "SB-CORE-000022") == [("AE", 2, "AESER")]


# -- 5. numeric text with a leading zero ------------------------------------------------------

def test_leading_zero_numeric_result_is_numeric():
    # "09" is the number 9: CORE-000732 (--STRESC not numeric but --STRESN given) must not
    # fire; "+8" stays not numeric, as in CORE's own test case for CORE-000732 (EG record 3).
    # And CORE-000542 now compares "09" with its --STRESN: 9 agrees, 8 does not.
    lb = _lb(["09", "+8", "09"], [9.0, 8.0, 8.0])
    rep = validate({"LB": lb}, rules=["SB-CORE-000732", "SB-CORE-000542"], run_suites=False)
    assert _found(rep, "SB-CORE-000732") == [("LB", 2, "LBSTRESN")]
    assert _found(rep, "SB-CORE-000542") == [("LB", 3, "LBSTRESC")]


# -- 4. CORE-000097 on the day one element ends and the next starts --------------------------

def test_visit_on_an_element_boundary_may_carry_either_epoch():
    # Modelled on CORE's own CORE-000097 case: screening ends and treatment starts on
    # 2018-08-13, so a visit that day is in either epoch; a SCREENING visit on 2018-08-20
    # (treatment only) and a FOLLOW-UP visit on the boundary day are still flagged.
    se = pd.DataFrame({"STUDYID": ["S1"] * 3, "DOMAIN": ["SE"] * 3, "USUBJID": ["S1-01"] * 3,
                       "SESEQ": [1.0, 2.0, 3.0], "ETCD": ["SCRN", "TRT", "FU"],
                       "ELEMENT": ["Screen", "Treatment", "Follow-up"],
                       "TAETORD": [1.0, 2.0, 3.0],
                       "EPOCH": ["SCREENING", "TREATMENT", "FOLLOW-UP"],
                       "SESTDTC": ["2018-06-29", "2018-08-13", "2019-05-13"],
                       "SEENDTC": ["2018-08-13", "2019-05-13", "2020-03-22"]})
    sv = pd.DataFrame({"STUDYID": ["S1"] * 4, "DOMAIN": ["SV"] * 4, "USUBJID": ["S1-01"] * 4,
                       "VISITNUM": [1.0, 2.0, 3.0, 4.0],
                       "VISIT": ["C1D1", "C1D1 REPEAT", "C1D8", "EXTRA"],
                       "EPOCH": ["SCREENING", "TREATMENT", "SCREENING", "FOLLOW-UP"],
                       "SVSTDTC": ["2018-08-13", "2018-08-13", "2018-08-20", "2018-08-13"]})
    rep = validate({"SE": se, "SV": sv}, rules=["SB-CORE-000097"], run_suites=False)
    assert _found(rep, "SB-CORE-000097") == [("SV", 3, "EPOCH"), ("SV", 4, "EPOCH")]
