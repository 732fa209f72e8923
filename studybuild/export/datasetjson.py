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
from studybuild.atomic import atomic_file, write_text
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
        col["length"] = max(1, _longest_utf8(s))
    if key_seq is not None:
        col["keySequence"] = key_seq
    return col


def _longest_utf8(s: pd.Series) -> int:
    """The longest non-missing value of a text column in UTF-8 bytes (1 when all missing)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(s.dtype, pd.StringDtype):
        arr = pa.array(s, type=pa.large_string(), from_pandas=True)
        n = pc.max(pc.binary_length(arr)).as_py()
        return 1 if n is None else int(n)
    nn = s.dropna()
    if not len(nn):
        return 1
    u = np.asarray(pd.unique(nn.astype("str")), dtype=str)
    return int(np.char.str_len(np.char.encode(u, "utf-8")).max())


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
    if not len(frame.columns):
        rows = [[] for _ in range(len(frame))]
        if ndjson:
            text = _dumps(doc) + "\n" + "".join(_dumps(r) + "\n" for r in rows)
        else:
            doc["rows"] = rows
            text = _dumps(doc) + "\n"
        return write_text(path, text)
    head = _dumps(doc)
    if ndjson:
        first, sep, last = head + "\n", "\n", ""
    else:       # "rows" is the document's last member
        first, sep, last = head[:-1] + ',"rows":[', ",", "]}\n"
    for meta in doc["columns"]:
        if meta["dataType"] == "double":
            f = frame[meta["name"]].to_numpy(dtype="float64")
            bad = ~np.isnan(f) & ~np.isfinite(f)
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                e = ExportError(f"non-finite number {f[row]!r} cannot be written to "
                                "Dataset-JSON", variable=meta["name"], row=row + 1)
                raise ExportError(str(e), dataset=doc["name"])
    path = Path(path)
    with atomic_file(path) as tmp, open(tmp, "wb") as fh:
        fh.write(first.encode("utf-8"))
        for lo in range(0, len(frame), _CHUNK_ROWS):
            data = _rows_json(frame.iloc[lo:lo + _CHUNK_ROWS], doc["columns"], sep)
            if not ndjson and lo + _CHUNK_ROWS >= len(frame):
                data = data[:-1]                        # no separator after the last row
            fh.write(data)
        fh.write(last.encode("utf-8"))
    return path


_CHUNK_ROWS = 200_000
# characters json.dumps(ensure_ascii=False) escapes in a string
_JSON_ESCAPED = r'[\x00-\x1f\\"]'


def _cells_json(s: pd.Series, meta: Mapping[str, Any]):
    """The JSON text of every cell of one column (an Arrow large_string array, null for
    missing), as ``json.dumps`` writes each value: strings quoted (escaped ones through
    json), integers as integers, doubles in Python's shortest round-trip form (computed once
    per distinct value), dates as ISO 8601 strings."""
    import pyarrow as pa
    import pyarrow.compute as pc

    L = pa.large_string()
    kind = meta["dataType"]
    na = s.isna().to_numpy()
    quote = pa.scalar('"', type=L)
    blank = pa.scalar("", type=L)
    if kind in ("date", "datetime"):
        codes, uniq = pd.factorize(s)
        fmt = "%Y-%m-%d" if kind == "date" else "%Y-%m-%dT%H:%M:%S"
        text = np.asarray(pd.Series(uniq).dt.strftime(fmt), dtype=object)
        vals = pa.array(np.where(codes >= 0, text[np.maximum(codes, 0)] if len(text) else None,
                                 None), type=L)
        return pc.binary_join_element_wise(quote, vals, quote, blank)
    if kind == "integer":
        ints = np.zeros(len(s), dtype=np.int64)
        ints[~na] = s.to_numpy(dtype="float64")[~na].astype("int64")
        return pc.cast(pa.array(ints, mask=na), L)
    if kind == "double":        # (non-finite numbers were refused before)
        f = np.ascontiguousarray(s.to_numpy(dtype="float64"))
        codes, uniq = pd.factorize(f.view(np.int64))      # by bits: 0.0 and -0.0 differ
        text = np.array([float.__repr__(float(v)) for v in uniq.view(np.float64)],
                        dtype=object)
        return pa.array(np.where(na, None, text[codes] if len(text) else None), type=L)
    if kind == "string" and isinstance(s.dtype, pd.StringDtype):
        arr = pa.array(s, type=L, from_pandas=True)
        out = pc.binary_join_element_wise(quote, arr, quote, blank)
        if _plain_text(arr):
            return out
        odd = pc.fill_null(pc.match_substring_regex(arr, _JSON_ESCAPED), False)
        if pc.any(odd).as_py():
            pos = np.flatnonzero(odd.to_numpy(zero_copy_only=False))
            vals = s.iloc[pos].tolist()
            out = pc.replace_with_mask(out, odd, pa.array([_dumps(v) for v in vals], type=L))
        return out
    vals = s.astype(object).to_numpy()          # anything else: json decides, value by value
    return pa.array([None if m else _dumps(v) for v, m in zip(vals.tolist(), na)], type=L)


def _plain_text(arr) -> bool:
    """True when no value of a string array holds a character JSON escapes (control
    characters, quote, backslash): one pass over the bytes of its data buffer."""
    import pyarrow as pa

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if len(arr) == 0:
        return True
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset:
                                                               arr.offset + len(arr) + 1]
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]] \
        if arr.buffers()[2] is not None else np.zeros(0, dtype=np.uint8)
    return not bool(((data < 0x20) | (data == 0x22) | (data == 0x5C)).any())


def _rows_json(frame: pd.DataFrame, columns: list[dict[str, Any]], sep: str) -> memoryview:
    """The rows of ``frame`` as JSON arrays (``[cell,cell,...]``), each followed by ``sep``,
    as UTF-8 bytes: the bytes ``json.dumps(row, separators=(",", ":"))`` writes, built a
    column at a time with Arrow instead of value by value."""
    import pyarrow as pa
    import pyarrow.compute as pc

    L = pa.large_string()
    cells = [pc.fill_null(_cells_json(frame[m["name"]], m), pa.scalar("null", type=L))
             for m in columns]
    body = pc.binary_join_element_wise(*cells, pa.scalar(",", type=L))
    rows = pc.binary_join_element_wise(pa.scalar("[", type=L), body,
                                       pa.scalar("]" + sep, type=L), pa.scalar("", type=L))
    if isinstance(rows, pa.ChunkedArray):
        rows = rows.combine_chunks()
    if not len(rows):
        return memoryview(b"")
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int64)[rows.offset:
                                                                rows.offset + len(rows) + 1]
    return memoryview(rows.buffers()[2])[offsets[0]:offsets[-1]]


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
    (name, label, labels, columns, records, metadata_ref: the metaDataRef). Raises InputError for files that are not
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
            "metadata_ref": str(doc.get("metaDataRef") or ""),     # the define.xml, if named
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
