"""The export gate: error-level findings stop the export unless ``--allow-errors``.

``studybuild build`` runs the checks on SDTM, then on ADaM, and calls :func:`enforce_gate`
after each, before anything is exported. Errors accepted by a findings baseline do not count.
With ``allow_errors`` the export goes on and the override is recorded in the report
(``report.gate``), which the pipeline also copies into the manifest.

>>> enforce_gate(report, allow_errors=False, stage="SDTM")   # doctest: +SKIP
Traceback (most recent call last):
GateError: SDTM checks found 2 errors (3 warnings): SB0005 DM.SEX row 4 ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from studybuild.errors import GateError

if TYPE_CHECKING:
    from validation.run import ValidationReport

TOP = 5


def _top(report: "ValidationReport") -> str:
    """The error-level findings, grouped by rule (most frequent first), one example each."""
    groups: dict[str, list] = {}
    for f in report.findings.errors:
        groups.setdefault(f.rule_id, []).append(f)
    ranked = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    parts = []
    for rid, fs in ranked[:TOP]:
        f = fs[0]
        where = ".".join(p for p in (f.dataset, f.variable) if p and "," not in p) or f.dataset
        if f.row is not None:
            where += f" row {f.row}"
        parts.append(f"{rid} x{len(fs)} ({f.message}; first: {where})")
    if len(ranked) > TOP:
        parts.append(f"and {len(ranked) - TOP} more rules")
    return "; ".join(parts)


def enforce_gate(report: "ValidationReport", *, allow_errors: bool, stage: str) -> None:
    """Raise :class:`GateError` (exit 1) if the report has unaccepted error-level findings,
    naming the counts and the first findings; with ``allow_errors`` record the override in
    ``report.gate`` instead. The gate outcome is recorded in every case."""
    c = report.counts()
    n = c["error"]
    gate = {"stage": stage, "errors": n, "warnings": c["warning"], "notices": c["notice"],
            "allow_errors": bool(allow_errors), "override": False,
            "result": "passed" if n == 0 else "refused"}
    if n and allow_errors:
        gate["override"] = True
        gate["result"] = "errors allowed (--allow-errors)"
    report.gate = gate
    if n and not allow_errors:
        raise GateError(f"{stage} checks found {n} error{'s' if n != 1 else ''} "
                        f"({c['warning']} warnings); export refused: {_top(report)}",
                        hint="see the validation report; fix the data, accept findings in a "
                             "baseline, or rerun with --allow-errors (recorded)")
