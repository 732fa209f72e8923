"""Dataset and variable metadata: the one description every output agrees on.

A :class:`StudyMetadata` is what a Pinnacle 21 specification workbook holds (Datasets,
Variables, ValueLevel, Codelists, Methods): the SDTM spec and the ADaM builders produce it; the
XPT writer takes labels and order from it, the expectation suites take types, cores and
codelists from it, and define.xml is written from it. :func:`from_standard` builds it from the
SDTMIG/ADaMIG alone for datasets nobody wrote a spec for (e.g. ``studybuild validate`` on a
folder from another sponsor).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable, Literal, Mapping

from studybuild import standards

Origin = Literal["Collected", "Derived", "Assigned", "Protocol", "Predecessor",
                 "Not Available", "Other"]


@dataclass(frozen=True)
class VariableMeta:
    name: str
    label: str
    type: Literal["Char", "Num"]
    core: str = "Perm"                 # Req / Exp / Perm / Cond
    role: str = ""                     # SDTM role or ADaM variable set
    codelist: str | None = None        # CT C-code (C66731) or a study codelist id
    origin: Origin = "Derived"
    source: str = ""                   # raw form.field(s) or predecessor (ADSL.TRTSDT)
    method: str = ""                   # plain-words derivation, for define.xml MethodDef
    comment: str = ""
    format: str = ""                   # SAS display format (DATE9.)
    length: int | None = None          # if fixed by the spec; else the longest value
    data_type: str = ""                # define.xml DataType override (text, integer, float,
                                       # date, datetime, durationDatetime, ...)


@dataclass(frozen=True)
class ValueLevel:
    """Metadata for a variable's values under a condition (TRORRES where TRTESTCD = 'LDIAM')."""

    dataset: str
    variable: str
    where: tuple[tuple[str, str], ...]     # ((variable, value), ...) all must hold
    label: str
    type: Literal["Char", "Num"]
    codelist: str | None = None
    origin: Origin = "Derived"
    source: str = ""
    method: str = ""
    unit: str = ""


@dataclass(frozen=True)
class CodelistTerm:
    value: str
    decode: str = ""
    code: str = ""                         # NCI C-code when the term is from CDISC CT


@dataclass(frozen=True)
class StudyCodelist:
    """The terms a study actually uses, optionally a subset of a CDISC CT codelist."""

    id: str                                # CL.SEX, CL.PARAMCD_ADRS, ...
    name: str
    terms: tuple[CodelistTerm, ...]
    ct_code: str | None = None             # parent CDISC codelist C-code, if any
    extensible: bool = False
    data_type: Literal["text", "integer", "float"] = "text"


@dataclass(frozen=True)
class DatasetMeta:
    name: str
    label: str
    standard: str                          # "SDTMIG 3.4" / "ADaMIG 1.3"
    class_: str                            # EVENTS, FINDINGS, ... / ADSL, BDS, OCCDS
    structure: str
    keys: tuple[str, ...]
    variables: tuple[VariableMeta, ...]
    comment: str = ""
    repeating: bool = True
    reference_data: bool = False

    def variable(self, name: str) -> VariableMeta | None:
        for v in self.variables:
            if v.name == name:
                return v
        return None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variables)

    @property
    def labels(self) -> dict[str, str]:
        return {v.name: v.label for v in self.variables}


@dataclass(frozen=True)
class StudyMetadata:
    study_id: str
    studyid: str
    kind: Literal["SDTM", "ADaM"]
    datasets: Mapping[str, DatasetMeta]
    value_level: tuple[ValueLevel, ...] = ()
    codelists: Mapping[str, StudyCodelist] = field(default_factory=dict)
    ct_version: str = standards.SDTM_CT_VERSION
    # what a define.xml read back declares: its version ("1.0.0", "2.1.0") and the standard
    # on its MetaDataVersion or IG Standard ("SDTMIG 3.1.2"); empty when not from a define
    define_version: str = ""
    standard: str = ""

    def dataset(self, name: str) -> DatasetMeta | None:
        return self.datasets.get(name.upper())


_SDTM_CLASS = {"Interventions": "INTERVENTIONS", "Events": "EVENTS", "Findings": "FINDINGS",
               "Special-Purpose": "SPECIAL PURPOSE", "Trial Design": "TRIAL DESIGN",
               "Relationship": "RELATIONSHIP", "Findings About": "FINDINGS",
               "Study Reference": "STUDY REFERENCE"}


def variable_from_standard(dataset: str, name: str) -> VariableMeta | None:
    """IG metadata for one variable of a dataset (SDTM domain or ADaM dataset name)."""
    ds = dataset.upper()
    if ds.startswith("AD"):
        ad = standards.adamig()
        var = ad.structure("ADSL").find(name) if ds == "ADSL" else \
            ad.structure("ADSL").find(name) or ad.structure("TTE").find(name)
    else:
        try:
            var = standards.sdtmig().dataset(ds).find(name)
        except standards.StandardsLookupError:
            var = None
    if var is None:
        return None
    return VariableMeta(name=name.upper(), label=var.label, type=var.type, core=var.core,
                        role=var.role, codelist=var.codelists[0] if var.codelists else None)


def from_standard(dataset: str, columns: Iterable[str], *, label: str | None = None,
                  frame=None) -> DatasetMeta:
    """Metadata for a dataset from the IG alone: IG variables in IG order with their labels,
    types, cores and codelists; other columns after them as Perm variables, numeric when
    ``frame`` (if given) holds numbers or dates in them, else character."""
    ds = dataset.upper()
    columns = [str(c) for c in columns]
    vars_: list[VariableMeta] = []
    unknown: list[VariableMeta] = []
    for c in columns:
        vm = variable_from_standard(ds, c)
        if vm is None:
            kind = "Char"
            if frame is not None and c in frame.columns:
                dtype = frame[c].dtype
                if (getattr(dtype, "kind", "") in "biufmM") and str(dtype) != "bool":
                    kind = "Num"
            unknown.append(VariableMeta(name=c, label="", type=kind, core="Perm"))
        else:
            vars_.append(vm)
    if ds.startswith("AD"):
        std_name = f"ADaMIG {standards.ADAMIG_VERSION}"
        cls = "SUBJECT LEVEL ANALYSIS DATASET" if ds == "ADSL" else "BASIC DATA STRUCTURE"
        structure = "One record per subject" if ds == "ADSL" else \
            "One record per subject per parameter per analysis timepoint"
        keys = ("STUDYID", "USUBJID") if ds == "ADSL" else \
            tuple(k for k in ("STUDYID", "USUBJID", "PARAMCD", "AVISITN", "ADT")
                  if k in columns)
        if ds != "ADSL" and "PARAMCD" not in columns:
            # no parameters: an occurrence dataset (ADAE), one record per source record, so
            # the subject and the source sequence number (AESEQ) or ASEQ identify it
            seq = next((c for c in ("ASEQ", f"{ds[2:4]}SEQ") if c in columns), None)
            keys = ("STUDYID", "USUBJID", seq) if seq and "USUBJID" in columns else ()
        ds_label = label or ("Subject-Level Analysis Dataset" if ds == "ADSL" else ds)
        order = {c: i for i, c in enumerate(columns)}
    else:
        std_name = f"SDTMIG {standards.SDTMIG_VERSION}"
        try:
            meta = standards.sdtmig().dataset(ds)
            cls = _SDTM_CLASS.get(meta.class_, meta.class_.upper())
            structure, keys = meta.structure, meta.keys
            ds_label = label or meta.label
            if ds.startswith("SUPP"):
                ds_label = label or f"Supplemental Qualifiers for {ds[4:]}"
            order = {v.name: v.order for v in meta.variables}
        except standards.StandardsLookupError:
            cls, structure, keys, ds_label, order = "", "", (), label or ds, {}
    vars_.sort(key=lambda v: (order.get(v.name, 10_000), columns.index(v.name)))
    return DatasetMeta(name=ds, label=ds_label, standard=std_name, class_=cls,
                       structure=structure, keys=tuple(keys), variables=tuple(vars_ + unknown),
                       reference_data=ds in {"TS", "TA", "TE", "TV", "TI"})


def with_variables(meta: DatasetMeta, variables: Iterable[VariableMeta]) -> DatasetMeta:
    return replace(meta, variables=tuple(variables))
