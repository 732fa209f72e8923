"""Reference dictionaries (``specs/dictionaries/<id>.csv``) for the ``dictionary`` algorithm.

A dictionary is a CSV file with a header row; a spec names it by its id (the file stem) and
says which column the collected value is matched against (``key``, case-insensitive, blanks
collapsed) and which column gives the result (``value``). ``specs/dictionaries/README.md``
lists each file with its source, version and licence.

>>> table = lookup_table("meddra-soc", "SOC_NAME", "SOC_CODE")
>>> table["CARDIAC DISORDERS"]
'10007541'
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from studybuild.errors import SpecError
from studybuild.paths import specs_dir

_ID = re.compile(r"[a-z0-9][a-z0-9._-]*")


def dictionaries_dir() -> Path:
    return specs_dir() / "dictionaries"


def available() -> list[str]:
    """Ids of the dictionaries shipped in ``specs/dictionaries/`` (sorted)."""
    folder = dictionaries_dir()
    return sorted(p.stem for p in folder.glob("*.csv")) if folder.is_dir() else []


def norm_key(value: str) -> str:
    return " ".join(str(value).strip().upper().split())


@dataclass(frozen=True)
class Dictionary:
    id: str
    path: Path
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    lines: tuple[int, ...]          # file line of each row (the header is line 1)

    def column(self, name: str) -> int:
        return self.columns.index(name)


@cache
def load_dictionary(name: str) -> Dictionary:
    """The dictionary ``name`` (a file stem of ``specs/dictionaries``); SpecError if unknown
    or unreadable."""
    known = available()
    if not _ID.fullmatch(name) or name not in known:
        raise SpecError(f"unknown dictionary {name!r} (known: {', '.join(known) or 'none'})",
                        path=dictionaries_dir(),
                        hint="add <id>.csv to specs/dictionaries with its provenance in "
                             "specs/dictionaries/README.md")
    path = dictionaries_dir() / f"{name}.csv"
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header:
            raise SpecError("dictionary file has no header row", path=path, line=1)
        width = len(header)
        rows, lines = [], []
        for line, row in enumerate(reader, start=2):
            if not any(c.strip() for c in row):
                continue
            if len(row) != width:
                raise SpecError(f"row has {len(row)} fields, the header {width}", path=path,
                                line=line)
            rows.append(tuple(c.strip() for c in row))
            lines.append(line)
    return Dictionary(id=name, path=path, columns=tuple(h.strip() for h in header),
                      rows=tuple(rows), lines=tuple(lines))


@cache
def lookup_table(name: str, key: str, value: str) -> dict[str, str]:
    """Normalised ``key`` column value -> ``value`` column value. A key that appears twice
    with different values is a SpecError naming the file and line."""
    d = load_dictionary(name)
    for col in (key, value):
        if col not in d.columns:
            raise SpecError(f"dictionary {name!r} has no column {col!r} (columns: "
                            f"{', '.join(d.columns)})", path=d.path, line=1)
    k, v = d.column(key), d.column(value)
    out: dict[str, str] = {}
    for row, line in zip(d.rows, d.lines):
        nk = norm_key(row[k])
        if not nk:
            continue
        if nk in out and out[nk] != row[v]:
            raise SpecError(f"key {row[k]!r} of column {key} appears twice with different "
                            f"{value}", path=d.path, line=line)
        out[nk] = row[v]
    return out
