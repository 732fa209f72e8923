"""Apply a corruption case (tests/data/validation/cases.yaml) to a copy of a base study.

Kept beside the data so the case format and its interpreter are read together; imported by
tests/test_validation_rules.py. Operations, applied in order:

- ``{set: DS, row: N | all, values: {VAR: value}}``  change values (``null`` = missing)
- ``{drop: DS, columns: [VAR, ...]}``                 remove variables
- ``{add: DS, column: VAR, value: v}``                add a variable (same value in every row)
- ``{append: DS, copy: N, values: {...}}``            add a copy of row N (changed) at the end
- ``{new_dataset: DS, rows: [{VAR: v, ...}, ...]}``   add a dataset
- ``{remove_dataset: DS}``                            remove a dataset
- ``{labels: DS, values: {VAR: label}}``              set variable labels (frame attrs)
- ``{dataset_label: DS, value: label}``               set the dataset label
- ``{rename: DS, to: NEW}``                           rename a dataset
- ``{move: DS, column: VAR, to: N}``                   move a variable to 0-based position N

A case may also give ``sizes: {DS: bytes}`` (file sizes) and ``study: true`` (check against
the base study's study.yaml).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd


def _set_values(frame: pd.DataFrame, rows, values: Mapping[str, Any]) -> pd.DataFrame:
    out = frame.copy()
    for col, value in values.items():
        if col not in out.columns:
            out[col] = pd.Series([None] * len(out), dtype="str")
        s = out[col]
        if pd.api.types.is_datetime64_any_dtype(s) and value is not None:
            value = pd.Timestamp(value)
        elif pd.api.types.is_numeric_dtype(s) and value is not None and \
                not isinstance(value, (int, float)):
            s = s.astype(object)
        elif isinstance(s.dtype, pd.StringDtype) and value is not None and \
                not isinstance(value, str):
            s = s.astype(object)
        s = s.copy()
        idx = out.index if rows == "all" else [out.index[r - 1] for r in rows]
        if value is None:
            s.loc[idx] = np.nan if pd.api.types.is_numeric_dtype(s) else None
        else:
            s.loc[idx] = value
        out[col] = s
    return out


def apply(frames: Mapping[str, pd.DataFrame], ops: list[Mapping[str, Any]]
          ) -> dict[str, pd.DataFrame]:
    out = {k: v.copy() for k, v in frames.items()}
    for k, v in frames.items():
        out[k].attrs = dict(v.attrs)
    for op in ops:
        if "set" in op:
            ds = op["set"]
            row = op.get("row", "all")
            rows = "all" if row == "all" else ([row] if isinstance(row, int) else list(row))
            out[ds] = _set_values(out[ds], rows, op["values"])
        elif "drop" in op:
            ds = op["drop"]
            out[ds] = out[ds].drop(columns=list(op["columns"]))
        elif "add" in op:
            ds = op["add"]
            f = out[ds].copy()
            value = op.get("value")
            f[op["column"]] = pd.Series([value] * len(f), index=f.index,
                                        dtype="str" if isinstance(value, str) or
                                        value is None else None)
            out[ds] = f
        elif "append" in op:
            ds = op["append"]
            f = out[ds]
            new = f.iloc[[op["copy"] - 1]].copy()
            new = _set_values(new.reset_index(drop=True), "all", op.get("values") or {})
            g = pd.concat([f, new], ignore_index=True)
            for c in f.columns:
                if isinstance(f[c].dtype, pd.StringDtype) and g[c].dtype == object:
                    try:
                        g[c] = g[c].astype("str")
                    except (TypeError, ValueError):
                        pass
            out[ds] = g
        elif "new_dataset" in op:
            rows = op["rows"]
            f = pd.DataFrame(rows)
            for c in f.columns:
                if f[c].dtype == object:
                    f[c] = f[c].astype("str")
            out[op["new_dataset"]] = f
        elif "remove_dataset" in op:
            out.pop(op["remove_dataset"])
        elif "labels" in op:
            ds = op["labels"]
            labels = dict(out[ds].attrs.get("labels") or {})
            labels.update(op["values"])
            out[ds].attrs["labels"] = labels
        elif "dataset_label" in op:
            out[op["dataset_label"]].attrs["label"] = op["value"]
        elif "rename" in op:
            out[op["to"]] = out.pop(op["rename"])
        elif "move" in op:
            f = out[op["move"]]
            cols = [c for c in f.columns if c != op["column"]]
            cols.insert(op["to"], op["column"])
            out[op["move"]] = f[cols]
        else:
            raise ValueError(f"unknown case operation {op}")
    return out
