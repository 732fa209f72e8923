"""SDTM metadata from the spec and the data: what define.xml, the XPT writer and the checks
read (:class:`studybuild.metadata.StudyMetadata`, kind "SDTM").

Per variable: label, type, core, role from SDTMIG (the spec may override the label); the
codelist (a study subset of the CDISC codelist, keyed by its C-code, with the terms used);
origin (Collected / Derived / Assigned / Protocol) from the algorithm or the spec; source
(form.field); method in plain words generated from the algorithm and its parameters.
Value-level metadata describes TR/RS (any findings domain with --TESTCD) by test code.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable

import pandas as pd

from sdtm.post import model_study_days
from sdtm.registry import algorithms
from sdtm.spec import DomainSpec, StudySpec, mapping_params
from sdtm.terminology import find_codelist, variable_codelist
from studybuild import standards
from studybuild.metadata import (CodelistTerm, DatasetMeta, StudyCodelist, StudyMetadata,
                                 ValueLevel, VariableMeta, from_standard)

_AUTO = {
    "STUDYID": ("Assigned", "", "The study identifier from study.yaml."),
    "DOMAIN": ("Assigned", "", "The domain code."),
    "USUBJID": ("Derived", "", "STUDYID, SITEID and SUBJID joined with '-'."),
    "SUBJID": ("Collected", "", "The subject identifier in the subject registry form."),
    "SITEID": ("Collected", "", "The site identifier in the subject registry form."),
    "EPOCH": ("Derived", "", "The EPOCH of the subject's element (SE) whose start is the "
                             "latest on or before the record's date (complete dates only)."),
}


def _mappings(dom: DomainSpec, name: str) -> list[tuple[str | None, object]]:
    v = dom.variable(name)
    if v is None:
        return []
    out: list[tuple[str | None, object]] = []
    if v.mapping is not None:
        blocks_with_own = set(v.by_record)
        rest = [b.id for b in dom.records if b.id not in blocks_with_own]
        if rest or not dom.records:
            out.append((None if not v.by_record else ",".join(rest), v.mapping))
    out += list(v.by_record.items())
    return out


def variable_origin(spec: StudySpec, dom: DomainSpec, name: str,
                    blocks: set[str] | None = None) -> tuple[str, str, str]:
    """(origin, source, method) of one variable from its mappings (or the engine's); with
    ``blocks``, from the mappings of those record blocks only."""
    algs = algorithms()
    v = dom.variable(name)
    ms = _mappings(dom, name)
    if blocks is not None:
        ms = [(b, m) for b, m in ms if b is None or set(b.split(",")) & blocks]
    if ms:
        origins = [algs[m.algorithm].origin for _, m in ms]
        origin = origins[0] if len(set(origins)) == 1 else \
            ("Collected" if "Collected" in origins else origins[0])
        srcs: list[str] = []
        methods = []
        for blk, m in ms:
            srcs += [s for s in m.source if "." in s and s not in srcs]
            text = algs[m.algorithm].method(mapping_params(m), list(m.source))
            methods.append(f"{blk}: {text}" if blk and len(ms) > 1 else text)
        if v is not None and v.origin:
            origin = v.origin
        return origin, ", ".join(srcs), " ".join(methods)
    if name in _AUTO:
        return _AUTO[name]
    if name == f"{dom.domain}SEQ":
        keys = ", ".join(["USUBJID"] + dom.sort)
        return "Derived", "", f"Sequence number within USUBJID, ordered by {keys}."
    if name.endswith("DY"):
        return ("Derived", "", f"Study day of {name[:-2]}DTC relative to DM.RFSTDTC "
                               "(day 1 = RFSTDTC, no day 0; complete dates only).")
    if name.endswith("LOBXFL"):
        return ("Derived", "", "Y on the last non-missing result on or before the first dose "
                               "(DM.RFXSTDTC) per subject and test.")
    for d in dom.derive:
        alg = algs[d.algorithm]
        return "Derived", "", alg.method(mapping_params(d), [])
    return "Derived", "", ""


def _codelist_for(spec: StudySpec, dom: DomainSpec, name: str) -> str | None:
    v = dom.variable(name)
    if v is not None and v.codelist:
        return v.codelist
    for _, m in _mappings(dom, name):
        if m.algorithm == "ct":
            p = mapping_params(m)
            if p.codelist:
                return p.codelist
    return variable_codelist(dom.domain, name)


def _study_codelist(spec: StudySpec, key: str, values: Iterable[str]) -> StudyCodelist | None:
    cl = find_codelist(spec, key)
    if cl is None:
        return None
    used = sorted({str(v) for v in values if v is not None and str(v) != ""})
    if cl.cdisc and not cl.extensible:
        # a value outside a non-extensible codelist is a data error (the ct mapper reported
        # it and kept it as collected): it must not become a term of the study's codelist,
        # or define.xml would list it and checks against that codelist would accept it
        used = [v for v in used if v in cl.values]
    terms = tuple(CodelistTerm(value=v, decode=cl.decodes.get(v, ""), code=cl.codes.get(v, ""))
                  for v in used)
    return StudyCodelist(id=cl.id, name=cl.name, terms=terms,
                         ct_code=cl.id if cl.cdisc else None, extensible=cl.extensible)


def build_metadata(spec: StudySpec, datasets: dict[str, pd.DataFrame], *,
                   extra: dict[str, DatasetMeta] | None = None,
                   extra_value_level: tuple[ValueLevel, ...] = ()) -> StudyMetadata:
    """Metadata of the built datasets; ``extra`` gives ready-made dataset metadata (trial
    design) for datasets the spec does not describe."""
    ig = standards.sdtmig()
    dmeta: dict[str, DatasetMeta] = dict(extra or {})
    used_values: dict[str, set[str]] = {}
    cat_vlm: list[tuple[str, str, list]] = []
    for name, frame in datasets.items():
        if name in dmeta:
            # ready-made metadata (trial design): the terms its codelist variables use, so
            # that sponsor extensions (TSVCDREF 'ISO 8601') are listed as extended values
            for v in dmeta[name].variables:
                if v.codelist and v.type == "Char" and v.name in frame:
                    cl = find_codelist(spec, v.codelist)
                    if cl is not None:
                        used_values.setdefault(cl.id, set()).update(
                            frame[v.name].dropna().astype("str").unique().tolist())
            continue
        if name.startswith("SUPP"):
            base = from_standard(name, frame.columns)
            parent = spec.domains.get(name[4:])
            vars_ = [VariableMeta(name=v.name, label=v.label, type=v.type, core=v.core,
                                  role=v.role, codelist=v.codelist, origin="Assigned"
                                  if v.name in ("STUDYID", "RDOMAIN", "IDVAR") else "Derived")
                     for v in base.variables]
            dmeta[name] = DatasetMeta(name=name, label=f"Supplemental Qualifiers for {name[4:]}",
                                      standard=base.standard, class_="RELATIONSHIP",
                                      structure="One record per IDVAR, IDVARVAL, and QNAM "
                                                "value per subject",
                                      keys=("STUDYID", "RDOMAIN", "USUBJID", "IDVAR",
                                            "IDVARVAL", "QNAM"), variables=tuple(vars_),
                                      comment="" if parent is None else
                                      f"Supplemental qualifiers of {name[4:]}")
            continue
        dom = spec.domains.get(name)
        base = from_standard(name, frame.columns)
        model_days = model_study_days(name, frame.columns)
        base_vars = [replace(v, label=model_days[v.name], type="Num", role="Timing")
                     if v.name in model_days else v for v in base.variables]
        if model_days:      # SDTM model additions keep their place in the frame's order
            order = {c: i for i, c in enumerate(frame.columns)}
            base_vars.sort(key=lambda v: order.get(v.name, len(order)))
        vars_ = []
        for v in base_vars:
            origin, source, method = variable_origin(spec, dom, v.name) if dom else \
                ("Derived", "", "")
            vs = dom.variable(v.name) if dom else None
            label = vs.label if vs is not None and vs.label else v.label
            cl_key = _codelist_for(spec, dom, v.name) if dom else None
            codelist = None
            by_cat = category_codelists(name, v.name, frame)
            if by_cat:
                # one codelist per category, as value-level metadata (DSDECOD: PROTMLST for
                # milestones, NCOMPLT for disposition events), not one codelist whose
                # "extended values" are another codelist's terms
                for _, code, used in by_cat:
                    used_values.setdefault(code, set()).update(used)
                    cat_vlm.append((name, v.name, by_cat))
                cl_key = None
            if cl_key is not None and v.type == "Char":
                cl = find_codelist(spec, cl_key)
                if cl is not None:
                    codelist = cl.id
                    used_values.setdefault(cl.id, set()).update(
                        frame[v.name].dropna().astype("str").unique().tolist())
            vars_.append(VariableMeta(name=v.name, label=label, type=v.type, core=v.core,
                                      role=v.role, codelist=codelist, origin=origin,
                                      source=source, method=method,
                                      comment=vs.comment if vs is not None else ""))
        meta = ig.dataset(name)
        label = dom.label if dom is not None and dom.label else meta.label
        keys = tuple(dom.keys) if dom is not None and dom.keys else base.keys
        dmeta[name] = DatasetMeta(name=name, label=label, standard=base.standard,
                                  class_=base.class_, structure=base.structure,
                                  keys=keys, variables=tuple(vars_),
                                  comment=dom.description if dom is not None else "")
    codelists = {}
    for key in sorted(used_values):
        sc = _study_codelist(spec, key, used_values[key])
        if sc is not None:
            codelists[sc.id] = sc
    value_level = _value_level(spec, datasets, codelists) + \
        _category_value_level(spec, dmeta, cat_vlm) + tuple(extra_value_level)
    return StudyMetadata(study_id=spec.id, studyid=spec.study.studyid, kind="SDTM",
                         datasets=dict(sorted(dmeta.items())), value_level=value_level,
                         codelists=codelists, ct_version=standards.SDTM_CT_VERSION)


def category_codelists(dataset: str, variable: str, frame: pd.DataFrame
                       ) -> list[tuple[str, str, list[str]]]:
    """For a variable whose SDTMIG entry names several codelists (DS.DSDECOD: NCOMPLT,
    PROTMLST, OTHEVENT), the codelist of each category (--CAT value): [(category, C-code,
    values used)], the codelist being the first of the IG's that holds every value used in
    that category, else the one that holds most. Empty when the variable has one codelist or
    the dataset no --CAT."""
    cat = f"{dataset}CAT"
    try:
        igvar = standards.sdtmig().dataset(dataset).find(variable)
    except standards.StandardsLookupError:
        return []
    if igvar is None or len(igvar.codelists) < 2 or variable == cat or cat not in frame \
            or variable not in frame:
        return []
    sub = frame[[cat, variable]].dropna()
    out = []
    for value, g in sub.groupby(cat, sort=True):
        used = sorted(set(g[variable].astype("str")))
        best, best_n = None, -1
        for code in igvar.codelists:
            cl = find_codelist(None, code)
            n = sum(1 for u in used if u in cl) if cl is not None else -1
            if n > best_n:
                best, best_n = code, n
            if n == len(used):
                break
        if best is not None:
            out.append((str(value), best, used))
    return out


def _blocks_with(dom: DomainSpec, variable: str, value: str) -> set[str]:
    """Record blocks that set ``variable`` to ``value`` with a hardcode mapping."""
    out = set()
    for blk, m in _mappings(dom, variable):
        if m.algorithm == "hardcode" and str(mapping_params(m).value) == value:
            out |= set(blk.split(",")) if blk else {b.id for b in dom.records}
    return out


def _category_value_level(spec: StudySpec, dmeta: dict[str, DatasetMeta],
                          items: list[tuple[str, str, list]]) -> tuple[ValueLevel, ...]:
    out = []
    seen = set()
    for name, var, by_cat in items:
        if (name, var) in seen:
            continue
        seen.add((name, var))
        parent = dmeta[name].variable(var)
        dom = spec.domains.get(name)
        for value, code, _ in by_cat:
            origin, source, method = (parent.origin, parent.source, parent.method)
            if dom is not None:
                blocks = _blocks_with(dom, f"{name}CAT", value)
                origin, source, method = variable_origin(spec, dom, var, blocks or None)
            out.append(ValueLevel(dataset=name, variable=var, where=((f"{name}CAT", value),),
                                  label=parent.label, type="Char", codelist=code,
                                  origin=origin, source=source, method=method))
    return tuple(out)


def _value_level(spec: StudySpec, datasets: dict[str, pd.DataFrame],
                 codelists: dict[str, StudyCodelist]) -> tuple[ValueLevel, ...]:
    """TR/RS (every findings domain with --TESTCD): per test code, the result variables."""
    out: list[ValueLevel] = []
    for name in sorted(datasets):
        frame = datasets[name]
        testcd = f"{name}TESTCD"
        test = f"{name}TEST"
        if testcd not in frame or name not in spec.domains or not len(frame):
            continue
        dom = spec.domains[name]
        labels = frame.groupby(testcd)[test].first() if test in frame else {}
        for code in sorted(frame[testcd].dropna().unique()):
            rows = frame[frame[testcd] == code]
            for suffix in ("ORRES", "ORRESU", "STRESC", "STRESN", "STRESU"):
                var = f"{name}{suffix}"
                if var not in rows or not rows[var].notna().any():
                    continue
                vtype = "Num" if suffix == "STRESN" else "Char"
                origin, source, method = variable_origin(spec, dom, var)
                cl = None
                if suffix == "STRESC" and vtype == "Char":
                    cl = _result_codelist(spec, codelists, name, var, rows[var])
                if suffix in ("ORRESU", "STRESU"):
                    cl = "C71620" if "C71620" in codelists else None
                unit = rows[f"{name}STRESU"].dropna().iloc[0] if f"{name}STRESU" in rows and \
                    rows[f"{name}STRESU"].notna().any() else ""
                out.append(ValueLevel(dataset=name, variable=var, where=((testcd, code),),
                                      label=str(labels.get(code, code))[:40] if len(labels)
                                      else code, type=vtype, codelist=cl, origin=origin,
                                      source=source, method=method, unit=unit))
    return tuple(out)


def _result_codelist(spec, codelists, domain, var, values) -> str | None:
    """The codelist whose terms cover a test's character results (ONCRSR, NY, TRPROPRS)."""
    vals = set(values.dropna().astype("str"))
    if not vals:
        return None
    for key in ("C96785", "C66742", "C124309", "C123650"):
        cl = find_codelist(spec, key)
        if cl is not None and vals <= set(cl.values):
            if key not in codelists:
                codelists[key] = _study_codelist(spec, key, vals)
            else:
                old = codelists[key]
                merged = sorted({t.value for t in old.terms} | vals)
                codelists[key] = _study_codelist(spec, key, merged)
            return key
    return None
