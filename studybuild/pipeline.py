"""The whole build, in order: raw -> SDTM -> checks -> ADaM -> checks -> export.

:func:`build_study` runs every step for one study and writes the eCTD-style package:

    OUT/ID/
      raw/                          simulated raw data (demo only; see below)
      tabulations/sdtm/             *.xpt, *.json (Dataset-JSON), define.xml, define2-1.xsl
      analysis/adam/datasets/       *.xpt, *.json, define.xml, define2-1.xsl
      validation/                   report.json, report.html, junit.xml (SDTM and ADaM checks)
      traceability/                 lineage, accounting, exclusions, mapping/derivation findings,
                                    RECIST 1.1 recomputation
      report.html, figures/         reviewer report
      manifest.json                 versions, spec hashes, SHA-256 of every file, gate override

The package is staged in a temporary folder and moved into place only when every step has
succeeded, so ``OUT/ID`` is always the complete output of one build (a killed build leaves the
previous package intact). When the checks find errors, nothing is exported (exit 1): the
validation report goes to ``OUT/ID.refused/`` and the previous package stays as it was, unless
``allow_errors`` is set, which the report and the manifest record.

Raw data is read, not copied, unless ``carry_raw`` is set (``studybuild demo`` sets it: the
simulated raw data become ``OUT/ID/raw/`` of the package).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import pandas as pd

from studybuild import __version__, standards
from studybuild.errors import EXIT_FINDINGS, EXIT_OK, GateError, UsageError
from studybuild.findings import Finding, Findings

FORMATS = ("xpt", "json", "ndjson")
SDTM_DIR = Path("tabulations") / "sdtm"
ADAM_DIR = Path("analysis") / "adam" / "datasets"


@dataclass
class StepTime:
    name: str
    seconds: float
    detail: str = ""


@dataclass
class BuildResult:
    study_id: str
    out: Path                                 # OUT/ID (or OUT/ID.refused when refused)
    exported: bool
    gate_overridden: bool
    counts: dict[str, int]                    # findings by severity, SDTM + ADaM checks
    datasets: dict[str, int] = field(default_factory=dict)    # name -> records
    steps: list[StepTime] = field(default_factory=list)
    refusal: str | None = None


def parse_formats(text: str | Iterable[str]) -> tuple[str, ...]:
    items = [t.strip().lower() for t in (text.split(",") if isinstance(text, str) else text)
             if t.strip()]
    bad = [t for t in items if t not in FORMATS]
    if bad or not items:
        raise UsageError(f"unknown format(s) {', '.join(bad) or '(none)'}; choose from "
                         f"{', '.join(FORMATS)}")
    if "xpt" not in items:
        raise UsageError("xpt is required: SAS transport v5 is the submission format; "
                         "add json or ndjson beside it")
    return tuple(dict.fromkeys(items))


def _cutoff(study) -> dt.datetime:
    return dt.datetime.combine(study.dates.data_cutoff, dt.time())


def _merge_reports(sdtm_rep, adam_rep):
    """One validation report for the package: SDTM and ADaM findings, datasets and gates."""
    from validation.run import ValidationReport

    findings = Findings()
    findings.extend(sdtm_rep.findings)
    findings.extend(adam_rep.findings)
    gates = [g for g in (sdtm_rep.gate, adam_rep.gate) if g]
    counts = findings.counts()
    gate = {"stage": "SDTM, ADaM", "errors": counts["error"], "warnings": counts["warning"],
            "notices": counts["notice"],
            "allow_errors": any(g.get("allow_errors") for g in gates),
            "override": any(g.get("override") for g in gates),
            "result": "; ".join(f"{g['stage']}: {g['result']}" for g in gates),
            "stages": gates}
    merged = ValidationReport(
        findings=findings, datasets={**sdtm_rep.datasets, **adam_rep.datasets}, kind="mixed",
        rules_run=tuple(sorted(set(sdtm_rep.rules_run) | set(adam_rep.rules_run))),
        source=sdtm_rep.source, baseline=sdtm_rep.baseline or adam_rep.baseline, gate=gate,
        suites={**sdtm_rep.suites, **adam_rep.suites},
        metadata_source="study metadata")
    return merged


def _link_or_copy_tree(src: Path, dst: Path) -> None:
    """Carry a folder into the staged package: hard links where possible (no copy cost)."""
    def link(s: str, d: str) -> None:
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)
    shutil.copytree(src, dst, copy_function=link)


def _write_datasets(frames: dict[str, pd.DataFrame], metadata, folder: Path, *,
                    formats: tuple[str, ...], timestamp: dt.datetime, ascii: str,
                    studyid: str, kind: str, findings: Findings) -> dict[str, str]:
    """XPT (and Dataset-JSON) for every dataset; returns name -> XPT file name. An XPT v5
    violation (should have been caught by the checks) becomes an error finding."""
    from studybuild.define import metadata_version_oid, study_oid
    from studybuild.export.datasetjson import write_dataset_json
    from studybuild.export.xpt import XptExportError, write_xpt

    folder.mkdir(parents=True, exist_ok=True)
    hrefs: dict[str, str] = {}
    for name, frame in frames.items():
        meta = metadata.dataset(name)
        label = meta.label if meta else None
        labels = meta.labels if meta else None
        order = list(meta.names) if meta else None
        try:
            path = write_xpt(frame, folder, dataset=name, label=label, labels=labels,
                             order=order, ascii=ascii, timestamp=timestamp)
        except XptExportError as e:
            for v in e.violations:
                findings.add("SB-EXPORT-XPT", "error", f"{name} cannot be written as XPT v5: "
                             f"{v.message}", dataset=name, variable=v.variable or "",
                             row=v.row, value=v.value)
            continue
        hrefs[name] = path.name
        cols = [c for c in (order or []) if c in frame.columns]
        cols += [c for c in frame.columns if c not in cols]
        for fmt in formats:
            if fmt == "xpt":
                continue
            write_dataset_json(frame[cols], folder / f"{name.lower()}.{fmt}",
                               ndjson=fmt == "ndjson", name=name,
                               label=label or name, labels=labels or {},
                               keys=meta.keys if meta else (), study_oid=study_oid(studyid),
                               metadata_version_oid=metadata_version_oid(studyid, kind),
                               metadata_ref="define.xml", created=timestamp)
    return hrefs


def _inventory(report, kinds: dict[str, str], files: dict[str, str]) -> list[dict]:
    rows = []
    for name, s in sorted(report.datasets.items()):
        rows.append({"name": name, "kind": kinds.get(name, s.kind), "records": s.records,
                     "variables": s.variables, "errors": s.errors, "warnings": s.warnings,
                     "notices": s.notices, "file": files.get(name, "")})
    return rows


def _spec_files(study_id: str) -> list[Path]:
    from studybuild.paths import specs_dir, studies_dir

    out = sorted(p for p in (studies_dir() / study_id).rglob("*") if p.is_file())
    std = specs_dir() / "standards"
    for sub in ("sdtmig-3.4", "adamig-1.3", "ct"):
        out += sorted(p for p in (std / sub).glob("*.csv"))
    out += sorted((specs_dir() / "dictionaries").glob("*.csv"))   # e.g. MedDRA SOC codes
    return out


def build_study(study_id: str, raw_dir: Path, out_root: Path, *, allow_errors: bool = False,
                formats: str | Iterable[str] = ("xpt", "json"), transliterate: bool = False,
                baseline: Path | None = None, carry_raw: bool = False,
                progress: Callable[[str], None] | None = None) -> BuildResult:
    """Run every step for one study and write ``out_root/study_id`` (see module docstring).

    Raises :class:`~studybuild.errors.GateError` (exit 1) when the checks find errors and
    ``allow_errors`` is false; the refused build's validation report is then in
    ``out_root/<study_id>.refused/``.
    """
    from adam.build import build_adam
    from sdtm.build import build_sdtm
    from studybuild.atomic import staged_dir, write_text
    from studybuild.define import write_define
    from studybuild.manifest import write_manifest
    from studybuild.report import write_report
    from studybuild.study import load_study
    from validation.gate import enforce_gate
    from validation.report import write_reports
    from validation.run import validate

    say = progress or (lambda msg: None)
    fmts = parse_formats(formats)
    study = load_study(study_id)
    raw_dir, out_root = Path(raw_dir), Path(out_root)
    target = out_root / study_id
    refused_dir = out_root / f"{study_id}.refused"
    stamp = _cutoff(study)
    ascii_mode = "transliterate" if transliterate else "error"
    steps: list[StepTime] = []

    def step(name: str, fn, detail: Callable = lambda r: ""):
        t0 = time.perf_counter()
        res = fn()
        steps.append(StepTime(name, time.perf_counter() - t0, detail(res)))
        say(f"{study_id}: {name:<13} {steps[-1].seconds:6.1f} s  {steps[-1].detail}")
        return res

    sdtm = step("sdtm", lambda: build_sdtm(study_id, raw_dir),
                lambda r: f"{len(r.datasets)} datasets, "
                          f"{sum(len(f) for f in r.datasets.values()):,} records")
    sdtm_rep = step("check sdtm", lambda: validate(sdtm.datasets, metadata=sdtm.metadata,
                                                   study=study, baseline=baseline,
                                                   _extra=list(sdtm.findings)),
                    lambda r: "{error} errors, {warning} warnings, {notice} notices"
                    .format(**r.counts()))
    adam = step("adam", lambda: build_adam(sdtm.datasets, study=study_id),
                lambda r: f"{len(r.datasets)} datasets, "
                          f"{sum(len(f) for f in r.datasets.values()):,} records")
    adam_rep = step("check adam", lambda: validate(adam.datasets, metadata=adam.metadata,
                                                   study=study, baseline=baseline,
                                                   _extra=list(adam.findings)),
                    lambda r: "{error} errors, {warning} warnings, {notice} notices"
                    .format(**r.counts()))

    refusal = None
    for rep, stage in ((sdtm_rep, "SDTM"), (adam_rep, "ADaM")):
        try:
            enforce_gate(rep, allow_errors=allow_errors, stage=stage)
        except GateError as e:
            refusal = refusal or e
    report = _merge_reports(sdtm_rep, adam_rep)
    if refusal is not None:
        with staged_dir(refused_dir) as stage:
            write_reports(report, stage / "validation")
            _write_traceability(stage / "traceability", sdtm, adam)
        raise GateError(f"{refusal.message}; nothing exported, report in "
                        f"{refused_dir / 'validation' / 'report.html'}", hint=refusal.hint)

    export_findings = Findings()
    kinds = {**{k: "SDTM" for k in sdtm.datasets}, **{k: "ADaM" for k in adam.datasets}}

    def export() -> Path:
        with staged_dir(target) as stage:
            if carry_raw:
                _link_or_copy_tree(raw_dir, stage / "raw")
            s_hrefs = _write_datasets(sdtm.datasets, sdtm.metadata, stage / SDTM_DIR,
                                      formats=fmts, timestamp=stamp, ascii=ascii_mode,
                                      studyid=study.studyid, kind="SDTM",
                                      findings=export_findings)
            a_hrefs = _write_datasets(adam.datasets, adam.metadata, stage / ADAM_DIR,
                                      formats=fmts, timestamp=stamp, ascii=ascii_mode,
                                      studyid=study.studyid, kind="ADaM",
                                      findings=export_findings)
            if export_findings.has_errors and not allow_errors:
                first = export_findings.errors[0]
                raise GateError(f"export refused: {first.message} "
                                f"({len(export_findings.errors)} XPT problem(s))",
                                hint="these should have been caught by the checks; rerun "
                                     "with --transliterate for non-ASCII text")
            write_define(sdtm.metadata, {k: sdtm.datasets[k] for k in s_hrefs},
                         stage / SDTM_DIR / "define.xml", study=study, hrefs=s_hrefs,
                         timestamp=stamp)
            write_define(adam.metadata, {k: adam.datasets[k] for k in a_hrefs},
                         stage / ADAM_DIR / "define.xml", study=study, hrefs=a_hrefs,
                         timestamp=stamp)
            report.findings.extend(export_findings)
            write_reports(report, stage / "validation")
            _write_traceability(stage / "traceability", sdtm, adam)
            files = {**{k: str(SDTM_DIR / v) for k, v in s_hrefs.items()},
                     **{k: str(ADAM_DIR / v) for k, v in a_hrefs.items()}}
            c = report.counts()
            write_report(adam.datasets, stage, study=study,
                         inventory=_inventory(report, kinds, files),
                         validation_summary={"errors": c["error"], "warnings": c["warning"],
                                             "notices": c["notice"],
                                             "gate": "overridden" if report.gate_override
                                             else "passed",
                                             "gate_overridden": report.gate_override,
                                             "report": "validation/report.html"})
            write_manifest(stage, study=study_id, tool_version=__version__,
                           spec_files=_spec_files(study_id),
                           ct_version=standards.SDTM_CT_VERSION,
                           gate_overridden=report.gate_override,
                           extra={"study": study_id, "studyid": study.studyid,
                                  "data_cutoff": study.dates.data_cutoff.isoformat(),
                                  "formats": list(fmts),
                                  "gate": {k: v for k, v in report.gate.items()
                                           if k != "stages"}})
        if refused_dir.exists():
            shutil.rmtree(refused_dir, ignore_errors=True)
        return target

    step("export", export, lambda r: f"{len(kinds)} datasets as {'+'.join(fmts)}, define.xml, "
                                     "report, manifest")
    return BuildResult(study_id=study_id, out=target, exported=True,
                       gate_overridden=report.gate_override, counts=report.counts(),
                       datasets={k: len(v) for k, v in {**sdtm.datasets,
                                                        **adam.datasets}.items()},
                       steps=steps)


def _write_traceability(folder: Path, sdtm, adam) -> None:
    import json

    from studybuild.atomic import write_text

    folder.mkdir(parents=True, exist_ok=True)

    def csv(frame: pd.DataFrame) -> str:
        return frame.to_csv(index=False, lineterminator="\n", float_format="%.10g")

    write_text(folder / "lineage.csv", csv(sdtm.lineage))
    write_text(folder / "accounting.csv", csv(sdtm.accounting))
    write_text(folder / "exclusions.csv", csv(sdtm.exclusions))
    rc = adam.recist_check.copy()
    for c in rc.columns:
        if pd.api.types.is_datetime64_any_dtype(rc[c]):
            rc[c] = rc[c].dt.strftime("%Y-%m-%d")
    write_text(folder / "recist_check.csv", csv(rc))
    for name, fs in (("sdtm_findings.json", sdtm.findings), ("adam_findings.json",
                                                             adam.findings)):
        write_text(folder / name, json.dumps({"counts": fs.counts(),
                                              "findings": fs.to_records()},
                                             indent=2, sort_keys=True, ensure_ascii=False)
                   + "\n")


# --------------------------------------------------------------------------------------------
# CLI entry points
# --------------------------------------------------------------------------------------------

def _console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True, stderr=False)


def _print_result(console, res: BuildResult) -> None:
    c = res.counts
    gate = "overridden (--allow-errors)" if res.gate_overridden else "passed"
    console.print(f"[bold]{res.study_id}[/bold]: {len(res.datasets)} datasets, "
                  f"{sum(res.datasets.values()):,} records; checks: {c['error']} errors, "
                  f"{c['warning']} warnings, {c['notice']} notices; gate {gate}")
    console.print(f"  package: {res.out}  (report.html, validation/report.html, "
                  "manifest.json)")


def build_cli(study: str, raw: Path, out: Path, *, allow_errors: bool, formats: str,
              transliterate: bool, baseline: Path | None = None) -> int:
    """`studybuild build`: one study from its raw folder to the package."""
    from studybuild.errors import InputError

    if not Path(raw).is_dir():
        raise InputError("raw data folder not found", path=raw,
                         hint="give the folder of raw CSV forms (e.g. from "
                              "`studybuild simulate`)")
    console = _console()
    res = build_study(study, raw, out, allow_errors=allow_errors, formats=formats,
                      transliterate=transliterate, baseline=baseline, progress=console.print)
    _print_result(console, res)
    return EXIT_FINDINGS if res.gate_overridden else EXIT_OK


def demo_cli(out: Path, *, subjects: int | None, seed: int) -> int:
    """`studybuild demo`: simulate and build every study in specs/studies/."""
    from studybuild.paths import study_ids
    from studybuild.simulate import simulate_study

    console = _console()
    code = EXIT_OK
    out = Path(out)
    for study_id in study_ids():
        t0 = time.perf_counter()
        # simulate beside the package, so a failed build leaves the previous package intact
        raw = out / f".{study_id}.raw"
        try:
            sim = simulate_study(study_id, raw, subjects=subjects, seed=seed)
            first = str(sim).splitlines()[0] if str(sim) else ""
            console.print(f"{study_id}: {'simulate':<13} {time.perf_counter() - t0:6.1f} s  "
                          f"{first}")
            res = build_study(study_id, raw, out, carry_raw=True, progress=console.print)
        except GateError as e:
            console.print(f"[red]{study_id}: {e}[/red]")
            code = EXIT_FINDINGS
            continue
        finally:
            shutil.rmtree(raw, ignore_errors=True)
        _print_result(console, res)
    return code
