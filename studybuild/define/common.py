"""Names shared by the define.xml writer, reader and the Dataset-JSON export: namespaces,
OID conventions, external dictionaries and the data-type vocabulary."""

from __future__ import annotations

import re

from studybuild import standards

NS_ODM = "http://www.cdisc.org/ns/odm/v1.3"
NS_DEF = "http://www.cdisc.org/ns/def/v2.1"
NS_DEF20 = "http://www.cdisc.org/ns/def/v2.0"
NS_ODM12 = "http://www.cdisc.org/ns/odm/v1.2"      # Define-XML 1.0 (read only)
NS_DEF10 = "http://www.cdisc.org/ns/def/v1.0"
NS_XLINK = "http://www.w3.org/1999/xlink"
NS_ARM = "http://www.cdisc.org/ns/arm/v1.0"
NS_XML = "http://www.w3.org/XML/1998/namespace"

DEFINE_VERSION = "2.1.0"
STYLESHEET_NAME = "define2-1.xsl"
RAW_PREFIX = "Raw data: "      # def:Origin description of Collected variables (raw source)

# Define-XML DataType values that hold text in the dataset (everything but numbers)
CHAR_TYPES = frozenset({"text", "date", "datetime", "time", "partialDate", "partialTime",
                        "partialDatetime", "incompleteDatetime", "durationDatetime",
                        "intervalDatetime", "URI"})
NUM_TYPES = frozenset({"integer", "float", "double", "decimal"})

# def:Class values (Define-XML 2.1 enumeration) and the short names producers use
ADAM_CLASSES = {
    "ADSL": "SUBJECT LEVEL ANALYSIS DATASET",
    "SUBJECT LEVEL ANALYSIS DATASET": "SUBJECT LEVEL ANALYSIS DATASET",
    "BDS": "BASIC DATA STRUCTURE", "BASIC DATA STRUCTURE": "BASIC DATA STRUCTURE",
    "TTE": "BASIC DATA STRUCTURE",
    "OCCDS": "OCCURRENCE DATA STRUCTURE",
    "OCCURRENCE DATA STRUCTURE": "OCCURRENCE DATA STRUCTURE",
    "ADAM OTHER": "ADAM OTHER", "OTHER": "ADAM OTHER",
}
SDTM_CLASSES = frozenset({"TRIAL DESIGN", "SPECIAL PURPOSE", "INTERVENTIONS", "EVENTS",
                          "FINDINGS", "FINDINGS ABOUT", "RELATIONSHIP", "STUDY REFERENCE"})
SDTM_CLASS_ORDER = ("TRIAL DESIGN", "SPECIAL PURPOSE", "INTERVENTIONS", "EVENTS", "FINDINGS",
                    "FINDINGS ABOUT", "RELATIONSHIP", "STUDY REFERENCE", "")


def study_oid(studyid: str) -> str:
    """ODM Study OID for a STUDYID (also Dataset-JSON ``studyOID``)."""
    return f"STDY.{studyid}"


def metadata_version_oid(studyid: str, kind: str) -> str:
    """MetaDataVersion OID (also Dataset-JSON ``metaDataVersionOID``)."""
    std = f"SDTMIG.{standards.SDTMIG_VERSION}" if kind == "SDTM" else \
        f"ADaMIG.{standards.ADAMIG_VERSION}"
    return f"MDV.{studyid}.{std}"


def item_group_oid(dataset: str) -> str:
    return f"IG.{dataset.upper()}"


def item_oid(dataset: str, variable: str) -> str:
    return f"IT.{dataset.upper()}.{variable.upper()}"


_OID_SAFE = re.compile(r"[^A-Za-z0-9_.\-]+")


def oid_part(value: str) -> str:
    """A value made safe for use inside an OID (spaces and punctuation become '_')."""
    return _OID_SAFE.sub("_", value.strip()) or "_"


# External dictionaries (ExternalCodeList) assigned by variable name when the metadata names
# no codelist: key -> (Dictionary, href)
EXTERNAL = {
    "MEDDRA": ("MedDRA", "https://www.meddra.org/"),
    "ISO3166": ("ISO 3166-1 Alpha-3", "https://www.iso.org/iso-3166-country-codes.html"),
    "ISO21090": ("ISO 21090 NullFlavor", "https://www.iso.org/standard/35646.html"),
    "CTCAE": ("CTCAE",
              "https://ctep.cancer.gov/protocoldevelopment/electronic_applications/ctc.htm"),
    "WHODD": ("WHODD", "https://who-umc.org/whodrug/"),
}
_MEDDRA_SUFFIXES = ("DECOD", "BODSYS", "SOC", "LLT", "HLT", "HLGT", "PTCD", "LLTCD", "HLTCD",
                    "HLGTCD", "BDSYCD", "SOCCD")


def external_for(dataset: str, variable: str) -> str | None:
    """The external dictionary key for a variable by its name, or None."""
    v = variable.upper()
    ds = dataset.upper()
    if v == "COUNTRY":
        return "ISO3166"
    if v == "TSVALNF":
        return "ISO21090"
    prefix2 = v[:2]
    if prefix2 in ("AE", "MH", "CE") and v[2:] in _MEDDRA_SUFFIXES:
        return "MEDDRA"
    if ds.startswith("AD") and v in {"AEDECOD", "AEBODSYS", "AESOC", "AELLT", "AEHLT",
                                     "AEHLGT", "AEPTCD", "AESOCCD"}:
        return "MEDDRA"
    if v in ("AETOXGR", "ATOXGR") or (ds.startswith("AD") and v == "AETOXGRN"):
        return "CTCAE"
    if v == "CMDECOD":
        return "WHODD"
    return None
