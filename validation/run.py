"""Run every conformance check on a set of datasets: ``validate``, ``validate_folder`` and the
``studybuild validate`` command.

Order of work, all of it collected as findings and judged only at the end:

1. dataset and variable names and labels (SB0014-SB0018);
2. the generated expectation suites, run by great-expectations (SB0001-SB0013);
3. the cross-dataset rules: studybuild's own (SB01xx-SB03xx) and the published CDISC CORE
   rules studybuild implements (SB-CORE-xxxxxx), run by :mod:`validation.engine`;
4. the findings baseline, which marks accepted findings with their reason.

>>> from validation.run import validate            # doctest: +SKIP
>>> report = validate({"DM": dm, "AE": ae})         # doctest: +SKIP
>>> report.counts()                                 # doctest: +SKIP
{'error': 0, 'warning': 3, 'notice': 0}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from studybuild import standards
from studybuild.datasets import detect_kind
from studybuild.errors import EXIT_FINDINGS, EXIT_OK, InputError, UsageError
from studybuild.findings import Finding, Findings, Severity
from studybuild.metadata import StudyMetadata

if TYPE_CHECKING:
    from studybuild.study import Study
    from validation.baseline import BaselineResult

NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,7}$")
DSNAME_RE = re.compile(r"^[A-Z][A-Z0-9]{0,7}$")


@dataclass
class DatasetSummary:
    name: str
    label: str
    kind: str                       # SDTM / ADaM / raw form
    records: int | None             # None: findings name it, but it is not in this run
    variables: int | None
    errors: int = 0
    warnings: int = 0
    notices: int = 0
    accepted: int = 0
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ValidationReport:
    """What ``validate`` found. ``findings`` holds every finding (accepted ones marked);
    ``counts()`` and ``has_errors`` ignore accepted findings."""

    findings: Findings
    datasets: dict[str, DatasetSummary]
    kind: str                                   # SDTM / ADaM / mixed / empty
    rules_run: tuple[str, ...]
    source: str = ""
    baseline: "BaselineResult | None" = None
    gate: dict[str, Any] | None = None          # set by validation.gate.enforce_gate
    suites: dict[str, dict] = field(default_factory=dict)
    metadata_source: str = "implementation guides"
    study: str = ""                             # study id, when the checks knew the study
    build_findings: tuple[str, ...] = ()        # files the build's own findings came from
    # dataset file -> text encoding it was read with, for the files not read as UTF-8
    encodings: dict[str, str] = field(default_factory=dict)
    # what the define.xml the metadata came from declares: ("1.0.0", "SDTMIG 3.1.2")
    define_declares: tuple[str, str] | None = None
    # split datasets: name -> the files combined into it, with their record counts
    splits: dict[str, tuple[tuple[str, int], ...]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return self.findings.counts()

    def dataset_summaries(self) -> list[DatasetSummary]:
        """One summary per dataset, its counts made from the findings at the time of asking
        (so a finding that names a dataset is counted there, whichever stage reported it),
        then one per other name findings are attributed to (a raw form such as ``ae.csv``,
        an SDTM domain named by an ADaM derivation finding), with records unknown. Datasets
        first, then the others, each by name."""
        out = {n: DatasetSummary(name=d.name, label=d.label, kind=d.kind, records=d.records,
                                 variables=d.variables, source=d.source)
               for n, d in self.datasets.items()}
        extra: dict[str, DatasetSummary] = {}
        for f in self.findings:
            if not f.dataset:
                continue
            s = out.get(f.dataset) or extra.get(f.dataset)
            if s is None:
                kind = "raw form" if "." in f.dataset else (
                    "ADaM" if f.dataset.startswith("AD") else "SDTM")
                s = extra[f.dataset] = DatasetSummary(name=f.dataset, label="", kind=kind,
                                                      records=None, variables=None)
            if f.accepted is not None:
                s.accepted += 1
            elif f.severity is Severity.ERROR:
                s.errors += 1
            elif f.severity is Severity.WARNING:
                s.warnings += 1
            else:
                s.notices += 1
        return [out[k] for k in sorted(out)] + [extra[k] for k in sorted(extra)]

    @property
    def has_errors(self) -> bool:
        return self.findings.has_errors

    @property
    def gate_override(self) -> bool:
        return bool(self.gate and self.gate.get("override"))

    def rule_counts(self) -> dict[str, dict[str, int]]:
        """Per rule: findings by severity (accepted counted apart)."""
        out: dict[str, dict[str, int]] = {r: {"error": 0, "warning": 0, "notice": 0,
                                              "accepted": 0} for r in self.rules_run}
        for f in self.findings:
            c = out.setdefault(f.rule_id, {"error": 0, "warning": 0, "notice": 0,
                                           "accepted": 0})
            if f.accepted is not None:
                c["accepted"] += 1
            else:
                c[f.severity.value] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        from studybuild import __version__
        from validation.rules import registry

        reg = registry()
        rc = self.rule_counts()
        rules = []
        for rid in sorted(rc):
            info = reg.get(rid)
            c = rc[rid]
            status = "failed" if c["error"] else ("warned" if c["warning"] else
                                                  ("noted" if c["notice"] else "passed"))
            rules.append({"id": rid, "severity": info.severity if info else "",
                          "message": info.message if info else "", "kind":
                          info.kind if info else "",
                          "citation": info.citation if info else "",
                          "core_ids": list(info.core_ids) if info else [],
                          "fda_ids": list(info.fda_ids) if info else [],
                          "p21_ids": list(info.p21_ids) if info else [],
                          "status": status, "findings": c})
        return {
            "studybuild_version": __version__,
            "standards": {"SDTMIG": standards.SDTMIG_VERSION, "ADaMIG": standards.ADAMIG_VERSION,
                          "CT": standards.SDTM_CT_VERSION},
            "source": self.source,
            "kind": self.kind,
            "study": self.study,
            "metadata_source": self.metadata_source,
            "build_findings": list(self.build_findings),
            "encodings": dict(sorted(self.encodings.items())),
            "splits": {k: [{"file": f, "records": n} for f, n in v]
                       for k, v in sorted(self.splits.items())},
            "define": None if self.define_declares is None else {
                "version": self.define_declares[0], "standard": self.define_declares[1]},
            "summary": {**self.counts(),
                        "accepted": sum(1 for f in self.findings if f.accepted is not None),
                        "datasets": len(self.datasets), "rules_run": len(self.rules_run)},
            "gate": self.gate,
            "baseline": None if self.baseline is None else {
                "path": self.baseline.path, "entries": self.baseline.entries,
                "accepted_findings": self.baseline.accepted,
                "unused_entries": list(self.baseline.unused)},
            "datasets": [d.to_dict() for d in self.dataset_summaries()],
            "rules": rules,
            "findings": self.findings.to_records(),
        }


# --------------------------------------------------------------------------------------------
# validate
# --------------------------------------------------------------------------------------------

def _labels(name: str, frame: pd.DataFrame, metas: Mapping[str, Any]) -> tuple[dict, str | None]:
    labels = dict(frame.attrs.get("labels") or {})
    label = frame.attrs.get("label")
    dm = metas.get(name)
    if dm is not None:
        for v in dm.variables:
            labels.setdefault(v.name, v.label)
        label = label or dm.label
    return labels, label


def _keys_fn(name: str, frame: pd.DataFrame, meta_keys: Iterable[str]):
    cols = list(frame.columns)
    seq = "ASEQ" if name.startswith("AD") else f"{name[:2]}SEQ"
    keys = [c for c in ("USUBJID", seq) if c in cols]
    if not keys or (len(keys) == 1 and "USUBJID" not in cols):
        keys = [k for k in meta_keys if k in cols and k != "STUDYID"]
    from validation.iso8601 import as_text

    texts = {k: as_text(frame[k].reset_index(drop=True)) for k in keys}

    def keys_of(idx: np.ndarray) -> list[tuple[tuple[str, str], ...]]:
        vals = {k: t.iloc[idx].tolist() for k, t in texts.items()}
        return [tuple((k, "" if pd.isna(vals[k][i]) else str(vals[k][i])) for k in keys)
                for i in range(len(idx))]
    return keys_of


def validate(frames: Mapping[str, pd.DataFrame], *, metadata: StudyMetadata | None = None,
             study: "Study | None" = None, baseline: Path | None = None,
             sources: Mapping[str, Path] | None = None, rules: Iterable[str] | None = None,
             run_suites: bool = True, _extra: Iterable[Finding] = (),
             _sizes: Mapping[str, int] | None = None) -> ValidationReport:
    """Check datasets (name -> frame, DEVELOPERS.md conventions) and return a report.

    ``metadata`` is the SDTM spec's or the ADaM builder's :class:`StudyMetadata`; datasets it
    does not describe get the IG's metadata (``from_standard``). ``study`` enables the rules
    against ``study.yaml`` (SB03xx). ``baseline`` is a findings-baseline file. ``sources``
    maps dataset names to the files they came from (recorded in findings). ``rules`` limits
    the run to those rule ids (all by default)."""
    from validation import suites as suitemod
    from validation.engine import NotApplicable, StudyData
    from validation.rules import compiled, registry

    frames = {str(k).upper(): v for k, v in frames.items()}
    sources = {str(k).upper(): Path(v) for k, v in (sources or {}).items()}
    reg = registry()
    wanted = set(reg) if rules is None else {r for r in rules}
    unknown = wanted - set(reg)
    if unknown:
        raise UsageError(f"unknown rule ids: {', '.join(sorted(unknown))}")
    base_file = None
    if baseline is not None:          # read it first: a bad baseline fails before any work
        from validation import baseline as bl

        base_file = bl.load(Path(baseline))
    findings = Findings()
    findings.extend(_extra)
    kind = detect_kind(frames)
    metas = dict(metadata.datasets) if metadata is not None else {}
    metas = {k.upper(): v for k, v in metas.items()}

    def add(rid: str, message: str, *, severity: str | None = None, **kw: Any) -> None:
        info = reg[rid]
        ds = kw.get("dataset", "")
        src = str(sources[ds]) if ds in sources else ""
        findings.add(rid, severity or info.severity, message, core_ids=info.core_ids,
                     fda_ids=info.fda_ids, p21_ids=info.p21_ids, source=src, **kw)

    # 1. names and labels ----------------------------------------------------------------
    all_labels: dict[str, dict[str, str]] = {}
    ds_labels: dict[str, str] = {}
    for name, frame in frames.items():
        labels, label = _labels(name, frame, metas)
        all_labels[name] = labels
        ds_labels[name] = label or ""
        if "SB0016" in wanted and not DSNAME_RE.match(name):
            add("SB0016", f"dataset name {name!r} is not 1-8 characters A-Z/0-9",
                dataset=name, value=name)
        if "SB0017" in wanted and label and (len(label) > 40 or not label.isascii()):
            add("SB0017", f"dataset label is {len(label)} characters"
                + ("" if label.isascii() else " with non-ASCII text"), dataset=name,
                value=label)
        if "SB0018" in wanted and name not in standards.sdtmig() and not name.startswith("AD"):
            add("SB0018", f"{name} is not an SDTMIG {standards.SDTMIG_VERSION} domain; only "
                "generic rules apply", dataset=name)
        for c in frame.columns:
            c = str(c)
            if "SB0014" in wanted and not NAME_RE.match(c):
                add("SB0014", f"variable name {c!r} is not 1-8 characters A-Z, 0-9, _ "
                    "starting with a letter", dataset=name, variable=c, value=c)
            lab = labels.get(c)
            if "SB0015" in wanted and lab and (len(lab) > 40 or not lab.isascii()):
                add("SB0015", f"label of {c} is {len(lab)} characters"
                    + ("" if lab.isascii() else " with non-ASCII text"), dataset=name,
                    variable=c, value=lab)

    # 2. expectation suites ----------------------------------------------------------------
    suite_rules = {r.id for r in reg.values() if r.kind == "suite"} & wanted
    suites: dict[str, dict] = {}
    if run_suites and suite_rules:
        ctxs = suitemod.contexts(frames, [metadata] if metadata is not None else [])
        suites = {n: suitemod.build_suite(c) for n, c in sorted(ctxs.items())}
        from validation.gx_run import run_study

        selected = {n: dict(sb, expectations=[e for e in sb["expectations"]
                                              if e["meta"]["rule"] in suite_rules or
                                              e["meta"].get("also") in suite_rules])
                    for n, sb in suites.items()}
        key_fns = {n: _keys_fn(n, frames[n], ctxs[n].meta.keys) for n in frames}

        def emit(meta: Mapping, *, dataset: str, row, value, keys, variable: str = "",
                 message: str = "", note: str = "", severity: str | None = None) -> None:
            if meta["rule"] not in suite_rules:
                return
            msg = (message or meta["message"]) + (f" ({note})" if note else "")
            add(meta["rule"], msg, severity=severity or meta["severity"], dataset=dataset,
                variable=variable or meta.get("variable", ""), row=row, keys=keys,
                value=value)

        try:
            run_study(selected, frames, emit, lambda n, rows: key_fns[n](rows))
        except Exception as e:  # noqa: BLE001 - foreign data must never crash a run
            add("SB0900", f"expectation suites could not run: {type(e).__name__}: {e}")

    # 3. cross-dataset rules ---------------------------------------------------------------
    data = StudyData(frames, labels=all_labels, dataset_labels=ds_labels,
                     sizes=dict(_sizes or {}),
                     locations={k: v.name for k, v in sources.items()}, study=study)
    run_ids = [r for r in sorted(suite_rules)] if run_suites else []
    run_ids += sorted(r for r, i in reg.items() if i.kind == "metadata" and r in wanted)
    for rid, rule in compiled().items():
        if rid not in wanted:
            continue
        info = reg[rid]
        if info.standard != "any" and not any(data.kind(n) == info.standard for n in frames):
            continue
        run_ids.append(rid)
        try:
            hits = rule.run(data)
        except NotApplicable:
            continue
        except Exception as e:  # noqa: BLE001
            add("SB0900", f"rule {rid} could not be evaluated: {type(e).__name__}: {e}")
            continue
        for h in hits:
            add(rid, info.message, dataset=h.dataset, variable=h.variable,
                row=None if h.row is None else h.row + 1, keys=h.keys, value=h.value)

    # 4. baseline ----------------------------------------------------------------------------
    base_result = None
    if base_file is not None:
        findings, base_result = bl.apply(findings, base_file, Path(baseline))
        for i, e in bl.unused_entries(base_file, base_result):
            findings.add("SB0902", "notice", f"baseline entry {i} (rule {e.rule}) matched no "
                         "finding; remove it if the problem is fixed", dataset=e.dataset or "",
                         variable=e.variable or "", source=str(baseline))
        run_ids.append("SB0902")

    # 5. summaries ----------------------------------------------------------------------------
    summaries: dict[str, DatasetSummary] = {}
    for name, frame in sorted(frames.items()):
        summaries[name] = DatasetSummary(
            name=name, label=ds_labels.get(name, ""), kind=data.kind(name),
            records=int(len(frame)), variables=int(frame.shape[1]),
            source=str(sources.get(name, "")))
    ran = set(run_ids) | {f.rule_id for f in findings}
    report = ValidationReport(findings=findings, datasets=summaries, kind=kind,
                              rules_run=tuple(sorted(ran)),
                              source=str(next(iter(sources.values())).parent) if sources
                              else "", baseline=base_result, suites=suites,
                              metadata_source="study metadata" if metadata is not None
                              else "implementation guides",
                              study=study.id if study is not None else "")
    for d in report.dataset_summaries():            # the stored counts, as reported
        if d.name in report.datasets:
            report.datasets[d.name] = d
    return report


# --------------------------------------------------------------------------------------------
# folders and the command line
# --------------------------------------------------------------------------------------------

def _read_define(define_xml: Path) -> StudyMetadata:
    try:
        from studybuild.define import read_define  # noqa: PLC0415 (another issue's module)
    except ImportError:
        raise UsageError("--define is not implemented yet: studybuild.define.read_define "
                         "(the define.xml reader) has not landed") from None
    return read_define(Path(define_xml))


# what the build writes beside its datasets: each stage's own findings (mapping, derivation)
BUILD_FINDINGS = {"SDTM": "sdtm_findings.json", "ADaM": "adam_findings.json"}
STAGE_FINDINGS = ("findings.json", "findings.csv")     # `studybuild sdtm` / `adam --out`
PACKAGE_MARK = "manifest.json"            # the root of a package `studybuild build` wrote
MAX_PACKAGE_DEPTH = 6                     # OUT/ID/m5/datasets/ID/analysis/adam/datasets


def build_findings_files(path: Path, kind: str) -> list[Path]:
    """The files holding the build's own findings for the datasets in ``path``: the stage
    folder's ``traceability/findings.json`` or ``findings.csv`` (as ``studybuild sdtm`` /
    ``adam --out`` write them), else, inside a package (the nearest folder above with ``manifest.json``), its
    ``traceability/sdtm_findings.json`` and/or ``adam_findings.json`` by ``kind``.

    >>> build_findings_files(Path("out/surufatinib-sts/tabulations/sdtm"), "SDTM")  # doctest: +SKIP
    [PosixPath('out/surufatinib-sts/traceability/sdtm_findings.json')]
    """
    path = Path(path)
    for name in STAGE_FINDINGS:
        if (path / "traceability" / name).is_file():
            return [path / "traceability" / name]
    names = [BUILD_FINDINGS[k] for k in ("SDTM", "ADaM") if kind in (k, "mixed")]
    root = package_root(path)
    if root is None:
        return []
    return [root / "traceability" / n for n in names if (root / "traceability" / n).is_file()]


def package_root(path: Path) -> Path | None:
    """The package folder ``path`` is inside: the nearest folder above it (at most
    MAX_PACKAGE_DEPTH levels) holding ``manifest.json``."""
    for up in list(Path(path).parents)[:MAX_PACKAGE_DEPTH]:
        if (up / PACKAGE_MARK).is_file():
            return up
    return None


def changed_since_build(root: Path, files: Iterable[Path]) -> list[str]:
    """The dataset files whose SHA-256 is not the one the package's manifest.json records
    (changed, or added, since the build), by name; every file when the manifest cannot be
    read."""
    import hashlib
    import json

    try:
        manifest = json.loads((root / PACKAGE_MARK).read_text(encoding="utf-8"))
        known = {str(e["path"]): str(e["sha256"]) for e in manifest["files"]}
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        known = {}
    out = []
    for f in files:
        try:
            rel = Path(f).resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            rel = ""
        h = hashlib.sha256()
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        if known.get(rel) != h.hexdigest():
            out.append(Path(f).name)
    return sorted(out)


def _csv_records(path: Path) -> list[dict]:
    """findings.csv rows (``studybuild adam --out``) as ``Finding.to_dict`` records: blank is
    None, keys and id lists are Python literals (read with ``ast.literal_eval``, data only)."""
    import ast
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(Path(path).read_text(encoding="utf-8"))))
    out = []
    for r in rows:
        rec: dict[str, Any] = {k: (None if v == "" else v) for k, v in r.items()}
        for k in ("keys", "core_ids", "fda_ids", "p21_ids"):
            if rec.get(k) is not None:
                rec[k] = ast.literal_eval(rec[k])
        if rec.get("row") is not None:
            rec["row"] = int(float(rec["row"]))
        out.append(rec)
    return out


def read_build_findings(path: Path) -> Findings:
    """Findings as the build wrote them: JSON ``{"findings": [Finding.to_dict(), ...]}``,
    or the CSV of ``studybuild adam --out``; a file that is not that is an InputError naming
    it."""
    import json

    from studybuild.findings import Finding

    path = Path(path)
    try:
        if path.suffix.lower() == ".csv":
            data = {"findings": _csv_records(path)}
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError, SyntaxError,
            MemoryError, RecursionError) as e:
        raise InputError(f"cannot read the build's findings: {type(e).__name__}: {e}",
                         path=path) from None
    if not isinstance(data, dict) or not isinstance(data.get("findings"), list):
        raise InputError("the build's findings file has no 'findings' list", path=path)
    out = Findings()
    for i, r in enumerate(data["findings"]):
        try:
            row = r.get("row")
            out.append(Finding(
                rule_id=str(r["rule_id"]), severity=Severity(str(r["severity"]).lower()),
                message=str(r.get("message") or ""), dataset=str(r.get("dataset") or ""),
                variable=str(r.get("variable") or ""),
                row=None if row is None else int(row),
                keys=tuple((str(k), "" if v is None else str(v))
                           for k, v in dict(r.get("keys") or {}).items()),
                value=None if r.get("value") is None else str(r["value"]),
                core_ids=tuple(map(str, r.get("core_ids") or ())),
                fda_ids=tuple(map(str, r.get("fda_ids") or ())),
                p21_ids=tuple(map(str, r.get("p21_ids") or ())),
                source=str(r.get("source") or ""),
                accepted=None if r.get("accepted") is None else str(r["accepted"])))
        except (AttributeError, KeyError, TypeError, ValueError) as e:
            raise InputError(f"finding {i + 1} cannot be read ({type(e).__name__}: {e})",
                             path=path) from None
    return out


def _define_in(folder: Path) -> Path | None:
    """The folder's own define.xml (any letter case), if there is one."""
    if not folder.is_dir():
        return None
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower() == "define.xml")
    return found[0] if found else None


def _define_referenced(datasets: Iterable[Any], within: Path) -> Path | None:
    """The define.xml the Dataset-JSON files name (``metaDataRef``, relative to the file),
    when it exists inside ``within`` (the package, or the folder itself): a package can keep
    its Dataset-JSON apart from the XPT folder the define.xml sits in."""
    root = within.resolve()
    for ds in sorted(datasets, key=lambda d: d.name):
        ref = getattr(ds, "metadata_ref", "")
        if not ref or "://" in ref:
            continue
        target = (ds.path.parent / ref).resolve()
        if target.is_file() and target.is_relative_to(root):
            return target
    return None


_XML_DECL = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")


def declared_encoding(define_xml: Path | None) -> str | None:
    """The text encoding a define.xml's XML declaration names (Python's codec name), or None.
    SAS writes define.xml and the XPT files in the session's encoding, so the declaration is
    the best word on how the XPT text is encoded; ISO-8859-1 is read as Windows-1252, its
    superset (as web browsers do), since SAS on Windows names its "wlatin1" session so.

    >>> declared_encoding(Path("tests/data/cdiscpilot01/define_adam.xml"))
    'cp1252'
    """
    from studybuild.export.xpt import codec_name

    if define_xml is None:
        return None
    try:
        with open(define_xml, "rb") as f:
            head = f.read(512)
    except OSError:
        return None
    m = _XML_DECL.match(head)
    if m is None:
        return None
    try:
        codec = codec_name(m.group(1).decode("ascii"))
    except LookupError:
        return None
    return "cp1252" if codec == "latin_1" else codec


def _per_file(findings: Findings, parts: Mapping[str, tuple[tuple[Path, int], ...]]
              ) -> Findings:
    """Findings on a split dataset's combined records told per file: the row becomes the
    record's number in its own file and the source that file."""
    import dataclasses

    ends = {k: np.cumsum([n for _, n in v]) for k, v in parts.items()}
    out = Findings()
    for f in findings:
        if f.dataset in parts and f.row is not None:
            i = min(int(np.searchsorted(ends[f.dataset], f.row, side="left")),
                    len(parts[f.dataset]) - 1)
            file, n = parts[f.dataset][i]
            f = dataclasses.replace(f, row=f.row - int(ends[f.dataset][i]) + n,
                                    source=str(file))
        out.append(f)
    return out


def _split_metadata(metadata: StudyMetadata | None, folder) -> StudyMetadata | None:
    """A define.xml that declares a split dataset's parts (ItemGroupDef QSCO, QSGI) describes
    the combined dataset (QS) by its first part's metadata, when it has none for QS."""
    import dataclasses

    if metadata is None:
        return None
    extra = {}
    for name, ds in folder.datasets.items():
        if ds.parts and name not in metadata.datasets:
            for file, _ in ds.parts:
                meta = metadata.datasets.get(file.stem.upper())
                if meta is not None:
                    extra[name] = dataclasses.replace(meta, name=name)
                    break
    return dataclasses.replace(metadata, datasets={**metadata.datasets, **extra}) \
        if extra else metadata


def validate_folder(path: Path, *, define_xml: Path | None = None,
                    baseline: Path | None = None, study: "Study | None" = None,
                    metadata_for: "Callable[[dict[str, pd.DataFrame]], StudyMetadata] | None"
                    = None, build_findings: bool = True,
                    encoding: str | None = None) -> ValidationReport:
    """Validate every dataset file in a folder (XPT v5/v8, CSV, parquet, Dataset-JSON); the
    kind (SDTM, ADaM, both) follows from the dataset names.

    Metadata (types, cores, codelists, keys, value-level) comes from, in this order:
    ``define_xml``; ``metadata_for(frames)`` (the CLI's ``--study``: the study spec's
    metadata, as the build has it); the folder's own ``define.xml``; else the implementation
    guides. ``study`` enables the rules against study.yaml (SB03xx). With
    ``build_findings``, the findings the build recorded for these datasets (mapping and
    derivation findings a folder of datasets cannot show, :func:`build_findings_files`) are
    reported too, so a package validates to what its build reported. Files that belong
    beside datasets (define.xml, stylesheet, define.html, PDFs, the same dataset in another
    format) are skipped silently; any other file is an SB0901 notice.

    XPT text is read as ``encoding`` says (``--encoding``), else as the define.xml's XML
    declaration says (:func:`declared_encoding`), else as UTF-8, else Windows-1252, else
    Latin-1 (:func:`studybuild.export.xpt.read_xpt`); a file is never refused over its text
    encoding. The files not read as UTF-8 are listed in ``report.encodings``; each non-ASCII
    value is an SB0013 finding."""
    from studybuild.datasets import read_folder
    from studybuild.export.xpt import codec_name, encoding_label

    path = Path(path)
    if encoding is not None:
        try:
            codec_name(encoding)
        except LookupError:
            raise UsageError(f"unknown text encoding {encoding!r} (try UTF-8, "
                             "Windows-1252 or ISO-8859-1)") from None
    else:
        encoding = declared_encoding(define_xml if define_xml is not None else
                                     _define_in(path))
    folder = read_folder(path, encoding=encoding)
    if not folder.datasets:
        raise InputError("no dataset files found (looked for .xpt, .csv, .parquet, .json, "
                         ".ndjson)", path=path)
    frames, sources, sizes = {}, {}, {}
    for name, ds in folder.datasets.items():
        frame = ds.frame
        if ds.labels:
            frame.attrs["labels"] = dict(ds.labels)
        if ds.label:
            frame.attrs["label"] = ds.label
        frames[name] = frame
        sources[name] = ds.path
        try:
            sizes[name] = ds.path.stat().st_size
        except OSError:
            sizes[name] = 0
    found = None
    if path.is_dir():
        found = _define_in(path) or _define_referenced(folder.datasets.values(),
                                                       package_root(path) or path)
    if define_xml is not None:
        metadata, meta_from = _read_define(define_xml), f"define.xml {define_xml}"
    elif metadata_for is not None:
        metadata = metadata_for(frames)
        meta_from = f"study spec {study.id}" if study is not None else "study spec"
    elif found is not None:
        metadata = _read_define(found)
        meta_from = (f"the folder's {found.name}" if found.parent == path.resolve() or
                     found.parent == path else f"{found} (the Dataset-JSON metaDataRef)")
    else:
        metadata, meta_from = None, "implementation guides"
    metadata = _split_metadata(metadata, folder)
    extra = Findings()
    used: list[str] = []
    if build_findings and path.is_dir():
        for f in build_findings_files(path, folder.kind):
            try:
                extra.extend(read_build_findings(f))
            except InputError as e:
                extra.add("SB0901", "notice", f"{f.name} was not read: {e}; the build's "
                          "findings are not included", source=str(f))
                continue
            used.append(str(f))
        root = package_root(path) if used else None
        changed = changed_since_build(root, sources.values()) if root is not None else []
        if changed:
            extra.add("SB0903", "notice", f"{', '.join(changed)} changed since the build "
                      f"(SHA-256 not the one in {root / PACKAGE_MARK}): the build's findings "
                      "describe the datasets as built and may not apply to them",
                      source=str(root / PACKAGE_MARK))
    for p, why in folder.ignored:
        extra.add("SB0901", "notice", f"{p.name} was not read: {why}", source=str(p))
    report = validate(frames, metadata=metadata, baseline=baseline, sources=sources,
                      study=study, _extra=extra, _sizes=sizes)
    parts = {n: ds.parts for n, ds in folder.datasets.items() if ds.parts}
    if parts:
        report.findings = _per_file(report.findings, parts)
        report.splits = {n: tuple((f.name, k) for f, k in v) for n, v in parts.items()}
    report.source = str(path)
    report.metadata_source = meta_from
    report.build_findings = tuple(used)
    if metadata is not None and metadata.define_version:
        report.define_declares = (metadata.define_version, metadata.standard)
    report.encodings = {ds.path.name: encoding_label(ds.encoding)
                        for ds in folder.datasets.values()
                        if ds.encoding not in ("utf_8", "ascii")}
    return report


def validate_cli(path: Path, *, report_dir: Path | None, baseline: Path | None,
                 define_xml: Path | None, study: "Study | None" = None,
                 metadata_for: "Callable[[dict[str, pd.DataFrame]], StudyMetadata] | None"
                 = None, encoding: str | None = None) -> int:
    """``studybuild validate PATH``: console summary, reports if asked, exit 1 on errors.
    ``study``/``metadata_for``: what ``--study ID`` gives (the study and its spec's
    metadata for the datasets read)."""
    from validation.report import console_summary, write_reports

    report = validate_folder(path, define_xml=define_xml, baseline=baseline, study=study,
                             metadata_for=metadata_for, encoding=encoding)
    console_summary(report)
    if report_dir is not None:
        paths = write_reports(report, Path(report_dir))
        n_suites = sum(1 for p in paths if p.parent.name == "suites")
        print(f"wrote {Path(report_dir)}: report.json, report.html, junit.xml and "
              f"{n_suites} expectation suites (suites/)")
    return EXIT_FINDINGS if report.has_errors else EXIT_OK
