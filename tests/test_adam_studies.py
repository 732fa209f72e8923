"""Both simulated studies end to end: simulate -> SDTM -> ADaM with the study's ADaM options.

The simulator writes what it decided into ``_truth/`` (docs/simulator.md); the derivations
must agree with it wherever the truth is unambiguous from the collected data:

- first/last dose, death, end of study dates; best overall response (confirmed and not) and
  responders by the investigator; PFS (first-dose origin, FDA-style censoring) and OS
  censoring; treatment-emergent flags; the assessments where the investigator's response
  differs from RECIST 1.1 recomputed from the measurements.
- not comparable: a partial death date (the truth knows the day, the data do not); the last
  known alive date, which the truth takes from consent, visits, doses, scans and survival
  contacts only (we also count AE, concomitant-medication and disposition dates such as a
  withdrawal), and for subjects still on treatment from dispensing lines SDTM EX collapses.

The ADaM datasets then pass the conformance checks (validation.run) with no error.
"""

from __future__ import annotations

import pandas as pd
import pytest




@pytest.fixture()
def run(seed_build):
    """Each seed study simulated, mapped and derived once per session (tests/conftest.py)."""
    study, raw, _sdtm, res, truth, studyid = seed_build
    return study, raw, res, truth, studyid


def _dates(s: pd.Series) -> pd.Series:
    return pd.Series([None if pd.isna(v) else v.strftime("%Y-%m-%d") for v in s],
                     index=s.index, dtype=object)


def _text(s: pd.Series) -> pd.Series:
    return pd.Series([None if pd.isna(v) else str(v) for v in s], index=s.index, dtype=object)


def _param(res, name: str, code: str, col: str, index) -> pd.Series:
    d = res.datasets[name]
    return d[d["PARAMCD"].eq(code)].set_index("USUBJID")[col].reindex(index)


def _mismatch(ours: pd.Series, theirs: pd.Series) -> dict:
    o, t = _text(ours), _text(theirs.reindex(ours.index))
    bad = ~((o == t) | (o.isna() & t.isna()))
    return {k: (o[k], t[k]) for k in o.index[bad]}


def test_subject_dates_agree_with_truth(run):
    _, _, res, truth, _ = run
    adsl = res.datasets["ADSL"].set_index("USUBJID").reindex(truth.index)
    assert _mismatch(_dates(adsl["TRTSDT"]), truth["FIRST_DOSE_DT"]) == {}
    done = truth["TRT_ONGOING"].eq("N")
    assert _mismatch(_dates(adsl.loc[done, "TRTEDT"]), truth.loc[done, "LAST_DOSE_DT"]) == {}
    exact = adsl["DTHDTF"].isna()            # partial death dates are imputed
    assert _mismatch(_dates(adsl.loc[exact, "DTHDT"]), truth.loc[exact, "DTH_DT"]) == {}
    assert _mismatch(_dates(adsl["EOSDT"]), truth["EOS_DT"]) == {}
    # last known alive: never earlier than the truth's; equal where our date comes from a
    # source the truth also reads
    ours = pd.to_datetime(adsl["LSTALVDT"])
    theirs = pd.to_datetime(truth["LKA_DT"])
    alive = adsl["DTHDT"].isna().to_numpy()
    same_src = ~adsl["LALVDOM"].isin(["AE", "CM", "DS"]).to_numpy() & done.to_numpy()
    assert (ours[alive & done.to_numpy()] >= theirs[alive & done.to_numpy()]).all()
    assert _mismatch(_dates(adsl.loc[alive & same_src, "LSTALVDT"]),
                     truth.loc[alive & same_src, "LKA_DT"]) == {}


def test_best_response_agrees_with_truth(run):
    _, _, res, truth, _ = run
    idx = truth.index
    assert _mismatch(_param(res, "ADRS", "CBOR", "AVALC", idx), truth["BOR_INV"]) == {}
    assert _mismatch(_param(res, "ADRS", "BOR", "AVALC", idx), truth["BOR_INV_UNCONF"]) == {}
    assert _mismatch(_param(res, "ADRS", "CRSP", "AVALC", idx), truth["RSP_INV"]) == {}
    assert _mismatch(_param(res, "ADRS", "RSP", "AVALC", idx), truth["RSP_INV_UNCONF"]) == {}


def test_pfs_and_os_agree_with_truth(run):
    _, _, res, truth, _ = run
    idx = truth.index
    pfs_adt = _dates(_param(res, "ADTTE", "PFS", "ADT", idx))
    pfs_cnsr = _param(res, "ADTTE", "PFS", "CNSR", idx).map(lambda v: str(int(v)))
    why = _param(res, "ADTTE", "PFS", "EVNTDESC", idx)
    # the truth does not apply the missed-assessment rule of fda2018
    plain = ~why.str.contains("Missed", regex=False).fillna(False)
    assert _mismatch(pfs_adt[plain], truth.loc[plain, "PFS_DT"]) == {}
    assert _mismatch(pfs_cnsr[plain], truth.loc[plain, "PFS_CNSR"]) == {}
    os_cnsr = _param(res, "ADTTE", "OS", "CNSR", idx).map(lambda v: str(int(v)))
    assert _mismatch(os_cnsr, truth["OS_CNSR"]) == {}
    adsl = res.datasets["ADSL"].set_index("USUBJID").reindex(idx)
    dead = truth["OS_CNSR"].eq("0") & adsl["DTHDTF"].isna()
    os_adt = _dates(_param(res, "ADTTE", "OS", "ADT", idx))
    assert _mismatch(os_adt[dead], truth.loc[dead, "OS_DT"]) == {}
    # every OS/PFS origin is the first dose (single-arm studies)
    tte = res.datasets["ADTTE"]
    first = tte.merge(res.datasets["ADSL"][["USUBJID", "TRTSDT"]], on="USUBJID")
    sub = first[first.PARAMCD.isin(["OS", "PFS"])]
    assert (sub["STARTDT"] == sub["TRTSDT_y" if "TRTSDT_y" in sub else "TRTSDT"]).all()


def test_teae_flags_agree_with_truth(run):
    _, raw, res, _, studyid = run
    ae = pd.read_csv(raw / "_truth" / "ae.csv", dtype=str)
    ae["USUBJID"] = studyid + "-" + ae["Subject"]
    adae = res.datasets["ADAE"].assign(
        AESPID=lambda d: pd.to_numeric(d["AESPID"], errors="coerce").astype("Int64").astype(str))
    m = adae.merge(ae, on=["USUBJID", "AESPID"], how="inner")
    assert len(m) == len(ae) == len(adae)
    assert (m["TRTEMFL"].fillna("N") == m["TEAE"]).all()


def test_recist_recomputation_finds_exactly_the_simulated_disagreements(run):
    _, raw, res, truth, studyid = run
    asm = pd.read_csv(raw / "_truth" / "assessments.csv", dtype=str)
    want = asm[asm["DISAGREE"].eq("Y")]
    want = sorted(zip(studyid + "-" + want["Subject"], want["DATE"], want["OVERALL_INV"],
                      want["OVERALL_RECIST"]))
    rc = res.recist_check
    got = sorted(zip(rc["USUBJID"], _dates(rc["ADT"]), rc["INVESTIGATOR"], rc["RECOMPUTED"]))
    assert got == want and len(got) > 0


def test_adam_passes_conformance_checks(run):
    from validation.run import validate

    study, _, res, _, _ = run
    report = validate(res.datasets, metadata=res.metadata)
    errors = [f"{f.rule_id} {f.location}: {f.message}" for f in report.findings.errors]
    assert errors == []
    # and our own findings have no error either
    assert not res.findings.has_errors, [f.message for f in res.findings.errors]
