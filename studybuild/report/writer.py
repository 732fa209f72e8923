"""Write the reviewer report: ``OUT/ID/report.html`` (self-contained) and ``OUT/ID/figures/``.

The page is rendered with jinja2 from ``templates/report.html.j2``; every number on it comes
from :func:`~studybuild.report.endpoints.compute_endpoints` and is formatted here, so the
template only lays things out. Figures are embedded as base64 PNG and also written beside the
page. No clock time, host name or absolute path is written: the same inputs give the same bytes.
"""

from __future__ import annotations

import base64
import dataclasses
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np
import pandas as pd

from studybuild import __version__
from studybuild.atomic import write_bytes, write_text
from studybuild.report.endpoints import (DAYS_PER_MONTH, RESPONSE_ORDER, TOTAL, Endpoints,
                                         compute_endpoints, compute_simon)

if TYPE_CHECKING:
    from studybuild.study import Study

#: every figure the report can write, in page order (file stem -> what it shows)
FIGURES = {"km_pfs": "PFS", "km_os": "OS", "km_dor": "RSD", "waterfall": "waterfall",
           "swimmer": "swimmer"}

RESPONSE_LABELS = {"CR": "Complete response (CR)", "PR": "Partial response (PR)",
                   "SD": "Stable disease (SD)", "NON-CR/NON-PD": "Non-CR/non-PD",
                   "PD": "Progressive disease (PD)", "NE": "Not evaluable (NE)",
                   "MISSING": "Missing (no response assessment)"}
POPULATION_FLAGS = (("ENRLFL", "Enrolled"), ("ITTFL", "Intent-to-treat"),
                    ("FASFL", "Full analysis set"), ("EFFFL", "Efficacy evaluable"),
                    ("SAFFL", "Safety"), ("PPROTFL", "Per protocol"))
TS_FIELDS = (("TITLE", "Title"), ("TPHASE", "Phase"), ("INDIC", "Indication"),
             ("SPONSOR", "Sponsor"), ("SSTDTC", "Study start"), ("DCUTDTC", "Data cut-off"))


# ---------------------------------------------------------------------------------------
# number formatting: one place, so the page and docs agree
# ---------------------------------------------------------------------------------------

def fmt_pct(n: int, N: int) -> str:
    """``n (x.x%)``; a bare ``0`` when n or N is 0."""
    return f"{n} ({100.0 * n / N:.1f}%)" if N and n else f"{n}"


def fmt_rate(rate: float, lower: float, upper: float) -> tuple[str, str]:
    if rate is None or math.isnan(rate):
        return "—", "—"
    return f"{100 * rate:.1f}%", f"{100 * lower:.1f}–{100 * upper:.1f}"


def fmt_months(days: float, missing: str = "NE") -> str:
    return missing if days is None or math.isnan(days) else f"{days / DAYS_PER_MONTH:.1f}"


def fmt_date(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)) or pd.isna(v):
        return "—"
    return pd.Timestamp(v).strftime("%Y-%m-%d")


def _phase(text: str) -> str:
    """``PHASE II TRIAL`` -> ``Phase II trial`` (roman numerals stay upper case)."""
    words = [w if w and set(w) <= set("IV") else w.lower() for w in text.split()]
    out = " ".join(words)
    return out[:1].upper() + out[1:]


def _text(v: Any) -> str:
    if v is None:
        return "—"
    try:
        if pd.isna(v):
            return "—"
    except (TypeError, ValueError):
        pass
    return str(v)


# ---------------------------------------------------------------------------------------
# view model
# ---------------------------------------------------------------------------------------

def _study_summary(study: "Study | None", adam: Mapping[str, pd.DataFrame],
                   ep: Endpoints) -> dict[str, Any]:
    adsl = _frame(adam, "ADSL")
    enrolled = int(len(adsl)) if adsl is not None else None
    if study is not None:
        d = study.design
        design = ", ".join(x for x in (
            d.blinding.lower(), d.intervention_model.lower(),
            "randomised" if d.randomised else "non-randomised",
            f"{d.centres}-centre", d.line_of_therapy) if x)
        countries = sorted({s.country for s in study.sites})
        ta = study.tumour_assessments
        rows = [("Study", f"{study.studyid} ({study.id})"), ("Title", study.title),
                ("Sponsor", study.sponsor), ("Indication", study.indication),
                ("Phase", _phase(d.phase)), ("Design", design),
                ("Subjects", f"{study.planned_subjects} planned"
                 + (f"; {enrolled} in ADSL" if enrolled is not None else "")),
                ("Sites", f"{len(study.sites)} ({', '.join(countries)})"),
                ("Tumour assessment", f"{ta.criteria}, every {ta.every_days} days "
                 f"(±{ta.window_days}); CR/PR confirmed ≥ {ta.confirmation_min_days} days "
                 f"later; SD ≥ {ta.sd_min_days - ta.sd_window_days} days after start"),
                ("Study start", study.dates.study_start.isoformat()),
                ("Enrolment end", study.dates.enrolment_end.isoformat()),
                ("Data cut-off", f"{study.dates.data_cutoff.isoformat()} "
                 f"({study.dates.data_cutoff_description})"),
                ("Standards", f"SDTMIG {study.sdtmig_version}, ADaMIG {study.adamig_version}, "
                 f"CDISC CT {study.ct_version}, NCI-CTCAE v{study.ctcae_version}")]
        treatments = [{"name": t.name.title(), "dose": f"{t.dose:g} {t.unit}",
                       "route": t.route.lower(), "frequency": t.frequency,
                       "schedule": t.schedule or "—"} for t in study.treatments]
        arms = [{"code": a.armcd, "name": a.arm, "description": a.description or "—"}
                for a in study.arms]
        endpoints = [{"level": e.level, "name": e.name, "definition": e.definition,
                      "horizon": e.horizon or "—"} for e in study.endpoints]
        return {"source": "study.yaml", "rows": rows, "treatments": treatments, "arms": arms,
                "endpoints": endpoints, "assumptions": list(study.assumptions)}
    rows: list[tuple[str, str]] = []
    if adsl is not None and "STUDYID" in adsl.columns:
        rows.append(("Study", ", ".join(sorted(adsl["STUDYID"].dropna().astype(str).unique()))))
    ts = _frame(adam, "TS")
    if ts is not None and {"TSPARMCD", "TSVAL"} <= set(ts.columns):
        first = ts.dropna(subset=["TSVAL"]).drop_duplicates("TSPARMCD").set_index("TSPARMCD")
        for code, label in TS_FIELDS:
            if code in first.index:
                rows.append((label, str(first.loc[code, "TSVAL"])))
    if enrolled is not None:
        rows.append(("Subjects", f"{enrolled} in ADSL"))
    arms = []
    if adsl is not None and "TRT01P" in adsl.columns:
        counts = adsl["TRT01P"].astype("str").fillna("Missing").value_counts().sort_index()
        arms = [{"code": "", "name": k, "description": f"{int(v)} subjects"}
                for k, v in counts.items()]
    return {"source": "ADSL" + (" and TS" if ts is not None else ""), "rows": rows,
            "treatments": [], "arms": arms, "endpoints": [], "assumptions": []}


def _frame(adam: Mapping[str, pd.DataFrame], name: str) -> pd.DataFrame | None:
    for k, v in adam.items():
        if str(k).upper() == name and v is not None:
            return v
    return None


def _populations(adam, ep: Endpoints) -> dict[str, Any]:
    adsl = _frame(adam, "ADSL")
    if adsl is None:
        return {"available": False}
    groups = list(ep.groups)
    arm = "TRT01P" if "TRT01P" in adsl.columns else None
    grp = (adsl[arm].astype("str").fillna("Missing arm") if arm
           else pd.Series(ep.groups[0], index=adsl.index))
    cols = list(dict.fromkeys(groups + sorted(grp.unique().tolist())))
    show_total = len(cols) > 1
    rows = [{"label": "Subjects in ADSL", "flag": "",
             "cells": [str(int((grp == g).sum())) for g in cols]
             + ([str(len(adsl))] if show_total else [])}]
    for flag, label in POPULATION_FLAGS:
        if flag in adsl.columns:
            y = adsl[flag].eq("Y")
            rows.append({"label": label, "flag": flag,
                         "cells": [str(int((y & (grp == g)).sum())) for g in cols]
                         + ([str(int(y.sum()))] if show_total else [])})
    return {"available": True, "columns": cols + ([TOTAL] if show_total else []),
            "rows": rows, "efficacy": ep.population, "safety": ep.safety_population}


def _inventory(inventory: list[dict], validation_summary: dict | None) -> dict[str, Any]:
    order = {"SDTM": 0, "ADaM": 1}
    rows = []
    for d in sorted(inventory, key=lambda d: (order.get(str(d.get("kind")), 2),
                                              str(d.get("name", "")))):
        err, warn = d.get("errors"), d.get("warnings")
        status = ("not checked" if err is None and warn is None
                  else "errors" if (err or 0) > 0 else "warnings" if (warn or 0) > 0
                  else "pass")
        rows.append({"name": _text(d.get("name")), "kind": _text(d.get("kind")),
                     "records": _int(d.get("records")), "variables": _int(d.get("variables")),
                     "errors": _int(err), "warnings": _int(warn), "notices": _int(d.get("notices")),
                     "status": status, "file": d.get("file")})
    summary = []
    overridden = False
    if validation_summary:
        first = ("gate", "gate_overridden", "overridden", "errors", "error", "warnings",
                 "warning", "notices", "notice")
        keys = [k for k in first if k in validation_summary] + \
            sorted(k for k in validation_summary if k not in first)
        for k in keys:
            v = validation_summary[k]
            if k in ("gate_overridden", "overridden") and v:
                overridden = True
            if isinstance(v, (dict, list)):
                v = ", ".join(f"{a}: {b}" for a, b in sorted(v.items())) if isinstance(v, dict) \
                    else ", ".join(map(str, v))
            summary.append({"key": k.replace("_", " "), "value": _text(v),
                            "link": str(v) if k in ("report", "html", "report_html") else None})
        if str(validation_summary.get("gate", "")).lower() == "overridden":
            overridden = True
    return {"rows": rows, "summary": summary, "overridden": overridden}


def _int(v: Any) -> str:
    if v is None:
        return "—"
    try:
        return f"{int(v):,}"
    except (TypeError, ValueError):
        return _text(v)


def _response_view(ep: Endpoints, study: "Study | None" = None) -> dict[str, Any]:
    """One table per best-response parameter in the standard shell: every category (zeros
    included), then ORR and DCR as n (%) with their exact CI underneath."""
    if ep.bor.empty:
        return {"available": False}
    cols = list(dict.fromkeys(ep.bor["GROUP"].tolist()))
    conf = int(round(ep.conf_level * 100))
    days = study.tumour_assessments.confirmation_min_days if study is not None else None
    titles = {"CBOR": ("Best overall response, confirmed (CR/PR confirmed by a second "
                       "assessment" + (f" ≥ {days} days later" if days else "") + ")"),
              "BOR": "Best overall response without confirmation"}
    tables = []
    for paramcd, confirmed in (("CBOR", True), ("BOR", False)):
        b = ep.bor[ep.bor["PARAMCD"] == paramcd]
        if b.empty:
            continue
        cats = [c for c in RESPONSE_ORDER if c in set(b["AVALC"])] + \
            sorted(set(b["AVALC"]) - set(RESPONSE_ORDER))
        cell = {(r["GROUP"], r["AVALC"]): fmt_pct(int(r["n"]), int(r["N"]))
                for r in b.to_dict("records")}
        N = b.groupby("GROUP")["N"].first()
        rows = [{"label": RESPONSE_LABELS.get(c, c), "kind": "cat",
                 "cells": [cell.get((g, c), "0") for g in cols]} for c in cats]
        r = ep.rates[ep.rates["CONFIRMED"].astype(bool) == confirmed]
        for endpoint, label in (("ORR", "Objective response rate (CR + PR)"),
                                ("DCR", "Disease control rate (CR + PR + SD"
                                        + (" + non-CR/non-PD" if "NON-CR/NON-PD" in cats
                                           else "") + ")")):
            part = r[r["ENDPOINT"] == endpoint].set_index("GROUP")
            if part.empty:
                continue
            rows.append({"label": label, "kind": "rate",
                         "cells": [fmt_pct(int(part.loc[g, "n"]), int(part.loc[g, "N"]))
                                   if g in part.index else "—" for g in cols]})
            rows.append({"label": f"{conf}% CI (Clopper-Pearson)", "kind": "ci",
                         "cells": [fmt_rate(part.loc[g, "rate"], part.loc[g, "lower"],
                                            part.loc[g, "upper"])[1] + " %"
                                   if g in part.index else "—" for g in cols]})
        tables.append({"paramcd": paramcd, "title": titles[paramcd],
                       "header": [f"{g} (N = {int(N[g])})" for g in cols], "rows": rows})
    return {"available": True, "tables": tables, "multi": len(cols) > 1,
            "simon": _simon_view(ep)}


def _simon_view(ep: Endpoints) -> dict[str, Any] | None:
    s = ep.simon
    if s is None:
        return None
    d = s.design
    conf = int(round(ep.conf_level * 100))
    stage1_done = s.stage1_n >= d.n1
    go = s.stage1_responders > d.r1
    final_done = s.final_n >= d.n
    win = s.final_responders > d.r
    stage1 = (f"{s.stage1_responders} of the first {s.stage1_n} subjects responded"
              + ("" if stage1_done else f" (only {s.stage1_n} of the planned {d.n1} enrolled)"))
    decision1 = ("—" if not stage1_done else
                 f"more than {d.r1}: continue to stage 2" if go else
                 f"at most {d.r1}: stop for futility")
    final = (f"{s.final_responders} of the first {s.final_n} subjects responded"
             + ("" if final_done else f" (only {s.final_n} of the planned {d.n} enrolled)"))
    decision2 = ("—" if not final_done else
                 f"more than {d.r}: the combination is worth further study (H0: p ≤ "
                 f"{d.p0:g} rejected)" if win else
                 f"at most {d.r}: not promising (H0: p ≤ {d.p0:g} not rejected)")
    est, ci = fmt_rate(s.total.estimate, s.total.lower, s.total.upper)
    return {"endpoint": s.endpoint, "paramcd": s.paramcd,
            "confirmed": "confirmed" if s.paramcd == "CBOR" else "unconfirmed",
            "p0": f"{100 * d.p0:g}%", "p1": f"{100 * d.p1:g}%",
            "criterion": s.criterion, "computed": s.computed,
            "r1": d.r1, "n1": d.n1, "r": d.r, "n": d.n,
            "alpha": f"{d.alpha:.3f}", "power": f"{d.power:.3f}",
            "target_alpha": f"{s.target_alpha:g}", "target_power": f"{s.target_power:g}",
            "pet0": f"{100 * d.pet0:.1f}%", "en0": f"{d.en0:.1f}",
            "order_var": s.order_var or "USUBJID",
            "stage1": stage1, "decision1": decision1, "final": final, "decision2": decision2,
            "total": f"{s.total.n} / {s.total.N}", "estimate": est, "ci": ci, "conf": conf}


def _km_view(ep: Endpoints, paramcd: str) -> dict[str, Any]:
    km = ep.km[ep.km["PARAMCD"] == paramcd]
    if km.empty:
        return {"available": False}
    rows = []
    for r in km.to_dict("records"):
        rows.append({"group": r["GROUP"], "n": int(r["n"]), "events": int(r["events"]),
                     "censored": int(r["censored"]),
                     "median": fmt_months(r["median"], "NR"),
                     "median_days": "NR" if math.isnan(r["median"]) else f"{r['median']:g}",
                     "ci": ("NE" if math.isnan(r["lower"]) and math.isnan(r["upper"]) else
                            f"{fmt_months(r['lower'])}–{fmt_months(r['upper'])}")})
    conf = int(round(ep.conf_level * 100))
    marks = []
    lm = ep.landmarks
    if not lm.empty:
        lm = lm[lm["PARAMCD"] == paramcd]
        for m in sorted(lm["month"].unique().tolist()):
            cells = []
            for g in km["GROUP"]:
                x = lm[(lm["month"] == m) & (lm["GROUP"] == g)]
                if x.empty or math.isnan(float(x["survival"].iloc[0])):
                    cells.append({"rate": "NE", "ci": "NE", "risk": "—"})
                    continue
                est, ci = fmt_rate(float(x["survival"].iloc[0]), float(x["lower"].iloc[0]),
                                   float(x["upper"].iloc[0]))
                if math.isnan(float(x["lower"].iloc[0])):
                    ci = "NE"
                cells.append({"rate": est, "ci": ci, "risk": str(int(x["n_at_risk"].iloc[0]))})
            marks.append({"month": f"{m:g}", "cells": cells})
    for row, r in zip(rows, km.to_dict("records")):
        row["fu"] = fmt_months(r["fu_median"], "NE")
        row["fu_ci"] = ("NE" if math.isnan(r["fu_lower"]) and math.isnan(r["fu_upper"]) else
                        f"{fmt_months(r['fu_lower'])}–{fmt_months(r['fu_upper'])}")
    risk = ep.at_risk[ep.at_risk["PARAMCD"] == paramcd]
    times = sorted(risk["time"].unique().tolist())
    risk_rows = [{"group": g, "cells": [str(int(n)) for n in
                                        risk[risk["GROUP"] == g].sort_values("time")["n_at_risk"]]}
                 for g in km["GROUP"]]
    return {"available": True, "param": str(km["PARAM"].iloc[0]), "rows": rows,
            "landmarks": marks, "groups": km["GROUP"].tolist(), "conf": conf,
            "origin": ep.km_origin.get(paramcd),
            "risk_times": [f"{t / DAYS_PER_MONTH:g}" for t in times], "risk_rows": risk_rows}


def _dor_view(ep: Endpoints) -> dict[str, Any]:
    view = _km_view(ep, "RSD")
    d = ep.dor
    view["listing"] = [{"subject": r["SUBJID"], "group": r["GROUP"], "bor": _text(r["BOR"]),
                        "cbor": _text(r["CBOR"]), "start": fmt_date(r["STARTDT"]),
                        "end": fmt_date(r["ADT"]), "days": f"{r['AVAL']:g}",
                        "months": fmt_months(r["AVAL"]),
                        "status": "event" if r["CNSR"] == 0 else "censored",
                        "desc": _text(r["EVNTDESC"])} for r in d.to_dict("records")]
    view["multi"] = len(set(d["GROUP"])) > 1
    r = ep.rates
    responders = r[(r["ENDPOINT"] == "ORR") & (~r["CONFIRMED"].astype(bool))]["n"]
    view["no_responders"] = bool(len(responders)) and int(responders.max()) == 0
    return view


def _teae_view(ep: Endpoints) -> dict[str, Any]:
    if ep.teae_overview.empty:
        return {"available": False}
    groups = list(dict.fromkeys(ep.teae_overview["GROUP"].tolist()))
    N = ep.teae_overview.groupby("GROUP")["N"].first()
    ov = ep.teae_overview
    overview = [{"label": cat, "cells": [fmt_pct(int(x["n"]), int(x["N"])) for x in
                                         ov[ov["CATEGORY"] == cat].to_dict("records")]}
                for cat in dict.fromkeys(ov["CATEGORY"].tolist())]
    severity = bool(ep.grade_labels and ep.grade_labels[0] == "Mild")
    glabels = list(ep.grade_labels)
    tables = []
    t = ep.teae
    compact = []
    if not t.empty:
        gcols = [c for c in t.columns if c.startswith("G") and c != "GROUP" and c != "GMISSING"]
        show_missing = bool(t["GMISSING"].sum())
        for g in groups:                        # one table per treatment group
            tg = t[t["GROUP"] == g]
            rows = []
            for r in tg.to_dict("records"):
                label = ("Any TEAE" if r["LEVEL"] == "ANY" else
                         r["AESOC"] if r["LEVEL"] == "SOC" else r["AEDECOD"])
                NN = int(r["N"])
                cells = [fmt_pct(int(r[c]), NN) for c in gcols] + \
                    ([fmt_pct(int(r["GMISSING"]), NN)] if show_missing else []) + \
                    [fmt_pct(int(r["ANY"]), NN), fmt_pct(int(r["HIGH"]), NN)]
                rows.append({"level": r["LEVEL"].lower(), "label": label, "cells": cells})
            tables.append({"group": g, "N": int(N[g]), "rows": rows})
        high = "Severe" if severity else "Grade \u2265 3"
        header = glabels + (["Grade missing"] if show_missing else []) + ["Any grade", high]
        if len(groups) > 1:
            keys = ["LEVEL", "AESOC", "AEDECOD"]
            tt = t.assign(AESOC=t["AESOC"].fillna(""),
                          AEDECOD=t["AEDECOD"].fillna(""))
            wide = tt[tt["GROUP"] == groups[-1]][keys]     # Total: every row, in order
            for i, g in enumerate(groups):
                part = tt[tt["GROUP"] == g][keys + ["ANY", "HIGH"]]
                wide = wide.merge(part.rename(columns={"ANY": f"a{i}", "HIGH": f"h{i}"}),
                                  on=keys, how="left")
            for r in wide.to_dict("records"):
                label = ("Any TEAE" if r["LEVEL"] == "ANY" else
                         r["AESOC"] if r["LEVEL"] == "SOC" else r["AEDECOD"])
                cells = []
                for i, g in enumerate(groups):
                    a_, h_ = r[f"a{i}"], r[f"h{i}"]
                    cells += [fmt_pct(0 if pd.isna(a_) else int(a_), int(N[g])),
                              fmt_pct(0 if pd.isna(h_) else int(h_), int(N[g]))]
                compact.append({"level": r["LEVEL"].lower(), "label": label, "cells": cells})
    else:
        header = []
    return {"available": True, "groups": groups, "N": [int(N[g]) for g in groups],
            "overview": overview, "tables": tables, "header": header, "compact": compact,
            "severity": severity, "source": ep.grade_source,
            "high_label": "Severe" if severity else "Grade ≥ 3"}


def _figure_view(name: str, png: bytes | None, alt: str) -> dict[str, Any] | None:
    if png is None:
        return None
    return {"file": f"figures/{name}.png", "alt": alt,
            "data": base64.b64encode(png).decode("ascii")}


def draw_figures(ep: Endpoints) -> dict[str, bytes]:
    """The report's figures from its numbers: file stem (see ``FIGURES``) -> PNG bytes; a
    figure with nothing to show is left out. :func:`render_report` draws them unless given."""
    from studybuild.report import figures

    pngs: dict[str, bytes] = {}
    for stem, what in FIGURES.items():
        if what in ("PFS", "OS", "RSD"):
            png = figures.km_figure(ep, what)
        elif what == "waterfall":
            png = figures.waterfall_figure(ep)
        else:
            png = figures.swimmer_figure(ep)
        if png is not None:
            pngs[stem] = png
    return pngs


def render_report(adam: Mapping[str, pd.DataFrame], *, study: "Study | None",
                  inventory: list[dict], validation_summary: dict | None = None,
                  title: str | None = None, endpoints: Endpoints | None = None,
                  figures: Mapping[str, bytes] | None = None
                  ) -> tuple[str, dict[str, bytes]]:
    """The page's HTML and the figures (file stem -> PNG bytes), without writing anything.
    ``figures``: what :func:`draw_figures` returned for ``endpoints`` (default: drawn here)."""
    import jinja2

    ep = endpoints if endpoints is not None else compute_endpoints(
        adam, data_cutoff=study.dates.data_cutoff if study is not None else None,
        simon=study.design.simon_two_stage if study is not None else None)
    spec = study.design.simon_two_stage if study is not None else None
    if spec is not None and ep.simon is None:
        # numbers computed without the design (e.g. by the build, in parallel with the
        # dataset writes): read the primary endpoint against it here, on a copy
        notes = list(ep.notes)
        ep = dataclasses.replace(ep, simon=compute_simon(
            adam, spec, population=ep.population, conf_level=ep.conf_level, notes=notes))
        ep.notes = list(dict.fromkeys(notes))
    pngs = dict(figures) if figures is not None else draw_figures(ep)
    adsl = _frame(adam, "ADSL")
    studyid = (study.studyid if study is not None else
               ", ".join(sorted(adsl["STUDYID"].dropna().astype(str).unique()))
               if adsl is not None and "STUDYID" in adsl.columns else "study")
    page_title = title or (f"{studyid}: reviewer report" if study is None or not study.short_title
                           else f"{study.short_title} — reviewer report")
    wf = ep.waterfall
    context = {
        "title": page_title, "studyid": studyid, "version": __version__,
        "cutoff": study.dates.data_cutoff.isoformat() if study is not None else None,
        "summary": _study_summary(study, adam, ep),
        "populations": _populations(adam, ep),
        "inventory": _inventory(inventory, validation_summary),
        "available": ep.available, "notes": ep.notes, "ep": ep,
        "conf": int(round(ep.conf_level * 100)),
        "response": _response_view(ep, study),
        "pfs": _km_view(ep, "PFS"), "os": _km_view(ep, "OS"), "dor": _dor_view(ep),
        "waterfall": {"available": not wf.empty, "n": len(wf), "source": ep.waterfall_source,
                      "basis": ep.response_basis,
                      "shrink30": int((wf["PCHG"] <= -30).sum()) if len(wf) else 0,
                      "grow20": int((wf["PCHG"] >= 20).sum()) if len(wf) else 0,
                      "rows": [{"subject": r["SUBJID"], "group": r["GROUP"],
                                "pchg": f"{r['PCHG']:.1f}", "response": r["RESPONSE"]}
                               for r in wf.to_dict("records")],
                      "multi": len(set(wf["GROUP"])) > 1},
        "swimmer": {"available": not ep.swimmer.empty, "n": len(ep.swimmer),
                    "note": ep.swimmer_note,
                    "ongoing": int(ep.swimmer["ongoing"].sum()) if len(ep.swimmer) else 0,
                    "median_months": (fmt_months(float(np.median(ep.swimmer["duration"])))
                                      if len(ep.swimmer) else "—")},
        "teae": _teae_view(ep),
        "fig": {stem: _figure_view(stem, pngs.get(stem), alt)
                for stem, alt in (("km_pfs", "Kaplan-Meier curve of progression-free survival"),
                                  ("km_os", "Kaplan-Meier curve of overall survival"),
                                  ("km_dor", "Kaplan-Meier curve of duration of response"),
                                  ("waterfall", "Waterfall plot of best percentage change in "
                                                "target-lesion sum of diameters"),
                                  ("swimmer", "Swimmer plot of time on treatment"))},
        "days_per_month": DAYS_PER_MONTH,
    }
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
        autoescape=jinja2.select_autoescape(["html", "j2"]), undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    html = env.get_template("report.html.j2").render(**context)
    return html, pngs


def write_report(adam: Mapping[str, pd.DataFrame], out_dir: Path, *, study: "Study | None",
                 inventory: list[dict], validation_summary: dict | None = None,
                 title: str | None = None, endpoints: Endpoints | None = None,
                 figures: Mapping[str, bytes] | None = None) -> Path:
    """Write ``out_dir/report.html`` and ``out_dir/figures/*.png``; return the HTML path.

    ``adam``: ADaM frames by name (ADSL, ADRS, ADTTE, ADTR, ADAE; missing ones give sections
    that say "not available"; a TS frame, if given, feeds the study summary when ``study`` is
    None). ``inventory``: one dict per dataset with name, kind, records, variables, errors,
    warnings, notices and file (relative to ``out_dir``). ``endpoints``: precomputed numbers
    (default: :func:`compute_endpoints` with its defaults and the study's data cut-off);
    ``figures``: :func:`draw_figures` of those endpoints, when already drawn (the build draws
    them while the datasets are being written).

    Figures the report did not draw this time are removed from ``figures/`` so a rebuild never
    leaves a stale plot beside the page. Every file is written atomically.
    """
    out_dir = Path(out_dir)
    html, pngs = render_report(adam, study=study, inventory=inventory,
                               validation_summary=validation_summary, title=title,
                               endpoints=endpoints, figures=figures)
    fig_dir = out_dir / "figures"
    for stem in FIGURES:
        path = fig_dir / f"{stem}.png"
        if stem in pngs:
            write_bytes(path, pngs[stem])
        elif path.exists():
            path.unlink()
    if fig_dir.is_dir() and not any(fig_dir.iterdir()):
        fig_dir.rmdir()
    return write_text(out_dir / "report.html", html)
