"""Endpoint numbers of the reviewer report against hand counts and independent computations.

Hand-built ADaM: tests/data/report/handmade/ (written by make_handmade.py; README.md there has
the design). Ten efficacy subjects S01-S10 (FASFL = Y), screen failure S11 (FASFL = N), nine
dosed S01-S09 (SAFFL = Y).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq
from scipy.stats import binom, norm

from studybuild.datasets import read_folder
from studybuild.errors import InputError
from studybuild.report import (DAYS_PER_MONTH, clopper_pearson, compute_endpoints,
                               kaplan_meier, numbers_at_risk, survival_quantile)
from studybuild.report.endpoints import at_risk_grid

DATA = Path(__file__).parent / "data"
HAND = DATA / "report" / "handmade"
PHARMAVERSE = DATA / "pharmaverse" / "adam"
ARM = "DRUG X 100 MG QD"


@pytest.fixture(scope="module")
def hand() -> dict[str, pd.DataFrame]:
    return read_folder(HAND).frames()


@pytest.fixture(scope="module")
def ep(hand):
    return compute_endpoints(hand)


@pytest.fixture(scope="module")
def pv() -> dict[str, pd.DataFrame]:
    return read_folder(PHARMAVERSE).frames()


@pytest.fixture(scope="module")
def ep_pv(pv):
    return compute_endpoints(pv)


# --- Clopper-Pearson -------------------------------------------------------------------

def _cp_by_tails(x: int, n: int, a: float = 0.05) -> tuple[float, float]:
    """Exact limits from their definition, not from beta quantiles: the lower limit is the p
    with P(X >= x | p) = a/2, the upper the p with P(X <= x | p) = a/2."""
    lo = 0.0 if x == 0 else brentq(lambda p: binom.sf(x - 1, n, p) - a / 2, 1e-12, 1 - 1e-12)
    hi = 1.0 if x == n else brentq(lambda p: binom.cdf(x, n, p) - a / 2, 1e-12, 1 - 1e-12)
    return lo, hi


@pytest.mark.parametrize("x,n", [(3, 10), (2, 10), (6, 10), (0, 10), (10, 10), (4, 254)])
def test_clopper_pearson_matches_binomial_tail_definition(x, n):
    lo, hi = clopper_pearson(x, n)
    elo, ehi = _cp_by_tails(x, n)
    assert float(lo) == pytest.approx(elo, abs=1e-9)
    assert float(hi) == pytest.approx(ehi, abs=1e-9)


def test_clopper_pearson_published_values():
    # 3/10: the textbook exact interval 0.0667-0.6525 (e.g. Newcombe 1998, table II)
    lo, hi = clopper_pearson(3, 10)
    assert (round(float(lo), 4), round(float(hi), 4)) == (0.0667, 0.6525)
    lo, hi = clopper_pearson(0, 0)
    assert np.isnan(lo) and np.isnan(hi)


# --- response rates on the hand-built ADaM ---------------------------------------------

def test_population_and_groups(ep):
    assert ep.population == "FASFL" and ep.safety_population == "SAFFL"
    assert ep.groups == (ARM,)
    # S11 (FASFL = N) is not in the efficacy population
    assert ep.subjects["SUBJID"].tolist() == [f"S{i:02d}" for i in range(1, 11)]


def test_orr_dcr_hand_counts(ep):
    # BOR: S01 CR, S02 PR, S03 PR, S04-S06 SD, S07-S08 PD, S09 NE, S10 no record (missing);
    # S11 has PR but is outside FASFL.  ORR = CR+PR = 3/10; DCR = +SD = 6/10.
    # CBOR: S03's PR was not confirmed (SD): confirmed ORR = 2/10, DCR still 6/10.
    expected = {("ORR", False): (3, 10), ("ORR", True): (2, 10),
                ("DCR", False): (6, 10), ("DCR", True): (6, 10)}
    for (endpoint, confirmed), (n, N) in expected.items():
        p = ep.rate(endpoint, confirmed=confirmed)
        lo, hi = _cp_by_tails(n, N)
        assert (p.n, p.N) == (n, N)
        assert p.estimate == pytest.approx(n / N)
        assert (p.lower, p.upper) == pytest.approx((lo, hi), abs=1e-9)


def test_bor_distribution_counts_missing_subjects(ep):
    b = ep.bor[ep.bor["PARAMCD"] == "BOR"].set_index("AVALC")
    assert b["n"].to_dict() == {"CR": 1, "PR": 2, "SD": 3, "PD": 2, "NE": 1, "MISSING": 1}
    assert list(b.index) == ["CR", "PR", "SD", "PD", "NE", "MISSING"]      # display order
    assert set(b["N"]) == {10}
    assert b.loc["PR", "pct"] == pytest.approx(20.0)
    c = ep.bor[ep.bor["PARAMCD"] == "CBOR"].set_index("AVALC")["n"].to_dict()
    assert c == {"CR": 1, "PR": 1, "SD": 4, "PD": 2, "NE": 1, "MISSING": 1}


# --- Kaplan-Meier ----------------------------------------------------------------------

def test_survival_quantile_rules():
    t = np.array([0.0, 10, 20, 30])
    # first time S <= 0.5
    assert survival_quantile(t, np.array([1.0, 0.8, 0.4, 0.2])) == 20
    # S exactly 0.5 on [10, 20) and lower later: midpoint (10 + 20) / 2
    assert survival_quantile(t, np.array([1.0, 0.5, 0.25, 0.0])) == 15
    # S stays at 0.5 to the end: the start of the flat
    assert survival_quantile(t, np.array([1.0, 0.75, 0.5, 0.5])) == 20
    # never reaches 0.5: not reached
    assert np.isnan(survival_quantile(t, np.array([1.0, 0.9, 0.8, 0.7])))


def _greenwood_loglog(time, event, z):
    """Product-limit estimate with log(-log) Greenwood bands, written out from the formulas:
    S(t) = prod (1 - d_i / n_i); V = sum d_i / (n_i (n_i - d_i)) / (log S)^2;
    bands S^exp(+-z sqrt V)."""
    ts = np.unique(time[event == 1])
    n = np.array([(time >= t).sum() for t in ts], dtype=float)
    d = np.array([((time == t) & (event == 1)).sum() for t in ts], dtype=float)
    s = np.cumprod(1 - d / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.cumsum(d / (n * (n - d))) / np.log(s) ** 2
        lo = s ** np.exp(z * np.sqrt(v))
        hi = s ** np.exp(-z * np.sqrt(v))
    return ts, s, lo, hi


def test_km_pfs_hand_worked(ep, hand):
    # PFS days (c = censored): 1c 45 60 100c 150 180c 200 250 300 400c
    # n at risk / S:  45: 9 -> 8/9;  60: 8 -> 7/9;  150: 6 -> 7/9*5/6 = 35/54 = .648;
    #                 200: 4 -> 35/54*3/4 = 105/216 = .486  <= .5  => median 200 days
    #                 250: 3 -> .324;  300: 2 -> .162
    row = ep.km[ep.km["PARAMCD"] == "PFS"].iloc[0]
    assert (row["n"], row["events"], row["censored"]) == (10, 6, 4)
    assert row["median"] == 200
    c = ep.km_curves[ep.km_curves["PARAMCD"] == "PFS"].set_index("time")["survival"]
    for t, s in {45: 8 / 9, 60: 7 / 9, 150: 35 / 54, 200: 105 / 216, 250: 70 / 216,
                 300: 35 / 216, 400: 35 / 216}.items():
        assert c[t] == pytest.approx(s)
    # the median's limits: where the log(-log) bands cross 0.5
    pfs = hand["ADTTE"][hand["ADTTE"]["PARAMCD"] == "PFS"]
    ts, s, lo, hi = _greenwood_loglog(pfs["AVAL"].to_numpy(), 1 - pfs["CNSR"].to_numpy(),
                                      norm.ppf(0.975))
    exp_lower = ts[np.argmax(lo <= 0.5)]
    assert row["lower"] == exp_lower == 45            # lower band at 45 days is 0.43
    assert np.isnan(row["upper"]) and not (hi <= 0.5).any()   # upper band never reaches .5
    bands = ep.km_curves[ep.km_curves["PARAMCD"] == "PFS"].set_index("time")
    assert bands.loc[ts, "lower"].to_numpy() == pytest.approx(lo, nan_ok=True)
    assert bands.loc[ts, "upper"].to_numpy() == pytest.approx(hi, nan_ok=True)


def test_km_os_median_is_midpoint_of_flat_at_half(ep):
    # OS days: events 90 150 200 250 300 360, censored 400 400 420 420 (no early censoring)
    # S: .9 .8 .7 .6 .5 (from 300) then .4 at 360 -> S is exactly 0.5 on [300, 360):
    # median = (300 + 360) / 2 = 330 days (R survival / SAS rule)
    row = ep.km[ep.km["PARAMCD"] == "OS"].iloc[0]
    assert (row["n"], row["events"]) == (10, 6)
    assert row["median"] == 330


def test_dor_hand_worked(ep):
    # RSD (responders S01-S03, from first response on day 43): S03 208, S02 258, S01 358c
    # S: 208 -> 2/3, 258 -> 1/3 <= .5  => median 258 days
    row = ep.km[ep.km["PARAMCD"] == "RSD"].iloc[0]
    assert (row["n"], row["events"], row["median"]) == (3, 2, 258)
    d = ep.dor.set_index("SUBJID")
    assert d["AVAL"].to_dict() == {"S01": 358, "S02": 258, "S03": 208}
    assert d.loc["S03", "BOR"] == "PR" and d.loc["S03", "CBOR"] == "SD"


def test_numbers_at_risk_hand_worked(ep):
    # grid: 2-month steps (PFS goes to 400 days = 13.1 months; 1-month steps would need 14
    # ticks).  At risk = subjects with AVAL >= t:
    #   0 d: 10;  60.9 d: 7 (100..400);  121.8 d: 6;  182.6 d: 4 (200 250 300 400);
    #   243.5 d: 3;  304.4 d: 1 (400);  365.3 d: 1
    r = ep.at_risk[ep.at_risk["PARAMCD"] == "PFS"]
    assert (r["time"] / DAYS_PER_MONTH).round(6).tolist() == [0, 2, 4, 6, 8, 10, 12]
    assert r["n_at_risk"].tolist() == [10, 7, 6, 4, 3, 1, 1]
    assert numbers_at_risk(np.array([1.0, 5, 5, 9]), [0, 5, 6, 10]).tolist() == [4, 3, 1, 0]


def test_at_risk_grid_and_override(hand):
    assert (at_risk_grid(43) / DAYS_PER_MONTH).tolist() == [0, 0.5, 1.0]
    ep = compute_endpoints(hand, at_risk_months=[0, 3, 6])
    r = ep.at_risk[ep.at_risk["PARAMCD"] == "PFS"]
    # 0: 10; 91.3 d: 7 (100 150 180 200 250 300 400); 182.6 d: 4
    assert r["n_at_risk"].tolist() == [10, 7, 4]


def test_kaplan_meier_small_case():
    # 4 events at 1, 2, 3, 4: S = .75 .5 .25 0 -> flat at .5 on [2, 3): median 2.5
    fit = kaplan_meier(np.array([1.0, 2, 3, 4]), np.array([1, 1, 1, 1]))
    assert fit.median == 2.5 and fit.events == 4 and fit.n == 4
    empty = kaplan_meier(np.array([]), np.array([]))
    assert empty.n == 0 and np.isnan(empty.median)


# --- waterfall and swimmer -------------------------------------------------------------

def test_waterfall_best_change(ep):
    # minimum post-baseline PCHG among ANL01FL records; baseline rows (ABLFL) excluded;
    # S08's -50 is not analysed (ANL01FL blank), so its best is +25; S09 has baseline only.
    w = ep.waterfall
    assert w["SUBJID"].tolist() == ["S07", "S08", "S05", "S04", "S06", "S03", "S02", "S01"]
    assert w["PCHG"].tolist() == [30, 25, 5, -10, -20, -35, -45, -100]
    # coloured by confirmed BOR (CBOR): S03 is SD there
    assert w["RESPONSE"].tolist() == ["PD", "PD", "SD", "SD", "SD", "SD", "PR", "CR"]
    assert ep.waterfall_source == "SUMDIAM" and ep.response_basis == "CBOR"


def test_swimmer_durations_and_events(ep):
    s = ep.swimmer.set_index("SUBJID")
    # S10 was never dosed (no TRTSDT): not drawn.  Duration = TRTEDT - TRTSDT + 1;
    # S01 is ongoing (no TRTEDT): drawn to the last date known alive (day 420).
    assert list(s.index) == ["S01", "S02", "S03", "S04", "S05", "S06", "S09", "S07", "S08"]
    assert s["duration"].to_dict() == {"S01": 420, "S02": 310, "S03": 260, "S04": 210,
                                       "S05": 180, "S06": 160, "S09": 100, "S07": 70,
                                       "S08": 50}
    assert s["ongoing"].tolist() == [True] + [False] * 8
    assert s.loc["S07", "death_day"] == 150 and np.isnan(s.loc["S05", "death_day"])
    assert s.loc["S05", "followup_end"] == 400
    e = ep.swimmer_events
    assert e[e["USUBJID"] == "HAND01-S01"][["day", "AVALC"]].values.tolist() == \
        [[43, "PR"], [85, "CR"]]
    assert len(e) == 8


def test_swimmer_limits_subjects_and_says_so(hand):
    ep = compute_endpoints(hand, swimmer_max_subjects=5)
    # 9 treated > 5: only the 5 subjects with an OVR record (S01 S02 S03 S07 S09) are drawn
    assert sorted(ep.swimmer["SUBJID"]) == ["S01", "S02", "S03", "S07", "S09"]
    assert "9 treated subjects" in ep.swimmer_note


# --- TEAEs -----------------------------------------------------------------------------

def test_teae_by_soc_pt_max_grade(ep):
    # TRTEMFL = Y in SAFFL (S01-S09); S04's AE is not treatment-emergent; S10 is not dosed.
    # max grade per subject overall: S01 3, S02 2, S03 3, S05 1, S07 4, S08 missing
    # GI: S01 diarrhoea 1, S02 diarrhoea 2, S03 diarrhoea 3 + nausea 1, S08 diarrhoea ?
    # Vascular: S01 hypertension 2 and 3 (once, at 3), S02 1, S07 4
    t = ep.teae
    got = t[["LEVEL", "AESOC", "AEDECOD", "N", "ANY", "G1", "G2", "G3", "G4", "G5",
             "GMISSING"]].fillna("").values.tolist()
    gi, vasc = "GASTROINTESTINAL DISORDERS", "VASCULAR DISORDERS"
    gen = "GENERAL DISORDERS AND ADMINISTRATION SITE CONDITIONS"
    ren = "RENAL AND URINARY DISORDERS"
    assert got == [
        ["ANY", "", "", 9, 6, 1, 1, 2, 1, 0, 1],
        ["SOC", gi, "", 9, 4, 1, 1, 1, 0, 0, 1],
        ["PT", gi, "DIARRHOEA", 9, 4, 1, 1, 1, 0, 0, 1],
        ["PT", gi, "NAUSEA", 9, 1, 1, 0, 0, 0, 0, 0],
        ["SOC", vasc, "", 9, 3, 1, 0, 1, 1, 0, 0],
        ["PT", vasc, "HYPERTENSION", 9, 3, 1, 0, 1, 1, 0, 0],
        ["SOC", gen, "", 9, 1, 1, 0, 0, 0, 0, 0],        # 1 subject: ties by name
        ["PT", gen, "FATIGUE", 9, 1, 1, 0, 0, 0, 0, 0],
        ["SOC", ren, "", 9, 1, 1, 0, 0, 0, 0, 0],
        ["PT", ren, "PROTEINURIA", 9, 1, 1, 0, 0, 0, 0, 0],
    ]
    ov = ep.teae_overview.set_index("CATEGORY")["n"].to_dict()
    # grade >= 3: S01, S03, S07; serious: S07; no grade 5, so none leading to death (the
    # row is shown with 0 because ADAE has a CTCAE grade)
    assert ov == {"Any TEAE": 6, "Grade \u2265 3 TEAE": 3, "Serious TEAE": 1,
                  "TEAE leading to death": 0}
    # grade >= 3 column = subjects whose worst grade on the row is 3, 4 or 5
    assert t["HIGH"].tolist() == [3, 1, 1, 0, 2, 2, 0, 0, 0, 0]
    assert ep.grade_source == "ATOXGRN"


def test_teae_severity_fallback(hand):
    ae = hand["ADAE"].drop(columns=["ATOXGRN", "ATOXGR"]).assign(
        AESEV=["MODERATE", "SEVERE", "MILD", "MILD", "MODERATE", "MILD", "SEVERE", "MILD",
               "MODERATE", "MILD", "SEVERE", "MILD", "MILD"])
    ep = compute_endpoints({**hand, "ADAE": ae})
    assert ep.grade_source == "AESEV" and ep.grade_labels == ("Mild", "Moderate", "Severe")
    anyrow = ep.teae[ep.teae["LEVEL"] == "ANY"].iloc[0]
    # max severity: S01 severe, S02 moderate, S03 severe, S05 mild, S07 severe, S08 mild
    assert (anyrow["G1"], anyrow["G2"], anyrow["G3"]) == (2, 1, 3)
    assert any("severity" in n for n in ep.notes)


# --- missing and bad input -------------------------------------------------------------

def test_missing_datasets_give_empty_sections(hand):
    ep = compute_endpoints({"ADSL": hand["ADSL"]})
    assert ep.available == {"ADSL": True, "ADRS": False, "ADTTE": False, "ADTR": False,
                            "ADAE": False}
    assert ep.rates.empty and ep.km.empty and ep.waterfall.empty and ep.teae.empty
    assert len(ep.swimmer) == 9 and ep.swimmer_events.empty
    nothing = compute_endpoints({})
    assert nothing.subjects.empty and nothing.swimmer.empty
    assert any("ADSL is not available" in n for n in nothing.notes)


def test_without_adsl_counts_subjects_of_each_dataset(hand):
    ep = compute_endpoints({"ADRS": hand["ADRS"], "ADTTE": hand["ADTTE"]})
    # no population flag: S01-S09 and S11 have a BOR record; ORR = CR+PR = 4/10
    p = ep.rate("ORR", confirmed=False)
    assert (p.n, p.N) == (4, 10)
    assert ep.km[ep.km["PARAMCD"] == "PFS"]["n"].tolist() == [10]


def test_population_fallback_is_noted(hand):
    adsl = hand["ADSL"].drop(columns=["FASFL"])
    ep = compute_endpoints({**hand, "ADSL": adsl})
    assert ep.population == "SAFFL"
    assert "ADSL has no FASFL; the efficacy population is SAFFL = 'Y'." in ep.notes
    assert ep.rate("ORR", confirmed=False).N == 9


def test_duplicate_bor_is_an_input_error(hand):
    rs = hand["ADRS"]
    dup = pd.concat([rs, rs[rs["PARAMCD"] == "BOR"].head(1)], ignore_index=True)
    with pytest.raises(InputError, match="more than one analysed BOR record"):
        compute_endpoints({**hand, "ADRS": dup})


def test_missing_required_column_is_an_input_error(hand):
    with pytest.raises(InputError, match="ADTTE lacks CNSR"):
        compute_endpoints({**hand, "ADTTE": hand["ADTTE"].drop(columns=["CNSR"])})


def test_inputs_are_not_mutated(hand):
    before = {k: v.copy() for k, v in hand.items()}
    compute_endpoints(hand)
    for k, v in hand.items():
        pd.testing.assert_frame_equal(v, before[k])


# --- pharmaverse: our numbers against counts computed here with plain pandas -------------

def test_pharmaverse_response_counts(pv, ep_pv):
    adsl, adrs = pv["ADSL"], pv["ADRS"]
    # ADSL has no FASFL/ITTFL/EFFFL: the population falls back to SAFFL
    assert ep_pv.population == "SAFFL"
    pop = adsl.loc[adsl["SAFFL"] == "Y", ["USUBJID", "TRT01P"]]
    for paramcd, confirmed, rsp, cb in (("BOR", False, "RSP", "CB"),
                                        ("CBOR", True, "CRSP", "CCB")):
        best = adrs[adrs["PARAMCD"] == paramcd].set_index("USUBJID")["AVALC"]
        avalc = pop["USUBJID"].map(best).fillna("MISSING")
        for arm, grp in list(pop.groupby("TRT01P")) + [("Total", pop)]:
            a = avalc[grp.index]
            orr = int(a.isin(["CR", "PR"]).sum())
            dcr = int(a.isin(["CR", "PR", "SD", "NON-CR/NON-PD"]).sum())
            assert ep_pv.rate("ORR", confirmed=confirmed, group=arm).n == orr
            assert ep_pv.rate("DCR", confirmed=confirmed, group=arm).n == dcr
            assert ep_pv.rate("ORR", confirmed=confirmed, group=arm).N == len(grp)
        # and admiralonco's own responder parameters agree (RSP/CRSP, CB/CCB = "Y")
        for param, endpoint in ((rsp, "ORR"), (cb, "DCR")):
            y = adrs[(adrs["PARAMCD"] == param) & (adrs["AVALC"] == "Y")]["USUBJID"]
            assert ep_pv.rate(endpoint, confirmed=confirmed).n == \
                int(pop["USUBJID"].isin(y).sum())
    # totals: 4 unconfirmed responders (3 CR + 1 PR), 1 confirmed (PR) of 254
    assert ep_pv.rate("ORR", confirmed=False).n == 4
    assert ep_pv.rate("ORR", confirmed=True).n == 1
    assert ep_pv.rate("ORR", confirmed=False).N == 254


def _median_rule(ts: np.ndarray, s: np.ndarray) -> float:
    """First event time with S <= 0.5; if S is exactly 0.5 there and falls lower later, the
    midpoint between that time and the first time it is below 0.5."""
    hit = np.flatnonzero(s <= 0.5 + 1e-12)
    if hit.size == 0:
        return np.nan
    i = hit[0]
    lower = np.flatnonzero(s < 0.5 - 1e-12)
    if np.isclose(s[i], 0.5) and lower.size:
        return (ts[i] + ts[lower[0]]) / 2
    return ts[i]


def test_pharmaverse_km_against_product_limit(pv, ep_pv):
    adsl, adtte = pv["ADSL"], pv["ADTTE"]
    arm = adsl.set_index("USUBJID")["TRT01P"]
    saf = set(adsl.loc[adsl["SAFFL"] == "Y", "USUBJID"])
    for paramcd in ("PFS", "OS", "RSD"):
        rec = adtte[(adtte["PARAMCD"] == paramcd) & adtte["USUBJID"].isin(saf)]
        for g, r in rec.groupby(rec["USUBJID"].map(arm)):
            t = r["AVAL"].to_numpy()
            e = (r["CNSR"] == 0).to_numpy().astype(int)
            ts, s, _, _ = _greenwood_loglog(t, e, 1.96)
            row = ep_pv.km[(ep_pv.km["PARAMCD"] == paramcd) & (ep_pv.km["GROUP"] == g)].iloc[0]
            assert (row["n"], row["events"]) == (len(r), int(e.sum()))
            curve = ep_pv.km_curves[(ep_pv.km_curves["PARAMCD"] == paramcd)
                                    & (ep_pv.km_curves["GROUP"] == g)].set_index("time")
            assert curve.loc[ts, "survival"].to_numpy() == pytest.approx(s)
            expected = _median_rule(ts, s)
            assert row["median"] == pytest.approx(expected, nan_ok=True)
            risk = ep_pv.at_risk[(ep_pv.at_risk["PARAMCD"] == paramcd)
                                 & (ep_pv.at_risk["GROUP"] == g)]
            assert risk["n_at_risk"].tolist() == [int((t >= x).sum()) for x in risk["time"]]


def test_pharmaverse_waterfall_matches_admiral_best_flag(pv, ep_pv):
    # admiralonco's ADTR flags each subject's best (lowest) post-baseline analysed sum with
    # ANL02FL = "Y": our minimum must pick exactly those values
    tr = pv["ADTR"]
    best = tr[(tr["PARAMCD"] == "SDIAM") & (tr["ANL02FL"] == "Y")].set_index("USUBJID")["PCHG"]
    ours = ep_pv.waterfall.set_index("USUBJID")["PCHG"]
    assert sorted(ours.index) == sorted(best.index)
    assert ours.sort_index().to_numpy() == pytest.approx(best.sort_index().to_numpy())
    assert ep_pv.waterfall_source == "SDIAM"


def test_pharmaverse_teae_counts(pv, ep_pv):
    adsl, adae = pv["ADSL"], pv["ADAE"]
    saf = adsl.loc[adsl["SAFFL"] == "Y", ["USUBJID", "TRT01A"]]
    ae = adae[(adae["TRTEMFL"] == "Y") & adae["USUBJID"].isin(saf["USUBJID"])]
    t = ep_pv.teae
    tot = t[t["GROUP"] == "Total"]
    # subjects per SOC and their maximum severity (ASEVN), counted with plain pandas
    per = ae.groupby(["AESOC", "USUBJID"])["ASEVN"].max().reset_index()
    exp = per.groupby("AESOC")["ASEVN"].value_counts().unstack(fill_value=0)
    socs = tot[tot["LEVEL"] == "SOC"].set_index("AESOC")
    assert sorted(socs.index) == sorted(exp.index)
    for soc, row in exp.iterrows():
        assert socs.loc[soc, "ANY"] == row.sum()
        for g in (1, 2, 3):
            assert socs.loc[soc, f"G{g}"] == row.get(g, 0)
    # preferred terms, per treatment group
    per_pt = ae.groupby(["TRT01A", "AESOC", "AEDECOD"])["USUBJID"].nunique()
    pts = t[t["LEVEL"] == "PT"]
    pts = pts[pts["GROUP"] != "Total"].set_index(["GROUP", "AESOC", "AEDECOD"])["ANY"]
    assert pts.sort_index().to_dict() == per_pt.sort_index().to_dict()
    # any TEAE and denominators
    anyrow = tot[tot["LEVEL"] == "ANY"].iloc[0]
    assert (anyrow["ANY"], anyrow["N"]) == (ae["USUBJID"].nunique(), len(saf))
    # SOCs ordered by subjects (Total) descending
    assert socs["ANY"].tolist() == sorted(socs["ANY"].tolist(), reverse=True)


def test_swimmer_ongoing_runs_to_data_cutoff(hand):
    import datetime as dt

    ep = compute_endpoints(hand, data_cutoff=dt.date(2022, 3, 31))
    s = ep.swimmer.set_index("SUBJID")
    # S01 is still on treatment: first dose 2021-01-04 (day 1); 2022-01-04 is day 366 and
    # 2022-03-31 is 86 days later, day 452.  Subjects who stopped keep TRTEDT - TRTSDT + 1.
    assert s.loc["S01", "duration"] == 452
    assert s.loc["S02", "duration"] == 310
