"""Every conformance rule studybuild runs, as one registry, and ``studybuild rules``.

Four kinds of rule, each a declarative record with an own id, severity, message, citation and
the CDISC CORE / FDA / Pinnacle 21 ids it covers:

- ``suite``: expectation-suite rules (SB0001-SB0013), generated per dataset from the
  standards and run by great-expectations (:mod:`validation.suites`);
- ``metadata``: variable and dataset names and labels (SB0014-SB0017);
- ``studybuild``: cross-dataset rules in ``validation/rules/studybuild.yaml`` (SB01xx SDTM,
  SB02xx ADaM, SB03xx against study.yaml), run by :mod:`validation.engine`;
- ``core``: published CDISC CORE rules (own id ``SB-`` + CORE id), run by the same engine,
  with the severity chosen in ``specs/standards/core-rules/selection.csv``;
- ``build``: what the build itself reports while reading raw forms, mapping SDTM, deriving
  ADaM and writing XPT (SB-RAW-*, SB-MAP-*, SB-SDTM-*, SB-TR-*, ADAM-*, SB-EXPORT-*), in
  ``validation/rules/build.yaml``; not run by ``validate``, which reports them from a
  package's traceability/ (so every finding in a report has its catalogue entry).

>>> r = registry()["SB0001"]
>>> r.severity, r.core_ids
('error', ('CORE-000355',))
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from studybuild.errors import SpecError


@dataclass(frozen=True)
class RuleInfo:
    id: str
    severity: str
    message: str
    kind: str                          # suite | metadata | studybuild | core | engine | build
    standard: str = "any"              # SDTM | ADaM | any (build rules: raw, export too)
    description: str = ""
    citation: str = ""
    core_ids: tuple[str, ...] = ()
    fda_ids: tuple[str, ...] = ()
    p21_ids: tuple[str, ...] = ()
    record: dict = field(default_factory=dict, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("record")
        for k in ("core_ids", "fda_ids", "p21_ids"):
            d[k] = list(d[k])
        return d


def _r(id: str, severity: str, message: str, kind: str, description: str, citation: str,
       core: tuple[str, ...] = (), fda: tuple[str, ...] = (), p21: tuple[str, ...] = ()
       ) -> RuleInfo:
    return RuleInfo(id=id, severity=severity, message=message, kind=kind,
                    description=description, citation=citation, core_ids=core,
                    fda_ids=fda, p21_ids=p21)


SUITE_RULES = (
    _r("SB0001", "error", "Required variable is missing", "suite",
       "Every variable the IG (or the study spec) marks Req is present in the dataset.",
       "SDTMIG 3.4 section 4.1.5; ADaMIG 1.3 section 3", ("CORE-000355",), ("SD0056",),
       ("SD0056",)),
    _r("SB0002", "error", "Required variable is null", "suite",
       "Req variables have a value in every record (in ADaM, ARM and TRTxxP may be null where "
       "ARMNRS says why the subject has no arm, as DM.ARM may in SDTMIG 3.4; TSVAL, and any "
       "variable with a null-flavor companion, may be null where TSVALNF holds the null "
       "flavor, e.g. PINF for AGEMAX).",
       "SDTMIG 3.4 section 4.1.5", ("CORE-000356",), ("SD0002",), ("SD0002",)),
    _r("SB0003", "warning", "Expected variable is missing", "suite",
       "Every variable the IG marks Exp is present (it may be null when not collected).",
       "SDTMIG 3.4 section 4.1.5", ("CORE-000334",), ("SD0057",), ("SD0057",)),
    _r("SB0004", "error", "Variable has the wrong type", "suite",
       "Num variables hold numbers (ADaM dates: dates), Char variables hold text.",
       "SDTMIG 3.4 section 2.4 (variable types); define.xml DataType", (), ("SD0055",),
       ("SD0055",)),
    _r("SB0005", "error", "Value is not in the non-extensible codelist", "suite",
       "Values of variables with a non-extensible CDISC codelist (looked up by C-code in CT "
       "2025-03-28) are submission values of that codelist.",
       "SDTMIG 3.4 section 4.3; CDISC CT 2025-03-28", (), ("CT2001", "CT2004"),
       ("CT2001", "CT2004")),
    _r("SB0006", "warning", "Value is not in the extensible codelist", "suite",
       "Values of variables with an extensible codelist are its submission values or a "
       "sponsor extension listed in the study's codelists.",
       "SDTMIG 3.4 section 4.3; CDISC CT 2025-03-28", (), ("CT2002", "CT2005"),
       ("CT2002", "CT2005")),
    _r("SB0007", "error", "COUNTRY is not an ISO 3166-1 alpha-3 code", "suite",
       "DM.COUNTRY holds ISO 3166-1 alpha-3 codes.", "SDTMIG 3.4 section 5.2 (COUNTRY)",
       (), ("FDAB017", "SD1322"), ("SD1322",)),
    _r("SB0008", "error", "Date/time is not ISO 8601", "suite",
       "--DTC, --STDTC, --ENDTC and other date/time variables are ISO 8601 (partial dates, "
       "unknown components written '-', intervals allowed).",
       "SDTMIG 3.4 section 4.4", (), ("FDAB038", "SD0003", "SD1011"), ("SD0003", "SD1011")),
    _r("SB0009", "error", "Duration is not ISO 8601", "suite",
       "--DUR and other character duration variables are ISO 8601 durations (PnYnMnDTnHnMnS, "
       "PnW); a variable the IG does not know whose values are numbers (ADaM TRTDUR in "
       "days) is numeric, not held to ISO 8601.",
       "SDTMIG 3.4 section 4.4.4", (), ("SD0003",), ("SD0003",)),
    _r("SB0010", "error", "Records are not unique on the natural keys", "suite",
       "No two records share the values of the dataset's natural keys (from the study spec, "
       "else the IG; a warning when only the IG's keys are known).",
       "SDTMIG 3.4 section 3.2.1.1 (natural keys); define.xml KeySequence", (),
       ("FDAB021", "SD1117", "SD1201"), ("SD1117", "SD1201")),
    _r("SB0011", "error", "--SEQ is not unique within USUBJID", "suite",
       "The sequence number identifies a record within a subject.",
       "SDTMIG 3.4 section 4.1.9", (), ("SD0005",), ("SD0005",)),
    _r("SB0012", "error", "Character value longer than 200 bytes", "suite",
       "SAS transport v5 stores at most 200 bytes per character value (UTF-8 bytes counted).",
       "FDA Study Data Technical Conformance Guide section 3.3.2; SAS XPORT v5", (),
       (), ()),
    _r("SB0013", "error", "Character value is not ASCII", "suite",
       "SAS transport v5 data must be ASCII.",
       "FDA Study Data Technical Conformance Guide section 3.3.2", (), ("FDAB041", "SD1029"),
       ("SD1029",)),
    _r("SB0014", "error", "Variable name is not 1-8 characters A-Z, 0-9, _ starting with a "
       "letter", "metadata", "Variable names fit SAS transport v5.",
       "SDTMIG 3.4 section 2.5; SAS XPORT v5", ("CORE-000182",), (), ()),
    _r("SB0015", "error", "Variable label is longer than 40 characters or not ASCII",
       "metadata", "Variable labels fit SAS transport v5.",
       "SDTMIG 3.4 section 2.5; SAS XPORT v5", ("CORE-000019",), (), ()),
    _r("SB0016", "error", "Dataset name is not 1-8 characters A-Z, 0-9 starting with a letter",
       "metadata", "Dataset names fit SAS transport v5.", "SAS XPORT v5",
       (), (), ()),
    _r("SB0017", "error", "Dataset label is longer than 40 characters or not ASCII",
       "metadata", "Dataset labels fit SAS transport v5.", "SAS XPORT v5", (), (), ()),
    _r("SB0018", "notice", "Dataset is not in the SDTMIG 3.4 or ADaMIG 1.3", "metadata",
       "A custom or unknown dataset is checked with the generic rules only.",
       "SDTMIG 3.4 section 2.6", (), (), ()),
    _r("SB0900", "notice", "Rule could not be evaluated on this dataset", "engine",
       "The rule raised an error on unexpected data; the dataset was not checked by it.",
       "", (), (), ()),
    _r("SB0901", "notice", "File in the folder was not read", "engine",
       "A file that is not a dataset (define.xml, its stylesheet, HTML and PDF files and an "
       "XPT's Dataset-JSON twin belong beside datasets and are skipped silently), a second "
       "file giving a dataset already read, or a package's findings file that cannot be read.",
       "", (), (), ()),
    _r("SB0902", "notice", "Findings-baseline entry matched no finding", "engine",
       "An accepted-finding explanation that no longer applies (the problem was fixed or the "
       "entry is mistyped).", "", (), (), ()),
    _r("SB0903", "notice", "Datasets changed since the build whose findings are reported",
       "engine", "validate reports the build's own findings from a package's traceability/; "
       "a dataset file whose SHA-256 is not the one in the package's manifest.json was "
       "changed after the build, so those findings may not describe it.",
       "docs/manifest.md", (), (), ()),
)


def _yaml_rules(file: str, kind: str, *, runnable: bool) -> list[RuleInfo]:
    """The rule catalogue ``validation/rules/<file>``: one ``RuleInfo`` per record; a record
    without id, severity or message (or, for the build's findings, stage) is a ``SpecError``
    naming its line. ``runnable`` rules keep their record (the engine compiles it) and their
    standard; the build's findings are described only, with their stage as the standard."""
    from studybuild.yamlspec import load_yaml

    path = Path(__file__).parent / "rules" / file
    data, lines = load_yaml(path)
    out = []
    for i, rec in enumerate((data or {}).get("rules") or []):
        try:
            out.append(RuleInfo(
                id=str(rec["id"]), severity=str(rec["severity"]), message=str(rec["message"]),
                kind=kind,
                standard=str(rec.get("standard", "SDTM")) if runnable else str(rec["stage"]),
                description=" ".join(str(rec.get("description", "")).split()),
                citation=str(rec.get("citation", "")),
                core_ids=tuple(rec.get("core_ids") or ()), fda_ids=tuple(rec.get("fda_ids") or ()),
                p21_ids=tuple(rec.get("p21_ids") or ()),
                **({"record": rec} if runnable else {})))
        except KeyError as e:
            raise SpecError(f"rule {i + 1} has no {e.args[0]!r}", path=path,
                            line=lines.get(("rules", i))) from None
    return out


def _core_rules() -> list[RuleInfo]:
    from validation import corerules

    sel = corerules.selection()
    out = []
    for cid, rec in sorted(corerules.bundle().items()):
        choice = sel.get(cid) or {}
        if choice.get("status") != "implemented":
            continue
        msg = str((rec.get("Outcome") or {}).get("Message") or rec.get("Description") or cid)
        std = "ADaM" if any(s.startswith("ADaMIG") for s in rec.get("standards", [])) else "SDTM"
        out.append(RuleInfo(
            id=f"SB-{cid}", severity=choice.get("severity") or "error",
            message=" ".join(msg.split()), kind="core", standard=std,
            description=" ".join(str(rec.get("Description", "")).split()),
            citation="CDISC CORE " + cid + (" (" + ", ".join(rec.get("cg_ids", []) +
                                                            rec.get("other_ids", [])) + ")"
                                            if rec.get("cg_ids") or rec.get("other_ids") else ""),
            core_ids=(cid,), fda_ids=tuple(rec.get("fda_ids", ())),
            p21_ids=tuple(rec.get("p21_ids", ())), record=rec))
    return out


@cache
def registry() -> dict[str, RuleInfo]:
    """All rules by own id, in id order."""
    rules = (list(SUITE_RULES) + _yaml_rules("studybuild.yaml", "studybuild", runnable=True)
             + _core_rules() + _yaml_rules("build.yaml", "build", runnable=False))
    seen: dict[str, RuleInfo] = {}
    for r in rules:
        if r.id in seen:
            raise SpecError(f"duplicate rule id {r.id}")
        seen[r.id] = r
    return dict(sorted(seen.items(), key=lambda kv: (kv[0].startswith("SB-"), kv[0])))


@cache
def compiled() -> dict[str, Any]:
    """Engine rules (studybuild and CORE) compiled, by own id."""
    from validation.engine import compile_rule

    out = {}
    for rid, info in registry().items():
        if info.kind in ("studybuild", "core"):
            out[rid] = compile_rule(rid, info.record, standard=info.standard)
    return out


def rules_cli(as_json: bool) -> int:
    """``studybuild rules [--json]``: every rule with its id, severity, message and the
    CORE / FDA / P21 ids it covers."""
    import click

    reg = registry()
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in reg.values()], indent=1))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"studybuild conformance rules ({len(reg)})", show_lines=False)
    for col in ("id", "severity", "kind", "message", "CORE", "FDA / P21"):
        table.add_column(col, overflow="fold")
    for r in reg.values():
        table.add_row(r.id, r.severity, r.kind, r.message, ", ".join(r.core_ids),
                      ", ".join(dict.fromkeys(r.fda_ids + r.p21_ids)))
    Console(width=160).print(table)
    return 0
