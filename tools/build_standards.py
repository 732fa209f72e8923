"""Regenerate specs/standards/ from the reference copies in ../shared/reference/standards.

This is a maintainer tool, not part of the package: the project ships the generated files so that
neither users nor tests need ../shared. Run it when a new SDTMIG/ADaMIG export or CT package is
adopted, review the diff, and update specs/standards/PROVENANCE.md.

    python tools/build_standards.py [--shared ../shared]

What it writes (all UTF-8 CSV, sorted, with a header row):
  sdtmig-3.4/datasets.csv   every SDTMIG 3.4 dataset + curated natural keys for the ones we produce
  sdtmig-3.4/variables.csv  every SDTMIG 3.4 variable (name, label, type, role, core, codelists...)
  adamig-1.3/structures.csv ADSL, BDS, TTE
  adamig-1.3/variables.csv  every ADaMIG 1.3 variable of ADSL and BDS (TTE = BDS + Time-to-Event set)
  ct/sdtm-ct-2025-03-28.csv every codelist the SDTMIG variables of our domains reference, plus the
                            codelists TS values are coded with (TSVCDREF = CDISC CT), with every term
  ct/adam-ct-2025-03-28.csv, ct/define-xml-ct-2025-03-28.csv  the whole ADaM and Define-XML CT
  ct/iso3166-1.csv          ISO 3166-1 countries (alpha-3 is DM.COUNTRY's code system)
"""

from __future__ import annotations

import argparse
import csv
import io
import lzma
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "specs" / "standards"

# Domains studybuild produces; the CT subset covers every codelist their variables reference.
OUR_DOMAINS = ["DM", "EX", "TU", "TR", "RS", "AE", "DS", "TS", "TA", "TE", "TV", "TI", "SE", "SV",
               "SUPPQUAL", "CM", "MH", "PR", "IE", "VS", "LB"]

# Natural keys as SDTMIG 3.4 states them in each domain's specification ("Keys" in the dataset
# table of section 6/7). Curated by hand: the CDISC Library export carries no keys.
KEYS = {
    "DM": "STUDYID, USUBJID",
    "EX": "STUDYID, USUBJID, EXTRT, EXSTDTC",
    "AE": "STUDYID, USUBJID, AEDECOD, AESTDTC",
    "DS": "STUDYID, USUBJID, DSDECOD, DSSTDTC",
    "CM": "STUDYID, USUBJID, CMTRT, CMSTDTC",
    "MH": "STUDYID, USUBJID, MHDECOD, MHSTDTC",
    "PR": "STUDYID, USUBJID, PRTRT, PRSTDTC",
    "IE": "STUDYID, USUBJID, IETESTCD",
    "VS": "STUDYID, USUBJID, VSTESTCD, VISITNUM, VSTPTREF, VSTPTNUM",
    "LB": "STUDYID, USUBJID, LBTESTCD, LBSPEC, VISITNUM, LBTPTREF, LBTPTNUM",
    "TU": "STUDYID, USUBJID, TUEVAL, TUEVALID, TULNKID",
    "TR": "STUDYID, USUBJID, TREVAL, TREVALID, TRLNKID, TRTESTCD, VISITNUM",
    "RS": "STUDYID, USUBJID, RSEVAL, RSEVALID, RSTESTCD, VISITNUM",
    "SE": "STUDYID, USUBJID, ETCD, SESTDTC",
    "SV": "STUDYID, USUBJID, VISITNUM",
    "TA": "STUDYID, ARMCD, TAETORD",
    "TE": "STUDYID, ETCD",
    "TV": "STUDYID, VISITNUM, ARMCD",
    "TI": "STUDYID, IETESTCD, TIVERS",
    "TS": "STUDYID, TSPARMCD, TSSEQ",
    "SUPPQUAL": "STUDYID, RDOMAIN, USUBJID, IDVAR, IDVARVAL, QNAM",
}

# Codelists the TS domain codes its values with (TSVCDREF = "CDISC CT"), by TSPARMCD; these are
# not referenced by any SDTMIG variable, so they are added explicitly.
TS_VALUE_CODELISTS = {
    "ADDON": "C66742", "RANDOM": "C66742", "HLTSUBJI": "C66742", "ADAPT": "C66742",
    "DCUTDESC": None, "PHASE": None, "TPHASE": "C66737", "STYPE": "C99077", "TTYPE": "C66739",
    "SEXPOP": "C66732", "TBLIND": "C66735", "TCNTRL": "C66785", "TINDTP": "C66736",
    "INTMODEL": "C99076", "INTTYPE": "C99078", "AGEU": "C66781", "ROUTE": "C66729",
    "DOSU": "C71620", "DOSFRQ": "C71113", "DOSFRM": "C66726", "PLANSUB": None,
    "SDTIGVER": "C160924", "SDTMVER": "C160923", "THERAREA": None, "REGID": None,
    "TDIGRP": None, "RDIND": "C66742", "PDSTIND": "C66742", "PDPSTIND": "C66742",
    "EXTTIND": "C66742", "NCOHORT": None, "CRMDUR": None, "OUTMSPRI": None,
    "OBJPRIM": None, "FCNTRY": None, "PIPIND": "C66742",
}
EXTRA_CODELISTS = {
    "C66742", "C66732", "C66735", "C66736", "C66737", "C66739", "C66785", "C99076", "C99077",
    "C99078", "C160924", "C160923", "C66781", "C124296", "C81223", "C81226", "C81224",
    "C81225", "C99079", "C101834", "C66788", "C66738", "C67152", "C114118", "C150811",
    "C66727", "C74558", "C170443", "C142179", "C66734", "C96785", "C124298", "C118971",
    "C78735", "C96777", "C100130", "C66769", "C66767", "C66768", "C66790", "C74457",
    "C66731", "C66729", "C66726", "C71113", "C71620", "C74456", "C85492", "C99073",
    "C96778", "C96779", "C96781", "C96782", "C96783", "C96784", "C123650", "C124309",
    "C127269", "C127262", "C66770", "C66741", "C67153",
}


def _read_csv(path: Path, **kw) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f, **kw))


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)} ({len(rows)} rows)")


def _codes(cell: str) -> list[str]:
    return [c.strip() for c in cell.replace(",", ";").split(";") if c.strip()]


def build(shared: Path) -> None:
    std = shared / "reference" / "standards"

    # --- SDTMIG 3.4 -------------------------------------------------------------------------
    ds_rows = _read_csv(std / "SDTMIG_v3.4_Datasets.csv")
    _write_csv(OUT / "sdtmig-3.4" / "datasets.csv",
               ["dataset", "label", "class", "structure", "keys"],
               [[r["Dataset Name"], r["Dataset Label"], r["Class"], r["Structure"],
                 KEYS.get(r["Dataset Name"], "")] for r in ds_rows])
    var_rows = _read_csv(std / "SDTMIG_v3.4_Variables.csv")
    _write_csv(OUT / "sdtmig-3.4" / "variables.csv",
               ["dataset", "order", "name", "label", "type", "codelists", "codelist_values",
                "value_domain", "value_list", "role", "core", "notes"],
               [[r["Dataset Name"], r["Variable Order"], r["Variable Name"], r["Variable Label"],
                 r["Type"], ";".join(_codes(r["CDISC CT Codelist Code(s)"])),
                 r["Codelist Submission Values"], r["Described Value Domain(s)"], r["Value List"],
                 r["Role"], r["Core"], r["CDISC Notes"]] for r in var_rows])

    # --- ADaMIG 1.3 -------------------------------------------------------------------------
    st_rows = _read_csv(std / "ADaMIG_v1.3_DataStructures.csv")
    _write_csv(OUT / "adamig-1.3" / "structures.csv",
               ["structure", "description", "class", "subclass", "notes"],
               [[r["Data Structure Name"], r["Data Structure Description"], r["Class"],
                 r["Subclass"], r["CDISC Notes"]] for r in st_rows])
    av_rows = _read_csv(std / "ADaMIG_v1.3_Variables.csv")
    short = {"Subject-Level Analysis Dataset": "ADSL", "Basic Data Structure": "BDS"}
    seen: dict[tuple[str, str], int] = {}
    out_rows = []
    for r in av_rows:
        structure = short[r["Data Structure Name"]]
        order = seen.setdefault((structure, "n"), 0) + 1
        seen[(structure, "n")] = order
        out_rows.append([structure, str(order), r["Variable Set"], r["Variable Name"],
                         r["Variable Label"], r["Type"],
                         ";".join(_codes(r["CDISC CT Codelist Code(s)"])),
                         r["CDISC CT Codelist Submission Value(s)"], r["Described Value Domain(s)"],
                         r["Value List Value"], r["Core"], r["CDISC Notes"]])
    _write_csv(OUT / "adamig-1.3" / "variables.csv",
               ["structure", "order", "variable_set", "name", "label", "type", "codelists",
                "codelist_values", "value_domain", "value_list", "core", "notes"], out_rows)

    # --- SDTM CT subset ---------------------------------------------------------------------
    wanted = set(EXTRA_CODELISTS) | {c for c in TS_VALUE_CODELISTS.values() if c}
    for r in var_rows:
        if r["Dataset Name"] in OUR_DOMAINS:
            wanted.update(_codes(r["CDISC CT Codelist Code(s)"]))
    with tarfile.open(std / "ct" / "SDTM_Terminology_2025-03-28.tar.xz", "r:xz") as tf:
        member = tf.getmember("SDTM Terminology.txt")
        text = tf.extractfile(member).read().decode("utf-8-sig")
    ct_rows = list(csv.DictReader(io.StringIO(text), delimiter="\t"))
    heads = {r["Code"]: r for r in ct_rows if not r["Codelist Code"]}
    missing = sorted(wanted - heads.keys())
    if missing:
        print(f"note: codelists not in the SDTM CT package (ignored): {missing}")
    rows = []
    for r in ct_rows:
        cl = r["Codelist Code"]
        if cl and cl in wanted:
            head = heads[cl]
            rows.append([cl, head["CDISC Submission Value"], head["Codelist Name"],
                         head["Codelist Extensible (Yes/No)"], r["Code"],
                         r["CDISC Submission Value"], r["CDISC Synonym(s)"],
                         r["NCI Preferred Term"], r["CDISC Definition"]])
    rows.sort(key=lambda x: (x[0], x[5]))
    header = ["codelist_code", "codelist_short", "codelist_name", "extensible", "term_code",
              "submission_value", "synonyms", "preferred_term", "definition"]
    _write_csv(OUT / "ct" / "sdtm-ct-2025-03-28.csv", header, rows)

    for src, dst in [("ADaM_CT_2025-03-28.csv", "adam-ct-2025-03-28.csv"),
                     ("Define-XML_CT_2025-03-28.csv", "define-xml-ct-2025-03-28.csv")]:
        src_rows = _read_csv(std / "ct" / src)
        heads = {r["Code"]: r for r in src_rows if not r["Codelist Code"]}
        rows = [[r["Codelist Code"], heads[r["Codelist Code"]]["CDISC Submission Value"],
                 heads[r["Codelist Code"]]["Codelist Name"],
                 heads[r["Codelist Code"]]["Codelist Extensible (Yes/No)"], r["Code"],
                 r["CDISC Submission Value"], r["CDISC Synonym(s)"], r["NCI Preferred Term"],
                 r["CDISC Definition"]] for r in src_rows if r["Codelist Code"]]
        rows.sort(key=lambda x: (x[0], x[5]))
        _write_csv(OUT / "ct" / dst, header, rows)

    iso = _read_csv(std / "ct" / "ISO3166-1_countries_pycountry-26.2.16.csv")
    _write_csv(OUT / "ct" / "iso3166-1.csv", ["alpha_3", "alpha_2", "numeric", "name", "official_name"],
               sorted([[r["alpha_3"], r["alpha_2"], r["numeric"], r["name"], r["official_name"]]
                       for r in iso]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    args = p.parse_args()
    build(args.shared)


if __name__ == "__main__":
    main()
