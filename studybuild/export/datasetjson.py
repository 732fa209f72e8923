"""CDISC Dataset-JSON 1.1: write (JSON and NDJSON forms), read, and validate.

JSON: one object with the metadata, ``columns`` and ``rows`` (list of lists).
NDJSON: the first line is the metadata object with ``columns``; each following line is one row.

Types: character variables are ``string`` (with ``length``, the longest value in UTF-8 bytes);
numeric variables are ``integer`` when every value is whole, else ``double``; ADaM dates
(datetime64 ``*DT``) are ``date`` with ISO 8601 values and ``targetDataType: integer`` (a SAS
date number in XPT), datetimes ``datetime`` likewise. Missing values are ``null``. OIDs follow
define.xml (``IG.ADSL``, ``IT.ADSL.USUBJID``), so a Dataset-JSON file and the define.xml
beside it refer to the same items.

Reading gives back the frame the conventions describe (character ``str`` with NA, numbers
float64, dates ``datetime64[s]``), so ``read(write(frame)) == frame`` for such frames.
Output is deterministic: the creation stamp is caller-supplied (the build uses the data
cut-off), keys are emitted in schema order, floats in shortest round-trip form.

>>> import datetime as dt, pandas as pd
>>> df = pd.DataFrame({"USUBJID": pd.Series(["01-001"], dtype="str"), "AGE": [63.0]})
>>> doc = build_document(df, name="DM", label="Demographics", labels={},
...                      study_oid="STDY.X", created=dt.datetime(2023, 6, 30))
>>> [(c["name"], c["dataType"], c["label"]) for c in doc["columns"]]
[('USUBJID', 'string', 'Unique Subject Identifier'), ('AGE', 'integer', 'Age')]
"""

from __future__ import annotations

import datetime as dt
import json
import os
from functools import cache
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from studybuild import __version__
from studybuild.atomic import write_text
from studybuild.errors import ExportError, InputError

VERSION = "1.1.0"
SCHEMA_JSON = "dataset-json-1.1/dataset.schema.json"
SCHEMA_NDJSON = "dataset-json-1.1/dataset-ndjson-schema.json"


def _ig_label(dataset: str, column: str) -> str:
    from studybuild.metadata import variable_from_standard

    vm = variable_from_standard(dataset, column)
    return vm.label if vm is not None else ""


def _column_meta(name: str, s: pd.Series, label: str, key_seq: int | None,
                 oid_prefix: str) -> dict[str, Any]:
    col: dict[str, Any] = {"itemOID": f"{oid_prefix}.{name}", "name": name, "label": label}
    if pd.api.types.is_datetime64_any_dtype(s):
        nn = s.dropna()
        if name.upper().endswith("DTM"):
            is_date = False
        else:
            is_date = name.upper().endswith("DT") or bool((nn == nn.dt.normalize()).all())
        col["dataType"] = "date" if is_date else "datetime"
        col["targetDataType"] = "integer"
        col["displayFormat"] = "DATE9." if is_date else "DATETIME20."
    elif pd.api.types.is_bool_dtype(s):
        col["dataType"] = "boolean"
    elif pd.api.types.is_numeric_dtype(s):
        vals = s.dropna().to_numpy(dtype="float64")
        whole = bool(len(vals) and np.all(np.isfinite(vals) & (vals == np.round(vals))
                                          & (np.abs(vals) < 2 ** 53)))
        col["dataType"] = "integer" if whole else "double"
    else:
        col["dataType"] = "string"
        nn = s.dropna()
        if len(nn):
            u = np.asarray(pd.unique(nn.astype("str")), dtype=str)
            longest = int(np.char.str_len(np.char.encode(u, "utf-8")).max())
        else:
            longest = 1
        col["length"] = max(1, longest)
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
            f = s.to_numpy(dtype="float64")
            bad = ~na & ~np.isfinite(f)
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise ExportError(f"non-finite number {f[row]!r} cannot be written to "
                                  "Dataset-JSON", variable=meta["name"], row=row + 1)
            vals = f.astype(object)
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
    """The Dataset-JSON metadata object (without rows). Column labels come from ``labels``,
    else the IG; OIDs follow define.xml (IG.<name>, IT.<name>.<column>)."""
    name = name.upper()
    prefix = f"IT.{name}"
    key_pos = {k: i + 1 for i, k in enumerate(keys)}
    columns = [_column_meta(str(c), frame[c], labels.get(str(c), "") or
                            _ig_label(name, str(c)), key_pos.get(str(c)), prefix)
               for c in frame.columns]
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
    ``meta``: name, label, labels, keys, study_oid, created and optionally
    metadata_version_oid, metadata_ref (see :func:`build_document`)."""
    doc = build_document(frame, **meta)
    try:
        rows = _cell_lists(frame, doc["columns"])
    except ExportError as e:
        raise ExportError(str(e), dataset=doc["name"]) from None
    if ndjson:
        text = _dumps(doc) + "\n" + "".join(_dumps(r) + "\n" for r in rows)
    else:
        doc["rows"] = rows
        text = _dumps(doc) + "\n"
    return write_text(path, text)


def _load(path: Path) -> tuple[dict[str, Any], list[Any]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("Dataset-JSON file is not UTF-8", path=path) from None
    except OSError as e:
        raise InputError(f"cannot read file: {e.strerror}", path=path) from None
    try:
        if path.suffix.lower() == ".ndjson":
            lines = [(i, ln) for i, ln in enumerate(text.splitlines(), start=1) if ln.strip()]
            if not lines:
                raise InputError("empty NDJSON file", path=path)
            doc = json.loads(lines[0][1])
            rows = []
            for i, ln in lines[1:]:
                try:
                    rows.append(json.loads(ln))
                except json.JSONDecodeError as e:
                    raise InputError(f"invalid JSON: {e.msg}", path=path, line=i) from None
        else:
            doc = json.loads(text)
            rows = doc.get("rows", []) if isinstance(doc, dict) else []
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON: {e.msg}", path=path, line=e.lineno) from None
    if not isinstance(doc, dict) or "columns" not in doc or "name" not in doc:
        raise InputError("not a Dataset-JSON file (no 'name' and 'columns')", path=path)
    if not isinstance(rows, list):
        raise InputError("'rows' is not a list", path=path)
    return doc, rows


def read_dataset_json(path: str | os.PathLike) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read Dataset-JSON 1.1 (``.json`` or ``.ndjson``) into a frame and its metadata
    (name, label, labels, columns, records). Raises InputError for files that are not
    Dataset-JSON."""
    path = Path(path)
    doc, rows = _load(path)
    columns = doc["columns"]
    if not isinstance(columns, list) or not all(isinstance(c, dict) and "name" in c
                                                for c in columns):
        raise InputError("'columns' must be a list of objects with a 'name'", path=path)
    names = [c.get("name") for c in columns]
    width = len(names)
    for i, r in enumerate(rows):
        if not isinstance(r, list) or len(r) != width:
            raise InputError(f"row {i + 1} has {len(r) if isinstance(r, list) else '?'} "
                             f"values, expected {width}", path=path)
    records = doc.get("records")
    if isinstance(records, int) and not isinstance(records, bool) and records != len(rows):
        # an NDJSON file cut at a line end still parses: the count is what tells
        raise InputError(f"'records' says {records:,} but the file has {len(rows):,} rows: "
                         "the file is truncated or was edited", path=path,
                         hint="export or copy the file again")
    data: dict[str, pd.Series] = {}
    by_column = list(zip(*rows)) if rows else [() for _ in columns]
    for col, vals in zip(columns, by_column):
        kind = col.get("dataType", "string")
        s = pd.Series(list(vals), dtype=object)
        if kind in ("date", "datetime"):
            s = pd.to_datetime(s, errors="coerce", format="ISO8601").astype("datetime64[s]")
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
            "records": doc.get("records"),
            "keys": [c["name"] for c in sorted((c for c in columns if "keySequence" in c),
                                               key=lambda c: c["keySequence"])]}
    return frame, meta


@cache
def _validator(rel: str):
    import jsonschema

    from studybuild.standards import source_path

    schema = json.loads(source_path(rel).read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


_NONE = type(None)
_TYPES_OK: dict[str, tuple[type, ...]] = {
    "string": (str,), "date": (str,), "datetime": (str,), "time": (str,), "URI": (str,),
    "decimal": (str,), "integer": (int,), "float": (int, float), "double": (int, float),
    "boolean": (bool,),
}


def validate_dataset_json(path: str | os.PathLike) -> list[str]:
    """Errors of a Dataset-JSON 1.1 file against the official JSON schema
    (``specs/standards/dataset-json-1.1/``; the NDJSON schema for ``.ndjson`` metadata
    lines), then the consistency the schema cannot express: ``records`` equals the number of
    rows, every row has one value per column, and values match their column's ``dataType``
    (first offending row per column). An empty list means the file is valid."""
    path = Path(path)
    doc, rows = _load(path)
    ndjson = path.suffix.lower() == ".ndjson"
    errors: list[str] = []
    validator = _validator(SCHEMA_NDJSON if ndjson else SCHEMA_JSON)
    # The schema asks of each row only that it is an array (its Row "properties" do not apply
    # to arrays), which the width check below covers; validating the metadata without the
    # rows keeps this fast for large datasets.
    head = {k: v for k, v in doc.items() if k != "rows"}
    if "rows" in doc and not isinstance(doc["rows"], list):
        head["rows"] = doc["rows"]
    for e in sorted(validator.iter_errors(head), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in e.absolute_path) or "(top level)"
        errors.append(f"schema: {where}: {e.message[:300]}")
    columns = doc.get("columns") if isinstance(doc.get("columns"), list) else []
    if isinstance(doc.get("records"), int) and doc["records"] != len(rows):
        errors.append(f"records is {doc['records']} but the file has {len(rows)} rows")
    width = len(columns)
    bad_width = [i for i, r in enumerate(rows) if not isinstance(r, list) or len(r) != width]
    if bad_width:
        errors.append(f"{len(bad_width)} rows do not have {width} values (first: row "
                      f"{bad_width[0] + 1})")
        return errors
    by_column = list(zip(*rows)) if rows else [() for _ in columns]
    for col, values in zip(columns, by_column):
        allowed = _TYPES_OK.get(col.get("dataType", "")) if isinstance(col, dict) else None
        if allowed is None:
            continue
        kinds = set(map(type, values)) - {_NONE}
        # JSON true/false is not a number: bool is a subclass of int in Python
        wrong = {k for k in kinds if not issubclass(k, allowed) or
                 (k is bool and bool not in allowed)}
        if wrong:
            i = next(i for i, v in enumerate(values) if type(v) in wrong)
            errors.append(f"column {col.get('name')} ({col['dataType']}): row {i + 1} has "
                          f"{type(values[i]).__name__} value {values[i]!r}")
    return errors
