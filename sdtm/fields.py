"""Field accounting: every raw field a form declares is mapped or declared not mapped.

Rows are accounted for by the lineage and the exclusions (``sdtm.build``); this module does the
same for the columns. A field declared in ``forms.yaml`` is *used* when a spec reads it (a
variable's ``source``, a record block's ``where`` or ``melt``, a visit ``reference``, a
``subject_date`` ``raw`` date, or the subject/site identifiers). A field no spec reads must be
declared ``not_mapped`` with the reason, in ``forms.yaml``::

    death:
      fields:
        DTHDAT: Date of death
        AUTOPSY: {label: Autopsy performed, not_mapped: not collected for this study's analyses}

A field that is neither is silent data loss: :func:`account_fields` records finding
``SB-MAP-UNMAPPED-FIELD`` naming the form, the field and the mapped rows that hold a value
(error when values are dropped, warning when the export has none), and the per-form counts
that ``traceability/accounting.csv`` reports (FIELDS = FIELDS_MAPPED + FIELDS_NOT_MAPPED +
FIELDS_UNACCOUNTED).

>>> uses = field_uses(load_spec("surufatinib-sts"))             # doctest: +SKIP
>>> uses["death"]["DTHCAUS"]                                       # doctest: +SKIP
['DD.DDORRES', 'DD.DDRESCAT']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

import numpy as np
import pandas as pd
from pydantic import BaseModel

from studybuild.errors import SpecError
from studybuild.findings import Findings

if TYPE_CHECKING:
    from sdtm.spec import StudySpec

RULE = "SB-MAP-UNMAPPED-FIELD"
COLUMNS = ["FIELDS", "FIELDS_MAPPED", "FIELDS_NOT_MAPPED", "FIELDS_UNACCOUNTED"]


def _refs_in(value: Any) -> Iterable[str]:
    """Every text of the form ``form.FIELD`` inside algorithm parameters (lists, mappings,
    parameter models), e.g. ``subject_date``'s ``raw: [sv.VISDAT]``."""
    if isinstance(value, str):
        if "." in value:
            yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _refs_in(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _refs_in(v)
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _refs_in(getattr(value, name))


def field_uses(spec: "StudySpec") -> dict[str, dict[str, list[str]]]:
    """form -> field -> what reads it (``DM.DTHDTC``, ``DD record filter (primary)``,
    ``USUBJID``), for the fields some spec reads. Sorted, so the result is deterministic."""
    from sdtm.spec import mapping_params

    forms = spec.forms.forms
    uses: dict[str, dict[str, set[str]]] = {name: {} for name in forms}

    def use(form: str, fld: str, what: str) -> None:
        if form in forms and fld in forms[form].fields:
            uses[form].setdefault(fld, set()).add(what)

    for name, form in forms.items():
        use(name, form.subject or spec.forms.subjects.subject, "USUBJID")
        site = form.site or spec.forms.subjects.site
        if site is not None:
            use(name, site, "SITEID")
    for dname, dom in spec.domains.items():
        for b in dom.records:
            for c in b.where:
                use(b.form, c.field, f"{dname} record filter ({b.id})")
            for g in b.melt:
                for fld in g.fields.values():
                    use(b.form, fld, f"{dname} records ({b.id})")
        for v in dom.variables:
            target = f"SUPP{dname}.QVAL ({v.name})" if v.supp is not None else f"{dname}.{v.name}"
            for m in ([v.mapping] if v.mapping else []) + list(v.by_record.values()):
                for ref in m.source:
                    if "." in ref and not ref.startswith("@"):
                        form, fld = ref.split(".", 1)
                        use(form, fld, target)
                params = mapping_params(m)
                ref_obj = getattr(params, "reference", None)
                if ref_obj is not None and hasattr(ref_obj, "form"):
                    for fld in (ref_obj.name, ref_obj.date):
                        use(ref_obj.form, fld, f"{target} (visit reference)")
                for ref in _refs_in(params):
                    form, _, fld = ref.partition(".")
                    use(form, fld, target)
    return {name: {f: sorted(w) for f, w in sorted(u.items())} for name, u in uses.items()}


def _inherited(spec: "StudySpec", form: str, fld: str) -> bool:
    """The form's field is the common field (declared once for every form)."""
    common = spec.forms.common_fields
    return fld in common and spec.forms.forms[form].fields[fld] is common[fld]


def check_not_mapped(spec: "StudySpec") -> None:
    """A field a form declares ``not_mapped`` must not be read by a spec (SpecError naming
    the file, the line and what reads it). A common field's reason applies to the forms that
    do not read it."""
    src = spec.sources.get("forms")
    uses = field_uses(spec)
    for name, form in spec.forms.forms.items():
        for fld in form.fields:
            why = form.field_spec(fld).not_mapped
            if why is None or fld not in uses[name] or _inherited(spec, name, fld):
                continue
            msg = (f"field {fld!r} of form {name!r} is declared not_mapped but is read by "
                   f"{', '.join(uses[name][fld])}")
            hint = "remove not_mapped (the field is mapped), or stop mapping it"
            if src is None:
                raise SpecError(msg, hint=hint)
            raise src.error(("forms", name, "fields", fld), msg, hint=hint)


def account_fields(spec: "StudySpec", raw, mapped: pd.DataFrame,
                   findings: Findings) -> pd.DataFrame:
    """Per form: fields declared, mapped, declared not mapped and unaccounted for, with a
    ``SB-MAP-UNMAPPED-FIELD`` finding for each unaccounted field (error when mapped rows hold
    values that end up in no dataset; warning when the export has none). ``mapped`` is the
    lineage's distinct (FORM, RAW_ROW)."""
    uses = field_uses(spec)
    rows = []
    for name in sorted(spec.forms.forms):
        form = spec.forms.forms[name]
        n_map = n_not = 0
        lost = []
        for fld in form.fields:
            if fld in uses[name]:
                n_map += 1
            elif form.field_spec(fld).not_mapped is not None:
                n_not += 1
            else:
                lost.append(fld)
        frame = raw.forms.get(name)
        fname = raw.files[name].name if name in raw.files else f"{name}.csv"
        if lost and frame is not None:
            on = mapped.loc[mapped["FORM"] == name, "RAW_ROW"].to_numpy(dtype="int64")
            sel = frame[np.isin(frame["_ROW"].to_numpy(dtype="int64"), on)]
            for fld in lost:
                vals = sel[fld] if fld in sel.columns else pd.Series(dtype="str")
                has = vals.notna().to_numpy() & vals.astype("str").str.strip().ne("") \
                    .fillna(False).to_numpy(bool)
                label = form.field_spec(fld).label
                what = f"field {fld!r}" + (f" ({label})" if label else "") + \
                    f" of form {name!r} is declared in forms.yaml, but no SDTM spec maps it " \
                    "and it is not declared not_mapped with a reason"
                if has.any():
                    first = int(sel["_ROW"].to_numpy()[has][0])
                    findings.add(RULE, "error",
                                 f"{what}: {int(has.sum())} mapped row(s) hold a value that is "
                                 f"in no dataset (first: row {first}, "
                                 f"{str(vals.to_numpy()[has][0])!r}); map it, or declare it "
                                 "not_mapped: <reason>", dataset=fname, variable=fld,
                                 row=first, value=str(vals.to_numpy()[has][0]), source=name)
                else:
                    findings.add(RULE, "warning",
                                 f"{what}; no mapped row holds a value in this export; map it, "
                                 "or declare it not_mapped: <reason>", dataset=fname,
                                 variable=fld, source=name)
        rows.append({"FORM": name, "FIELDS": len(form.fields), "FIELDS_MAPPED": n_map,
                     "FIELDS_NOT_MAPPED": n_not, "FIELDS_UNACCOUNTED": len(lost)})
    return pd.DataFrame(rows, columns=["FORM", *COLUMNS])


__all__ = ["COLUMNS", "RULE", "account_fields", "check_not_mapped", "field_uses"]
