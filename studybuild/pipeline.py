"""The whole build, in order: raw -> SDTM -> checks -> ADaM -> checks -> export.

:func:`build_study` runs every step for one study; its last step, :func:`export_package`
(``studybuild export``), also runs alone on the SDTM and ADaM folders that ``studybuild
sdtm`` / ``studybuild adam`` write (:func:`read_sdtm`, :func:`read_adam`), checks them and
writes the same eCTD-style package:

    OUT/ID/
      m5/datasets/ID/               what is submitted, as FDA's eCTD module 5 expects it
        tabulations/sdtm/           *.xpt, define.xml, define2-1.xsl, define.html (the
                                    define pre-rendered), csdrg.pdf (SDTM reviewer's guide)
        analysis/adam/datasets/     *.xpt, define.xml, define2-1.xsl, define.html, adrg.pdf
      dataset-json/sdtm/, adam/     Dataset-JSON 1.1 (*.json or *.ndjson), outside m5
      raw/                          simulated raw data (demo only; see below)
      validation/                   report.json, report.html, junit.xml (SDTM and ADaM checks)
      traceability/                 lineage, accounting, exclusions, mapping/derivation findings,
                                    RECIST 1.1 recomputation (export: what the folders' own
                                    traceability/ holds)
      report.html, figures/         reviewer report
      manifest.json                 versions, spec hashes, SHA-256 of every file, gate override

:mod:`studybuild.export.layout` names these folders (``sdtm_dir(package)``,
``adam_dir(package)``).

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
import posixpath
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

import pandas as pd

from studybuild import __version__, standards
from studybuild.errors import EXIT_FINDINGS, EXIT_OK, GateError, UsageError
from studybuild.findings import Finding, Findings

if TYPE_CHECKING:
    from studybuild.metadata import StudyMetadata

FORMATS = ("xpt", "json", "ndjson")


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


def _merge_reports(sdtm_rep, adam_rep, *, study: str = ""):
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
        metadata_source="study metadata", study=study)
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
                    studyid: str, kind: str, findings: Findings,
                    json_folder: Path | None = None,
                    metadata_ref: str = "define.xml") -> dict[str, str]:
    """XPT for every dataset in ``folder`` and, for the other formats, Dataset-JSON in
    ``json_folder`` (default: ``folder``; its metadataRef is ``metadata_ref``, the define.xml
    relative to it); returns name -> XPT file name. An XPT v5 violation (should have been
    caught by the checks) becomes an error finding."""
    from studybuild.define import metadata_version_oid, study_oid
    from studybuild.export.datasetjson import write_dataset_json
    from studybuild.export.xpt import XptExportError, write_xpt

    folder.mkdir(parents=True, exist_ok=True)
    json_folder = folder if json_folder is None else json_folder
    if any(f != "xpt" for f in formats):
        json_folder.mkdir(parents=True, exist_ok=True)
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
            write_dataset_json(frame[cols], json_folder / f"{name.lower()}.{fmt}",
                               ndjson=fmt == "ndjson", name=name,
                               label=label or name, labels=labels or {},
                               keys=meta.keys if meta else (), study_oid=study_oid(studyid),
                               metadata_version_oid=metadata_version_oid(studyid, kind),
                               metadata_ref=metadata_ref, created=timestamp)
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


@dataclass
class StageOutput:
    """One stage's output as :func:`export_package` needs it, read back from the folders that
    ``studybuild sdtm`` / ``studybuild adam`` write (:func:`read_sdtm`, :func:`read_adam`).
    :class:`sdtm.build.SdtmResult` and :class:`adam.build.AdamResult` serve as well.

    ``findings`` are the stage's own (mapping or derivation) findings, which the checks carry
    into the validation report; the tables are the traceability the package keeps. ``None``
    means not known (the folder has no ``traceability/``): the package then leaves it out.
    """

    kind: str                                          # "SDTM" or "ADaM"
    datasets: dict[str, pd.DataFrame]
    metadata: "StudyMetadata"
    findings: Findings | None = None
    lineage: pd.DataFrame | None = None                # SDTM: DOMAIN, RECORD, ..., RAW_ROW
    accounting: pd.DataFrame | None = None             # SDTM: rows read/mapped/excluded
    exclusions: pd.DataFrame | None = None             # SDTM: excluded raw rows, reasons
    recist_check: pd.DataFrame | None = None           # ADaM: RS vs RECIST 1.1 recomputation
    source: Path | None = None                         # the folder it was read from
    ignored: list[tuple[Path, str]] = field(default_factory=list)   # files not read

    @property
    def traceability(self) -> list[str]:
        """The traceability parts present (lineage, accounting, ..., findings)."""
        names = ("lineage", "accounting", "exclusions", "recist_check", "findings")
        return [n for n in names if getattr(self, n) is not None]


def check_stage(stage, *, study, baseline: Path | None = None):
    """The checks of one stage (SDTM or ADaM), its own findings included: what ``build`` and
    ``export`` both run before the gate. ``stage``: an SdtmResult, AdamResult or
    :class:`StageOutput`; ``study``: the :class:`~studybuild.study.Study`."""
    from validation.run import validate

    return validate(stage.datasets, metadata=stage.metadata, study=study, baseline=baseline,
                    _extra=list(stage.findings or ()))


def _counts_text(rep) -> str:
    return "{error} errors, {warning} warnings, {notice} notices".format(**rep.counts())


def _stepper(study_id: str, steps: list[StepTime], say: Callable[[str], None]) -> Callable:
    """``step(name, fn, detail)``: run ``fn``, record its time in ``steps`` and print the
    progress line (``ID: name  seconds  detail``)."""
    def step(name: str, fn, detail: Callable = lambda r: ""):
        t0 = time.perf_counter()
        res = fn()
        steps.append(StepTime(name, time.perf_counter() - t0, detail(res)))
        say(f"{study_id}: {name:<13} {steps[-1].seconds:6.1f} s  {steps[-1].detail}")
        return res
    return step


def export_package(study_id: str, sdtm, adam, out_root: Path, *,
                   formats: str | Iterable[str] = ("xpt", "json"), transliterate: bool = False,
                   allow_errors: bool = False, baseline: Path | None = None,
                   reports: tuple | None = None, raw_dir: Path | None = None,
                   progress: Callable[[str], None] | None = None,
                   _sdtm_early: "_EarlyDatasets | None" = None) -> BuildResult:
    """The export step: check, apply the gate, write the package ``out_root/study_id``.

    ``sdtm`` and ``adam`` are :class:`StageOutput` (from :func:`read_sdtm` /
    :func:`read_adam`) or the results of ``build_sdtm`` / ``build_adam``. ``reports``: the
    SDTM and ADaM validation reports when the caller has run :func:`check_stage` already
    (``build_study`` does); else the checks run here. ``raw_dir``: a raw folder to carry into
    the package as ``raw/`` (``studybuild demo``). Writes, in a staged folder moved into
    place only when complete (see the module docstring): XPT (in ``m5/``) and Dataset-JSON
    (beside it) per dataset, define.xml 2.1 with define.html for SDTM and ADaM, the
    reviewer's guides (``csdrg.pdf``, ``adrg.pdf``, :mod:`studybuild.guides`), the validation
    reports, ``traceability/`` (what is known of it), the reviewer report and the manifest.

    Raises :class:`~studybuild.errors.GateError` (exit 1) when the checks find errors and
    ``allow_errors`` is false: nothing is exported, the validation report goes to
    ``out_root/<study_id>.refused/`` and the previous package stays.

    >>> sdtm = read_sdtm("surufatinib-sts", Path("out/sdtm"))              # doctest: +SKIP
    >>> adam = read_adam("surufatinib-sts", Path("out/adam"), sdtm=sdtm)   # doctest: +SKIP
    >>> export_package("surufatinib-sts", sdtm, adam, Path("pkg")).out     # doctest: +SKIP
    PosixPath('pkg/surufatinib-sts')
    """
    from studybuild.atomic import staged_dir
    from studybuild.define import render_html, write_define
    from studybuild.export.layout import DEFINE_HTML_NAME, layout
    from studybuild.guides import write_guides
    from studybuild.manifest import write_manifest
    from studybuild.report import compute_endpoints, write_report
    from studybuild.report.writer import draw_figures
    from studybuild.study import load_study
    from validation.gate import enforce_gate
    from validation.report import write_reports

    say = progress or (lambda msg: None)
    fmts = parse_formats(formats)
    study = load_study(study_id)
    lay = layout(study_id)              # before any work: the id must name an eCTD folder
    out_root = Path(out_root)
    target = out_root / study_id
    refused_dir = out_root / f"{study_id}.refused"
    stamp = _cutoff(study)
    ascii_mode = "transliterate" if transliterate else "error"
    steps: list[StepTime] = []

    step = _stepper(study_id, steps, say)

    if reports is None:
        sdtm_rep = step("check sdtm", lambda: check_stage(sdtm, study=study,
                                                          baseline=baseline), _counts_text)
        adam_rep = step("check adam", lambda: check_stage(adam, study=study,
                                                          baseline=baseline), _counts_text)
    else:
        sdtm_rep, adam_rep = reports

    refusal = None
    for rep, stage_name in ((sdtm_rep, "SDTM"), (adam_rep, "ADaM")):
        try:
            enforce_gate(rep, allow_errors=allow_errors, stage=stage_name)
        except GateError as e:
            refusal = refusal or e
    report = _merge_reports(sdtm_rep, adam_rep, study=study.studyid)
    if refusal is not None:
        with staged_dir(refused_dir) as stage:
            write_reports(report, stage / "validation")
            _write_traceability(stage / "traceability", sdtm, adam)
        raise GateError(f"{refusal.message}; nothing exported, report in "
                        f"{refused_dir / 'validation' / 'report.html'}", hint=refusal.hint)

    export_findings = Findings()
    kinds = {**{k: "SDTM" for k in sdtm.datasets}, **{k: "ADaM" for k in adam.datasets}}
    refs = {k: posixpath.relpath((folder / "define.xml").as_posix(), js.as_posix())
            for k, folder, js in (("SDTM", lay.sdtm, lay.sdtm_json),
                                  ("ADaM", lay.adam, lay.adam_json))}

    def export() -> Path:
        with staged_dir(target) as stage:
            if raw_dir is not None:
                _link_or_copy_tree(Path(raw_dir), stage / "raw")
            # SDTM and ADaM side by side: the XPT and Dataset-JSON writers spend their time
            # in numpy/Arrow kernels and file writes, which release the GIL, so two threads
            # nearly halve the wall time (each keeps its own findings, merged in order)
            from concurrent.futures import ThreadPoolExecutor

            # (build_study starts the SDTM datasets while ADaM is derived: _sdtm_early)
            s_found, a_found = Findings(), Findings()
            with ThreadPoolExecutor(2, thread_name_prefix="export") as pool:
                if _sdtm_early is None:
                    s_job = pool.submit(_write_datasets, sdtm.datasets, sdtm.metadata,
                                        stage / lay.sdtm, formats=fmts, timestamp=stamp,
                                        ascii=ascii_mode, studyid=study.studyid,
                                        kind="SDTM", findings=s_found,
                                        json_folder=stage / lay.sdtm_json,
                                        metadata_ref=refs["SDTM"])
                else:
                    s_job, s_found = _sdtm_early.job, _sdtm_early.findings
                a_job = pool.submit(_write_datasets, adam.datasets, adam.metadata,
                                    stage / lay.adam, formats=fmts, timestamp=stamp,
                                    ascii=ascii_mode, studyid=study.studyid, kind="ADaM",
                                    findings=a_found, json_folder=stage / lay.adam_json,
                                    metadata_ref=refs["ADaM"])
                # meanwhile, here, what does not depend on the files written: the
                # traceability tables, the report's numbers and figures
                _write_traceability(stage / "traceability", sdtm, adam)
                endpoints = compute_endpoints(adam.datasets,
                                              data_cutoff=study.dates.data_cutoff,
                                              simon=study.design.simon_two_stage)
                figures = draw_figures(endpoints)
                s_hrefs, a_hrefs = s_job.result(), a_job.result()
            if _sdtm_early is not None:
                _sdtm_early.move_to(stage / lay.sdtm, stage / lay.sdtm_json)
            export_findings.extend(s_found)
            export_findings.extend(a_found)
            if export_findings.has_errors and not allow_errors:
                first = export_findings.errors[0]
                raise GateError(f"export refused: {first.message} "
                                f"({len(export_findings.errors)} XPT problem(s))",
                                hint="these should have been caught by the checks; rerun "
                                     "with --transliterate for non-ASCII text")
            for stage_out, hrefs, folder in ((sdtm, s_hrefs, lay.sdtm),
                                             (adam, a_hrefs, lay.adam)):
                define = write_define(stage_out.metadata,
                                      {k: stage_out.datasets[k] for k in hrefs},
                                      stage / folder / "define.xml", study=study,
                                      hrefs=hrefs, timestamp=stamp)
                # browsers no longer run XSLT: the same page, rendered once, beside it
                render_html(define, stage / folder / DEFINE_HTML_NAME)
            report.findings.extend(export_findings)
            write_reports(report, stage / "validation")
            write_guides(stage, lay, study=study, sdtm=sdtm, adam=adam,
                         sdtm_findings=[*sdtm_rep.findings, *s_found],
                         adam_findings=[*adam_rep.findings, *a_found],
                         baseline=report.baseline, xpt={"SDTM": s_hrefs, "ADaM": a_hrefs})
            files = {**{k: (lay.sdtm / v).as_posix() for k, v in s_hrefs.items()},
                     **{k: (lay.adam / v).as_posix() for k, v in a_hrefs.items()}}
            c = report.counts()
            write_report(adam.datasets, stage, study=study, endpoints=endpoints,
                         figures=figures, inventory=_inventory(report, kinds, files),
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
                                     "reviewer guides, report, manifest")
    return BuildResult(study_id=study_id, out=target, exported=True,
                       gate_overridden=report.gate_override, counts=report.counts(),
                       datasets={k: len(v) for k, v in {**sdtm.datasets,
                                                        **adam.datasets}.items()},
                       steps=steps)


def build_study(study_id: str, raw_dir: Path, out_root: Path, *, allow_errors: bool = False,
                formats: str | Iterable[str] = ("xpt", "json"), transliterate: bool = False,
                baseline: Path | None = None, carry_raw: bool = False,
                progress: Callable[[str], None] | None = None) -> BuildResult:
    """Run every step for one study and write ``out_root/study_id`` (see module docstring):
    ``build_sdtm``, :func:`check_stage`, ``build_adam``, :func:`check_stage`, then
    :func:`export_package`.

    Raises :class:`~studybuild.errors.GateError` (exit 1) when the checks find errors and
    ``allow_errors`` is false; the refused build's validation report is then in
    ``out_root/<study_id>.refused/``.
    """
    from adam.build import build_adam
    from sdtm.build import build_sdtm
    from studybuild.export.layout import layout
    from studybuild.study import load_study

    say = progress or (lambda msg: None)
    fmts = parse_formats(formats)
    study = load_study(study_id)
    lay = layout(study_id)              # before any work: the id must name an eCTD folder
    raw_dir = Path(raw_dir)
    steps: list[StepTime] = []

    step = _stepper(study_id, steps, say)

    def records(r) -> str:
        return f"{len(r.datasets)} datasets, {sum(len(f) for f in r.datasets.values()):,} records"

    sdtm = step("sdtm", lambda: build_sdtm(study_id, raw_dir), records)
    sdtm_rep = step("check sdtm", lambda: check_stage(sdtm, study=study, baseline=baseline),
                    _counts_text)
    early = None
    if allow_errors or not sdtm_rep.counts()["error"]:
        # the SDTM gate is passed: the SDTM datasets' XPT and Dataset-JSON are written in a
        # background thread (numpy/Arrow kernels and file writes, which release the GIL)
        # while ADaM is derived and checked; export_package moves them into the package
        early = _EarlyDatasets(sdtm, Path(out_root), study_id, formats=fmts,
                               timestamp=_cutoff(study),
                               metadata_ref=posixpath.relpath(
                                   (lay.sdtm / "define.xml").as_posix(),
                                   lay.sdtm_json.as_posix()),
                               ascii="transliterate" if transliterate else "error",
                               studyid=study.studyid, kind="SDTM")
    try:
        adam = step("adam", lambda: build_adam(sdtm.datasets, study=study_id), records)
        adam_rep = step("check adam", lambda: check_stage(adam, study=study,
                                                          baseline=baseline), _counts_text)
        res = export_package(study_id, sdtm, adam, out_root, formats=fmts,
                             transliterate=transliterate, allow_errors=allow_errors,
                             baseline=baseline, reports=(sdtm_rep, adam_rep),
                             raw_dir=raw_dir if carry_raw else None, progress=progress,
                             _sdtm_early=early)
    finally:
        if early is not None:
            early.close()
    res.steps = steps + res.steps
    return res


class _EarlyDatasets:
    """One stage's datasets (XPT + Dataset-JSON, :func:`_write_datasets`) being written by a
    background thread into ``folder``, a fresh folder inside a temporary one beside the
    package (named like :func:`~studybuild.atomic.staged_dir`'s, so what a killed build
    leaves there is removed by the next). ``job`` gives the hrefs, ``findings`` the XPT
    problems; :meth:`close` waits for the thread and removes what was not moved away."""

    def __init__(self, stage_out, out_root: Path, study_id: str, **kw) -> None:
        import tempfile
        from concurrent.futures import ThreadPoolExecutor

        from studybuild.atomic import _owner

        out_root.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{study_id}.staging-{_owner()}-",
                                         dir=out_root))
        self.folder = self.tmp / "datasets"
        self.json_folder = self.tmp / "dataset-json"
        self.findings = Findings()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="export-early")
        self.job = self._pool.submit(_write_datasets, stage_out.datasets, stage_out.metadata,
                                     self.folder, findings=self.findings,
                                     json_folder=self.json_folder, **kw)

    def move_to(self, folder: Path, json_folder: Path) -> None:
        """Move the written XPT folder to ``folder`` and the Dataset-JSON (if any) to
        ``json_folder`` (call after ``job`` is done)."""
        for src, dst in ((self.folder, folder), (self.json_folder, json_folder)):
            if src.is_dir():
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, dst)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


def _write_traceability(folder: Path, sdtm, adam) -> list[str]:
    """The package's traceability/: SDTM lineage, accounting and exclusions, the RECIST 1.1
    recomputation, and each stage's own findings; a part that is not known (None) is left
    out, and the folder too when nothing is known. Returns the file names written."""
    import json

    from studybuild.atomic import write_bytes

    texts: dict[str, bytes] = {}
    for name, frame in (("lineage.csv", getattr(sdtm, "lineage", None)),
                        ("accounting.csv", getattr(sdtm, "accounting", None)),
                        ("exclusions.csv", getattr(sdtm, "exclusions", None))):
        if frame is not None:
            texts[name] = _csv_bytes(frame)
    rc = getattr(adam, "recist_check", None)
    if rc is not None:
        rc = rc.copy()
        for c in rc.columns:
            if pd.api.types.is_datetime64_any_dtype(rc[c]):
                rc[c] = rc[c].dt.strftime("%Y-%m-%d")
        texts["recist_check.csv"] = _csv_bytes(rc)
    for name, fs in (("sdtm_findings.json", getattr(sdtm, "findings", None)),
                     ("adam_findings.json", getattr(adam, "findings", None))):
        if fs is not None:
            texts[name] = (json.dumps({"counts": fs.counts(), "findings": fs.to_records()},
                                      indent=2, sort_keys=True, ensure_ascii=False)
                           + "\n").encode("utf-8")
    if texts:
        folder.mkdir(parents=True, exist_ok=True)
    for name, data in texts.items():
        write_bytes(folder / name, data)
    return sorted(texts)


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    """``frame.to_csv(index=False, lineterminator="\\n", float_format="%.10g")`` as UTF-8
    bytes, the same bytes, built a column at a time with Arrow (pandas' writer formats value
    by value: about 4 s for the 1-million-row lineage of 10,000 subjects, this about 0.3 s).

    Text columns are quoted as the csv module quotes (QUOTE_MINIMAL: a value holding a comma,
    a quote or a line feed is wrapped in quotes, its quotes doubled), integers written as
    integers, doubles with ``%.10g`` (formatted once per distinct value), missing values
    blank. A frame this does not cover (other column types, a carriage return in a value,
    no rows, one column) goes to pandas.

    >>> _csv_bytes(pd.DataFrame({"A": pd.Series(["x", 'say "hi", bye', None], dtype="str"),
    ...                          "N": [1.0, 2.5, float("nan")]}))
    b'A,N\\nx,1\\n"say ""hi"", bye",2.5\\n,\\n'
    """
    import csv
    import io

    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    def by_pandas() -> bytes:
        return frame.to_csv(index=False, lineterminator="\n",
                            float_format="%.10g").encode("utf-8")

    if len(frame) == 0 or frame.shape[1] < 2:
        return by_pandas()
    L = pa.large_string()
    cells = []
    for c in frame.columns:
        s = frame[c]
        if isinstance(s.dtype, pd.StringDtype):
            arr = pa.array(s, type=L, from_pandas=True)
            if pc.any(pc.match_substring(arr, "\r")).as_py():
                return by_pandas()          # the csv module's handling of CR varies
            odd = pc.fill_null(pc.match_substring_regex(arr, '[,"\n]'), False)
            if pc.any(odd).as_py():
                quoted = pc.binary_join_element_wise(
                    pa.scalar('"', type=L), pc.replace_substring(arr, '"', '""'),
                    pa.scalar('"', type=L), pa.scalar("", type=L))
                arr = pc.if_else(odd, quoted, arr)
        elif isinstance(s.dtype, np.dtype) and s.dtype.kind in "iu":
            arr = pc.cast(pa.array(s.to_numpy()), L)
        elif isinstance(s.dtype, np.dtype) and s.dtype == np.float64:
            f = np.ascontiguousarray(s.to_numpy())
            codes, uniq = pd.factorize(f.view(np.int64))      # by bits, as pandas formats
            text = pa.array(["%.10g" % v for v in uniq.view(np.float64)], type=L)
            arr = pa.DictionaryArray.from_arrays(pa.array(codes, mask=np.isnan(f)),
                                                 text).dictionary_decode()
        else:
            return by_pandas()
        cells.append(pc.fill_null(arr, pa.scalar("", type=L)))
    rows = pc.binary_join_element_wise(*cells, pa.scalar(",", type=L))
    rows = pc.binary_join_element_wise(rows, pa.scalar("\n", type=L), pa.scalar("", type=L))
    if isinstance(rows, pa.ChunkedArray):
        rows = rows.combine_chunks()
    head = io.StringIO()
    csv.writer(head, lineterminator="\n").writerow([str(c) for c in frame.columns])
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int64)[rows.offset:
                                                                rows.offset + len(rows) + 1]
    return b"".join([head.getvalue().encode("utf-8"),
                     memoryview(rows.buffers()[2])[offsets[0]:offsets[-1]]])


# --------------------------------------------------------------------------------------------
# reading the SDTM and ADaM folders back (studybuild export)
# --------------------------------------------------------------------------------------------

TRACE_DIR = "traceability"


def _need_folder(folder: Path, kind: str, made_by: str) -> Path:
    from studybuild.errors import InputError

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{kind} folder not found", path=folder,
                         hint=f"give the --out folder of `{made_by}`")
    return folder


def _read_folder(folder: Path, kind: str, made_by: str):
    from studybuild.datasets import read_folder
    from studybuild.errors import InputError

    loaded = read_folder(_need_folder(folder, kind, made_by))
    if loaded.kind == "empty":
        raise InputError(f"no {kind} datasets found", path=folder,
                         hint=f"give the --out folder of `{made_by}` (.xpt, .csv, .parquet "
                              "or Dataset-JSON .json files)")
    if loaded.kind != kind:
        other = [n for n in loaded.datasets if n.startswith("AD") == (kind == "SDTM")]
        found = "ADaM" if kind == "SDTM" else "SDTM"
        raise InputError(f"expected {kind} datasets, found {found} {', '.join(other[:5])}"
                         + (" ..." if len(other) > 5 else ""), path=folder,
                         hint=f"give the --out folder of `{made_by}`; SDTM and ADaM go in "
                              "separate folders (--sdtm, --adam)")
    return loaded


def _read_text_table(path: Path) -> pd.DataFrame:
    """A traceability CSV as text columns (blank = NA), so it is written back unchanged."""
    from studybuild.errors import InputError

    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read traceability table: {e}", path=path,
                         hint="write the folder again with `studybuild sdtm`/`adam`") from None


def _findings_from_records(records: Iterable[dict], path: Path) -> Findings:
    """Findings from their ``to_dict`` form (findings.json, or findings.csv rows)."""
    import ast

    from studybuild.errors import InputError
    from studybuild.findings import Finding, Severity

    def literal(v, empty):
        if isinstance(v, str):
            v = v.strip()
            if not v:
                return empty
            # findings.csv holds dicts and lists as Python literals; parse them as data
            v = ast.literal_eval(v)
        return empty if v is None else v

    def text(v) -> str:
        return "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)

    out = Findings()
    try:
        for r in records:
            row = r.get("row")
            out.append(Finding(
                rule_id=text(r["rule_id"]), severity=Severity(text(r["severity"]).lower()),
                message=text(r["message"]), dataset=text(r.get("dataset")),
                variable=text(r.get("variable")),
                row=None if text(row) == "" else int(float(row)),
                keys=tuple((str(k), text(v)) for k, v in dict(literal(r.get("keys"),
                                                                     {})).items()),
                value=None if r.get("value") is None else text(r.get("value")),
                core_ids=tuple(map(str, literal(r.get("core_ids"), []))),
                fda_ids=tuple(map(str, literal(r.get("fda_ids"), []))),
                p21_ids=tuple(map(str, literal(r.get("p21_ids"), []))),
                source=text(r.get("source")),
                accepted=None if text(r.get("accepted")) == "" else text(r.get("accepted"))))
    except (KeyError, ValueError, SyntaxError, TypeError, RecursionError) as e:
        raise InputError(f"cannot read findings: {type(e).__name__}: {e}", path=path,
                         hint="write the folder again with `studybuild sdtm`/`adam`") from None
    return out


def _read_findings(tdir: Path) -> Findings | None:
    import json

    from studybuild.errors import InputError

    path = tdir / "findings.json"
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InputError(f"findings are not valid JSON: {e}", path=path) from None
        if not isinstance(data, dict) or not isinstance(data.get("findings"), list):
            raise InputError("findings.json has no 'findings' list", path=path)
        return _findings_from_records(data["findings"], path)
    path = tdir / "findings.csv"
    if path.is_file():
        table = _read_text_table(path)
        return _findings_from_records(table.astype(object).where(table.notna(), None)
                                      .to_dict("records"), path)
    return None


def read_sdtm(study_id: str, folder: Path) -> StageOutput:
    """The SDTM folder ``studybuild sdtm --out`` writes (XPT; CSV, parquet or Dataset-JSON
    read as well), with the metadata ``build_sdtm`` gives the same datasets (from the study
    spec, :func:`sdtm.build.sdtm_metadata`) and, when ``folder/traceability/`` is there, the
    lineage, accounting, exclusions and mapping findings.

    >>> sdtm = read_sdtm("surufatinib-sts", Path("out/sdtm"))       # doctest: +SKIP
    >>> sdtm.traceability                                           # doctest: +SKIP
    ['lineage', 'accounting', 'exclusions', 'findings']
    """
    from sdtm.build import sdtm_metadata
    from sdtm.spec import load_spec

    spec = load_spec(study_id)
    loaded = _read_folder(folder, "SDTM", "studybuild sdtm")
    datasets = loaded.frames()
    tdir = Path(folder) / TRACE_DIR
    tables = {n: _read_text_table(tdir / f"{n}.csv") if (tdir / f"{n}.csv").is_file()
              else None for n in ("lineage", "accounting", "exclusions")}
    return StageOutput(kind="SDTM", datasets=datasets, metadata=sdtm_metadata(spec, datasets),
                       findings=_read_findings(tdir), source=Path(folder),
                       ignored=list(loaded.ignored), **tables)


def read_adam(study_id: str, folder: Path, *, sdtm: StageOutput) -> StageOutput:
    """The ADaM folder ``studybuild adam --out`` writes, with the metadata ``build_adam``
    gives the same datasets (:func:`adam.build.describe_adam`: labels from the files, the
    study's ADSL variables traced to their SDTM source) and, when ``folder/traceability/``
    is there, the RECIST 1.1 recomputation and the derivation findings. ``sdtm``: the SDTM
    the datasets were derived from (for the variables' sources)."""
    from adam.build import ORDER, describe_adam

    loaded = _read_folder(folder, "ADaM", "studybuild adam")
    names = [n for n in ORDER if n in loaded.datasets] + \
        [n for n in loaded.datasets if n not in ORDER]          # build_adam's order
    datasets = {n: loaded.datasets[n].frame for n in names}
    metadata = describe_adam(datasets, sdtm.datasets, study=study_id,
                             labels={n: loaded.datasets[n].labels for n in names})
    tdir = Path(folder) / TRACE_DIR
    rc = tdir / "recist_check.csv"
    return StageOutput(kind="ADaM", datasets=datasets, metadata=metadata,
                       findings=_read_findings(tdir),
                       recist_check=_read_text_table(rc) if rc.is_file() else None,
                       source=Path(folder), ignored=list(loaded.ignored))


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
    if res.exported:
        from studybuild.export.layout import layout

        lay = layout(res.study_id)
        guides = [g.relative_to(lay.study_dir).as_posix() for g in (lay.csdrg, lay.adrg)]
        console.print(f"  submission: {res.out / lay.study_dir}  ({', '.join(guides)})")


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


def _stage_line(stage: StageOutput) -> str:
    n = sum(len(f) for f in stage.datasets.values())
    return f"{len(stage.datasets)} datasets, {n:,} records from {stage.source}"


def export_cli(study: str, sdtm_dir: Path, adam_dir: Path, out: Path, *, formats: str,
               transliterate: bool, allow_errors: bool, baseline: Path | None = None) -> int:
    """`studybuild export`: the SDTM and ADaM folders of `studybuild sdtm` / `studybuild adam`
    checked and written as the package OUT/ID (as `studybuild build` writes it)."""
    console = _console()
    fmts = parse_formats(formats)
    _need_folder(sdtm_dir, "SDTM", "studybuild sdtm")      # both, before any work
    _need_folder(adam_dir, "ADaM", "studybuild adam")
    t0 = time.perf_counter()
    sdtm = read_sdtm(study, sdtm_dir)
    console.print(f"{study}: {'read sdtm':<13} {time.perf_counter() - t0:6.1f} s  "
                  f"{_stage_line(sdtm)}")
    t0 = time.perf_counter()
    adam = read_adam(study, adam_dir, sdtm=sdtm)
    console.print(f"{study}: {'read adam':<13} {time.perf_counter() - t0:6.1f} s  "
                  f"{_stage_line(adam)}")
    for stage, made_by, parts in ((sdtm, "studybuild sdtm", "lineage, accounting, exclusions "
                                   "or mapping findings"),
                                  (adam, "studybuild adam", "RECIST 1.1 recomputation and "
                                   "derivation findings")):
        for path, why in stage.ignored:
            console.print(f"  not read: {path.name} ({why})")
        if not stage.traceability:
            console.print(f"  no {stage.source / TRACE_DIR}: the package will have no {stage.kind} "
                          f"{parts} (`{made_by} --out` writes them)")
    res = export_package(study, sdtm, adam, out, formats=fmts, transliterate=transliterate,
                         allow_errors=allow_errors, baseline=baseline, progress=console.print)
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
