"""RECIST 1.1 edge cases through the whole ADaM build (ADSL -> ADRS -> ADTTE) on hand-built
SDTM, and the independent recomputation from TR/TU. Every expected value is worked out in the
comments. All subjects are randomised and dosed on 2021-01-01 (day 1)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adam.build import build_adam
from adam.options import AdamOptions, AdrsOptions, AdslOptions, AdtteOptions
from adam.recist import overall_response
from adam.response import ConfirmationRule, confirmed_mask

S = "STUDY1"
SUBJ = ["A", "B", "C", "C2", "D", "E", "E2", "F", "G"]


def _sdtm() -> dict[str, pd.DataFrame]:
    ids = [f"{S}-{x}" for x in SUBJ]
    n = len(ids)
    dm = pd.DataFrame({"STUDYID": S, "DOMAIN": "DM", "USUBJID": ids, "AGE": 60.0, "ARM": "DRUG",
                       "ARMCD": "DRUG", "ACTARM": "DRUG", "ACTARMCD": "DRUG",
                       "DTHDTC": pd.Series([None] * n, dtype="str"),
                       "DTHFL": pd.Series([None] * n, dtype="str")})
    deaths = {"E": "2021-02-20", "E2": "2021-05-01", "F": "2021-04"}
    for k, v in deaths.items():
        dm.loc[dm.USUBJID.eq(f"{S}-{k}"), ["DTHDTC", "DTHFL"]] = [v, "Y"]
    ds = pd.DataFrame({"STUDYID": S, "DOMAIN": "DS", "USUBJID": ids, "DSSEQ": 1.0,
                       "DSCAT": "PROTOCOL MILESTONE", "DSDECOD": "RANDOMIZED",
                       "DSTERM": "RANDOMIZED", "DSSTDTC": "2021-01-01"})
    # last dose 2021-06-30, earlier for those who died (E, E2, F)
    last = {"E": "2021-02-10", "E2": "2021-04-20", "F": "2021-03-15"}
    ex = pd.DataFrame({"STUDYID": S, "DOMAIN": "EX", "USUBJID": ids, "EXSEQ": 1.0,
                       "EXTRT": "DRUG", "EXDOSE": 300.0, "EXSTDTC": "2021-01-01",
                       "EXENDTC": [last.get(x, "2021-06-30") for x in SUBJ]})
    ae = pd.DataFrame({"STUDYID": S, "DOMAIN": "AE", "USUBJID": [f"{S}-F"], "AESEQ": [1.0],
                       "AEDECOD": ["FATIGUE"], "AESTDTC": ["2021-03-20"],
                       "AEENDTC": ["2021-04-10"]})
    rs_rows = [
        # A: PR (day 43), NE, PR (day 127): confirmed with one NE between
        ("A", "2021-02-12", "PR"), ("A", "2021-03-26", "NE"), ("A", "2021-05-07", "PR"),
        # B: SD on day 39 (38 days after randomisation), then PD
        ("B", "2021-02-08", "SD"), ("B", "2021-03-05", "PD"),
        # C: CR, CR only 21 days later: not confirmed
        ("C", "2021-02-12", "CR"), ("C", "2021-03-05", "CR"),
        # C2: CR, CR 42 days later: confirmed
        ("C2", "2021-02-12", "CR"), ("C2", "2021-03-26", "CR"),
        # D: SD, then PD 140 days later (two or more assessments missed)
        ("D", "2021-02-12", "SD"), ("D", "2021-07-02", "PD"),
        # G: PR then NE twice then PR: two NE between -> not confirmed (at most one)
        ("G", "2021-02-12", "PR"), ("G", "2021-03-26", "NE"), ("G", "2021-05-07", "NE"),
        ("G", "2021-06-18", "PR"),
    ]
    rs = pd.DataFrame(rs_rows, columns=["SUBJ", "RSDTC", "RSSTRESC"])
    rs = rs.assign(STUDYID=S, DOMAIN="RS", USUBJID=S + "-" + rs.SUBJ, RSTESTCD="OVRLRESP",
                   RSEVAL="INVESTIGATOR", RSSEQ=np.arange(1.0, len(rs) + 1),
                   VISIT=["V" + str(i) for i in range(len(rs))]).drop(columns="SUBJ")
    tu = pd.DataFrame({"STUDYID": S, "DOMAIN": "TU", "USUBJID": ids, "TULNKID": "T01",
                       "TUSTRESC": "TARGET", "VISIT": "SCREENING", "TUEVAL": "INVESTIGATOR"})
    return {"DM": dm, "DS": ds, "EX": ex, "AE": ae, "RS": rs, "TU": tu}


def param(res, code, col="AVALC"):
    d = res.datasets["ADRS"]
    d = d[d.PARAMCD.eq(code)].set_index("USUBJID")[col]
    return {k.split("-")[1]: (None if pd.isna(v) else v) for k, v in d.items()}


@pytest.fixture(scope="module")
def admiral():
    return build_adam(_sdtm())


@pytest.fixture(scope="module")
def fda():
    return build_adam(_sdtm(), options=AdamOptions(adtte=AdtteOptions(censoring="fda2018")))


@pytest.fixture(scope="module")
def protocol():
    """SD window 42 - 7 days, 21-day confirmation, death never before last known alive."""
    return build_adam(_sdtm(), options=AdamOptions(
        adrs=AdrsOptions(sd_window_days=7, confirmation=ConfirmationRule(min_days=21)),
        adsl=AdslOptions(death_imputation={"highest": "M", "date": "first",
                                           "min_dates": ["LSTALVDT"]})))


def test_pr_then_ne_then_pr_is_confirmed(admiral):
    # PR on Feb 12, confirmed by the PR on May 7 (84 days >= 28) with one NE between
    assert param(admiral, "BOR")["A"] == "PR"
    assert param(admiral, "CBOR")["A"] == "PR"
    assert param(admiral, "CRSP")["A"] == "Y"
    assert str(param(admiral, "CRSP", "ADT")["A"].date()) == "2021-02-12"
    # with two NE between (G) the PR is not confirmed: CBOR falls to SD (PR on day 43 >= 42)
    assert param(admiral, "CBOR")["G"] == "SD" and param(admiral, "CRSP")["G"] == "N"


def test_sd_too_early_to_count(admiral, protocol):
    # B: SD 38 days after randomisation (< 42) cannot be the best response: then PD
    assert param(admiral, "BOR")["B"] == "PD" and param(admiral, "CB")["B"] == "N"
    # with the protocol's window (42 - 7 = 35 days) the same SD counts
    assert param(protocol, "BOR")["B"] == "SD" and param(protocol, "CB")["B"] == "Y"


def test_cr_needing_confirmation(admiral, protocol):
    # C: the second CR is 21 days later (< 28): BOR CR, but confirmed BOR only SD (a CR on
    # day 43 is at least stable disease), not a confirmed responder
    assert param(admiral, "BOR")["C"] == "CR"
    assert param(admiral, "CBOR")["C"] == "SD" and param(admiral, "CRSP")["C"] == "N"
    # C2: 42 days later: confirmed CR
    assert param(admiral, "CBOR")["C2"] == "CR" and param(admiral, "CRSP")["C2"] == "Y"
    # a 21-day confirmation window (a study option) confirms C too
    assert param(protocol, "CBOR")["C"] == "CR"


def tte(res, code):
    d = res.datasets["ADTTE"]
    d = d[d.PARAMCD.eq(code)].set_index("USUBJID")
    return {k.split("-")[1]: r for k, r in d.iterrows()}


def test_pd_after_missed_assessments(admiral, fda):
    adm = tte(admiral, "PFS")["D"]
    # admiral: PD on 2021-07-02 is the event: Jan 1 -> Jul 2 = 182 days, + 1 = 183
    assert (adm.CNSR, adm.AVAL, adm.EVNTDESC) == (0.0, 183.0, "Disease Progression")
    fda = tte(fda, "PFS")["D"]
    # fda2018: 140 days after the last adequate assessment > 2 x 42 + 7 = 91 -> censored at
    # that assessment (Feb 12: AVAL 43)
    assert (fda.CNSR, fda.AVAL) == (1.0, 43.0)
    assert fda.EVNTDESC == "Event After 2 or More Missed Assessments"
    assert (fda.SRCDOM, fda.SRCVAR) == ("ADRS", "ADT")


def test_death_without_any_assessment(admiral, fda):
    res = admiral
    # E: no tumour assessment, died 2021-02-20 (day 51)
    assert param(res, "BOR")["E"] == "MISSING" and param(res, "DEATH")["E"] == "Y"
    pfs = tte(res, "PFS")
    assert (pfs["E"].CNSR, pfs["E"].AVAL, pfs["E"].EVNTDESC) == (0.0, 51.0, "Death")
    # E2 died on day 121 (2021-05-01) without assessment: admiral counts the death ...
    assert (pfs["E2"].CNSR, pfs["E2"].AVAL) == (0.0, 121.0)
    fda = tte(fda, "PFS")
    # ... fda2018 too for E (50 days after the origin <= 91) but not for E2 (120 > 91):
    # censored at the origin, AVAL 1
    assert (fda["E"].CNSR, fda["E"].AVAL) == (0.0, 51.0)
    assert (fda["E2"].CNSR, fda["E2"].AVAL, fda["E2"].SRCVAR) == (1.0, 1.0, "RANDDT")


def test_partial_death_date(admiral, protocol):
    res = admiral
    adsl = res.datasets["ADSL"].set_index("USUBJID")
    # F: DTHDTC 2021-04 -> first day of the month (admiral), flag D
    assert str(adsl.loc[f"{S}-F", "DTHDT"].date()) == "2021-04-01"
    assert adsl.loc[f"{S}-F", "DTHDTF"] == "D"
    # OS: Jan 1 -> Apr 1 = 90 days + 1 = 91, an event
    os_ = tte(res, "OS")["F"]
    assert (os_.AVAL, os_.CNSR) == (91.0, 0.0)
    # ... but the AE shows F alive on 2021-04-10 (LSTALVDT): with min_dates [LSTALVDT] the
    # death date is 2021-04-10, OS 100 days
    res = protocol
    adsl = res.datasets["ADSL"].set_index("USUBJID")
    assert str(adsl.loc[f"{S}-F", "LSTALVDT"].date()) == "2021-04-10"
    assert str(adsl.loc[f"{S}-F", "DTHDT"].date()) == "2021-04-10"
    assert tte(res, "OS")["F"].AVAL == 100.0


def test_confirmation_no_pr_after_cr():
    # PR, CR, PR: the first PR's confirmation window (>= 28 days: the CR at day 84) holds
    # only a CR -> confirmed; but PR, PR(21 d), CR... rule: a PR after a CR inside the
    # window breaks it: PR(0) CR(21) PR(42): window up to the first CR/PR at >= 28 days is
    # the PR at day 42, which holds CR then PR -> not confirmed
    ovr = pd.DataFrame({"USUBJID": ["1"] * 3, "AVALC": ["PR", "CR", "PR"],
                        "ADT": pd.to_datetime(["2021-01-01", "2021-01-22", "2021-02-12"])})
    assert confirmed_mask(ovr, response="PR", by_vars=["USUBJID"]).tolist() == \
        [False, False, False]
    assert confirmed_mask(ovr, response="PR", by_vars=["USUBJID"],
                          rule=ConfirmationRule(no_pr_after_cr=False)).tolist() == \
        [True, False, False]


def test_overall_response_tables():
    t = np.array(["CR", "CR", "PR", "SD", "NE", "SD", None, None, None, "CR"], dtype=object)
    nt = np.array(["CR", "NE", "NON-CR/NON-PD", "NE", "NON-CR/NON-PD", "PD", "CR",
                   "NON-CR/NON-PD", "NE", None], dtype=object)
    new = np.array([False] * 9 + [True])
    # table 1 rows: CR/CR->CR, CR/NE->PR, PR/non-PD->PR, SD/NE->SD, NE/non-PD->NE, any PD->PD;
    # table 2 (no targets): CR->CR, NON-CR/NON-PD, NE; a new lesion makes PD
    assert overall_response(t, nt, new).tolist() == [
        "CR", "PR", "PR", "SD", "NE", "PD", "CR", "NON-CR/NON-PD", "NE", "PD"]


def _tumour_sdtm():
    sd = _sdtm()
    sub1, sub2 = f"{S}-A", f"{S}-B"
    tu = pd.DataFrame({
        "STUDYID": S, "DOMAIN": "TU",
        "USUBJID": [sub1, sub1, sub1, sub2, sub2],
        "TULNKID": ["T01", "T02", "NT01", "T01", "NEW01"],
        "TUSTRESC": ["TARGET", "TARGET", "NON-TARGET", "TARGET", "NEW"],
        "TULOC": ["LIVER", "LYMPH NODE", "BONE", "LUNG", "LIVER"],
        "VISIT": ["SCREENING", "SCREENING", "SCREENING", "SCREENING", "V2"],
        "TUEVAL": "INVESTIGATOR"})
    tr = [
        # subject A: T01 non-nodal, T02 a lymph node (short axis = LPERP)
        (sub1, "SCREENING", "T01", "LDIAM", 30.0), (sub1, "SCREENING", "T02", "LPERP", 15.0),
        (sub1, "V1", "T01", "LDIAM", 20.0), (sub1, "V1", "T02", "LPERP", 12.0),
        (sub1, "V2", "T01", "LDIAM", 0.0), (sub1, "V2", "T02", "LPERP", 8.0),
        (sub1, "V3", "T01", "LDIAM", 6.0), (sub1, "V3", "T02", "LPERP", 9.0),
        (sub2, "SCREENING", "T01", "LDIAM", 40.0), (sub2, "V1", "T01", "LDIAM", np.nan),
        (sub2, "V2", "T01", "LDIAM", 38.0)]
    tr = pd.DataFrame(tr, columns=["USUBJID", "VISIT", "TRLNKID", "TRTESTCD", "TRSTRESN"])
    tr["TRGRPID"] = "TARGET"
    nt = pd.DataFrame({"USUBJID": sub1, "VISIT": ["SCREENING", "V1", "V2", "V3"],
                       "TRLNKID": "NT01", "TRTESTCD": "TUMSTATE",
                       "TRSTRESC": ["PRESENT", "PRESENT", "ABSENT", "ABSENT"],
                       "TRGRPID": "NON-TARGET"})
    tr = pd.concat([tr, nt], ignore_index=True)
    dates = {"SCREENING": "2020-12-28", "V1": "2021-02-12", "V2": "2021-03-26",
             "V3": "2021-05-07"}
    tr = tr.assign(STUDYID=S, DOMAIN="TR", TREVAL="INVESTIGATOR",
                   TRDTC=tr.VISIT.map(dates), TRSEQ=np.arange(1.0, len(tr) + 1))
    rs = pd.DataFrame({"USUBJID": [sub1, sub1, sub1, sub2, sub2],
                       "VISIT": ["V1", "V2", "V3", "V1", "V2"],
                       "RSSTRESC": ["PR", "CR", "PD", "SD", "SD"]})
    rs = rs.assign(STUDYID=S, DOMAIN="RS", RSTESTCD="OVRLRESP", RSEVAL="INVESTIGATOR",
                   RSDTC=rs.VISIT.map(dates), RSSEQ=np.arange(1.0, len(rs) + 1))
    sd.update({"TU": tu, "TR": tr, "RS": rs})
    return sd


def test_recist_recomputation_lists_the_disagreements():
    res = build_adam(_tumour_sdtm())
    rc = res.recist_check.set_index(["USUBJID", "VISIT"])
    # A V1: sum 20 + 12 = 32 mm vs baseline 30 + 15 = 45: -28.9%, not the 30% of a PR -> SD;
    #       RS says PR. A V2: T01 gone, node 8 < 10 mm, NT01 absent -> CR (agrees).
    #       A V3: 6 + 9 = 15 mm, nadir 8: +7 mm and +87.5% -> PD (agrees).
    # B V1: T01 not measured -> NE; RS says SD. B V2: new lesion -> PD; RS says SD.
    assert sorted(rc.index) == [(f"{S}-A", "V1"), (f"{S}-B", "V1"), (f"{S}-B", "V2")]
    a1 = rc.loc[(f"{S}-A", "V1")]
    assert (a1.INVESTIGATOR, a1.RECOMPUTED, a1.TARGET, a1.NONTARGET) == \
        ("PR", "SD", "SD", "NON-CR/NON-PD")
    assert "sum 32 mm, -28.9% from baseline 45 mm" in a1.REASON
    b1 = rc.loc[(f"{S}-B", "V1")]
    assert (b1.INVESTIGATOR, b1.RECOMPUTED) == ("SD", "NE")
    assert "0 of 1 lesions measured" in b1.REASON
    b2 = rc.loc[(f"{S}-B", "V2")]
    assert (b2.RECOMPUTED, b2.NEWLESION) == ("PD", "Y") and "new lesion" in b2.REASON
    assert any(f.rule_id == "ADAM-RECIST-DISAGREE" for f in res.findings)
    # ADTR from the same measurements: A's sums 45, 32, 8, 15; nadir before V3 is 8
    adtr = res.datasets["ADTR"]
    a = adtr[adtr.USUBJID.eq(f"{S}-A")].set_index("AVISIT")
    assert list(a.AVAL) == [45.0, 32.0, 8.0, 15.0]
    assert a.loc["V3", "NADIR"] == 8.0 and a.loc["V3", "CHGNAD"] == 7.0
    assert round(a.loc["V1", "PCHG"], 4) == round(-13 / 45 * 100, 4)
