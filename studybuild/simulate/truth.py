"""``_truth/``: what the simulator decided, per subject, assessment, AE and dose change, and
where it injected mess. Tests (ours and the SDTM/ADaM engineers') compare derivations with it.

Definitions (also in ``docs/simulator.md``):

- Best overall response, from one reading (investigator ``INV`` or RECIST 1.1 recomputed from
  the measurements ``RECIST``), over post-baseline assessments up to and including that
  reading's first PD:
  confirmed CR: a CR followed >= 28 days later by a CR with only CR or at most one NE between;
  confirmed PR: a CR/PR followed >= 28 days later by a CR/PR with only CR/PR or at most one NE
  between; SD: a CR, PR or SD on or after first dose + 35 days (42-day minimum minus the 7-day
  window); then PD; then NE (assessments, none qualifying); MISSING (no post-baseline
  assessment). Unconfirmed: the same without the confirmation step.
- TEAE: start on or after the first dose and, when treatment has stopped, no later than the
  last dose + ``safety_follow_up_days`` (28).
- PFS (investigator): event at the first investigator PD, else at death if no subsequent
  anticancer therapy started before it; otherwise censored at the last adequate assessment
  (CR, PR, SD, NON-CR/NON-PD) before any subsequent therapy, or at the first dose.
- OS: event at death, else censored at the last known alive date.
- Last known alive: the latest of consent, dosing, visit, scan, ECOG and survival-contact
  (alive) dates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from studybuild.simulate import recist as R
from studybuild.simulate._util import iso_dates, take



def best_response(subj: np.ndarray, date: np.ndarray, resp: np.ndarray, first_dose: np.ndarray,
                  n: int, *, confirm_days: int = 28, sd_days: int = 35, max_ne: int = 1
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(confirmed, unconfirmed) best overall response codes per subject (-1 = MISSING).
    Rows must be sorted by subject and date and end at the subject's first PD."""
    subj = np.asarray(subj)
    date = np.asarray(date, dtype=float)
    resp = np.asarray(resp)
    m = len(subj)
    has = np.zeros(n, dtype=bool)
    has[subj] = True
    ok_sd = np.isin(resp, (R.CR, R.PR, R.SD)) & (date >= first_dose[subj] + sd_days)

    def any_by(mask):
        out = np.zeros(n, dtype=bool)
        out[subj[mask]] = True
        return out

    unconf = np.where(any_by(resp == R.CR), R.CR, np.where(any_by(resp == R.PR), R.PR, np.where(
        any_by(ok_sd), R.SD, np.where(any_by(resp == R.PD), R.PD, np.where(has, R.NE, -1)))))
    # confirmation: pairs (i, j) within a subject
    pos = np.arange(m)
    first = np.full(n, m)
    np.minimum.at(first, subj, pos)
    counts = np.bincount(subj, minlength=n)
    k = counts[subj]
    rank = pos - first[subj]
    reps = k - rank - 1                                   # later rows of the same subject
    i = np.repeat(pos, reps)
    j = i + 1 + (np.arange(len(i)) - np.repeat(np.cumsum(reps) - reps, reps))
    gap_ok = date[j] - date[i] >= confirm_days
    is_ne = (resp == R.NE).astype(np.int64)
    ne_cum = np.concatenate([[0], np.cumsum(is_ne)])
    ne_between = ne_cum[j] - ne_cum[i + 1]

    def between_only(allowed):
        bad = (~np.isin(resp, allowed + (R.NE,))).astype(np.int64)
        bc = np.concatenate([[0], np.cumsum(bad)])
        return (bc[j] - bc[i + 1]) == 0

    cr_pair = gap_ok & (resp[i] == R.CR) & (resp[j] == R.CR) & between_only((R.CR,)) & (ne_between <= max_ne)
    crpr = (R.CR, R.PR)
    pr_pair = gap_ok & np.isin(resp[i], crpr) & np.isin(resp[j], crpr) & between_only(crpr) & \
        (ne_between <= max_ne)
    c_cr = np.zeros(n, dtype=bool)
    c_cr[subj[i[cr_pair]]] = True
    c_pr = np.zeros(n, dtype=bool)
    c_pr[subj[i[pr_pair]]] = True
    conf = np.where(c_cr, R.CR, np.where(c_pr, R.PR, np.where(any_by(ok_sd), R.SD, np.where(
        any_by(resp == R.PD), R.PD, np.where(has, R.NE, -1)))))
    return conf, unconf


def _upto_first_pd(rows: pd.DataFrame, col: str) -> pd.DataFrame:
    r = rows.sort_values(["subj", "date", "j"], kind="mergesort")
    is_pd = (r[col].to_numpy() == R.PD).astype(np.int64)
    before = r.assign(_pd=is_pd).groupby("subj")["_pd"].cumsum().to_numpy() - is_pd
    return r[before == 0]


def tables(st, messlog: pd.DataFrame) -> dict[str, pd.DataFrame]:
    study, spec, pop, co, A = st.study, st.spec, st.pop, st.course, st.assess
    n = pop.n
    F = pop.first_dose
    subj_label = pop.subject
    rows = A.rows
    post = rows[rows["j"] >= 0]
    out = {}
    # best overall response from both readings
    bor = {}
    for name, col in (("INV", "inv"), ("RECIST", "ovr")):
        r = _upto_first_pd(post, col)
        c, u = best_response(r["subj"].to_numpy(), r["date"].to_numpy(), r[col].to_numpy(), F, n)
        bor[name] = (c, u)
    pd_recist = np.full(n, np.nan)
    m = post["ovr"].to_numpy() == R.PD
    g = post[m].groupby("subj")["date"].min()
    pd_recist[g.index.to_numpy()] = g.to_numpy()
    # last known alive
    lka = pop.consent.copy()

    def upd(s, d):
        d = np.asarray(d, dtype=float)
        ok = ~np.isnan(d)
        np.maximum.at(lka, np.asarray(s)[ok], d[ok])

    upd(rows["subj"], rows["date"])
    for name, seg in co.ex_daily.items():
        upd(seg["subj"], seg["start"])
        upd(seg["subj"], np.where(seg["ongoing"], np.nan, seg["end"]))
    for name, doses in co.ex_cycle.items():
        upd(doses["subj"], np.where(doses["given"], doses["date"], np.nan))
    cyc = co.cycles[~co.cycles["missed"]]
    upd(cyc["subj"], cyc["date"])
    upd(np.arange(n), co.eot_visit)
    upd(np.arange(n), co.safety_visit)
    c = co.contacts
    upd(c["subj"], c["LKADAT"])
    first_tx = np.full(n, np.nan)
    g = co.subsequent.groupby("subj")["start"].min()
    first_tx[g.index.to_numpy()] = g.to_numpy()
    # last adequate assessment (investigator) before subsequent therapy
    adequate = post[np.isin(post["inv"].to_numpy(), (R.CR, R.PR, R.SD, R.NONCRNONPD))]
    adequate = adequate[~(adequate["date"].to_numpy() >= np.nan_to_num(first_tx[adequate["subj"].to_numpy()], nan=np.inf))]
    last_adeq = np.full(n, np.nan)
    g = adequate.groupby("subj")["date"].max()
    last_adeq[g.index.to_numpy()] = g.to_numpy()
    pd_inv = co.pd_inv
    death = co.death
    dth_ok = ~np.isnan(death) & (np.isnan(first_tx) | (death < np.nan_to_num(first_tx, nan=np.inf)))
    pfs_event = np.where(~np.isnan(pd_inv), "PD", np.where(dth_ok, "DEATH", None))
    pfs_dt = np.where(~np.isnan(pd_inv), pd_inv, np.where(dth_ok, death, np.where(np.isnan(last_adeq), F, last_adeq)))
    ongoing = co.stop_reason == 5
    subjects = pd.DataFrame({
        "Subject": subj_label, "SiteNumber": pop.site,
        "RFICDAT": iso_dates(pop.consent), "FIRST_DOSE_DT": iso_dates(F),
        "TRT_ONGOING": np.where(ongoing, "Y", "N"),
        "LAST_DOSE_DT": iso_dates(np.where(ongoing, np.nan, co.last_dose)),
        "EOT_REASON": np.where(ongoing, None, take(("Progressive disease", "Death", "Withdrawal by subject",
                                                    "Physician decision", "Adverse event", "Ongoing"),
                                                   co.stop_reason)),
    })
    for name, d in spec.drugs.items():
        end, why = co.drug_end[name]
        subjects[f"LAST_DOSE_DT_{d.code}"] = iso_dates(end)
        subjects[f"EOT_REASON_{d.code}"] = why
    q = co.interruptions
    nred = np.bincount(q.loc[q["kind"] == "red", "subj"], minlength=n)
    nint = np.bincount(q["subj"], minlength=n)
    subjects = subjects.assign(
        N_INTERRUPTIONS=nint, N_REDUCTIONS=nred,
        LATENT_RESPONDER=np.where(st.lat.responder, "Y", "N"),
        LATENT_PD_DT=iso_dates(np.floor(F + st.lat.pd_day)),
        LATENT_PD_MODE=take(("target", "new", "nontarget"), st.lat.mode),
        PD_RECIST_DT=iso_dates(pd_recist), PD_INV_DT=iso_dates(pd_inv),
        NEWTX_DT=iso_dates(first_tx), LAST_ADEQ_DT=iso_dates(last_adeq),
        PFS_DT=iso_dates(pfs_dt), PFS_EVENT=pfs_event, PFS_CNSR=np.where(pfs_event == None, 1, 0),  # noqa: E711
        DTH_DT=iso_dates(death), DTH_CAUSE=co.death_cause,
        LKA_DT=iso_dates(lka), OS_DT=iso_dates(np.where(np.isnan(death), lka, death)),
        OS_CNSR=np.where(np.isnan(death), 1, 0),
        EOS_DT=iso_dates(co.eos), EOS_REASON=co.eos_reason,
        BOR_INV=_bor_text(bor["INV"][0]),
        BOR_INV_UNCONF=_bor_text(bor["INV"][1]),
        BOR_RECIST=_bor_text(bor["RECIST"][0]), BOR_RECIST_UNCONF=_bor_text(bor["RECIST"][1]),
        RSP_INV=np.where(np.isin(bor["INV"][0], (R.CR, R.PR)), "Y", "N"),
        RSP_INV_UNCONF=np.where(np.isin(bor["INV"][1], (R.CR, R.PR)), "Y", "N"),
        DCR_INV=np.where(np.isin(bor["INV"][0], (R.CR, R.PR, R.SD)), "Y", "N"))
    out["subjects"] = subjects
    # assessments
    g = st.grid
    slot = rows["slot"].to_numpy()
    sched = rows["j"].to_numpy() >= 0
    planned = np.where(sched & ~rows["unsched"].to_numpy(), g["planned"][rows["subj"].to_numpy(), np.maximum(slot, 0)], np.nan)
    oow = sched & ~rows["unsched"].to_numpy() & (np.abs(rows["date"].to_numpy() - planned) > g["window"])
    out["assessments"] = pd.DataFrame({
        "Subject": subj_label[rows["subj"].to_numpy()],
        "ASSESS": np.where(~sched, "BASELINE", np.where(rows["unsched"].to_numpy(), "UNSCHEDULED", "SCHEDULED")),
        "SLOT": np.where(sched & ~rows["unsched"].to_numpy(), slot + 1, 0),
        "DATE": iso_dates(rows["date"].to_numpy()), "PLANNED_DT": iso_dates(planned),
        "OUT_OF_WINDOW": np.where(oow, "Y", "N"),
        "UNIT": np.where(rows["cm"].to_numpy(), "cm", "mm"),
        "SUM_MM": np.where(rows["any_ne"].to_numpy(), np.nan, rows["sum"].to_numpy()),
        "NADIR_BEFORE_MM": rows["nadir_before"].to_numpy(),
        "TARGET_RECIST": _codes(rows["tr"].to_numpy(), sched),
        "NONTARGET_RECIST": _codes(rows["ntr"].to_numpy(), sched),
        "NEW_LESION": np.where(sched, np.where(rows["new"].to_numpy(), "Y", "N"), None),
        "OVERALL_RECIST": _codes(rows["ovr"].to_numpy(), sched),
        "OVERALL_INV": _codes(rows["inv"].to_numpy(), sched),
        "DISAGREE": np.where(rows["disagree"].to_numpy(), "Y", "N"),
        "TARGET_NE": np.where(rows["any_ne"].to_numpy(), "Y", "N")})
    # adverse events
    ae = co.ae
    s = ae["subj"].to_numpy()
    last = np.where(ongoing, np.inf, co.last_dose)
    teae = (ae["start"].to_numpy() >= F[s]) & (ae["start"].to_numpy() <= last[s] + study.safety_follow_up_days)
    aet = pd.DataFrame({"Subject": subj_label[s], "AESPID": ae["AESPID"].to_numpy(),
                        "AETERM_PT": ae["AETERM_PT"].to_numpy(), "GRADE": ae["grade"].to_numpy(),
                        "START_DT": iso_dates(ae["start"].to_numpy()), "END_DT": iso_dates(ae["end"].to_numpy()),
                        "TEAE": np.where(teae, "Y", "N"), "SERIOUS": np.where(ae["AESER"] == "Yes", "Y", "N"),
                        "FATAL": np.where(ae["grade"].to_numpy() == 5, "Y", "N"),
                        "RECORD": ae["kind"].to_numpy()})
    for d in spec.drugs.values():
        aet[f"RELATED_{d.code}"] = np.where(ae[f"rel_{d.code}"].to_numpy(dtype=bool), "Y", "N")
        aet[f"ACTION_{d.code}"] = ae[f"AEACN_{d.code}"].to_numpy()
    if "AEIRAE" in ae:
        aet["IRAE"] = np.where(ae["AEIRAE"] == "Yes", "Y", "N")
    out["ae"] = aet
    # dose changes
    daily = [(nm, d) for nm, d in spec.drugs.items() if d.log == "daily"][0]
    from studybuild.study import load_study

    tr = load_study(spec.study).treatment(daily[0])
    levels = np.array([tr.dose] + list(tr.reductions), dtype=float)
    lvl = q["red_level"].to_numpy()
    before = levels[np.clip(lvl - (q["kind"] == "red").to_numpy(), 0, len(levels) - 1)]
    after = np.where(q["resumed"].to_numpy(), levels[np.clip(lvl, 0, len(levels) - 1)], np.nan)
    kinds = {"red": "INTERRUPTED_THEN_REDUCED", "int": "INTERRUPTED", "wd": "WITHDRAWN"}
    dc = [pd.DataFrame({"Subject": subj_label[q["subj"].to_numpy()], "DRUG": daily[1].display,
                        "AESPID": q["AESPID"].to_numpy(), "KIND": q["kind"].map(kinds).to_numpy(),
                        "HELD_FROM_DT": iso_dates(q["a"].to_numpy()),
                        "RESUMED_DT": iso_dates(np.where(q["resumed"].to_numpy(), q["b"].to_numpy(), np.nan)),
                        "DOSE_BEFORE": before, "DOSE_AFTER": after})]
    for name, doses in co.ex_cycle.items():
        d = spec.drugs[name]
        sk = doses[~doses["given"]]
        dc.append(pd.DataFrame({"Subject": subj_label[sk["subj"].to_numpy()], "DRUG": d.display,
                                "AESPID": sk["EXAENO"].to_numpy(), "KIND": "DOSE_NOT_GIVEN",
                                "HELD_FROM_DT": iso_dates(sk["date"].to_numpy()), "RESUMED_DT": None,
                                "DOSE_BEFORE": np.nan, "DOSE_AFTER": np.nan}))
        wd = ae[ae[f"AEACN_{d.code}"] == "Drug withdrawn"]
        dc.append(pd.DataFrame({"Subject": subj_label[wd["subj"].to_numpy()], "DRUG": d.display,
                                "AESPID": wd["AESPID"].to_numpy(), "KIND": "WITHDRAWN",
                                "HELD_FROM_DT": iso_dates(wd["start"].to_numpy()), "RESUMED_DT": None,
                                "DOSE_BEFORE": np.nan, "DOSE_AFTER": np.nan}))
    out["dose_changes"] = pd.concat(dc, ignore_index=True)
    # mess: per field, plus the structural kinds
    ml = messlog.copy()
    ml["Subject"] = subj_label[ml["_subj"].to_numpy().astype(np.int64)] if len(ml) else []
    ml = ml.drop(columns=["_subj"])
    struct = []
    a = out["assessments"]
    for kind, mask in (("out_of_window", a["OUT_OF_WINDOW"] == "Y"), ("unscheduled", a["ASSESS"] == "UNSCHEDULED"),
                       ("disagreement", a["DISAGREE"] == "Y"), ("not_evaluable", a["TARGET_NE"] == "Y")):
        sel = a[mask.to_numpy()]
        struct.append(pd.DataFrame({"form": "rs", "Subject": sel["Subject"], "FolderName": None, "InstanceName": None,
                                    "RecordPosition": None, "field": "RSDAT", "kind": kind,
                                    "clean": None, "written": sel["DATE"]}))
    cmr = rows[rows["cm"].to_numpy() & (~np.isin(pop.site[rows["subj"].to_numpy()].astype(str),
                                                  np.array(list(st.mess.cm_sites), dtype=str)))]
    struct.append(pd.DataFrame({"form": "tu_target", "Subject": subj_label[cmr["subj"].to_numpy()],
                                "FolderName": None, "InstanceName": None, "RecordPosition": None,
                                "field": "TRORRESU", "kind": "diameter_cm", "clean": "mm",
                                "written": iso_dates(cmr["date"].to_numpy())}))
    # a missed assessment is one the subject would have had: before scans ended
    scan_end = np.fmin(np.fmin(co.pd_inv, co.death_latent), np.fmin(co.withdrawal, co.lost))
    scan_end = np.fmin(scan_end, np.where(np.isnan(pd_inv) | (first_tx < pd_inv), first_tx, np.nan))
    scan_end = np.fmin(scan_end, st.cutoff)
    miss = np.argwhere(g["missed"] & (g["planned"] < scan_end[:, None]))
    if len(miss):
        ms = miss[:, 0]
        names = np.array(g["names"], dtype=object)
        struct.append(pd.DataFrame({"form": "sv", "Subject": subj_label[ms], "FolderName": None,
                                    "InstanceName": None, "RecordPosition": None, "field": "VISDAT",
                                    "kind": "missed_visit", "clean": names[miss[:, 1]],
                                    "written": iso_dates(g["planned"][ms, miss[:, 1]])}))
    cm = co.cycles[co.cycles["missed"]]
    struct.append(pd.DataFrame({"form": "sv", "Subject": subj_label[cm["subj"].to_numpy()], "FolderName": None,
                                "InstanceName": None, "RecordPosition": None, "field": "VISDAT",
                                "kind": "missed_visit", "clean": cm["visit"].to_numpy(),
                                "written": iso_dates(cm["date"].to_numpy())}))
    struct = [x for x in struct if len(x)]
    mess = pd.concat([ml[["form", "Subject", "FolderName", "InstanceName", "RecordPosition", "field", "kind",
                          "clean", "written"]]] + struct, ignore_index=True)
    out["mess"] = mess
    return out


_BOR_TABLE = np.array(["MISSING", "CR", "PR", "SD", "NON-CR/NON-PD", "PD", "NE", "NA"], dtype=object)


def _bor_text(codes: np.ndarray) -> np.ndarray:
    return _BOR_TABLE[np.asarray(codes) + 1]


def _codes(codes: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.where(mask, take(R.CODES, np.asarray(codes)), None)
