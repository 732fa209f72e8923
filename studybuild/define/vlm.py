"""Value-level metadata derived from the data, for datasets whose metadata gives none.

A vertical dataset stores different things in one column depending on a code: TRORRES is a
diameter when TRTESTCD is LDIAM and a lesion state when it is TUMSTATE; AVAL is days when
PARAMCD is OS and a response code when it is BOR. define.xml describes each with a
``def:ValueListDef`` whose items carry a ``def:WhereClauseDef`` (TRTESTCD EQ LDIAM).

:func:`derive_value_level` gives one :class:`~studybuild.metadata.ValueLevel` per code value
actually present and per result variable that has values under it:

=============================  ======================  =========================================
dataset                        condition variable      result variables
=============================  ======================  =========================================
SDTM findings (``--TESTCD``)   ``--TESTCD``            ``--ORRES``, ``--STRESC``, ``--STRESN``
TS                             TSPARMCD                TSVAL
SUPPxx                         QNAM                    QVAL (origin from QORIG)
ADaM BDS (PARAMCD)             PARAMCD                 AVAL, AVALC
=============================  ======================  =========================================

The label is the code's decode in the data (``--TEST``, TSPARM, QLABEL, PARAM); origin and
method are the parent variable's. Loops are over code values (parameters), never over records.
"""

from __future__ import annotations

from typing import Mapping

import pandas as pd

from studybuild.metadata import ValueLevel, VariableMeta

_QORIG = {"CRF": "Collected", "COLLECTED": "Collected", "EDT": "Collected",
          "DERIVED": "Derived", "ASSIGNED": "Assigned", "PROTOCOL": "Protocol",
          "PREDECESSOR": "Predecessor"}


def _first_by(frame: pd.DataFrame, by: str, col: str) -> dict[str, str]:
    if col not in frame.columns:
        return {}
    sub = frame[[by, col]].dropna().drop_duplicates(by)
    return dict(zip(sub[by].astype("str"), sub[col].astype("str")))


def _entries(frame: pd.DataFrame, dataset: str, by: str, results: list[str],
             variables: Mapping[str, VariableMeta], labels: Mapping[str, str],
             origins: Mapping[str, str] | None = None,
             sources: Mapping[str, str] | None = None) -> list[ValueLevel]:
    out: list[ValueLevel] = []
    codes = frame[by].astype("str")
    present = frame[by].notna()
    for res in results:
        if res not in frame.columns:
            continue
        parent = variables.get(res)
        has = frame[res].notna() & present
        if not has.any():
            continue
        for code in sorted(codes[has].unique().tolist()):
            origin = (origins or {}).get(code) or (parent.origin if parent else "Derived")
            out.append(ValueLevel(
                dataset=dataset, variable=res, where=((by, code),),
                label=labels.get(code, "") or (parent.label if parent else res),
                type=parent.type if parent else "Char",
                codelist=None, origin=origin,
                source=(sources or {}).get(code, "") or (parent.source if parent else ""),
                method=parent.method if parent else ""))
    return out


def derive_value_level(dataset: str, frame: pd.DataFrame,
                       variables: Mapping[str, VariableMeta], *, kind: str
                       ) -> list[ValueLevel]:
    """Value-level metadata for ``dataset`` from its data (see the module docstring)."""
    name = dataset.upper()
    cols = set(frame.columns)
    if frame.empty:
        return []
    if kind == "ADaM":
        if "PARAMCD" not in cols:
            return []
        labels = _first_by(frame, "PARAMCD", "PARAM")
        return _entries(frame, name, "PARAMCD", ["AVAL", "AVALC"], variables, labels)
    if name.startswith("SUPP") and {"QNAM", "QVAL"} <= cols:
        labels = _first_by(frame, "QNAM", "QLABEL")
        origins = {k: _QORIG.get(v.strip().upper(), "Derived")
                   for k, v in _first_by(frame, "QNAM", "QORIG").items()}
        return _entries(frame, name, "QNAM", ["QVAL"], variables, labels, origins)
    if name == "TS" and "TSPARMCD" in cols:
        labels = _first_by(frame, "TSPARMCD", "TSPARM")
        return _entries(frame, name, "TSPARMCD", ["TSVAL"], variables, labels)
    prefix = name[:2]
    testcd = f"{prefix}TESTCD"
    if testcd in cols:
        labels = _first_by(frame, testcd, f"{prefix}TEST")
        results = [f"{prefix}ORRES", f"{prefix}STRESC", f"{prefix}STRESN"]
        return _entries(frame, name, testcd, results, variables, labels)
    return []
