"""The reviewer report against standard oncology table shells: every best-response category
with zeros, Kaplan-Meier landmark rates and reverse-KM follow-up worked by hand, the TEAE
overview and grade columns, the Simon two-stage search and its reading of the primary
endpoint, the swimmer's end of treatment, and ADAE's immune-related flag from SUPPAE.

Hand-built ADaM: tests/data/report/handmade/ (see tests/test_report_endpoints.py).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from scipy.stats import binom, norm

from studybuild.datasets import read_folder
from studybuild.report import compute_endpoints, write_report
from studybuild.report.endpoints import DAYS_PER_MONTH, kaplan_meier, survival_at
from studybuild.report.figures import waterfall_limits
from studybuild.report.simon import operating_characteristics, simon_design
from studybuild.study import SimonTwoStage, load_study

HAND = Path(__file__).parent / "data" / "report" / "handmade"


@pytest.fixture(scope="module")
def hand() -> dict[str, pd.DataFrame]:
    return read_folder(HAND).frames()


@pytest.fixture(scope="module")
def ep(hand):
    return compute_endpoints(hand)


# --- best overall response: the shell's rows, zeros included ---------------------------

def test_every_bor_category_is_a_row_with_zeros(hand, tmp_path):
    # drop S01's CR and S09's NE records, and give S10 (no record) an SD: the table still has
    # CR and NE rows with 0, and no "missing" row because every subject has a record
    adrs = hand["ADRS"]
    keep = ~(adrs["USUBJID"].isin(["HAND01-S01", "HAND01-S09"])
             & adrs["PARAMCD"].isin(["BOR", "CBOR"]))
    extra = pd.DataFrame({"STUDYID": "HAND01", "USUBJID": ["HAND01-S01", "HAND01-S09",
                                                           "HAND01-S10"],
                          "PARAMCD": "BOR", "AVALC": ["PR", "PD", "SD"],
                          "ADT": adrs["ADT"].iloc[0], "ANL01FL": "Y"})
    ep = compute_endpoints({**hand, "ADRS": pd.concat([adrs[keep], extra],
                                                      ignore_index=True)})
    b = ep.bor[ep.bor["PARAMCD"] == "BOR"].set_index("AVALC")
    # BOR now: S01 PR, S02 PR, S03 PR, S04-S06 SD, S07-S09 PD, S10 SD
    assert b["n"].to_dict() == {"CR": 0, "PR": 3, "SD": 4, "PD": 3, "NE": 0}
    assert set(b["N"]) == {10}
    # CBOR: S01 and S09 have none now, nor has S10 -> missing 3; CR and NE rows stay at 0
    c = ep.bor[ep.bor["PARAMCD"] == "CBOR"].set_index("AVALC")["n"].to_dict()
    assert c == {"CR": 0, "PR": 1, "SD": 4, "PD": 2, "NE": 0, "MISSING": 3}
    # and on the page: every row of the unconfirmed table, zeros as "0"
    write_report({**hand, "ADRS": pd.concat([adrs[keep], extra], ignore_index=True)},
                 tmp_path, study=None, inventory=[])
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    part = html[html.index("(ADRS PARAMCD = BOR)"):]
    for label, cell in (("Complete response (CR)", "0"), ("Partial response (PR)", "3 (30.0%)"),
                        ("Stable disease (SD)", "4 (40.0%)"),
                        ("Progressive disease (PD)", "3 (30.0%)"),
                        ("Not evaluable (NE)", "0")):
        assert f"<td>{label}</td><td class=\"num\">{cell}</td>" in part
    assert "Missing (no response assessment)" not in part.split("</table>")[0]
    assert "Non-CR/non-PD" not in html          # only when a subject has it


def test_non_cr_non_pd_row_when_used(hand):
    adrs = hand["ADRS"].copy()
    adrs.loc[(adrs["USUBJID"] == "HAND01-S04") & (adrs["PARAMCD"] == "BOR"), "AVALC"] = \
        "NON-CR/NON-PD"
    ep = compute_endpoints({**hand, "ADRS": adrs})
    b = ep.bor[ep.bor["PARAMCD"] == "BOR"]
    assert b["AVALC"].tolist() == ["CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE", "MISSING"]
    # DCR counts it: CR 1 + PR 2 + SD 2 + non-CR/non-PD 1 = 6 of 10, as before
    assert ep.rate("DCR", confirmed=False).n == 6


# --- Kaplan-Meier landmarks and follow-up, by hand ------------------------------------

def test_pfs_landmarks_hand_worked(ep):
    # PFS days (event *): 1 (S10, censored), 45*, 60*, 100, 150*, 180, 200*, 250*, 300*, 400
    # at risk before each event: 45 -> 9, 60 -> 8, 150 -> 6, 200 -> 4, 250 -> 3, 300 -> 2
    # 6 months = 182.6 days: S = 8/9 * 7/8 * 5/6 = 35/54 = 0.6481
    # 12 months = 365.25 days: S = 35/54 * 3/4 * 2/3 * 1/2 = 35/216 = 0.1620
    lm = ep.landmarks[ep.landmarks["PARAMCD"] == "PFS"].set_index("month")
    assert lm.loc[6.0, "survival"] == pytest.approx(35 / 54)
    assert lm.loc[12.0, "survival"] == pytest.approx(35 / 216)
    assert lm.loc[6.0, "n_at_risk"] == 4 and lm.loc[12.0, "n_at_risk"] == 1  # >= 182.6: 200..400
    # log(-log) interval with Greenwood's variance, written out:
    # V = sum d / (n (n - d)) = 1/(9*8) + 1/(8*7) + 1/(6*5) at 6 months
    z = norm.ppf(0.975)
    for month, s, terms in ((6.0, 35 / 54, [(9, 1), (8, 1), (6, 1)]),
                            (12.0, 35 / 216, [(9, 1), (8, 1), (6, 1), (4, 1), (3, 1), (2, 1)])):
        v = sum(d / (n * (n - d)) for n, d in terms)
        se = math.sqrt(v) / abs(math.log(s))
        lo, hi = s ** math.exp(z * se), s ** math.exp(-z * se)
        assert (lm.loc[month, "lower"], lm.loc[month, "upper"]) == pytest.approx((lo, hi),
                                                                                 rel=1e-9)
    # worked out: 6-month band 0.2532-0.8721
    assert lm.loc[6.0, "lower"] == pytest.approx(0.2532, abs=5e-4)
    assert lm.loc[6.0, "upper"] == pytest.approx(0.8721, abs=5e-4)


def test_landmark_after_last_time_is_not_estimable():
    fit = kaplan_meier(np.array([10.0, 20, 30]), np.array([1, 0, 1]))
    got = survival_at(fit.curve, [5.0, 25.0, 30.0, 31.0])
    # S: 1 before 10, 2/3 from 10, 0 from 30 (2/3 * 0/1); beyond 30 not defined
    assert got["survival"].tolist()[:3] == pytest.approx([1.0, 2 / 3, 0.0])
    assert math.isnan(got["survival"].iloc[3])
    # no band while S is still 1 (before the first event); one from the first event on
    assert math.isnan(got["lower"].iloc[0]) and math.isnan(got["upper"].iloc[0])
    assert 0 < got["lower"].iloc[1] < 2 / 3 < got["upper"].iloc[1] < 1


def test_median_follow_up_by_reverse_km(ep):
    km = ep.km.set_index("PARAMCD")
    # PFS reversed (censorings are the events): 1 (10 at risk) -> 0.9; 100 (7 at risk) ->
    # 0.9 * 6/7 = 0.771; 180 (5 at risk) -> 0.617; 400 (1 at risk) -> 0: first <= 0.5 at 400
    assert km.loc["PFS", "fu_median"] == 400
    # OS reversed: deaths 90..360 are censorings; at 400 two of four at risk are censored
    # -> S = 0.5 exactly until 420, where the last two go -> 0: median = (400 + 420) / 2
    assert km.loc["OS", "fu_median"] == 410


def test_km_origin_read_from_adtte(hand):
    adsl = hand["ADSL"].assign(ENRLDT=pd.NaT)
    ep = compute_endpoints({**hand, "ADSL": adsl})
    # STARTDT 2021-01-04 = TRTSDT of every dosed subject (S10, never dosed, has no TRTSDT
    # to compare); RSD starts at the first response
    assert ep.km_origin == {"PFS": "first dose", "OS": "first dose", "RSD": "first response"}


# --- TEAE overview and grade columns --------------------------------------------------

def test_teae_overview_rows_by_hand(hand):
    ae = hand["ADAE"].copy()
    # 13 records (AESEQ 1-13); TEAEs in the safety population: S01 (1-3), S02 (4-6),
    # S03 (7-8), S05 (10), S07 (11), S08 (12)
    ae["AREL"] = ["RELATED", "NOT RELATED", "POSSIBLY RELATED", "UNLIKELY RELATED",
                  "NOT RELATED", "NOT RELATED", "PROBABLY RELATED", "NOT RELATED",
                  "RELATED", "NOT RELATED", "RELATED", None, "RELATED"]
    ae["AEACN"] = ["DOSE NOT CHANGED"] * 6 + ["DRUG WITHDRAWN"] + ["DOSE NOT CHANGED"] * 6
    ae["AEOUT"] = ["RECOVERED/RESOLVED"] * 10 + ["FATAL"] + ["RECOVERED/RESOLVED"] * 2
    ae["AEIRAE"] = ["N", "N", "Y", "N", "N", "N", "N", "N", "Y", "N", "N", "N", "N"]
    ep = compute_endpoints({**hand, "ADAE": ae})
    ov = ep.teae_overview.set_index("CATEGORY")["n"].to_dict()
    # related: S01 (1, 3), S03 (7), S07 (11) = 3 (S04's is not a TEAE, S08's is missing,
    # S10 is not in the safety population); related grade >= 3: S01 (seq 1 is grade 2, but
    # seq 3 is grade 1 -> no), S03 (7: grade 3), S07 (11: grade 4) = 2; serious: S07;
    # discontinuation: S03; death: S07 (AEOUT FATAL); immune-related: S01 (3) = 1
    assert ov == {"Any TEAE": 6, "Treatment-related TEAE": 3, "Grade \u2265 3 TEAE": 3,
                  "Treatment-related grade \u2265 3 TEAE": 2, "Serious TEAE": 1,
                  "Treatment-related serious TEAE": 1,
                  "TEAE leading to discontinuation of study treatment": 1,
                  "TEAE leading to death": 1, "Immune-related TEAE": 1}
    assert list(ov) == ["Any TEAE", "Treatment-related TEAE", "Grade \u2265 3 TEAE",
                        "Treatment-related grade \u2265 3 TEAE", "Serious TEAE",
                        "Treatment-related serious TEAE",
                        "TEAE leading to discontinuation of study treatment",
                        "TEAE leading to death", "Immune-related TEAE"]


# --- Simon two-stage design -----------------------------------------------------------

def _brute_force(p0, p1, alpha, power, n_max):
    """Every (r1, n1, r, n) with n <= n_max, by plain loops over Simon's formula."""
    out = []
    for n in range(2, n_max + 1):
        for n1 in range(1, n):
            n2 = n - n1
            for r1, r in itertools.product(range(n1), range(n)):
                if r < r1:
                    continue
                x1 = np.arange(r1 + 1, n1 + 1)

                def rej(p):
                    return float(np.sum(binom.pmf(x1, n1, p) * binom.sf(r - x1, n2, p)))

                if rej(p0) <= alpha and rej(p1) >= power:
                    pet = binom.cdf(r1, n1, p0)
                    out.append((n1 + (1 - pet) * (n - n1), n, n1, r1, r))
    return out


@pytest.mark.parametrize("p0,p1,alpha,power,optimal,minimax", [
    # Simon R. Optimal two-stage designs for phase II clinical trials. Control Clin Trials
    # 1989;10:1-10, Table 1 (alpha 0.05, beta 0.20): r1/n1, r/n
    (0.05, 0.25, 0.05, 0.80, (0, 9, 2, 17), (0, 12, 2, 16)),
    (0.10, 0.30, 0.05, 0.80, (1, 10, 5, 29), (1, 15, 5, 25)),
    (0.20, 0.40, 0.05, 0.80, (3, 13, 12, 43), (4, 18, 10, 33)),
])
def test_simon_search_matches_published_designs(p0, p1, alpha, power, optimal, minimax):
    d = simon_design(p0, p1, alpha, power)
    assert (d.r1, d.n1, d.r, d.n) == optimal
    assert d.alpha <= alpha and d.power >= power
    m = simon_design(p0, p1, alpha, power, criterion="minimax")
    assert (m.r1, m.n1, m.r, m.n) == minimax


def test_simon_operating_characteristics_published():
    # Simon (1989) Table 1, p0 0.05 / p1 0.25: optimal EN(p0) 12.0, PET(p0) 0.63
    d = operating_characteristics(0, 9, 2, 17, 0.05, 0.25)
    assert round(d.en0, 1) == 12.0 and round(d.pet0, 2) == 0.63
    # PET(p0) = P(X1 = 0 | 9, 0.05) = 0.95^9
    assert d.pet0 == pytest.approx(0.95 ** 9)


def test_simon_search_against_brute_force():
    # an independent enumeration (loops, scipy per design) for a case small enough to list
    p0, p1, alpha, power = 0.10, 0.45, 0.05, 0.80
    cands = _brute_force(p0, p1, alpha, power, 16)
    en, n, n1, r1, r = min(cands)
    d = simon_design(p0, p1, alpha, power, n_max=16)
    assert (d.n1, d.r1, d.n, d.r) == (n1, r1, n, r)
    assert d.en0 == pytest.approx(en)
    nm = min(c[1] for c in cands)
    best_m = min((c for c in cands if c[1] == nm))
    m = simon_design(p0, p1, alpha, power, criterion="minimax", n_max=16)
    assert (m.n, m.n1, m.r1, m.r) == (best_m[1], best_m[2], best_m[3], best_m[4])


def test_simon_no_design_within_n_max():
    assert simon_design(0.05, 0.10, 0.05, 0.90, n_max=20) is None


def test_simon_spec_is_validated():
    with pytest.raises(ValidationError, match="p0"):
        SimonTwoStage(p0=0.3, p1=0.2, alpha=0.05, power=0.8)
    with pytest.raises(ValidationError, match="all of n1, r1, n, r"):
        SimonTwoStage(p0=0.1, p1=0.3, alpha=0.05, power=0.8, n1=10, r1=1)
    with pytest.raises(ValidationError, match="r1 < n1 < n"):
        SimonTwoStage(p0=0.1, p1=0.3, alpha=0.05, power=0.8, n1=10, r1=1, n=8, r=5)
    s = load_study("surufatinib-envafolimab-sts").design.simon_two_stage
    assert (s.p0, s.p1, s.alpha, s.power, s.confirmed) == (0.10, 0.25, 0.05, 0.80, True)
    assert load_study("surufatinib-sts").design.simon_two_stage is None


def test_bad_simon_block_is_a_spec_error_with_its_line(tmp_path):
    from studybuild.errors import SpecError
    from studybuild.study import Study
    from studybuild.yamlspec import load_model

    src = (Path(__file__).parent.parent / "specs" / "studies" / "surufatinib-envafolimab-sts"
           / "study.yaml").read_text(encoding="utf-8")
    assert "    p1: 0.25\n" in src
    path = tmp_path / "study.yaml"
    path.write_text(src.replace("    p1: 0.25\n", "    p1: 0.05\n"), encoding="utf-8")
    with pytest.raises(SpecError, match=r"study\.yaml:\d+: design\.simon_two_stage: p0"):
        load_model(Study, path)


def test_simon_stages_follow_enrolment_order(hand):
    # enrolment in reverse order: S10, S09, ..., S01 (one day apart); S11 is not in FASFL
    adsl = hand["ADSL"].copy()
    order = {f"HAND01-S{i:02d}": i for i in range(1, 12)}
    adsl["ENRLDT"] = (pd.Timestamp("2021-01-01")
                      - pd.to_timedelta(adsl["USUBJID"].map(order), unit="D")
                      ).astype("datetime64[s]")
    spec = SimonTwoStage(p0=0.1, p1=0.3, alpha=0.05, power=0.8, n1=4, r1=0, n=8, r=2)
    ep = compute_endpoints({**hand, "ADSL": adsl}, simon=spec)
    s = ep.simon
    # confirmed BOR (CBOR): S01 CR, S02 PR; the rest not responders.  First 4 enrolled:
    # S10 (missing), S09 NE, S08 PD, S07 PD -> 0 responders <= r1 = 0: stop for futility.
    # First 8: S10..S03 -> 0 responders; all 10: 2 (S01, S02) = 20% (2.5-55.6)
    assert s.order_var == "ENRLDT" and not s.computed and s.paramcd == "CBOR"
    assert (s.stage1_n, s.stage1_responders, s.final_n, s.final_responders) == (4, 0, 8, 0)
    assert (s.total.n, s.total.N) == (2, 10)
    assert (s.total.lower, s.total.upper) == pytest.approx((0.0252, 0.5561), abs=1e-4)
    # without ENRLDT: TRTSDT (the same day for all), then USUBJID: S01..S04 -> 2 > 0
    ep2 = compute_endpoints(hand, simon=spec)
    assert ep2.simon.order_var == "TRTSDT"
    assert (ep2.simon.stage1_responders, ep2.simon.final_responders) == (2, 2)


def test_simon_on_the_page(hand, tmp_path):
    study = load_study("surufatinib-envafolimab-sts")
    write_report(hand, tmp_path, study=study, inventory=[])
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    # the study's design is computed (p0 0.10, p1 0.25, 0.05, 0.80 -> 2/18, 7/43); the hand
    # data have 10 subjects, so both stages are reported as incomplete, with no decision
    assert "2/18: stop for futility if at most 2 of the first 18 subjects respond" in html
    assert "7/43: promising if more than 7 of 43 subjects respond" in html
    assert "2 of the first 10 subjects responded (only 10 of the planned 18 enrolled)" in html


def test_simon_when_the_caller_computed_endpoints_without_it(hand, tmp_path):
    # the build computes the numbers while it writes the datasets and passes them in; the
    # page still reads the primary endpoint against the study's design, without changing
    # the caller's object
    study = load_study("surufatinib-envafolimab-sts")
    ep = compute_endpoints(hand)
    assert ep.simon is None
    write_report(hand, tmp_path, study=study, inventory=[], endpoints=ep)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "2/18: stop for futility if at most 2 of the first 18 subjects respond" in html
    assert ep.simon is None


# --- swimmer: no bar past the end of treatment or death ------------------------------

def test_swimmer_bar_stops_at_end_of_treatment_or_death(hand):
    adsl = hand["ADSL"].copy()
    # S02 stopped on 2021-11-09 (day 310) and died 2021-12-29, but EOTSTT still says
    # ONGOING (the ADSL bug being fixed elsewhere); S09 has no TRTEDT, no EOTSTT, and died
    # on 2021-06-02 (day 150)
    adsl.loc[adsl["SUBJID"] == "S02", "EOTSTT"] = "ONGOING"
    s09 = adsl["SUBJID"] == "S09"
    adsl.loc[s09, ["TRTEDT", "EOTSTT"]] = [pd.NaT, None]
    adsl.loc[s09, "DTHDT"] = pd.Timestamp("2021-06-02")
    ep = compute_endpoints({**hand, "ADSL": adsl}, data_cutoff=dt.date(2022, 3, 31))
    s = ep.swimmer.set_index("SUBJID")
    assert s.loc["S02", "duration"] == 310 and not s.loc["S02", "ongoing"]
    assert s.loc["S09", "duration"] == 150 and not s.loc["S09", "ongoing"]
    assert s.loc["S01", "duration"] == 452 and s.loc["S01", "ongoing"]   # still on: cut-off


# --- waterfall axis -----------------------------------------------------------------

def test_waterfall_axis_fits_the_data():
    # data within -38..+27: 10 points beyond, rounded out to tens; the -30/+20 lines inside
    assert waterfall_limits(np.array([-38.0, -5.0, 27.0])) == (-50.0, 40.0)
    # small changes still show both RECIST lines
    assert waterfall_limits(np.array([-3.0, 4.0])) == (-40.0, 30.0)
    # complete disappearance: never below -105
    assert waterfall_limits(np.array([-100.0, 60.0])) == (-105.0, 70.0)


# --- ADAE: immune-related flag from SUPPAE -------------------------------------------

def test_adae_takes_supp_qualifiers_from_the_study_option():
    from adam.adae import build_adae
    from adam.options import AdaeOptions, AdamOptions
    from studybuild.findings import Findings

    adsl = pd.DataFrame({"STUDYID": ["S"], "USUBJID": ["S-1"],
                         "TRTSDT": pd.to_datetime(["2021-01-10"]).astype("datetime64[s]"),
                         "TRTEDT": pd.to_datetime(["2021-02-10"]).astype("datetime64[s]")})
    ae = pd.DataFrame({"STUDYID": "S", "USUBJID": "S-1", "AESEQ": [1.0, 2.0, 3.0],
                       "AEDECOD": ["PNEUMONITIS", "RASH", "NAUSEA"],
                       "AEBODSYS": ["RESP", "SKIN", "GI"],
                       "AESTDTC": ["2021-01-20", "2021-01-25", "2021-02-01"]})
    supp = pd.DataFrame({"STUDYID": "S", "RDOMAIN": "AE", "USUBJID": "S-1", "IDVAR": "AESEQ",
                         "IDVARVAL": ["1", "2", "1"], "QNAM": ["AEIRAE", "AEIRAE", "OTHER"],
                         "QVAL": ["Y", "N", "x"]})
    opts = AdamOptions(adae=AdaeOptions(supp={"AEIRAE": "AEIRAE"}))
    adae = build_adae(adsl, {"AE": ae, "SUPPAE": supp}, options=opts, findings=Findings())
    # AESEQ 1 -> Y, 2 -> N, 3 has no SUPPAE record -> missing
    assert adae["AEIRAE"].tolist()[:2] == ["Y", "N"] and pd.isna(adae["AEIRAE"].iloc[2])
    # without the option ADAE has no AEIRAE
    plain = build_adae(adsl, {"AE": ae, "SUPPAE": supp}, options=AdamOptions(),
                       findings=Findings())
    assert "AEIRAE" not in plain.columns
