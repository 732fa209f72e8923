"""A small, vectorised interpreter for declarative conformance rules.

Rules are data: the published CDISC CORE rules (``specs/standards/core-rules/rules/*.yml``) and
studybuild's own cross-dataset rules (``validation/rules/studybuild.yaml``) share one grammar,
CORE's: a ``Check`` tree of ``all``/``any``/``not`` over leaf conditions (``name``, ``operator``,
``value``, ...), ``Operations`` that compute helper values (``$ids``) from this or other datasets,
and ``Match Datasets`` that join another dataset by keys. :func:`compile_rule` turns one rule
record into a :class:`Rule`; :func:`Rule.run` evaluates it over a :class:`StudyData` and
returns the flagged rows. Every operator works on whole columns (pandas), never row by row.

Semantics follow the CORE engine's documentation (``engine-schema/Operator.md``) with these
deliberate choices, all documented in ``docs/rules.md``:

- ``--`` in a name is the dataset's domain prefix (``--SEQ`` in AE is ``AESEQ``).
- A string ``value`` names a column when the (prefix-expanded) column exists, else it is a
  literal (``value_is_literal: true`` forces a literal), as in CORE.
- ``equal_to`` is False when either side is null; ``not_equal_to`` is False when both are null
  and True when only one is (CORE's truth table).
- A condition on a variable the dataset does not have makes the rule not applicable to that
  dataset (CORE reports such rules as skipped), except inside ``any``, where it is False.
- An operation on a domain that is not in the study makes the rule not applicable.
- Dates are compared at their common precision (see :mod:`validation.iso8601`).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from validation import iso8601
from validation.iso8601 import regex_mask

# --------------------------------------------------------------------------------------------
# Exceptions that steer evaluation
# --------------------------------------------------------------------------------------------


class NotApplicable(Exception):
    """The rule does not apply to this dataset (a variable or domain it needs is absent)."""


class Unsupported(Exception):
    """The rule uses a feature this engine does not implement (decided at compile time)."""


NULL_TEXT = {""}

# --------------------------------------------------------------------------------------------
# The study being checked
# --------------------------------------------------------------------------------------------

_SDTM_CLASS = {"Interventions": "INTERVENTIONS", "Events": "EVENTS", "Findings": "FINDINGS",
               "Special-Purpose": "SPECIAL PURPOSE", "Trial Design": "TRIAL DESIGN",
               "Relationship": "RELATIONSHIP", "Findings About": "FINDINGS ABOUT",
               "Study Reference": "STUDY REFERENCE"}


def sdtm_class(name: str, columns: Iterable[str]) -> str:
    """Observation class of an SDTM dataset: from the IG, else guessed from its topic variable
    (custom domains): --TESTCD -> FINDINGS, --TRT -> INTERVENTIONS, --TERM -> EVENTS."""
    from studybuild import standards

    up = name.upper()
    if up.startswith("SUPP") or up in ("RELREC", "RELSUB", "RELSPEC"):
        return "RELATIONSHIP"
    try:
        return _SDTM_CLASS.get(standards.sdtmig().dataset(up).class_, "")
    except standards.StandardsLookupError:
        pass
    if up[:2] == "AP":
        up = up[2:]
    cols = {str(c).upper() for c in columns}
    p = up[:2]
    if f"{p}TESTCD" in cols or f"{p}ORRES" in cols:
        return "FINDINGS"
    if f"{p}TRT" in cols:
        return "INTERVENTIONS"
    if f"{p}TERM" in cols:
        return "EVENTS"
    return ""


@dataclass
class StudyData:
    """Everything a rule may look at: the datasets, their labels and file facts, the study."""

    frames: Mapping[str, pd.DataFrame]
    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)   # var labels
    dataset_labels: Mapping[str, str] = field(default_factory=dict)
    sizes: Mapping[str, int] = field(default_factory=dict)                  # bytes on disk
    locations: Mapping[str, str] = field(default_factory=dict)              # file names
    formats: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # SAS formats
    study: Any = None                                                       # studybuild Study

    def __post_init__(self) -> None:
        self.frames = {k.upper(): v for k, v in self.frames.items()}
        self._class: dict[str, str] = {}
        self._cache: dict[tuple, Any] = {}

    def cached(self, key: tuple, make: Any) -> Any:
        """Memoise an expensive per-study value (e.g. a dataset's variable metadata)."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    @property
    def names(self) -> list[str]:
        return sorted(self.frames)

    def kind(self, name: str) -> str:
        return "ADaM" if name.upper().startswith("AD") else "SDTM"

    def class_of(self, name: str) -> str:
        if name not in self._class:
            self._class[name] = ("ADAM" if self.kind(name) == "ADaM"
                                 else sdtm_class(name, self.frames[name].columns))
        return self._class[name]

    def prefix(self, name: str) -> str:
        """Domain prefix for ``--`` names: the DOMAIN value, else the first two letters."""
        return self.cached(("prefix", name), lambda: self._prefix(name))

    def _prefix(self, name: str) -> str:
        frame = self.frames.get(name)
        if frame is not None and "DOMAIN" in frame.columns and len(frame):
            vals = frame["DOMAIN"].dropna().unique()
            if len(vals) == 1 and isinstance(vals[0], str) and len(vals[0]) == 2:
                return vals[0]
        up = name.upper()
        return up[2:4] if up.startswith("AP") and len(up) >= 4 else up[:2]


# --------------------------------------------------------------------------------------------
# Compiled rules
# --------------------------------------------------------------------------------------------

SUPPORTED_TYPES = ("Record Data", "Variable Metadata Check", "Domain Presence Check",
                   "Dataset Metadata Check", "Value Check with Variable Metadata")

OPERATORS: dict[str, Any] = {}      # filled below: name -> function(evaluator, leaf) -> Series
OPERATIONS: dict[str, Any] = {}     # name -> function(evaluator, spec) -> value


@dataclass
class Hit:
    """One flagged row (or a dataset-level flag when ``row`` is None)."""

    dataset: str
    row: int | None                 # 0-based position in the dataset's frame
    variable: str
    value: str | None
    keys: tuple[tuple[str, str], ...] = ()


@dataclass
class Rule:
    id: str
    rule_type: str
    check: Any
    operations: list[dict]
    match: list[dict]
    scope: dict
    sensitivity: str
    output_variables: list[str]
    standard: str                   # "SDTM", "ADaM" or "any"
    refs: frozenset = frozenset()   # every name the rule mentions (unexpanded)
    needed: tuple = ()              # names every flagged row needs (top-level 'all' leaves)
    dynamic: bool = False           # names come from operations ($lists): no column pruning
    subject: tuple = ()             # the variables the rule is about (CORE's "# Variable:")

    def __post_init__(self) -> None:
        self.refs = frozenset(_all_refs(self))
        self.needed = tuple(_needed_names(self.check))
        self.dynamic = any(op.get("operator") in ("get_dataset_filtered_variables",
                                                  "get_model_filtered_variables")
                           for op in self.operations)

    # -- scope ---------------------------------------------------------------------------
    def applies_to(self, data: StudyData, name: str) -> bool:
        if self.standard != "any" and data.kind(name) != self.standard:
            return False
        scope = self.scope or {}
        doms = (scope.get("Domains") or {})
        inc = [str(d).upper() for d in (doms.get("Include") or ["ALL"])]
        exc = [str(d).upper() for d in (doms.get("Exclude") or [])]
        up = name.upper()

        def hit(pats: list[str]) -> bool:
            for p in pats:
                if p == "ALL" or p == up:
                    return True
                if p.endswith("--") and up.startswith(p[:-2]) and len(up) > len(p) - 2:
                    return True
            return False

        if not hit(inc) or hit(exc):
            return False
        classes = scope.get("Classes") or {}
        cinc = [str(c).upper() for c in (classes.get("Include") or ["ALL"])]
        cexc = [str(c).upper() for c in (classes.get("Exclude") or [])]
        cls = data.class_of(up)
        if "ALL" not in cinc and cls not in cinc:
            # FINDINGS ABOUT domains are findings too
            if not (cls == "FINDINGS ABOUT" and "FINDINGS" in cinc):
                return False
        if cls in cexc:
            return False
        return True

    # -- evaluation ----------------------------------------------------------------------
    def run(self, data: StudyData) -> list[Hit]:
        """Evaluate the rule on every dataset in scope. Raises nothing for data problems:
        not-applicable datasets are skipped."""
        if self.rule_type == "Domain Presence Check":
            return self._run_presence(data)
        hits: list[Hit] = []
        for name in data.names:
            if not self.applies_to(data, name):
                continue
            try:
                if self.rule_type == "Record Data":
                    hits.extend(self._run_records(data, name))
                elif self.rule_type == "Variable Metadata Check":
                    hits.extend(self._run_variables(data, name))
                elif self.rule_type == "Dataset Metadata Check":
                    hits.extend(self._run_dataset_meta(data, name))
                elif self.rule_type == "Value Check with Variable Metadata":
                    hits.extend(self._run_values(data, name))
            except NotApplicable:
                continue
        return hits

    def _run_presence(self, data: StudyData) -> list[Hit]:
        if self.standard != "any" and not any(data.kind(n) == self.standard
                                              for n in data.names):
            return []
        work = pd.DataFrame({n: [data.locations.get(n, n.lower())] for n in data.names})
        # a presence rule may name the dataset its operations look at (Match Datasets)
        focus = next((str(m.get("Name", "")).upper() for m in self.match
                      if str(m.get("Name", "")).upper() in data.frames), "")
        ev = Evaluator(self, data, focus, work)
        try:
            ev.run_operations()
            mask = ev.evaluate(self.check)
        except NotApplicable:
            return []
        if not bool(mask.any()):
            return []
        names = [n for n in _leaf_names(self.check) if not n.startswith("$")]
        return [Hit(dataset=names[0] if names else "", row=None, variable="",
                    value=", ".join(names) or None)]

    def _run_records(self, data: StudyData, name: str) -> list[Hit]:
        frame = data.frames[name]
        if len(frame) == 0:
            return []
        if not isinstance(frame.index, pd.RangeIndex) or frame.index.start != 0:
            frame = frame.reset_index(drop=True)
        if not self._may_apply(data, name, frame):
            return []
        ev = Evaluator(self, data, name, frame, base=True)
        ev.merge_matches()
        ev.run_operations()
        mask = ev.evaluate(self.check).to_numpy(dtype=bool)
        if not mask.any():
            return []
        mask = self._unless_some_match_agrees(ev, mask)
        if not mask.any():
            return []
        pos = np.flatnonzero(mask)
        if self.sensitivity == "Dataset":
            return [Hit(dataset=name, row=None, variable=ev.report_variable(),
                        value=ev.text_at(pos[:1])[0])]
        return ev.hits(pos)

    def _unless_some_match_agrees(self, ev: "Evaluator", mask: np.ndarray) -> np.ndarray:
        """A record that meets several records of a matched dataset (a visit on the day one
        element ends and the next starts meets both SE records) is flagged by a check
        ``X not_equal_to MATCHED.Y`` only when none of the matched records that meet the
        other conditions agrees: SV.EPOCH may be either element's epoch on that day
        (CORE-000097, CORE-000784, CORE-000249)."""
        check = self.check
        parts = check.get("all") if isinstance(check, dict) else None
        if not self.match or not isinstance(parts, list) or "__row" not in ev.work.columns:
            return mask
        names = [str(m.get("Name", "")).upper() for m in self.match]
        idx = [i for i, p in enumerate(parts) if isinstance(p, dict) and
               p.get("operator") == "not_equal_to" and isinstance(p.get("value"), str) and
               any(p["value"].upper().startswith(f"{n}.") for n in names)]
        if len(idx) != 1:
            return mask
        rows = ev.rows()
        if len(np.unique(rows)) == len(rows):   # one match per record: nothing to decide
            return mask
        agree = dict(parts[idx[0]], operator="equal_to")
        ok = ev.evaluate({"all": parts[:idx[0]] + parts[idx[0] + 1:] + [agree]})
        agreed = np.unique(rows[ok.to_numpy(dtype=bool)])
        return mask & ~np.isin(rows, agreed)

    def _may_apply(self, data: StudyData, name: str, frame: pd.DataFrame) -> bool:
        """Cheap pre-check: every variable a flagged row needs is in the dataset or in a
        dataset the rule matches; every top-level existence check holds."""
        pfx = data.prefix(name)
        matched = [data.frames[str(m.get("Name", "")).upper()] for m in self.match
                   if str(m.get("Name", "")).upper() in data.frames]
        for op, n in self.needed:
            full = pfx + n[2:] if n.startswith("--") else n
            if op == "exists":
                if full not in frame.columns:
                    return False
                continue
            if op == "not_exists":
                if full in frame.columns:
                    return False
                continue
            if "." in full:
                continue
            if full in frame.columns:
                continue
            if any(full in f.columns or (n.startswith("--") and
                                         (data.prefix(m) + n[2:]) in f.columns)
                   for m, f in zip([str(x.get("Name", "")).upper() for x in self.match
                                    if str(x.get("Name", "")).upper() in data.frames],
                                   matched)):
                continue
            return False
        return True

    def _variables_frame(self, data: StudyData, name: str) -> pd.DataFrame:
        return data.cached(("variables", name), lambda: self._make_variables_frame(data, name))

    def _make_variables_frame(self, data: StudyData, name: str) -> pd.DataFrame:
        frame = data.frames[name]
        labels = data.labels.get(name, {})
        formats = data.formats.get(name, {})
        cols = [str(c) for c in frame.columns]
        sizes, types, empties, anyempty = [], [], [], []
        for c in cols:
            s = frame[c]
            num = pd.api.types.is_numeric_dtype(s) or pd.api.types.is_datetime64_any_dtype(s)
            types.append("Num" if num else "Char")
            miss = s.isna()
            if num or miss.all():
                sizes.append(8 if num else 1)
            else:       # longest value in characters (bytes for ASCII text)
                sizes.append(int(iso8601.as_text(s).str.len().max()))
            empties.append(bool(miss.all()))
            anyempty.append(bool(miss.any()))
        return pd.DataFrame({
            "variable_name": cols,
            "variable_label": [labels.get(c, "") for c in cols],
            "variable_size": sizes, "variable_max_size": sizes,
            "variable_data_type": types,
            "variable_order_number": list(range(1, len(cols) + 1)),
            "variable_format": [formats.get(c, "") for c in cols],
            "variable_is_empty": empties, "variable_has_empty_values": anyempty,
        })

    def _run_variables(self, data: StudyData, name: str) -> list[Hit]:
        work = self._variables_frame(data, name)
        if work.empty:
            return []
        ev = Evaluator(self, data, name, work)
        ev.run_operations()
        mask = ev.evaluate(self.check)
        flagged = work.loc[mask.to_numpy(dtype=bool)]
        if flagged.empty:
            return []
        per_variable = any(not n.startswith("$") for n in _leaf_names(self.check)) and not any(
            _leaf_op(self.check, op) for op in ("not_contains_all", "contains_all"))
        if not per_variable:
            return [Hit(dataset=name, row=None, variable="", value=ev.value_text(flagged.iloc[0]))]
        return [Hit(dataset=name, row=None, variable=str(r.variable_name),
                    value=ev.value_text(pd.Series(r._asdict()))) for r in _records(flagged)]

    def _run_dataset_meta(self, data: StudyData, name: str) -> list[Hit]:
        work = pd.DataFrame({"dataset_name": [name],
                             "dataset_label": [data.dataset_labels.get(name, "")],
                             "dataset_size": [data.sizes.get(name, 0)],
                             "dataset_location": [data.locations.get(name, name.lower())]})
        frame = data.frames[name]
        if "DOMAIN" in frame.columns:
            work["DOMAIN"] = data.prefix(name)
        ev = Evaluator(self, data, name, work)
        ev.run_operations()
        mask = ev.evaluate(self.check)
        if not bool(mask.any()):
            return []
        return [Hit(dataset=name, row=None, variable="", value=ev.value_text(work.iloc[0]))]

    def _run_values(self, data: StudyData, name: str) -> list[Hit]:
        """Value checks look at every cell. The conditions that only involve variable metadata
        (type, name, label) are decided once per variable on the variable table; the value
        conditions then run on the cells of the variables that passed."""
        frame = data.frames[name].reset_index(drop=True)
        check = self.check if isinstance(self.check, dict) else {"all": self.check}
        parts = check.get("all") if isinstance(check, dict) and "all" in check else [check]
        parts = parts if isinstance(parts, list) else [parts]
        value_names = {"variable_value", "row_number", "variable_value_length"}
        var_parts = [p for p in parts if isinstance(p, dict) and "operator" in p and
                     p.get("name") not in value_names]
        val_parts = [p for p in parts if p not in var_parts]
        vars_frame = self._variables_frame(data, name)
        vmask = np.ones(len(vars_frame), dtype=bool)
        if var_parts:
            ev = Evaluator(self, data, name, vars_frame)
            ev.run_operations()
            vmask = ev.evaluate({"all": var_parts}).to_numpy(dtype=bool)
        hits: list[Hit] = []
        cols = [c for c, keep in zip(vars_frame["variable_name"], vmask) if keep]
        subj = frame["USUBJID"] if "USUBJID" in frame.columns else None
        fast = _value_masks(val_parts)
        if fast is not None:
            # conditions on the value alone: decided once per distinct value of a column
            subj_arr = None if subj is None else subj.to_numpy()
            for col in cols:
                codes, uniq = pd.factorize(iso8601.as_text(frame[col]))
                if not len(uniq):
                    continue
                uniq = pd.Series(uniq, dtype="str")
                mu = fast(uniq)
                if not mu.any():
                    continue
                rows = np.flatnonzero(mu[codes] & (codes >= 0))
                vals = uniq.to_numpy()[codes[rows]]
                for r, v in zip(rows.tolist(), vals.tolist()):
                    keys = (("USUBJID", _show(subj_arr[r])),) if subj_arr is not None else ()
                    hits.append(Hit(dataset=name, row=int(r), variable=str(col), value=str(v),
                                    keys=keys))
            return hits
        chunk: list[tuple[str, pd.Series]] = []
        size = 0
        for i, col in enumerate(cols):
            text = iso8601.as_text(frame[col])
            text = text[text.notna()]
            if len(text):
                chunk.append((col, text))
                size += len(text)
            if chunk and (size >= 2_000_000 or i == len(cols) - 1):
                hits.extend(self._values_chunk(data, name, chunk, val_parts, subj))
                chunk, size = [], 0
        return hits

    def _values_chunk(self, data: StudyData, name: str, chunk: list, val_parts: list,
                      subj: pd.Series | None) -> list[Hit]:
        """Evaluate value conditions on several columns at once (stacked long); simple
        conditions on ``variable_value`` alone are decided per distinct value instead
        (:meth:`_run_values`)."""
        values = pd.concat([t for _, t in chunk], ignore_index=True)
        rows = np.concatenate([t.index.to_numpy() for _, t in chunk])
        names = np.concatenate([np.full(len(t), c, dtype=object) for c, t in chunk])
        work = pd.DataFrame({"variable_value": values,
                             "row_number": rows + 1,
                             "variable_name": pd.Categorical(names)})
        ev = Evaluator(self, data, name, work)
        ev.run_operations()
        mask = ev.evaluate({"all": val_parts}).to_numpy(dtype=bool) if val_parts else \
            np.ones(len(work), dtype=bool)
        if not mask.any():
            return []
        pos = np.flatnonzero(mask)
        out = []
        subj_text = None if subj is None else subj.to_numpy()
        vals = values.to_numpy()
        for p in pos:
            r = int(rows[p])
            keys = (("USUBJID", _show(subj_text[r])),) if subj_text is not None else ()
            out.append(Hit(dataset=name, row=r, variable=str(names[p]), value=str(vals[p]),
                           keys=keys))
        return out


def _value_masks(parts: list) -> Any:
    """A vectorised mask function for value conditions that only look at ``variable_value``
    with simple operators, or None."""
    simple = ("matches_regex", "not_matches_regex", "equal_to", "not_equal_to", "empty",
              "non_empty")
    if not parts or not all(isinstance(p, dict) and p.get("name") == "variable_value" and
                            p.get("operator") in simple and
                            not isinstance(p.get("value"), (list, dict)) for p in parts):
        return None

    def fn(t: pd.Series) -> np.ndarray:
        m = np.ones(len(t), dtype=bool)
        for p in parts:
            op, v = p["operator"], p.get("value")
            present = t.notna() & (t.str.strip() != "")
            if op == "empty":
                r = ~present
            elif op == "non_empty":
                r = present
            elif op in ("matches_regex", "not_matches_regex"):
                hit = regex_mask(t, str(v))
                r = present.to_numpy(dtype=bool) & (hit if op == "matches_regex" else ~hit)
            elif op == "equal_to":
                r = present & (t == str(v)).fillna(False)
            else:
                r = present & ~(t == str(v)).fillna(False)
            m &= np.asarray(r, dtype=bool)
        return m

    return fn


def _all_refs(rule: "Rule") -> set[str]:
    out: set[str] = set()

    def add(v: Any) -> None:
        if isinstance(v, str):
            out.add(v)
        elif isinstance(v, list):
            for x in v:
                add(x)
        elif isinstance(v, dict):
            for k, x in v.items():
                if k in ("name", "value", "within", "ordering", "group", "group_aliases",
                         "Left", "Right", "Keys", "filter", "all", "any", "not"):
                    add(x)
                if k == "filter" and isinstance(x, dict):
                    out.update(str(c) for c in x)

    add(rule.check)
    for op in rule.operations:
        add(op)
    for m in rule.match:
        add(m.get("Keys"))
    add(rule.output_variables)
    return out


def _needed_names(check: Any) -> list[tuple[str, str]]:
    """(operator, name) of the leaves of the top-level 'all' (recursively through 'all'):
    a row can only be flagged if each of these can be evaluated."""
    out: list[tuple[str, str]] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for x in node:
                walk(x)
            return
        if not isinstance(node, dict):
            return
        if "all" in node:
            walk(node["all"])
            return
        if "any" in node or "not" in node:
            return
        name = node.get("name")
        op = node.get("operator")
        if isinstance(name, str) and not name.startswith("$"):
            out.append(("exists" if op == "exists" else
                        "not_exists" if op == "not_exists" else "uses", name))

    walk(check)
    return out


def _records(frame: pd.DataFrame):
    return frame.itertuples(index=False)


def _leaf_names(check: Any) -> list[str]:
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "operator" in node and "name" in node:
                out.append(str(node["name"]))
            for k in ("all", "any", "not"):
                if k in node:
                    walk(node[k])
        elif isinstance(node, list):
            for x in node:
                walk(x)

    walk(check)
    return out


def _leaf_op(check: Any, op: str) -> bool:
    found = False

    def walk(node: Any) -> None:
        nonlocal found
        if isinstance(node, dict):
            if node.get("operator") == op:
                found = True
            for k in ("all", "any", "not"):
                if k in node:
                    walk(node[k])
        elif isinstance(node, list):
            for x in node:
                walk(x)

    walk(check)
    return found


# --------------------------------------------------------------------------------------------
# Evaluation of one rule on one dataset
# --------------------------------------------------------------------------------------------

@dataclass
class Grouped:
    """A per-group set of values (``distinct`` with ``group``): ``frame`` holds the group
    columns (named as in the evaluated dataset) and a ``__value`` column."""

    keys: list[str]
    frame: pd.DataFrame


class Evaluator:
    """Evaluates one rule on one dataset. ``work`` is the dataset itself (never modified)
    until a ``Match Datasets`` join replaces it by the joined frame (with ``__row`` holding
    the original row); operation results live beside it in ``extra``."""

    def __init__(self, rule: Rule, data: StudyData, name: str, work: pd.DataFrame,
                 *, base: bool = False):
        self.rule = rule
        self.data = data
        self.name = name
        self.work = work
        self.extra: dict[str, pd.Series] = {}
        self.env: dict[str, Any] = {}
        self.pfx = data.prefix(name) if name else ""
        self.base = base            # work is the dataset's own frame: text can be cached
        self._tcache: dict[str, pd.Series] = {}

    # -- names ---------------------------------------------------------------------------
    def x(self, name: Any, prefix: str | None = None) -> Any:
        """Expand ``--`` to the domain prefix."""
        if isinstance(name, str) and name.startswith("--"):
            return (self.pfx if prefix is None else prefix) + name[2:]
        return name

    def has(self, name: str) -> bool:
        return name in self.extra or name in self.work.columns

    def rows(self) -> np.ndarray:
        """Original 0-based row of each work row."""
        if "__row" in self.work.columns:
            return self.work["__row"].to_numpy()
        return np.arange(len(self.work))

    def column(self, name: Any) -> pd.Series:
        name = self.x(name)
        if name in self.extra:
            return self.extra[name]
        if isinstance(name, str) and name.startswith("$"):
            if name not in self.env:
                raise NotApplicable(name)
            val = self.env[name]
            if isinstance(val, Grouped):
                raise _GroupedTarget(val)
            return pd.Series([val] * len(self.work), index=self.work.index, dtype=object)
        if name not in self.work.columns:
            raise NotApplicable(name)
        return self.work[name]

    def tcol(self, name: Any) -> pd.Series:
        """Text form of a column (cached)."""
        name = self.x(name)
        if name in self._tcache:
            return self._tcache[name]
        col = self.column(name)
        if self.base and name in self.work.columns:
            t = self.data.cached(("text", self.name, name), lambda: _text(col))
        else:
            t = _text(col)
        self._tcache[name] = t
        return t

    def empty(self, name: Any) -> pd.Series:
        name = self.x(name)
        col = self.column(name)
        if self.base and name in self.work.columns:
            return self.data.cached(("empty", self.name, name), lambda: _empty(col))
        return _empty(col)

    def comparator(self, leaf: Mapping) -> Any:
        value = leaf.get("value")
        if leaf.get("value_is_literal"):
            return value
        if isinstance(value, str):
            v = self.x(value)
            if v.startswith("$"):
                if v in self.extra:
                    return self.extra[v]
                if v not in self.env:
                    raise NotApplicable(v)
                return self.env[v]
            if v in self.work.columns:
                return self.work[v]
            return value
        if isinstance(value, list):
            out: list[Any] = []
            for item in value:
                if isinstance(item, str) and item.startswith("$"):
                    got = self.env.get(item)
                    if isinstance(got, (list, tuple, set)):
                        out.extend(got)
                    elif got is not None:
                        out.append(got)
                else:
                    out.append(item)
            return out
        return value

    # -- preparation ---------------------------------------------------------------------
    def merge_matches(self) -> None:
        for m in self.rule.match or []:
            other = str(m.get("Name", "")).upper()
            if other not in self.data.frames or other == self.name:
                raise NotApplicable(other)
            right = self.data.frames[other]
            lkeys, rkeys = [], []
            for k in m.get("Keys") or []:
                if isinstance(k, dict):
                    lkeys.append(self.x(k.get("Left")))
                    rkeys.append(self.x(k.get("Right"), self.data.prefix(other)))
                else:
                    lkeys.append(self.x(k))
                    rkeys.append(self.x(k, self.data.prefix(other)))
            if not lkeys or any(k not in self.work.columns for k in lkeys) or \
                    any(k not in right.columns for k in rkeys):
                raise NotApplicable(other)
            left = self.work
            if not self.rule.dynamic:
                refs = {self.x(r) for r in self.rule.refs} | set(lkeys) | {"__row"}
                refs |= {r.split(".", 1)[1] for r in list(refs) if isinstance(r, str) and
                         r.startswith(f"{other}.")}
                left = left[[c for c in left.columns if c in refs]]
                opfx = self.data.prefix(other)
                rrefs = refs | {self.x(r, opfx) for r in self.rule.refs} | set(rkeys)
                right = right[[c for c in right.columns if c in rrefs]]
            if "__row" not in left.columns:
                left = left.assign(__row=np.arange(len(self.work)))
            rename = {c: (f"{other}.{c}" if c in left.columns else c)
                      for c in right.columns if c not in rkeys}
            r = right.rename(columns=rename)
            for lk, rk in zip(lkeys, rkeys):
                if left[lk].dtype != r[rk].dtype:
                    left = left.assign(**{lk: _text(left[lk])})
                    r = r.assign(**{rk: _text(r[rk])})
            how = "left" if str(m.get("Join Type", "inner")).lower() == "left" else "inner"
            merged = _lookup_join(left, r, lkeys, rkeys, how)
            if merged is None:
                # guard against a many-to-many explosion on bad data
                lc = left.groupby(lkeys, dropna=False).size()
                rc = r.groupby(rkeys, dropna=False).size()
                rc.index.names = lkeys
                size = int((lc * rc.reindex(lc.index).fillna(0)).sum())
                if size > 50_000_000:
                    raise NotApplicable(f"{other}: join too large")
                merged = left.merge(r, how=how, left_on=lkeys, right_on=rkeys,
                                    suffixes=("", f".{other}"))
            # every column of the matched dataset is also reachable as NAME.column
            alias = {f"{other}.{c}": merged[c] for c in right.columns
                     if c not in rkeys and rename.get(c) == c and f"{other}.{c}" not in merged}
            if alias:
                merged = merged.assign(**alias)
            self.work = merged.reset_index(drop=True)
            self.base = False
            self._tcache.clear()

    def run_operations(self) -> None:
        for op in self.rule.operations or []:
            fn = OPERATIONS.get(op.get("operator"))
            if fn is None:
                raise Unsupported(f"operation {op.get('operator')}")
            val = fn(self, op)
            oid = op.get("id")
            if isinstance(val, pd.Series):
                self.extra[oid] = pd.Series(val.to_numpy(), index=self.work.index)
            else:
                self.env[oid] = val

    # -- boolean tree --------------------------------------------------------------------
    def evaluate(self, node: Any) -> pd.Series:
        idx = self.work.index
        if isinstance(node, list):
            node = {"all": node}
        if "all" in node:
            parts = node["all"] if isinstance(node["all"], list) else [node["all"]]
            # existence checks first: a False one settles the whole 'all'
            ex = [p for p in parts if isinstance(p, dict) and p.get("operator") in
                  ("exists", "not_exists")]
            rest = [p for p in parts if p not in ex]
            out = np.ones(len(idx), dtype=bool)
            for p in ex + rest:
                out &= self.evaluate(p).to_numpy(dtype=bool)
                if not out.any():
                    break
            return pd.Series(out, index=idx)
        if "any" in node:
            parts = node["any"] if isinstance(node["any"], list) else [node["any"]]
            out = np.zeros(len(idx), dtype=bool)
            for p in parts:
                try:
                    out |= self.evaluate(p).to_numpy(dtype=bool)
                except NotApplicable:
                    continue
            return pd.Series(out, index=idx)
        if "not" in node:
            return ~self.evaluate(node["not"])
        op = node.get("operator")
        fn = OPERATORS.get(op)
        if fn is None:
            raise Unsupported(f"operator {op}")
        try:
            res = fn(self, node)
        except _GroupedTarget as g:
            res = _grouped_target_op(self, node, g.grouped)
        if isinstance(res, (bool, np.bool_)):
            return pd.Series(bool(res), index=idx)
        return pd.Series(np.asarray(res, dtype=bool), index=idx)

    # -- reporting -----------------------------------------------------------------------
    def report_variable(self) -> str:
        """The variable a finding names: the first of the rule's subject variables the dataset
        has (TSVAL for CORE-000294, though its first condition is on TSPARMCD), else the first
        output variable, else the first variable of the check."""
        cols = self.data.frames[self.name].columns if self.name in self.data.frames else []
        for v in self.rule.subject:
            v = self.x(v)
            if isinstance(v, str) and v.startswith(f"{self.name}."):
                v = v.split(".", 1)[1]
            if isinstance(v, str) and v in cols:
                return v
        for v in self.rule.output_variables:
            v = self.x(v)
            if isinstance(v, str) and not v.startswith("$") and v in cols:
                return v
        for n in _leaf_names(self.rule.check):
            n = self.x(n)
            if not n.startswith("$") and n in cols:
                return n
        return ""

    def _out_vars(self) -> list[str]:
        out = []
        for v in self.rule.output_variables or []:
            v = self.x(v)
            if isinstance(v, str) and (self.has(v) or v in self.env):
                out.append(v)
        if not out:
            for n in _leaf_names(self.rule.check):
                n = self.x(n)
                if self.has(n) and n not in out:
                    out.append(n)
        return out

    def _values_at(self, v: str, pos: np.ndarray) -> list[str]:
        if self.has(v):
            col = self.column(v)
            if len(col) and isinstance(col.iloc[0], (list, set, tuple, np.ndarray)):
                return [_show(x) for x in col.iloc[pos].tolist()]
            return [_show(x) for x in self.tcol(v).iloc[pos].tolist()]
        return [_show(self.env.get(v))] * len(pos)

    def value_text(self, row: Any) -> str | None:
        parts = []
        for v in self._out_vars():
            if v in getattr(row, "index", []):
                val = row[v]
            else:
                val = self.env.get(v)
            parts.append((v, _show(val)))
        if not parts:
            return None
        if len(parts) == 1:
            return parts[0][1]
        return "; ".join(f"{k}={v}" for k, v in parts)

    def text_at(self, pos: np.ndarray) -> list[str | None]:
        outs = self._out_vars()
        cols = [(v, self._values_at(v, pos)) for v in outs]
        if not cols:
            return [None] * len(pos)
        if len(cols) == 1:
            return cols[0][1]
        return ["; ".join(f"{k}={vals[i]}" for k, vals in cols) for i in range(len(pos))]

    def hits(self, pos: np.ndarray) -> list[Hit]:
        """Hits for work positions ``pos`` (one per original row, in row order)."""
        rows = self.rows()[pos]
        order = np.argsort(rows, kind="stable")
        rows, pos = rows[order], pos[order]
        first = np.ones(len(rows), dtype=bool)
        first[1:] = rows[1:] != rows[:-1]
        rows, pos = rows[first], pos[first]
        var = self.report_variable()
        values = self.text_at(pos)
        frame = self.data.frames[self.name]
        seq = f"{self.pfx}SEQ"
        keycols = [c for c in ("USUBJID", seq) if c in frame.columns]
        if not keycols:
            keycols = [c for c in _dataset_keys(self.name) if c in frame.columns]
        keyvals = {k: [_show(v) for v in self.data.cached(
            ("text", self.name, k), lambda k=k: _text(frame[k])).iloc[rows].tolist()]
            for k in keycols}
        return [Hit(dataset=self.name, row=int(r), variable=var, value=values[i],
                    keys=tuple((k, keyvals[k][i]) for k in keycols))
                for i, r in enumerate(rows)]


def _lookup_join(left: pd.DataFrame, right: pd.DataFrame, lkeys: list[str], rkeys: list[str],
                 how: str) -> pd.DataFrame | None:
    """``left.merge(right, how=how, left_on=lkeys, right_on=rkeys)`` when each left record
    meets at most one right record (right keys unique, no key missing) and no column needs a
    suffix: then the join is a lookup of one right row per left row, left order kept as
    pandas keeps it, with the key columns factorised together instead of hashed as text per
    merge. None when that does not hold (a left join with unmatched rows included, so that
    pandas decides the filled dtypes); the caller then merges."""
    if how not in ("inner", "left") or not len(left) or not len(right):
        return None
    drop = {b for a, b in zip(lkeys, rkeys) if a == b}
    rcols = [c for c in right.columns if c not in drop]
    if set(rcols) & set(left.columns):
        return None
    lcode = np.zeros(len(left), dtype=np.int64)
    rcode = np.zeros(len(right), dtype=np.int64)
    for a, b in zip(lkeys, rkeys):
        la, rb = left[a], right[b]
        if la.dtype != rb.dtype or la.isna().any() or rb.isna().any():
            return None
        codes, uniq = pd.factorize(pd.concat([la, rb], ignore_index=True))
        width = len(uniq)
        if width and int(max(lcode.max(initial=0), rcode.max(initial=0))) >= \
                (2 ** 62) // width:
            return None
        lcode = lcode * width + codes[:len(left)]
        rcode = rcode * width + codes[len(left):]
    index = pd.Index(rcode)
    if not index.is_unique:
        return None
    ridx = index.get_indexer(lcode)
    keep = ridx >= 0
    if how == "left" and not keep.all():
        return None
    lpart = left if keep.all() else left[keep]
    rpart = right[rcols].iloc[ridx[keep]]
    return pd.concat([lpart.reset_index(drop=True), rpart.reset_index(drop=True)], axis=1)


def _dataset_keys(name: str) -> tuple[str, ...]:
    from studybuild import standards

    try:
        return standards.sdtmig().dataset(name).keys
    except standards.StandardsLookupError:
        return ()


def _show(val: Any) -> str:
    if val is None:
        return ""
    if isinstance(val, (list, tuple, set, np.ndarray)):
        return "[" + ", ".join(_show(v) for v in list(val)[:20]) + \
            (", ..." if len(val) > 20 else "") + "]"
    if isinstance(val, float):
        if np.isnan(val):
            return ""
        return str(int(val)) if val == int(val) else repr(val)
    try:
        if pd.isna(val):
            return ""
    except (TypeError, ValueError):
        pass
    return str(val)


class _GroupedTarget(Exception):
    def __init__(self, grouped: Grouped):
        super().__init__("grouped target")
        self.grouped = grouped


# --------------------------------------------------------------------------------------------
# Value helpers
# --------------------------------------------------------------------------------------------

def _empty(s: pd.Series) -> pd.Series:
    if isinstance(s.dtype, pd.StringDtype):
        return (s.isna() | (s.str.strip() == "")).fillna(True).astype(bool)
    if s.dtype == object:
        t = s.map(lambda v: (v is None) or (isinstance(v, float) and np.isnan(v)) or
                  (isinstance(v, str) and v.strip() == "") or
                  (isinstance(v, (list, set, tuple)) and len(v) == 0))
        return t.astype(bool)
    if pd.api.types.is_string_dtype(s):
        return (s.isna() | (s.str.strip() == "")).fillna(True).astype(bool)
    return s.isna()


SIGNIFICANT_DIGITS = 15


def _round_sig(s: pd.Series) -> pd.Series:
    """Floating-point numbers rounded to 15 significant digits: the precision an 8-byte
    number keeps through a SAS transport (IBM hexadecimal float) round trip, so that
    185.92559999999997 read from an XPT file is 185.9256 and 1.2000000000000002 is 1.2
    (``docs/rules.md``, "Numbers"). Integers and non-finite values are unchanged."""
    if not pd.api.types.is_float_dtype(s):
        return s
    f = s.to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        mag = np.floor(np.log10(np.abs(f)))
        ok = np.isfinite(f) & np.isfinite(mag)
        k = np.where(ok, SIGNIFICANT_DIGITS - 1 - mag, 0).clip(-290, 290)
        scale = 10.0 ** np.abs(k)
        # dividing by an exact power of ten gives the double nearest the rounded decimal
        r = np.where(k >= 0, np.round(f * scale) / scale, np.round(f / scale) * scale)
    out = np.where(ok & np.isfinite(r), r, f)
    return pd.Series(out, index=s.index, dtype=s.dtype)


def _text(s: pd.Series) -> pd.Series:
    """Text form of a column; empty and blank strings are missing (DEVELOPERS.md); numbers
    rounded to 15 significant digits (:func:`_round_sig`)."""
    t = iso8601.as_text(_round_sig(s))
    if len(t) and t.notna().any():
        blank = t.str.strip() == ""
        if blank.any():
            t = t.where(~blank.fillna(False), None)
    return t


def _is_num(s: Any) -> bool:
    return isinstance(s, pd.Series) and (pd.api.types.is_numeric_dtype(s) and
                                         not pd.api.types.is_bool_dtype(s))


def _norm(s: pd.Series) -> pd.Series:
    """Type-insensitive form: numbers and numeric-looking text as canonical numbers-as-text."""
    t = _text(s).str.strip()
    num = pd.to_numeric(t, errors="coerce")
    return t.where(num.isna(), iso8601.as_text(_round_sig(num.astype("float64"))))


def _equal(ev: Evaluator, leaf: Mapping, *, negate: bool, ci: bool = False) -> pd.Series:
    a = ev.column(leaf["name"])
    b = ev.comparator(leaf)
    if leaf.get("value_is_reference"):
        raise Unsupported("value_is_reference")
    if isinstance(b, Grouped):
        raise Unsupported("equal_to with grouped values")
    a_null = _empty(a)
    if isinstance(b, pd.Series):
        b_null = _empty(b)
        ti = leaf.get("type_insensitive") or (_is_num(a) != _is_num(b))
        if leaf.get("round_values"):
            an = pd.to_numeric(_text(a), errors="coerce").round()
            bn = pd.to_numeric(_text(b), errors="coerce").round()
            eq = (an == bn).fillna(False).to_numpy(dtype=bool)
        elif ti:
            eq = (_norm(a) == _norm(b)).fillna(False).to_numpy(dtype=bool)
        elif ci:
            eq = (_text(a).str.lower() == _text(b).str.lower()).fillna(False).to_numpy(dtype=bool)
        elif _is_num(a) and _is_num(b):
            eq = (_round_sig(a) == _round_sig(b)).fillna(False).to_numpy(dtype=bool)
        else:
            eq = (a.to_numpy(dtype=object) == b.to_numpy(dtype=object))
            eq = pd.Series(eq, index=a.index).fillna(False).to_numpy(dtype=bool)
    else:
        if isinstance(b, (list, tuple)):
            raise Unsupported("equal_to a list")
        b_null = pd.Series(b is None or (isinstance(b, str) and b.strip() == "") or
                           (isinstance(b, float) and np.isnan(b)), index=a.index)
        if leaf.get("round_values") and _is_num(a):
            eq = (a.round() == round(float(b))).fillna(False).to_numpy(dtype=bool)
        elif _is_num(a) and isinstance(b, (int, float)) and not isinstance(b, bool):
            one = _round_sig(pd.Series([float(b)]))[0]
            eq = (_round_sig(a.astype("float64")) == one).fillna(False).to_numpy(dtype=bool)
        elif isinstance(b, bool):
            eq = (a.astype(object) == b).fillna(False).to_numpy(dtype=bool) if \
                a.dtype == bool or a.dtype == object else np.zeros(len(a), dtype=bool)
        elif _is_num(a) or leaf.get("type_insensitive"):
            one = _norm(pd.Series([b]))[0]
            eq = (_norm(a) == one).fillna(False).to_numpy(dtype=bool)
        elif ci:
            eq = (_text(a).str.lower() == str(b).lower()).fillna(False).to_numpy(dtype=bool)
        else:
            eq = (_text(a) == str(b)).fillna(False).to_numpy(dtype=bool)
    both_null = a_null.to_numpy(dtype=bool) & np.asarray(b_null, dtype=bool)
    any_null = a_null.to_numpy(dtype=bool) | np.asarray(b_null, dtype=bool)
    if negate:
        return pd.Series(np.where(both_null, False, np.where(any_null, True, ~eq)), index=a.index)
    return pd.Series(np.where(any_null, False, eq), index=a.index)


def _numeric_cmp(ev: Evaluator, leaf: Mapping, op: str) -> pd.Series:
    a = pd.to_numeric(ev.tcol(leaf["name"]), errors="coerce")
    b = ev.comparator(leaf)
    if isinstance(b, pd.Series):
        b = pd.to_numeric(_text(b), errors="coerce").to_numpy(dtype=float)
    else:
        try:
            b = float(b)
        except (TypeError, ValueError):
            return pd.Series(False, index=a.index)
    av = a.to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        res = {"lt": av < b, "le": av <= b, "gt": av > b, "ge": av >= b}[op]
    return pd.Series(np.nan_to_num(res, nan=0).astype(bool), index=a.index)


def _regex(ev: Evaluator, leaf: Mapping, *, negate: bool, part: str | None = None
           ) -> pd.Series:
    t = ev.tcol(leaf["name"])
    pat = str(leaf.get("value"))
    present = t.notna().to_numpy(dtype=bool)
    if part == "prefix":
        m = regex_mask(t.str.slice(0, int(leaf.get("prefix"))), pat, search=True)
    elif part == "suffix":
        m = regex_mask(t.str.slice(-int(leaf.get("suffix"))), pat, search=True)
    else:
        m = regex_mask(t, pat)
    return pd.Series(present & (~m if negate else m), index=t.index)


def _lengths(ev: Evaluator, leaf: Mapping) -> tuple[pd.Series, Any]:
    t = ev.tcol(leaf["name"])
    n = t.str.len()
    b = ev.comparator(leaf)
    if isinstance(b, pd.Series):
        b = (pd.to_numeric(b, errors="coerce") if _is_num(b) else _text(b).str.len())
    return n, b


def _as_set(b: Any) -> set:
    if isinstance(b, pd.Series):
        return set(_text(b).dropna().tolist())
    if isinstance(b, (list, tuple, set)):
        return {(_show(v) if not isinstance(v, str) else v) for v in b}
    if b is None:
        return set()
    return {_show(b)}


def _contained(ev: Evaluator, leaf: Mapping, *, ci: bool = False, part: str | None = None
               ) -> pd.Series:
    a = ev.column(leaf["name"])
    t = ev.tcol(leaf["name"])
    if part == "prefix":
        t = t.str.slice(0, int(leaf.get("prefix")))
    elif part == "suffix":
        t = t.str.slice(-int(leaf.get("suffix") or leaf.get("prefix")))
    b = ev.comparator(leaf)
    if isinstance(b, Grouped):
        return _grouped_membership(ev, t, b, ci=ci)
    if isinstance(b, pd.Series) and len(b) and b.map(
            lambda v: isinstance(v, (list, set, tuple))).all():
        vals = [(_show(x) if ci is False else _show(x).lower()) for x in t.tolist()]
        res = [(v in {(_show(z).lower() if ci else _show(z)) for z in s}) for v, s in
               zip(vals, b.tolist())]
        return pd.Series(res, index=a.index)
    if isinstance(b, pd.Series) and not isinstance(leaf.get("value"), list):
        # a column: compare row by row
        return (t == _text(b)).fillna(False).astype(bool)
    pool = _as_set(b)
    if ci:
        pool = {p.lower() for p in pool}
        return t.str.lower().isin(pool).fillna(False).astype(bool)
    return t.isin(pool).fillna(False).astype(bool)


def _grouped_membership(ev: Evaluator, t: pd.Series, g: Grouped, *, ci: bool = False
                        ) -> pd.Series:
    """Row-wise 'value is in its group's set', vectorised with a merge."""
    keys = [k for k in g.keys if ev.has(k)]
    if not keys:
        pool = set(g.frame["__value"].dropna().tolist())
        return t.isin(pool).fillna(False).astype(bool)
    left = pd.DataFrame({k: ev.tcol(k).to_numpy() for k in keys})
    left["__value"] = (t.str.lower() if ci else t).to_numpy()
    left["__pos"] = np.arange(len(left))
    right = g.frame[keys + ["__value"]].copy()
    for k in keys:
        right[k] = _text(right[k])
    if ci:
        right["__value"] = right["__value"].str.lower()
    right = right.drop_duplicates()
    right["__hit"] = True
    m = left.merge(right, how="left", on=keys + ["__value"])
    hit = np.zeros(len(left), dtype=bool)
    pos = m.loc[m["__hit"].notna() & m["__value"].notna(), "__pos"].to_numpy()
    hit[pos] = True
    return pd.Series(hit, index=t.index)


def _grouped_target_op(ev: Evaluator, leaf: Mapping, g: Grouped) -> pd.Series:
    """``name: $grouped`` with contains / does_not_contain a literal value."""
    op = leaf.get("operator")
    if op not in ("contains", "does_not_contain", "empty", "non_empty"):
        raise Unsupported(f"{op} on a grouped operation result")
    keys = [k for k in g.keys if ev.has(k)]
    left = pd.DataFrame({k: ev.tcol(k).to_numpy() for k in keys})
    left["__pos"] = np.arange(len(left))
    fr = g.frame.copy()
    for k in keys:
        fr[k] = _text(fr[k])
    if op in ("contains", "does_not_contain"):
        fr = fr[fr["__value"] == str(leaf.get("value"))]
    groups = fr[keys].drop_duplicates().assign(__hit=True)
    m = left.merge(groups, how="left", on=keys) if keys else left.assign(
        __hit=bool(len(fr)))
    hit = np.zeros(len(left), dtype=bool)
    hit[m.loc[m["__hit"].notna() & (m["__hit"] == True), "__pos"].to_numpy()] = True  # noqa: E712
    if op in ("does_not_contain", "empty"):
        hit = ~hit
    return pd.Series(hit, index=ev.work.index)


def _unique_set(ev: Evaluator, leaf: Mapping) -> pd.Series:
    target = ev.x(leaf["name"])
    value = leaf.get("value") or []
    if isinstance(value, str):
        value = [value]
    cols: list[str] = []
    for item in [target] + list(value):
        item = ev.x(item)
        if isinstance(item, str) and item.startswith("$"):
            got = ev.env.get(item, [])
            cols.extend(got if isinstance(got, (list, tuple)) else [got])
        else:
            cols.append(item)
    cols = list(dict.fromkeys(c for c in cols if ev.has(c)))
    if not ev.has(target):
        raise NotApplicable(target)
    sub = pd.DataFrame({c: ev.tcol(c).fillna("\x00NA") for c in cols})
    rx = leaf.get("regex")
    if rx:
        for c in cols:
            ext = sub[c].str.extract(f"({rx})", expand=False)
            sub[c] = ext.where(ext.notna(), sub[c])
    dup = sub.duplicated(keep=False)
    return dup


def _unique_relationship(ev: Evaluator, leaf: Mapping) -> pd.Series:
    a_name = ev.x(leaf["name"])
    b_name = ev.comparator(leaf)
    a = ev.column(a_name)
    if not isinstance(b_name, pd.Series):
        raise NotApplicable(str(leaf.get("value")))
    ta = _text(a)
    tb = _text(b_name)
    pairs = pd.DataFrame({"a": ta, "b": tb}).drop_duplicates()
    pairs = pairs[pairs["a"].notna() | pairs["b"].notna()]
    bad_a = pairs[pairs["a"].notna()].groupby("a", dropna=False)["b"].agg(
        lambda s: s.nunique(dropna=True) + int(s.isna().any()) > 1)
    bad_b = pairs[pairs["b"].notna()].groupby("b", dropna=False)["a"].agg(
        lambda s: s.nunique(dropna=True) + int(s.isna().any()) > 1)
    flag = ta.isin(set(bad_a[bad_a].index)) | tb.isin(set(bad_b[bad_b].index))
    return flag.fillna(False).astype(bool)


def _sorted_by(ev: Evaluator, leaf: Mapping) -> pd.Series:
    """target_is_not_sorted_by: within groups, the order of ``name`` must follow the order of
    the ``value`` columns."""
    target = ev.column(leaf["name"])
    within = leaf.get("within")
    within = [within] if isinstance(within, str) else list(within or [])
    within = [ev.x(w) for w in within]
    specs = leaf.get("value") or []
    if not specs:
        raise Unsupported("target_is_sorted_by without value")
    spec = specs[0]
    by = ev.column(spec.get("name"))
    df = pd.DataFrame({"t": pd.to_numeric(_text(target), errors="coerce"),
                       "d": iso8601.precision_prefix(by)})
    for i, w in enumerate(within):
        df[f"w{i}"] = ev.tcol(w)
    wcols = [f"w{i}" for i in range(len(within))]
    asc = str(spec.get("sort_order", "asc")) == "asc"
    # rank of target within group vs rank of date within group (nulls last)
    df["rt"] = df.groupby(wcols, dropna=False)["t"].rank(method="first", ascending=True)
    d = df["d"].fillna("\uffff" if asc else "")
    df["rd"] = d.groupby([df[c] for c in wcols], dropna=False).rank(method="min",
                                                                     ascending=asc)
    # sorted when ordering by target gives non-decreasing date ranks
    df = df.sort_values(wcols + ["t"])
    prev = df.groupby(wcols, dropna=False)["rd"].cummax()
    bad = df["rd"] < prev
    out = pd.Series(False, index=target.index)
    out[bad[bad].index] = True
    return out


def _next_record(ev: Evaluator, leaf: Mapping) -> pd.Series:
    """does_not_have_next_corresponding_record: name of a row must equal value of the next row
    within ``within`` ordered by ``ordering`` (the last row of each group passes)."""
    target = ev.tcol(leaf["name"])
    comp = leaf.get("value")
    nxt = ev.tcol(comp)
    within = ev.x(leaf.get("within"))
    order = ev.x(leaf.get("ordering"))
    df = pd.DataFrame({"t": target, "c": nxt, "w": ev.tcol(within),
                       "o": pd.to_numeric(ev.tcol(order), errors="coerce")})
    df = df.sort_values(["w", "o"], kind="stable")
    df["n"] = df.groupby("w", dropna=False)["c"].shift(-1)
    last = df.groupby("w", dropna=False).cumcount(ascending=False) == 0
    bad = ~last & ~((df["t"] == df["n"]).fillna(False))
    out = pd.Series(False, index=target.index)
    out[bad[bad].index] = True
    return out


def _empty_except_last(ev: Evaluator, leaf: Mapping, *, negate: bool) -> pd.Series:
    t = ev.column(leaf["name"])
    within = ev.x(leaf.get("value"))
    order = ev.x(leaf.get("ordering"))
    df = pd.DataFrame({"e": _empty(t), "w": ev.tcol(within)})
    df["o"] = iso8601.precision_prefix(ev.column(order)) if order else 0
    df = df.sort_values(["w", "o"], kind="stable")
    last = df.groupby("w", dropna=False).cumcount(ascending=False) == 0
    bad = ~last & (df["e"] if not negate else ~df["e"])
    out = pd.Series(False, index=t.index)
    out[bad[bad].index] = True
    return out


def _multiple_rows(ev: Evaluator, leaf: Mapping, *, negate: bool) -> pd.Series:
    t = ev.tcol(leaf["name"])
    within = ev.x(leaf.get("within"))
    w = ev.tcol(within)
    limit = int(leaf.get("value") or 1)
    n = pd.DataFrame({"t": t, "w": w}).groupby(["w", "t"], dropna=False)["t"].transform("size")
    res = n > limit
    return ~res if negate else res


def _inconsistent(ev: Evaluator, leaf: Mapping) -> pd.Series:
    t = ev.tcol(leaf["name"]).fillna("\x00NA")
    value = leaf.get("value")
    groups = [value] if isinstance(value, str) else list(value or [])
    gcols = [ev.x(g) for g in groups if ev.has(ev.x(g))]
    if not gcols:
        return pd.Series(False, index=t.index)
    df = pd.DataFrame({c: ev.tcol(c).fillna("\x00NA") for c in gcols})
    df["t"] = t
    counts = df.groupby(gcols + ["t"]).size().rename("n").reset_index()
    mx = counts.groupby(gcols)["n"].transform("max")
    nvals = counts.groupby(gcols)["t"].transform("size")
    ties = counts.assign(top=counts["n"] == mx).groupby(gcols)["top"].transform("sum")
    counts["bad"] = (nvals > 1) & ((counts["n"] < mx) | (ties > 1))
    m = df.merge(counts[gcols + ["t", "bad"]], how="left", on=gcols + ["t"])
    return pd.Series(m["bad"].fillna(False).to_numpy(dtype=bool), index=t.index)


def _list_value(ev: Evaluator, name: Any) -> list:
    name = ev.x(name)
    if isinstance(name, str) and name.startswith("$"):
        v = ev.env.get(name)
        if v is None:
            raise NotApplicable(name)
        return list(v) if isinstance(v, (list, tuple, set)) else [v]
    if isinstance(name, list):
        return name
    return ev.tcol(name).dropna().unique().tolist()


def _op_contains_all(ev: Evaluator, leaf: Mapping, *, negate: bool) -> Any:
    target = leaf["name"]
    have = set(_list_value(ev, target)) if str(target).startswith("$") else \
        set(ev.tcol(target).dropna().tolist())
    want = ev.comparator(leaf)
    want = set(want if isinstance(want, (list, tuple, set)) else [want])
    res = want.issubset(have)
    return (not res) if negate else res


def _op_shares_no_elements(ev: Evaluator, leaf: Mapping) -> Any:
    a = set(_list_value(ev, leaf["name"]))
    b = ev.comparator(leaf)
    b = set(b if isinstance(b, (list, tuple, set)) else [b])
    return len(a & b) == 0


def _op_ordered_subset(ev: Evaluator, leaf: Mapping, *, negate: bool) -> Any:
    a = _list_value(ev, leaf["name"])
    b = ev.comparator(leaf)
    b = list(b) if isinstance(b, (list, tuple)) else [b]
    pos = {v: i for i, v in enumerate(b)}
    seq = [pos[v] for v in a if v in pos]
    ok = all(x < y for x, y in zip(seq, seq[1:]))
    return (not ok) if negate else ok


def _exists(ev: Evaluator, leaf: Mapping) -> Any:
    """Is the variable in the dataset being checked? (Columns that only a matched dataset
    brought in do not count; ``NAME.column`` names a matched dataset's column.)"""
    name = ev.x(leaf["name"])
    if isinstance(name, str) and name.startswith("$"):
        return name in ev.env or ev.has(name)
    if ev.rule.rule_type == "Record Data" and "." not in str(name) and \
            ev.name in ev.data.frames:
        return name in ev.data.frames[ev.name].columns
    return ev.has(name)


def _string_part_equal(ev: Evaluator, leaf: Mapping, *, negate: bool) -> pd.Series:
    t = ev.tcol(leaf["name"])
    comp = ev.comparator(leaf)
    rx = leaf.get("regex")
    if isinstance(comp, pd.Series):
        part = _text(comp).str.extract(rx, expand=False)
    else:
        m = re.search(rx, str(comp))
        part = pd.Series([m.group(1) if m and m.groups() else (m.group(0) if m else None)]
                         * len(t), index=t.index)
    eq = (t == part).fillna(False).astype(bool)
    any_null = t.isna() | part.isna()
    if negate:
        return ~eq & ~(t.isna() & part.isna())
    return eq & ~any_null


def _prefix_equal(ev: Evaluator, leaf: Mapping, *, negate: bool) -> pd.Series:
    t = ev.tcol(leaf["name"])
    n = int(leaf.get("prefix") or 0)
    comp = leaf.get("value")
    if comp == "DOMAIN":
        comp = ev.pfx
    else:
        comp = ev.comparator(leaf)
    part = t.str.slice(0, n)
    eq = (part == (_text(comp) if isinstance(comp, pd.Series) else str(comp))).fillna(False)
    return ~eq if negate else eq


def _invalid_date(ev: Evaluator, leaf: Mapping) -> pd.Series:
    s = ev.column(leaf["name"])
    t = _text(s)
    return ~iso8601.is_valid_dtc(s) | t.isna()


def _date_op(op: str):
    def fn(ev: Evaluator, leaf: Mapping) -> pd.Series:
        a = ev.column(leaf["name"])
        b = ev.comparator(leaf)
        if isinstance(b, (list, tuple, Grouped)):
            raise Unsupported("date comparison with a list")
        return iso8601.compare_dates(a, b if isinstance(b, pd.Series) else _show(b), op,
                                     leaf.get("date_component"))
    return fn


def _starts(ev: Evaluator, leaf: Mapping, *, end: bool) -> pd.Series:
    t = ev.tcol(leaf["name"])
    comp = ev.comparator(leaf)
    if isinstance(comp, pd.Series):
        c = _text(comp)
        res = pd.Series([(isinstance(x, str) and isinstance(y, str) and
                          (x.endswith(y) if end else x.startswith(y)))
                         for x, y in zip(t.tolist(), c.tolist())], index=t.index)
        return res
    comp = tuple(comp) if isinstance(comp, list) else str(comp)
    r = t.str.endswith(comp) if end else t.str.startswith(comp)
    return r.fillna(False).astype(bool)


def _contains(ev: Evaluator, leaf: Mapping, *, negate: bool, ci: bool = False) -> pd.Series:
    t = ev.tcol(leaf["name"])
    comp = ev.comparator(leaf)
    if isinstance(comp, pd.Series):
        c = _text(comp)
        res = pd.Series([(isinstance(x, str) and isinstance(y, str) and
                          ((y.lower() in x.lower()) if ci else (y in x)))
                         for x, y in zip(t.tolist(), c.tolist())], index=t.index)
    else:
        res = t.str.contains(re.escape(str(comp)), case=not ci, regex=True)
        res = res.fillna(False).astype(bool)
    return ~res if negate else res


def _build_operators() -> None:
    O = OPERATORS
    O["exists"] = _exists
    O["not_exists"] = lambda ev, leaf: not _exists(ev, leaf)
    O["empty"] = lambda ev, leaf: ev.empty(leaf["name"])
    O["non_empty"] = lambda ev, leaf: ~ev.empty(leaf["name"])
    O["equal_to"] = lambda ev, leaf: _equal(ev, leaf, negate=False)
    O["not_equal_to"] = lambda ev, leaf: _equal(ev, leaf, negate=True)
    O["equal_to_case_insensitive"] = lambda ev, leaf: _equal(ev, leaf, negate=False, ci=True)
    O["not_equal_to_case_insensitive"] = lambda ev, leaf: _equal(ev, leaf, negate=True, ci=True)
    for name, op in (("less_than", "lt"), ("less_than_or_equal_to", "le"),
                     ("greater_than", "gt"), ("greater_than_or_equal_to", "ge")):
        O[name] = (lambda o: lambda ev, leaf: _numeric_cmp(ev, leaf, o))(op)
    O["matches_regex"] = lambda ev, leaf: _regex(ev, leaf, negate=False)
    O["not_matches_regex"] = lambda ev, leaf: _regex(ev, leaf, negate=True)
    O["prefix_matches_regex"] = lambda ev, leaf: _regex(ev, leaf, negate=False, part="prefix")
    O["not_prefix_matches_regex"] = lambda ev, leaf: _regex(ev, leaf, negate=True,
                                                            part="prefix")
    O["suffix_matches_regex"] = lambda ev, leaf: _regex(ev, leaf, negate=False, part="suffix")
    O["not_suffix_matches_regex"] = lambda ev, leaf: _regex(ev, leaf, negate=True,
                                                            part="suffix")

    def longer(ev, leaf, strict=True):
        n, b = _lengths(ev, leaf)
        r = (n > b) if strict else (n >= b)
        return r.fillna(False).astype(bool)

    O["longer_than"] = lambda ev, leaf: longer(ev, leaf)
    O["longer_than_or_equal_to"] = lambda ev, leaf: longer(ev, leaf, strict=False)
    O["shorter_than"] = lambda ev, leaf: ~longer(ev, leaf, strict=False) & _text(
        ev.column(leaf["name"])).notna()
    O["shorter_than_or_equal_to"] = lambda ev, leaf: ~longer(ev, leaf) & _text(
        ev.column(leaf["name"])).notna()
    O["is_contained_by"] = lambda ev, leaf: _contained(ev, leaf)
    O["is_not_contained_by"] = lambda ev, leaf: ~_contained(ev, leaf)
    O["is_contained_by_case_insensitive"] = lambda ev, leaf: _contained(ev, leaf, ci=True)
    O["is_not_contained_by_case_insensitive"] = lambda ev, leaf: ~_contained(ev, leaf, ci=True)
    O["prefix_is_contained_by"] = lambda ev, leaf: _contained(ev, leaf, part="prefix")
    O["prefix_is_not_contained_by"] = lambda ev, leaf: ~_contained(ev, leaf, part="prefix")
    O["suffix_is_contained_by"] = lambda ev, leaf: _contained(ev, leaf, part="suffix")
    O["suffix_is_not_contained_by"] = lambda ev, leaf: ~_contained(ev, leaf, part="suffix")
    O["is_unique_set"] = lambda ev, leaf: ~_unique_set(ev, leaf)
    O["is_not_unique_set"] = _unique_set
    O["is_not_unique_relationship"] = _unique_relationship
    O["is_unique_relationship"] = lambda ev, leaf: ~_unique_relationship(ev, leaf)
    O["is_complete_date"] = lambda ev, leaf: iso8601.is_complete_date(ev.column(leaf["name"]))
    O["is_incomplete_date"] = lambda ev, leaf: ~iso8601.is_complete_date(
        ev.column(leaf["name"]))
    O["invalid_date"] = _invalid_date
    O["invalid_duration"] = lambda ev, leaf: ~iso8601.is_valid_duration(
        ev.column(leaf["name"]), negative=bool(leaf.get("negative", True))) & \
        ev.tcol(leaf["name"]).notna()
    for name, op in (("date_equal_to", "eq"), ("date_not_equal_to", "ne"),
                     ("date_less_than", "lt"), ("date_less_than_or_equal_to", "le"),
                     ("date_greater_than", "gt"), ("date_greater_than_or_equal_to", "ge")):
        O[name] = _date_op(op)
    O["starts_with"] = lambda ev, leaf: _starts(ev, leaf, end=False)
    O["ends_with"] = lambda ev, leaf: _starts(ev, leaf, end=True)
    O["contains"] = lambda ev, leaf: _contains(ev, leaf, negate=False)
    O["does_not_contain"] = lambda ev, leaf: _contains(ev, leaf, negate=True)
    O["contains_case_insensitive"] = lambda ev, leaf: _contains(ev, leaf, negate=False,
                                                                ci=True)
    O["does_not_contain_case_insensitive"] = lambda ev, leaf: _contains(ev, leaf, negate=True,
                                                                        ci=True)
    O["contains_all"] = lambda ev, leaf: _op_contains_all(ev, leaf, negate=False)
    O["not_contains_all"] = lambda ev, leaf: _op_contains_all(ev, leaf, negate=True)
    O["shares_no_elements_with"] = _op_shares_no_elements
    O["is_ordered_subset_of"] = lambda ev, leaf: _op_ordered_subset(ev, leaf, negate=False)
    O["is_not_ordered_subset_of"] = lambda ev, leaf: _op_ordered_subset(ev, leaf, negate=True)
    O["is_inconsistent_across_dataset"] = _inconsistent
    O["target_is_not_sorted_by"] = _sorted_by
    O["does_not_have_next_corresponding_record"] = _next_record
    O["empty_within_except_last_row"] = lambda ev, leaf: _empty_except_last(ev, leaf,
                                                                            negate=False)
    O["non_empty_within_except_last_row"] = lambda ev, leaf: _empty_except_last(ev, leaf,
                                                                                negate=True)
    O["present_on_multiple_rows_within"] = lambda ev, leaf: _multiple_rows(ev, leaf,
                                                                           negate=False)
    O["not_present_on_multiple_rows_within"] = lambda ev, leaf: _multiple_rows(ev, leaf,
                                                                               negate=True)
    O["does_not_equal_string_part"] = lambda ev, leaf: _string_part_equal(ev, leaf, negate=True)
    O["equals_string_part"] = lambda ev, leaf: _string_part_equal(ev, leaf, negate=False)
    O["prefix_equal_to"] = lambda ev, leaf: _prefix_equal(ev, leaf, negate=False)
    O["prefix_not_equal_to"] = lambda ev, leaf: _prefix_equal(ev, leaf, negate=True)


_build_operators()

# --------------------------------------------------------------------------------------------
# Operations
# --------------------------------------------------------------------------------------------


def _source(ev: Evaluator, spec: Mapping) -> tuple[str, pd.DataFrame]:
    dom = spec.get("domain")
    name = str(dom).upper() if dom else ev.name
    if name not in ev.data.frames:
        raise NotApplicable(f"domain {name}")
    frame = ev.data.frames[name]
    if name == ev.name and ev.rule.rule_type == "Record Data":
        frame = ev.work
    return name, frame


def _filtered(ev: Evaluator, src_name: str, frame: pd.DataFrame, spec: Mapping) -> pd.DataFrame:
    flt = spec.get("filter") or {}
    mask = pd.Series(True, index=frame.index)
    for col, val in flt.items():
        col = ev.x(col, ev.data.prefix(src_name))
        if col not in frame.columns:
            return frame.iloc[0:0]
        t = _text(frame[col])
        sval = str(val)
        if sval.endswith(("&", "%")):
            mask &= t.str.startswith(sval[:-1]).fillna(False)
        else:
            mask &= (t == sval).fillna(False)
    return frame[mask.to_numpy(dtype=bool)]


def _group_pairs(ev: Evaluator, src_name: str, frame: pd.DataFrame, spec: Mapping
                 ) -> tuple[list[str], list[str]]:
    group = spec.get("group") or []
    aliases = spec.get("group_aliases") or []
    src_pfx = ev.data.prefix(src_name)
    src_cols, dst_cols = [], []
    expanded: list[tuple[str, str]] = []
    for i, g in enumerate(group):
        alias = aliases[i] if i < len(aliases) else g
        if isinstance(g, str) and g.startswith("$"):
            for v in ev.env.get(g, []) or []:
                expanded.append((v, v))
            continue
        expanded.append((ev.x(g, src_pfx), ev.x(alias)))
    optional = bool(spec.get("group_optional"))
    for s, d in expanded:
        if s in frame.columns and (ev.has(d) or ev.rule.rule_type != "Record Data"):
            src_cols.append(s)
            dst_cols.append(d)
        elif not optional:
            # CORE: grouping by a variable one side lacks cannot be done
            raise NotApplicable(f"group variable {s if s not in frame.columns else d}")
    return src_cols, dst_cols


def _merge_group_values(ev: Evaluator, table: pd.DataFrame, dst: list[str], col: str
                        ) -> pd.Series:
    left = pd.DataFrame({d: ev.tcol(d).to_numpy() for d in dst})
    left["__pos"] = np.arange(len(left))
    right = table.copy()
    for d in dst:
        right[d] = _text(right[d])
    m = left.merge(right, how="left", on=dst).sort_values("__pos")
    return pd.Series(m[col].to_numpy(), index=ev.work.index)


def op_distinct(ev: Evaluator, spec: Mapping) -> Any:
    src_name, frame = _source(ev, spec)
    frame = _filtered(ev, src_name, frame, spec)
    name = ev.x(spec.get("name"), ev.data.prefix(src_name))
    if name not in frame.columns:
        raise NotApplicable(name)
    if spec.get("group"):
        src, dst = _group_pairs(ev, src_name, frame, spec)
        if src:
            table = pd.DataFrame({d: frame[s].to_numpy() for s, d in zip(src, dst)})
            table["__value"] = _text(frame[name]).to_numpy()
            table = table.dropna(subset=["__value"]).drop_duplicates()
            return Grouped(keys=dst, frame=table)
    vals = _text(frame[name]).dropna().unique().tolist()
    return sorted(vals)


def _date_extreme(ev: Evaluator, spec: Mapping, fn: str) -> Any:
    src_name, frame = _source(ev, spec)
    frame = _filtered(ev, src_name, frame, spec)
    name = ev.x(spec.get("name"), ev.data.prefix(src_name))
    if name not in frame.columns:
        raise NotApplicable(name)
    t = _text(frame[name])
    ok = iso8601.precision_prefix(frame[name]).notna()
    if spec.get("group"):
        src, dst = _group_pairs(ev, src_name, frame, spec)
        if src:
            table = pd.DataFrame({d: _text(frame[s]).to_numpy() for s, d in zip(src, dst)})
            table["__v"] = t.where(ok).to_numpy()
            agg = table.dropna(subset=["__v"]).groupby(dst, dropna=False)["__v"].agg(fn)
            agg = agg.rename("__v").reset_index()
            return _merge_group_values(ev, agg, dst, "__v")
    vals = t.where(ok).dropna()
    return None if vals.empty else getattr(vals, fn)()


def op_record_count(ev: Evaluator, spec: Mapping) -> Any:
    src_name, frame = _source(ev, spec)
    frame = _filtered(ev, src_name, frame, spec)
    if spec.get("group"):
        src, dst = _group_pairs(ev, src_name, frame, spec)
        if src:
            table = pd.DataFrame({d: _text(frame[s]).to_numpy() for s, d in zip(src, dst)})
            rx = spec.get("regex")
            if rx:
                for d in dst:
                    ext = table[d].str.extract(f"({rx})", expand=False)
                    table[d] = ext.where(ext.notna(), table[d])
            cnt = table.groupby(dst, dropna=False).size().rename("__n").reset_index()
            res = _merge_group_values(ev, cnt, dst, "__n")
            return res.fillna(0).astype(float)
    return int(len(frame))


def op_dy(ev: Evaluator, spec: Mapping) -> pd.Series:
    name = ev.x(spec.get("name"))
    ref = ev.x(spec.get("reference") or "RFSTDTC")
    if not ev.has(name) or not ev.has(ref):
        raise NotApplicable(name)
    return iso8601.study_day(ev.column(name), ev.column(ref))


def _ig_dataset(ev: Evaluator):
    from studybuild import standards

    try:
        return standards.sdtmig().dataset(ev.name)
    except standards.StandardsLookupError:
        return None


def op_variables_by_core(core: str):
    def fn(ev: Evaluator, spec: Mapping) -> list[str]:
        ds = _ig_dataset(ev)
        if ds is None:
            return []
        return [v.name for v in ds if v.core == core]
    return fn


def op_column_order_dataset(ev: Evaluator, spec: Mapping) -> list[str]:
    return [str(c) for c in ev.data.frames[ev.name].columns]


def op_column_order_library(ev: Evaluator, spec: Mapping) -> list[str]:
    ds = _ig_dataset(ev)
    if ds is None:
        raise NotApplicable("custom domain")
    key, val = spec.get("key_name"), spec.get("key_value")
    out = []
    for v in ds:
        if key == "role" and v.role != val:
            continue
        if key == "core" and v.core != val:
            continue
        out.append(v.name)
    return out


def op_dataset_names(ev: Evaluator, spec: Mapping) -> list[str]:
    return list(ev.data.names)


def op_domain_label(ev: Evaluator, spec: Mapping) -> str:
    ds = _ig_dataset(ev)
    if ds is None:
        raise NotApplicable("custom domain")
    return ds.label


def op_extract_metadata(ev: Evaluator, spec: Mapping) -> Any:
    what = spec.get("name")
    if what == "dataset_name":
        return ev.name
    if what == "dataset_label":
        return ev.data.dataset_labels.get(ev.name, "")
    if what == "dataset_size":
        return ev.data.sizes.get(ev.name, 0)
    if what == "dataset_location":
        return ev.data.locations.get(ev.name, ev.name.lower())
    if what == "domain":
        return ev.pfx
    raise Unsupported(f"extract_metadata {what}")


def op_domain_is_custom(ev: Evaluator, spec: Mapping) -> bool:
    return _ig_dataset(ev) is None


def op_variable_exists(ev: Evaluator, spec: Mapping) -> bool:
    name = ev.x(spec.get("name"))
    frame = ev.data.frames.get(ev.name)
    return frame is not None and name in frame.columns


def op_variable_count(ev: Evaluator, spec: Mapping) -> int:
    generic = str(spec.get("name"))
    n = 0
    for ds in ev.data.names:
        if ev.data.kind(ds) != "SDTM":
            continue
        cols = ev.data.frames[ds].columns
        full = (ev.data.prefix(ds) + generic[2:]) if generic.startswith("--") else generic
        n += int(full in cols)
    return n


def op_codelist_terms(ev: Evaluator, spec: Mapping) -> list[str]:
    from studybuild import standards

    out: list[str] = []
    for cl in spec.get("codelists") or []:
        try:
            c = standards.ct().codelist(cl)
        except standards.StandardsLookupError:
            raise NotApplicable(f"codelist {cl}") from None
        rt = spec.get("returntype", "value")
        if rt == "code":
            out.extend(t.code for t in c.terms)
        elif rt == "pref_term":
            out.extend(t.preferred_term for t in c.terms)
        else:
            out.extend(t.submission_value for t in c.terms)
    return out


def op_dataset_filtered_variables(ev: Evaluator, spec: Mapping) -> list[str]:
    ds = _ig_dataset(ev)
    cols = [str(c) for c in ev.data.frames[ev.name].columns]
    if ds is None:
        return []
    key, val = spec.get("key_name"), spec.get("key_value")
    out = []
    for c in cols:
        v = ds.find(c)
        if v is None:
            continue
        if key == "role" and v.role == val:
            out.append(c)
    return out


def op_model_filtered_variables(ev: Evaluator, spec: Mapping) -> list[str]:
    """Variables of every SDTMIG domain of the same class with the given role, prefixed as
    this domain (an approximation of the SDTM model's class variables)."""
    from studybuild import standards

    key, val = spec.get("key_name"), spec.get("key_value")
    cls = ev.data.class_of(ev.name)
    out: set[str] = set()
    for ds in standards.sdtmig().datasets.values():
        if _SDTM_CLASS.get(ds.class_, "") != cls:
            continue
        for v in ds:
            if key == "role" and v.role == val:
                name = v.name
                if name.startswith(ds.name[:2]) and ds.name not in ("DM",):
                    name = ev.pfx + name[2:]
                out.add(name)
    return sorted(out)


def op_parent_model_columns(ev: Evaluator, spec: Mapping) -> list[str]:
    """For SUPPxx: the IG variables of the parent domain xx."""
    from studybuild import standards

    parent = ev.name[4:] if ev.name.startswith("SUPP") else ""
    try:
        return list(standards.sdtmig().dataset(parent).names)
    except standards.StandardsLookupError:
        raise NotApplicable("custom parent") from None


def op_study_value(ev: Evaluator, spec: Mapping) -> Any:
    """studybuild extension: a value from the study definition (``study.yaml``):
    studyid, armcd (list), arm (list), study_start, visitnum (list), etcd (list)."""
    st = ev.data.study
    if st is None:
        raise NotApplicable("no study definition")
    what = spec.get("name")
    if what == "studyid":
        return st.studyid
    if what == "armcd":
        return [a.armcd for a in st.arms]
    if what == "arm":
        return [a.arm for a in st.arms]
    if what == "etcd":
        return [e.etcd for e in st.elements]
    if what == "study_start":
        return st.dates.study_start.isoformat()
    if what == "visitnum":
        return [iso8601.as_text(pd.Series([v.visitnum]))[0] for v in st.all_visits()]
    raise Unsupported(f"study_value {what}")


def op_supp_parent_exists(ev: Evaluator, spec: Mapping) -> pd.Series:
    """studybuild extension: for a SUPPxx dataset, True where the parent record exists:
    the parent dataset (RDOMAIN) has the USUBJID and, when IDVAR is given, a record whose
    IDVAR value equals IDVARVAL (compared as text, so 1 and 1.0 match)."""
    w = ev.work
    for c in ("RDOMAIN", "USUBJID"):
        if c not in w.columns:
            raise NotApplicable(c)
    rdom = _text(w["RDOMAIN"])
    idvar = _text(w["IDVAR"]) if "IDVAR" in w.columns else pd.Series(None, index=w.index,
                                                                       dtype=object)
    idval = _norm(w["IDVARVAL"]) if "IDVARVAL" in w.columns else pd.Series(
        None, index=w.index, dtype=object)
    usub = _text(w["USUBJID"])
    out = pd.Series(False, index=w.index)
    for (dom, var), idx in pd.DataFrame({"d": rdom, "v": idvar.fillna("\x00")}).groupby(
            ["d", "v"], dropna=False).groups.items():
        parent = ev.data.frames.get(str(dom).upper()) if isinstance(dom, str) else None
        if parent is None or "USUBJID" not in parent.columns:
            continue
        if var == "\x00":
            pool = set(_text(parent["USUBJID"]).dropna())
            out[idx] = usub[idx].isin(pool).to_numpy()
            continue
        if var not in parent.columns:
            continue
        right = pd.DataFrame({"u": _text(parent["USUBJID"]), "k": _norm(parent[var])})
        right = right.drop_duplicates().assign(__hit=True)
        left = pd.DataFrame({"u": usub[idx].to_numpy(), "k": idval[idx].to_numpy(),
                             "__pos": np.arange(len(idx))})
        m = left.merge(right, how="left", on=["u", "k"])
        got = np.zeros(len(idx), dtype=bool)
        got[m.loc[m["__hit"].notna(), "__pos"].to_numpy()] = True
        out[idx] = got
    return out


def _build_operations() -> None:
    P = OPERATIONS
    P["distinct"] = op_distinct
    P["min_date"] = lambda ev, spec: _date_extreme(ev, spec, "min")
    P["max_date"] = lambda ev, spec: _date_extreme(ev, spec, "max")
    P["record_count"] = op_record_count
    P["dy"] = op_dy
    P["required_variables"] = op_variables_by_core("Req")
    P["expected_variables"] = op_variables_by_core("Exp")
    P["permissible_variables"] = op_variables_by_core("Perm")
    P["get_column_order_from_dataset"] = op_column_order_dataset
    P["get_column_order_from_library"] = op_column_order_library
    P["dataset_names"] = op_dataset_names
    P["study_domains"] = op_dataset_names
    P["domain_label"] = op_domain_label
    P["extract_metadata"] = op_extract_metadata
    P["domain_is_custom"] = op_domain_is_custom
    P["variable_exists"] = op_variable_exists
    P["variable_count"] = op_variable_count
    P["codelist_terms"] = op_codelist_terms
    P["get_dataset_filtered_variables"] = op_dataset_filtered_variables
    P["get_model_filtered_variables"] = op_model_filtered_variables
    P["get_parent_model_column_order"] = op_parent_model_columns
    P["study_value"] = op_study_value
    P["supp_parent_exists"] = op_supp_parent_exists


_build_operations()


# --------------------------------------------------------------------------------------------
# Compilation
# --------------------------------------------------------------------------------------------

def unsupported_features(record: Mapping) -> list[str]:
    """Why a rule record cannot run here (empty when it can)."""
    why: list[str] = []
    rt = record.get("Rule Type")
    if rt not in SUPPORTED_TYPES:
        why.append(f"rule type '{rt}'")

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            op = node.get("operator")
            if op is not None and op not in OPERATORS:
                why.append(f"operator '{op}'")
            if node.get("value_is_reference"):
                why.append("value_is_reference")
            for k in ("all", "any", "not"):
                if k in node:
                    walk(node[k])
        elif isinstance(node, list):
            for x in node:
                walk(x)

    walk(record.get("Check"))
    for op in record.get("Operations") or []:
        name = op.get("operator")
        if name not in OPERATIONS:
            why.append(f"operation '{name}'")
    for m in record.get("Match Datasets") or []:
        if m.get("Is Relationship") or m.get("Wildcard") or \
                str(m.get("Name", "")).endswith("--"):
            why.append(f"relationship match on {m.get('Name')}")
    return sorted(set(why))


#: CORE's "is a number" pattern (CORE-000542, CORE-000732 on --STRESC) refuses a leading zero,
#: so "09" with --STRESN 9 was "not numeric"; a number written with leading zeros is still
#: that number (and "+8", which CORE's own test cases call not numeric, stays not numeric).
NUMBER_PATTERNS = {r"^-?(0|[1-9]\d*)(\.\d+)?$": r"^-?\d+(\.\d+)?$"}


def _patterns_fixed(node: Any) -> Any:
    """The check tree with CORE's number pattern widened (:data:`NUMBER_PATTERNS`)."""
    if isinstance(node, list):
        return [_patterns_fixed(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _patterns_fixed(v) for k, v in node.items()}
    if out.get("operator") in ("matches_regex", "not_matches_regex") and \
            out.get("value") in NUMBER_PATTERNS:
        out["value"] = NUMBER_PATTERNS[out["value"]]
    return out


def compile_rule(rid: str, record: Mapping, *, standard: str = "SDTM") -> Rule:
    why = unsupported_features(record)
    if why:
        raise Unsupported(", ".join(why))
    outcome = record.get("Outcome") or {}
    return Rule(id=rid, rule_type=record["Rule Type"],
                check=_patterns_fixed(record.get("Check")),
                operations=list(record.get("Operations") or []),
                match=list(record.get("Match Datasets") or []),
                scope=dict(record.get("Scope") or {}),
                sensitivity=str(record.get("Sensitivity") or "Record"),
                output_variables=list(outcome.get("Output Variables") or []),
                standard=standard, subject=tuple(record.get("Variables") or ()))
