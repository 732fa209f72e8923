"""Dates from ISO 8601 text with admiral's imputation rules, worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from adam.dates import (DateImputation, convert_dtc_to_dt, convert_dtc_to_dtm, derive_vars_dt,
                        derive_vars_dtm, derive_vars_dtm_to_dt, dtc_is_invalid)
from studybuild.errors import SpecError


def ymd(s: pd.Series) -> list:
    return [None if pd.isna(v) else v.strftime("%Y-%m-%d") for v in s]


def vals(s: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in s]


def hms(s: pd.Series) -> list:
    return [None if pd.isna(v) else v.strftime("%Y-%m-%dT%H:%M:%S") for v in s]


DTC = pd.Series(["2021-03-14T10:30", "2021-03", "2021", "2020-02", None, "2021-02-30", "bad"],
                dtype="str")


def test_no_imputation_keeps_complete_dates_only():
    # highest "n": only complete dates; 2021-02-30 and "bad" are not dates
    assert ymd(convert_dtc_to_dt(DTC)) == ["2021-03-14", None, None, None, None, None, None]


@pytest.mark.parametrize("how, expected", [
    # day missing -> 1st / last day of the month / 15th; month and day missing -> 1 Jan /
    # 31 Dec / 30 Jun; February 2020 has 29 days (leap year)
    ("first", ["2021-03-14", "2021-03-01", "2021-01-01", "2020-02-01"]),
    ("last", ["2021-03-14", "2021-03-31", "2021-12-31", "2020-02-29"]),
    ("mid", ["2021-03-14", "2021-03-15", "2021-06-30", "2020-02-15"]),
])
def test_first_last_mid_at_month_level(how, expected):
    out = ymd(convert_dtc_to_dt(DTC, DateImputation(highest="M", date=how)))
    assert out[:4] == expected and out[4:] == [None, None, None]


def test_highest_day_does_not_impute_a_missing_month():
    # "2021" lacks the month: with highest = D it stays missing
    out = ymd(convert_dtc_to_dt(DTC, DateImputation(highest="D", date="last")))
    assert out[:4] == ["2021-03-14", "2021-03-31", None, "2020-02-29"]


def test_flags_name_the_highest_part_imputed():
    d = derive_vars_dt(pd.DataFrame({"X": DTC}), dtc="X", new_vars_prefix="A",
                       imputation=DateImputation(highest="M"))
    assert vals(d["ADTF"]) == [None, "D", "M", "D", None, None,
                                                              None]


def test_min_dates_never_before_first_dose():
    # AE starts "2021-03" (March), first dose 2021-03-10 -> imputed to the 10th, not the 1st.
    # "2021-02": first dose is outside February, so the 1st stays. "2021-03-05" is complete.
    ae = pd.DataFrame({"AESTDTC": ["2021-03", "2021-02", "2021-03-05"],
                       "TRTSDT": pd.to_datetime(["2021-03-10"] * 3).astype("datetime64[s]")})
    out = derive_vars_dt(ae, dtc="AESTDTC", new_vars_prefix="AST",
                         imputation=DateImputation(highest="M", min_dates=("TRTSDT",)))
    assert ymd(out["ASTDT"]) == ["2021-03-10", "2021-02-01", "2021-03-05"]
    assert vals(out["ASTDTF"]) == ["D", "D", None]


def test_max_dates_never_after_death_or_cut_off():
    # AE ends "2021-06" (last -> 30 June) but the subject died 2021-06-12: 12 June.
    # "2021" (last -> 31 Dec) with a cut-off of 2021-09-30: 30 September.
    ae = pd.DataFrame({"AEENDTC": ["2021-06", "2021"],
                       "DTHDT": pd.to_datetime(["2021-06-12", None]).astype("datetime64[s]"),
                       "CUT": pd.to_datetime(["2021-09-30"] * 2).astype("datetime64[s]")})
    out = derive_vars_dt(ae, dtc="AEENDTC", new_vars_prefix="AEN",
                         imputation=DateImputation(highest="M", date="last",
                                                   max_dates=("DTHDT", "CUT")))
    assert ymd(out["AENDT"]) == ["2021-06-12", "2021-09-30"]


def test_year_level_needs_a_bound():
    # a completely missing date is imputed only at level Y, from min_dates (first)
    d = pd.DataFrame({"X": pd.Series([None, "2021-04"], dtype="str"),
                      "LO": pd.to_datetime(["2021-01-05", "2021-04-20"]).astype("datetime64[s]")})
    out = derive_vars_dt(d, dtc="X", new_vars_prefix="A",
                         imputation=DateImputation(highest="Y", min_dates=("LO",)))
    assert ymd(out["ADT"]) == ["2021-01-05", "2021-04-20"]
    assert list(out["ADTF"]) == ["Y", "D"]


def test_datetimes_impute_time_and_flag_it():
    # 10:30 -> seconds imputed (S); date only -> hours (H); partial date: date and time
    out = derive_vars_dtm(pd.DataFrame({"X": ["2021-03-14T10:30", "2021-03-14", "2021-03"]}),
                          dtc="X", new_vars_prefix="A",
                          imputation=DateImputation(highest="M", time="last"))
    assert hms(out["ADTM"]) == ["2021-03-14T10:30:59", "2021-03-14T23:59:59",
                                "2021-03-01T23:59:59"]
    assert list(out["ATMF"]) == ["S", "H", "H"]
    assert vals(out["ADTF"]) == [None, None, "D"]
    assert ymd(derive_vars_dtm_to_dt(out, source_vars=["ADTM"])["ADT"]) == [
        "2021-03-14", "2021-03-14", "2021-03-01"]


def test_dtm_without_date_imputation_leaves_partial_dates_missing():
    out = convert_dtc_to_dtm(pd.Series(["2021-03", "2021-03-14T08"]), DateImputation(highest="h"))
    assert hms(out) == [None, "2021-03-14T08:00:00"]


def test_invalid_text_is_reported():
    assert list(dtc_is_invalid(DTC)) == [False, False, False, False, False, True, True]


def test_input_frame_is_not_changed():
    d = pd.DataFrame({"X": ["2021-03"]})
    before = d.copy()
    derive_vars_dt(d, dtc="X", new_vars_prefix="A", imputation=DateImputation(highest="M"))
    pd.testing.assert_frame_equal(d, before)


def test_imputation_rule_is_validated():
    with pytest.raises(Exception):
        DateImputation(date="middle")
    from adam.options import AdamOptions
    from studybuild.yamlspec import validate

    with pytest.raises(SpecError) as e:
        validate(AdamOptions, {"adae": {"end_imputation": {"date": "lastt"}}}, "x.yaml",
                 {(): 1, ("adae",): 2, ("adae", "end_imputation"): 3,
                  ("adae", "end_imputation", "date"): 4})
    assert "x.yaml:4" in str(e.value)
