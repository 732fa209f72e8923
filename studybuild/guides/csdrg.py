"""The Clinical Study Data Reviewer's Guide (cSDRG) of the SDTM datasets, in the sections of
the PHUSE cSDRG template: 1 Introduction, 2 Protocol Description, 3 Subject Data
Description, 4 Data Conformance Summary, Appendix I (inclusion/exclusion criteria)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd

from studybuild import standards
from studybuild.findings import Finding
from studybuild.guides import common
from studybuild.guides.pdf import Document

TRIAL_DESIGN = ("TA", "TE", "TV", "TI", "TS")
TRIAL_DESIGN_TEXT = {
    "TA": "planned arms and the elements of each, in order",
    "TE": "planned elements with their start and end rules",
    "TV": "planned visits with their timing rules",
    "TI": "inclusion and exclusion criteria (Appendix I)",
    "TS": "trial summary parameters (design, dates, treatments, dictionaries)",
}


def _supp_qualifiers(frames: Mapping[str, pd.DataFrame]) -> list[tuple[str, str, str, str, int]]:
    """(SUPP dataset, parent domain, QNAM, QLABEL, records) for every qualifier."""
    rows = []
    for name in sorted(frames):
        f = frames[name]
        if not name.startswith("SUPP") or not {"QNAM", "QLABEL"} <= set(f.columns):
            continue
        g = f.groupby(["QNAM", "QLABEL"], dropna=False, sort=True).size()
        for (qnam, qlabel), n in g.items():
            rows.append((name, name[4:], str(qnam), "" if pd.isna(qlabel) else str(qlabel),
                         int(n)))
    return rows


def _dictionaries(study, frames: Mapping[str, pd.DataFrame]) -> list[tuple[str, str]]:
    rows = [("SDTM Implementation Guide", f"SDTMIG {standards.SDTMIG_VERSION}"),
            ("Controlled Terminology", f"CDISC SDTM CT {standards.SDTM_CT_VERSION}"),
            ("Data Definitions", "Define-XML 2.1 (define.xml; define.html is the same "
                                 "document rendered with define2-1.xsl)")]
    ae = frames.get("AE")
    levels = [(lvl, var) for lvl, var in (("LLT", "AELLT"), ("PT", "AEDECOD"),
                                           ("HLT", "AEHLT"), ("HLGT", "AEHLGT"),
                                           ("SOC", "AEBODSYS"))
              if ae is not None and var in ae.columns and ae[var].notna().any()]
    if ae is not None and any(lvl == "SOC" for lvl, _ in levels):
        filled = ", ".join(lvl for lvl, _ in levels)
        missing = [lvl for lvl in ("LLT", "PT", "HLT", "HLGT")
                   if lvl not in {x for x, _ in levels}]
        text = f"MedDRA {study.meddra_version} (AE coded to {filled}"
        text += (f"; {', '.join(missing)} not coded: no licensed MedDRA version folder"
                 if missing else "") + ")"
        rows.append(("Medical Events Dictionary", text))
    else:
        rows.append(("Medical Events Dictionary", "not coded"))
    cm = frames.get("CM")
    coded_cm = cm is not None and "CMDECOD" in cm.columns and cm["CMDECOD"].notna().any()
    rows.append(("Medications Dictionary", "coded (CMDECOD)" if coded_cm else
                 "not coded: CMTRT holds the verbatim name"))
    rows.append(("Adverse event grading", f"NCI CTCAE v{study.ctcae_version}"))
    rows.append(("Tumour response criteria", study.tumour_assessments.criteria))
    return rows


def _data_flow(doc: Document, sdtm) -> None:
    acc = getattr(sdtm, "accounting", None)
    lin = getattr(sdtm, "lineage", None)
    doc.para("The SDTM datasets were mapped by studybuild directly from the raw CRF forms "
             "(one CSV file per form) as the study's SDTM specification "
             "(specs/studies/<study>/sdtm/*.yaml) states; nothing was edited by hand. Every "
             "raw row read is either the source of an SDTM record or excluded with a reason; "
             "both lists (lineage.csv, exclusions.csv) are kept with the package, outside the "
             "submission folder.")
    if acc is None:
        doc.para("The accounting of raw rows is not part of this package (the SDTM folder it "
                 "was exported from had no traceability/).", style="note")
    else:
        a = acc.copy()
        rows = [tuple(str(v) for v in r) for r in a[["FORM", "FILE", "ROWS_READ",
                                                     "ROWS_MAPPED", "ROWS_EXCLUDED"]]
                .itertuples(index=False)]
        doc.table(["Form", "File", "Rows read", "Rows mapped", "Rows excluded"], rows,
                  widths=(1.4, 1.6, 0.8, 0.8, 0.8))
    if lin is not None and len(lin):
        g = lin.groupby(["DOMAIN", "FORM"], sort=True).size()
        by_domain: dict[str, list[str]] = {}
        for (domain, form), n in g.items():
            by_domain.setdefault(str(domain), []).append(f"{form} ({n})")
        doc.para("SDTM domain from raw forms (records):")
        doc.table(["Domain", "Raw forms (records)"],
                  [(d, ", ".join(v)) for d, v in sorted(by_domain.items())], widths=(1, 5))


def build_csdrg(study, sdtm, *, findings: Iterable[Finding], baseline=None,
                sizes: Mapping[str, int] | None = None,
                hrefs: Mapping[str, str] | None = None) -> Document:
    """The cSDRG of ``study`` as a :class:`Document`. ``sdtm``: the SDTM stage (datasets,
    metadata, and lineage/accounting when known); ``findings``: the SDTM checks' findings;
    ``sizes``/``hrefs``: XPT file sizes and names."""
    frames = sdtm.datasets
    meta = sdtm.metadata
    counts = common.records_and_subjects(frames)
    hrefs = dict(hrefs or {n: f"{n.lower()}.xpt" for n in frames})
    doc = common.new_document("Clinical Study Data Reviewer's Guide", study)

    doc.heading(1, "Introduction")
    doc.heading(2, "Purpose")
    doc.para(f"This guide gives the context of the SDTM tabulation datasets of study "
             f"{study.studyid} that define.xml alone does not give, and summarises their "
             "conformance to the standards. It sits with the datasets in "
             "m5/datasets/<study>/tabulations/sdtm/, as the FDA Study Data Technical "
             "Conformance Guide asks.")
    doc.heading(2, "Acronyms")
    common.acronyms(doc)
    doc.heading(2, "Study Data Standards and Dictionary Inventory")
    doc.table(["Standard or Dictionary", "Versions Used"], _dictionaries(study, frames),
              widths=(1.5, 3.5))
    doc.heading(2, "Source Data Used for Dataset Creation")
    _data_flow(doc, sdtm)

    doc.heading(1, "Protocol Description")
    common.protocol_description(doc, study)
    doc.heading(2, "Trial Design Datasets")
    td = [n for n in TRIAL_DESIGN if n in frames]
    if td:
        doc.para("The trial design datasets were written from study.yaml (arms, elements, "
                 "visits, criteria, summary parameters):")
        doc.table(["Dataset", "Label", "Records", "Content"],
                  [(n, meta.dataset(n).label if meta.dataset(n) else n, counts[n][0],
                    TRIAL_DESIGN_TEXT[n]) for n in td], widths=(0.7, 1.5, 0.7, 3.5))
    else:
        doc.para("No trial design datasets are included.")

    doc.heading(1, "Subject Data Description")
    doc.heading(2, "Overview")
    n_subj = counts.get("DM", (0, 0))[1]
    subject_ds = [n for n in frames if n not in TRIAL_DESIGN]
    doc.para(f"{n_subj} subjects are in DM. {len(frames)} datasets are submitted "
             f"({len(subject_ds)} subject-level and {len(td)} trial design), "
             f"{sum(c[0] for c in counts.values()):,} records, all as SAS transport version 5 "
             f"files. Data were collected up to the data cut-off "
             f"{study.dates.data_cutoff.isoformat()}; subjects still on treatment then have "
             "no end of treatment record.")
    doc.para("Split datasets: " + common.split_text(dict(sizes or {}), hrefs))
    doc.heading(2, "Annotated CRFs")
    doc.para("No annotated CRF (acrf.pdf) is included. The raw CRF forms and the variables "
             "each fills are named in define.xml (Origin and the raw form.field of every "
             "collected variable) and in the SDTM specification the datasets were built from.")
    doc.heading(2, "SDTM Subject Domains")
    rows = []
    for n in subject_ds:
        m = meta.dataset(n)
        supp = f"SUPP{n}" if f"SUPP{n}" in frames else ""
        rows.append((n, m.label if m else "", m.class_ if m else "", m.structure if m else "",
                     counts[n][0], counts[n][1], supp or "-"))
    doc.table(["Dataset", "Label", "Class", "Structure", "Records", "Subjects", "SUPP"],
              rows, widths=(0.7, 1.6, 1.0, 2.1, 0.6, 0.7, 0.7))
    supp_rows = _supp_qualifiers(frames)
    doc.heading(2, "Use of Supplemental Qualifiers")
    if supp_rows:
        doc.para("Non-standard variables collected on the CRF are in supplemental qualifier "
                 "datasets (SUPP--), as SDTMIG 3.4 section 8.4 asks:")
        doc.table(["Dataset", "Parent", "QNAM", "QLABEL", "Records"], supp_rows,
                  widths=(0.9, 0.7, 1.0, 3.0, 0.7))
    else:
        doc.para("No supplemental qualifier datasets are submitted.")

    doc.heading(1, "Data Conformance Summary")
    doc.heading(2, "Conformance Inputs")
    common.conformance_inputs(doc, kind="SDTM", baseline=baseline, rules_run=None)
    doc.heading(2, "Issues Summary")
    findings = list(findings)
    common.issues_summary(doc, findings, kind="SDTM")
    doc.heading(2, "Additional Conformance Details")
    doc.para("Every remaining finding, with its explanation from the findings baseline:")
    common.issues_details(doc, findings)

    doc.appendix("Appendix I: Inclusion/Exclusion Criteria")
    doc.table(["IETESTCD", "Category", "Criterion"],
              [(c.ietestcd, c.category, c.ietest) for c in study.criteria],
              widths=(0.8, 0.9, 5))
    return doc


def write_csdrg(path: Path, study, sdtm, **kw) -> Path:
    """Write the cSDRG (:func:`build_csdrg`) as a PDF dated at the data cut-off."""
    from studybuild.guides.pdf import write_pdf
    from studybuild.pipeline import _cutoff

    doc = build_csdrg(study, sdtm, **kw)
    return write_pdf(doc, path, created=_cutoff(study), author=study.sponsor,
                     subject=f"cSDRG, study {study.studyid}")
