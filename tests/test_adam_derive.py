"""Each derivation of the library on a small hand-built frame, expected values worked out by
hand in the comments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adam.derive import (DateSource, Event, Group, Grouping, aval_resp, compute_duration,
                         derive_extreme_event, derive_extreme_records, derive_param_exist_flag,
                         derive_var_base, derive_var_chg, derive_var_extreme_dt,
                         derive_var_extreme_flag, derive_var_merged_exist_flag, derive_var_nadir,
                         derive_var_obs_number, derive_var_pchg, derive_var_relative_flag,
                         derive_var_trtemfl, derive_vars_cat, derive_vars_duration,
                         derive_vars_dy, derive_vars_merged, yn_to_numeric)
from studybuild.errors import InputError


def D(*s):
    return pd.to_datetime(list(s)).astype("datetime64[s]")


def vals(s):
    return [None if pd.isna(v) else v for v in s]


def test_merged_first_and_last_with_descending_order_and_missing_values():
    dm = pd.DataFrame({"USUBJID": ["1", "2", "3"]})
    ex = pd.DataFrame({"USUBJID": ["1", "1", "2"], "EXSEQ": [1.0, 2.0, 1.0],
                       "EXDOSE": [300.0, 250.0, 300.0]})
    # subject 1: EXSEQ 2 is last; "-EXSEQ" first is the same record; subject 3 has none
    out = derive_vars_merged(dm, dataset_add=ex, by_vars=["USUBJID"],
                             new_vars={"LASTDOSE": "EXDOSE"}, order=["-EXSEQ"], mode="first",
                             missing_values={"LASTDOSE": 0.0}, exist_flag="EXFL")
    assert list(out.LASTDOSE) == [250.0, 300.0, 0.0]
    assert vals(out.EXFL) == ["Y", "Y", None]
    with pytest.raises(InputError, match="more than one record"):
        derive_vars_merged(dm, dataset_add=ex, by_vars=["USUBJID"], new_vars=["EXDOSE"])


def test_merged_renamed_by_variable():
    tr = pd.DataFrame({"USUBJID": ["1", "1"], "TRLNKID": ["T01", "T02"]})
    tu = pd.DataFrame({"USUBJID": ["1", "1"], "TULNKID": ["T02", "T01"],
                       "TULOC": ["LIVER", "LUNG"]})
    out = derive_vars_merged(tr, dataset_add=tu, by_vars=["USUBJID", ("TRLNKID", "TULNKID")],
                             new_vars=["TULOC"])
    assert list(out.TULOC) == ["LUNG", "LIVER"]


def test_merged_exist_flag_three_states():
    adsl = pd.DataFrame({"USUBJID": ["1", "2", "3"]})
    ex = pd.DataFrame({"USUBJID": ["1", "2"], "EXDOSE": [300.0, 0.0]})
    out = derive_var_merged_exist_flag(adsl, dataset_add=ex, by_vars=["USUBJID"],
                                       new_var="F", condition=lambda d: d.EXDOSE > 0,
                                       false_value="N", missing_value="M")
    assert list(out.F) == ["Y", "N", "M"]


def test_extreme_flag_with_filter_and_ties():
    d = pd.DataFrame({"USUBJID": ["1", "1", "1", "2"], "ASEVN": [2.0, 3.0, 3.0, 1.0],
                      "TRTEMFL": ["Y", "Y", "Y", None]})
    # subject 1: the worst (3) first in input order is row 1; subject 2 not a TEAE -> NA
    out = derive_var_extreme_flag(d, by_vars=["USUBJID"], order=["-ASEVN"], new_var="W",
                                  mode="first", filter=lambda x: x.TRTEMFL == "Y")
    assert vals(out.W) == [None, "Y", None, None]
    out = derive_var_extreme_flag(d, by_vars=["USUBJID"], order=["-ASEVN"], new_var="W",
                                  mode="first", filter=lambda x: x.TRTEMFL == "Y",
                                  flag_all=True)
    assert vals(out.W) == [None, "Y", "Y", None]


def test_relative_flag_before_first_pd_and_groups_without_pd():
    d = pd.DataFrame({"USUBJID": ["1"] * 4 + ["2"] * 2, "ADT": [4, 1, 2, 3, 1, 2],
                      "AVALC": ["SD", "SD", "PD", "PD", "PR", "SD"]})
    # subject 1 in date order: SD(1) PD(2) PD(3) SD(4): up to and including the first PD
    out = derive_var_relative_flag(d, by_vars=["USUBJID"], order=["ADT"], new_var="F",
                                   condition=lambda x: x.AVALC == "PD")
    assert vals(out.F) == [None, "Y", "Y", None, "Y", "Y"]
    out = derive_var_relative_flag(d, by_vars=["USUBJID"], order=["ADT"], new_var="F",
                                   condition=lambda x: x.AVALC == "PD", selection="after",
                                   inclusive=False, flag_no_ref_groups=False)
    assert vals(out.F) == ["Y", None, None, "Y", None, None]


def test_obs_number_missing_last():
    d = pd.DataFrame({"USUBJID": ["1"] * 3, "ADT": [np.nan, 2.0, 1.0]})
    assert list(derive_var_obs_number(d, by_vars=["USUBJID"], order=["ADT"]).ASEQ) == \
        [3.0, 2.0, 1.0]


def test_extreme_records_with_reference_and_exist_flag():
    ovr = pd.DataFrame({"USUBJID": ["1", "1", "2"], "ADT": [1.0, 2.0, 5.0],
                        "AVALC": ["PD", "PD", "SD"]})
    adsl = pd.DataFrame({"USUBJID": ["1", "2", "3"]})
    # first PD per subject; 2 has none (N), 3 has no assessments (N)
    out = derive_extreme_records(dataset_add=ovr, dataset_ref=adsl, by_vars=["USUBJID"],
                                 filter_add=lambda d: d.AVALC == "PD", order=["ADT"],
                                 mode="first", exist_flag="AVALC", false_value="N",
                                 set_values_to={"PARAMCD": "PD", "AVAL": lambda d:
                                                yn_to_numeric(d.AVALC)})
    assert out[["USUBJID", "AVALC", "AVAL"]].values.tolist() == [["1", "Y", 1.0],
                                                                 ["2", "N", 0.0],
                                                                 ["3", "N", 0.0]]
    assert vals(out.ADT) == [1.0, None, None] and set(out.PARAMCD) == {"PD"}


def test_extreme_event_order_by_event_then_date():
    ovr = pd.DataFrame({"USUBJID": ["1", "1", "1"], "ADT": [3, 1, 2],
                        "AVALC": ["CR", "PR", "CR"]})
    adsl = pd.DataFrame({"USUBJID": ["1", "2"]})
    ev = [Event("ovr", lambda d: d.AVALC == "CR", {"AVALC": "CR"}),
          Event("ovr", lambda d: d.AVALC == "PR", {"AVALC": "PR"}),
          Event("adsl", None, {"AVALC": "MISSING"})]
    # CR beats PR whatever the dates; the first CR is ADT 2
    out = derive_extreme_event(None, by_vars=["USUBJID"], events=ev, order=["event_nr", "ADT"],
                               source_datasets={"ovr": ovr, "adsl": adsl})
    assert out[["USUBJID", "AVALC"]].values.tolist() == [["1", "CR"], ["2", "MISSING"]]
    assert out.ADT.iloc[0] == 2


def test_param_exist_flag():
    adsl = pd.DataFrame({"USUBJID": ["1", "2", "3"]})
    tu = pd.DataFrame({"USUBJID": ["1", "1", "2"],
                       "TUSTRESC": ["NON-TARGET", "TARGET", "NON-TARGET"]})
    out = derive_param_exist_flag(dataset_ref=adsl, dataset_add=tu, by_vars=["USUBJID"],
                                  condition=lambda d: d.TUSTRESC == "TARGET", false_value="N",
                                  missing_value="MISSING", set_values_to={"PARAMCD": "MDIS"})
    assert list(out.AVALC) == ["Y", "N", "MISSING"]


def test_durations_and_study_days():
    d = pd.DataFrame({"S": D("2021-01-01", "2021-03-01"), "E": D("2021-01-31", "2021-02-27")})
    # 30 days apart -> 31 with add_one; end before start: -2 (no + 1)
    assert list(derive_vars_duration(d, new_var="X", start_date="S", end_date="E").X) == \
        [31.0, -2.0]
    assert list(derive_vars_duration(d, new_var="X", start_date="S", end_date="E",
                                     add_one=False).X) == [30.0, -2.0]
    # 31 days = 4.43 weeks; 365.25 days = 1 year
    assert round(compute_duration(d.S, d.E, out_unit="weeks")[0], 4) == round(31 / 7, 4)
    # day 1 is the reference day; the day before is -1
    dy = derive_vars_dy(d.assign(ADT=D("2021-01-01", "2021-02-28")), reference_date="S",
                        source_vars=["ADT"])
    assert list(dy.ADY) == [1.0, -1.0]


def test_extreme_dt_ties_and_traceability():
    adsl = pd.DataFrame({"USUBJID": ["1", "2", "3"], "TRTEDT": D("2021-05-01", "2021-05-01",
                                                                 None)})
    ae = pd.DataFrame({"USUBJID": ["1", "2"], "AESEQ": [1.0, 2.0],
                       "ASTDT": D("2021-04-01", "2021-05-01")})
    src = [DateSource("ae", "ASTDT", seq="AESEQ", set_values_to={"DOM": "AE"}),
           DateSource("adsl", "TRTEDT", set_values_to={"DOM": "ADSL"})]
    out = derive_var_extreme_dt(adsl, new_var="LAST", sources=src, subject_keys=["USUBJID"],
                                source_datasets={"ae": ae, "adsl": adsl})
    # 1: TRTEDT later; 2: tie on 2021-05-01, the AE has seq 2 > 0 -> AE; 3: nothing
    assert [None if pd.isna(v) else v.strftime("%m-%d") for v in out.LAST] == \
        ["05-01", "05-01", None]
    assert vals(out.DOM) == ["ADSL", "AE", None]
    first = derive_var_extreme_dt(adsl, new_var="FIRST", sources=src, mode="first",
                                  subject_keys=["USUBJID"],
                                  source_datasets={"ae": ae, "adsl": adsl})
    assert vals(first.DOM) == ["AE", "ADSL", None]


def test_base_chg_pchg_nadir():
    d = pd.DataFrame({"USUBJID": ["1"] * 5, "ADY": [-3, 22, 43, 64, 85],
                      "AVAL": [94.0, 91.0, 110.0, 92.0, 0.0], "ABLFL": ["Y", None, None, None,
                                                                      None],
                      "ANL01FL": ["Y", "Y", None, "Y", "Y"]})
    d = derive_var_chg(derive_var_base(d, by_vars=["USUBJID"]))
    d = derive_var_pchg(d)
    assert list(d.BASE) == [94.0] * 5
    assert list(d.CHG) == [0.0, -3.0, 16.0, -2.0, -94.0]
    assert [round(v, 4) for v in d.PCHG] == [0.0, round(-300 / 94, 4), round(1600 / 94, 4),
                                             round(-200 / 94, 4), -100.0]
    # nadir from complete earlier assessments only: 110 (ANL01FL missing) does not count
    n = derive_var_nadir(d, by_vars=["USUBJID"], filter=lambda x: x.ANL01FL == "Y")
    assert vals(n.NADIR) == [None, 94.0, 91.0, 91.0, 91.0]
    # base 0 gives no percent change
    assert np.isnan(derive_var_pchg(pd.DataFrame({"AVAL": [1.0], "BASE": [0.0]})).PCHG[0])


def test_categories():
    d = pd.DataFrame({"AGE": [17.0, 18.0, 64.0, 65.0, np.nan]})
    g = Grouping(groups=(Group(label="<65", upper=65), Group(label=">=65", lower=65)),
                 missing="Missing")
    out = derive_vars_cat(d, source_var="AGE", new_var="AGEGR1", new_var_n="AGEGR1N",
                          grouping=g)
    assert list(out.AGEGR1) == ["<65", "<65", "<65", ">=65", "Missing"]
    assert vals(out.AGEGR1N) == [1.0, 1.0, 1.0, 2.0, None]


def test_treatment_emergent_window_and_worsening():
    ae = pd.DataFrame({
        "ASTDT": D("2021-01-10", "2021-03-01", "2021-03-02", "2020-12-20", "2020-12-20", None,
                   None),
        "AENDT": D(None, None, None, "2021-01-20", "2021-01-20", "2021-01-05", "2020-12-31"),
        "TRTSDT": D(*["2021-01-01"] * 7), "TRTEDT": D(*["2021-02-01"] * 7),
        "AEITOXGR": ["1", "1", "1", "1", "2", "1", "1"], "AETOXGR": ["1", "2", "2", "3", "2",
                                                                     "2", "2"]})
    # 1: on treatment. 2: 28 days after last dose (Feb 1 + 28 = Mar 1) -> in; 3: day 29 -> out.
    # 4: started before, grade 1 -> 3 while on treatment -> worsened; 5: not worse.
    # 6: no start, ends after first dose -> Y; 7: no start, ended before first dose.
    out = derive_var_trtemfl(ae, trt_end_date="TRTEDT", end_window=28,
                             initial_intensity="AEITOXGR", intensity="AETOXGR")
    assert vals(out.TRTEMFL) == ["Y", "Y", None, "Y", None, "Y", None]
    out = derive_var_trtemfl(ae, trt_end_date="TRTEDT", end_window=28)
    assert vals(out.TRTEMFL) == ["Y", "Y", None, None, None, "Y", None]


def test_response_codes():
    assert vals(aval_resp(pd.Series(["CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE", "MISSING",
                                     "XX"]))) == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, None]
    assert vals(yn_to_numeric(pd.Series(["Y", "N", None]))) == [1.0, 0.0, None]


def test_no_function_changes_its_input():
    d = pd.DataFrame({"USUBJID": ["2", "1"], "ADT": [2, 1], "AVALC": ["PD", "SD"]})
    before = d.copy()
    derive_var_relative_flag(d, by_vars=["USUBJID"], order=["ADT"], new_var="F",
                             condition=lambda x: x.AVALC == "PD")
    derive_var_obs_number(d, by_vars=["USUBJID"], order=["ADT"])
    derive_var_extreme_flag(d, by_vars=["USUBJID"], order=["ADT"], new_var="F", mode="last")
    pd.testing.assert_frame_equal(d, before)
