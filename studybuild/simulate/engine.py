"""Runs the simulation steps in order and assembles the clean form frames."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from studybuild.simulate import course as C
from studybuild.simulate import population as P
from studybuild.simulate import recist as R
from studybuild.simulate import tumour as T
from studybuild.simulate._util import Streams, day, group_rank, pick, take
from studybuild.simulate.coding import COLUMNS as CODING_COLUMNS
from studybuild.simulate.forms import (RANK_EOS, RANK_EOT, RANK_LOGS, RANK_SCREENING, RANK_SFU,
                                       RANK_SURV, RANK_VISIT, diam_text, folder_name, frame,
                                       int_text, yes_no)


@dataclass
class State:
    study: object
    spec: object
    voc: dict
    mess: object
    streams: Streams
    cutoff: float
    pop: P.Population = None
    les: T.Lesions = None
    lat: T.Latent = None
    grid: dict = None
    assess: T.Assessments = None
    course: C.Course = None
    visit_names: dict = None


def _special_visits(study) -> dict:
    names = {}
    for v in study.visits:
        name = getattr(v, "visit", "")
        up = name.upper()
        if "{" in name:
            continue
        if "SCREEN" in up:
            names["screening"] = (name, v.visitnum)
        elif "END OF TREATMENT" in up:
            names["eot"] = (name, v.visitnum)
        elif "SAFETY" in up:
            names["safety"] = (name, v.visitnum)
        elif "SURVIVAL" in up:
            names["survival"] = (name, v.visitnum)
    defaults = {"screening": ("SCREENING", 1.0), "eot": ("END OF TREATMENT", 801.0),
                "safety": ("SAFETY FOLLOW-UP", 802.0), "survival": ("SURVIVAL FOLLOW-UP", 901.0)}
    for k, v in defaults.items():
        names.setdefault(k, v)
    return {k: (folder_name(v[0]), float(v[1])) for k, v in names.items()}


def run(study, spec, voc, mess, n: int, seed: int) -> State:
    st = State(study=study, spec=spec, voc=voc, mess=mess, streams=Streams(seed),
               cutoff=day(study.dates.data_cutoff))
    st.visit_names = _special_visits(study)
    s = st.streams
    pop = P.enrol(study, spec, n, s)
    P.cancer_history(pop, spec, voc, s)
    P.medical_history(pop, voc, s)
    st.pop = pop
    st.les = T.baseline_lesions(pop, spec, voc, s)
    st.lat = T.latent_course(pop, spec, st.les, s)
    co = C.survival(pop, spec, st.lat, s)
    st.grid = T.schedule(study, pop, mess, s)
    stop_day = np.minimum(co.death_latent, co.withdrawal)
    A = T.assess(study, spec, mess, pop, st.les, st.lat, st.grid, stop_day, st.cutoff, s)
    pd_inv = C.first_pd(A.rows[A.rows["j"] >= 0], n)
    last0, reason0 = C.treatment_stop(pop, spec, co, pd_inv, st.cutoff, s)
    ae = C.adverse_events(study, spec, voc, pop, co, last0, st.cutoff, s)
    n_ae0 = len(ae)
    ae["aeid"] = np.arange(n_ae0)
    ae, q, last, reason = C.dose_modifications(spec, pop, ae, last0, reason0, s)
    co.last_dose, co.stop_reason = last, reason
    ae = C.keep_reported(ae, last, study.safety_follow_up_days)
    fatal = C.fatal_events(pop, spec, voc, co, last, st.cutoff, s)
    if len(fatal):
        fatal["aeid"] = -1
        for d in spec.drugs.values():
            fatal[f"rel_{d.code}"] = False
            fatal[f"AEREL_{d.code}"] = np.where(s("fatal_rel").random(len(fatal)) < 0.5,
                                                "Unlikely related", "Not related")
        daily = [d for d in spec.drugs.values() if d.log == "daily"][0]
        fs = fatal["subj"].to_numpy()
        fatal[f"AEACN_{daily.code}"] = np.where(fatal["start"].to_numpy() <= last[fs],
                                                "Drug withdrawn", "Not applicable")
        fatal["interrupts"] = False
        ae = pd.concat([ae, fatal], ignore_index=True)
    # follow-up needs the recorded course before AEs are finalised (loss to follow-up cuts them)
    C.follow_up(pop, spec, co, st.cutoff, s)
    sub = ae["subj"].to_numpy()
    ae = ae[ae["start"].to_numpy() < co.lost[sub]]
    ae = C.ae_attributes(ae, spec, voc, co, last, st.cutoff, study, s)
    # link dose modifications to AE numbers
    spid = np.full(n_ae0, np.nan)
    ok = ae["aeid"].to_numpy() >= 0
    spid[ae["aeid"].to_numpy()[ok]] = ae["AESPID"].to_numpy()[ok]
    co.interruptions = q.assign(AESPID=spid[q["row"].to_numpy()])
    # cycle visits and per-cycle drugs
    co.cycles = C.cycle_visits(study, mess, pop, last, co, st.cutoff, spec, s)
    ongoing = reason == C.R_ONGOING
    for name, d in spec.drugs.items():
        if d.log == "daily":
            seg = C.daily_log(spec, pop, co.interruptions, last, ongoing, study.cycle_days, name)
            co.ex_daily[name] = seg
            co.drug_end[name] = (np.where(ongoing, np.nan, last),
                                 np.where(ongoing, None, take(C.REASONS, reason)))
        else:
            doses, act, wd_day, glast = C.cycle_doses(spec, name, co.cycles, ae, last,
                                                      spec.safety.irae_withdraw_grade, s)
            ae[f"AEACN_{d.code}"] = act
            co.ex_cycle[name] = doses
            end, why = _cycle_drug_end(d, doses, wd_day, glast, last, reason, ongoing, pop.n)
            co.drug_end[name] = (end, why)
    if any(d.cycles for d in spec.drugs.values()):
        irae_codes = [d.code for d in spec.drugs.values() if d.cycles]
        rel = np.zeros(len(ae), dtype=bool)
        for c in irae_codes:
            rel |= ae[f"rel_{c}"].to_numpy(dtype=bool)
        ae["AEIRAE"] = yes_no(ae["irae"].to_numpy(dtype=bool) & rel)
    co.ae = ae
    # subsequent therapy; scans stop at a new therapy before progression and at loss to follow-up
    co.subsequent = C.subsequent_therapy(pop, spec, voc, co, st.cutoff, s)
    tx = co.subsequent
    tx = tx[tx["start"].to_numpy() < co.lost[tx["subj"].to_numpy()]].reset_index(drop=True)
    co.subsequent = tx
    first_tx = np.full(n, np.inf)
    g = tx.groupby("subj")["start"].min()
    first_tx[g.index.to_numpy()] = g.to_numpy()
    rows = A.rows
    sj = rows["subj"].to_numpy()
    cut = np.where(np.isnan(pd_inv) | (first_tx < pd_inv), first_tx, np.inf)
    cut = np.minimum(cut, co.lost)
    keep = (rows["j"].to_numpy() < 0) | (rows["date"].to_numpy() < cut[sj])
    A = T.Assessments(rows=rows[keep].reset_index(drop=True), values=A.values[keep], ne=A.ne[keep],
                      nt_status=A.nt_status[keep], new_lesions=A.new_lesions)
    nl = A.new_lesions
    ok = nl["date"].to_numpy() < cut[nl["subj"].to_numpy()]
    A.new_lesions = nl[ok].reset_index(drop=True)
    co.pd_inv = C.first_pd(A.rows[A.rows["j"] >= 0], n)
    st.assess = A
    st.course = co
    return st


def _cycle_drug_end(d, doses, wd_day, glast, last, reason, ongoing, n):
    """Last dose and reason for a per-cycle drug (envafolimab)."""
    given = doses[doses["given"]]
    last_given = np.full(n, np.nan)
    g = given.groupby("subj")["date"].max()
    last_given[g.index.to_numpy()] = g.to_numpy()
    ncyc = np.zeros(n, dtype=np.int64)
    c = doses.groupby("subj")["cycle"].max()
    ncyc[c.index.to_numpy()] = c.to_numpy()
    withdrawn = np.isfinite(wd_day) & ~np.isnan(last_given)
    completed = (ncyc >= d.cycles) & ~withdrawn
    stopped = ~ongoing & ~withdrawn & ~completed
    why = np.full(n, None, dtype=object)
    why[withdrawn] = "Adverse event"
    why[completed] = "Completed"
    why[stopped] = take(C.REASONS, reason)[stopped]
    end = np.where(withdrawn | completed | stopped, last_given, np.nan)
    why = np.where(np.isnan(end), None, why)
    return end, why


# --------------------------------------------------------------------------------------------
# form frames (clean: dates as day numbers, coded fields as display text)

def form_groups(st: State) -> list:
    """Callables that each build a few form frames: the writer materialises one group at a
    time, so memory peaks with the largest group, not with the whole export."""
    return [lambda: _base_forms(st), lambda: _tumour_forms(st, _assessment_rows(st)),
            lambda: _drug_forms(st), lambda: _ae_form(st), lambda: _end_forms(st)]


def build_forms(st: State, registry: dict | None = None) -> dict[str, pd.DataFrame]:
    """Every form frame at once (clean: dates as day numbers, coded fields as display text)."""
    out: dict[str, pd.DataFrame] = {}
    for group in form_groups(st):
        out.update(group())
    return out


def _assessment_rows(st: State) -> pd.DataFrame:
    """Assessment rows with their folder, instance, visit number and sort rank."""
    A, vn = st.assess, st.visit_names
    scr_name, scr_num = vn["screening"]
    rows = A.rows
    post = rows["j"].to_numpy() >= 0
    names = np.array([folder_name(x) for x in st.grid["names"]], dtype=object)
    slot = rows["slot"].to_numpy()
    uns = rows["unsched"].to_numpy()
    rs_subj = rows["subj"].to_numpy()
    uns_no = np.zeros(len(rows), dtype=np.int64)
    if uns.any():
        uns_no[uns] = group_rank(rs_subj[uns]) + 1
    folder = np.where(~post, scr_name, np.where(uns, "Unscheduled", names[np.maximum(slot, 0)]))
    inst = np.where(~post, scr_name, np.where(uns, _instance("Unscheduled", uns_no), folder))
    vnum = np.where(~post, scr_num, np.where(uns, 0.0, st.grid["visitnum"][np.maximum(slot, 0)]))
    rank = np.where(post, RANK_VISIT, RANK_SCREENING)
    return rows.assign(folder=folder, inst=inst, vnum=vnum, rank=rank)


def _base_forms(st: State) -> dict[str, pd.DataFrame]:
    study, spec, pop, co = st.study, st.spec, st.pop, st.course
    s = st.streams
    vn = st.visit_names
    scr_name, scr_num = vn["screening"]
    n = pop.n
    idx = np.arange(n)
    out: dict[str, pd.DataFrame] = {}
    rng = s("forms")
    # enrolment and informed consent
    mid = day(study.dates.study_start) + 0.4 * (day(study.dates.enrolment_end) - day(study.dates.study_start))
    out["enrol"] = frame(idx, RANK_SCREENING, pop.consent, scr_name, scr_name, 0, scr_num,
                         RFICDAT=pop.consent, ICVER=np.where(pop.consent < mid, "1.0", "2.0").astype(object),
                         ELIGYN="Yes", ENRLDAT=pop.enrol)
    out["dm"] = frame(idx, RANK_SCREENING, pop.consent, scr_name, scr_name, 0, scr_num,
                      BRTHDAT=pop.birth, AGE=int_text(pop.age), AGEU="Years", SEX=pop.sex,
                      RACE=pop.race, ETHNIC=pop.ethnic, COUNTRY=pop.country)
    ecog_day = np.floor(pop.consent + rng.random(n) * (pop.first_dose - pop.consent))
    eot_name, eot_num = vn["eot"]
    ev = co.eot_visit
    e_idx = np.flatnonzero(~np.isnan(ev))
    eot_ecog = take(["0", "1", "2", "3"], rng.choice(4, size=len(e_idx), p=[0.1, 0.5, 0.35, 0.05]))
    out["ecog"] = pd.concat([
        frame(idx, RANK_SCREENING, pop.consent, scr_name, scr_name, 0, scr_num, ECOGDAT=ecog_day, ECOG=pop.ecog),
        frame(e_idx, RANK_EOT, ev[e_idx], eot_name, eot_name, 0, eot_num, ECOGDAT=ev[e_idx], ECOG=eot_ecog)],
        ignore_index=True)
    h = pop.history
    out["cancer_hx"] = frame(idx, RANK_SCREENING, pop.consent, scr_name, scr_name, 0, scr_num,
                             MHTERM=h["MHTERM"].to_numpy(), HISTTYPE=h["HISTTYPE"].to_numpy(),
                             PRIMSITE=h["PRIMSITE"].to_numpy(), MHSTDAT=h["diag"].to_numpy(),
                             ADVDAT=h["adv"].to_numpy(), DISSTAT=h["DISSTAT"].to_numpy(),
                             FNCLCC=h["FNCLCC"].to_numpy(), PRSYSN=int_text(h["PRSYSN"].to_numpy()),
                             PRANTHYN=h["PRANTHYN"].to_numpy(), PRAAGYN=h["PRAAGYN"].to_numpy())
    p = pop.prior
    ps = p["subj"].to_numpy()
    out["prior_tx"] = frame(ps, RANK_SCREENING, pop.consent[ps], scr_name, scr_name,
                            p["PTLINE"].to_numpy(), scr_num,
                            PTLINE=int_text(p["PTLINE"].to_numpy()), CMTRT=p["CMTRT"].to_numpy(),
                            PTTYPE=p["PTTYPE"].to_numpy(), PTANTH=p["PTANTH"].to_numpy(),
                            PTAAG=p["PTAAG"].to_numpy(), CMSTDAT=p["start"].to_numpy(),
                            CMENDAT=p["end"].to_numpy(), PTBOR=p["PTBOR"].to_numpy(),
                            PTRSN=p["PTRSN"].to_numpy())
    mh = pop.mh
    ms = mh["subj"].to_numpy()
    out["mh"] = frame(ms, RANK_SCREENING, pop.consent[ms], scr_name, scr_name, group_rank(ms) + 1, scr_num,
                      MHTERM=mh["MHTERM"].to_numpy(), MHSTDAT=mh["start"].to_numpy(),
                      MHONGO=mh["MHONGO"].to_numpy(), MHENDAT=mh["end"].to_numpy(),
                      MHTOXGR=mh["MHTOXGR"].to_numpy())
    rows = _assessment_rows(st)
    post = rows["j"].to_numpy() >= 0
    rs_subj = rows["subj"].to_numpy()
    folder, inst, vnum = rows["folder"].to_numpy(), rows["inst"].to_numpy(), rows["vnum"].to_numpy()
    # visit dates
    cyc = co.cycles[~co.cycles["missed"]]
    cyc_folder = folder_names(cyc["visit"].to_numpy())
    sfu_name, sfu_num = vn["safety"]
    sv_parts = [
        frame(idx, RANK_SCREENING, pop.consent, scr_name, scr_name, 0, scr_num, VISDAT=pop.consent),
        frame(cyc["subj"].to_numpy(), RANK_VISIT, cyc["date"].to_numpy(), cyc_folder, cyc_folder, 0,
              cyc["visitnum"].to_numpy(), VISDAT=cyc["date"].to_numpy()),
        frame(rs_subj[post], RANK_VISIT, rows["date"].to_numpy()[post], folder[post], inst[post], 0,
              vnum[post], VISDAT=rows["date"].to_numpy()[post]),
        frame(e_idx, RANK_EOT, ev[e_idx], eot_name, eot_name, 0, eot_num, VISDAT=ev[e_idx])]
    sv_i = np.flatnonzero(~np.isnan(co.safety_visit))
    sv_parts.append(frame(sv_i, RANK_SFU, co.safety_visit[sv_i], sfu_name, sfu_name, 0, sfu_num,
                          VISDAT=co.safety_visit[sv_i]))
    out["sv"] = pd.concat(sv_parts, ignore_index=True)
    return out


def folder_names(visits: np.ndarray) -> np.ndarray:
    """:func:`folder_name` per row, computed once per distinct visit."""
    codes, uniq = pd.factorize(np.asarray(visits, dtype=object))
    names = np.array([folder_name(v) for v in uniq], dtype=object)     # distinct visits only
    return names[codes] if len(codes) else np.zeros(0, dtype=object)


def _instance(base: str, k: np.ndarray) -> np.ndarray:
    """``Base (k)`` for k = 1, 2, ... (vectorised)."""
    return (base + " (" + pd.Series(np.asarray(k).astype(str)) + ")").to_numpy(dtype=object)


def _tumour_forms(st: State, rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    les, A, pop = st.les, st.assess, st.pop
    out: dict[str, pd.DataFrame] = {}
    s = rows["subj"].to_numpy()
    cm = rows["cm"].to_numpy()
    date = rows["date"].to_numpy()
    # target lesions: one row per lesion per assessment
    nt = les.n_target[s]
    r = np.repeat(np.arange(len(rows)), nt)
    pos = np.arange(len(r)) - np.repeat(np.cumsum(nt) - nt, nt)
    tg = les.target
    off = np.cumsum(les.n_target) - les.n_target
    lrow = off[s[r]] + pos
    nodal = tg["nodal"].to_numpy()[lrow]
    val = A.values[r, pos]
    ne = A.ne[r, pos]
    out["tu_target"] = frame(
        s[r], rows["rank"].to_numpy()[r], date[r], rows["folder"].to_numpy()[r], rows["inst"].to_numpy()[r],
        pos + 1, rows["vnum"].to_numpy()[r],
        TRLNKID=_instance_id("T", pos + 1), TULOC=tg["TULOC"].to_numpy()[lrow],
        TULAT=tg["TULAT"].to_numpy()[lrow], TULOCDTL=tg["TULOCDTL"].to_numpy()[lrow],
        TRMETHOD=tg["TRMETHOD"].to_numpy()[lrow], TRDAT=date[r],
        TRLDIAM=np.where(nodal, None, diam_text(val, cm[r])),
        TRSAXIS=np.where(nodal, diam_text(val, cm[r]), None),
        TRORRESU=np.where(cm[r], "cm", "mm").astype(object),
        TRSTAT=np.where(ne, "Not evaluable", None))
    # non-target lesions
    nn = les.n_nontarget[s]
    r = np.repeat(np.arange(len(rows)), nn)
    pos = np.arange(len(r)) - np.repeat(np.cumsum(nn) - nn, nn)
    ntf = les.nontarget
    off = np.cumsum(les.n_nontarget) - les.n_nontarget
    lrow = off[s[r]] + pos
    stat = A.nt_status[r, pos]
    out["tu_nontarget"] = frame(
        s[r], rows["rank"].to_numpy()[r], date[r], rows["folder"].to_numpy()[r], rows["inst"].to_numpy()[r],
        pos + 1, rows["vnum"].to_numpy()[r],
        NTLNKID=_instance_id("NT", pos + 1), TULOC=ntf["TULOC"].to_numpy()[lrow],
        TULAT=ntf["TULAT"].to_numpy()[lrow], TULOCDTL=ntf["TULOCDTL"].to_numpy()[lrow],
        TRMETHOD=ntf["TRMETHOD"].to_numpy()[lrow], TRDAT=date[r],
        NTSTAT=take(("Present", "Absent", "Unequivocal progression"), np.maximum(stat, 0)))
    # new lesions: folder of the assessment that found them
    nl = A.new_lesions
    key = pd.DataFrame({"subj": s, "j": rows["j"].to_numpy(), "ri": np.arange(len(rows))})
    nl = nl.merge(key, on=["subj", "j"], how="inner").sort_values(["subj", "j", "seq"], kind="mergesort")
    ri = nl["ri"].to_numpy()
    out["tu_new"] = frame(
        nl["subj"].to_numpy(), rows["rank"].to_numpy()[ri], date[ri], rows["folder"].to_numpy()[ri],
        rows["inst"].to_numpy()[ri], group_rank(ri) + 1, rows["vnum"].to_numpy()[ri],
        NLLNKID=_instance_id("NEW", nl["seq"].to_numpy()), TULOC=nl["TULOC"].to_numpy(),
        TULAT=nl["TULAT"].to_numpy(), TULOCDTL=nl["TULOCDTL"].to_numpy(),
        TRMETHOD=nl["TRMETHOD"].to_numpy(), TRDAT=date[ri])
    # overall response (post-baseline)
    post = rows["j"].to_numpy() >= 0
    p = rows[post]
    pc = p["cm"].to_numpy()
    ssum = np.where(p["any_ne"].to_numpy(), np.nan, p["sum"].to_numpy())
    inv = p["inv"].to_numpy()
    rng = st.streams("rs_comments")
    com = rng.random(len(p)) < 0.04
    texts = st.voc["rs_comments"]
    by_cat = {R.SD: np.where(p["sum"].to_numpy() > p["nadir_before"].to_numpy(), texts[0], texts[1]),
              R.NE: texts[2], R.PR: texts[3]}
    comment = np.full(len(p), None, dtype=object)
    for cat, txt in by_cat.items():
        m = com & (inv == cat)
        comment[m] = np.broadcast_to(np.asarray(txt, dtype=object), (len(p),))[m]
    out["rs"] = frame(
        p["subj"].to_numpy(), RANK_VISIT, p["date"].to_numpy(), p["folder"].to_numpy(), p["inst"].to_numpy(), 0,
        p["vnum"].to_numpy(),
        RSDAT=p["date"].to_numpy(), TRSUM=diam_text(ssum, pc), TRSUMU=np.where(pc, "cm", "mm").astype(object),
        RSTRGRES=take(R.TARGET_TEXT, p["tr"].to_numpy()), RSNTRGRS=take(R.TARGET_TEXT, p["ntr"].to_numpy()),
        RSNEWLES=yes_no(p["new"].to_numpy()), RSOVRLRS=take(R.TARGET_TEXT, inv), RSCOMM=comment)
    return out


def _instance_id(prefix: str, k: np.ndarray) -> np.ndarray:
    return (prefix + pd.Series(np.asarray(k).astype(str)).str.zfill(2)).to_numpy(dtype=object)


def _drug_forms(st: State) -> dict[str, pd.DataFrame]:
    spec, co, pop = st.spec, st.course, st.pop
    out: dict[str, pd.DataFrame] = {}
    for name, d in spec.drugs.items():
        key = f"ex_{name.lower()}"
        if d.log == "daily":
            seg = co.ex_daily[name]
            ss = seg["subj"].to_numpy()
            ongo = seg["ongoing"].to_numpy(dtype=bool)
            out[key] = frame(ss, RANK_LOGS, seg["start"].to_numpy(), "Logs", "Logs", group_rank(ss) + 1, 0.0,
                             EXTRT=d.display, EXCYCLE=int_text(seg["cycle"].to_numpy()),
                             EXSTDAT=seg["start"].to_numpy(),
                             EXENDAT=np.where(ongo, np.nan, seg["end"].to_numpy()),
                             EXONGO=yes_no(ongo), EXDOSE=int_text(seg["dose"].to_numpy()), EXDOSU="mg",
                             EXDOSFRM=d.form, EXROUTE=d.route, EXDOSFRQ=d.frequency,
                             EXADJ=seg["EXADJ"].to_numpy(), EXAENO=int_text(seg["EXAENO"].to_numpy()))
        else:
            doses = co.ex_cycle[name]
            ds = doses["subj"].to_numpy()
            given = doses["given"].to_numpy(dtype=bool)
            from studybuild.study import load_study

            dose = load_study(spec.study).treatment(name).dose
            fold = folder_names(doses["visit"].to_numpy())
            out[key] = frame(ds, RANK_VISIT, doses["date"].to_numpy(), fold, fold, 0, doses["visitnum"].to_numpy(),
                             EXTRT=d.display, EXCYCLE=int_text(doses["cycle"].to_numpy()), EXYN=yes_no(given),
                             EXSTDAT=np.where(given, doses["date"].to_numpy(), np.nan),
                             EXDOSE=np.where(given, int_text(np.full(len(doses), dose)), None),
                             EXDOSU="mg", EXDOSFRM=d.form, EXROUTE=d.route,
                             EXLOC=np.where(given, doses["EXLOC"].to_numpy(), None), EXDOSFRQ=d.frequency,
                             EXREASND=np.where(given, None, "Adverse event"),
                             EXAENO=int_text(doses["EXAENO"].to_numpy()))
    return out


def _ae_form(st: State) -> dict[str, pd.DataFrame]:
    ae, spec = st.course.ae, st.spec
    s = ae["subj"].to_numpy()
    fields = dict(AESPID=int_text(ae["AESPID"].to_numpy()), AETERM=ae["AETERM"].to_numpy(),
                  AETERM_PT=ae["AETERM_PT"].to_numpy(), AETERM_SOC=ae["AETERM_SOC"].to_numpy(),
                  **{c: ae[c].to_numpy() for c in CODING_COLUMNS},
                  AESTDAT=ae["start"].to_numpy(), AEENDAT=ae["end"].to_numpy(),
                  AEONGO=ae["AEONGO"].to_numpy(), AETOXGR=ae["AETOXGR"].to_numpy(),
                  AESER=ae["AESER"].to_numpy())
    for k in ("AESDTH", "AESLIFE", "AESHOSP", "AESDISAB", "AESCONG", "AESMIE"):
        fields[k] = ae[k].to_numpy()
    for d in spec.drugs.values():
        fields[f"AEREL_{d.code}"] = ae[f"AEREL_{d.code}"].to_numpy()
        fields[f"AEACN_{d.code}"] = ae[f"AEACN_{d.code}"].to_numpy()
    if "AEIRAE" in ae:
        fields["AEIRAE"] = ae["AEIRAE"].to_numpy()
    fields["AEOUT"] = ae["AEOUT"].to_numpy()
    return {"ae": frame(s, RANK_LOGS, ae["start"].to_numpy(), "Logs", "Logs", ae["AESPID"].to_numpy(), 0.0,
                        **fields)}


def _end_forms(st: State) -> dict[str, pd.DataFrame]:
    spec, co, pop, voc = st.spec, st.course, st.pop, st.voc
    out: dict[str, pd.DataFrame] = {}
    vn = st.visit_names
    eot_name, eot_num = vn["eot"]
    rng = st.streams("end_forms")
    parts = []
    texts = voc["discontinuation_text"]
    for i, (name, d) in enumerate(spec.drugs.items()):
        end, why = co.drug_end[name]
        k = np.flatnonzero(~np.isnan(end))
        w = why[k]
        term = np.full(len(k), None, dtype=object)
        u = rng.random(len(k))
        fill = rng.random(len(k)) < 0.5
        for reason, opts in texts.items():
            m = (w == reason) & fill
            term[m] = take(opts, np.floor(u[m] * len(opts)).astype(np.int64))
        # the date of discontinuation: the last dose, or the death when the subject died
        when = np.where((w == "Death") & ~np.isnan(co.death[k]), co.death[k], end[k])
        parts.append(frame(k, RANK_EOT, end[k], eot_name, eot_name, i + 1, eot_num,
                           EOTTRT=d.display, DSSTDAT=when, DSDECOD=w, DSTERM=term))
    out["eot"] = pd.concat(parts, ignore_index=True)
    k = np.flatnonzero(~np.isnan(co.eos))
    why = co.eos_reason[k]
    term = np.where(why == "Withdrawal by subject",
                    take(texts["Withdrawal by subject"], rng.integers(len(texts["Withdrawal by subject"]), size=len(k))),
                    None)
    term = np.where(rng.random(len(k)) < 0.5, term, None)
    out["eos"] = frame(k, RANK_EOS, co.eos[k], "End of Study", "End of Study", 0, 0.0,
                       DSSTDAT=co.eos[k], DSDECOD=why, DSTERM=term)
    # death report
    k = np.flatnonzero(~np.isnan(co.death))
    ae = co.ae
    fat = ae[ae["grade"].to_numpy() == 5]
    fat_pt = pd.Series(fat["AETERM_PT"].to_numpy(), index=fat["subj"].to_numpy())
    fat_pt = fat_pt[~fat_pt.index.duplicated()]
    has_fatal = np.isin(k, fat_pt.index.to_numpy())
    ci, ck = pick(rng, spec.disposition.death_cause, len(k))
    cause = take(ck, ci)
    other = voc["other_death_causes"]
    spec_txt = np.where(cause == "Other", take(other, rng.integers(len(other), size=len(k))), None)
    cause = np.where(has_fatal, "Adverse event", cause)
    spec_txt = np.where(has_fatal, fat_pt.reindex(k).to_numpy(dtype=object), spec_txt)
    co.death_cause = np.full(pop.n, None, dtype=object)
    co.death_cause[k] = cause
    out["death"] = frame(k, RANK_EOS, co.death[k], "End of Study", "End of Study", 0, 0.0,
                         DTHDAT=co.death[k], DTHCAUS=cause, DTHCAUSP=spec_txt)
    # subsequent therapy
    tx = co.subsequent
    ts = tx["subj"].to_numpy()
    out["subsq_tx"] = frame(ts, RANK_LOGS, tx["start"].to_numpy(), "Logs", "Logs", group_rank(ts) + 1, 0.0,
                            CMTRT=tx["CMTRT"].to_numpy(), CMTYPE=tx["CMTYPE"].to_numpy(),
                            CMSTDAT=tx["start"].to_numpy(), CMENDAT=tx["end"].to_numpy(),
                            CMONGO=tx["CMONGO"].to_numpy())
    # survival follow-up contacts
    c = co.contacts
    cs = c["subj"].to_numpy()
    surv_name, surv_num = vn["survival"]
    inst = _instance(surv_name, c["k"].to_numpy())
    out["survfu"] = frame(cs, RANK_SURV, c["date"].to_numpy(), surv_name, inst, 0, surv_num,
                          FUDAT=c["date"].to_numpy(), FUMETHOD=c["FUMETHOD"].to_numpy(),
                          FUSTAT=c["FUSTAT"].to_numpy(), LKADAT=c["LKADAT"].to_numpy())
    return out
