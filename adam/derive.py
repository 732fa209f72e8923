"""The derivation library: admiral's grammar in vectorised pandas.

Every function takes the input frame first and everything else keyword-only; it returns a new
frame (the input is never changed or re-sorted):

- ``derive_vars_*`` / ``derive_var_*`` return ``dataset`` plus new variables, rows in input
  order;
- ``derive_param_*`` / ``derive_extreme_records`` / ``derive_extreme_event`` return ``dataset``
  plus new records appended at the end;
- ``compute_*`` / ``aval_*`` work on vectors.

``by_vars`` and ``order`` are lists of column names; ``"-X"`` in ``order`` sorts X descending and
missing values sort last either way (dplyr's ``arrange``). Filters are ``None`` (all rows), a
callable ``frame -> bool Series`` or a boolean array aligned to the frame. ``set_values_to``
maps new variable names to constants, arrays, or callables evaluated on the new records.
Ties keep the input order, so results never depend on how pandas sorts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from adam._frame import (SUBJECT_KEYS, Filter, as_dates, concat_rows, const_str, day_numbers,
                         first_last, flag, group_codes, lookup_positions, map_values, mask_of,
                         need, order_positions, set_values, str_col, take)
from studybuild.errors import InputError

ByVar = str | tuple[str, str]   # "USUBJID" or ("TRLNKID", "TULNKID"): left name, right name


def _by_names(by_vars: Sequence[ByVar]) -> tuple[list[str], list[str]]:
    left, right = [], []
    for b in by_vars:
        if isinstance(b, tuple):
            left.append(b[0])
            right.append(b[1])
        else:
            left.append(b)
            right.append(b)
    return left, right


# ---------------------------------------------------------------------------------------------
# Merging
# ---------------------------------------------------------------------------------------------

def derive_vars_merged(dataset: pd.DataFrame, *, dataset_add: pd.DataFrame,
                       by_vars: Sequence[ByVar] = SUBJECT_KEYS,
                       new_vars: Mapping[str, str] | Sequence[str] | None = None,
                       filter_add: Filter = None, order: Sequence[str] | None = None,
                       mode: Literal["first", "last"] | None = None,
                       missing_values: Mapping[str, Any] | None = None,
                       exist_flag: str | None = None, true_value: str = "Y",
                       false_value: str | None = None) -> pd.DataFrame:
    """Add variables from ``dataset_add`` matched on ``by_vars`` (a left join).

    ``new_vars`` is a list of names or a mapping ``{new name: name in dataset_add}``; default:
    every variable of ``dataset_add`` that is not a by variable. With ``order`` and ``mode`` the
    first/last record per by group is used; without them ``dataset_add`` (after
    ``filter_add``) must have one record per by group. ``missing_values`` fills unmatched rows;
    ``exist_flag`` names a new flag, ``true_value`` where matched.

    >>> dm = pd.DataFrame({"USUBJID": ["1", "2"]})
    >>> ex = pd.DataFrame({"USUBJID": ["1", "1"], "EXSTDTC": ["2021-01-05", "2021-01-01"]})
    >>> derive_vars_merged(dm, dataset_add=ex, by_vars=["USUBJID"],
    ...                    new_vars={"FIRSTDTC": "EXSTDTC"}, order=["EXSTDTC"], mode="first")
      USUBJID    FIRSTDTC
    0       1  2021-01-01
    1       2         NaN
    """
    left, right = _by_names(by_vars)
    need(dataset, left, "derive_vars_merged (dataset)")
    need(dataset_add, right, "derive_vars_merged (dataset_add)")
    add = dataset_add[mask_of(filter_add, dataset_add)] if filter_add is not None else dataset_add
    if new_vars is None:
        mapping = {c: c for c in add.columns if c not in right}
    elif isinstance(new_vars, Mapping):
        mapping = dict(new_vars)
    else:
        mapping = {c: c for c in new_vars}
    need(add, list(mapping.values()), "derive_vars_merged (new_vars)")
    clash = [c for c in mapping if c in dataset.columns]
    if clash:
        raise ValueError(f"derive_vars_merged: {', '.join(clash)} already in the dataset")
    if mode is not None:
        add = add.iloc[first_last(add, right, order, mode)]
    else:
        dup = add.duplicated(subset=right, keep=False)
        if dup.any():
            keyvals = add.loc[dup, right].iloc[0].to_dict()
            raise InputError(f"derive_vars_merged: dataset_add has more than one record for "
                             f"{keyvals}", hint="give order= and mode= or a stricter filter")
    key = add[right].set_axis(left, axis=1) if left != right else add
    pos = lookup_positions(dataset, key, left)
    new = {name: take(add[src], pos, dataset.index) for name, src in mapping.items()}
    unmatched = pos < 0
    for name, val in (missing_values or {}).items():
        s = new[name]
        if unmatched.any():
            fill = pd.Series([val] * int(unmatched.sum()), index=s.index[unmatched]).astype(s.dtype)
            s = s.copy()
            s[unmatched] = fill
            new[name] = s
    if exist_flag:
        new[exist_flag] = flag(~unmatched, dataset.index, true=true_value, false=false_value)
    return dataset.assign(**new)


def derive_var_merged_exist_flag(dataset: pd.DataFrame, *, dataset_add: pd.DataFrame,
                                 new_var: str, condition: Filter,
                                 by_vars: Sequence[ByVar] = SUBJECT_KEYS,
                                 filter_add: Filter = None, true_value: str = "Y",
                                 false_value: str | None = None,
                                 missing_value: str | None = None) -> pd.DataFrame:
    """Flag whether ``dataset_add`` has a record fulfilling ``condition`` for the by group:
    ``true_value`` if one does, ``false_value`` if records exist but none does,
    ``missing_value`` if there are no records.

    >>> adsl = pd.DataFrame({"USUBJID": ["1", "2", "3"]})
    >>> ex = pd.DataFrame({"USUBJID": ["1", "2"], "EXDOSE": [300.0, 0.0]})
    >>> derive_var_merged_exist_flag(adsl, dataset_add=ex, by_vars=["USUBJID"], new_var="SAFFL",
    ...     condition=lambda d: d.EXDOSE > 0, false_value="N", missing_value="N")["SAFFL"].tolist()
    ['Y', 'N', 'N']
    """
    left, right = _by_names(by_vars)
    need(dataset_add, right, "derive_var_merged_exist_flag (dataset_add)")
    add = dataset_add[mask_of(filter_add, dataset_add)] if filter_add is not None else dataset_add
    cond = mask_of(condition, add)
    g = add[right].assign(_c=cond.astype(np.int8)) \
        .groupby(right, sort=False, dropna=False)["_c"].max()
    summary = g.reset_index()
    if left != right:
        summary = summary.rename(columns=dict(zip(right, left)))
    pos = lookup_positions(dataset, summary, left)
    has = pos >= 0
    val = np.where(has, summary["_c"].to_numpy()[np.where(has, pos, 0)] if len(summary) else 0, -1)
    out = np.where(val == 1, true_value, np.where(val == 0, false_value, missing_value))
    return dataset.assign(**{new_var: str_col(out, dataset.index)})


# ---------------------------------------------------------------------------------------------
# Flags and sequence numbers
# ---------------------------------------------------------------------------------------------

def derive_var_extreme_flag(dataset: pd.DataFrame, *, by_vars: Sequence[str],
                            order: Sequence[str], new_var: str,
                            mode: Literal["first", "last"], filter: Filter = None,
                            true_value: str = "Y", false_value: str | None = None,
                            flag_all: bool = False) -> pd.DataFrame:
    """Flag the first/last record per by group (among the rows in ``filter``; other rows get
    NA, like admiral's ``restrict_derivation``). ``flag_all`` flags every record tied with it.

    >>> d = pd.DataFrame({"USUBJID": ["1", "1", "2"], "ADT": pd.to_datetime(
    ...     ["2021-01-02", "2021-01-01", "2021-01-01"])})
    >>> derive_var_extreme_flag(d, by_vars=["USUBJID"], order=["ADT"], new_var="FIRSTFL",
    ...                         mode="first")["FIRSTFL"].tolist()
    [nan, 'Y', 'Y']
    """
    need(dataset, list(by_vars), "derive_var_extreme_flag")
    m = mask_of(filter, dataset)
    sub = dataset[m]
    out = np.full(len(dataset), None, dtype=object)
    if len(sub):
        sel = first_last(sub, by_vars, order, mode)
        fl = np.zeros(len(sub), dtype=bool)
        fl[sel] = True
        if flag_all and order:
            keys = list(by_vars) + [o.lstrip("-") for o in order]
            chosen = sub.iloc[sel][keys]
            fl = sub[keys].merge(chosen.drop_duplicates(), how="left", indicator=True)[
                "_merge"].eq("both").to_numpy()
        vals = np.where(fl, true_value, false_value)
        out[np.flatnonzero(m)] = vals
    return dataset.assign(**{new_var: str_col(out, dataset.index)})


def derive_var_relative_flag(dataset: pd.DataFrame, *, by_vars: Sequence[str],
                             order: Sequence[str], new_var: str, condition: Filter,
                             mode: Literal["first", "last"] = "first",
                             selection: Literal["before", "after"] = "before",
                             inclusive: bool = True, flag_no_ref_groups: bool = True,
                             filter: Filter = None) -> pd.DataFrame:
    """Flag records before/after the first/last record fulfilling ``condition`` in each by
    group (e.g. assessments up to and including the first PD). Groups without such a record
    are flagged entirely if ``flag_no_ref_groups``.

    >>> d = pd.DataFrame({"USUBJID": ["1"] * 3, "ADT": [1, 2, 3], "AVALC": ["SD", "PD", "SD"]})
    >>> derive_var_relative_flag(d, by_vars=["USUBJID"], order=["ADT"], new_var="ANL02FL",
    ...     condition=lambda x: x.AVALC == "PD")["ANL02FL"].tolist()
    ['Y', 'Y', nan]
    """
    m = mask_of(filter, dataset)
    sub = dataset[m]
    out = np.full(len(dataset), None, dtype=object)
    if len(sub):
        g = group_codes(sub, by_vars)
        pos = order_positions(sub, order, g)
        rank = np.empty(len(sub), dtype=np.int64)
        gs = g[pos]
        starts = np.r_[0, np.flatnonzero(gs[1:] != gs[:-1]) + 1]
        seq = np.arange(len(sub)) - np.repeat(starts, np.diff(np.r_[starts, len(sub)]))
        rank[pos] = seq
        cond = mask_of(condition, sub)
        ngroups = int(g.max()) + 1
        ref = np.full(ngroups, -1, dtype=np.int64)
        cr = np.flatnonzero(cond)
        if len(cr):
            r = pd.Series(rank[cr]).groupby(g[cr]).agg("min" if mode == "first" else "max")
            ref[r.index.to_numpy()] = r.to_numpy()
        myref = ref[g]
        has = myref >= 0
        if selection == "before":
            fl = rank <= myref if inclusive else rank < myref
        else:
            fl = rank >= myref if inclusive else rank > myref
        fl = np.where(has, fl, flag_no_ref_groups)
        out[np.flatnonzero(m)] = np.where(fl, "Y", None)
    return dataset.assign(**{new_var: str_col(out, dataset.index)})


def derive_var_obs_number(dataset: pd.DataFrame, *, by_vars: Sequence[str] = SUBJECT_KEYS,
                          order: Sequence[str] | None = None, new_var: str = "ASEQ"
                          ) -> pd.DataFrame:
    """Number the records 1, 2, ... within each by group in ``order`` (e.g. ASEQ).

    >>> d = pd.DataFrame({"USUBJID": ["1", "1", "2"], "PARAMCD": ["PFS", "OS", "OS"]})
    >>> derive_var_obs_number(d, by_vars=["USUBJID"], order=["PARAMCD"])["ASEQ"].tolist()
    [2.0, 1.0, 1.0]
    """
    g = group_codes(dataset, by_vars)
    pos = order_positions(dataset, order, g)
    gs = g[pos]
    n = len(dataset)
    starts = np.r_[0, np.flatnonzero(gs[1:] != gs[:-1]) + 1] if n else np.zeros(0, np.int64)
    seq = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n])) + 1 if n else \
        np.zeros(0)
    out = np.empty(n, dtype="float64")
    out[pos] = seq
    return dataset.assign(**{new_var: out})


# ---------------------------------------------------------------------------------------------
# Extreme records and events
# ---------------------------------------------------------------------------------------------

def derive_extreme_records(dataset: pd.DataFrame | None = None, *, dataset_add: pd.DataFrame,
                           by_vars: Sequence[str] = SUBJECT_KEYS,
                           dataset_ref: pd.DataFrame | None = None, filter_add: Filter = None,
                           order: Sequence[str] | None = None,
                           mode: Literal["first", "last"] | None = None,
                           exist_flag: str | None = None, true_value: str = "Y",
                           false_value: str | None = "N",
                           keep_source_vars: Sequence[str] | None = None,
                           set_values_to: Mapping[str, Any] | None = None,
                           ref_vars: Sequence[str] | None = None) -> pd.DataFrame:
    """Append the first/last record of ``dataset_add`` per by group as new records (all
    filtered records when no ``mode``). With ``dataset_ref``, by groups of ``dataset_ref``
    without a record get one too (with the by variables, or ``ref_vars`` of
    ``dataset_ref``), with ``exist_flag`` set to ``false_value`` (and ``true_value`` on the
    others).

    >>> ovr = pd.DataFrame({"USUBJID": ["1", "1"], "ADT": [1, 2], "AVALC": ["SD", "PR"]})
    >>> adsl = pd.DataFrame({"USUBJID": ["1", "2"]})
    >>> derive_extreme_records(dataset_add=ovr, dataset_ref=adsl, by_vars=["USUBJID"],
    ...     order=["ADT"], mode="last", set_values_to={"PARAMCD": "LSTA"})
      USUBJID  ADT AVALC PARAMCD
    0       1  2.0    PR    LSTA
    1       2  NaN   NaN    LSTA
    """
    by_vars = list(by_vars)
    need(dataset_add, by_vars, "derive_extreme_records")
    add = dataset_add[mask_of(filter_add, dataset_add)] if filter_add is not None else dataset_add
    sel = add.iloc[first_last(add, by_vars, order, mode)] if mode else add
    if keep_source_vars is not None:
        sel = sel[by_vars + [c for c in keep_source_vars if c not in by_vars]]
    sel = sel.reset_index(drop=True)
    parts = [sel]
    if exist_flag:
        sel = sel.assign(**{exist_flag: const_str(true_value, len(sel))})
        parts = [sel]
    if dataset_ref is not None:
        keep_ref = by_vars + [c for c in (ref_vars or ()) if c not in by_vars]
        ref = dataset_ref[keep_ref].drop_duplicates(subset=by_vars)
        pos = lookup_positions(ref, sel, by_vars)
        missing = ref[pos < 0].reset_index(drop=True)
        if exist_flag:
            missing = missing.assign(**{exist_flag: const_str(false_value, len(missing))})
        parts.append(missing)
    new = concat_rows(parts)
    new = set_values(new, set_values_to)
    if dataset is None:
        return new
    return concat_rows([dataset, new])


@dataclass(frozen=True)
class Event:
    """One candidate event for :func:`derive_extreme_event` (admiral's ``event()``):
    records of ``source_datasets[dataset_name]`` fulfilling ``condition`` qualify;
    ``set_values_to`` is applied to them; ``keep_source_vars`` limits what is kept (the by
    variables always are).

    >>> Event("ovr", condition=lambda d: d.AVALC.isin(["CR", "PR"]),
    ...       set_values_to={"AVALC": "Y"}, description="CR or PR").description
    'CR or PR'
    """

    dataset_name: str
    condition: Filter = None
    set_values_to: Mapping[str, Any] = field(default_factory=dict)
    keep_source_vars: tuple[str, ...] | None = None
    description: str = ""


def derive_extreme_event(dataset: pd.DataFrame | None, *, by_vars: Sequence[str],
                         events: Sequence[Event], source_datasets: Mapping[str, pd.DataFrame],
                         order: Sequence[str], mode: Literal["first", "last"] = "first",
                         set_values_to: Mapping[str, Any] | None = None,
                         event_nr_var: str = "event_nr") -> pd.DataFrame:
    """Append, per by group, the first/last qualifying record over a list of events (e.g.
    best overall response: CR before PR before SD ...). ``order`` may use ``event_nr`` (the
    event's position in ``events``, 1-based).

    >>> ovr = pd.DataFrame({"USUBJID": ["1", "1"], "ADT": [1, 2], "AVALC": ["SD", "PR"]})
    >>> adsl = pd.DataFrame({"USUBJID": ["1", "2"]})
    >>> ev = [Event("ovr", lambda d: d.AVALC == "PR", {"AVALC": "PR"}),
    ...       Event("ovr", lambda d: d.AVALC == "SD", {"AVALC": "SD"}),
    ...       Event("adsl", None, {"AVALC": "MISSING"})]
    >>> derive_extreme_event(None, by_vars=["USUBJID"], events=ev, order=["event_nr", "ADT"],
    ...     source_datasets={"ovr": ovr, "adsl": adsl}, set_values_to={"PARAMCD": "BOR"})
      USUBJID  ADT    AVALC PARAMCD
    0       1  2.0       PR     BOR
    1       2  NaN  MISSING     BOR
    """
    by_vars = list(by_vars)
    cands = []
    for i, ev in enumerate(events, start=1):
        if ev.dataset_name not in source_datasets:
            raise ValueError(f"event source {ev.dataset_name!r} not in source_datasets")
        src = source_datasets[ev.dataset_name]
        sub = src[mask_of(ev.condition, src)] if ev.condition is not None else src
        if ev.keep_source_vars is not None:
            sub = sub[by_vars + [c for c in ev.keep_source_vars if c not in by_vars]]
        sub = sub.reset_index(drop=True)
        sub = set_values(sub, ev.set_values_to)
        sub = sub.assign(**{event_nr_var: np.full(len(sub), float(i))})
        cands.append(sub)
    allc = concat_rows(cands)
    if len(allc):
        allc = allc.iloc[first_last(allc, by_vars, order, mode)].reset_index(drop=True)
    allc = allc.drop(columns=[event_nr_var], errors="ignore")
    allc = set_values(allc, set_values_to)
    if dataset is None:
        return allc
    return concat_rows([dataset, allc])


def derive_param_exist_flag(dataset: pd.DataFrame | None = None, *, dataset_ref: pd.DataFrame,
                            dataset_add: pd.DataFrame, condition: Filter,
                            by_vars: Sequence[str] = SUBJECT_KEYS, true_value: str = "Y",
                            false_value: str | None = None, missing_value: str | None = None,
                            set_values_to: Mapping[str, Any] | None = None,
                            ref_vars: Sequence[str] | None = None) -> pd.DataFrame:
    """Append one record per by group of ``dataset_ref`` whose ``AVALC`` says whether
    ``dataset_add`` has a record fulfilling ``condition`` (``missing_value`` when it has no
    record at all). E.g. measurable disease at baseline.

    >>> adsl = pd.DataFrame({"USUBJID": ["1", "2", "3"]})
    >>> tu = pd.DataFrame({"USUBJID": ["1", "2"], "TUSTRESC": ["TARGET", "NON-TARGET"]})
    >>> derive_param_exist_flag(dataset_ref=adsl, dataset_add=tu, by_vars=["USUBJID"],
    ...     condition=lambda d: d.TUSTRESC == "TARGET", false_value="N", missing_value="N",
    ...     set_values_to={"PARAMCD": "MDIS"})["AVALC"].tolist()
    ['Y', 'N', 'N']
    """
    by_vars = list(by_vars)
    keep_ref = by_vars + [c for c in (ref_vars or ()) if c not in by_vars]
    ref = dataset_ref[keep_ref].drop_duplicates(subset=by_vars).reset_index(drop=True)
    ref = derive_var_merged_exist_flag(ref, dataset_add=dataset_add, by_vars=by_vars,
                                       new_var="AVALC", condition=condition,
                                       true_value=true_value, false_value=false_value,
                                       missing_value=missing_value)
    new = set_values(ref, set_values_to)
    if dataset is None:
        return new
    return concat_rows([dataset, new])


# ---------------------------------------------------------------------------------------------
# Dates, durations, study days
# ---------------------------------------------------------------------------------------------

_UNIT_DAYS = {"days": 1.0, "weeks": 7.0, "months": 365.25 / 12, "years": 365.25}


def compute_duration(start: pd.Series | np.ndarray, end: pd.Series | np.ndarray, *,
                     out_unit: Literal["days", "weeks", "months", "years"] = "days",
                     add_one: bool = True, trunc_out: bool = False) -> np.ndarray:
    """``end - start`` in days (``+ 1`` if ``add_one`` and the duration is not negative),
    converted to ``out_unit`` (weeks = 7 days, months = 365.25/12 days, years = 365.25 days).

    >>> compute_duration(pd.to_datetime(["2021-01-01"]), pd.to_datetime(["2021-01-31"])).tolist()
    [31.0]
    """
    d = day_numbers(end) - day_numbers(start)
    if add_one:
        d = np.where(d >= 0, d + 1, d)
    out = d / _UNIT_DAYS[out_unit]
    return np.trunc(out) if trunc_out else out


def derive_vars_duration(dataset: pd.DataFrame, *, new_var: str, start_date: str, end_date: str,
                         new_var_unit: str | None = None,
                         out_unit: Literal["days", "weeks", "months", "years"] = "days",
                         add_one: bool = True, trunc_out: bool = False) -> pd.DataFrame:
    """Add a duration between two date columns (e.g. TRTDURD = TRTEDT - TRTSDT + 1).

    >>> d = pd.DataFrame({"TRTSDT": pd.to_datetime(["2021-01-01"]),
    ...                   "TRTEDT": pd.to_datetime(["2021-01-21"])})
    >>> derive_vars_duration(d, new_var="TRTDURD", start_date="TRTSDT",
    ...                      end_date="TRTEDT")["TRTDURD"].tolist()
    [21.0]
    """
    need(dataset, [start_date, end_date], "derive_vars_duration")
    val = compute_duration(dataset[start_date], dataset[end_date], out_unit=out_unit,
                           add_one=add_one, trunc_out=trunc_out)
    new: dict[str, Any] = {new_var: val}
    if new_var_unit:
        new[new_var_unit] = str_col(np.where(np.isnan(val), None, out_unit.upper()),
                                    dataset.index)
    return dataset.assign(**new)


def compute_dy(date: pd.Series | np.ndarray, reference: pd.Series | np.ndarray) -> np.ndarray:
    """Study day: ``date - reference + 1`` on/after the reference, ``date - reference``
    before it (there is no day 0).

    >>> compute_dy(pd.to_datetime(["2021-01-01", "2020-12-31"]),
    ...            pd.to_datetime(["2021-01-01", "2021-01-01"])).tolist()
    [1.0, -1.0]
    """
    d = day_numbers(date) - day_numbers(reference)
    return np.where(d >= 0, d + 1, d)


def derive_vars_dy(dataset: pd.DataFrame, *, reference_date: str, source_vars: Sequence[str]
                   ) -> pd.DataFrame:
    """Add study days for date variables: ``ADT`` -> ``ADY``, ``ASTDT`` -> ``ASTDY``,
    ``AENDTM`` -> ``AENDY``.

    >>> d = pd.DataFrame({"TRTSDT": pd.to_datetime(["2021-01-01"]),
    ...                   "ADT": pd.to_datetime(["2021-01-10"])})
    >>> derive_vars_dy(d, reference_date="TRTSDT", source_vars=["ADT"])["ADY"].tolist()
    [10.0]
    """
    need(dataset, [reference_date, *source_vars], "derive_vars_dy")
    new = {}
    for v in source_vars:
        stem = v[:-3] if v.endswith("DTM") else v[:-2] if v.endswith("DT") else v
        new[f"{stem}DY"] = compute_dy(dataset[v], dataset[reference_date])
    return dataset.assign(**new)


@dataclass(frozen=True)
class DateSource:
    """A source of dates for :func:`derive_var_extreme_dt` (e.g. AE start dates for LSTALVDT);
    ``set_values_to`` adds traceability variables (``LALVDOM``: ``"AE"``)."""

    dataset_name: str
    date: str
    filter: Filter = None
    set_values_to: Mapping[str, Any] = field(default_factory=dict)
    seq: str | None = None


def derive_var_extreme_dt(dataset: pd.DataFrame, *, new_var: str, sources: Sequence[DateSource],
                          source_datasets: Mapping[str, pd.DataFrame],
                          mode: Literal["first", "last"] = "last",
                          subject_keys: Sequence[str] = SUBJECT_KEYS) -> pd.DataFrame:
    """Add the first/last date over several sources per subject (e.g. the last date known
    alive). Ties between sources go to the later source in the list for ``last`` and the
    earlier for ``first``; trace variables from the chosen source come along.

    >>> adsl = pd.DataFrame({"USUBJID": ["1", "2"],
    ...                      "TRTEDT": pd.to_datetime(["2021-02-01", None])})
    >>> ae = pd.DataFrame({"USUBJID": ["1"], "ASTDT": pd.to_datetime(["2021-03-01"])})
    >>> derive_var_extreme_dt(adsl, new_var="LSTALVDT", subject_keys=["USUBJID"],
    ...     sources=[DateSource("ae", "ASTDT"), DateSource("adsl", "TRTEDT")],
    ...     source_datasets={"ae": ae, "adsl": adsl})["LSTALVDT"].dt.strftime("%Y-%m-%d").tolist()
    ['2021-03-01', nan]
    """
    keys = list(subject_keys)
    n = len(dataset)
    sign = 1.0 if mode == "last" else -1.0
    best_t = np.full(n, np.nan)          # signed seconds: larger is better
    best_s = np.full(n, np.nan)
    trace = sorted({k for s in sources for k in s.set_values_to})
    tvals = {t: np.full(n, None, dtype=object) for t in trace}
    for src in sources:
        d = source_datasets.get(src.dataset_name)
        if d is None:
            continue
        need(d, keys + [src.date], f"{new_var} source {src.dataset_name}.{src.date}")
        sub = d[mask_of(src.filter, d)] if src.filter is not None else d
        if not len(sub):
            continue
        dt = as_dates(sub[src.date])
        tt = dt.astype("int64").astype("float64")
        tt[np.isnat(dt)] = np.nan
        pos = lookup_positions(sub, dataset, keys)
        ok = (pos >= 0) & ~np.isnan(tt)
        if not ok.any():
            continue
        seq = sub[src.seq].to_numpy(dtype="float64", na_value=np.nan)[ok] if src.seq else \
            np.zeros(int(ok.sum()))
        fr = pd.DataFrame({"p": pos[ok], "t": sign * tt[ok],
                           "s": sign * np.nan_to_num(seq, nan=-np.inf),
                           "r": np.flatnonzero(ok)})
        # per subject: the best date, then the best sequence number on that date (O(n) hashing)
        fr = fr[fr["t"].to_numpy() == fr.groupby("p")["t"].transform("max").to_numpy()]
        fr = fr[fr["s"].to_numpy() == fr.groupby("p")["s"].transform("max").to_numpy()]
        fr = fr.drop_duplicates("p", keep="last")
        p, ct, cs = fr["p"].to_numpy(), fr["t"].to_numpy(), fr["s"].to_numpy()
        cur_t, cur_s = best_t[p], best_s[p]
        tie_wins = mode == "last"               # later source wins ties for last
        better = np.isnan(cur_t) | (ct > cur_t) | (
            (ct == cur_t) & ((cs > cur_s) | ((cs == cur_s) & tie_wins)))
        p, rows = p[better], fr["r"].to_numpy()[better]
        best_t[p], best_s[p] = ct[better], cs[better]
        for k, v in src.set_values_to.items():
            if callable(v):
                vals = v(sub.iloc[rows].reset_index(drop=True))
                tvals[k][p] = np.asarray(vals, dtype=object)
            else:
                tvals[k][p] = v
    out_t = np.full(n, np.datetime64("NaT", "s"))
    have = ~np.isnan(best_t)
    out_t[have] = (sign * best_t[have]).astype("int64").astype("datetime64[s]")
    new = {new_var: pd.Series(out_t, index=dataset.index)}
    for t in trace:
        new[t] = str_col(tvals[t], dataset.index)
    return dataset.assign(**new)


# ---------------------------------------------------------------------------------------------
# Baseline, change, nadir
# ---------------------------------------------------------------------------------------------

def derive_var_base(dataset: pd.DataFrame, *, by_vars: Sequence[str],
                    source_var: str = "AVAL", new_var: str = "BASE",
                    filter: Filter = lambda d: d["ABLFL"].eq("Y")) -> pd.DataFrame:
    """Copy the baseline record's value (``filter``, default ABLFL = "Y") to every record of
    its by group (e.g. USUBJID, PARAMCD).

    >>> d = pd.DataFrame({"USUBJID": ["1"] * 3, "AVAL": [50.0, 40.0, 30.0],
    ...                   "ABLFL": ["Y", None, None]})
    >>> derive_var_base(d, by_vars=["USUBJID"])["BASE"].tolist()
    [50.0, 50.0, 50.0]
    """
    need(dataset, [*by_vars, source_var], "derive_var_base")
    m = mask_of(filter, dataset)
    base = dataset.loc[m, list(by_vars) + [source_var]]
    dup = base.duplicated(subset=list(by_vars), keep=False)
    if dup.any():
        raise InputError(f"derive_var_base: more than one baseline record for "
                         f"{base.loc[dup, list(by_vars)].iloc[0].to_dict()}")
    pos = lookup_positions(dataset, base, by_vars)
    return dataset.assign(**{new_var: take(base[source_var], pos, dataset.index)})


def derive_var_chg(dataset: pd.DataFrame) -> pd.DataFrame:
    """CHG = AVAL - BASE.

    >>> derive_var_chg(pd.DataFrame({"AVAL": [30.0], "BASE": [50.0]}))["CHG"].tolist()
    [-20.0]
    """
    need(dataset, ["AVAL", "BASE"], "derive_var_chg")
    return dataset.assign(CHG=dataset["AVAL"].astype("float64") - dataset["BASE"].astype("float64"))


def derive_var_pchg(dataset: pd.DataFrame) -> pd.DataFrame:
    """PCHG = 100 * (AVAL - BASE) / |BASE|; missing when BASE is 0.

    >>> derive_var_pchg(pd.DataFrame({"AVAL": [30.0, 1.0], "BASE": [50.0, 0.0]}))["PCHG"].tolist()
    [-40.0, nan]
    """
    need(dataset, ["AVAL", "BASE"], "derive_var_pchg")
    a = dataset["AVAL"].to_numpy(dtype="float64", na_value=np.nan)
    b = dataset["BASE"].to_numpy(dtype="float64", na_value=np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(b == 0, np.nan, (a - b) / np.abs(b) * 100)
    return dataset.assign(PCHG=p)


def derive_var_nadir(dataset: pd.DataFrame, *, by_vars: Sequence[str], order_var: str = "ADY",
                     source_var: str = "AVAL", new_var: str = "NADIR", filter: Filter = None
                     ) -> pd.DataFrame:
    """The smallest ``source_var`` among earlier records (``order_var`` strictly before) of the
    by group that pass ``filter`` — the nadir a record is compared with.

    >>> d = pd.DataFrame({"USUBJID": ["1"] * 4, "ADY": [1, 22, 43, 64],
    ...                   "AVAL": [94.0, 91.0, 110.0, 92.0]})
    >>> derive_var_nadir(d, by_vars=["USUBJID"])["NADIR"].tolist()
    [nan, 94.0, 91.0, 91.0]
    """
    need(dataset, [*by_vars, order_var, source_var], "derive_var_nadir")
    m = mask_of(filter, dataset)
    g = group_codes(dataset, by_vars)
    t = dataset[order_var].to_numpy(dtype="float64", na_value=np.nan) \
        if not pd.api.types.is_datetime64_any_dtype(dataset[order_var]) \
        else day_numbers(dataset[order_var])
    v = dataset[source_var].to_numpy(dtype="float64", na_value=np.nan)
    contrib = np.where(m & ~np.isnan(v) & ~np.isnan(t), v, np.inf)
    # per (group, time): min contribution; then running min over earlier times
    frame = pd.DataFrame({"g": g, "t": t, "c": contrib})
    per = frame.groupby(["g", "t"], sort=True)["c"].min().reset_index()
    per["run"] = per.groupby("g")["c"].cummin()
    per["prev"] = per.groupby("g")["run"].shift(1)
    res = frame.merge(per[["g", "t", "prev"]], on=["g", "t"], how="left")["prev"].to_numpy()
    res = np.where(np.isinf(res), np.nan, res)
    return dataset.assign(**{new_var: res.astype("float64")})


# ---------------------------------------------------------------------------------------------
# Groupings and treatment-emergence
# ---------------------------------------------------------------------------------------------

class Group(BaseModel):
    """One category of a :class:`Grouping`: ``lower <= value < upper`` (open ends allowed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    label: str
    lower: float | None = None
    upper: float | None = None


class Grouping(BaseModel):
    """Categories of a numeric variable (AGEGR1 from AGE). Admiral's template groups ages
    <18, 18-64, >64.

    >>> Grouping.admiral_age().groups[1]
    Group(label='18-64', lower=18.0, upper=65.0)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    groups: tuple[Group, ...]
    missing: str | None = None

    @classmethod
    def admiral_age(cls) -> "Grouping":
        return cls(groups=(Group(label="<18", upper=18), Group(label="18-64", lower=18, upper=65),
                           Group(label=">64", lower=65)))


def derive_vars_cat(dataset: pd.DataFrame, *, source_var: str, new_var: str,
                    grouping: Grouping, new_var_n: str | None = None) -> pd.DataFrame:
    """Add a category (and optionally its number 1..k) from a numeric variable.

    >>> d = pd.DataFrame({"AGE": [17.0, 64.0, 65.0, None]})
    >>> derive_vars_cat(d, source_var="AGE", new_var="AGEGR1",
    ...                 grouping=Grouping.admiral_age())["AGEGR1"].tolist()
    ['<18', '18-64', '>64', nan]
    """
    need(dataset, [source_var], "derive_vars_cat")
    x = dataset[source_var].to_numpy(dtype="float64", na_value=np.nan)
    lab = np.full(len(x), grouping.missing, dtype=object)
    num = np.full(len(x), np.nan)
    done = np.isnan(x)
    for i, g in enumerate(grouping.groups, start=1):
        m = ~done
        if g.lower is not None:
            m &= x >= g.lower
        if g.upper is not None:
            m &= x < g.upper
        lab[m] = g.label
        num[m] = i
        done |= m
    new = {new_var: str_col(lab, dataset.index)}
    if new_var_n:
        new[new_var_n] = num
    return dataset.assign(**new)


def derive_var_trtemfl(dataset: pd.DataFrame, *, new_var: str = "TRTEMFL",
                       start_date: str = "ASTDT", end_date: str = "AENDT",
                       trt_start_date: str = "TRTSDT", trt_end_date: str | None = None,
                       end_window: int | None = None, initial_intensity: str | None = None,
                       intensity: str | None = None) -> pd.DataFrame:
    """Treatment-emergent flag (admiral's rule): "Y" when the event starts on/after the first
    dose and (if ``end_window``) no more than ``end_window`` days after the last dose; when the
    start is missing, when the end is missing or on/after the first dose; and, with
    ``initial_intensity``/``intensity``, when an event that started before the first dose and
    continued into treatment worsened.

    >>> ae = pd.DataFrame({"ASTDT": pd.to_datetime(["2021-01-01", "2021-03-01", "2020-12-01"]),
    ...                    "AENDT": pd.to_datetime([None, None, "2020-12-05"]),
    ...                    "TRTSDT": pd.to_datetime(["2021-01-01"] * 3),
    ...                    "TRTEDT": pd.to_datetime(["2021-01-31"] * 3)})
    >>> derive_var_trtemfl(ae, trt_end_date="TRTEDT", end_window=28)["TRTEMFL"].tolist()
    ['Y', nan, nan]
    """
    cols = [start_date, end_date, trt_start_date] + ([trt_end_date] if trt_end_date else [])
    need(dataset, cols, "derive_var_trtemfl")
    if (initial_intensity is None) != (intensity is None):
        raise ValueError("give both initial_intensity and intensity, or neither")
    st, en, ts = (day_numbers(dataset[c]) for c in (start_date, end_date, trt_start_date))
    te = day_numbers(dataset[trt_end_date]) if trt_end_date else np.full(len(dataset), np.nan)
    with np.errstate(invalid="ignore"):
        within_end = np.ones(len(dataset), bool) if end_window is None else \
            (np.isnan(te) | (st <= te + end_window))
        onset = ~np.isnan(st) & (st >= ts) & within_end
        no_start = np.isnan(st) & (np.isnan(en) | (en >= ts))
        fl = ~np.isnan(ts) & (onset | no_start)
        if intensity is not None:
            ii = pd.to_numeric(dataset[initial_intensity], errors="coerce") \
                .to_numpy(dtype="float64")
            it = pd.to_numeric(dataset[intensity], errors="coerce").to_numpy(dtype="float64")
            worse = ~np.isnan(st) & (st < ts) & (np.isnan(en) | (en >= ts)) & (it > ii)
            fl |= ~np.isnan(ts) & worse
    return dataset.assign(**{new_var: flag(fl, dataset.index)})


# ---------------------------------------------------------------------------------------------
# Vector helpers for response values
# ---------------------------------------------------------------------------------------------

_RESP = {"CR": 1.0, "PR": 2.0, "SD": 3.0, "NON-CR/NON-PD": 4.0, "PD": 5.0, "NE": 6.0,
         "MISSING": 7.0}


def aval_resp(avalc: pd.Series) -> np.ndarray:
    """Numeric code of a RECIST response (CR 1, PR 2, SD 3, NON-CR/NON-PD 4, PD 5, NE 6,
    MISSING 7), as admiralonco's ``aval_resp``.

    >>> aval_resp(pd.Series(["PR", "NE", None])).tolist()
    [2.0, 6.0, nan]
    """
    return map_values(avalc, _RESP)


def yn_to_numeric(avalc: pd.Series) -> np.ndarray:
    """Y -> 1, N -> 0, else missing.

    >>> yn_to_numeric(pd.Series(["Y", "N", None])).tolist()
    [1.0, 0.0, nan]
    """
    return map_values(avalc, {"Y": 1.0, "N": 0.0})


__all__ = [
    "ByVar", "DateSource", "Event", "Group", "Grouping", "aval_resp", "compute_duration",
    "compute_dy", "derive_extreme_event", "derive_extreme_records", "derive_param_exist_flag",
    "derive_var_base", "derive_var_chg", "derive_var_extreme_dt", "derive_var_extreme_flag",
    "derive_var_merged_exist_flag", "derive_var_nadir", "derive_var_obs_number",
    "derive_var_pchg", "derive_var_relative_flag", "derive_var_trtemfl", "derive_vars_cat",
    "derive_vars_duration", "derive_vars_dy", "derive_vars_merged", "yn_to_numeric",
]
