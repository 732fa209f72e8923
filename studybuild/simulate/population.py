"""Who is enrolled: sites, subject numbers, consent and first-dose dates, demographics, cancer
history, prior systemic therapy and medical history (all vectorised over subjects)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from studybuild.simulate._util import Streams, day, pick, take, uniform_int


@dataclass
class Population:
    n: int
    site: np.ndarray            # site number text per subject
    subject: np.ndarray         # "101-007"
    consent: np.ndarray         # day numbers (float)
    enrol: np.ndarray
    first_dose: np.ndarray
    birth: np.ndarray
    age: np.ndarray
    sex: np.ndarray             # display text
    race: np.ndarray
    ethnic: np.ndarray
    country: np.ndarray
    ecog: np.ndarray
    history: pd.DataFrame = field(default_factory=pd.DataFrame)     # one row per subject
    prior: pd.DataFrame = field(default_factory=pd.DataFrame)       # one row per prior line
    mh: pd.DataFrame = field(default_factory=pd.DataFrame)          # one row per condition


def _completed_years(birth: np.ndarray, on: np.ndarray) -> np.ndarray:
    b = birth.astype(np.int64).astype("datetime64[D]")
    o = on.astype(np.int64).astype("datetime64[D]")
    by = b.astype("datetime64[Y]").astype(np.int64)
    oy = o.astype("datetime64[Y]").astype(np.int64)
    bm = b.astype("datetime64[M]").astype(np.int64) % 12
    om = o.astype("datetime64[M]").astype(np.int64) % 12
    bd = (b - b.astype("datetime64[M]")).astype(np.int64)
    od = (o - o.astype("datetime64[M]")).astype(np.int64)
    before = (om < bm) | ((om == bm) & (od < bd))
    return (oy - by - before.astype(np.int64)).astype(float)


def enrol(study, spec, n: int, streams: Streams) -> Population:
    rng = streams("enrolment")
    from studybuild.standards import countries

    site_idx, site_keys = pick(rng, spec.enrolment.site_weights, n)
    start, end = day(study.dates.study_start), day(study.dates.enrolment_end)
    consent = np.floor(start + rng.random(n) * (end - start + 1))
    # subject numbers follow consent order within a site
    order = np.lexsort((consent, site_idx))
    site_idx, consent = site_idx[order], consent[order]
    seq = np.zeros(n, dtype=np.int64)
    for s in range(len(site_keys)):                       # loop over sites, not subjects
        m = site_idx == s
        seq[m] = np.arange(1, int(m.sum()) + 1)
    width = max(3, len(str(int(seq.max()) if n else 1)))
    site = take(site_keys, site_idx)
    subject = (pd.Series(site, dtype=object) + "-"
               + pd.Series(seq.astype(str)).str.zfill(width)).to_numpy(dtype=object)
    lo, hi = spec.enrolment.screening_days
    scr = uniform_int(rng, lo, hi, n)
    first_dose = consent + scr
    enrol_day = consent + np.floor(rng.random(n) * (scr + 1))

    d = spec.demographics
    rng = streams("demographics")
    amin = study.population.age_min
    amax = study.population.age_max or 85
    age_target = np.clip(rng.normal(d.age_mean, d.age_sd, n), amin + 0.01, amax + 0.99)
    birth = np.floor(consent - age_target * 365.25)
    age = _completed_years(birth, consent)
    # keep ages inside the eligibility range after rounding
    birth = np.where(age < amin, birth - 366, birth)
    birth = np.where(age > amax, birth + 366, birth)
    age = _completed_years(birth, consent)
    si, sk = pick(rng, d.sex, n)
    ri, rk = pick(rng, d.race, n)
    ei, ek = pick(rng, d.ethnic, n)
    gi, gk = pick(rng, d.ecog, n)
    site_country = {s.siteid: countries()[s.country].name for s in study.sites}
    country = take([site_country.get(k, "") for k in site_keys], site_idx)
    return Population(n=n, site=site, subject=subject, consent=consent, enrol=enrol_day,
                      first_dose=first_dose, birth=birth, age=age, sex=take(sk, si),
                      race=take(rk, ri), ethnic=take(ek, ei), country=country, ecog=take(gk, gi))


def cancer_history(pop: Population, spec, voc: dict, streams: Streams) -> None:
    """Cancer history (one row per subject) and prior systemic therapy (one row per line)."""
    n = pop.n
    rng = streams("history")
    ds = spec.disease
    hi, hk = pick(rng, ds.histology, n)
    pi, pk = pick(rng, ds.primary_site, n)
    fi, fk = pick(rng, ds.fnclcc, n)
    hist = take(hk, hi)
    site_words = voc["primary_site_term"]
    prim = take(pk, pi)
    term = (pd.Series(hist) + " of the " + pd.Series(take([site_words[k] for k in pk], pi))).to_numpy(
        dtype=object)
    y0, y1 = ds.years_diagnosis_to_consent
    diag = np.floor(pop.consent - (y0 + rng.random(n) * (y1 - y0)) * 365.25)
    adv = np.floor(diag + rng.random(n) * 0.6 * (pop.consent - 120 - diag).clip(min=30))
    metastatic = rng.random(n) < ds.metastatic
    li, lk = pick(rng, {int(k): v for k, v in ds.prior_lines.items()}, n)
    nlines = np.asarray(lk)[li].astype(np.int64)

    # prior lines: explode subjects x lines
    subj = np.repeat(np.arange(n), nlines)
    line = _line_numbers(nlines)
    rng = streams("prior_therapy")
    m = len(subj)
    anth = (line == 1) & (rng.random(m) < ds.first_line_anthracycline)
    aag = (line > 1) & (rng.random(m) < ds.antiangiogenic_per_later_line) & ~anth
    if ds.require_antiangiogenic:
        last = line == nlines[subj]
        has = pd.Series(aag).groupby(subj).transform("any").to_numpy()
        aag = np.where(last & ~has & (line > 1), True, aag)
    reg = voc["regimens"]
    r_anth = take(reg["anthracycline"], rng.integers(len(reg["anthracycline"]), size=m))
    r_aag = take(reg["antiangiogenic"], rng.integers(len(reg["antiangiogenic"]), size=m))
    r_chem = take(reg["chemotherapy"], rng.integers(len(reg["chemotherapy"]), size=m))
    regimen = np.where(anth, r_anth, np.where(aag, r_aag, r_chem))
    ptype = np.where(aag, "Targeted therapy", "Chemotherapy").astype(object)
    # dates: lines share the span from advanced disease to 3 weeks before consent
    span_start = adv[subj]
    span_end = pop.consent[subj] - 21
    width = (span_end - span_start) / nlines[subj]
    start = np.floor(span_start + (line - 1) * width + rng.random(m) * 0.2 * width)
    end = np.floor(span_start + line * width - rng.random(m) * 0.25 * width)
    end = np.maximum(end, start + 14)
    last = line == nlines[subj]
    bor_keys = ["Partial response", "Stable disease", "Progressive disease", "Not evaluable",
                "Unknown", "Complete response"]
    bor = take(bor_keys, rng.choice(6, size=m, p=[0.15, 0.45, 0.3, 0.03, 0.05, 0.02]))
    rsn_keys = ["Disease progression", "Toxicity", "Completed planned therapy", "Other"]
    rsn = take(rsn_keys, rng.choice(4, size=m, p=[0.6, 0.15, 0.2, 0.05]))
    rsn = np.where(last, "Disease progression", rsn)
    pop.prior = pd.DataFrame({
        "subj": subj, "PTLINE": line, "CMTRT": regimen, "PTTYPE": ptype,
        "PTANTH": np.where(anth, "Yes", "No"), "PTAAG": np.where(aag, "Yes", "No"),
        "start": start, "end": end, "PTBOR": bor, "PTRSN": rsn})
    any_anth = np.bincount(subj, weights=anth, minlength=n) > 0
    any_aag = np.bincount(subj, weights=aag, minlength=n) > 0
    pop.history = pd.DataFrame({
        "MHTERM": term, "HISTTYPE": hist, "PRIMSITE": prim, "diag": diag, "adv": adv,
        "DISSTAT": np.where(metastatic, "Metastatic", "Locally advanced"),
        "FNCLCC": take(fk, fi), "PRSYSN": nlines.astype(float),
        "PRANTHYN": np.where(any_anth, "Yes", "No"), "PRAAGYN": np.where(any_aag, "Yes", "No")})


def _line_numbers(counts: np.ndarray) -> np.ndarray:
    """1..k for each k in counts, concatenated."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    starts = ends - counts
    return np.arange(total) - np.repeat(starts, counts) + 1


def medical_history(pop: Population, voc: dict, streams: Streams) -> None:
    rng = streams("medical_history")
    frames = []
    for term, (p, p_ongo, p_g2) in voc["medical_history"].items():   # loop over terms
        has = rng.random(pop.n) < p
        ongo = rng.random(pop.n) < p_ongo
        g2 = rng.random(pop.n) < p_g2
        yrs = rng.random(pop.n) * 15 + 0.3
        idx = np.flatnonzero(has)
        start = np.floor(pop.consent[idx] - yrs[idx] * 365.25)
        end = np.where(ongo[idx], np.nan,
                       np.floor(start + rng.random(pop.n)[idx] * (pop.consent[idx] - 30 - start)))
        frames.append(pd.DataFrame({
            "subj": idx, "MHTERM": term, "start": start, "end": end,
            "MHONGO": np.where(ongo[idx], "Yes", "No"),
            "MHTOXGR": np.where(ongo[idx], np.where(g2[idx], "2", "1"), None)}))
    mh = pd.concat(frames, ignore_index=True)
    # a hysterectomy belongs to a woman
    mh = mh[~((mh["MHTERM"] == "Hysterectomy") & (pop.sex[mh["subj"].to_numpy()] != "Female"))]
    pop.mh = mh.sort_values(["subj", "start", "MHTERM"], kind="mergesort").reset_index(drop=True)
