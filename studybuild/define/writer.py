"""Write define.xml 2.1 from a :class:`~studybuild.metadata.StudyMetadata` and the datasets.

The metadata says what each variable is (label, type, origin, source, method, comment,
codelist); the frames say what is actually in the files (lengths, significant digits, the
codelist terms used, the parameters present), so the define.xml describes exactly the data it
ships with (FDA business rule FDAB035). Value-level metadata comes from
``StudyMetadata.value_level``; datasets without any get it derived from their data for the
usual vertical structures (``--TESTCD`` findings, TS by TSPARMCD, SUPPxx by QNAM, ADaM by
PARAMCD), see :mod:`studybuild.define.vlm`.

Output is deterministic: elements in a fixed order (datasets by class then name, variables in
the frame's column order, codelists and methods by OID), attributes in a fixed order, the
creation time from the caller (the data cut-off), written atomically.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from studybuild import __version__, standards
from studybuild.atomic import write_bytes
from studybuild.define import vlm as vlm_mod
from studybuild.define.common import (ADAM_CLASSES, DEFINE_VERSION, EXTERNAL, NS_DEF, NS_ODM,
                                      NS_XLINK, NS_XML, RAW_PREFIX, SDTM_CLASS_ORDER,
                                      SDTM_CLASSES, STYLESHEET_NAME, external_for,
                                      item_group_oid, item_oid,
                                      metadata_version_oid, oid_part, study_oid)
from studybuild.errors import ExportError, InputError
from studybuild.metadata import (DatasetMeta, StudyCodelist, StudyMetadata, ValueLevel,
                                 VariableMeta, from_standard, variable_from_standard)

_ISO_DTC = re.compile(r"^(\d{4}|-)(-(\d{2}|-))?(-(\d{2}|-))?(T.*)?$")
_ISO_DATE_ONLY = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
_ISO_DURATION = re.compile(r"^-?P(?=\d|T\d)(\d+(\.\d+)?Y)?(\d+(\.\d+)?M)?(\d+(\.\d+)?W)?"
                           r"(\d+(\.\d+)?D)?(T(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?$")
_SAS_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,7}$")



# --------------------------------------------------------------------------------------------
# natural keys (KeySequence) when the metadata declares none
# --------------------------------------------------------------------------------------------

def _key_conventions(name: str, columns: list[str]) -> tuple[list[str], list[str]]:
    """The variables that identify a record of dataset ``name`` by convention: a base that
    always belongs to the keys and candidates, in order, that are added while the base does
    not yet tell the records apart. Only variables the dataset has are named."""
    have = set(columns)
    pick = lambda names: [c for c in names if c in have]          # noqa: E731
    subject = pick(["STUDYID", "USUBJID"]) if "USUBJID" in have else pick(["STUDYID",
                                                                            "POOLID"])
    if name.startswith("AD"):
        if name == "ADSL":
            return pick(["STUDYID", "USUBJID"]), []
        base = subject + pick(["PARAMCD"])
        return base, pick(["AVISITN", "ATPTN", "APERIOD", "APHASE", "ADT", "ADTM", "ASTDT",
                           "ASTDTM", "SRCDOM", "SRCSEQ", "ASEQ"])
    if name.startswith("SUPP") or name == "SUPPQUAL":
        return pick(["STUDYID", "RDOMAIN", "USUBJID", "POOLID", "IDVAR", "IDVARVAL",
                     "QNAM"]), []
    p = name[:2]
    if f"{p}TESTCD" in have:                                      # findings (SS, LB, QS, ...)
        topic = [f"{p}TESTCD"]
    elif f"{p}TRT" in have:                                       # interventions
        topic = [f"{p}TRT"]
    else:                                                         # events
        topic = pick([f"{p}DECOD"]) or pick([f"{p}TERM"])
    more = [f"{p}CAT", f"{p}SCAT", f"{p}SPEC", f"{p}LOC", f"{p}LAT", f"{p}EVAL",
            f"{p}EVALID", f"{p}LNKID", "VISITNUM", f"{p}TPTREF", f"{p}TPTNUM", f"{p}DTC",
            f"{p}STDTC", f"{p}ENDTC", f"{p}SPID", f"{p}GRPID"]
    return subject + pick(topic), pick(more)


def _unique(frame: pd.DataFrame, keys: list[str]) -> bool:
    return bool(keys) and not frame.duplicated(subset=keys).any()


def natural_keys(name: str, frame: pd.DataFrame, declared: Iterable[str] = ()) -> list[str]:
    """The key variables of a dataset, for define.xml's ``KeySequence``.

    The declared keys (a spec's ``keys:``, the SDTMIG dataset's keys, the ADaM conventions of
    :func:`studybuild.metadata.from_standard`) when the dataset has them all; those it has,
    completed as below, when it lacks some. Else the keys by convention: STUDYID, USUBJID (or POOLID) and the topic variable (``--TESTCD``,
    ``--TRT``, ``--DECOD``/``--TERM``; PARAMCD for BDS; RDOMAIN, IDVAR, IDVARVAL, QNAM for
    SUPP--), then, while two records share the keys, the first of the usual qualifiers
    (category, specimen, evaluator, visit, time point, date, sponsor id; for ADaM the analysis
    visit, time point, period and date) that tells more of them apart, then ``--SEQ``/``ASEQ``,
    then the other columns in order. The keys so found always identify every record.

    >>> ss = pd.DataFrame({"STUDYID": ["S"] * 3, "USUBJID": ["S-1", "S-1", "S-2"],
    ...                    "SSSEQ": [1.0, 2.0, 1.0], "SSTESTCD": ["SURVSTAT"] * 3,
    ...                    "SSDTC": ["2024-01-01", "2024-03-01", "2024-01-05"]})
    >>> natural_keys("SS", ss)
    ['STUDYID', 'USUBJID', 'SSTESTCD', 'SSDTC']
    """
    columns = [str(c) for c in frame.columns]
    declared = list(declared)
    keys = [k for k in declared if k in columns]
    if keys and len(keys) == len(declared):
        return keys
    base, candidates = _key_conventions(name.upper(), columns)
    if keys:        # some declared keys are not in the dataset: complete the others
        candidates = [c for c in base + candidates if c not in keys]
    else:
        keys = base
    if len(frame) == 0:
        return keys or columns[:1]
    seq = "ASEQ" if name.upper().startswith("AD") else f"{name.upper()[:2]}SEQ"
    rest = [c for c in candidates + [seq] + columns if c in columns and c not in keys]
    seen: set[str] = set()
    for c in rest:
        if c in seen:
            continue
        seen.add(c)
        if _unique(frame, keys):
            break
        before = int(frame.duplicated(subset=keys, keep=False).sum()) if keys else len(frame)
        after = int(frame.duplicated(subset=keys + [c], keep=False).sum())
        if after < before:
            keys.append(c)
    return keys

# --------------------------------------------------------------------------------------------
# what gets written: a plain model resolved from metadata + data, then serialised
# --------------------------------------------------------------------------------------------

@dataclass
class _Item:
    oid: str
    name: str
    label: str
    data_type: str
    length: int | None
    digits: int | None
    display_format: str
    codelist_oid: str | None
    origin: str
    origin_source: str          # Investigator / Sponsor / ... (def:Origin/@Source)
    origin_text: str            # def:Origin/Description (predecessor, raw source)
    comment_oid: str | None = None
    value_list_oid: str | None = None


@dataclass
class _ItemRef:
    item_oid: str
    order: int
    mandatory: bool
    key_seq: int | None = None
    method_oid: str | None = None
    role: str = ""
    where_oids: tuple[str, ...] = ()


@dataclass
class _Group:
    name: str
    label: str
    domain: str | None
    repeating: bool
    reference: bool
    structure: str
    class_: str
    subclass: str
    standard_oid: str | None
    comment_oid: str | None
    href: str | None
    has_no_data: bool
    refs: list[_ItemRef] = field(default_factory=list)


@dataclass
class _CodelistOut:
    oid: str
    name: str
    data_type: str
    ct_code: str | None
    standard_oid: str | None
    items: list[tuple[str, str, str, bool]]      # (value, decode, code, extended)
    external: tuple[str, str, str] | None = None  # (dictionary, version, href)


class _Methods:
    def __init__(self) -> None:
        self.by_text: dict[str, tuple[str, list[str]]] = {}

    def add(self, dataset: str, variable: str, text: str, suffix: str = "") -> str:
        text = " ".join(text.split())
        if text not in self.by_text:
            oid = f"MT.{dataset}.{variable}" + (f".{suffix}" if suffix else "")
            self.by_text[text] = (oid, [])
        oid, users = self.by_text[text]
        if variable not in users:
            users.append(variable)
        return oid


# plain-words algorithms for variables whose derivation the SDTMIG/ADaMIG fixes, used when the
# specification gives none (the spec's own text always wins)
def _standard_method(dataset: str, var: VariableMeta) -> str:
    n = var.name
    if dataset.startswith("AD"):
        if n == "ADY":
            return "ADT - TRTSDT + 1 if ADT is on or after TRTSDT, else ADT - TRTSDT."
        if n == "ASEQ":
            return "Sequence number 1, 2, ... within USUBJID after sorting by the dataset keys."
        if n.endswith("DY"):
            return (f"{n[:-2]}DT - TRTSDT + 1 if on or after TRTSDT, else "
                    f"{n[:-2]}DT - TRTSDT.")
        return ""
    if re.fullmatch(r"[A-Z]{2}(ST|EN)?DY", n) and n != "VISITDY":
        dtc = n[:-2] + "DTC"
        return (f"Study day of {dtc} relative to DM.RFSTDTC: {dtc} - RFSTDTC + 1 if on or after "
                f"RFSTDTC, else {dtc} - RFSTDTC (there is no day 0).")
    if n.endswith("SEQ") and len(n) == 5:
        return "Sequence number 1, 2, ... within USUBJID after sorting by the dataset keys."
    if n == "EPOCH":
        return ("EPOCH of the subject's element (SE) in which the observation's start date "
                "falls.")
    return ""


# --------------------------------------------------------------------------------------------
# data-driven facts
# --------------------------------------------------------------------------------------------

def _decimals(vals: np.ndarray) -> int:
    for d in range(0, 16):
        if np.all(np.abs(np.round(vals, d) - vals) <= 1e-9 * np.maximum(1.0, np.abs(vals))):
            return d
    return 16


def _numeric_facts(s: pd.Series) -> tuple[str, int, int | None]:
    """(data type, length in digits, significant digits) of a numeric column."""
    vals = pd.to_numeric(s, errors="coerce").dropna().to_numpy(dtype="float64")
    vals = vals[np.isfinite(vals)]
    if len(vals) == 0:
        return "integer", 1, None
    dec = _decimals(vals)
    big = float(np.max(np.abs(vals)))
    int_digits = max(1, int(np.floor(np.log10(big))) + 1) if big >= 1 else 1
    neg = 1 if np.any(vals < 0) else 0
    if dec == 0:
        return "integer", int_digits + neg, None
    return "float", int_digits + dec + 1 + neg, dec


def _uniques(s: pd.Series) -> np.ndarray:
    """Distinct non-missing values of a character column as a numpy unicode array."""
    nn = s.dropna()
    if nn.empty:
        return np.array([], dtype="<U1")
    return np.asarray(pd.unique(nn.astype("str")), dtype=str)


def _text_length(u: np.ndarray) -> int:
    if len(u) == 0:
        return 1
    return max(1, int(np.char.str_len(np.char.encode(u, "utf-8")).max()))


def _char_type(name: str, var_ig, u: np.ndarray, *, infer: bool) -> str:
    """Define DataType of a character column (``u``: its distinct values): ISO 8601 dates,
    datetimes and durations get their own type."""
    domain = getattr(var_ig, "value_domain", "") if var_ig is not None else ""
    is_dtc = name.endswith("DTC") or "datetime" in domain.lower()
    is_dur = (name.endswith("DUR") and "duration" in domain.lower()) or \
        domain.lower().endswith("duration")
    if is_dtc:
        return "datetime" if len(u) and bool(np.any(np.char.find(u, "T") >= 0)) else "date"
    if is_dur:
        return "durationDatetime"
    if infer and len(u):
        if all(_ISO_DATE_ONLY.match(v) for v in u):
            return "date"
        if all(_ISO_DURATION.match(v) for v in u):
            return "durationDatetime"
    return "text"


def _values_as_text(s: pd.Series) -> list[str]:
    nn = s.dropna()
    if nn.empty:
        return []
    if pd.api.types.is_numeric_dtype(nn):
        vals = np.unique(nn.to_numpy(dtype="float64"))
        return sorted({f"{v:g}" if v == round(v) else repr(float(v)) for v in vals})
    return sorted(set(_uniques(nn).tolist()))


# --------------------------------------------------------------------------------------------
# resolution
# --------------------------------------------------------------------------------------------

class _Builder:
    def __init__(self, metadata: StudyMetadata, datasets: Mapping[str, pd.DataFrame], *,
                 study, hrefs: Mapping[str, str], auto_value_level: bool):
        self.md = metadata
        self.kind = metadata.kind
        self.frames = {k.upper(): v for k, v in datasets.items()}
        self.study = study
        self.hrefs = {k.upper(): v for k, v in hrefs.items()}
        self.auto_vlm = auto_value_level
        self.ct = standards.ct()
        self.adam_ct = standards.adam_ct()
        self.std_ig = f"STD.SDTMIG.{standards.SDTMIG_VERSION}" if self.kind == "SDTM" else \
            f"STD.ADaMIG.{standards.ADAMIG_VERSION}"
        self.std_sdtm_ct = f"STD.CT.SDTM.{standards.SDTM_CT_VERSION}"
        self.std_adam_ct = f"STD.CT.ADaM.{standards.ADAM_CT_VERSION}"
        self.used_standards: set[str] = {self.std_ig}
        self.groups: list[_Group] = []
        self.items: dict[str, _Item] = {}
        self.methods = _Methods()
        self.comments: dict[str, str] = {}
        self.value_lists: dict[str, list[_ItemRef]] = {}
        self.where: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {}
        # codelist key -> used values; key = CT C-code, study codelist id or EXT:<key>
        self.cl_used: dict[str, set[str]] = {}
        self.cl_oid: dict[str, str] = {}

    # ---- codelists --------------------------------------------------------------------
    def _codelist_key(self, dataset: str, var_name: str, codelist: str | None) -> str | None:
        if codelist:
            if codelist in self.md.codelists:
                return codelist
            code = codelist.upper()
            if code in EXTERNAL:
                return f"EXT:{code}"
            if code in self.ct or code in self.adam_ct:
                return code
            if re.fullmatch(r"C\d+", code):
                return code   # a CT codelist studybuild does not ship: terms without C-codes
            raise InputError(f"dataset {dataset} variable {var_name}: codelist {codelist!r} "
                             "is neither a CDISC CT C-code nor a codelist of the metadata",
                             hint="add it to StudyMetadata.codelists or use a C-code")
        ext = external_for(dataset, var_name)
        return f"EXT:{ext}" if ext else None

    def _use_codelist(self, key: str | None, values: Iterable[str]) -> str | None:
        if key is None:
            return None
        self.cl_used.setdefault(key, set()).update(values)
        if key not in self.cl_oid:
            if key.startswith("EXT:"):
                oid = f"CL.{key[4:]}"
            elif key in self.md.codelists:
                ct_cl = self._ct_codelist(key) if re.fullmatch(r"C\d+", key) else None
                oid = key if key.startswith("CL.") else \
                    (f"CL.{ct_cl.short_name}" if ct_cl is not None else f"CL.{oid_part(key)}")
            else:
                cl = self._ct_codelist(key)
                oid = f"CL.{cl.short_name}" if cl is not None else f"CL.{key}"
            taken = set(self.cl_oid.values())
            base, n = oid, 2
            while oid in taken:
                oid = f"{base}.{n}"
                n += 1
            self.cl_oid[key] = oid
        return self.cl_oid[key]

    def _ct_key_if_all_in(self, dataset: str, var: VariableMeta, s: pd.Series) -> str | None:
        """The variable's CDISC CT codelist if every value of ``s`` is one of its submission
        values (and there is at least one), else None."""
        if not var.codelist or var.codelist in self.md.codelists:
            return None
        cl = self._ct_codelist(var.codelist.upper())
        values = _values_as_text(s)
        if cl is None or not values or not set(values) <= cl.submission_values:
            return None
        return cl.code

    def _ct_codelist(self, code: str):
        if code in self.ct:
            return self.ct.codelist(code)
        if code in self.adam_ct:
            return self.adam_ct.codelist(code)
        return None

    # ---- comments and methods -----------------------------------------------------------
    def _comment(self, oid: str, text: str) -> str | None:
        text = " ".join((text or "").split())
        if not text:
            return None
        self.comments[oid] = text
        return oid

    def _method(self, dataset: str, var: VariableMeta | ValueLevel, name: str,
                suffix: str = "") -> str | None:
        text = var.method
        if not text and var.origin == "Derived" and isinstance(var, VariableMeta):
            text = _standard_method(dataset, var)
        if not text:
            return None
        return self.methods.add(dataset, name, text, suffix)

    # ---- origin -----------------------------------------------------------------------------
    @staticmethod
    def _origin(origin: str, source: str) -> tuple[str, str, str]:
        origin = origin or "Derived"
        if origin == "Collected":
            text = source.strip()
            return origin, "Investigator", (f"{RAW_PREFIX}{text}" if text else "")
        if origin == "Predecessor":
            return origin, "", source.strip()
        if origin in ("Derived", "Assigned", "Protocol"):
            return origin, "Sponsor", ""
        return origin, "", source.strip()

    # ---- items -----------------------------------------------------------------------------
    def _item(self, dataset: str, var: VariableMeta, s: pd.Series, *, oid: str,
              label: str | None = None, infer_dates: bool = False,
              codelist_key: str | None = None) -> _Item:
        ig = None
        try:
            std = standards.standard_for(dataset)
            ig = (std.structure("ADSL").find(var.name) or std.structure("TTE").find(var.name)) \
                if dataset.startswith("AD") else std.dataset(dataset).find(var.name)
        except standards.StandardsLookupError:
            ig = None
        length, digits, fmt = None, None, var.format
        is_dt = pd.api.types.is_datetime64_any_dtype(s)
        if var.data_type:
            dtype = var.data_type
        elif var.type == "Num" or is_dt:
            if is_dt:
                nn = s.dropna()
                if var.name.endswith("DTM"):
                    is_date = False
                else:
                    is_date = var.name.endswith("DT") or bool((nn == nn.dt.normalize()).all())
                dtype = "integer"
                fmt = fmt or ("DATE9." if is_date else "DATETIME20.")
                length = 8
            else:
                dtype, length, digits = _numeric_facts(s)
        else:
            dtype = _char_type(var.name, ig, _uniques(s), infer=infer_dates)
        if dtype in ("text",):
            length = _text_length(_uniques(s))
        if dtype in ("integer", "float") and length is None:
            _, length, digits = _numeric_facts(s)
        if var.length is not None and dtype in ("text", "integer", "float"):
            length = int(var.length)
        if dtype not in ("text", "integer", "float"):
            length, digits = None, None
        if dtype != "float":
            digits = None
        origin, osrc, otext = self._origin(var.origin, var.source)
        cl_oid = self._use_codelist(codelist_key, _values_as_text(s)) if codelist_key else None
        return _Item(oid=oid, name=var.name, label=label if label is not None else var.label,
                     data_type=dtype, length=length, digits=digits, display_format=fmt,
                     codelist_oid=cl_oid, origin=origin, origin_source=osrc,
                     origin_text=otext)

    # ---- datasets ---------------------------------------------------------------------------
    def _dataset_meta(self, name: str, frame: pd.DataFrame | None) -> DatasetMeta:
        meta = self.md.datasets.get(name)
        if meta is None:
            if frame is None:
                raise InputError(f"dataset {name}: neither metadata nor data given")
            meta = from_standard(name, frame.columns, label=frame.attrs.get("label") or None)
        return meta

    def _variables(self, name: str, meta: DatasetMeta, frame: pd.DataFrame
                   ) -> list[VariableMeta]:
        labels = frame.attrs.get("labels", {}) or {}
        out = []
        for c in frame.columns:
            c = str(c)
            v = meta.variable(c) or variable_from_standard(name, c) or \
                VariableMeta(name=c, label="", type="Num" if
                             pd.api.types.is_numeric_dtype(frame[c]) else "Char")
            if not v.label:
                # ADaM copies of DM variables (ARMCD, ACTARMCD) take the SDTMIG DM label
                dm = variable_from_standard("DM", c) if name.startswith("AD") else None
                v = replace(v, label=labels.get(c, "") or (dm.label if dm else "") or c)
            out.append(v)
        return out

    def build(self) -> None:
        names = sorted(set(self.md.datasets) | set(self.frames))
        explicit: dict[tuple[str, str], list[ValueLevel]] = {}
        for vl in self.md.value_level:
            explicit.setdefault((vl.dataset.upper(), vl.variable.upper()), []).append(vl)
        resolved = []
        for name in names:
            frame = self.frames.get(name)
            meta = self._dataset_meta(name, frame)
            no_data = frame is None
            if frame is None:
                frame = pd.DataFrame({v.name: pd.Series([], dtype="float64" if v.type == "Num"
                                                        else "str") for v in meta.variables})
            resolved.append((name, meta, frame, no_data))
        resolved.sort(key=lambda r: self._group_sort_key(r[0], r[1]))
        for name, meta, frame, no_data in resolved:
            self._group(name, meta, frame, no_data, explicit)

    def _group_sort_key(self, name: str, meta: DatasetMeta):
        if self.kind == "ADaM":
            return (0 if name == "ADSL" else 1, name)
        cls = self._sdtm_class(name, meta)
        order = SDTM_CLASS_ORDER.index(cls) if cls in SDTM_CLASS_ORDER else len(SDTM_CLASS_ORDER)
        return (order, name.startswith("SUPP"), name)

    @staticmethod
    def _sdtm_class(name: str, meta: DatasetMeta) -> str:
        if name.startswith("SUPP") or name == "RELREC":
            return "RELATIONSHIP"
        cls = (meta.class_ or "").upper()
        return cls if cls in SDTM_CLASSES else ""

    def _adam_class(self, name: str, meta: DatasetMeta, columns: list[str]) -> tuple[str, str]:
        raw = (meta.class_ or "").upper()
        cls = ADAM_CLASSES.get(raw, "")
        if not cls:
            cls = "SUBJECT LEVEL ANALYSIS DATASET" if name == "ADSL" else \
                ("BASIC DATA STRUCTURE" if "PARAMCD" in columns else "ADAM OTHER")
        sub = ""
        if cls == "BASIC DATA STRUCTURE" and ("CNSR" in columns or raw == "TTE"):
            sub = "TIME-TO-EVENT"
        if cls == "OCCURRENCE DATA STRUCTURE" and name == "ADAE":
            sub = "ADVERSE EVENT"
        return cls, sub

    def _group(self, name: str, meta: DatasetMeta, frame: pd.DataFrame, no_data: bool,
               explicit: Mapping[tuple[str, str], list[ValueLevel]]) -> None:
        variables = self._variables(name, meta, frame)
        columns = [v.name for v in variables]
        if self.kind == "ADaM":
            cls, sub = self._adam_class(name, meta, columns)
            domain = None
        else:
            cls, sub = self._sdtm_class(name, meta), ""
            domain = name[4:] if name.startswith("SUPP") else name
        known_std = True
        try:
            standards.standard_for(name).dataset(name)
        except standards.StandardsLookupError:
            known_std = False
        if self.kind == "ADaM":
            known_std = True
        repeating = not (meta.reference_data or name in ("DM", "ADSL") or not meta.repeating)
        structure = meta.structure or ("One record per subject" if name in ("DM", "ADSL")
                                       else f"One record per {name} record")
        href = None if no_data else self.hrefs.get(name, f"{name.lower()}.xpt")
        group = _Group(name=name, label=meta.label or name, domain=domain, repeating=repeating,
                       reference=bool(meta.reference_data), structure=structure, class_=cls,
                       subclass=sub, standard_oid=self.std_ig if known_std else None,
                       comment_oid=self._comment(f"COM.{name}", meta.comment), href=href,
                       has_no_data=no_data)
        keys = natural_keys(name, frame[columns], meta.keys)
        # value-level metadata for this dataset
        vlms: dict[str, list[ValueLevel]] = {}
        for (ds, var), entries in explicit.items():
            if ds == name:
                vlms[var] = list(entries)
        if self.auto_vlm and not vlms and not no_data:
            for entry in vlm_mod.derive_value_level(name, frame, {v.name: v for v in variables},
                                                    kind=self.kind):
                vlms.setdefault(entry.variable, []).append(entry)
        for order, var in enumerate(variables, start=1):
            s = frame[var.name]
            oid = item_oid(name, var.name)
            key = self._codelist_key(name, var.name, var.codelist)
            if var.name in vlms and key is not None and not key.startswith("EXT:") and \
                    key not in self.md.codelists:
                # a test-dependent codelist (TRSTRESC: TRPROPRS for TUMSTATE only) belongs to
                # the value level unless every value of the column is in it
                key = self._ct_key_if_all_in(name, var, s)
            item = self._item(name, var, s, oid=oid, codelist_key=key)
            item.comment_oid = self._comment(f"COM.{name}.{var.name}", var.comment)
            if var.name in vlms:
                item.value_list_oid = self._value_list(name, var, frame, vlms[var.name])
            self.items[oid] = item
            method = self._method(name, var, var.name) if var.origin == "Derived" or var.method \
                else None
            group.refs.append(_ItemRef(
                item_oid=oid, order=order, mandatory=var.core == "Req",
                key_seq=keys.index(var.name) + 1 if var.name in keys else None,
                method_oid=method, role=var.role if self.kind == "SDTM" else ""))
        unknown = set(vlms) - set(columns)
        if unknown:
            raise InputError(f"value-level metadata names {sorted(unknown)} in dataset {name}, "
                             "which has no such variables")
        self.groups.append(group)

    # ---- value-level metadata ----------------------------------------------------------
    def _value_list(self, name: str, parent: VariableMeta, frame: pd.DataFrame,
                    entries: list[ValueLevel]) -> str:
        vl_oid = f"VL.{name}.{parent.name}"
        refs: list[_ItemRef] = []
        entries = sorted(entries, key=lambda e: e.where)
        seen: set[str] = set()
        for order, e in enumerate(entries, start=1):
            for wvar, _ in e.where:
                if wvar not in frame.columns:
                    raise InputError(f"value-level metadata for {name}.{parent.name} has a "
                                     f"condition on {wvar}, which is not a variable of {name}")
            mask = np.ones(len(frame), dtype=bool)
            for wvar, wval in e.where:
                col = frame[wvar]
                if pd.api.types.is_numeric_dtype(col):
                    try:
                        mask &= (col.to_numpy(dtype="float64") == float(wval))
                    except ValueError:
                        mask &= False
                else:
                    mask &= (col.astype("str") == str(wval)).fillna(False).to_numpy(dtype=bool)
            sub = frame.loc[mask, parent.name]
            suffix = ".".join(oid_part(v) for _, v in e.where)
            item_oid_ = f"{item_oid(name, parent.name)}.{suffix}"
            base, n = item_oid_, 2
            while item_oid_ in seen:
                item_oid_ = f"{base}.{n}"
                n += 1
            seen.add(item_oid_)
            wc_oid = self._where_oid(name, e.where)
            vm = VariableMeta(name=parent.name, label=e.label or parent.label, type=e.type,
                              codelist=e.codelist, origin=e.origin, source=e.source,
                              method=e.method, format=parent.format if e.type == "Num" else "",
                              data_type="")
            key = self._codelist_key(name, parent.name, e.codelist) if e.codelist else \
                self._ct_key_if_all_in(name, parent, sub)
            item = self._item(name, vm, sub, oid=item_oid_, infer_dates=e.type == "Char",
                              codelist_key=key)
            self.items[item_oid_] = item
            method = None
            text = e.method or (parent.method or _standard_method(name, parent)
                                if e.origin == "Derived" else "")
            if text:
                method = self.methods.add(name, parent.name, text, suffix)
            mandatory = bool(len(sub)) and bool(sub.notna().all())
            refs.append(_ItemRef(item_oid=item_oid_, order=order, mandatory=mandatory,
                                 method_oid=method, where_oids=(wc_oid,)))
        self.value_lists[vl_oid] = refs
        return vl_oid

    def _where_oid(self, dataset: str, where: tuple[tuple[str, str], ...]) -> str:
        """One WhereClauseDef per distinct condition; OIDs from the (sanitised) condition,
        made unique if two conditions sanitise alike ('A B' and 'A_B')."""
        checks = [(item_oid(dataset, w), "EQ", (str(v),)) for w, v in where]
        base = "WC." + dataset + "." + ".".join(f"{oid_part(w)}.{oid_part(str(v))}"
                                               for w, v in where)
        oid, n = base, 2
        while oid in self.where and self.where[oid] != checks:
            oid = f"{base}.{n}"
            n += 1
        self.where[oid] = checks
        return oid

    # ---- codelists -----------------------------------------------------------------------
    def codelists(self) -> list[_CodelistOut]:
        out = []
        for key, oid in self.cl_oid.items():
            used = self.cl_used.get(key, set())
            if key.startswith("EXT:"):
                ext = key[4:]
                dictionary, href = EXTERNAL[ext]
                version = ""
                if ext == "MEDDRA":
                    version = getattr(self.study, "meddra_version", "") or ""
                elif ext == "CTCAE":
                    version = getattr(self.study, "ctcae_version", "") or ""
                elif ext == "ISO21090":
                    version = "2011"
                names = {"MEDDRA": "MedDRA", "ISO3166": "Country Codes (ISO 3166-1 alpha-3)",
                         "ISO21090": "Null Flavors (ISO 21090)", "CTCAE": "NCI CTCAE",
                         "WHODD": "WHO Drug Dictionary"}
                out.append(_CodelistOut(oid=oid, name=names[ext], data_type="text",
                                        ct_code=None, standard_oid=None, items=[],
                                        external=(dictionary, version, href)))
            elif key in self.md.codelists:
                out.append(self._study_codelist(oid, self.md.codelists[key], used))
            else:
                out.append(self._ct_codelist_out(oid, key, used))
        return sorted(out, key=lambda c: c.oid)

    def _study_codelist(self, oid: str, cl: StudyCodelist, used: set[str]) -> _CodelistOut:
        items = [(t.value, t.decode, t.code, bool(cl.ct_code) and not t.code)
                 for t in cl.terms]
        if not items:
            items = [(v, "", "", False) for v in sorted(used)]
        std = None
        if cl.ct_code:
            std = self.std_adam_ct if cl.ct_code in self.adam_ct and cl.ct_code not in self.ct \
                else self.std_sdtm_ct
            self.used_standards.add(std)
        return _CodelistOut(oid=oid, name=cl.name, data_type=cl.data_type, ct_code=cl.ct_code,
                            standard_oid=std, items=items)

    def _ct_codelist_out(self, oid: str, code: str, used: set[str]) -> _CodelistOut:
        cl = self._ct_codelist(code)
        if code in self.ct:
            std = self.std_sdtm_ct
        elif code in self.adam_ct:
            std = self.std_adam_ct
        else:
            std = self.std_sdtm_ct if self.kind == "SDTM" else self.std_adam_ct
        self.used_standards.add(std)
        items = []
        for v in sorted(used):
            if cl is None:
                items.append((v, "", "", False))
                continue
            term = next((t for t in cl.terms if t.submission_value == v), None)
            if term is None:
                items.append((v, "", "", True))
            else:
                items.append((v, term.preferred_term, term.code, False))
        name = cl.name if cl is not None else code
        return _CodelistOut(oid=oid, name=name, data_type="text", ct_code=code,
                            standard_oid=std, items=items)


# --------------------------------------------------------------------------------------------
# serialisation
# --------------------------------------------------------------------------------------------

def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _text_el(parent, tag: str, text: str, ns: str = NS_ODM):
    from lxml import etree

    el = etree.SubElement(parent, _q(ns, tag))
    tt = etree.SubElement(el, _q(NS_ODM, "TranslatedText"))
    tt.set(_q(NS_XML, "lang"), "en")
    tt.text = text
    return el


def _decode_needed(items: list[tuple[str, str, str, bool]]) -> bool:
    return any(d and d.strip().upper() != v.strip().upper() for v, d, _, _ in items)


def _serialise(b: _Builder, *, timestamp: dt.datetime, stylesheet: bool) -> bytes:
    from lxml import etree

    kind = b.kind
    studyid = b.md.studyid
    E = etree
    nsmap = {None: NS_ODM, "def": NS_DEF, "xlink": NS_XLINK}
    root = E.Element(_q(NS_ODM, "ODM"), nsmap=nsmap)
    root.set("ODMVersion", "1.3.2")
    root.set("FileType", "Snapshot")
    root.set("FileOID", f"{studyid}.{kind}.define")
    root.set("CreationDateTime", timestamp.replace(microsecond=0).isoformat())
    root.set("Originator", "studybuild")
    root.set("SourceSystem", "studybuild")
    root.set("SourceSystemVersion", __version__)
    root.set(_q(NS_DEF, "Context"), "Submission")

    study_el = E.SubElement(root, _q(NS_ODM, "Study"), OID=study_oid(studyid))
    gv = E.SubElement(study_el, _q(NS_ODM, "GlobalVariables"))
    E.SubElement(gv, _q(NS_ODM, "StudyName")).text = studyid
    title = getattr(b.study, "title", "") or studyid
    E.SubElement(gv, _q(NS_ODM, "StudyDescription")).text = " ".join(title.split())
    E.SubElement(gv, _q(NS_ODM, "ProtocolName")).text = studyid

    ig_name = f"SDTMIG {standards.SDTMIG_VERSION}" if kind == "SDTM" else \
        f"ADaMIG {standards.ADAMIG_VERSION}"
    mdv = E.SubElement(study_el, _q(NS_ODM, "MetaDataVersion"))
    mdv.set("OID", metadata_version_oid(studyid, kind))
    mdv.set("Name", f"{studyid} {kind} define.xml")
    mdv.set("Description", f"{'Tabulation' if kind == 'SDTM' else 'Analysis'} datasets of "
                           f"study {studyid} ({ig_name}, CDISC CT {b.md.ct_version})")
    mdv.set(_q(NS_DEF, "DefineVersion"), DEFINE_VERSION)
    assumptions = list(getattr(b.study, "assumptions", ()) or ())
    mdv_comment = ("Generated by studybuild " + __version__ + " from the study specification "
                   f"(specs/studies/{getattr(b.study, 'id', studyid)}/) and the datasets.")
    if assumptions:
        mdv_comment += " Assumptions: " + " ".join(
            a if a.rstrip().endswith(".") else a + "." for a in assumptions)
    b.comments["COM.MDV"] = mdv_comment
    mdv.set(_q(NS_DEF, "CommentOID"), "COM.MDV")

    # codelists first: they decide which CT standards are referenced; codelists with no term
    # used in the data are not written, nor referenced
    codelists = b.codelists()
    empty = {c.oid for c in codelists if c.external is None and not c.items}
    codelists = [c for c in codelists if c.oid not in empty]

    # standards
    stds = E.SubElement(mdv, _q(NS_DEF, "Standards"))
    std_rows = []
    if kind == "SDTM":
        std_rows.append((b.std_ig, "SDTMIG", "IG", standards.SDTMIG_VERSION, None))
    else:
        std_rows.append((b.std_ig, "ADaMIG", "IG", standards.ADAMIG_VERSION, None))
    if b.std_adam_ct in b.used_standards:
        std_rows.append((b.std_adam_ct, "CDISC/NCI", "CT", standards.ADAM_CT_VERSION, "ADaM"))
    if b.std_sdtm_ct in b.used_standards or kind == "SDTM":
        std_rows.append((b.std_sdtm_ct, "CDISC/NCI", "CT", b.md.ct_version, "SDTM"))
    for oid, name, typ, ver, pset in std_rows:
        s = E.SubElement(stds, _q(NS_DEF, "Standard"), OID=oid, Name=name, Type=typ)
        if pset:
            s.set("PublishingSet", pset)
        s.set("Version", ver)
        s.set("Status", "Final")

    # value lists and where clauses
    for vl_oid in sorted(b.value_lists):
        vl = E.SubElement(mdv, _q(NS_DEF, "ValueListDef"), OID=vl_oid)
        for r in b.value_lists[vl_oid]:
            ir = E.SubElement(vl, _q(NS_ODM, "ItemRef"), ItemOID=r.item_oid,
                              OrderNumber=str(r.order), Mandatory="Yes" if r.mandatory else "No")
            if r.method_oid:
                ir.set("MethodOID", r.method_oid)
            for w in r.where_oids:
                E.SubElement(ir, _q(NS_DEF, "WhereClauseRef"), WhereClauseOID=w)
    for wc_oid in sorted(b.where):
        wc = E.SubElement(mdv, _q(NS_DEF, "WhereClauseDef"), OID=wc_oid)
        for item, comp, values in b.where[wc_oid]:
            rc = E.SubElement(wc, _q(NS_ODM, "RangeCheck"), Comparator=comp, SoftHard="Soft")
            rc.set(_q(NS_DEF, "ItemOID"), item)
            for v in values:
                E.SubElement(rc, _q(NS_ODM, "CheckValue")).text = v

    # item groups
    for g in b.groups:
        ig = E.SubElement(mdv, _q(NS_ODM, "ItemGroupDef"), OID=item_group_oid(g.name),
                          Name=g.name)
        if g.domain:
            ig.set("Domain", g.domain)
        ig.set("Repeating", "Yes" if g.repeating else "No")
        ig.set("IsReferenceData", "Yes" if g.reference else "No")
        if _SAS_NAME.match(g.name):
            ig.set("SASDatasetName", g.name)
        ig.set("Purpose", "Tabulation" if kind == "SDTM" else "Analysis")
        ig.set(_q(NS_DEF, "Structure"), g.structure)
        if g.standard_oid:
            ig.set(_q(NS_DEF, "StandardOID"), g.standard_oid)
        else:
            ig.set(_q(NS_DEF, "IsNonStandard"), "Yes")
        if g.has_no_data:
            ig.set(_q(NS_DEF, "HasNoData"), "Yes")
        if g.href:
            ig.set(_q(NS_DEF, "ArchiveLocationID"), f"LF.{g.name}")
        if g.comment_oid:
            ig.set(_q(NS_DEF, "CommentOID"), g.comment_oid)
        _text_el(ig, "Description", g.label)
        for r in g.refs:
            ir = E.SubElement(ig, _q(NS_ODM, "ItemRef"), ItemOID=r.item_oid,
                              OrderNumber=str(r.order), Mandatory="Yes" if r.mandatory else "No")
            if r.key_seq:
                ir.set("KeySequence", str(r.key_seq))
            if r.method_oid:
                ir.set("MethodOID", r.method_oid)
            if r.role:
                ir.set("Role", r.role)
        if g.class_:
            c = E.SubElement(ig, _q(NS_DEF, "Class"), Name=g.class_)
            if g.subclass:
                E.SubElement(c, _q(NS_DEF, "SubClass"), Name=g.subclass)
        if g.href:
            leaf = E.SubElement(ig, _q(NS_DEF, "leaf"), ID=f"LF.{g.name}")
            leaf.set(_q(NS_XLINK, "href"), g.href)
            E.SubElement(leaf, _q(NS_DEF, "title")).text = g.href

    # items: dataset-level in group order, then value-level
    for it in b.items.values():
        el = E.SubElement(mdv, _q(NS_ODM, "ItemDef"), OID=it.oid, Name=it.name,
                          DataType=it.data_type)
        if it.length is not None:
            el.set("Length", str(it.length))
        if it.digits is not None:
            el.set("SignificantDigits", str(it.digits))
        if _SAS_NAME.match(it.name):
            el.set("SASFieldName", it.name)
        if it.display_format:
            el.set(_q(NS_DEF, "DisplayFormat"), it.display_format)
        if it.comment_oid:
            el.set(_q(NS_DEF, "CommentOID"), it.comment_oid)
        _text_el(el, "Description", it.label or it.name)
        if it.codelist_oid and it.codelist_oid not in empty:
            E.SubElement(el, _q(NS_ODM, "CodeListRef"), CodeListOID=it.codelist_oid)
        if it.origin:
            o = E.SubElement(el, _q(NS_DEF, "Origin"), Type=it.origin)
            if it.origin_source:
                o.set("Source", it.origin_source)
            if it.origin_text:
                _text_el(o, "Description", it.origin_text)
        if it.value_list_oid:
            E.SubElement(el, _q(NS_DEF, "ValueListRef"), ValueListOID=it.value_list_oid)

    # codelists
    for cl in codelists:
        el = E.SubElement(mdv, _q(NS_ODM, "CodeList"), OID=cl.oid, Name=cl.name,
                          DataType=cl.data_type)
        if cl.standard_oid:
            el.set(_q(NS_DEF, "StandardOID"), cl.standard_oid)
        elif cl.external is None:
            el.set(_q(NS_DEF, "IsNonStandard"), "Yes")
        if cl.external is not None:
            dictionary, version, href = cl.external
            ext = E.SubElement(el, _q(NS_ODM, "ExternalCodeList"), Dictionary=dictionary)
            if version:
                ext.set("Version", version)
            ext.set("href", href)
        else:
            decoded = _decode_needed(cl.items)
            for i, (value, decode, code, extended) in enumerate(cl.items, start=1):
                tag = "CodeListItem" if decoded else "EnumeratedItem"
                item = E.SubElement(el, _q(NS_ODM, tag), CodedValue=value, OrderNumber=str(i))
                if extended:
                    item.set(_q(NS_DEF, "ExtendedValue"), "Yes")
                if decoded:
                    _text_el(item, "Decode", decode or value)
                if code:
                    E.SubElement(item, _q(NS_ODM, "Alias"), Context="nci:ExtCodeID", Name=code)
        if cl.ct_code:
            E.SubElement(el, _q(NS_ODM, "Alias"), Context="nci:ExtCodeID", Name=cl.ct_code)

    # methods
    methods = sorted(((oid, text, users) for text, (oid, users) in b.methods.by_text.items()),
                     key=lambda m: m[0])
    for oid, text, users in methods:
        name = "Algorithm to derive " + ", ".join(users[:4]) + (" and others"
                                                               if len(users) > 4 else "")
        typ = "Imputation" if "imput" in text.lower() else "Computation"
        el = E.SubElement(mdv, _q(NS_ODM, "MethodDef"), OID=oid, Name=name, Type=typ)
        _text_el(el, "Description", text)

    # comments
    for oid in sorted(b.comments):
        el = E.SubElement(mdv, _q(NS_DEF, "CommentDef"), OID=oid)
        _text_el(el, "Description", b.comments[oid])

    if stylesheet:
        root.addprevious(E.ProcessingInstruction(
            "xml-stylesheet", f'type="text/xsl" href="{STYLESHEET_NAME}"'))
    try:
        return E.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8",
                          pretty_print=True)
    except ValueError as e:  # pragma: no cover - lxml refuses control characters earlier
        raise ExportError(f"define.xml cannot be written: {e}") from None


def stylesheet_path() -> Path:
    """The studybuild define.xml stylesheet (XSLT 1.0) shipped in specs/standards."""
    return standards.source_path(f"define-xml-2.1/{STYLESHEET_NAME}")


def build_define(metadata: StudyMetadata, datasets: Mapping[str, pd.DataFrame], *, study,
                 hrefs: Mapping[str, str], timestamp: dt.datetime, stylesheet: bool = True,
                 auto_value_level: bool = True) -> bytes:
    """The define.xml document as bytes (see :func:`write_define`)."""
    if metadata.kind not in ("SDTM", "ADaM"):
        raise InputError(f"metadata kind must be SDTM or ADaM, not {metadata.kind!r}")
    b = _Builder(metadata, datasets, study=study, hrefs=hrefs,
                 auto_value_level=auto_value_level)
    try:
        b.build()
        return _serialise(b, timestamp=timestamp, stylesheet=stylesheet)
    except ValueError as e:
        if "XML compatible" in str(e) or "NULL bytes" in str(e):
            raise ExportError(f"define.xml cannot hold a value: {e}",
                              hint="remove control characters from labels, comments and "
                                   "codelist values") from None
        raise


def write_define(metadata: StudyMetadata, datasets: Mapping[str, pd.DataFrame], path: Path, *,
                 study, hrefs: Mapping[str, str], timestamp: dt.datetime,
                 stylesheet: bool = True, auto_value_level: bool = True) -> Path:
    """Write define.xml 2.1 for SDTM (``metadata.kind == "SDTM"``) or ADaM.

    ``datasets`` are the frames as exported (column order = ItemRef order); ``hrefs`` maps a
    dataset name to its file relative to the define.xml (``{"DM": "dm.xpt"}``; default
    ``<name>.xpt``); ``timestamp`` is the CreationDateTime (pass the data cut-off so that
    rebuilds are byte-identical). With ``stylesheet=True`` the XSL that renders the file in a
    browser is written beside it (``define2-1.xsl``). Returns ``path``.

    >>> write_define(md, frames, out / "define.xml", study=study,            # doctest: +SKIP
    ...              hrefs={"DM": "dm.xpt"}, timestamp=datetime(2023, 6, 30))
    """
    path = Path(path)
    data = build_define(metadata, datasets, study=study, hrefs=hrefs, timestamp=timestamp,
                        stylesheet=stylesheet, auto_value_level=auto_value_level)
    if stylesheet:
        write_bytes(path.parent / STYLESHEET_NAME, stylesheet_path().read_bytes())
    return write_bytes(path, data)
