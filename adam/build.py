"""``build_adam``: every ADaM dataset the SDTM inputs allow, with metadata, findings and the
independent RECIST 1.1 check; ``build_adam_cli`` is ``studybuild adam``.

Any SDTM folder works: DM is required; ADSL uses EX, DS, AE, LB, TU, CM, SUPPDM and every other
dated domain when asked; ADRS needs RS; ADTTE needs ADSL dates (and ADRS for PFS/RSD/TTR); ADTR
needs TR; ADAE needs AE. Study choices come from ``specs/studies/ID/adam/*.yaml``
(:mod:`adam.options`); without a study, admiral/admiralonco's template defaults apply.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from adam.adae import build_adae
from adam.adrs import build_adrs
from adam.adsl import build_adsl
from adam.adtr import build_adtr
from adam.adtte import build_adtte
from adam.metadata import DATASET_LABELS, adam_metadata
from adam.options import AdamOptions, options_for
from adam.recist import recist_check
from studybuild.errors import InputError
from studybuild.findings import Findings
from studybuild.metadata import StudyMetadata

ORDER = ("ADSL", "ADRS", "ADTTE", "ADTR", "ADAE")


@dataclass
class AdamResult:
    """What :func:`build_adam` returns."""

    datasets: dict[str, pd.DataFrame]
    metadata: StudyMetadata
    findings: Findings
    recist_check: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        lines = []
        for name, df in self.datasets.items():
            extra = ""
            if "PARAMCD" in df.columns:
                extra = "  " + " ".join(sorted(df["PARAMCD"].dropna().unique()))
            lines.append(f"{name:<6} {len(df):>9,} records {df.shape[1]:>4} variables{extra}")
        c = self.findings.counts()
        lines.append(f"RECIST 1.1 check: {len(self.recist_check)} assessment(s) where RS "
                     "differs from the recomputation")
        lines.append(f"findings: {c['error']} error(s), {c['warning']} warning(s), "
                     f"{c['notice']} notice(s)")
        return "\n".join(lines)


def _normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Column types as DEVELOPERS.md says: str text (NA missing), float64 numbers,
    datetime64[s] dates."""
    out = {}
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_datetime64_any_dtype(s):
            out[c] = s.astype("datetime64[s]")
        elif pd.api.types.is_bool_dtype(s) or pd.api.types.is_integer_dtype(s):
            out[c] = s.astype("float64")
        elif pd.api.types.is_numeric_dtype(s):
            out[c] = s.astype("float64")
        elif s.dtype == object:
            nonnull = s.dropna()
            if len(nonnull) and nonnull.map(lambda v: hasattr(v, "year")).all():
                out[c] = pd.to_datetime(s).astype("datetime64[s]")
            else:
                t = s.astype("str")
                out[c] = t.where(t.ne(""))
        elif pd.api.types.is_string_dtype(s):
            out[c] = s
        else:
            out[c] = s.astype("str")
    res = pd.DataFrame(out, index=pd.RangeIndex(len(df)))
    res.attrs = dict(df.attrs)
    return res


def _prepare_inputs(sdtm: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    frames = {}
    for name, df in sdtm.items():
        if df is None:
            continue
        key = str(name).upper()
        if len(key) > 8 and "_" in key:        # tu_onco_recist -> TU
            key = key.split("_", 1)[0]
        if "DOMAIN" in df.columns and len(df) and not key.startswith("SUPP"):
            dom = df["DOMAIN"].dropna().unique()
            if len(dom) == 1 and isinstance(dom[0], str) and len(dom[0]) == 2:
                key = dom[0].upper()
        frames[key] = df.reset_index(drop=True)
    return frames


def build_adam(sdtm: Mapping[str, pd.DataFrame], *, study: str | None = None,
               options: AdamOptions | None = None) -> AdamResult:
    """Derive ADSL, ADRS, ADTTE, ADTR and ADAE (those the inputs allow) from SDTM frames.

    >>> dm = pd.DataFrame({"STUDYID": ["S"], "DOMAIN": ["DM"], "USUBJID": ["S-1"],
    ...                    "AGE": [70.0], "ARM": ["A"], "ACTARM": ["A"], "ARMCD": ["A"]})
    >>> sorted(build_adam({"DM": dm}).datasets)
    ['ADSL']
    """
    opts = options if options is not None else options_for(study)
    frames = _prepare_inputs(sdtm)
    findings = Findings()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    adsl = build_adsl(frames, options=opts, findings=findings)
    timings["ADSL"] = time.perf_counter() - t0
    if opts.study.studyid and "STUDYID" in adsl.columns:
        other = adsl["STUDYID"].ne(opts.study.studyid) & adsl["STUDYID"].notna()
        if other.any():
            first = adsl.loc[other, "STUDYID"].iloc[0]
            findings.add("ADAM-STUDYID", "error", f"DM.STUDYID {first!r} "
                         f"is not the study's STUDYID {opts.study.studyid!r}", dataset="DM",
                         variable="STUDYID", row=int(np.flatnonzero(other.to_numpy())[0]) + 1)
    datasets: dict[str, pd.DataFrame | None] = {"ADSL": adsl}
    t0 = time.perf_counter()
    datasets["ADRS"] = build_adrs(adsl, frames, options=opts, findings=findings)
    timings["ADRS"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    datasets["ADTTE"] = build_adtte(adsl, datasets["ADRS"], frames, options=opts,
                                    findings=findings)
    timings["ADTTE"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    datasets["ADTR"] = build_adtr(adsl, frames, options=opts, findings=findings)
    timings["ADTR"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    datasets["ADAE"] = build_adae(adsl, frames, options=opts, findings=findings)
    timings["ADAE"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    rc = recist_check(adsl, frames, options=opts, findings=findings)
    timings["RECIST"] = time.perf_counter() - t0
    out = {k: _normalise(v) for k in ORDER if (v := datasets.get(k)) is not None}
    out["ADSL"] = out["ADSL"].sort_values(["STUDYID", "USUBJID"], kind="stable") \
        .reset_index(drop=True)
    meta = describe_adam(out, frames, study=study, options=opts)
    for name, df in out.items():
        dm = meta.dataset(name)
        df.attrs["label"] = DATASET_LABELS.get(name, name)
        df.attrs["labels"] = dm.labels if dm else {}
    return AdamResult(datasets=out, metadata=meta, findings=findings, recist_check=rc,
                      timings=timings)


def describe_adam(datasets: Mapping[str, pd.DataFrame], sdtm: Mapping[str, pd.DataFrame], *,
                  study: str | None = None, options: AdamOptions | None = None,
                  labels: Mapping[str, Mapping[str, str]] | None = None) -> StudyMetadata:
    """The metadata :func:`build_adam` gives ``datasets`` derived from ``sdtm``; works as well
    on ADaM datasets read back from files (``studybuild export`` rebuilds define.xml this
    way): variable labels then come from ``labels`` (dataset -> variable -> label, e.g. the
    XPT labels) and the study's ADSL variables (``adsl.yaml`` ``extra``) get their SDTM
    source from ``options``. The frames are not changed.

    >>> adsl = pd.DataFrame({"STUDYID": ["S"], "USUBJID": ["S-1"], "AGE": [70.0]})
    >>> describe_adam({"ADSL": adsl}, {"DM": adsl}).dataset("ADSL").variable("AGE").origin
    'Predecessor'
    """
    opts = options if options is not None else options_for(study)
    frames = dict(datasets)
    adsl = frames.get("ADSL")
    extra = {var: spec.source for var, spec in opts.adsl.extra.items()}
    for name, df in frames.items():
        given = (labels or {}).get(name, {})
        srcs = df.attrs.get("sources", {}) if isinstance(df.attrs.get("sources"), dict) else {}
        missing = {v: s for v, s in extra.items() if name == "ADSL" and v in df.columns
                   and v not in srcs}
        if given or missing:
            df = df.copy(deep=False)
            df.attrs = dict(df.attrs)
            old = df.attrs.get("labels") if isinstance(df.attrs.get("labels"), dict) else {}
            df.attrs["labels"] = {**given, **old}
            df.attrs["sources"] = {**srcs, **missing}
            frames[name] = df
    studyid = str(adsl["STUDYID"].dropna().iloc[0]) if adsl is not None and \
        "STUDYID" in adsl.columns and adsl["STUDYID"].notna().any() else ""
    cols = {str(k).upper(): set(v.columns) for k, v in sdtm.items()}
    return adam_metadata(frames, cols, study_id=study or studyid, studyid=studyid)


def build_adam_cli(sdtm_dir: Path, out: Path, *, study: str | None = None) -> int:
    """``studybuild adam --sdtm DIR --out DIR [--study ID]``: read any SDTM folder (XPT, CSV,
    parquet, Dataset-JSON), derive ADaM, write one XPT per dataset plus
    ``traceability/recist_check.csv`` and ``traceability/findings.csv`` (atomically,
    replacing OUT), print a summary. Exit 1 on error findings."""
    import click

    from studybuild.atomic import staged_dir
    from studybuild.datasets import read_folder
    from studybuild.export.xpt import write_xpt

    folder = read_folder(sdtm_dir)
    if folder.kind == "empty":
        raise InputError("no datasets found", path=sdtm_dir,
                         hint="give a folder of SDTM .xpt/.csv/.parquet/.json files")
    if "DM" not in folder:
        raise InputError("the folder has no DM dataset", path=sdtm_dir,
                         hint="ADaM needs at least DM; is this an SDTM folder?")
    frames = {k: v for k, v in folder.frames().items() if not k.startswith("AD")}
    result = build_adam(frames, study=study)
    with staged_dir(out) as tmp:
        for name, df in result.datasets.items():
            meta = result.metadata.dataset(name)
            write_xpt(df, tmp, dataset=name, label=meta.label if meta else name,
                      labels=meta.labels if meta else None,
                      order=list(meta.names) if meta else None)
        # beside the datasets, not among them: a folder of datasets must hold datasets only
        # (validate reads every .csv of a folder as a dataset)
        trace = tmp / "traceability"
        trace.mkdir()
        rc = result.recist_check.copy()
        rc["ADT"] = rc["ADT"].dt.strftime("%Y-%m-%d")
        rc.to_csv(trace / "recist_check.csv", index=False)
        rows = result.findings.to_records()
        pd.DataFrame(rows, columns=["rule_id", "severity", "message", "dataset", "variable",
                                    "row", "keys", "value"] if not rows else None) \
            .to_csv(trace / "findings.csv", index=False)
    click.echo(f"ADaM from {sdtm_dir} -> {out}"
               + (f" (study {study})" if study else " (admiral defaults)"))
    click.echo(result.summary())
    for f in result.findings.sorted():
        if f.severity.value in ("error", "warning"):
            click.echo(f"  {f.severity.value}: {f.rule_id} {f.location}: {f.message}")
    return 1 if result.findings.has_errors else 0


__all__ = ["AdamResult", "build_adam", "build_adam_cli", "describe_adam"]
