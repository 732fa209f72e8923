"""A SAS-written submission folder (the CDISC pilot, tests/data/cdiscpilot01): XPT text in
Windows-1252, never refused over one byte; Define-XML 1.0; split datasets.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from studybuild.cli import cli
from studybuild.export.xpt import read_xpt
from validation.run import declared_encoding, validate_folder

PILOT = Path(__file__).parent / "data" / "cdiscpilot01"
TS = PILOT / "ts.xpt"
# the three TS rows (1-based) whose TSVAL holds "Alzheimer’s" with the apostrophe as the
# Windows-1252 byte 0x92 (found with `grep -c` on the file: 3 bytes 0x92, one per value)
ALZ_ROWS = {9: "TDIGRP", 14: "INDIC", 29: "TITLE"}


def test_cp1252_text_is_read_not_refused():
    frame, meta = read_xpt(TS)
    assert meta.encoding == "cp1252"
    assert meta.rows == 33 and frame.shape == (33, 6)
    assert frame.loc[13, "TSPARMCD"] == "INDIC"
    assert frame.loc[13, "TSVAL"] == "Mild to Moderate Alzheimer\u2019s Disease"
    non_ascii = {i + 1: p for i, (p, v) in enumerate(zip(frame["TSPARMCD"], frame["TSVAL"]))
                 if isinstance(v, str) and not v.isascii()}
    assert non_ascii == ALZ_ROWS


def test_the_encoding_asked_for_is_used_first():
    frame, meta = read_xpt(TS, encoding="ISO-8859-1")       # Latin-1 reads 0x92 as U+0092
    assert meta.encoding == "latin_1"
    assert frame.loc[13, "TSVAL"] == "Mild to Moderate Alzheimer\x92s Disease"
    # UTF-8 asked for, but the bytes are not UTF-8: the next encoding is tried
    assert read_xpt(TS, encoding="utf-8")[1].encoding == "cp1252"


def test_encoding_names():
    from studybuild.export.xpt import codec_name

    assert [codec_name(n) for n in ("UTF-8", "windows-1252", "ISO-8859-1", "latin1",
                                    "ISO-8859-15", "US-ASCII")] == \
        ["utf_8", "cp1252", "latin_1", "latin_1", "iso8859_15", "ascii"]
    with pytest.raises(LookupError):
        codec_name("klingon")


def test_byte_undefined_in_cp1252_falls_back_to_latin1(tmp_path):
    raw = TS.read_bytes()
    assert raw.count(b"\x92") == 3
    bad = tmp_path / "ts.xpt"
    bad.write_bytes(raw.replace(b"\x92", b"\x81"))          # 0x81 has no cp1252 character
    frame, meta = read_xpt(bad)
    assert meta.encoding == "latin_1"
    assert frame.loc[13, "TSVAL"] == "Mild to Moderate Alzheimer\x81s Disease"


def test_truncated_file_is_still_refused(tmp_path):
    from studybuild.errors import InputError

    cut = tmp_path / "ts.xpt"
    cut.write_bytes(TS.read_bytes()[:-1000])
    with pytest.raises(InputError, match="truncated"):
        read_xpt(cut)


def test_validate_reports_each_non_ascii_cell(tmp_path):
    shutil.copy(TS, tmp_path / "ts.xpt")
    report = validate_folder(tmp_path)
    assert report.encodings == {"ts.xpt": "Windows-1252"}
    hits = [f for f in report.findings if f.rule_id == "SB0013"]
    assert sorted(f.row for f in hits) == sorted(ALZ_ROWS)
    assert {(f.dataset, f.variable, f.severity.value) for f in hits} == \
        {("TS", "TSVAL", "error")}
    assert all("'\u2019'" in f.message for f in hits)
    assert report.to_dict()["encodings"] == {"ts.xpt": "Windows-1252"}


def test_cli_reads_the_folder_and_says_how(tmp_path):
    shutil.copy(TS, tmp_path / "ts.xpt")
    res = CliRunner().invoke(cli, ["validate", str(tmp_path)])
    assert res.exit_code == 1, res.output                   # SB0013 errors, not a refusal
    assert "text read as Windows-1252, not UTF-8: ts.xpt" in res.output
    res = CliRunner().invoke(cli, ["validate", str(tmp_path), "--encoding", "latin-1"])
    assert res.exit_code == 1
    assert "text read as Latin-1, not UTF-8: ts.xpt" in res.output
    res = CliRunner().invoke(cli, ["validate", str(tmp_path), "--encoding", "klingon"])
    assert res.exit_code == 2
    assert "unknown text encoding 'klingon'" in res.output


def test_define_xml_declaration_names_the_encoding(tmp_path):
    d = tmp_path / "define.xml"
    d.write_bytes(b'<?xml version="1.0" encoding="ISO-8859-1"?>\n<ODM/>')
    assert declared_encoding(d) == "cp1252"                 # Latin-1 read as its superset
    d.write_bytes(b"<?xml version='1.0' encoding='UTF-8'?><ODM/>")
    assert declared_encoding(d) == "utf_8"
    d.write_bytes(b'<?xml version="1.0"?><ODM/>')
    assert declared_encoding(d) is None
    d.write_bytes(b'<?xml version="1.0" encoding="nonsense"?><ODM/>')
    assert declared_encoding(d) is None


# --------------------------------------------------------------------------------------------
# Define-XML 1.0 (tests/data/cdiscpilot01/define_sdtm.xml: DM and TS of the pilot's define)
# --------------------------------------------------------------------------------------------

def test_define_10_is_read():
    from studybuild.define import read_define

    m = read_define(PILOT / "define_sdtm.xml")
    assert (m.kind, m.define_version, m.standard, m.studyid) == \
        ("SDTM", "1.0.0", "SDTMIG 3.1.2", "CDISCPILOT01")
    assert sorted(m.datasets) == ["DM", "TS"]
    dm = m.datasets["DM"]
    # <ItemGroupDef Name="DM" def:Label="Demographics" def:DomainKeys="STUDYID, USUBJID"
    #  def:Class="Special Purpose" def:Structure="One record per subject">
    assert (dm.label, dm.keys, dm.class_, dm.structure, dm.standard) == \
        ("Demographics", ("STUDYID", "USUBJID"), "Special Purpose", "One record per subject",
         "SDTMIG 3.1.2")
    assert len(dm.variables) == 25 and dm.names[:3] == ("STUDYID", "DOMAIN", "USUBJID")
    # <ItemDef OID="DM.SEX" DataType="text" Length="1" Origin="CRF Page 7" def:Label="Sex">
    #   <CodeListRef CodeListOID="SEX"/>; its ItemRef is Mandatory="Yes"
    sex = dm.variable("SEX")
    assert (sex.label, sex.type, sex.length, sex.codelist, sex.origin, sex.source, sex.core) \
        == ("Sex", "Char", 1, "SEX", "Collected", "CRF Page 7", "Req")
    age = dm.variable("AGE")                    # DataType="integer" Length="8" Origin="Derived"
    assert (age.type, age.length, age.origin, age.comment) == \
        ("Num", 8, "Derived", "Subject's Age at start of study drug (RFSTDTC).")
    # def:ComputationMethodOID="COMPMETHOD.STUDY_DAY" -> the def:ComputationMethod text
    assert dm.variable("DMDY").method.startswith("(date portion of --DTC) minus")
    assert [(t.value, t.decode) for t in m.codelists["SEX"].terms] == \
        [("F", "Female"), ("M", "Male"), ("U", "Unknown")]         # by def:Rank
    assert m.datasets["TS"].label == "Trial Summary"


def test_define_10_adam_and_its_coded_values():
    from studybuild.define import read_define

    m = read_define(PILOT / "define_adam.xml")                  # ISO-8859-1, ADaM 2.1
    assert (m.kind, m.define_version, m.standard) == ("ADaM", "1.0.0", "CDISC ADaM 2.1")
    adsl = m.datasets["ADSL"]
    assert (adsl.label, adsl.keys, len(adsl.variables)) == \
        ("Subject-Level Analysis", ("USUBJID",), 48)
    # CodedValue="Y" + a no-break space (byte 0xA0) in the file; read as "Y"
    assert b'CodedValue="Y\xa0"' in (PILOT / "define_adam.xml").read_bytes()
    assert [t.value for t in m.codelists["Y_BLANK"].terms] == ["Y"]
    assert declared_encoding(PILOT / "define_adam.xml") == "cp1252"


def test_validate_with_define_10_says_what_it_declares(tmp_path):
    shutil.copy(TS, tmp_path / "ts.xpt")
    shutil.copy(PILOT / "define_sdtm.xml", tmp_path / "define.xml")
    report = validate_folder(tmp_path)
    assert report.metadata_source == "the folder's define.xml"
    assert report.define_declares == ("1.0.0", "SDTMIG 3.1.2")
    assert report.datasets["TS"].label == "Trial Summary"   # from the define (the XPT has none)
    res = CliRunner().invoke(cli, ["validate", str(tmp_path)])
    assert res.exit_code == 1, res.output
    assert "define.xml is Define-XML 1.0.0 and declares SDTMIG 3.1.2; the rules are those " \
           "of SDTMIG 3.4" in " ".join(res.output.split())


def test_not_odm_is_still_refused(tmp_path):
    from studybuild.define import read_define
    from studybuild.errors import InputError

    d = tmp_path / "define.xml"
    d.write_text('<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"/>')
    with pytest.raises(InputError, match="not ODM 1.3 .Define-XML 2.x. or ODM 1.2"):
        read_define(d)


# --------------------------------------------------------------------------------------------
# split datasets (SDTMIG 3.4 section 4.1.7), synthetic
# --------------------------------------------------------------------------------------------

def _split_folder(folder: Path) -> Path:
    """DM with two subjects; QS split into qsco.xpt (2 records) and qsgi.xpt (3 records);
    SUPPQS split into suppqsco.xpt and suppqsgi.xpt, one qualifier per QS record, each
    pointing (IDVAR QSSEQ) at a record of its own part. qsgi.xpt record 2 repeats QSSEQ 1 of
    subject S-1 (qsco.xpt record 1): one --SEQ finding, which must name qsgi.xpt row 2."""
    import pandas as pd

    from studybuild import standards
    from studybuild.export.xpt import write_xpt

    def ig_labels(ds):
        return {c: standards.sdtmig().dataset(ds).find(c).label
                for c in standards.sdtmig().dataset(ds).names}

    folder.mkdir(exist_ok=True)
    dm = pd.DataFrame({"STUDYID": ["X"] * 2, "DOMAIN": ["DM"] * 2, "USUBJID": ["S-1", "S-2"],
                       "SUBJID": ["1", "2"], "SITEID": ["01"] * 2})
    write_xpt(dm, folder / "dm.xpt", dataset="DM")

    def qs(rows, name, cat):
        frame = pd.DataFrame({"STUDYID": "X", "DOMAIN": "QS",
                              "USUBJID": [u for u, _ in rows],
                              "QSSEQ": [float(q) for _, q in rows],
                              "QSTESTCD": "ITEM1", "QSTEST": "Item 1", "QSCAT": cat,
                              "QSORRES": "1"})
        write_xpt(frame, folder / f"{name.lower()}.xpt", dataset=name,
                  label=f"Questionnaires {cat.title()}", labels=ig_labels("QS"))

    qs([("S-1", 1), ("S-1", 2)], "QSCO", "COGNITIVE")
    qs([("S-2", 1), ("S-1", 1), ("S-1", 3)], "QSGI", "GLOBAL IMPRESSION")

    def supp(rows, name):
        frame = pd.DataFrame({"STUDYID": "X", "RDOMAIN": "QS",
                              "USUBJID": [u for u, _ in rows], "IDVAR": "QSSEQ",
                              "IDVARVAL": [str(q) for _, q in rows], "QNAM": "QSEVAL",
                              "QLABEL": "Evaluator", "QVAL": "INVESTIGATOR",
                              "QORIG": "Assigned"})
        write_xpt(frame, folder / f"{name.lower()}.xpt", dataset=name,
                  label="Supplemental Qualifiers for QS", labels=ig_labels("SUPPQUAL"))

    supp([("S-1", 1), ("S-1", 2)], "SUPPQSCO")
    supp([("S-2", 1), ("S-1", 3)], "SUPPQSGI")                  # S-1 QSSEQ 3 is in qsgi.xpt
    return folder


def test_split_files_are_read_as_their_domain(tmp_path):
    from studybuild.datasets import read_folder

    folder = read_folder(_split_folder(tmp_path / "sdtm"))
    assert sorted(folder.datasets) == ["DM", "QS", "SUPPQS"]
    assert folder.ignored == []
    qs = folder.datasets["QS"]
    assert [(p.name, n) for p, n in qs.parts] == [("qsco.xpt", 2), ("qsgi.xpt", 3)]
    assert qs.frame["USUBJID"].tolist() == ["S-1", "S-1", "S-2", "S-1", "S-1"]
    assert qs.frame["QSSEQ"].tolist() == [1.0, 2.0, 1.0, 1.0, 3.0]
    assert [(p.name, n) for p, n in folder.datasets["SUPPQS"].parts] == \
        [("suppqsco.xpt", 2), ("suppqsgi.xpt", 2)]


def test_whole_and_split_file_is_not_combined(tmp_path):
    from studybuild.datasets import read_folder

    d = _split_folder(tmp_path / "sdtm")
    shutil.copy(d / "qsco.xpt", d / "qs.xpt")       # qs.xpt is the whole QS, qsco.xpt a part
    folder = read_folder(d)
    assert folder.datasets["QS"].path.name == "qs.xpt" and folder.datasets["QS"].parts == ()
    assert [(p.name, why) for p, why in folder.ignored] == \
        [("qsco.xpt", "QS already read from qs.xpt"), ("qsgi.xpt", "QS already read from qs.xpt")]


def test_split_supp_has_its_parents_and_findings_name_the_file(tmp_path):
    report = validate_folder(_split_folder(tmp_path / "sdtm"))
    assert not [f for f in report.findings if f.rule_id == "SB0116"]   # SUPP parent found
    assert not [f for f in report.findings if f.rule_id == "SB0901"]   # no file left unread
    seq = [(Path(f.source).name, f.row) for f in report.findings if f.rule_id == "SB0011"]
    # S-1 has QSSEQ 1 twice: qsco.xpt record 1 and qsgi.xpt record 2 (combined rows 1, 4)
    assert sorted(seq) == [("qsco.xpt", 1), ("qsgi.xpt", 2)]
    assert report.splits == {"QS": (("qsco.xpt", 2), ("qsgi.xpt", 3)),
                             "SUPPQS": (("suppqsco.xpt", 2), ("suppqsgi.xpt", 2))}
    assert report.datasets["QS"].records == 5
    res = CliRunner().invoke(cli, ["validate", str(tmp_path / "sdtm")])
    assert "QS is split: combined from qsco.xpt (2 records), qsgi.xpt (3 records)" in \
        " ".join(res.output.split())
