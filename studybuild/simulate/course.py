"""The clinical course after enrolment: survival and withdrawal, treatment stop, adverse events
with the dose interruptions, reductions and withdrawals they cause, drug administration,
visits, subsequent therapy and survival follow-up. Vectorised over subjects; loops run over AE
terms, drugs and visit slots only."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from studybuild.simulate import recist as R
from studybuild.simulate._util import (Streams, group_cummax_prev, group_rank, lognormal_median,
                                       pick, take, uniform_int, weibull_median)
from studybuild.simulate.coding import code_terms
from studybuild.simulate.tumour import MONTH

# reasons the study treatment stopped (EOT DSDECOD display)
REASONS = ("Progressive disease", "Death", "Withdrawal by subject", "Physician decision",
           "Adverse event", "Ongoing")
R_PD, R_DEATH, R_WD, R_PHYS, R_AE, R_ONGOING = range(6)


@dataclass
class Course:
    death_latent: np.ndarray
    withdrawal: np.ndarray
    physician: np.ndarray
    last_dose: np.ndarray = None            # last dose of study treatment (NaN never)
    stop_reason: np.ndarray = None          # index into REASONS
    pd_inv: np.ndarray = None               # first investigator PD date (after truncation)
    ae: pd.DataFrame = None
    interruptions: pd.DataFrame = None
    ex_daily: dict = field(default_factory=dict)      # drug name -> frame of log lines
    ex_cycle: dict = field(default_factory=dict)      # drug name -> frame of administrations
    drug_end: dict = field(default_factory=dict)      # drug name -> (last dose, reason text)
    cycles: pd.DataFrame = None             # cycle visits
    subsequent: pd.DataFrame = None
    eot_visit: np.ndarray = None
    safety_visit: np.ndarray = None
    contacts: pd.DataFrame = None
    lost: np.ndarray = None                 # day of the lost-to-follow-up contact
    death: np.ndarray = None                # recorded death date
    death_cause: np.ndarray = None
    death_spec: np.ndarray = None
    eos: np.ndarray = None
    eos_reason: np.ndarray = None
    eos_text: np.ndarray = None
    eot_text: np.ndarray = None


def survival(pop, spec, lat, streams: Streams) -> Course:
    """Latent death, consent withdrawal and physician-decision days (absolute day numbers)."""
    n = pop.n
    F = pop.first_dose
    ef, dp = spec.efficacy, spec.disposition
    rng = streams("survival")
    pps = weibull_median(rng, ef.post_progression_median_months * MONTH, 1.2, n)
    lam = ef.death_without_progression_per_month / MONTH
    dnp = rng.exponential(1 / lam, n) if lam > 0 else np.full(n, np.inf)
    death = np.floor(F + np.maximum(np.minimum(lat.pd_day + pps, dnp), 2))
    rng = streams("withdrawal")
    wd = (np.floor(F + 1 + rng.exponential(365.25 / dp.withdrawal_per_year, n))
          if dp.withdrawal_per_year > 0 else np.full(n, np.inf))
    ph = (np.floor(F + 1 + rng.exponential(365.25 / dp.physician_decision_per_year, n))
          if dp.physician_decision_per_year > 0 else np.full(n, np.inf))
    return Course(death_latent=death, withdrawal=wd, physician=ph)


def first_pd(rows: pd.DataFrame, n: int, col: str = "inv") -> np.ndarray:
    out = np.full(n, np.nan)
    m = rows[col].to_numpy() == R.PD
    if m.any():
        d = rows.loc[m, ["subj", "date"]].groupby("subj")["date"].min()
        out[d.index.to_numpy()] = d.to_numpy()
    return out


def treatment_stop(pop, spec, course: Course, pd_inv: np.ndarray, cutoff: float,
                   streams: Streams) -> tuple[np.ndarray, np.ndarray]:
    """Last dose and stop reason before adverse events are considered."""
    n = pop.n
    F = pop.first_dose
    rng = streams("treatment_stop")
    d0, d1 = spec.disposition.decision_days_after_pd
    dec = uniform_int(rng, d0, d1, n)
    before_death = uniform_int(rng, 1, 5, n)
    # death and withdrawal stop treatment only if the EDC knows of them by the cut-off
    death_known = (course.death_latent <= cutoff) & (course.death_latent < course.withdrawal)
    cand = np.stack([
        np.where(np.isnan(pd_inv), np.inf, pd_inv + dec),
        np.where(death_known, course.death_latent - before_death, np.inf),
        np.where(course.withdrawal <= cutoff, course.withdrawal - 1, np.inf),
        course.physician,
        np.full(n, np.inf),                      # adverse events come later
        np.full(n, cutoff)], axis=1)
    # a stop after death is impossible: clamp every candidate below the death day
    cand = np.minimum(cand, course.death_latent[:, None] - 1)
    cand[:, R_DEATH] = np.where(death_known, course.death_latent - before_death, np.inf)
    reason = np.argmin(cand, axis=1)
    last = np.maximum(cand[np.arange(n), reason], F)
    return last, reason


# --------------------------------------------------------------------------------------------
# adverse events

def _relatedness(rng, related_p: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    rel = rng.random(n) < related_p
    strong = rng.random(n) < 0.6
    text = np.where(rel, np.where(strong, "Related", "Possibly related"),
                    np.where(strong, "Not related", "Unlikely related"))
    return rel, text.astype(object)


def adverse_events(study, spec, voc, pop, course: Course, last0: np.ndarray, cutoff: float,
                   streams: Streams) -> pd.DataFrame:
    """All AE episodes the site could record (before the AE-driven stop is applied)."""
    n = pop.n
    F = pop.first_dose
    sf = spec.safety
    codes = [d.code for d in spec.drugs.values()]
    per_cycle = [name for name, d in spec.drugs.items() if d.cycles]
    enva_end = np.full(n, np.inf)
    for name in per_cycle:
        enva_end = np.minimum(last0, F + study.cycle_days * spec.drugs[name].cycles - 1)
    hard_end = np.minimum(np.minimum(course.death_latent - 1, course.withdrawal - 1), cutoff)
    frames = []
    for ti, t in enumerate(sf.terms):                      # loop over AE terms
        # a renamed term keeps its former stream name (vocabulary `stream`): same data
        rng = streams(f"ae:{voc['ae_terms'].get(t.term, {}).get('stream', t.term)}")
        has = rng.random(n) < t.incidence
        onset = F + np.maximum(1, np.floor(lognormal_median(rng, t.onset_median_days, 0.8, n)))
        window = (enva_end + 90) if t.irae else (last0 + study.safety_follow_up_days)
        gi = rng.choice(5, size=n, p=np.array(t.grades) / sum(t.grades)) + 1
        dur = np.maximum(1, np.floor(lognormal_median(rng, t.duration_median_days, 0.7, n)))
        rec = rng.random(n) < t.recurrence
        gap = uniform_int(rng, 14, 60, n)
        dur2 = np.maximum(1, np.floor(lognormal_median(rng, t.duration_median_days, 0.7, n)))
        g2 = rng.choice(5, size=n, p=np.array(t.grades) / sum(t.grades)) + 1
        first = has & (onset <= np.minimum(window, hard_end))
        on2 = onset + dur + gap
        second = first & rec & (on2 <= np.minimum(window, hard_end))
        for sel, st, du, gr in ((first, onset, dur, gi), (second, on2, dur2, g2)):
            idx = np.flatnonzero(sel)
            frames.append(pd.DataFrame({
                "subj": idx, "term": ti, "pt": t.term, "start": st[idx], "end": st[idx] + du[idx] - 1,
                "grade": gr[idx].astype(np.int64), "kind": "on", "irae": bool(t.irae)}))
    ae = pd.concat(frames, ignore_index=True)
    # grade 5 on-treatment deaths are decided by the survival model, not drawn per term
    ae["grade"] = np.minimum(ae["grade"].to_numpy(), 4)
    # relatedness per drug (drawn before a worsening is split, so both records agree)
    term_rel = {c: np.array([t.related.get(c, 0.0) for t in sf.terms]) for c in codes}
    for c in codes:
        rel, text = _relatedness(streams(f"ae_rel:{c}"), term_rel[c][ae["term"].to_numpy()], len(ae))
        ae[f"rel_{c}"] = rel
        ae[f"AEREL_{c}"] = text
    rng = streams("ae_pretreatment")
    k = rng.poisson(sf.pretreatment_per_subject, n)
    k = np.where(F - pop.consent >= 2, k, 0)
    idx = np.repeat(np.arange(n), k)
    m = len(idx)
    pre_terms = voc["pretreatment_ae_terms"]
    start = np.floor(pop.consent[idx] + rng.random(m) * (F[idx] - pop.consent[idx]))
    start = np.minimum(start, F[idx] - 1)
    pre = pd.DataFrame({"subj": idx, "term": -1, "pt": take(pre_terms, rng.integers(len(pre_terms), size=m)),
                        "start": start, "end": start + np.maximum(1, np.floor(lognormal_median(rng, 10, 0.7, m))) - 1,
                        "grade": np.where(rng.random(m) < 0.8, 1, 2), "kind": "pre", "irae": False})
    parts = [ae, pre]
    # worsening: the same event first recorded one grade lower
    rng = streams("ae_worsening")
    st_, en_ = ae["start"].to_numpy(), ae["end"].to_numpy()
    w = (rng.random(len(ae)) < sf.worsening) & (ae["grade"].to_numpy() >= 2) & (en_ > st_)
    # the higher grade starts on day `mid` (after the first day, not after the end)
    mid = np.minimum(st_ + 1 + np.floor(rng.random(len(ae)) * (en_ - st_) * 0.5), en_)
    if w.any():
        low = ae[w].copy()
        low["grade"] = low["grade"] - 1
        low["end"] = mid[w] - 1
        low["kind"] = "before_worse"
        ae.loc[w, "start"] = low["end"].to_numpy() + 1
        ae.loc[w, "kind"] = "worsened"
        parts.append(low)
    # late serious AEs reported after the 28-day window
    rng = streams("ae_late")
    late = (rng.random(n) < sf.late_serious_per_subject)
    lt = rng.integers(len(sf.terms), size=n)
    lstart = last0 + uniform_int(rng, 29, 90, n)
    late &= (lstart <= hard_end) & (course.death_latent > lstart + 1)
    idx = np.flatnonzero(late)
    if len(idx):
        parts.append(pd.DataFrame({
            "subj": idx, "term": lt[idx], "pt": take([t.term for t in sf.terms], lt[idx]),
            "start": lstart[idx], "end": lstart[idx] + uniform_int(rng, 5, 30, len(idx)) - 1,
            "grade": 3, "kind": "late", "irae": take([t.irae for t in sf.terms], lt[idx]).astype(bool)}))
    out = pd.concat(parts, ignore_index=True)
    out = out[out["start"] <= hard_end[out["subj"].to_numpy()]]
    out = out.sort_values(["subj", "start", "pt", "grade"], kind="mergesort").reset_index(drop=True)
    kind = out["kind"].to_numpy()
    for c in codes:
        # pre-treatment AEs are unrelated; late serious ones were reported because related
        rng = streams(f"ae_rel_other:{c}")
        m = len(out)
        strong = rng.random(m) < 0.6
        pre = kind == "pre"
        late = kind == "late"
        rel = out[f"rel_{c}"].to_numpy(dtype=object)
        txt = out[f"AEREL_{c}"].to_numpy(dtype=object)
        rel = np.where(pre, False, np.where(late, True, rel)).astype(bool)
        txt = np.where(pre, np.where(strong, "Not related", "Unlikely related"),
                       np.where(late, np.where(strong, "Related", "Possibly related"), txt))
        out[f"rel_{c}"] = rel
        out[f"AEREL_{c}"] = txt.astype(object)
    return out


def dose_modifications(spec, pop, ae: pd.DataFrame, last0: np.ndarray, reason0: np.ndarray,
                       streams: Streams):
    """Interruptions, reductions and AE withdrawal of the daily drug(s); returns (ae with
    action columns, interruptions frame, last dose, stop reason)."""
    n = pop.n
    F = pop.first_dose
    sf = spec.safety
    daily = [(name, d) for name, d in spec.drugs.items() if d.log == "daily"]
    name, drug = daily[0]
    from studybuild.study import load_study

    tr = load_study(spec.study).treatment(name)
    nred = len(tr.reductions)
    rng = streams("dose_modification")
    m = len(ae)
    subj = ae["subj"].to_numpy()
    start = ae["start"].to_numpy()
    grade = ae["grade"].to_numpy()
    rel = ae[f"rel_{drug.code}"].to_numpy()
    on = (ae["kind"].to_numpy() != "pre") & (start >= F[subj] + 1) & (start <= last0[subj])
    g2 = rng.random(m) < sf.interrupt_grade2
    qual = on & rel & ((grade >= 3) | ((grade == 2) & g2))
    kind = np.where(grade >= sf.withdraw_grade, "wd", np.where(grade >= 3, "red", "int"))
    a = start + uniform_int(rng, 0, 2, m)
    lo, hi = sf.interrupt_days
    lo2, hi2 = sf.interrupt_days_grade2
    b = a + np.where(grade >= 3, uniform_int(rng, lo, hi, m), uniform_int(rng, lo2, hi2, m))
    q = pd.DataFrame({"row": np.flatnonzero(qual), "subj": subj[qual], "a": a[qual], "b": b[qual],
                      "kind": kind[qual]})
    q = q.sort_values(["subj", "a", "row"], kind="mergesort").reset_index(drop=True)
    prev = group_cummax_prev(q["subj"].to_numpy(), q["b"].to_numpy())
    q = q[q["a"].to_numpy() >= prev].reset_index(drop=True)
    nred_cum = (q["kind"] == "red").groupby(q["subj"]).cumsum().to_numpy()
    q.loc[(q["kind"] == "red").to_numpy() & (nred_cum > nred), "kind"] = "wd"
    # first withdrawal ends treatment
    wd_day = np.full(n, np.inf)
    wdq = q[q["kind"] == "wd"].groupby("subj")["a"].min()
    wd_day[wdq.index.to_numpy()] = wdq.to_numpy()
    q = q[q["a"].to_numpy() <= wd_day[q["subj"].to_numpy()]].reset_index(drop=True)
    last = last0.copy()
    reason = reason0.copy()
    ae_stop = wd_day - 1 < last
    last = np.where(ae_stop, wd_day - 1, last)
    reason = np.where(ae_stop, R_AE, reason)
    # an interruption running when treatment stops is never resumed (which can leave an
    # earlier interruption unresumed in turn: repeat until nothing changes)
    qs = q["subj"].to_numpy()
    qa, qb, notwd = q["a"].to_numpy(), q["b"].to_numpy(), q["kind"].to_numpy() != "wd"
    for _ in range(len(q) + 1):
        open_ = notwd & (qa <= last[qs]) & (qb > last[qs])
        if not open_.any():
            break
        cut = q[open_].groupby("subj")["a"].min()
        last[cut.index.to_numpy()] = np.minimum(last[cut.index.to_numpy()], cut.to_numpy() - 1)
    last = np.maximum(last, F)
    q = q[q["a"].to_numpy() <= last[q["subj"].to_numpy()] + 1].reset_index(drop=True)
    q["resumed"] = (q["kind"].to_numpy() != "wd") & (q["b"].to_numpy() <= last[q["subj"].to_numpy()])
    q["red_level"] = np.minimum((q["kind"] == "red").groupby(q["subj"]).cumsum().to_numpy(), nred)
    # AE actions for the daily drug
    act = np.full(m, "Not applicable", dtype=object)
    on_final = (ae["kind"].to_numpy() != "pre") & (start >= F[subj]) & (start <= last[subj])
    act[on_final] = "Dose not changed"
    kind_text = {"wd": "Drug withdrawn", "red": "Dose reduced", "int": "Drug interrupted"}
    act[q["row"].to_numpy()] = take([kind_text[k] for k in ("wd", "red", "int")],
                                    pd.Categorical(q["kind"], categories=["wd", "red", "int"]).codes)
    ae = ae.copy()
    ae[f"AEACN_{drug.code}"] = act
    ae["interrupts"] = False
    ae.loc[q["row"].to_numpy(), "interrupts"] = True
    return ae, q, last, reason


def cycle_visits(study, mess, pop, last: np.ndarray, course: Course, cutoff: float, spec,
                 streams: Streams) -> pd.DataFrame:
    """Cycle n Day 1 visits while on treatment (capped at the schedule's count)."""
    from studybuild.study import VisitSeries

    series = [v for v in study.visits if isinstance(v, VisitSeries)][0]
    n = pop.n
    F = pop.first_dose
    K = series.count
    rng = streams("cycle_visits")
    w = series.window_days
    c = np.arange(K)
    planned = F[:, None] + series.first_day - 1 + series.every_days * c[None, :]
    drift = uniform_int(rng, -w, w, (n, K))
    drift[:, 0] = 0
    date = planned + drift
    date = np.maximum.accumulate(date, axis=1)
    limit = np.minimum(np.minimum(last, course.death_latent - 1), cutoff)
    limit = np.minimum(limit, course.withdrawal - 1)
    ok = (planned <= last[:, None]) & (date <= limit[:, None])
    with_drug = max([d.cycles or 0 for d in spec.drugs.values()])
    missed = (streams("mess_missed_cycles").random((n, K)) < mess.missed_visits) & (c[None, :] >= max(1, with_drug))
    subj, k = np.nonzero(ok)
    df = pd.DataFrame({"subj": subj, "cycle": k + 1, "date": date[subj, k], "planned": planned[subj, k],
                       "missed": missed[subj, k]})
    names = np.array([series.visit.format(n=i, day=series.first_day + (i - 1) * series.every_days,
                                          week=(series.first_day + (i - 1) * series.every_days - 1) // 7)
                      for i in range(1, K + 1)], dtype=object)
    df["visit"] = names[df["cycle"].to_numpy() - 1]
    df["visitnum"] = series.first_visitnum + series.visitnum_step * (df["cycle"].to_numpy() - 1)
    return df


def daily_log(spec, pop, q: pd.DataFrame, last: np.ndarray, ongoing: np.ndarray,
              cycle_days: int, drug_name: str) -> pd.DataFrame:
    """Administration log lines of a daily drug: one per cycle, split at interruptions."""
    from studybuild.study import load_study

    tr = load_study(spec.study).treatment(drug_name)
    levels = np.array([tr.dose] + list(tr.reductions), dtype=float)
    n = pop.n
    F = pop.first_dose
    ncyc = np.floor((last - F) / cycle_days).astype(np.int64) + 1
    subj = np.repeat(np.arange(n), ncyc)
    k = np.arange(len(subj)) - np.repeat(np.cumsum(ncyc) - ncyc, ncyc)
    bp = [pd.DataFrame({"subj": subj, "day": F[subj] + cycle_days * k, "typ": 0, "red": 0,
                        "spid": np.nan})]
    bp.append(pd.DataFrame({"subj": q["subj"], "day": q["a"], "typ": 1, "red": 0, "spid": np.nan}))
    res = q[q["resumed"]]
    bp.append(pd.DataFrame({"subj": res["subj"], "day": res["b"], "typ": 2,
                            "red": (res["kind"] == "red").astype(int), "spid": res["AESPID"]}))
    b = pd.concat(bp, ignore_index=True).sort_values(["subj", "day", "typ"], kind="mergesort")
    b = b.reset_index(drop=True)
    s = b["subj"].to_numpy()
    ints = (b["typ"] == 1).groupby(s).cumsum().to_numpy()
    ress = (b["typ"] == 2).groupby(s).cumsum().to_numpy()
    reds = b["red"].groupby(s).cumsum().to_numpy()
    nxt = b["day"].groupby(s).shift(-1).to_numpy()
    end = np.where(np.isnan(nxt), last[s], nxt - 1)
    keep = (ints == ress) & (end >= b["day"].to_numpy()) & (b["day"].to_numpy() <= last[s])
    seg = pd.DataFrame({"subj": s[keep], "start": b["day"].to_numpy()[keep], "end": end[keep],
                        "dose": levels[np.minimum(reds[keep], len(levels) - 1)],
                        "after_ae": (b["typ"].to_numpy() == 2)[keep], "spid": b["spid"].to_numpy()[keep]})
    seg["EXAENO"] = np.where(seg["after_ae"], seg["spid"].to_numpy(), np.nan)
    seg["EXADJ"] = np.where(seg["after_ae"], "Adverse event", None)
    seg["cycle"] = np.floor((seg["start"].to_numpy() - F[seg["subj"].to_numpy()]) / cycle_days) + 1
    is_last = seg["subj"].ne(seg["subj"].shift(-1)).to_numpy()
    seg["ongoing"] = is_last & ongoing[seg["subj"].to_numpy()]
    return seg.drop(columns=["spid", "after_ae"])


def cycle_doses(spec, drug_name: str, cyc: pd.DataFrame, ae: pd.DataFrame, last: np.ndarray,
                irae_withdraw_grade: int, streams: Streams):
    """Administrations of a per-cycle drug (cycles 1..n): given, skipped for an AE or, after an
    immune-related AE of grade >= irae_withdraw_grade, withdrawn."""
    drug = spec.drugs[drug_name]
    code = drug.code
    d = cyc[cyc["cycle"] <= drug.cycles][["subj", "cycle", "date", "visit", "visitnum"]].copy()
    d = d.reset_index(drop=True)
    rel = ae[f"rel_{code}"].to_numpy()
    kind = ae["kind"].to_numpy()
    cand = ae[rel & (kind != "pre") & (ae["grade"].to_numpy() >= 2)][["subj", "start", "end", "grade", "irae", "AESPID"]]
    cand = cand.reset_index().rename(columns={"index": "aerow"})
    # withdrawal: first qualifying immune-related AE starting while the drug is being given
    n = len(last)
    wd = cand[(cand["irae"]) & (cand["grade"] >= irae_withdraw_grade)]
    first_dose = d.groupby("subj")["date"].min()
    last_planned = d.groupby("subj")["date"].max() + spec_cycle_days(spec)
    fd = np.full(n, np.inf)
    fd[first_dose.index.to_numpy()] = first_dose.to_numpy()
    lp = np.full(n, -np.inf)
    lp[last_planned.index.to_numpy()] = last_planned.to_numpy()
    ws = wd["subj"].to_numpy()
    wd = wd[(wd["start"].to_numpy() > fd[ws]) & (wd["start"].to_numpy() <= lp[ws])]
    wdf = wd.sort_values(["subj", "start"], kind="mergesort").groupby("subj").head(1)
    wd_day = np.full(n, np.inf)
    wd_day[wdf["subj"].to_numpy()] = wdf["start"].to_numpy()
    d = d[d["date"].to_numpy() < wd_day[d["subj"].to_numpy()]].reset_index(drop=True)
    # doses skipped while a related AE of grade >= 2 is ongoing
    mg = d.reset_index().merge(cand, on="subj", how="inner")
    hit = mg[(mg["start"] <= mg["date"]) & (mg["end"] >= mg["date"])]
    hit = hit.sort_values(["index", "start"], kind="mergesort").groupby("index").head(1)
    d["given"] = True
    d["EXAENO"] = np.nan
    d.loc[hit["index"].to_numpy(), "given"] = False
    d.loc[hit["index"].to_numpy(), "EXAENO"] = hit["AESPID"].to_numpy()
    # the first cycle is always given (the AE cannot precede the first dose by definition)
    d.loc[d["cycle"] == 1, "given"] = True
    d.loc[d["cycle"] == 1, "EXAENO"] = np.nan
    rng = streams(f"injection:{drug_name}")
    sites = list(drug.injection_sites) or [None]
    d["EXLOC"] = take(sites, rng.integers(len(sites), size=len(d)))
    act = np.full(len(ae), "Not applicable", dtype=object)
    given = d[d["given"]]
    g_first = given.groupby("subj")["date"].min()
    g_last = given.groupby("subj")["date"].max()
    gf = np.full(n, np.inf)
    gl = np.full(n, -np.inf)
    gf[g_first.index.to_numpy()] = g_first.to_numpy()
    gl[g_last.index.to_numpy()] = g_last.to_numpy()
    s = ae["subj"].to_numpy()
    st = ae["start"].to_numpy()
    expo = (kind != "pre") & (st >= gf[s]) & (st <= gl[s] + spec_cycle_days(spec) - 1)
    act[expo] = "Dose not changed"
    sk = d.loc[~d["given"], ["subj", "EXAENO"]]
    if len(sk):
        look = pd.DataFrame({"subj": s, "EXAENO": ae["AESPID"].to_numpy().astype(float),
                             "aerow": np.arange(len(ae))})
        rows = sk.merge(look, on=["subj", "EXAENO"], how="inner")["aerow"].to_numpy()
        act[rows] = "Drug interrupted"
    if len(wdf):
        act[wdf["aerow"].to_numpy()] = "Drug withdrawn"
    return d, act, wd_day, gl


def spec_cycle_days(spec) -> int:
    from studybuild.study import load_study

    return load_study(spec.study).cycle_days


def keep_reported(ae: pd.DataFrame, last: np.ndarray, window_days: int) -> pd.DataFrame:
    """AEs the site reports: from consent to 28 days after the last dose (90 days for
    immune-related ones), later only the serious related ones drawn as 'late'; one episode
    per term and start day."""
    s = ae["subj"].to_numpy()
    kind = ae["kind"].to_numpy()
    st = ae["start"].to_numpy()
    win = np.where(ae["irae"].to_numpy(), last[s] + 90, last[s] + window_days)
    keep = (kind == "pre") | (kind == "late") | (st <= win)
    # one event per term and start day: two episodes of the same term starting the same day
    # would be one event on a real CRF (and break AE's natural key); keep the higher grade
    by = pd.DataFrame({"subj": s, "pt": ae["pt"].to_numpy(), "start": st,
                       "grade": ae["grade"].to_numpy(), "pos": np.arange(len(ae))})[keep]
    by = by.sort_values(["subj", "pt", "start", "grade"], ascending=[True, True, True, False],
                        kind="mergesort")
    keep[by["pos"].to_numpy()[by.duplicated(["subj", "pt", "start"]).to_numpy()]] = False
    return ae[keep]


def fatal_events(pop, spec, voc, course: Course, last: np.ndarray, cutoff: float,
                 streams: Streams) -> pd.DataFrame:
    """Grade 5 AEs for a share of the deaths within 28 days of the last dose."""
    n = pop.n
    rng = streams("fatal_ae")
    d = course.death_latent
    cand = (d <= last + 28) & (d <= cutoff) & (d < course.withdrawal) & \
        (rng.random(n) < spec.disposition.fatal_ae_share_on_treatment)
    terms = voc["fatal_ae_terms"]
    ti = rng.integers(len(terms), size=n)
    back = uniform_int(rng, 1, 10, n)
    idx = np.flatnonzero(cand)
    start = np.maximum(d[idx] - back[idx], pop.first_dose[idx] + 1)
    start = np.minimum(start, d[idx])
    return pd.DataFrame({"subj": idx, "term": -2, "pt": take(terms, ti[idx]), "start": start,
                         "end": d[idx], "grade": 5, "kind": "fatal", "irae": False})


def ae_attributes(ae: pd.DataFrame, spec, voc, course: Course, last: np.ndarray, cutoff: float,
                  study, streams: Streams) -> pd.DataFrame:
    """Seriousness, outcome, end date or ongoing, AESPID and the verbatim term."""
    ae = ae.sort_values(["subj", "start", "pt", "grade"], kind="mergesort").reset_index(drop=True)
    m = len(ae)
    s = ae["subj"].to_numpy()
    grade = ae["grade"].to_numpy()
    rng = streams("ae_attributes")
    ae["AESPID"] = group_rank(s) + 1
    sbg = np.array(spec.safety.serious_by_grade)
    serious = (rng.random(m) < sbg[grade - 1]) | (ae["kind"].to_numpy() == "late") | (grade == 5)
    ae["AESER"] = np.where(serious, "Yes", "No")
    hosp = rng.random(m) < 0.85
    life = (grade == 4) & (rng.random(m) < 0.6)
    crit = {
        "AESDTH": grade == 5,
        "AESLIFE": life,
        "AESHOSP": (grade < 5) & (hosp | ~life) & ~((grade < 4) & ~hosp),
        "AESDISAB": np.zeros(m, dtype=bool),
        "AESCONG": np.zeros(m, dtype=bool),
        "AESMIE": (grade < 4) & ~hosp,
    }
    for k, v in crit.items():
        ae[k] = np.where(serious, np.where(v, "Yes", "No"), None)
    death = course.death_latent[s]
    end = ae["end"].to_numpy().astype(float)
    fatal = grade == 5
    ongoing = ~fatal & ((end > cutoff) | (end >= death))
    ae["end_true"] = end
    ae["end"] = np.where(ongoing, np.nan, end)
    ae["AEONGO"] = np.where(ongoing, "Yes", "No")
    u = rng.random(m)
    ae["AEOUT"] = np.where(fatal, "Fatal", np.where(
        ongoing, np.where(u < 0.7, "Not recovered/not resolved", "Recovering/resolving"),
        np.where(u < 0.93, "Recovered/resolved", "Recovered/resolved with sequelae")))
    # verbatim terms: one of the term's usual wordings
    terms = voc["ae_terms"]
    verb = np.empty(m, dtype=object)
    pt = ae["pt"].to_numpy()
    uv = rng.random(m)
    for name in pd.unique(pt):                              # loop over distinct terms
        sel = pt == name
        vs = terms[name]["verbatims"]
        verb[sel] = take(vs, np.floor(uv[sel] * len(vs)).astype(np.int64))
    ae["AETERM"] = verb
    ae["AETERM_PT"] = pt
    ae["AETERM_SOC"] = np.array([terms[p]["soc"] for p in pd.unique(pt)], dtype=object)[
        pd.Categorical(pt, categories=pd.unique(pt)).codes] if m else np.zeros(0, dtype=object)
    for name, values in code_terms(pt).items():          # the coding tool's MedDRA columns
        ae[name] = values
    ae["AETOXGR"] = grade.astype(str)
    return ae


def subsequent_therapy(pop, spec, voc, course: Course, cutoff: float, streams: Streams) -> pd.DataFrame:
    n = pop.n
    dp = spec.disposition
    rng = streams("subsequent")
    reason = course.stop_reason
    last = course.last_dose
    p = np.where(reason == R_PD, dp.subsequent_after_pd,
                 np.where(np.isin(reason, (R_AE, R_PHYS)), dp.subsequent_after_other, 0.0))
    has = rng.random(n) < p
    start1 = last + np.where(reason == R_PD, uniform_int(rng, 14, 60, n), uniform_int(rng, 28, 120, n))
    dur1 = uniform_int(rng, 42, 180, n)
    second = rng.random(n) < 0.25
    start2 = start1 + dur1 + uniform_int(rng, 7, 30, n)
    dur2 = uniform_int(rng, 42, 180, n)
    limit = np.minimum(np.minimum(course.death_latent - 1, course.withdrawal - 1), cutoff)
    frames = []
    for line, (sel, st, du) in enumerate(((has, start1, dur1), (has & second, start2, dur2)), 1):
        ok = sel & (st <= limit)
        idx = np.flatnonzero(ok)
        frames.append(pd.DataFrame({"subj": idx, "line": line, "start": st[idx],
                                    "end_true": st[idx] + du[idx]}))
    tx = pd.concat(frames, ignore_index=True)
    m = len(tx)
    ti, tk = pick(rng, dp.subsequent_types, m)
    regs = voc["regimens"]["subsequent"]
    u = rng.random(m)
    trt = np.empty(m, dtype=object)
    for i, k in enumerate(tk):                               # loop over therapy types
        sel = ti == i
        trt[sel] = take(regs[k], np.floor(u[sel] * len(regs[k])).astype(np.int64))
    tx["CMTYPE"] = take(tk, ti)
    tx["CMTRT"] = trt
    s = tx["subj"].to_numpy()
    open_ = (tx["end_true"].to_numpy() > limit[s]) | (tx["end_true"].to_numpy() >= course.death_latent[s])
    tx["end"] = np.where(open_, np.nan, tx["end_true"])
    tx["CMONGO"] = np.where(open_, "Yes", "No")
    return tx.sort_values(["subj", "start"], kind="mergesort").reset_index(drop=True)


def follow_up(pop, spec, course: Course, cutoff: float, streams: Streams) -> None:
    """EOT and safety follow-up visits, survival contacts, loss to follow-up, recorded death,
    end of study."""
    n = pop.n
    last = course.last_dose
    ongoing = course.stop_reason == R_ONGOING
    death = course.death_latent
    wd = course.withdrawal
    rng = streams("follow_up")
    eot = last + uniform_int(rng, 1, 7, n)
    sfu = last + 28 + uniform_int(rng, -3, 3, n)
    # survival contacts every 12 weeks (+/- 7 days) after the last dose
    K = int(np.ceil(max(cutoff - np.nanmin(last, initial=cutoff), 0) / 77)) + 1 if n else 1
    k = np.arange(1, K + 1)
    date = last[:, None] + 84 * k[None, :] + uniform_int(rng, -7, 7, (n, K))
    lost_draw = rng.random((n, K)) < spec.disposition.lost_per_contact
    lka_back = np.where(rng.random((n, K)) < 0.2, uniform_int(rng, 1, 20, (n, K)), 0)
    mi, mk = pick(rng, {"Telephone": 0.7, "Clinic visit": 0.25, "Medical records": 0.05}, n * K)
    method = take(mk, mi).reshape(n, K)
    valid = ~ongoing[:, None] & (date <= cutoff) & (date < wd[:, None])
    dead_cell = date >= death[:, None]
    stop = valid & (dead_cell | lost_draw)
    first_stop = np.where(stop.any(axis=1), np.argmax(stop, axis=1), K)
    keep = valid & (k[None, :] - 1 <= first_stop[:, None])
    subj, kk = np.nonzero(keep)
    dd = date[subj, kk]
    status = np.where(dead_cell[subj, kk], "Dead", np.where(lost_draw[subj, kk], "Lost to follow-up", "Alive"))
    c = pd.DataFrame({"subj": subj, "k": kk + 1, "date": dd, "FUSTAT": status,
                      "FUMETHOD": method[subj, kk]})
    prev = c.groupby("subj")["date"].shift(1).to_numpy()
    prev = np.where(np.isnan(prev), last[subj], prev)
    lka = np.maximum(dd - lka_back[subj, kk], prev)
    c["LKADAT"] = np.where(status == "Alive", lka, np.where(status == "Dead", np.nan, prev))
    course.contacts = c
    lost = np.full(n, np.inf)
    lc = c[c["FUSTAT"] == "Lost to follow-up"]
    lost[lc["subj"].to_numpy()] = lc["date"].to_numpy()
    course.lost = lost
    limit = np.minimum(np.minimum(death, wd), lost)
    course.eot_visit = np.where(~ongoing & (eot < limit) & (eot <= cutoff) & (course.stop_reason != R_WD),
                                eot, np.nan)
    course.safety_visit = np.where(~ongoing & (sfu < limit) & (sfu <= cutoff) & (course.stop_reason != R_WD),
                                   sfu, np.nan)
    rec = (death <= cutoff) & (death < wd) & (death < lost)
    course.death = np.where(rec, death, np.nan)
    cands = np.stack([np.where(rec, death, np.inf), np.where(wd <= cutoff, wd, np.inf), lost], axis=1)
    which = np.argmin(cands, axis=1)
    eos = cands[np.arange(n), which]
    course.eos = np.where(np.isinf(eos), np.nan, eos)
    course.eos_reason = np.where(np.isinf(eos), None,
                                 take(["Death", "Withdrawal by subject", "Lost to follow-up"], which))
