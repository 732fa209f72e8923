"""The Analysis Data Reviewer's Guide (ADRG), in the sections of the PHUSE ADRG template:
1 Introduction, 2 Protocol Description, 3 Analysis Considerations Related to Multiple Analysis
Datasets, 4 Analysis Data Description, 5 Data Conformance Summary, 6 Submission of Programs.
Filled from ``study.yaml``, the study's ADaM choices (``specs/studies/ID/adam/*.yaml``, as
:class:`adam.options.AdamOptions`), the ADaM datasets and metadata, and the ADaM findings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd

from studybuild import __version__, standards
from studybuild.findings import Finding
from studybuild.guides import common
from studybuild.guides.pdf import Document

POPULATIONS = ("ENRLFL", "RANDFL", "ITTFL", "FASFL", "SAFFL", "EFFFL", "PPROTFL", "COMPLFL")
PROGRAMS = {"ADSL": "adam/adsl.py", "ADRS": "adam/adrs.py, adam/response.py",
            "ADTTE": "adam/adtte.py, adam/tte.py", "ADTR": "adam/adtr.py",
            "ADAE": "adam/adae.py"}
_SOURCE = re.compile(r"\b([A-Z][A-Z0-9]{1,7})\.[A-Z]")
CLASS_SHORT = {"SUBJECT LEVEL ANALYSIS DATASET": "ADSL", "BASIC DATA STRUCTURE": "BDS",
               "OCCURRENCE DATA STRUCTURE": "OCCDS"}


def _sources(name: str, dm, frame: pd.DataFrame, known: set[str]) -> str:
    """The datasets a dataset's variables come from: those of ``known`` named as
    ``DATASET.VARIABLE`` in define.xml sources and methods, and the SRCDOM values."""
    found: set[str] = set()
    for v in (dm.variables if dm else ()):
        found.update(_SOURCE.findall(f"{v.source or ''} {v.method or ''}"))
    found &= known
    if "SRCDOM" in frame.columns:
        found.update(str(x) for x in frame["SRCDOM"].dropna().unique())
    found.discard(name)
    return ", ".join(sorted(found)) or "-"


def _populations(adsl: pd.DataFrame | None, dm) -> list[tuple[str, str, int, str]]:
    if adsl is None:
        return []
    rows = []
    for flag in POPULATIONS:
        if flag in adsl.columns:
            v = dm.variable(flag) if dm else None
            rows.append((flag, v.label if v else flag,
                         int((adsl[flag] == "Y").fillna(False).sum()),
                         (v.method if v and v.method else "")))
    return rows


def _date_imputation(di) -> str:
    """A :class:`adam.dates.DateImputation` in words."""
    missing = {"Y": "a missing day, month or year", "M": "a missing day or month",
               "D": "a missing day"}.get(getattr(di, "highest", ""))
    if missing is None:
        return "partial dates are not imputed"
    where = {"first": "first day", "mid": "middle", "last": "last day"}.get(di.date, di.date)
    parts = [f"{missing} is imputed to the {where} of the missing period"]
    if getattr(di, "min_dates", ()):
        parts.append(f"never before {', '.join(di.min_dates)}")
    if getattr(di, "max_dates", ()):
        parts.append(f"never after {', '.join(di.max_dates)}")
    return ", ".join(parts)


def _censoring_rows(rules) -> list[tuple[str, str, str]]:
    """The censoring rule set as the FDA 2018 table: situation, date, outcome."""
    rows = [("Progression (PD) or death, whichever first", "date of PD or death", "event"),
            ("No progression and alive", "last adequate tumour assessment", "censored")]
    rows.append(("No baseline tumour assessment",
                 "origin" if rules.censor_no_baseline else "(not applied)",
                 "censored" if rules.censor_no_baseline else "as other subjects"))
    rows.append(("No adequate post-baseline assessment, no death", "origin", "censored"))
    rows.append(("New anticancer therapy before PD or death",
                 "last adequate assessment before the new therapy"
                 if rules.censor_new_therapy else "(not applied)",
                 "censored" if rules.censor_new_therapy else "as other subjects"))
    if rules.missed_assessments:
        rows.append((f"PD or death after {rules.missed_assessments} or more missed assessments "
                     f"(more than {rules.missed_assessments} x {rules.interval_days} + "
                     f"{rules.window_days} = {rules.missed_gap_days:g} days after the last "
                     "adequate assessment)", "last adequate assessment", "censored"))
    else:
        rows.append(("PD or death after missed assessments", "(not applied)",
                     "event, as any PD or death"))
    rows.append(("An NE overall response",
                 "not an adequate assessment" if rules.adequate_excludes_ne
                 else "counts as an assessment", ""))
    return rows


def _tte_outcomes(adtte: pd.DataFrame | None) -> list[tuple[str, str, str, int]]:
    if adtte is None or not {"PARAMCD", "CNSR", "EVNTDESC"} <= set(adtte.columns):
        return []
    g = adtte.assign(OUT=adtte["CNSR"].map({0.0: "event", 1.0: "censored"}).fillna("")) \
        .groupby(["PARAMCD", "OUT", "EVNTDESC"], dropna=False, sort=True).size()
    return [(str(p), str(o), "" if pd.isna(e) else str(e), int(n))
            for (p, o, e), n in g.items()]


def _parameters(frame: pd.DataFrame) -> list[tuple[str, str, int]]:
    if not {"PARAMCD", "PARAM"} <= set(frame.columns):
        return []
    g = frame.groupby(["PARAMCD", "PARAM"], dropna=False, sort=True).size()
    return [(str(c), str(p), int(n)) for (c, p), n in g.items()]


def build_adrg(study, adam, sdtm_frames: Mapping[str, pd.DataFrame], *, options,
               findings: Iterable[Finding], baseline=None,
               sizes: Mapping[str, int] | None = None,
               hrefs: Mapping[str, str] | None = None) -> Document:
    """The ADRG of ``study`` as a :class:`Document`. ``adam``: the ADaM stage (datasets,
    metadata); ``sdtm_frames``: the SDTM datasets it was derived from; ``options``: the
    study's :class:`adam.options.AdamOptions`; ``findings``: the ADaM checks' findings."""
    frames = adam.datasets
    meta = adam.metadata
    counts = common.records_and_subjects(frames)
    hrefs = dict(hrefs or {n: f"{n.lower()}.xpt" for n in frames})
    adsl = frames.get("ADSL")
    adsl_meta = meta.dataset("ADSL")
    o = options
    doc = common.new_document("Analysis Data Reviewer's Guide", study)

    doc.heading(1, "Introduction")
    doc.heading(2, "Purpose")
    doc.para(f"This guide gives the context of the ADaM analysis datasets of study "
             f"{study.studyid}: populations, datasets and their sources, the derivations "
             "that need explanation, and the datasets' conformance. It sits with the "
             "datasets in m5/datasets/<study>/analysis/adam/datasets/, as the FDA Study "
             "Data Technical Conformance Guide asks.")
    doc.heading(2, "Acronyms")
    common.acronyms(doc)
    doc.heading(2, "Study Data Standards and Dictionary Inventory")
    doc.table(["Standard or Dictionary", "Versions Used"], [
        ("ADaM Implementation Guide", f"ADaMIG {standards.ADAMIG_VERSION}"),
        ("Controlled Terminology", f"CDISC ADaM CT {standards.ADAM_CT_VERSION}, SDTM CT "
                                   f"{standards.SDTM_CT_VERSION}"),
        ("Data Definitions", "Define-XML 2.1 (define.xml; define.html rendered from it)"),
        ("SDTM (source)", f"SDTMIG {standards.SDTMIG_VERSION}"),
        ("Medical Events Dictionary", f"MedDRA {study.meddra_version}"),
        ("Adverse event grading", f"NCI CTCAE v{study.ctcae_version}"),
        ("Tumour response criteria", study.tumour_assessments.criteria)],
        widths=(1.5, 3.5))
    doc.heading(2, "Source Data Used for Analysis Dataset Creation")
    doc.para(f"The ADaM datasets were derived by studybuild {__version__} from the SDTM "
             f"datasets of this submission (../../../tabulations/sdtm/: "
             f"{', '.join(sorted(sdtm_frames))}) and from nothing else.")

    doc.heading(1, "Protocol Description")
    common.protocol_description(doc, study)

    doc.heading(1, "Analysis Considerations Related to Multiple Analysis Datasets")
    doc.heading(2, "Comparison of SDTM and ADaM Content")
    doc.para("Every subject in DM is in ADSL. ADaM variables with SDTM names keep the SDTM "
             "values and attributes; analysis dates (*DT, *DTM) are numeric SAS dates "
             "derived from the SDTM ISO 8601 text, with imputation flags (*DTF, *TMF) where "
             "a partial date was completed.")
    doc.heading(2, "Core Variables")
    core = [c for c in ("STUDYID", "USUBJID", "SUBJID", "SITEID", "AGE", "SEX", "RACE",
                        "TRT01P", "TRT01A", "TRTSDT", "TRTEDT", *POPULATIONS)
            if adsl is not None and c in adsl.columns]
    rows = [(n, ", ".join(c for c in core if c in frames[n].columns))
            for n in frames if n != "ADSL"]
    doc.para("ADSL variables copied to every other analysis dataset, so that each can be "
             "analysed without a merge:")
    doc.table(["Dataset", "ADSL variables carried"], rows, widths=(1, 5))
    doc.heading(2, "Treatment Variables")
    if adsl is not None and {"TRT01P", "TRT01A"} <= set(adsl.columns):
        g = adsl.groupby(["TRT01P", "TRT01A"], dropna=False, sort=True).size()
        doc.table(["TRT01P (planned)", "TRT01A (actual)", "Subjects"],
                  [("" if pd.isna(p) else p, "" if pd.isna(a) else a, int(n))
                   for (p, a), n in g.items()], widths=(2, 2, 1))
    doc.para(f"TRTSDT/TRTEDT: first and last dose dates from EX. A subject still on "
             f"treatment at the data cut-off has TRTEDT = "
             + {"cutoff": f"the data cut-off ({study.dates.data_cutoff.isoformat()})",
                "last_record": "the last end date collected",
                "missing": "missing"}[o.adsl.ongoing_treatment_end] + ".")
    doc.heading(2, "Subject Issues that Require Special Analysis Rules")
    doc.para(f"Death dates: {_date_imputation(o.adsl.death_imputation)}. Last date known "
             "alive (LSTALVDT): " + ("every dated record of every SDTM domain"
                                     if o.adsl.lstalvdt == "all" else
                                     "AE start/end, laboratory and last dose dates "
                                     "(admiral's template)") + ".")
    doc.heading(2, "Use of Visit Windowing, Unscheduled Visits, and Record Selection")
    ts = study.tumour_assessments
    doc.para(f"Tumour assessments by the {o.adrs.evaluator.lower()} are analysed"
             + (" (accepted ones only)" if o.adrs.accepted_only else "") + "; baseline is "
             f"the assessment at {', '.join(o.adrs.baseline_visits)}. Visits are analysed as "
             f"collected (no windowing); the planned schedule is every {ts.every_days} days "
             f"(+/- {ts.window_days}). Assessments after the first PD do not count"
             + (", nor those after a new anticancer therapy" if
                o.adrs.exclude_after_new_therapy else "") + ".")
    doc.heading(2, "Imputation/Derivation Methods")
    c = o.adrs.confirmation
    ref = o.adrs.reference_date
    sd_days = o.adrs.sd_min_days - o.adrs.sd_window_days
    doc.para(f"Confirmed response (RECIST 1.1): a CR or PR counts as confirmed when a later "
             f"assessment at least {c.min_days} days after it shows CR (for a CR) or CR/PR "
             f"(for a PR), with at most {c.max_ne} NE assessment(s) in between"
             + (" and no PR after a CR in between" if c.no_pr_after_cr else "") + ". "
             f"Stable disease needs an assessment at least {sd_days} days after "
             f"{ref if ref != 'auto' else 'the reference date'} "
             f"({o.adrs.sd_min_days} days minus a {o.adrs.sd_window_days}-day window). "
             f"Assessment dates: {_date_imputation(o.adrs.date_imputation)}.")
    rules = o.adtte.rules()
    origin = o.adtte.origin if o.adtte.origin != "auto" else "the reference date"
    doc.para(f"Time-to-event parameters ({', '.join(o.adtte.parameters)}) start at {origin}. "
             f"Censoring rule set: {rules.name}"
             + (" (FDA guidance 2018, Clinical Trial Endpoints for the Approval of Cancer "
                "Drugs and Biologics, table of PFS censoring)" if rules.name == "fda2018"
                else " (admiralonco's template)")
             + f"; duration of response and time to response use the "
             f"{'confirmed' if o.adtte.response_param == 'CRSP' else 'unconfirmed'} response "
             f"({o.adtte.response_param}).")
    doc.table(["Situation", "Date of event or censoring", "Outcome"], _censoring_rows(rules),
              widths=(3.2, 2.2, 1.2))
    if o.adae.teae_window_days is not None:
        doc.para(f"Treatment-emergent adverse events (TRTEMFL): onset on or after the first "
                 f"dose and no later than {o.adae.teae_window_days} days after the last dose; "
                 f"start dates: {_date_imputation(o.adae.start_imputation)}.")

    doc.heading(1, "Analysis Data Description")
    doc.heading(2, "Overview")
    pops = _populations(adsl, adsl_meta)
    doc.para(f"{counts.get('ADSL', (0, 0))[0]} subjects are in ADSL. Analysis populations:")
    if pops:
        doc.table(["Flag", "Population", "Subjects", "Definition"], pops,
                  widths=(0.8, 1.6, 0.7, 3.6))
    doc.heading(2, "Analysis Data Sets")
    rows = []
    for n in frames:
        m = meta.dataset(n)
        cls = m.class_ if m else ""
        rows.append((n, m.label if m else "", CLASS_SHORT.get(cls.upper(), cls),
                     m.structure if m else "", counts[n][0],
                     _sources(n, m, frames[n], set(sdtm_frames) | set(frames))))
    doc.table(["Dataset", "Label", "Class", "Structure", "Records", "Sources"], rows,
              widths=(0.7, 1.6, 0.7, 2.0, 0.7, 1.6))
    doc.para("Split datasets: " + common.split_text(dict(sizes or {}), hrefs))
    for n in frames:
        params = _parameters(frames[n])
        if not params:
            continue
        doc.heading(3, f"{n} - {meta.dataset(n).label if meta.dataset(n) else n}")
        doc.table(["PARAMCD", "PARAM", "Records"], params, widths=(1, 5, 0.8))
        if n == "ADTTE":
            out = _tte_outcomes(frames[n])
            if out:
                doc.para("Events and censorings by parameter (EVNTDESC):")
                doc.table(["PARAMCD", "Outcome", "Description", "Records"], out,
                          widths=(1, 1, 3.5, 0.8))

    doc.heading(1, "Data Conformance Summary")
    doc.heading(2, "Conformance Inputs")
    common.conformance_inputs(doc, kind="ADaM", baseline=baseline, rules_run=None)
    doc.heading(2, "Issues Summary")
    findings = list(findings)
    common.issues_summary(doc, findings, kind="ADaM")
    doc.para("Every remaining finding, with its explanation from the findings baseline:")
    common.issues_details(doc, findings)

    doc.heading(1, "Submission of Programs")
    doc.heading(2, "Description")
    doc.para(f"The ADaM datasets were derived by studybuild {__version__} (Python), an "
             "open-source tool, from the SDTM datasets and the study specification; the "
             "study's derivation choices are data (specs/studies/<study>/adam/*.yaml), "
             "listed with SHA-256 checksums in the package's manifest.json. No SAS programs "
             "were used.")
    doc.heading(2, "ADaM Programs")
    doc.table(["Dataset", "studybuild module"],
              [(n, PROGRAMS.get(n, "adam/build.py")) for n in frames], widths=(1, 4))
    doc.heading(2, "Analysis Output Programs")
    doc.para("The figures and summary tables of the package's reviewer report (report.html, "
             "figures/) are made by studybuild.report from these ADaM datasets. Program "
             "source files are not part of this package; a sponsor submitting them places "
             "them in m5/datasets/<study>/analysis/adam/programs/ as ASCII text.")
    return doc


def write_adrg(path: Path, study, adam, sdtm_frames, **kw) -> Path:
    """Write the ADRG (:func:`build_adrg`) as a PDF dated at the data cut-off."""
    from studybuild.guides.pdf import write_pdf
    from studybuild.pipeline import _cutoff

    doc = build_adrg(study, adam, sdtm_frames, **kw)
    return write_pdf(doc, path, created=_cutoff(study), author=study.sponsor,
                     subject=f"ADRG, study {study.studyid}")
