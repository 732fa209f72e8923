"""define.xml 2.1 writer: XSD-valid SDTM and ADaM files whose content reflects the metadata and
the data (keys, codelists with only the used terms and their C-codes, value-level metadata,
methods, comments, leaves), byte-identical rebuilds, the stylesheet view, and the round trip
through read_define.

Metadata for the tests comes from ``studybuild.metadata.from_standard`` over the pharmaverse
SDTM/ADaM (tests/data/pharmaverse), plus a few hand-set origins, methods and comments, and the
trial design datasets of surufatinib-sts from ``sdtm.trial_design``."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from lxml import etree

from sdtm.trial_design import (build_trial_design, trial_design_metadata,
                               trial_design_value_level)
from studybuild.datasets import read_dataset
from studybuild.define import (build_define, read_define, render_html, validate_define,
                               write_define)
from studybuild.errors import InputError
from studybuild.metadata import (CodelistTerm, StudyCodelist, StudyMetadata, ValueLevel,
                                 from_standard)
from studybuild.study import load_study

DATA = Path(__file__).parent / "data" / "pharmaverse"
NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1",
      "xlink": "http://www.w3.org/1999/xlink"}
CUTOFF = dt.datetime(2023, 6, 30)

AGE_METHOD = "AGE = floor((RFSTDTC - BRTHDTC) / 365.25), in whole years at the reference start."
PFS_METHOD = "Time from first dose to progression or death: ADT - STARTDT + 1 days."


def _load(kind: str, files: list[str]) -> dict[str, pd.DataFrame]:
    out = {}
    for f in files:
        ds = read_dataset(DATA / kind / f"{f}.parquet")
        out[ds.name] = ds.frame
    return out


@pytest.fixture(scope="module")
def study():
    return load_study("surufatinib-sts")


@pytest.fixture(scope="module")
def sdtm(study):
    frames = _load("sdtm", ["dm", "ae", "ex", "ds", "sv", "tu_onco_recist", "tr_onco_recist",
                            "rs_onco_recist", "suppdm"])
    td = build_trial_design(study, actual_subjects=29)
    frames.update(td)
    metas = {k: from_standard(k, v.columns) for k, v in frames.items() if k not in td}
    metas.update(trial_design_metadata(study, td))
    dm = metas["DM"]
    variables = []
    for v in dm.variables:
        if v.name == "AGE":
            v = replace(v, origin="Derived", method=AGE_METHOD)
        elif v.name == "SEX":
            v = replace(v, origin="Collected", source="DEMOG.SEX")
        elif v.name in ("STUDYID", "DOMAIN"):
            v = replace(v, origin="Assigned", comment="Assigned by the sponsor.")
        variables.append(v)
    metas["DM"] = replace(dm, variables=tuple(variables), comment="One record per subject "
                          "screened.")
    md = StudyMetadata(study_id=study.id, studyid="CDISCPILOT01", kind="SDTM", datasets=metas,
                       value_level=trial_design_value_level(study, td))
    hrefs = {name: f"{name.lower()}.xpt" for name in frames}
    hrefs["DM"] = "datasets/dm.xpt"
    return md, frames, hrefs


@pytest.fixture(scope="module")
def sdtm_file(tmp_path_factory, sdtm, study):
    md, frames, hrefs = sdtm
    path = tmp_path_factory.mktemp("sdtm") / "define.xml"
    write_define(md, frames, path, study=study, hrefs=hrefs, timestamp=CUTOFF)
    return path


@pytest.fixture(scope="module")
def sdtm_xml(sdtm_file):
    return etree.parse(str(sdtm_file))


@pytest.fixture(scope="module")
def adam(study):
    frames = _load("adam", ["adsl", "adrs_onco", "adtte_onco"])
    metas = {k: from_standard(k, v.columns) for k, v in frames.items()}
    tte = metas["ADTTE"]
    metas["ADTTE"] = replace(tte, class_="BDS", label="Time-to-Event Analysis Dataset")
    params = sorted(frames["ADTTE"]["PARAMCD"].dropna().unique())
    cl = StudyCodelist(id="CL.PARAMCD.ADTTE", name="Parameter Code (ADTTE)",
                       terms=tuple(CodelistTerm(value=p) for p in params))
    metas["ADTTE"] = replace(metas["ADTTE"], variables=tuple(
        replace(v, codelist="CL.PARAMCD.ADTTE") if v.name == "PARAMCD" else v
        for v in metas["ADTTE"].variables))
    vlm = (ValueLevel(dataset="ADTTE", variable="AVAL", where=(("PARAMCD", "PFS"),),
                      label="Progression-free survival (days)", type="Num", origin="Derived",
                      method=PFS_METHOD),)
    md = StudyMetadata(study_id=study.id, studyid="CDISCPILOT01", kind="ADaM", datasets=metas,
                       value_level=vlm, codelists={cl.id: cl})
    return md, frames


@pytest.fixture(scope="module")
def adam_file(tmp_path_factory, adam, study):
    md, frames = adam
    path = tmp_path_factory.mktemp("adam") / "define.xml"
    write_define(md, frames, path, study=study, hrefs={}, timestamp=CUTOFF)
    return path


@pytest.fixture(scope="module")
def adam_xml(adam_file):
    return etree.parse(str(adam_file))


def one(tree, xpath: str):
    found = tree.xpath(xpath, namespaces=NS)
    assert len(found) == 1, f"{xpath}: {len(found)} matches"
    return found[0]


# ---- schema ----------------------------------------------------------------------------------

def test_sdtm_define_is_valid_against_the_define_xml_21_schema(sdtm_file):
    assert validate_define(sdtm_file) == []


def test_adam_define_is_valid_against_the_define_xml_21_schema(adam_file):
    assert validate_define(adam_file) == []


def test_schema_errors_name_the_line(tmp_path, sdtm_file):
    # def:Structure is required on every ItemGroupDef
    broken = sdtm_file.read_text(encoding="utf-8").replace(
        ' def:Structure="One record per subject"', "", 1)
    path = tmp_path / "define.xml"
    path.write_text(broken, encoding="utf-8")
    errors = validate_define(path)
    assert len(errors) == 1 and errors[0].startswith("line ") and "Structure" in errors[0]


# ---- datasets ----------------------------------------------------------------------------------

def test_dm_has_key_sequence_for_studyid_and_usubjid(sdtm_xml):
    dm = one(sdtm_xml, "//odm:ItemGroupDef[@Name='DM']")
    keys = {r.get("ItemOID"): r.get("KeySequence") for r in dm.findall("odm:ItemRef", NS)
            if r.get("KeySequence")}
    assert keys == {"IT.DM.STUDYID": "1", "IT.DM.USUBJID": "2"}
    assert dm.get("Repeating") == "No" and dm.get("Purpose") == "Tabulation"
    assert dm.get("{%s}Structure" % NS["def"]) == "One record per subject"
    assert one(dm, "def:Class").get("Name") == "SPECIAL PURPOSE"


def test_itemrefs_follow_the_frame_columns_with_roles_and_mandatory(sdtm_xml, sdtm):
    _, frames, _ = sdtm
    dm = one(sdtm_xml, "//odm:ItemGroupDef[@Name='DM']")
    refs = dm.findall("odm:ItemRef", NS)
    assert [r.get("ItemOID")[6:] for r in refs] == list(frames["DM"].columns)
    sex = next(r for r in refs if r.get("ItemOID") == "IT.DM.SEX")
    assert sex.get("Mandatory") == "Yes" and sex.get("Role") == "Record Qualifier"
    race = next(r for r in refs if r.get("ItemOID") == "IT.DM.RACE")
    assert race.get("Mandatory") == "No"     # Exp in SDTMIG 3.4


def test_leaf_points_at_the_given_href_or_the_lower_case_xpt(sdtm_xml):
    dm_leaf = one(sdtm_xml, "//odm:ItemGroupDef[@Name='DM']/def:leaf")
    assert dm_leaf.get("{%s}href" % NS["xlink"]) == "datasets/dm.xpt"
    assert dm_leaf.get("ID") == "LF.DM"
    ae_leaf = one(sdtm_xml, "//odm:ItemGroupDef[@Name='AE']/def:leaf")
    assert ae_leaf.get("{%s}href" % NS["xlink"]) == "ae.xpt"
    assert one(ae_leaf, "def:title").text == "ae.xpt"


def test_trial_design_datasets_are_reference_data_first_in_the_file(sdtm_xml):
    names = [g.get("Name") for g in sdtm_xml.xpath("//odm:ItemGroupDef", namespaces=NS)]
    assert names[:5] == ["TA", "TE", "TI", "TS", "TV"]
    ts = one(sdtm_xml, "//odm:ItemGroupDef[@Name='TS']")
    assert ts.get("IsReferenceData") == "Yes" and ts.get("Repeating") == "No"
    assert one(ts, "def:Class").get("Name") == "TRIAL DESIGN"


def test_standards_name_sdtmig_34_and_ct_2025_03_28(sdtm_xml, adam_xml):
    std = {(s.get("Name"), s.get("Type"), s.get("PublishingSet"), s.get("Version"))
           for s in sdtm_xml.xpath("//def:Standard", namespaces=NS)}
    assert std == {("SDTMIG", "IG", None, "3.4"), ("CDISC/NCI", "CT", "SDTM", "2025-03-28")}
    std = {(s.get("Name"), s.get("PublishingSet"), s.get("Version"))
           for s in adam_xml.xpath("//def:Standard", namespaces=NS)}
    # ADSL uses ADaM CT (EOSSTT: SBJTSTAT) and SDTM CT (SEX, RACE)
    assert std == {("ADaMIG", None, "1.3"), ("CDISC/NCI", "ADaM", "2025-03-28"),
                   ("CDISC/NCI", "SDTM", "2025-03-28")}


# ---- items -------------------------------------------------------------------------------------

def test_text_length_is_the_longest_value(sdtm_xml, sdtm):
    _, frames, _ = sdtm
    # pharmaverse USUBJIDs look like "01-701-1015": 11 characters
    assert frames["DM"]["USUBJID"].str.len().max() == 11
    assert one(sdtm_xml, "//odm:ItemDef[@OID='IT.DM.USUBJID']").get("Length") == "11"
    assert one(sdtm_xml, "//odm:ItemDef[@OID='IT.DM.SEX']").get("Length") == "1"


def test_dates_are_iso_8601_types_without_length(sdtm_xml):
    rf = one(sdtm_xml, "//odm:ItemDef[@OID='IT.DM.RFSTDTC']")
    assert rf.get("DataType") == "date" and rf.get("Length") is None


def test_sex_references_c66731_with_only_the_used_terms(sdtm_xml, sdtm):
    _, frames, _ = sdtm
    assert set(frames["DM"]["SEX"].dropna()) == {"F", "M"}     # no U or INTERSEX in the data
    ref = one(sdtm_xml, "//odm:ItemDef[@OID='IT.DM.SEX']/odm:CodeListRef")
    cl = one(sdtm_xml, f"//odm:CodeList[@OID='{ref.get('CodeListOID')}']")
    assert one(cl, "odm:Alias").get("Name") == "C66731"
    items = {i.get("CodedValue"): (i.find("odm:Decode/odm:TranslatedText", NS).text,
                                   i.find("odm:Alias", NS).get("Name"))
             for i in cl.findall("odm:CodeListItem", NS)}
    # NCI codes of the SEX terms: F C16576 (Female), M C20197 (Male)
    assert items == {"F": ("Female", "C16576"), "M": ("Male", "C20197")}


def test_origins_sources_methods_and_comments(sdtm_xml):
    sex = one(sdtm_xml, "//odm:ItemDef[@OID='IT.DM.SEX']/def:Origin")
    assert (sex.get("Type"), sex.get("Source")) == ("Collected", "Investigator")
    assert one(sex, "odm:Description/odm:TranslatedText").text == "Raw data: DEMOG.SEX"
    age_ref = one(sdtm_xml, "//odm:ItemGroupDef[@Name='DM']/odm:ItemRef[@ItemOID='IT.DM.AGE']")
    method = one(sdtm_xml, f"//odm:MethodDef[@OID='{age_ref.get('MethodOID')}']")
    assert one(method, "odm:Description/odm:TranslatedText").text == AGE_METHOD
    assert method.get("Type") == "Computation"
    assert one(sdtm_xml, "//odm:ItemDef[@OID='IT.DM.AGE']/def:Origin").get("Type") == "Derived"
    # TS values come from the protocol
    origin = one(sdtm_xml, "//odm:ItemDef[@OID='IT.TS.TSPARMCD']/def:Origin")
    assert origin.get("Type") == "Protocol"
    # comments on the dataset and on a variable
    dm = one(sdtm_xml, "//odm:ItemGroupDef[@Name='DM']")
    com = one(sdtm_xml, f"//def:CommentDef[@OID='{dm.get('{%s}CommentOID' % NS['def'])}']")
    assert com.find("odm:Description/odm:TranslatedText", NS).text == \
        "One record per subject screened."
    studyid = one(sdtm_xml, "//odm:ItemDef[@OID='IT.DM.STUDYID']")
    assert studyid.get("{%s}CommentOID" % NS["def"]) == "COM.DM.STUDYID"


def test_study_day_variables_get_the_standard_algorithm(sdtm_xml):
    ref = one(sdtm_xml, "//odm:ItemGroupDef[@Name='AE']/odm:ItemRef[@ItemOID='IT.AE.AESTDY']")
    text = one(sdtm_xml, f"//odm:MethodDef[@OID='{ref.get('MethodOID')}']"
                         "/odm:Description/odm:TranslatedText").text
    assert text.startswith("Study day of AESTDTC relative to DM.RFSTDTC")


def test_external_dictionaries(sdtm_xml):
    ref = one(sdtm_xml, "//odm:ItemDef[@OID='IT.DM.COUNTRY']/odm:CodeListRef")
    ext = one(sdtm_xml, f"//odm:CodeList[@OID='{ref.get('CodeListOID')}']/odm:ExternalCodeList")
    assert ext.get("Dictionary") == "ISO 3166-1 Alpha-3"
    ref = one(sdtm_xml, "//odm:ItemDef[@OID='IT.AE.AEDECOD']/odm:CodeListRef")
    ext = one(sdtm_xml, f"//odm:CodeList[@OID='{ref.get('CodeListOID')}']/odm:ExternalCodeList")
    assert ext.get("Dictionary") == "MedDRA"
    ref = one(sdtm_xml, "//odm:ItemDef[@OID='IT.TS.TSVALNF']/odm:CodeListRef")
    assert ref.get("CodeListOID") == "CL.ISO21090"


def test_no_codelist_is_written_without_a_used_term(sdtm_xml):
    for cl in sdtm_xml.xpath("//odm:CodeList", namespaces=NS):
        n = len(cl.xpath("odm:CodeListItem|odm:EnumeratedItem|odm:ExternalCodeList",
                         namespaces=NS))
        assert n > 0, cl.get("OID")
        assert sdtm_xml.xpath(f"//odm:CodeListRef[@CodeListOID='{cl.get('OID')}']",
                              namespaces=NS), f"{cl.get('OID')} is not referenced"


# ---- value-level metadata ----------------------------------------------------------------------

def _vlm(tree, dataset: str, variable: str) -> dict[tuple, etree._Element]:
    """{((where var, comparator, values), ...): ItemDef} of a variable's value list."""
    parent = one(tree, f"//odm:ItemDef[@OID='IT.{dataset}.{variable}']")
    vl_oid = one(parent, "def:ValueListRef").get("ValueListOID")
    out = {}
    for ref in one(tree, f"//def:ValueListDef[@OID='{vl_oid}']").findall("odm:ItemRef", NS):
        wc = one(tree, f"//def:WhereClauseDef[@OID='{one(ref, 'def:WhereClauseRef').get('WhereClauseOID')}']")
        cond = []
        for rc in wc.findall("odm:RangeCheck", NS):
            var = one(tree, f"//odm:ItemDef[@OID='{rc.get('{%s}ItemOID' % NS['def'])}']")
            cond.append((var.get("Name"), rc.get("Comparator"),
                         tuple(c.text for c in rc.findall("odm:CheckValue", NS))))
        out[tuple(cond)] = one(tree, f"//odm:ItemDef[@OID='{ref.get('ItemOID')}']")
    return out


def test_tr_has_value_level_metadata_for_ldiam(sdtm_xml, sdtm):
    _, frames, _ = sdtm
    tr = frames["TR"]
    vlm = _vlm(sdtm_xml, "TR", "TRSTRESN")
    assert set(vlm) == {(("TRTESTCD", "EQ", ("LDIAM",)),), (("TRTESTCD", "EQ", ("LPERP",)),)}
    item = vlm[(("TRTESTCD", "EQ", ("LDIAM",)),)]
    assert item.find("odm:Description/odm:TranslatedText", NS).text == "Longest Diameter"
    # digits after the decimal point, worked out from the printed values
    vals = tr.loc[tr["TRTESTCD"] == "LDIAM", "TRSTRESN"].dropna()
    decimals = max(len(repr(v).split(".")[1].rstrip("0")) for v in vals)
    assert item.get("DataType") == "float" and item.get("SignificantDigits") == str(decimals)
    assert set(_vlm(sdtm_xml, "TR", "TRORRES")) == {
        (("TRTESTCD", "EQ", (c,)),) for c in ("LDIAM", "LPERP", "TUMSTATE")}


def test_test_dependent_codelist_moves_to_the_value_level(sdtm_xml, sdtm):
    _, frames, _ = sdtm
    tr = frames["TR"]
    # TRSTRESC holds numbers for LDIAM/LPERP and TRPROPRS terms (C124309) for TUMSTATE
    parent = one(sdtm_xml, "//odm:ItemDef[@OID='IT.TR.TRSTRESC']")
    assert parent.find("odm:CodeListRef", NS) is None
    item = _vlm(sdtm_xml, "TR", "TRSTRESC")[(("TRTESTCD", "EQ", ("TUMSTATE",)),)]
    cl = one(sdtm_xml, f"//odm:CodeList[@OID='{one(item, 'odm:CodeListRef').get('CodeListOID')}']")
    assert one(cl, "odm:Alias").get("Name") == "C124309"
    used = set(tr.loc[tr["TRTESTCD"] == "TUMSTATE", "TRSTRESC"].dropna())
    assert {i.get("CodedValue") for i in cl.findall("odm:EnumeratedItem", NS)} == used == \
        {"ABSENT", "PRESENT"}


def test_rs_and_supp_value_level(sdtm_xml, sdtm):
    _, frames, _ = sdtm
    assert set(_vlm(sdtm_xml, "RS", "RSORRES")) == {(("RSTESTCD", "EQ", ("OVRLRESP",)),)}
    qnams = set(frames["SUPPDM"]["QNAM"].dropna())
    assert set(_vlm(sdtm_xml, "SUPPDM", "QVAL")) == {(("QNAM", "EQ", (q,)),) for q in qnams}


def test_ts_value_level_uses_the_trial_design_codelists(sdtm_xml):
    vlm = _vlm(sdtm_xml, "TS", "TSVAL")
    sexpop = vlm[(("TSPARMCD", "EQ", ("SEXPOP",)),)]
    cl = one(sdtm_xml, f"//odm:CodeList[@OID='{one(sexpop, 'odm:CodeListRef').get('CodeListOID')}']")
    assert one(cl, "odm:Alias").get("Name") == "C66732"
    assert [(i.get("CodedValue"), i.find("odm:Alias", NS).get("Name"))
            for i in cl.xpath("odm:CodeListItem|odm:EnumeratedItem", namespaces=NS)] == \
        [("BOTH", "C49636")]
    assert vlm[(("TSPARMCD", "EQ", ("SSTDTC",)),)].get("DataType") == "date"
    assert vlm[(("TSPARMCD", "EQ", ("AGEMIN",)),)].get("DataType") == "durationDatetime"
    assert one(vlm[(("TSPARMCD", "EQ", ("TITLE",)),)], "def:Origin").get("Type") == "Protocol"


def test_adam_classes_vlm_methods_and_study_codelists(adam_xml, adam):
    _, frames = adam
    tte = one(adam_xml, "//odm:ItemGroupDef[@Name='ADTTE']")
    assert tte.get("Domain") is None and tte.get("Purpose") == "Analysis"
    assert one(tte, "def:Class").get("Name") == "BASIC DATA STRUCTURE"
    assert one(tte, "def:Class/def:SubClass").get("Name") == "TIME-TO-EVENT"
    assert one(adam_xml, "//odm:ItemGroupDef[@Name='ADSL']/def:Class").get("Name") == \
        "SUBJECT LEVEL ANALYSIS DATASET"
    # the explicit value level replaces derived ones for ADTTE: PFS only
    vlm = _vlm(adam_xml, "ADTTE", "AVAL")
    assert list(vlm) == [(("PARAMCD", "EQ", ("PFS",)),)]
    pfs = vlm[(("PARAMCD", "EQ", ("PFS",)),)]
    ref = one(adam_xml, "//def:ValueListDef/odm:ItemRef[@ItemOID='%s']" % pfs.get("OID"))
    assert one(adam_xml, f"//odm:MethodDef[@OID='{ref.get('MethodOID')}']"
                         "/odm:Description/odm:TranslatedText").text == PFS_METHOD
    # ADRS gets derived value-level metadata: one AVALC entry per parameter present
    adrs = frames["ADRS"]
    with_avalc = set(adrs.loc[adrs["AVALC"].notna(), "PARAMCD"])
    assert set(_vlm(adam_xml, "ADRS", "AVALC")) == {(("PARAMCD", "EQ", (p,)),)
                                                    for p in with_avalc}
    # sponsor codelist
    cl = one(adam_xml, "//odm:CodeList[@OID='CL.PARAMCD.ADTTE']")
    assert cl.get("{%s}IsNonStandard" % NS["def"]) == "Yes"
    assert [i.get("CodedValue") for i in cl.findall("odm:EnumeratedItem", NS)] == \
        ["OS", "PFS", "RSD"]


def test_adam_dates_are_integers_with_a_display_format(adam_xml):
    trtsdt = one(adam_xml, "//odm:ItemDef[@OID='IT.ADSL.TRTSDT']")
    assert (trtsdt.get("DataType"), trtsdt.get("{%s}DisplayFormat" % NS["def"])) == \
        ("integer", "DATE9.")
    trtsdtm = one(adam_xml, "//odm:ItemDef[@OID='IT.ADSL.TRTSDTM']")
    assert trtsdtm.get("{%s}DisplayFormat" % NS["def"]) == "DATETIME20."


# ---- robustness -------------------------------------------------------------------------------

def test_dataset_without_data_is_marked_has_no_data(study, sdtm):
    md, frames, _ = sdtm
    mh = from_standard("MH", ["STUDYID", "DOMAIN", "USUBJID", "MHSEQ", "MHTERM"])
    md2 = replace(md, datasets={**md.datasets, "MH": mh})
    data = build_define(md2, {"DM": frames["DM"]}, study=study, hrefs={}, timestamp=CUTOFF)
    tree = etree.fromstring(data).getroottree()
    mh_group = one(tree, "//odm:ItemGroupDef[@Name='MH']")
    assert mh_group.get("{%s}HasNoData" % NS["def"]) == "Yes"
    assert mh_group.find("def:leaf", NS) is None


def test_value_level_on_a_missing_variable_is_an_input_error(study, sdtm):
    md, frames, _ = sdtm
    bad = replace(md, value_level=(ValueLevel(dataset="TR", variable="TRORRES",
                                              where=(("TRXXX", "A"),), label="x", type="Char"),))
    with pytest.raises(InputError, match="TRXXX"):
        build_define(bad, {"TR": frames["TR"]}, study=study, hrefs={}, timestamp=CUTOFF)


def test_unknown_codelist_is_an_input_error(study, sdtm):
    md, frames, _ = sdtm
    dm = md.datasets["DM"]
    dm = replace(dm, variables=tuple(replace(v, codelist="NOPE") if v.name == "SEX" else v
                                     for v in dm.variables))
    with pytest.raises(InputError, match="NOPE"):
        build_define(replace(md, datasets={"DM": dm}), {"DM": frames["DM"]}, study=study,
                     hrefs={}, timestamp=CUTOFF)


# ---- determinism, stylesheet, round trip -------------------------------------------------------

def test_rebuild_is_byte_identical(tmp_path, sdtm, study, sdtm_file):
    md, frames, hrefs = sdtm
    again = write_define(md, frames, tmp_path / "define.xml", study=study, hrefs=hrefs,
                         timestamp=CUTOFF)
    assert again.read_bytes() == sdtm_file.read_bytes()
    assert b'CreationDateTime="2023-06-30T00:00:00"' in again.read_bytes()


def test_stylesheet_is_written_beside_and_renders(sdtm_file):
    head = sdtm_file.read_bytes()[:200]
    assert b'<?xml-stylesheet type="text/xsl" href="define2-1.xsl"?>' in head
    assert (sdtm_file.parent / "define2-1.xsl").is_file()
    html = render_html(sdtm_file)
    assert "<title>CDISCPILOT01 define.xml</title>" in html
    assert 'id="ig-IG.TR"' in html and 'href="datasets/dm.xpt"' in html
    # the where clause of a value-level row, readable
    assert "TRTESTCD = <code>LDIAM</code>" in html


def test_round_trip_through_read_define(sdtm_file, sdtm):
    md, frames, _ = sdtm
    back = read_define(sdtm_file)
    assert back.kind == "SDTM" and back.studyid == "CDISCPILOT01"
    assert back.ct_version == "2025-03-28"
    assert sorted(back.datasets) == sorted(frames)
    for name, meta in md.datasets.items():
        got = back.datasets[name]
        assert got.label == meta.label
        assert got.keys == tuple(k for k in meta.keys if k in frames[name].columns)
        assert got.names == tuple(frames[name].columns)
        for v in got.variables:
            want = meta.variable(v.name)
            # a column the IG does not know and nobody labelled is labelled with its name
            assert (v.label, v.type) == (want.label or v.name, want.type), (name, v.name)
            assert v.origin == want.origin, (name, v.name)
    dm = back.datasets["DM"]
    assert dm.variable("AGE").method == AGE_METHOD
    assert dm.variable("SEX").source == "DEMOG.SEX"
    assert dm.variable("STUDYID").comment == "Assigned by the sponsor."
    assert dm.comment == "One record per subject screened."
    sex = back.codelists[dm.variable("SEX").codelist]
    assert sex.ct_code == "C66731" and [(t.value, t.code) for t in sex.terms] == \
        [("F", "C16576"), ("M", "C20197")]
    ldiam = [v for v in back.value_level
             if v.dataset == "TR" and v.where == (("TRTESTCD", "LDIAM"),)]
    assert {v.variable for v in ldiam} == {"TRORRES", "TRSTRESC", "TRSTRESN"}


def test_conditions_that_look_alike_get_their_own_where_clause():
    # "A B" and "A_B" would both become A_B in an OID; each keeps its own WhereClauseDef
    lb = pd.DataFrame({"STUDYID": ["S"] * 3, "DOMAIN": ["LB"] * 3, "USUBJID": ["S-1"] * 3,
                       "LBSEQ": [1.0, 2.0, 3.0], "LBTESTCD": ["A B", "A_B", "A B"],
                       "LBTEST": ["Test one", "Test two", "Test one"],
                       "LBORRES": ["1", "2", "3"]}).astype({c: "str" for c in (
                           "STUDYID", "DOMAIN", "USUBJID", "LBTESTCD", "LBTEST", "LBORRES")})
    md = StudyMetadata(study_id="x", studyid="S", kind="SDTM",
                       datasets={"LB": from_standard("LB", lb.columns)})
    tree = etree.fromstring(build_define(md, {"LB": lb}, study=None, hrefs={},
                                         timestamp=CUTOFF)).getroottree()
    vlm = _vlm(tree, "LB", "LBORRES")
    assert {k: v.find("odm:Description/odm:TranslatedText", NS).text for k, v in vlm.items()} \
        == {(("LBTESTCD", "EQ", ("A B",)),): "Test one",
            (("LBTESTCD", "EQ", ("A_B",)),): "Test two"}
