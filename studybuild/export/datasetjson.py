"""CDISC Dataset-JSON 1.1: write (JSON and NDJSON forms) and read.

JSON: one object with the metadata, ``columns`` and ``rows`` (list of lists).
NDJSON: the first line is the metadata object with ``columns``; each following line is one row.

Types: character variables are ``string``; numeric variables are ``integer`` when every value
is whole, else ``double``; ADaM dates (datetime64 ``*DT``) are ``date`` with ISO 8601 values and
``targetDataType: integer`` (a SAS date number in XPT), datetimes ``datetime``. Missing values
are ``null``. Output is deterministic: the creation stamp is caller-supplied (the build uses
the data cut-off), keys are emitted in schema order, floats with ``repr`` precision.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from studybuild import __version__
from studybuild.atomic import write_text
from studybuild.errors import InputError

VERSION = "1.1.0"


def _column_meta(name: str, s: pd.Series, label: str, key_seq: int | None,
                 oid_prefix: str) -> dict[str, Any]:
    col: dict[str, Any] = {"itemOID": f"{oid_prefix}.{name}", "name": name, "label": label}
    if pd.api.types.is_datetime64_any_dtype(s):
        is_date = name.upper().endswith("DT") or (s.dropna() == s.dropna().dt.normalize()).all()
        col["dataType"] = "date" if is_date else "datetime"
        col["targetDataType"] = "integer"
        col["displayFormat"] = "DATE9." if is_date else "DATETIME20."
    elif pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        vals = s.dropna().to_numpy(dtype="float64")
        whole = bool(len(vals) == 0 or np.all(np.isfinite(vals) & (vals == np.round(vals))))
        col["dataType"] = "integer" if whole and len(vals) else "double"
    elif pd.api.types.is_bool_dtype(s):
        col["dataType"] = "boolean"
    else:
        col["dataType"] = "string"
        lengths = s.dropna().astype("str").str.encode("utf-8").str.len()
        col["length"] = int(max(1, lengths.max() if len(lengths) else 1))
    if key_seq is not None:
        col["keySequence"] = key_seq
    return col


def _cell_lists(frame: pd.DataFrame, columns: list[dict[str, Any]]) -> list[list[Any]]:
    """Column-wise conversion to JSON-ready Python lists (vectorised per column)."""
    cols: list[list[Any]] = []
    for meta in columns:
        s = frame[meta["name"]]
        kind = meta["dataType"]
        na = s.isna().to_numpy()
        if kind == "date":
            vals = s.dt.strftime("%Y-%m-%d").astype(object).to_numpy()
        elif kind == "datetime":
            vals = s.dt.strftime("%Y-%m-%dT%H:%M:%S").astype(object).to_numpy()
        elif kind == "integer":
            vals = np.array([None] * len(s), dtype=object)
            vals[~na] = s.to_numpy(dtype="float64")[~na].astype("int64").tolist()
        elif kind == "double":
            vals = s.to_numpy(dtype="float64").astype(object)
        elif kind == "boolean":
            vals = s.astype(object).to_numpy()
        else:
            vals = s.astype(object).to_numpy()
        vals = vals.astype(object)
        vals[na] = None
        cols.append(vals.tolist())
    return [list(r) for r in zip(*cols)] if cols else [[] for _ in range(len(frame))]


def build_document(frame: pd.DataFrame, *, name: str, label: str,
                   labels: Mapping[str, str], keys: Sequence[str] = (),
                   study_oid: str, metadata_version_oid: str = "MDV.1",
                   metadata_ref: str | None = None, created: dt.datetime,
                   originator: str = "studybuild") -> dict[str, Any]:
    name = name.upper()
    prefix = f"IT.{name}"
    key_pos = {k: i + 1 for i, k in enumerate(keys)}
    columns = [_column_meta(str(c), frame[c], labels.get(str(c), ""), key_pos.get(str(c)),
                            prefix) for c in frame.columns]
    stamp = created.strftime("%Y-%m-%dT%H:%M:%S")
    doc: dict[str, Any] = {
        "datasetJSONCreationDateTime": stamp,
        "datasetJSONVersion": VERSION,
        "fileOID": f"{study_oid}.{name}",
        "dbLastModifiedDateTime": stamp,
        "originator": originator,
        "sourceSystem": {"name": "studybuild", "version": __version__},
        "studyOID": study_oid,
        "metaDataVersionOID": metadata_version_oid,
    }
    if metadata_ref:
        doc["metaDataRef"] = metadata_ref
    doc.update({"itemGroupOID": f"IG.{name}", "records": int(len(frame)), "name": name,
                "label": label, "columns": columns})
    return doc


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def write_dataset_json(frame: pd.DataFrame, path: str | os.PathLike, *, ndjson: bool = False,
                       **meta: Any) -> Path:
    """Write ``frame`` as Dataset-JSON 1.1 (``ndjson=True`` for the NDJSON form), atomically.
    ``meta``: name, label, labels, keys, study_oid, created (see :func:`build_document`)."""
    doc = build_document(frame, **meta)
    rows = _cell_lists(frame, doc["columns"])
    for r in rows:
        for v in r:
            if isinstance(v, float) and not math.isfinite(v):
                raise InputError(f"dataset {doc['name']}: non-finite number {v!r} cannot be "
                                 "written to Dataset-JSON")
    if ndjson:
        text = _dumps(doc) + "\n" + "".join(_dumps(r) + "\n" for r in rows)
    else:
        doc["rows"] = rows
        text = _dumps(doc) + "\n"
    return write_text(path, text)


def read_dataset_json(path: str | os.PathLike) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read Dataset-JSON 1.1 (``.json`` or ``.ndjson``) into a frame and its metadata
    (name, label, labels, columns). Raises InputError for files that are not Dataset-JSON."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("Dataset-JSON file is not UTF-8", path=path) from None
    try:
        if path.suffix.lower() == ".ndjson":
            lines = [ln for ln in text.splitlines() if ln.strip()]
            if not lines:
                raise InputError("empty NDJSON file", path=path)
            doc = json.loads(lines[0])
            rows = [json.loads(ln) for ln in lines[1:]]
        else:
            doc = json.loads(text)
            rows = doc.get("rows", []) if isinstance(doc, dict) else []
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON: {e.msg}", path=path, line=e.lineno) from None
    if not isinstance(doc, dict) or "columns" not in doc or "name" not in doc:
        raise InputError("not a Dataset-JSON file (no 'name' and 'columns')", path=path)
    columns = doc["columns"]
    names = [c.get("name") for c in columns]
    width = len(names)
    for i, r in enumerate(rows):
        if not isinstance(r, list) or len(r) != width:
            raise InputError(f"row {i + 1} has {len(r) if isinstance(r, list) else '?'} "
                             f"values, expected {width}", path=path)
    data: dict[str, pd.Series] = {}
    for j, col in enumerate(columns):
        vals = [r[j] for r in rows]
        kind = col.get("dataType", "string")
        s = pd.Series(vals, dtype=object)
        if kind in ("date", "datetime"):
            s = pd.to_datetime(s, errors="coerce").astype("datetime64[s]")
        elif kind in ("integer", "decimal", "float", "double"):
            s = pd.to_numeric(s, errors="coerce").astype("float64")
        elif kind == "boolean":
            s = s.astype(object)
        else:
            s = s.astype("str").where(s.notna(), pd.NA).astype("str")
        data[col["name"]] = s
    frame = pd.DataFrame(data, index=pd.RangeIndex(len(rows)))
    meta = {"name": str(doc["name"]).upper(), "label": doc.get("label", ""),
            "labels": {c["name"]: c.get("label", "") for c in columns}, "columns": columns,
            "records": doc.get("records")}
    return frame, meta
