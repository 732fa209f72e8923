"""Tumour burden over time: baseline lesions, a latent course per subject (shrinkage, time to
progression and how it shows), measurements at each assessment and their RECIST 1.1 reading.

The assessment loop runs over visit slots (never over subjects): at each slot every subject
still being scanned gets measurements computed from the latent course and the running nadir,
so the first investigator PD stops that subject's scans, as in a real trial.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from studybuild.simulate import recist as R
from studybuild.simulate._util import Streams, pick, take, uniform_int, weibull_median

MAXL = 5                        # target lesions at most (RECIST 1.1)
MAXNT = 5
MONTH = 30.4375
TARGET, NEW, NONTARGET = 0, 1, 2
PRESENT, ABSENT, UNEQUIVOCAL = 0, 1, 2
STATUS_TEXT = ("Present", "Absent", "Unequivocal progression")


@dataclass
class Lesions:
    target: pd.DataFrame        # subj, pos (0..4), TULOC, TULAT, TULOCDTL, TRMETHOD, nodal, base
    nontarget: pd.DataFrame     # subj, pos, TULOC, TULAT, TULOCDTL, TRMETHOD
    base: np.ndarray            # [n, 5] baseline diameters in mm (NaN: no lesion)
    nodal: np.ndarray           # [n, 5] bool
    n_target: np.ndarray
    n_nontarget: np.ndarray


@dataclass
class Latent:
    responder: np.ndarray
    complete: np.ndarray
    depth: np.ndarray           # relative change at best (negative = shrinkage)
    days_to_best: np.ndarray
    pd_day: np.ndarray          # latent progression, days after first dose
    mode: np.ndarray            # TARGET / NEW / NONTARGET


@dataclass
class Assessments:
    rows: pd.DataFrame          # one per assessment (baseline included, j = -1)
    values: np.ndarray          # [rows, 5] mm (NaN absent or not evaluable)
    ne: np.ndarray              # [rows, 5] bool
    nt_status: np.ndarray       # [rows, 5] int (-1 no lesion)
    new_lesions: pd.DataFrame   # subj, date, row (index into rows), TULOC, ...


def fill_lat(templates: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Replace ``{lat}`` in each template by the row's laterality (vectorised per value)."""
    out = np.asarray(templates, dtype=object).copy()
    lat = np.asarray(lat, dtype=object)
    for la in ("Left", "Right", None):
        m = lat == la if la is not None else pd.isna(lat)
        if m.any():
            t = pd.Series(out[m], dtype=object)
            t = t.str.replace(r"^\{lat\}", la or "", regex=True)          # sentence start
            t = t.str.replace("{lat}", (la or "").lower(), regex=False)   # inside a phrase
            out[m] = t.str.replace("  ", " ", regex=False).str.strip().to_numpy(dtype=object)
    return out


def _place(counts: np.ndarray, organ_w: dict, per_organ: int | None, rng, voc_org: dict,
           width: int) -> pd.DataFrame:
    """Up to ``width`` lesions per subject with organ, laterality and detail."""
    n = len(counts)
    cand = 3 * width
    oi, ok = pick(rng, {k: v["weight"] for k, v in organ_w.items()}, n * cand)
    subj = np.repeat(np.arange(n), cand)
    df = pd.DataFrame({"subj": subj, "organ": oi})
    if per_organ is not None:
        rank = df.groupby(["subj", "organ"], sort=False).cumcount().to_numpy()
        df = df[rank < per_organ]
    pos = df.groupby("subj", sort=False).cumcount().to_numpy()
    df = df[pos < counts[df["subj"].to_numpy()]].copy()
    df["pos"] = df.groupby("subj", sort=False).cumcount().to_numpy()
    m = len(df)
    organ = df["organ"].to_numpy()
    lat_has = np.array([bool(organ_w[k].get("laterality")) for k in ok])[organ]
    lat = np.where(lat_has, np.where(rng.random(m) < 0.5, "Left", "Right"), None)
    # detail text: choose one template per lesion (loop over organs only)
    detail = np.empty(m, dtype=object)
    u = rng.random(m)
    for o, name in enumerate(ok):
        sel = organ == o
        if not sel.any():
            continue
        tpl = organ_w[name]["details"]
        choice = take(tpl, np.floor(u[sel] * len(tpl)).astype(np.int64))
        detail[sel] = fill_lat(choice, lat[sel])
    df["TULOC"] = take(ok, organ)
    df["TULAT"] = lat
    df["TULOCDTL"] = detail
    return df.reset_index(drop=True)


def baseline_lesions(pop, spec, voc: dict, streams: Streams) -> Lesions:
    rng = streams("lesions")
    n = pop.n
    tu = spec.tumour
    ti, tk = pick(rng, {int(k): v for k, v in tu.target_lesions.items()}, n)
    n_t = np.asarray(tk)[ti].astype(np.int64)
    ni, nk = pick(rng, {int(k): v for k, v in tu.nontarget_lesions.items()}, n)
    n_nt = np.asarray(nk)[ni].astype(np.int64)
    tgt = _place(n_t, voc["organs"], 2, rng, voc["organs"], MAXL)
    n_t = np.bincount(tgt["subj"], minlength=n)
    organs = voc["organs"]
    loc = pd.Series(tgt["TULOC"].to_numpy(dtype=object), dtype=object)
    nodal = loc.map({k: bool(v["nodal"]) for k, v in organs.items()}).to_numpy(dtype=bool)
    mri_p = loc.map({k: float(v["mri"]) for k, v in organs.items()}).to_numpy(dtype=float)
    m = len(tgt)
    lo, hi = tu.nodal_sa_mm
    sa = uniform_int(rng, lo, hi, m)
    ld = np.clip(np.rint(tu.nonnodal_ld_median_mm * np.exp(tu.nonnodal_ld_sd_log * rng.standard_normal(m))),
                 10, 160)
    tgt["nodal"] = nodal
    tgt["base"] = np.where(nodal, sa, ld)
    tgt["TRMETHOD"] = np.where(rng.random(m) < mri_p, "MRI", "CT scan")
    base = np.full((n, MAXL), np.nan)
    nod = np.zeros((n, MAXL), dtype=bool)
    base[tgt["subj"].to_numpy(), tgt["pos"].to_numpy()] = tgt["base"].to_numpy()
    nod[tgt["subj"].to_numpy(), tgt["pos"].to_numpy()] = nodal
    nt = _place(n_nt, voc["nontarget_organs"], 1, rng, voc["nontarget_organs"], MAXNT)
    nt["TRMETHOD"] = "CT scan"
    n_nt = np.bincount(nt["subj"], minlength=n)
    return Lesions(target=tgt, nontarget=nt, base=base, nodal=nod, n_target=n_t,
                   n_nontarget=n_nt)


def latent_course(pop, spec, les: Lesions, streams: Streams) -> Latent:
    rng = streams("efficacy")
    ef = spec.efficacy
    n = pop.n
    resp = rng.random(n) < ef.response_rate
    comp = resp & (rng.random(n) < ef.cr_fraction)
    lo, hi = ef.pr_depth
    nlo, nhi = ef.nonresponder_change
    depth = np.where(resp, -(lo + rng.random(n) * (hi - lo)), nlo + rng.random(n) * (nhi - nlo))
    depth = np.where(comp, -1.0, depth)
    b0, b1 = ef.days_to_best
    t_best = uniform_int(rng, b0, b1, n)
    med = np.where(resp, ef.pfs_responder_median_months, ef.pfs_nonresponder_median_months) * MONTH
    pd_day = weibull_median(rng, med, ef.pfs_shape, n)
    mi, mk = pick(rng, ef.progression_mode, n)
    mode = np.array([{"target": TARGET, "new": NEW, "nontarget": NONTARGET}[k] for k in mk])[mi]
    mode = np.where((mode == NONTARGET) & (les.n_nontarget == 0), NEW, mode)
    return Latent(responder=resp, complete=comp, depth=depth, days_to_best=t_best,
                  pd_day=pd_day, mode=mode)


def schedule(study, pop, mess, streams: Streams):
    """Planned and actual dates of the assessment grid: per scheduled slot k an unscheduled
    candidate (column 2k) and the scheduled assessment (column 2k+1)."""
    ts = study.tumour_assessments
    vs = ts.visits
    n, K = pop.n, vs.count
    rng = streams("assessment_dates")
    planned_day = vs.first_day + vs.every_days * np.arange(K)          # study day (day 1 = first dose)
    planned = pop.first_dose[:, None] + (planned_day[None, :] - 1)
    w = vs.window_days
    drift = uniform_int(rng, -w, w, (n, K))
    # out-of-window assessments (mess)
    r_oow = streams("mess_out_of_window")
    oow_draw = r_oow.random((n, K))
    oow_size = uniform_int(r_oow, w + 1, w + 7, (n, K)) * np.where(r_oow.random((n, K)) < 0.5, -1, 1)
    oow = oow_draw < mess.out_of_window
    actual = planned + np.where(oow, oow_size, drift)
    missed = streams("mess_missed_assessments").random((n, K)) < mess.missed_visits
    r_u = streams("mess_unscheduled")
    want_u = r_u.random((n, K)) < mess.unscheduled
    u_frac = r_u.random((n, K))
    prev = np.concatenate([pop.first_dose[:, None], actual[:, :-1]], axis=1)
    gap = actual - prev
    u_date = np.floor(prev + 14 + u_frac * (gap - 28))
    unsched = want_u & (gap >= 35)
    J = 2 * K
    dates = np.full((n, J), np.nan)
    perf = np.zeros((n, J), dtype=bool)
    dates[:, 0::2] = np.where(unsched, u_date, np.nan)
    perf[:, 0::2] = unsched
    dates[:, 1::2] = actual
    perf[:, 1::2] = ~missed
    names = [vs.visit.format(n=k + 1, day=int(d), week=(int(d) - 1) // 7)
             for k, d in enumerate(planned_day)]
    return dict(dates=dates, perf=perf, planned=planned, planned_day=planned_day, oow=oow,
                missed=missed, names=names, visitnum=vs.first_visitnum + vs.visitnum_step * np.arange(K),
                window=w)


def assess(study, spec, mess, pop, les: Lesions, lat: Latent, grid: dict, stop_day: np.ndarray,
           cutoff: float, streams: Streams) -> Assessments:
    """Measure every subject at each slot until the investigator calls PD, the subject dies or
    withdraws (``stop_day``: first day without scans), or the data cut-off."""
    n = pop.n
    F = pop.first_dose
    cv = spec.tumour.measurement_cv
    rng = streams("measurements")
    r_ne = streams("mess_not_evaluable")
    r_dis = streams("mess_disagreement")
    r_cm = streams("mess_cm")
    cm_site = np.isin(pop.site.astype(str), np.array(list(mess.cm_sites), dtype=str))
    present = ~np.isnan(les.base)
    base_mm = np.where(present, les.base, 0.0)
    S0 = base_mm.sum(axis=1)
    nadir = S0.copy()
    stopped = np.zeros(n, dtype=bool)
    new_seq = np.zeros(n, dtype=np.int64)
    ntpres = np.arange(MAXNT)[None, :] < les.n_nontarget[:, None]
    rows, vals_l, ne_l, nts_l = [], [], [], []
    rscr = streams("baseline_scan")
    # baseline (j = -1): within [-28, -1] days of the first dose, on or after consent
    lo = np.maximum(pop.consent, F - 28)
    bdate = np.floor(lo + rscr.random(n) * (F - lo))
    bunit = cm_site | (r_cm.random(n) < mess.cm_assessments)
    rows.append(pd.DataFrame({
        "subj": np.arange(n), "j": -1, "date": bdate, "unsched": False, "slot": -1,
        "cm": bunit, "sum": S0, "nadir_before": np.nan, "tr": R.NA, "ntr": R.NA, "new": False,
        "ovr": R.NA, "inv": R.NA, "disagree": False, "any_ne": False}))
    vals_l.append(np.where(present, les.base, np.nan))
    ne_l.append(np.zeros((n, MAXL), dtype=bool))
    nts_l.append(np.where(ntpres, PRESENT, -1))
    new_rows = []
    J = grid["dates"].shape[1]
    mode = lat.mode
    for j in range(J):                                   # loop over visit slots
        date = grid["dates"][:, j]
        noise = rng.standard_normal((n, MAXL))
        margin = 0.06 + 0.2 * rng.random(n)
        node_cr = uniform_int(rng, 4, 9, (n, MAXL))
        n_new = uniform_int(rng, *spec.tumour.new_lesions, n)
        ne_draw = r_ne.random((n, MAXL)) < mess.not_evaluable
        dis_draw = r_dis.random(n) < mess.disagreement
        cm_draw = r_cm.random(n) < mess.cm_assessments
        act = grid["perf"][:, j] & ~stopped & (date < stop_day) & (date <= cutoff)
        if not act.any():
            continue
        t = date - F
        frac = np.clip(t / lat.days_to_best, 0.0, 1.0)
        ratio = 1.0 + lat.depth * frac
        prog = t >= lat.pd_day
        tprog = prog & (mode == TARGET)
        grow = 1.0 + 0.08 * np.clip(t - lat.pd_day, 0, None) / MONTH
        s_star = np.maximum(1.2 * nadir * (1 + margin), nadir + 8) * grow
        ratio = np.where(tprog, s_star / np.maximum(S0, 1), ratio)
        v = les.base * ratio[:, None] * (1 + cv * noise)
        crnow = lat.complete & (frac >= 1) & ~prog
        v = np.where(crnow[:, None] & ~les.nodal, 0.0, v)
        v = np.where(crnow[:, None] & les.nodal, node_cr, v)
        v = np.rint(v)
        v = np.where(~les.nodal & (v < 3), 0.0, v)
        v = np.where(les.nodal, np.maximum(v, 3), v)
        v = np.where(present, v, np.nan)
        ne = ne_draw & present
        ev = np.where(ne, np.nan, v)
        s = np.nansum(ev, axis=1)
        any_ne = ne.any(axis=1)
        gone = np.where(les.nodal, ev < 10, ev == 0)
        all_gone = np.all(gone | ~present, axis=1) & ~any_ne
        tr = R.target_response(s, any_ne, all_gone, S0, nadir)
        # non-target lesions
        nts = np.where(ntpres, np.where(crnow[:, None], ABSENT, PRESENT), -1)
        ntprog = prog & (mode == NONTARGET)
        nts[:, 0] = np.where(ntprog & ntpres[:, 0], UNEQUIVOCAL, nts[:, 0])
        ntr = R.nontarget_response(les.n_nontarget, (nts == UNEQUIVOCAL).any(axis=1),
                                   np.all((nts == ABSENT) | (nts == -1), axis=1))
        new = prog & (mode == NEW)
        ovr = R.overall_response(tr, ntr, new)
        # investigator's reading: mostly RECIST, sometimes a neighbouring category
        pd_target_only = (ovr == R.PD) & (tr == R.PD) & (ntr != R.PD) & ~new
        eligible = np.isin(ovr, (R.CR, R.PR, R.SD)) | pd_target_only
        dis = dis_draw & eligible
        alt = np.select([ovr == R.CR, ovr == R.PR, (ovr == R.SD) & (s > nadir), ovr == R.SD,
                         ovr == R.PD], [R.PR, R.SD, R.PD, R.PR, R.SD], ovr)
        inv = np.where(dis, alt, ovr).astype(np.int8)
        idx = np.flatnonzero(act)
        rows.append(pd.DataFrame({
            "subj": idx, "j": j, "date": date[idx], "unsched": j % 2 == 0, "slot": j // 2,
            "cm": (cm_site | cm_draw)[idx], "sum": s[idx], "nadir_before": nadir[idx],
            "tr": tr[idx], "ntr": ntr[idx], "new": new[idx], "ovr": ovr[idx], "inv": inv[idx],
            "disagree": dis[idx], "any_ne": any_ne[idx]}))
        vals_l.append(ev[idx])
        ne_l.append(ne[idx])
        nts_l.append(nts[idx])
        nsel = idx[new[idx]]
        if len(nsel):
            k = n_new[nsel].astype(np.int64)
            new_rows.append(pd.DataFrame({"subj": np.repeat(nsel, k), "j": j,
                                          "date": np.repeat(date[nsel], k)}))
        upd = act & ~any_ne
        nadir = np.where(upd, np.minimum(nadir, s), nadir)
        stopped |= act & (inv == R.PD)
    out = pd.concat(rows, ignore_index=True)
    values = np.concatenate(vals_l)
    nes = np.concatenate(ne_l)
    nts_all = np.concatenate(nts_l)
    order = np.lexsort((out["j"].to_numpy(), out["subj"].to_numpy()))
    out = out.iloc[order].reset_index(drop=True)
    values, nes, nts_all = values[order], nes[order], nts_all[order]
    newdf = (pd.concat(new_rows, ignore_index=True) if new_rows
             else pd.DataFrame({"subj": np.zeros(0, np.int64), "j": np.zeros(0, np.int64),
                                "date": np.zeros(0)}))
    newdf = _new_lesion_details(newdf, streams, out)
    return Assessments(rows=out, values=values, ne=nes, nt_status=nts_all, new_lesions=newdf)


def _new_lesion_details(newdf: pd.DataFrame, streams: Streams, rows: pd.DataFrame) -> pd.DataFrame:
    from studybuild.simulate.config import vocabulary

    voc = vocabulary()
    rng = streams("new_lesions")
    newdf = newdf.sort_values(["subj", "j"], kind="mergesort").reset_index(drop=True)
    m = len(newdf)
    organs = voc["new_organs"]
    oi, ok = pick(rng, {k: v["weight"] for k, v in organs.items()}, m)
    lat_has = np.array([bool(organs[k].get("laterality")) for k in ok])[oi] if m else np.zeros(0, bool)
    lat = np.where(lat_has, np.where(rng.random(m) < 0.5, "Left", "Right"), None)
    u = rng.random(m)
    detail = np.empty(m, dtype=object)
    for o, name in enumerate(ok):
        sel = oi == o
        if sel.any():
            tpl = organs[name]["details"]
            ch = take(tpl, np.floor(u[sel] * len(tpl)).astype(np.int64))
            detail[sel] = fill_lat(ch, lat[sel])
    newdf["TULOC"] = take(ok, oi) if m else np.zeros(0, dtype=object)
    newdf["TULAT"] = lat
    newdf["TULOCDTL"] = detail
    newdf["TRMETHOD"] = "CT scan"
    newdf["seq"] = newdf.groupby("subj").cumcount().to_numpy() + 1
    return newdf
