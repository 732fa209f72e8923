"""Read a define.xml (2.1, 2.0 or 1.0) into :class:`~studybuild.metadata.StudyMetadata`, so that
``studybuild validate --define`` checks a folder of datasets against the sponsor's own
metadata: dataset labels, keys and structure, variable labels, types, lengths, origins,
methods and comments, codelists with their terms and C-codes, and value-level metadata.

Parsing goes through :mod:`studybuild.xmlsafe` (no DTD, no entities, no network): a document
with a DOCTYPE or ENTITY declaration (XXE, billion laughs) is refused with an InputError.

What define.xml cannot say is filled from the IG: a variable that is not Mandatory gets its
IG core (Exp/Perm) when the IG has the variable, else Perm. Where clauses other than EQ/IN
(NE, NOTIN, LT, ...) cannot be expressed as :class:`~studybuild.metadata.ValueLevel`
conditions and are skipped; external dictionaries (MedDRA, ISO 3166) have no terms and are
not returned as codelists.

Define-XML 1.0 (ODM 1.2, as SAS-era submissions such as the CDISC pilot have it) says the same
things in other places, read here the same way: labels in ``def:Label`` attributes, origins,
comments and ``def:ComputationMethod`` as attributes or references of ``ItemDef``, keys in
``def:DomainKeys``, codelist order in ``def:Rank``, the standard on ``MetaDataVersion``
(``def:StandardName="CDISC SDTM" def:StandardVersion="3.1.2"`` is SDTMIG 3.1.2). Its
value-level metadata has no where clauses and is not read.

Codelist coded values are read without leading and trailing whitespace, which no XPT value
can match (the pilot's ADaM define.xml has ``CodedValue="Y"`` followed by a no-break space).
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

from studybuild import standards
from studybuild.define.common import (CHAR_TYPES, NS_DEF, NS_DEF10, NS_DEF20, NS_ODM, NS_ODM12,
                                      NS_XML, RAW_PREFIX)
from studybuild.errors import InputError
from studybuild.metadata import (CodelistTerm, DatasetMeta, StudyCodelist, StudyMetadata,
                                 ValueLevel, VariableMeta, variable_from_standard)
from studybuild.xmlsafe import parse

_ORIGIN_20 = {"CRF": "Collected", "eDT": "Collected", "Derived": "Derived",
              "Assigned": "Assigned", "Protocol": "Protocol", "Predecessor": "Predecessor"}
_ORIGINS = {"Collected", "Derived", "Assigned", "Protocol", "Predecessor", "Not Available",
            "Other"}


class _NS:
    def __init__(self, deff: str, odm: str = NS_ODM):
        self.odm = odm
        self.deff = deff

    def o(self, tag: str) -> str:
        return f"{{{self.odm}}}{tag}"

    def d(self, tag: str) -> str:
        return f"{{{self.deff}}}{tag}"


def _text(el, ns: _NS, child: str = "Description") -> str:
    """TranslatedText of a child element (English first, else the first one)."""
    if el is None:
        return ""
    node = el.find(ns.o(child)) if child else el
    if node is None:
        return ""
    texts = node.findall(ns.o("TranslatedText"))
    if not texts:
        return ""
    for t in texts:
        if t.get(f"{{{NS_XML}}}lang", "en").lower().startswith("en"):
            return " ".join((t.text or "").split())
    return " ".join((texts[0].text or "").split())


def _label(el, ns: _NS) -> str:
    """Description (Define-XML 2.x), else the def:Label attribute (Define-XML 1.0)."""
    return _text(el, ns) or " ".join((el.get(ns.d("Label")) or "").split())


def _order(el, ns: _NS) -> float:
    """OrderNumber (2.x), else def:Rank (1.0); 0 when neither is a number."""
    raw = el.get("OrderNumber") or el.get(ns.d("Rank")) or "0"
    try:
        return float(raw)
    except ValueError:
        return 0.0


def _origin_10(raw: str) -> tuple[str, str]:
    """(origin, source) from a Define-XML 1.0 Origin attribute ("CRF Page 7", "eDT",
    "Derived", "Assigned", "Protocol", free text)."""
    raw = " ".join(raw.split())
    if raw.upper().startswith("CRF"):
        return "Collected", raw
    if raw in _ORIGIN_20:
        return _ORIGIN_20[raw], "" if raw == _ORIGIN_20[raw] else raw
    return ("Other", raw) if raw else ("", "")


def standard_name(name: str, version: str) -> str:
    """A declared standard as the IGs are named: ``("CDISC SDTM", "3.1.2")`` (Define-XML 1.0,
    whose SDTM StandardVersion is the IG's) and ``("SDTM-IG", "3.1.3")`` (2.0) both give
    ``"SDTMIG ..."``; ``ADaM-IG`` gives ``ADaMIG``; others are kept as written.

    >>> standard_name("CDISC SDTM", "3.1.2"), standard_name("ADaMIG", "1.1")
    ('SDTMIG 3.1.2', 'ADaMIG 1.1')
    """
    n = " ".join(name.split())
    key = n.upper().replace("CDISC ", "").replace("-", "").replace(" ", "")
    n = {"SDTM": "SDTMIG", "SDTMIG": "SDTMIG", "ADAMIG": "ADaMIG"}.get(key, n)
    return f"{n} {version.strip()}".strip()


def _ig_core(dataset: str, name: str) -> str:
    vm = variable_from_standard(dataset, name)
    return vm.core if vm is not None and vm.core in ("Exp", "Perm", "Cond") else "Perm"


def read_define(path: str | os.PathLike) -> StudyMetadata:
    """Metadata from a define.xml: ours or anyone's (CDISC's MSG examples read cleanly)."""
    path = Path(path)
    tree = parse(path)
    root = tree.getroot()
    nsvals = set((root.nsmap or {}).values())
    if root.tag not in (f"{{{NS_ODM}}}ODM", f"{{{NS_ODM12}}}ODM"):
        raise InputError("not a define.xml: the root element is not ODM 1.3 (Define-XML 2.x) "
                         "or ODM 1.2 (Define-XML 1.0)", path=path)
    odm = NS_ODM12 if root.tag == f"{{{NS_ODM12}}}ODM" else NS_ODM
    v1 = odm == NS_ODM12 or (NS_DEF10 in nsvals and NS_DEF not in nsvals and
                             NS_DEF20 not in nsvals)
    deff = NS_DEF10 if v1 else \
        (NS_DEF if NS_DEF in nsvals else (NS_DEF20 if NS_DEF20 in nsvals else NS_DEF))
    ns = _NS(deff, odm)
    study = root.find(ns.o("Study"))
    mdv = study.find(ns.o("MetaDataVersion")) if study is not None else None
    if mdv is None:
        raise InputError("not a define.xml: no Study/MetaDataVersion", path=path)
    gv = study.find(ns.o("GlobalVariables"))
    studyid = ""
    if gv is not None:
        studyid = (gv.findtext(ns.o("StudyName")) or gv.findtext(ns.o("ProtocolName")) or
                   "").strip()

    # standards
    std_by_oid: dict[str, str] = {}
    ig_standard = ""
    kind = None
    ct_version = standards.SDTM_CT_VERSION
    stds = mdv.find(ns.d("Standards"))
    if stds is not None:
        for s in stds.findall(ns.d("Standard")):
            std_by_oid[s.get("OID", "")] = f"{s.get('Name', '')} {s.get('Version', '')}".strip()
            if s.get("Type") == "IG":
                ig_standard = ig_standard or standard_name(s.get("Name", ""),
                                                           s.get("Version", ""))
                kind = kind or ("ADaM" if s.get("Name", "").upper().startswith("ADAM")
                                else "SDTM")
            if s.get("Type") == "CT" and s.get("PublishingSet", "").upper() == "SDTM":
                ct_version = s.get("Version", ct_version)
    default_std = ""
    if mdv.get(ns.d("StandardName")):   # Define-XML 2.0 and 1.0
        default_std = standard_name(mdv.get(ns.d("StandardName")),
                                    mdv.get(ns.d("StandardVersion"), ""))
        kind = kind or ("ADaM" if "ADAM" in default_std.upper() else "SDTM")

    methods = {m.get("OID"): _text(m, ns) for m in mdv.findall(ns.o("MethodDef"))}
    for m in mdv.findall(ns.d("ComputationMethod")):          # Define-XML 1.0
        methods[m.get("OID")] = " ".join((m.text or "").split())
    comments = {c.get("OID"): _text(c, ns) for c in mdv.findall(ns.d("CommentDef"))}
    items = {i.get("OID"): i for i in mdv.findall(ns.o("ItemDef"))}
    groups = mdv.findall(ns.o("ItemGroupDef"))
    if kind is None:
        purposes = {g.get("Purpose", "") for g in groups}
        kind = "ADaM" if "Analysis" in purposes else "SDTM"

    # codelists
    codelists: dict[str, StudyCodelist] = {}
    for cl in mdv.findall(ns.o("CodeList")):
        if cl.find(ns.o("ExternalCodeList")) is not None:
            continue
        alias = cl.find(ns.o("Alias"))
        ct_code = alias.get("Name") if alias is not None and \
            alias.get("Context") == "nci:ExtCodeID" else None
        terms = []
        for it in itertools.chain(cl.findall(ns.o("CodeListItem")),
                                  cl.findall(ns.o("EnumeratedItem"))):
            a = it.find(ns.o("Alias"))
            code = a.get("Name", "") if a is not None and \
                a.get("Context") == "nci:ExtCodeID" else ""
            terms.append((_order(it, ns), CodelistTerm(
                value=it.get("CodedValue", "").strip(), decode=_text(it, ns, "Decode"),
                code=code)))
        terms.sort(key=lambda t: t[0])
        extensible = False
        if ct_code:
            for term_set in (standards.ct(), standards.adam_ct()):
                if ct_code in term_set:
                    extensible = term_set.codelist(ct_code).extensible
                    break
        dt = cl.get("DataType", "text")
        codelists[cl.get("OID")] = StudyCodelist(
            id=cl.get("OID"), name=cl.get("Name", ""), terms=tuple(t for _, t in terms),
            ct_code=ct_code, extensible=extensible,
            data_type=dt if dt in ("text", "integer", "float") else "text")

    def variable(dataset: str, ref, item) -> VariableMeta:
        name = item.get("Name", "")
        dtype = item.get("DataType", "text")
        origin_el = item.find(ns.d("Origin"))
        origin, source = "", ""
        if origin_el is None and item.get("Origin") is not None:    # Define-XML 1.0
            origin, source = _origin_10(item.get("Origin", ""))
        if origin_el is not None:
            raw = origin_el.get("Type", "")
            origin = _ORIGIN_20.get(raw, raw) if deff == NS_DEF20 else raw
            source = _text(origin_el, ns)
            if source.startswith(RAW_PREFIX):      # written so by studybuild
                source = source[len(RAW_PREFIX):]
            doc = origin_el.find(ns.d("DocumentRef"))
            if doc is not None:
                pages = [p.get("PageRefs") or
                         f"{p.get('FirstPage', '')}-{p.get('LastPage', '')}"
                         for p in doc.findall(ns.d("PDFPageRef"))]
                if pages:
                    source = (source + "; " if source else "") + \
                        f"{doc.get('leafID', 'document')} page {', '.join(pages)}"
        if origin not in _ORIGINS:
            origin = "Other" if origin else "Derived"
        clref = item.find(ns.o("CodeListRef"))
        cl_oid = clref.get("CodeListOID") if clref is not None else None
        if cl_oid not in codelists:
            cl_oid = None
        length = item.get("Length")
        mandatory = ref.get("Mandatory") == "Yes" if ref is not None else False
        method = methods.get(ref.get("MethodOID"), "") if ref is not None else ""
        comment = comments.get(item.get(ns.d("CommentOID")), "") or \
            " ".join((item.get("Comment") or "").split())          # Define-XML 1.0
        return VariableMeta(
            name=name, label=_label(item, ns), type="Char" if dtype in CHAR_TYPES else "Num",
            core="Req" if mandatory else _ig_core(dataset, name),
            role=(ref.get("Role", "") if ref is not None else ""), codelist=cl_oid,
            origin=origin, source=source,
            method=method or methods.get(item.get(ns.d("ComputationMethodOID")), ""),
            comment=comment,
            format=item.get(ns.d("DisplayFormat"), ""),
            length=int(length) if length and length.isdigit() else None, data_type=dtype)

    datasets: dict[str, DatasetMeta] = {}
    item_dataset: dict[str, str] = {}
    for g in groups:
        name = (g.get("Name") or g.get("SASDatasetName") or "").upper()
        refs = sorted(g.findall(ns.o("ItemRef")), key=lambda r: int(r.get("OrderNumber") or 0))
        variables = []
        keys = []
        for r in refs:
            item = items.get(r.get("ItemOID"))
            if item is None:
                raise InputError(f"ItemGroupDef {name} refers to ItemDef "
                                 f"{r.get('ItemOID')!r}, which is not defined", path=path)
            item_dataset[r.get("ItemOID")] = name
            variables.append(variable(name, r, item))
            if r.get("KeySequence"):
                keys.append((int(r.get("KeySequence")), item.get("Name", "")))
        cls_el = g.find(ns.d("Class"))
        cls = cls_el.get("Name", "") if cls_el is not None else g.get(ns.d("Class"), "")
        if not keys and g.get(ns.d("DomainKeys")):              # Define-XML 1.0
            keys = list(enumerate(k.strip() for k in g.get(ns.d("DomainKeys")).split(",")
                                  if k.strip()))
        std = std_by_oid.get(g.get(ns.d("StandardOID"), ""), default_std)
        datasets[name] = DatasetMeta(
            name=name, label=_label(g, ns), standard=std, class_=cls,
            structure=g.get(ns.d("Structure"), ""),
            keys=tuple(k for _, k in sorted(keys)), variables=tuple(variables),
            comment=comments.get(g.get(ns.d("CommentOID")), "") or
            " ".join((g.get("Comment") or "").split()),
            repeating=g.get("Repeating", "Yes") == "Yes",
            reference_data=g.get("IsReferenceData", "No") == "Yes")

    # value-level metadata: ValueListDef -> parent ItemDef (def:ValueListRef) -> dataset
    where_defs = {w.get("OID"): w for w in mdv.findall(ns.d("WhereClauseDef"))}
    parents: dict[str, tuple[str, str]] = {}
    for oid, item in items.items():
        vlr = item.find(ns.d("ValueListRef"))
        if vlr is not None and oid in item_dataset:
            parents[vlr.get("ValueListOID")] = (item_dataset[oid], item.get("Name", ""))
    value_level: list[ValueLevel] = []
    for vl in mdv.findall(ns.d("ValueListDef")):
        parent = parents.get(vl.get("OID"))
        if parent is None:
            continue
        ds, var = parent
        for r in vl.findall(ns.o("ItemRef")):
            item = items.get(r.get("ItemOID"))
            if item is None:
                continue
            vm = variable(ds, r, item)
            for wref in r.findall(ns.d("WhereClauseRef")):
                wc = where_defs.get(wref.get("WhereClauseOID"))
                if wc is None:
                    continue
                options: list[list[tuple[str, str]]] = []
                ok = True
                for rc in wc.findall(ns.o("RangeCheck")):
                    comp = rc.get("Comparator", "")
                    wvar_oid = rc.get(ns.d("ItemOID"), "")
                    wvar = items[wvar_oid].get("Name", "") if wvar_oid in items else \
                        wvar_oid.rsplit(".", 1)[-1]
                    values = [(c.text or "").strip() for c in rc.findall(ns.o("CheckValue"))]
                    if comp not in ("EQ", "IN") or not values:
                        ok = False
                        break
                    options.append([(wvar, v) for v in values])
                if not ok or not options:
                    continue
                for combo in itertools.product(*options):
                    value_level.append(ValueLevel(
                        dataset=ds, variable=var, where=tuple(combo), label=vm.label,
                        type=vm.type, codelist=vm.codelist, origin=vm.origin,
                        source=vm.source, method=vm.method))
    return StudyMetadata(study_id=studyid, studyid=studyid, kind=kind, datasets=datasets,
                         value_level=tuple(value_level), codelists=codelists,
                         ct_version=ct_version,
                         define_version=mdv.get(ns.d("DefineVersion"), "") or
                         ("1.0.0" if v1 else ""), standard=ig_standard or default_std)
