"""Write the hand-built ADaM of tests/data/report/handmade/ (run once; the CSVs are committed).

Ten efficacy subjects (S01-S10, FASFL = Y), one screen failure (S11, FASFL = N), nine dosed
(S01-S09, SAFFL = Y). Every value was chosen by hand so that the endpoints can be worked out
with pencil and paper; the working is in tests/test_report_endpoints.py and README.md.

    .venv/bin/python tests/data/report/make_handmade.py
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

OUT = Path(__file__).parent / "handmade"
START = dt.date(2021, 1, 4)          # first dose of every dosed subject (study day 1)
STUDY = "HAND01"
ARM = "DRUG X 100 MG QD"


def day(n: int) -> str:
    """ISO date of study day n (day 1 = START)."""
    return (START + dt.timedelta(days=n - 1)).isoformat()


def adsl() -> pd.DataFrame:
    rows = []
    # subj, FASFL, SAFFL, last-dose day, EOTSTT, death day, last-alive day
    spec = [("S01", "Y", "Y", None, "ONGOING", None, 420),
            ("S02", "Y", "Y", 310, "DISCONTINUED", 360, 360),
            ("S03", "Y", "Y", 260, "DISCONTINUED", 300, 300),
            ("S04", "Y", "Y", 210, "DISCONTINUED", 250, 250),
            ("S05", "Y", "Y", 180, "DISCONTINUED", None, 400),
            ("S06", "Y", "Y", 160, "DISCONTINUED", 200, 200),
            ("S07", "Y", "Y", 70, "DISCONTINUED", 150, 150),
            ("S08", "Y", "Y", 50, "DISCONTINUED", 90, 90),
            ("S09", "Y", "Y", 100, "DISCONTINUED", None, 400),
            ("S10", "Y", "N", None, None, None, 420),
            ("S11", "N", "N", None, None, None, None)]
    for subj, fas, saf, last, eot, death, alive in spec:
        dosed = saf == "Y"
        rows.append({"STUDYID": STUDY, "USUBJID": f"{STUDY}-{subj}", "SUBJID": subj,
                     "TRT01P": ARM if subj != "S11" else "SCREEN FAILURE",
                     "TRT01A": ARM if dosed else None,
                     "FASFL": fas, "SAFFL": saf,
                     "TRTSDT": day(1) if dosed else None,
                     "TRTEDT": day(last) if last else None,
                     "EOTSTT": eot, "DTHDT": day(death) if death else None,
                     "LSTALVDT": day(alive) if alive else None})
    return pd.DataFrame(rows)


def adrs() -> pd.DataFrame:
    rows = []
    bor = {"S01": "CR", "S02": "PR", "S03": "PR", "S04": "SD", "S05": "SD", "S06": "SD",
           "S07": "PD", "S08": "PD", "S09": "NE", "S11": "PR"}      # S10: no record
    cbor = dict(bor, S03="SD", S11="PR")                              # S03 PR not confirmed
    for param, values in (("BOR", bor), ("CBOR", cbor)):
        for subj, v in values.items():
            rows.append({"USUBJID": f"{STUDY}-{subj}", "PARAMCD": param, "AVALC": v,
                         "ADT": day(43), "ANL01FL": "Y"})
    # per-assessment overall response: (subject, study day, response)
    ovr = [("S01", 43, "PR"), ("S01", 85, "CR"), ("S02", 43, "PR"), ("S02", 85, "PR"),
           ("S03", 43, "PR"), ("S03", 85, "SD"), ("S07", 43, "PD"), ("S09", 43, "NE")]
    for subj, d, v in ovr:
        rows.append({"USUBJID": f"{STUDY}-{subj}", "PARAMCD": "OVR", "AVALC": v, "ADT": day(d),
                     "ANL01FL": "Y"})
    out = pd.DataFrame(rows)
    out.insert(0, "STUDYID", STUDY)
    return out


def adtte() -> pd.DataFrame:
    rows = []
    pfs = {"S01": (400, 1), "S02": (300, 0), "S03": (250, 0), "S04": (200, 0),
           "S05": (180, 1), "S06": (150, 0), "S07": (60, 0), "S08": (45, 0), "S09": (100, 1),
           "S10": (1, 1)}
    os_ = {"S01": (420, 1), "S02": (360, 0), "S03": (300, 0), "S04": (250, 0),
           "S05": (400, 1), "S06": (200, 0), "S07": (150, 0), "S08": (90, 0), "S09": (400, 1),
           "S10": (420, 1)}
    # duration of response from the first response (day 43) to PFS event/censoring
    rsd = {"S01": (358, 1), "S02": (258, 0), "S03": (208, 0)}
    for param, label, values, origin in (
            ("PFS", "Progression-Free Survival (days)", pfs, 1),
            ("OS", "Overall Survival (days)", os_, 1),
            ("RSD", "Duration of Response (days)", rsd, 43)):
        for subj, (aval, cnsr) in values.items():
            rows.append({"USUBJID": f"{STUDY}-{subj}", "PARAMCD": param, "PARAM": label,
                         "STARTDT": day(origin), "ADT": day(origin + aval - 1), "AVAL": aval,
                         "CNSR": cnsr, "EVNTDESC": "Event" if cnsr == 0 else "Censored"})
    out = pd.DataFrame(rows)
    out.insert(0, "STUDYID", STUDY)
    return out


def adtr() -> pd.DataFrame:
    # subject, study day, sum of diameters, analysed?  (baseline 100 mm for everyone)
    meas = {"S01": [(43, 60.0, "Y"), (85, 0.0, "Y")],
            "S02": [(43, 55.0, "Y"), (85, 70.0, "Y")],
            "S03": [(43, 65.0, "Y"), (85, 80.0, "Y")],
            "S04": [(43, 90.0, "Y"), (85, 95.0, "Y")],
            "S05": [(43, 105.0, "Y")],
            "S06": [(43, 80.0, "Y"), (85, 85.0, "Y")],
            "S07": [(43, 130.0, "Y")],
            "S08": [(43, 125.0, "Y"), (85, 50.0, None)],   # not analysed (after new therapy)
            "S09": []}                                       # baseline only
    rows = []
    for subj, m in meas.items():
        rows.append({"USUBJID": f"{STUDY}-{subj}", "PARAMCD": "SUMDIAM", "ADT": day(-3),
                     "AVAL": 100.0, "BASE": 100.0, "CHG": 0.0, "PCHG": 0.0, "ABLFL": "Y",
                     "ANL01FL": "Y"})
        for d, v, anl in m:
            rows.append({"USUBJID": f"{STUDY}-{subj}", "PARAMCD": "SUMDIAM", "ADT": day(d),
                         "AVAL": v, "BASE": 100.0, "CHG": v - 100.0, "PCHG": v - 100.0,
                         "ABLFL": None, "ANL01FL": anl})
    out = pd.DataFrame(rows)
    out.insert(0, "STUDYID", STUDY)
    return out


def adae() -> pd.DataFrame:
    gi, vasc = "GASTROINTESTINAL DISORDERS", "VASCULAR DISORDERS"
    # subject, SOC, PT, grade, TRTEMFL, serious
    spec = [("S01", vasc, "HYPERTENSION", 2, "Y", "N"),
            ("S01", vasc, "HYPERTENSION", 3, "Y", "N"),
            ("S01", gi, "DIARRHOEA", 1, "Y", "N"),
            ("S02", vasc, "HYPERTENSION", 1, "Y", "N"),
            ("S02", gi, "DIARRHOEA", 2, "Y", "N"),
            ("S02", "RENAL AND URINARY DISORDERS", "PROTEINURIA", 1, "Y", "N"),
            ("S03", gi, "DIARRHOEA", 3, "Y", "N"),
            ("S03", gi, "NAUSEA", 1, "Y", "N"),
            ("S04", vasc, "HYPERTENSION", 2, None, "N"),      # not treatment-emergent
            ("S05", "GENERAL DISORDERS AND ADMINISTRATION SITE CONDITIONS", "FATIGUE", 1,
             "Y", "N"),
            ("S07", vasc, "HYPERTENSION", 4, "Y", "Y"),
            ("S08", gi, "DIARRHOEA", None, "Y", "N"),         # grade not recorded
            ("S10", gi, "NAUSEA", 1, "Y", "N")]               # not in the safety population
    rows = [{"USUBJID": f"{STUDY}-{s}", "AESEQ": i + 1, "AESOC": soc, "AEDECOD": pt,
             "AETERM": pt, "ATOXGR": None if g is None else str(g),
             "ATOXGRN": g, "TRTEMFL": fl, "AESER": ser}
            for i, (s, soc, pt, g, fl, ser) in enumerate(spec)]
    out = pd.DataFrame(rows)
    out.insert(0, "STUDYID", STUDY)
    return out


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, frame in (("adsl", adsl()), ("adrs", adrs()), ("adtte", adtte()),
                        ("adtr", adtr()), ("adae", adae())):
        frame.to_csv(OUT / f"{name}.csv", index=False, lineterminator="\n")


if __name__ == "__main__":
    main()
