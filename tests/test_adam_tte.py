"""Time-to-event derivation and the censoring rule sets (docs/censoring.md), by hand, plus the
study options files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adam.options import AdamOptions
from adam.tte import (CensoringRules, apply_censoring_rules, censor_source, derive_param_tte,
                      event_source)
from studybuild.errors import SpecError


def D(*s):
    return pd.to_datetime(list(s)).astype("datetime64[s]")


def test_events_first_censoring_last_and_their_ties():
    adsl = pd.DataFrame({"USUBJID": ["1", "2", "3", "4"],
                         "RANDDT": D("2021-01-10", "2021-01-10", "2021-01-10", None),
                         "LSTALVDT": D("2021-01-05", "2021-01-10", "2021-06-01", "2021-06-01")})
    ev = pd.DataFrame({"USUBJID": ["1", "1", "2"], "ASEQ": [3.0, 4.0, 9.0],
                       "PARAMCD": ["PD", "DEATH", "DEATH"],
                       "ADT": D("2021-03-01", "2021-03-01", "2021-02-01")})
    pd_ = event_source("adrs", "ADT", filter=lambda d: d.PARAMCD == "PD",
                       set_values_to={"EVNTDESC": "PD", "SRCSEQ": lambda d: d.ASEQ})
    dth = event_source("adrs", "ADT", filter=lambda d: d.PARAMCD == "DEATH",
                       set_values_to={"EVNTDESC": "Death", "SRCSEQ": lambda d: d.ASEQ})
    alive = censor_source("adsl", "LSTALVDT", set_values_to={"EVNTDESC": "Alive"})
    rand = censor_source("adsl", "RANDDT", set_values_to={"EVNTDESC": "Randomization"})
    out = derive_param_tte(dataset_adsl=adsl, source_datasets={"adsl": adsl, "adrs": ev},
                           start_date="RANDDT", event_conditions=[pd_, dth],
                           censor_conditions=[alive, rand], subject_keys=["USUBJID"],
                           set_values_to={"PARAMCD": "PFS"}).set_index("USUBJID")
    # 1: PD and death the same day -> the first event source (PD), SRCSEQ 3
    assert (out.loc["1", "EVNTDESC"], out.loc["1", "SRCSEQ"], out.loc["1", "CNSR"]) == \
        ("PD", 3.0, 0.0)
    # 2: alive 2021-01-10 and randomised 2021-01-10 tie -> the later censoring source wins,
    #    but the death is an event anyway
    assert out.loc["2", "EVNTDESC"] == "Death"
    # 3: last alive after randomisation -> censored at LSTALVDT
    assert (out.loc["3", "EVNTDESC"], out.loc["3", "CNSR"]) == ("Alive", 1.0)
    # 4: no origin: censored at LSTALVDT, STARTDT missing
    assert pd.isna(out.loc["4", "STARTDT"])
    # subject 1's alive date (Jan 5) is before randomisation: with no event it would be
    # censored at the later of the two: randomisation. ADT never precedes STARTDT.
    assert (out.ADT.dropna() >= out.STARTDT.dropna().reindex(out.ADT.dropna().index)
            .fillna(out.ADT.dropna())).all()


def _pfs_setup():
    # three subjects randomised 2021-01-01; assessments every 42 days
    tte = pd.DataFrame({
        "USUBJID": ["1", "2", "3", "4"], "STARTDT": D(*["2021-01-01"] * 4),
        "ADT": D("2021-04-30", "2021-03-26", "2021-03-26", "2021-02-12"),
        "CNSR": [0.0, 1.0, 0.0, 1.0], "EVNTDESC": ["Disease Progression",
                                                   "Last Tumor Assessment",
                                                   "Disease Progression",
                                                   "Last Tumor Assessment"],
        "CNSDTDSC": [None, "Last Tumor Assessment", None, "Last Tumor Assessment"],
        "SRCDOM": "ADRS", "SRCVAR": "ADT", "SRCSEQ": [5.0, 4.0, 8.0, 9.0]})
    asm = pd.DataFrame({
        "USUBJID": ["1", "1", "2", "2", "3", "3", "4"],
        "ADT": D("2021-02-12", "2021-03-26", "2021-02-12", "2021-03-26", "2021-02-12",
                 "2021-03-26", "2021-02-12"),
        "AVALC": ["SD", "SD", "SD", "NE", "SD", "PD", "NE"],
        "ASEQ": [1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 9.0]})
    subj = pd.DataFrame({"USUBJID": ["1", "2", "3", "4"], "BASEASFL": ["Y", "Y", "Y", None],
                         "NACTDT": D("2021-04-01", None, None, None)})
    return tte, asm, subj


def test_admiral_rule_set_changes_nothing():
    tte, asm, subj = _pfs_setup()
    out = apply_censoring_rules(tte, rules=CensoringRules.admiral(), assessments=asm,
                                subjects=subj, origin_var="RANDDT", subject_keys=["USUBJID"])
    pd.testing.assert_frame_equal(out, tte)


def test_fda2018_rule_set():
    tte, asm, subj = _pfs_setup()
    out = apply_censoring_rules(tte, rules=CensoringRules.fda2018(), assessments=asm,
                                subjects=subj, origin_var="RANDDT",
                                subject_keys=["USUBJID"]).set_index("USUBJID")
    # 1: new anticancer therapy on 2021-04-01 before PD (04-30) -> censored at the last
    #    adequate assessment on/before it: 2021-03-26 (ASEQ 2)
    r = out.loc["1"]
    assert (str(r.ADT.date()), r.CNSR, r.EVNTDESC, r.SRCSEQ) == \
        ("2021-03-26", 1.0, "New Anticancer Therapy", 2.0)
    # 2: no event; the last assessment is NE (not adequate) -> the SD on 2021-02-12
    r = out.loc["2"]
    assert (str(r.ADT.date()), r.EVNTDESC, r.SRCSEQ) == \
        ("2021-02-12", "Last Adequate Tumor Assessment", 3.0)
    # 3: PD 42 days after the last adequate assessment (<= 91): the event stands
    assert (out.loc["3", "CNSR"], out.loc["3", "EVNTDESC"]) == (0.0, "Disease Progression")
    # 4: no baseline tumour assessment -> censored at the origin
    r = out.loc["4"]
    assert (str(r.ADT.date()), r.EVNTDESC, r.SRCDOM, r.SRCVAR) == \
        ("2021-01-01", "No Baseline Tumor Assessment", "ADSL", "RANDDT")
    assert np.isnan(r.SRCSEQ)
    # the missed-assessment gap: 2 x 42 + 7
    assert CensoringRules.fda2018().missed_gap_days == 91


def test_study_options_come_from_the_spec_files():
    from studybuild.study import load_study

    o = AdamOptions.for_study("surufatinib-sts")
    st = load_study("surufatinib-sts")
    ts = st.tumour_assessments
    # from study.yaml: SD >= 42 - 7 days, confirmation 28 days, the cut-off; the TEAE
    # window (28 days) is also stated in adam/adae.yaml
    assert (o.adrs.sd_min_days, o.adrs.sd_window_days, o.adrs.confirmation.min_days) == \
        (ts.sd_min_days, ts.sd_window_days, ts.confirmation_min_days) == (42, 7, 28)
    assert o.study.data_cutoff == st.dates.data_cutoff
    assert o.adae.teae_window_days == 28
    # adam/*.yaml: single-arm choices
    assert (o.adtte.origin, o.adtte.censoring, o.adrs.reference_date) == \
        ("TRTSDT", "fda2018", "TRTSDT")
    assert o.adsl.lstalvdt == "all"
    # no study: admiral's defaults
    a = AdamOptions.admiral()
    assert (a.adae.teae_window_days, a.adtte.censoring, a.adsl.lstalvdt) == \
        (30, "admiral", "admiral")


def test_bad_options_file_names_file_and_line(tmp_path, monkeypatch):
    import shutil

    from studybuild import paths
    from studybuild.study import load_study

    src = paths.studies_dir() / "surufatinib-sts"
    root = tmp_path / "studies"
    shutil.copytree(src, root / "surufatinib-sts")
    (root / "surufatinib-sts" / "adam" / "adrs.yaml").write_text(
        "evaluator: INVESTIGATOR\nconfirmation:\n  min_dayz: 28\n")
    monkeypatch.setattr("studybuild.study.studies_dir", lambda: root)
    monkeypatch.setattr("studybuild.paths.studies_dir", lambda: root)
    load_study.cache_clear()
    try:
        with pytest.raises(SpecError) as e:
            AdamOptions.for_study("surufatinib-sts")
        msg = str(e.value)
        assert "adrs.yaml:3" in msg and "min_dayz" in msg
        (root / "surufatinib-sts" / "adam" / "adrs.yaml").write_text("evaluator: INVESTIGATOR\n")
        (root / "surufatinib-sts" / "adam" / "adrss.yaml").write_text("x: 1\n")
        with pytest.raises(SpecError, match="did you mean 'adrs'"):
            AdamOptions.for_study("surufatinib-sts")
    finally:
        load_study.cache_clear()
