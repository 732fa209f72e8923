"""The published CDISC CORE rules that studybuild runs, and how they were chosen.

``specs/standards/core-rules/`` holds (see ``specs/standards/PROVENANCE.md``):

- ``INDEX.csv`` - the index of all 331 published CORE rules for SDTMIG 3.4 / ADaM (copied);
- ``rules/CORE-*.yml`` - verbatim copies of the rules studybuild runs;
- ``selection.csv`` - one row per CORE rule: ``status`` (implemented, covered, not_applicable,
  unsupported), ``severity`` studybuild gives it, and the reason (why not, or by which
  studybuild rule it is covered);
- ``rules.json`` - the implemented rules in compact form (the YAML fields the engine needs,
  plus the CDISC conformance-rule, FDA business-rule and FDA validator ids), so that loading
  300 rules takes milliseconds instead of seconds of YAML parsing. It is generated from the
  YAML copies by ``python -m validation.corerules build REFERENCE_DIR``, which also refreshes
  ``selection.csv`` for new rules (keeping the decisions already recorded).

FDA validator rule ids (``SDxxxx``, the ids Pinnacle 21 reports for the FDA validator rules)
are found through the CDISC conformance-rule ids (``CG0xxx``) that both the CORE rule and the
FDA validator rules table (``specs/standards/fda/FDA_Validator_Rules_v1.3_2018.csv``) cite.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import sys
from functools import cache
from pathlib import Path
from typing import Any

from studybuild.paths import standards_dir

# Domains studybuild produces; CORE rules scoped only to other domains are not applicable.
PRODUCED = ("DM", "EX", "AE", "DS", "TU", "TR", "RS", "SUPP--", "SUPPAE", "SUPPDM", "SUPPDS",
            "SUPPEX", "SUPPTU", "SUPPTR", "SUPPRS", "TS", "TA", "TE", "TV", "TI", "SE", "SV")
CLASSES = {"DM": "SPECIAL PURPOSE", "SE": "SPECIAL PURPOSE", "SV": "SPECIAL PURPOSE",
           "EX": "INTERVENTIONS", "AE": "EVENTS", "DS": "EVENTS", "TU": "FINDINGS",
           "TR": "FINDINGS", "RS": "FINDINGS", "TS": "TRIAL DESIGN", "TA": "TRIAL DESIGN",
           "TE": "TRIAL DESIGN", "TV": "TRIAL DESIGN", "TI": "TRIAL DESIGN",
           "SUPP--": "RELATIONSHIP"}
# CORE rules whose check studybuild makes with an expectation suite or metadata rule
COVERED = {"CORE-000019": "SB0015", "CORE-000182": "SB0014", "CORE-000334": "SB0003",
           "CORE-000355": "SB0001", "CORE-000356": "SB0002"}
# Decisions the automatic triage cannot make (kept by every rebuild)
MANUAL = {
    "CORE-000539": ("not_applicable", "its dataset-name pattern ([a-z...]) only matches lower-case "
                    "names, and every dataset name studybuild reads is upper case; split "
                    "datasets' parents are checked by SB0018 notices"),
    "CORE-000540": ("not_applicable", "like CORE-000539, its dataset-name pattern only matches "
                    "lower-case names; studybuild reads every dataset name upper case, and does "
                    "not produce FA datasets"),
    "CORE-000597": ("unsupported", "needs SUPP-- records pivoted to variables (QNAM AESOSP) in "
                    "Match Datasets, which the engine does not do"),
}
ENGINE_FIELDS = ("Rule Type", "Check", "Operations", "Match Datasets", "Scope", "Sensitivity",
                 "Outcome", "Description", "Executability")


def core_dir() -> Path:
    return standards_dir() / "core-rules"


@cache
def selection() -> dict[str, dict[str, str]]:
    """core id -> {status, severity, reason}."""
    path = core_dir() / "selection.csv"
    with open(path, encoding="utf-8", newline="") as f:
        return {r["core_id"]: r for r in csv.DictReader(f)}


@cache
def index() -> dict[str, dict[str, str]]:
    with open(core_dir() / "INDEX.csv", encoding="utf-8", newline="") as f:
        return {r["core_id"]: r for r in csv.DictReader(f)}


@cache
def bundle() -> dict[str, dict[str, Any]]:
    """The implemented rules: core id -> compact record."""
    with open(core_dir() / "rules.json", encoding="utf-8") as f:
        return json.load(f)["rules"]


# --------------------------------------------------------------------------------------------
# Building the bundle (a maintenance step, not run at validation time)
# --------------------------------------------------------------------------------------------

def _ids(record: dict) -> dict[str, list[str]]:
    cg, fb, other = [], [], []
    for auth in record.get("Authorities") or []:
        org = auth.get("Organization")
        for std in auth.get("Standards") or []:
            if org == "FDA" and str(std.get("Name", "")).startswith("SEND"):
                continue
            for ref in std.get("References") or []:
                rid = str((ref.get("Rule Identifier") or {}).get("Id") or "")
                if not rid:
                    continue
                if org == "FDA":
                    fb.append(rid)
                elif rid.startswith("CG"):
                    cg.append(rid)
                elif not rid.startswith("SE"):
                    other.append(rid)
    return {"cg": sorted(set(cg)), "fda": sorted(set(fb)), "other": sorted(set(other))}


def subject_variables(text: str) -> list[str]:
    """The variables a CORE rule is about, from the ``# Variable:`` line the published rule
    files carry above the YAML (the conformance rule's own Variable column, e.g. ``TSVAL`` for
    CORE-000294, ``AESER`` for CORE-000022); ``GEN`` (general) and the absent line give [].

    >>> subject_variables("# Variable: --STDTC, --ENDTC\\n# Condition: ...\\nCheck: {}")
    ['--STDTC', '--ENDTC']
    >>> subject_variables("# Variable: TSPARMCD AND TSPARM")
    ['TSPARMCD', 'TSPARM']
    """
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        if line.startswith("# Variable:"):
            names = [n.strip() for n in re.split(r",|\s+AND\s+", line.split(":", 1)[1])]
            return [n for n in names if n and n != "GEN"]
    return []


def _validator_map(fda_csv: Path) -> dict[str, list[str]]:
    """CG/FDAB id -> FDA validator rule ids (SDxxxx)."""
    out: dict[str, set[str]] = {}
    with open(fda_csv, encoding="utf-8-sig", newline="") as f:
        for r in csv.DictReader(f):
            sd = r["FDA Validator Rule ID"].strip()
            if not sd.startswith("SD"):
                continue
            for pid in r["Publisher ID"].replace("\n", ",").split(","):
                pid = pid.strip()
                if pid:
                    out.setdefault(pid, set()).add(sd)
    return {k: sorted(v) for k, v in out.items()}


def _applicable(record: dict) -> tuple[bool, str]:
    scope = record.get("Scope") or {}
    uc = str(scope.get("Use Case") or "")
    if uc and "INDH" not in uc:
        return False, f"use case {uc} only (not human clinical trials)"
    if record.get("Rule Type") == "Domain Presence Check":
        return True, ""
    doms = [str(d).upper() for d in ((scope.get("Domains") or {}).get("Include") or ["ALL"])]
    exc = [str(d).upper() for d in ((scope.get("Domains") or {}).get("Exclude") or [])]
    cls = [str(c).upper() for c in ((scope.get("Classes") or {}).get("Include") or ["ALL"])]

    def hit(d: str, pats: list[str]) -> bool:
        return any(p == "ALL" or p == d or (p.endswith("--") and d.startswith(p[:-2]))
                   for p in pats)

    ok = [d for d, c in CLASSES.items() if hit(d, doms) and not hit(d, exc) and
          ("ALL" in cls or c in cls)]
    if ok:
        return True, ""
    return False, ("applies only to " + ", ".join(d for d in doms if d != "ALL") +
                   (f" ({', '.join(cls)})" if cls != ["ALL"] else "") +
                   ", which studybuild does not produce")


def _default_severity(record: dict) -> str:
    text = " ".join(str(record.get(k) or "") for k in ("Description",)) + " " + \
        str((record.get("Outcome") or {}).get("Message") or "")
    low = text.lower()
    if str(record.get("Executability", "")).startswith("Partially"):
        return "warning"
    if "should" in low and "must" not in low:
        return "warning"
    return "error"


def build(reference: Path, *, out: Path | None = None) -> None:
    """Refresh ``specs/standards/core-rules`` from a CORE reference folder (INDEX.csv and
    rules/*.yml). Decisions already in selection.csv are kept; new rules get defaults."""
    from studybuild.yamlspec import load_yaml
    from validation.engine import unsupported_features

    out = out or core_dir()
    out.mkdir(parents=True, exist_ok=True)
    (out / "rules").mkdir(exist_ok=True)
    shutil.copyfile(reference / "INDEX.csv", out / "INDEX.csv")
    fda_csv = standards_dir() / "fda" / "FDA_Validator_Rules_v1.3_2018.csv"
    vmap = _validator_map(fda_csv)
    old: dict[str, dict[str, str]] = {}
    if (out / "selection.csv").exists():
        with open(out / "selection.csv", encoding="utf-8", newline="") as f:
            old = {r["core_id"]: r for r in csv.DictReader(f)}
    rows, compact = [], {}
    for path in sorted((reference / "rules").glob("CORE-*.yml")):
        record, _ = load_yaml(path)
        cid = record["Core"]["Id"]
        why = unsupported_features(record)
        applicable, reason = _applicable(record)
        prev = old.get(cid)
        if cid in MANUAL:
            status, note = MANUAL[cid]
            severity = ""
        elif prev and prev["status"] in ("implemented", "not_applicable", "covered") and \
                not why:
            status, severity, note = prev["status"], prev["severity"], prev["reason"]
        elif cid in COVERED:
            status, severity, note = "covered", "", f"checked by {COVERED[cid]}"
        elif why:
            status, severity, note = "unsupported", "", "needs " + "; ".join(why)
        elif not applicable:
            status, severity, note = "not_applicable", "", reason
        else:
            status, severity, note = "implemented", _default_severity(record), ""
        rows.append({"core_id": cid, "status": status, "severity": severity, "reason": note})
        ids = _ids(record)
        sd = sorted({s for k in ids["cg"] + ids["fda"] for s in vmap.get(k, [])})
        if status == "implemented":
            shutil.copyfile(path, out / "rules" / path.name)
            rec = {k: record.get(k) for k in ENGINE_FIELDS if record.get(k) is not None}
            subject = subject_variables(path.read_text(encoding="utf-8"))
            if subject:
                rec["Variables"] = subject
            rec.update({"cg_ids": ids["cg"], "fda_ids": ids["fda"] + sd, "p21_ids": sd,
                        "other_ids": ids["other"],
                        "standards": sorted({f"{s.get('Name')} {s.get('Version')}"
                                             for a in record.get("Authorities") or []
                                             for s in a.get("Standards") or []})})
            compact[cid] = rec
        elif (out / "rules" / path.name).exists():
            (out / "rules" / path.name).unlink()
    from studybuild.atomic import write_text

    buf = []
    cols = ["core_id", "status", "severity", "reason"]
    buf.append(",".join(cols))
    import io

    s = io.StringIO()
    w = csv.DictWriter(s, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    write_text(out / "selection.csv", s.getvalue())
    write_text(out / "rules.json", json.dumps(
        {"source": "cdisc-org/cdisc-open-rules (published CORE rules), see PROVENANCE.md",
         "rules": compact}, indent=1, sort_keys=True) + "\n")
    print(f"{len(compact)} implemented, "
          f"{sum(r['status'] != 'implemented' for r in rows)} not, written to {out}")


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "build":
        print("usage: python -m validation.corerules build REFERENCE_DIR", file=sys.stderr)
        return 2
    build(Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
