"""Findings: what every check, mapper and derivation reports instead of raising.

A :class:`Finding` names the rule, the dataset (or raw form), the variable, the 1-based record
number in file order, the record's keys and the offending value. Code collects findings lazily
in a :class:`Findings` list and decides at the end what they mean (like pandera's lazy mode):
error-level findings make the CLI exit 1 and stop the export gate.

>>> fs = Findings()
>>> fs.add("SB-MAP-CT", "error", "value 'Mle' is not in codelist SEX (C66731)",
...        dataset="dm", variable="SEX", row=3, value="Mle")
>>> fs.counts()
{'error': 1, 'warning': 0, 'notice': 0}
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, Iterable, Iterator, Mapping


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTICE = "notice"

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "notice": 2}[self.value]

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Finding:
    rule_id: str
    severity: Severity
    message: str
    dataset: str = ""                       # dataset name (DM, ADSL) or raw form (dm.csv)
    variable: str = ""
    row: int | None = None                  # 1-based record number in file order
    keys: tuple[tuple[str, str], ...] = ()  # identifying key values of that record
    value: str | None = None                # the offending value, as text
    core_ids: tuple[str, ...] = ()          # CDISC CORE rule ids this rule covers
    fda_ids: tuple[str, ...] = ()           # FDA validator rule ids (SD1xxx, FDAB0xx)
    p21_ids: tuple[str, ...] = ()           # Pinnacle 21 rule ids
    source: str = ""                        # file the record came from, if any
    accepted: str | None = None             # reason, when a findings baseline accepts it

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["severity"] = self.severity.value
        d["keys"] = dict(self.keys)
        for k in ("core_ids", "fda_ids", "p21_ids"):
            d[k] = list(d[k])
        return d

    @property
    def location(self) -> str:
        parts = [p for p in (self.dataset, self.variable) if p]
        where = ".".join(parts)
        if self.row is not None:
            where += f" row {self.row}"
        return where


def _severity(s: Severity | str) -> Severity:
    return s if isinstance(s, Severity) else Severity(str(s).lower())


@dataclass
class Findings:
    """An append-only list of findings with summaries; never raises on add."""

    items: list[Finding] = field(default_factory=list)

    def add(self, rule_id: str, severity: Severity | str, message: str, *,
            dataset: str = "", variable: str = "", row: int | None = None,
            keys: Mapping[str, Any] | Iterable[tuple[str, Any]] = (),
            value: Any = None, core_ids: Iterable[str] = (), fda_ids: Iterable[str] = (),
            p21_ids: Iterable[str] = (), source: str = "") -> Finding:
        if isinstance(keys, Mapping):
            keys = keys.items()
        f = Finding(rule_id=rule_id, severity=_severity(severity), message=message,
                    dataset=dataset, variable=variable,
                    row=None if row is None else int(row),
                    keys=tuple((str(k), "" if v is None else str(v)) for k, v in keys),
                    value=None if value is None else str(value),
                    core_ids=tuple(core_ids), fda_ids=tuple(fda_ids), p21_ids=tuple(p21_ids),
                    source=str(source))
        self.items.append(f)
        return f

    def append(self, finding: Finding) -> None:
        self.items.append(finding)

    def extend(self, findings: Iterable[Finding]) -> None:
        self.items.extend(findings)

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def counts(self, *, include_accepted: bool = False) -> dict[str, int]:
        out = {s.value: 0 for s in Severity}
        for f in self.items:
            if include_accepted or f.accepted is None:
                out[f.severity.value] += 1
        return out

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.items if f.severity is Severity.ERROR and f.accepted is None]

    @property
    def has_errors(self) -> bool:
        return any(f.severity is Severity.ERROR and f.accepted is None for f in self.items)

    def sorted(self) -> list[Finding]:
        """Stable, deterministic order: severity, dataset, rule, row, variable."""
        return sorted(self.items, key=lambda f: (f.severity.rank, f.dataset, f.rule_id,
                                                 -1 if f.row is None else f.row, f.variable,
                                                 f.value or ""))

    def to_records(self) -> list[dict[str, Any]]:
        return [f.to_dict() for f in self.sorted()]
