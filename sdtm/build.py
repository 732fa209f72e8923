"""Build SDTM for a study: raw forms + spec -> datasets, metadata, lineage, accounting.

>>> result = build_sdtm("surufatinib-sts", Path("raw"))         # doctest: +SKIP
>>> write_sdtm(result, Path("out/sdtm"))                          # doctest: +SKIP

``build_sdtm`` never raises for bad data: what can be read but is wrong becomes a finding,
what must not be mapped becomes an exclusion with its reason; only unreadable input (missing
form file or column, wrong encoding, an invalid spec) raises InputError/SpecError (exit 2).
Every raw row read is either in the lineage of an SDTM record or in the exclusions
(``accounting``: ROWS_READ = ROWS_MAPPED + ROWS_EXCLUDED per form), and every declared field
is mapped or declared not mapped with a reason (FIELDS = FIELDS_MAPPED + FIELDS_NOT_MAPPED +
FIELDS_UNACCOUNTED; an unaccounted field is finding SB-MAP-UNMAPPED-FIELD, :mod:`sdtm.fields`).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sdtm.engine import build_all
from sdtm.fields import account_fields
from sdtm.meta import build_metadata
from sdtm.post import finalize_domain
from sdtm.raw import empty_exclusions, read_raw
from sdtm.registry import BuildState
from sdtm.spec import StudySpec, load_spec
from studybuild import standards
from studybuild.findings import Findings
from studybuild.metadata import StudyMetadata

TRIAL_DESIGN = ("TA", "TE", "TI", "TS", "TV")


@dataclass
class SdtmResult:
    datasets: dict[str, pd.DataFrame]
    metadata: StudyMetadata
    lineage: pd.DataFrame          # DOMAIN, RECORD, USUBJID, SEQ, FORM, RAW_ROW
    accounting: pd.DataFrame       # FORM, FILE, ROWS_READ, ROWS_MAPPED, ROWS_EXCLUDED, FIELDS,
    #                                FIELDS_MAPPED, FIELDS_NOT_MAPPED, FIELDS_UNACCOUNTED
    exclusions: pd.DataFrame       # FORM, RAW_ROW, REASON, SUBJECT
    findings: Findings
    spec: StudySpec

    def summary(self) -> pd.DataFrame:
        """Records and subjects per dataset."""
        rows = [{"DATASET": k, "RECORDS": len(v),
                 "SUBJECTS": int(v["USUBJID"].nunique()) if "USUBJID" in v else 0}
                for k, v in self.datasets.items()]
        return pd.DataFrame(rows)


def build_sdtm(study: str | Path | StudySpec, raw_dir: Path) -> SdtmResult:
    """Map a raw EDC export (one CSV per form) to SDTM with the study's spec."""
    spec = study if isinstance(study, StudySpec) else load_spec(study)
    findings = Findings()
    raw = read_raw(spec, Path(raw_dir), findings)
    state = BuildState(spec=spec, study=spec.study, findings=findings,
                       subjects=raw.subjects, raw_forms=raw.forms)
    build_all(state)
    finals: dict[str, pd.DataFrame] = {}
    lineage_parts = []
    for name in sorted(spec.domains):
        dom = spec.domains[name]
        supp_vars = [v for v in dom.variables if v.supp is not None]
        labels = {v.name: v.label for v in dom.variables if v.label}
        labels.update({v.name: v.label for v in standards.sdtmig().dataset(name).variables
                       if v.name not in labels})
        out, supp = finalize_domain(state, name, state.domains[name], supp_vars, labels)
        lin = state.lineage.get(name)
        lineage_parts.append(_final_lineage(name, out, lin))
        finals[name] = out.drop(columns=["_REC"])
        if supp is not None and len(supp):
            sname = f"SUPP{name}"
            lineage_parts.append(_supp_lineage(sname, supp, lin))
            finals[sname] = supp.drop(columns=[c for c in supp.columns if c.startswith("_")])
    n_subjects = len(finals["DM"]) if "DM" in finals else None
    finals.update(_trial_design(spec, findings, n_subjects))
    datasets = dict(sorted(finals.items()))
    lineage = pd.concat(lineage_parts, ignore_index=True) if lineage_parts else \
        pd.DataFrame(columns=["DOMAIN", "RECORD", "USUBJID", "SEQ", "FORM", "RAW_ROW"])
    lineage = lineage.sort_values(["DOMAIN", "RECORD", "FORM", "RAW_ROW"],
                                  kind="stable").reset_index(drop=True)
    accounting, exclusions = _account(spec, raw, state, lineage, findings)
    metadata = sdtm_metadata(spec, datasets)
    return SdtmResult(datasets=datasets, metadata=metadata, lineage=lineage,
                      accounting=accounting, exclusions=exclusions, findings=findings,
                      spec=spec)


def _final_lineage(domain: str, out: pd.DataFrame, lin: pd.DataFrame | None) -> pd.DataFrame:
    seqvar = f"{domain}SEQ"
    recs = pd.DataFrame({"_REC": out["_REC"].to_numpy(),
                         "RECORD": np.arange(1, len(out) + 1, dtype="int64"),
                         "USUBJID": out["USUBJID"].to_numpy(),
                         "SEQ": out[seqvar].to_numpy(dtype="float64") if seqvar in out
                         else np.nan})
    if lin is None or not len(lin):
        return pd.DataFrame(columns=["DOMAIN", "RECORD", "USUBJID", "SEQ", "FORM", "RAW_ROW"])
    j = recs.merge(lin, on="_REC", how="inner")
    j.insert(0, "DOMAIN", domain)
    j["RAW_ROW"] = j["RAW_ROW"].astype("int64")
    return j[["DOMAIN", "RECORD", "USUBJID", "SEQ", "FORM", "RAW_ROW"]]


def _supp_lineage(name: str, supp: pd.DataFrame, lin: pd.DataFrame | None) -> pd.DataFrame:
    if lin is None or not len(supp):
        return pd.DataFrame(columns=["DOMAIN", "RECORD", "USUBJID", "SEQ", "FORM", "RAW_ROW"])
    recs = pd.DataFrame({"_REC": supp["_PREC"].to_numpy(),
                         "RECORD": np.arange(1, len(supp) + 1, dtype="int64"),
                         "USUBJID": supp["USUBJID"].to_numpy(), "SEQ": np.nan})
    j = recs.merge(lin, on="_REC", how="inner")
    j.insert(0, "DOMAIN", name)
    j["RAW_ROW"] = j["RAW_ROW"].astype("int64")
    return j[["DOMAIN", "RECORD", "USUBJID", "SEQ", "FORM", "RAW_ROW"]]


def sdtm_metadata(spec: StudySpec, datasets: dict[str, pd.DataFrame]) -> StudyMetadata:
    """The metadata :func:`build_sdtm` gives ``datasets``: the spec's domains, plus the trial
    design datasets' (TS/TA/TE/TV/TI, from study.yaml) for those present. Works as well on
    datasets read back from files (``studybuild export`` rebuilds define.xml this way).

    >>> meta = sdtm_metadata(load_spec("surufatinib-sts"), datasets)    # doctest: +SKIP
    """
    td = {k: v for k, v in datasets.items() if k in TRIAL_DESIGN}
    metas: dict = {}
    vl: tuple = ()
    if td:
        from sdtm import trial_design

        metas = dict(trial_design.trial_design_metadata(spec.study, td))
        vl = tuple(trial_design.trial_design_value_level(spec.study, td))
    return build_metadata(spec, datasets, extra=metas, extra_value_level=vl)


def _trial_design(spec: StudySpec, findings: Findings, subjects: int
                  ) -> dict[str, pd.DataFrame]:
    """TS/TA/TE/TV/TI from sdtm.trial_design (study.yaml only)."""
    from sdtm import trial_design

    return {k.upper(): v for k, v in trial_design.build_trial_design(
        spec.study, actual_subjects=subjects).items() if k.upper() in TRIAL_DESIGN}


def _account(spec: StudySpec, raw, state: BuildState, lineage: pd.DataFrame,
             findings: Findings) -> tuple[pd.DataFrame, pd.DataFrame]:
    hard = raw.exclusion_frame()
    soft = pd.concat(state.soft_exclusions, ignore_index=True) if state.soft_exclusions \
        else empty_exclusions()
    mapped = lineage[["FORM", "RAW_ROW"]].drop_duplicates()
    acc_rows, excl_parts = [], []
    for name in sorted(spec.forms.forms):
        n = raw.rows_read.get(name, 0)
        rows = pd.Series(np.arange(1, n + 1, dtype="int64"))
        m = set(mapped.loc[mapped["FORM"] == name, "RAW_ROW"].astype("int64").tolist())
        is_mapped = rows.isin(m)
        h = hard[hard["FORM"] == name].drop_duplicates("RAW_ROW", keep="first")
        clash = h[h["RAW_ROW"].isin(m)]
        if len(clash):
            findings.add("SB-SDTM-ACCOUNT", "error",
                         f"{len(clash)} excluded row(s) of form {name!r} are also mapped "
                         f"(first: row {int(clash['RAW_ROW'].iloc[0])}); this is a bug",
                         dataset=raw.files[name].name)
            h = h[~h["RAW_ROW"].isin(m)]
        s = soft[soft["FORM"] == name].drop_duplicates("RAW_ROW", keep="first")
        rest = rows[~is_mapped & ~rows.isin(h["RAW_ROW"])]
        reason = rest.map(s.set_index("RAW_ROW")["REASON"]).astype("str")
        form = spec.forms.forms[name]
        fallback = form.unmapped or "no record block of the SDTM spec uses this row"
        catch = reason.isna()
        reason = reason.fillna(fallback)
        if catch.any():
            first = int(rest[catch].iloc[0])
            findings.add("SB-SDTM-UNMAPPED", "notice" if form.unmapped else "warning",
                         f"{int(catch.sum())} row(s) of form {name!r} are not mapped: "
                         f"{fallback} (first: row {first})", dataset=raw.files[name].name,
                         row=first, source=name)
        subj = raw.subject_ids.get(name, pd.Series(dtype="str"))
        other = pd.DataFrame({"FORM": name, "RAW_ROW": rest.to_numpy(),
                              "REASON": reason.to_numpy(),
                              "SUBJECT": rest.map(subj).to_numpy()})
        hh = h.assign(SUBJECT=h["SUBJECT"].fillna(h["RAW_ROW"].map(subj)))
        excl = pd.concat([hh, other], ignore_index=True)
        excl_parts.append(excl)
        acc_rows.append({"FORM": name, "FILE": raw.files[name].name, "ROWS_READ": n,
                         "ROWS_MAPPED": int(is_mapped.sum()), "ROWS_EXCLUDED": len(excl)})
    exclusions = pd.concat(excl_parts, ignore_index=True) if excl_parts else empty_exclusions()
    exclusions = exclusions.astype({"FORM": "str", "REASON": "str", "SUBJECT": "str"})
    exclusions["RAW_ROW"] = exclusions["RAW_ROW"].astype("int64")
    exclusions = exclusions.sort_values(["FORM", "RAW_ROW"], kind="stable").reset_index(
        drop=True)[["FORM", "RAW_ROW", "REASON", "SUBJECT"]]
    accounting = pd.DataFrame(acc_rows, columns=["FORM", "FILE", "ROWS_READ", "ROWS_MAPPED",
                                                 "ROWS_EXCLUDED"])
    # the columns too: every declared field is mapped or declared not mapped with a reason
    fields = account_fields(spec, raw, mapped, findings)
    accounting = accounting.merge(fields, on="FORM", how="left", validate="one_to_one")
    return accounting, exclusions


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------

def _csv(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, lineterminator="\n", float_format="%.10g")


def write_sdtm(result: SdtmResult, out_dir: Path, *, traceability_dir: Path | None = None,
               timestamp: dt.datetime | None = None, ascii: str = "error") -> list[Path]:
    """Write one XPT per dataset (labels and order from the metadata) and the traceability
    tables (lineage.csv, accounting.csv, exclusions.csv, findings.json) into
    ``traceability_dir`` (default ``out_dir/traceability``). The folder is replaced
    atomically; files are byte-identical for the same inputs (the XPT header stamp is the
    data cut-off unless ``timestamp`` is given). A dataset XPT v5 cannot hold is not written
    and becomes an error finding naming dataset, variable and row; a dataset with no records
    is not written (a notice)."""
    from studybuild.atomic import staged_dir, write_text
    from studybuild.export.xpt import XptExportError, write_xpt

    out_dir = Path(out_dir)
    trace_inside = traceability_dir is None or _inside(Path(traceability_dir), out_dir)
    trace_rel = Path(traceability_dir).resolve().relative_to(out_dir.resolve()) if \
        traceability_dir is not None and trace_inside else Path("traceability")
    when = timestamp or dt.datetime.combine(result.spec.study.dates.data_cutoff, dt.time())
    written: list[Path] = []
    with staged_dir(out_dir) as stage:
        for name, frame in result.datasets.items():
            meta = result.metadata.dataset(name)
            if not len(frame):
                result.findings.add("SB-SDTM-EMPTY", "notice", f"{name} has no records; no "
                                    "XPT file is written for it (empty datasets are not "
                                    "submitted)", dataset=name)
                continue
            try:
                write_xpt(frame, stage / f"{name.lower()}.xpt", dataset=name,
                          label=meta.label if meta else None,
                          labels=meta.labels if meta else None,
                          order=list(meta.names) if meta else None, ascii=ascii,
                          timestamp=when)
                written.append(out_dir / f"{name.lower()}.xpt")
            except XptExportError as e:
                for v in e.violations:
                    result.findings.add("SB-SDTM-XPT", "error", f"{name} not written as XPT: "
                                        f"{v.message} (the whole dataset is left out; fix the "
                                        "value at source)", dataset=name,
                                        variable=v.variable or "", row=v.row, value=v.value)
        tdir = stage / trace_rel if trace_inside else None
        if tdir is not None:
            written += _write_trace(result, tdir, out_dir / trace_rel)
    if not trace_inside:
        with staged_dir(Path(traceability_dir)) as tstage:
            written += _write_trace(result, tstage, Path(traceability_dir))
    return sorted(written)


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def _write_trace(result: SdtmResult, tdir: Path, final: Path) -> list[Path]:
    from studybuild.atomic import write_text

    tdir.mkdir(parents=True, exist_ok=True)
    files = {
        "lineage.csv": _csv(result.lineage),
        "accounting.csv": _csv(result.accounting),
        "exclusions.csv": _csv(result.exclusions),
        # not sort_keys: each finding's record keys stay in the order recorded (USUBJID
        # first), so `studybuild export` reads back the findings the build reports
        "findings.json": json.dumps({"counts": result.findings.counts(),
                                     "findings": result.findings.to_records()},
                                    indent=2, ensure_ascii=False) + "\n",
    }
    out = []
    for fname, text in files.items():
        write_text(tdir / fname, text)
        out.append(final / fname)
    return out


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------

def build_sdtm_cli(study: str, raw: Path, out: Path) -> int:
    """`studybuild sdtm`: build, write, print a summary; 1 if there are error findings."""
    from rich.console import Console
    from rich.table import Table

    result = build_sdtm(study, raw)
    paths = write_sdtm(result, out)
    console = Console(highlight=False, soft_wrap=True)
    table = Table(title=f"SDTM for {result.spec.id} ({result.spec.study.studyid})")
    for col in ("dataset", "records", "subjects"):
        table.add_column(col, justify="left" if col == "dataset" else "right")
    summ = result.summary()
    for name, n, subj in zip(summ["DATASET"], summ["RECORDS"], summ["SUBJECTS"]):
        table.add_row(name, str(n), str(subj))
    console.print(table)
    acc = result.accounting
    console.print(f"raw rows: {int(acc['ROWS_READ'].sum())} read = "
                  f"{int(acc['ROWS_MAPPED'].sum())} mapped + "
                  f"{int(acc['ROWS_EXCLUDED'].sum())} excluded (traceability/exclusions.csv)")
    if "FIELDS" in acc.columns:
        console.print(f"raw fields: {int(acc['FIELDS'].sum())} declared = "
                      f"{int(acc['FIELDS_MAPPED'].sum())} mapped + "
                      f"{int(acc['FIELDS_NOT_MAPPED'].sum())} not mapped (with a reason) + "
                      f"{int(acc['FIELDS_UNACCOUNTED'].sum())} unaccounted for "
                      "(SB-MAP-UNMAPPED-FIELD)")
    counts = result.findings.counts()
    console.print(f"findings: {counts['error']} error, {counts['warning']} warning, "
                  f"{counts['notice']} notice (traceability/findings.json)")
    for f in result.findings.sorted()[:10]:
        if f.severity.value == "notice":
            continue
        console.print(f"  {f.severity.value}: {f.rule_id} {f.dataset}: {f.message}")
    console.print(f"wrote {len(paths)} files into {out}")
    return 1 if result.findings.has_errors else 0
