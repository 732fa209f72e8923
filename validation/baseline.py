"""Findings baseline: accepted findings with a reason, as Pinnacle 21 users keep explanations.

A baseline is a YAML (or JSON) file::

    # accepted findings of study XYZ (reviewed 2025-05-01)
    accepted:
      - rule: SB-CORE-000024          # own rule id, or a CORE / FDA / P21 id it covers
        dataset: AE                   # optional: every field given must match
        variable: AEBDSYCD
        reason: MedDRA SOC codes were not collected; see the reviewer's guide section 4.2
      - rule: SB0006
        dataset: DM
        variable: RACE
        value: OTHER
        keys: {USUBJID: 01-701-1015}   # optional: key values of the record
        row: 12                        # optional: 1-based record number
        reason: Sponsor term, explained in the reviewer's guide

An accepted finding stays in every report, marked with its reason, and no longer counts
towards errors or the export gate. An entry that matches nothing is reported as a notice
(SB0902), so stale explanations do not pile up.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable

from pydantic import BaseModel, ConfigDict, Field, field_validator

from studybuild.findings import Finding, Findings


class Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: str
    reason: str = Field(min_length=1)
    dataset: str | None = None
    variable: str | None = None
    row: int | None = Field(default=None, ge=1)
    value: str | None = None
    keys: dict[str, str] = Field(default_factory=dict)

    @field_validator("reason")
    @classmethod
    def _reason(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("give the reason the finding is accepted")
        return v.strip()

    @field_validator("keys", mode="before")
    @classmethod
    def _keys(cls, v):
        return {str(k): str(x) for k, x in (v or {}).items()}

    def matches(self, f: Finding) -> bool:
        ids = {f.rule_id, *f.core_ids, *f.fda_ids, *f.p21_ids}
        if self.rule not in ids:
            return False
        if self.dataset is not None and self.dataset.upper() != f.dataset.upper():
            return False
        if self.variable is not None and self.variable.upper() != f.variable.upper():
            return False
        if self.row is not None and self.row != f.row:
            return False
        if self.value is not None and self.value != (f.value or ""):
            return False
        if self.keys:
            have = dict(f.keys)
            if any(have.get(k) != v for k, v in self.keys.items()):
                return False
        return True


class BaselineFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    accepted: list[Entry] = Field(default_factory=list)


@dataclass(frozen=True)
class BaselineResult:
    path: str
    entries: int
    accepted: int                       # findings accepted
    unused: tuple[int, ...]             # 1-based entry numbers that matched nothing


def load(path: Path) -> BaselineFile:
    """Read and validate a baseline file (SpecError with file and line when it is wrong)."""
    from studybuild.yamlspec import load_model

    return load_model(BaselineFile, Path(path))


def apply(findings: Findings, base: BaselineFile, path: Path) -> tuple[Findings, BaselineResult]:
    """Mark findings matched by an entry as accepted (with its reason)."""
    by_rule: dict[str, list[tuple[int, Entry]]] = {}
    for i, e in enumerate(base.accepted):
        by_rule.setdefault(e.rule, []).append((i, e))
    used: set[int] = set()
    out = Findings()
    n = 0
    for f in findings:
        hit = None
        for rid in (f.rule_id, *f.core_ids, *f.fda_ids, *f.p21_ids):
            for i, e in by_rule.get(rid, ()):
                if e.matches(f):
                    hit = (i, e)
                    break
            if hit:
                break
        if hit:
            used.add(hit[0])
            out.append(replace(f, accepted=hit[1].reason))
            n += 1
        else:
            out.append(f)
    unused = tuple(i + 1 for i in range(len(base.accepted)) if i not in used)
    return out, BaselineResult(str(path), len(base.accepted), n, unused)


def unused_entries(base: BaselineFile, result: BaselineResult) -> Iterable[tuple[int, Entry]]:
    for i in result.unused:
        yield i, base.accepted[i - 1]
