"""read_define on CDISC's own define.xml examples (tests/data/define, see NOTICE.md), the
stylesheet on them, and the refusal of hostile XML (XXE, billion laughs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from studybuild.define import read_define, render_html, validate_define
from studybuild.errors import InputError

DATA = Path(__file__).parent / "data" / "define"
MSG_SDTM = DATA / "define_msg_sdtm.xml"
MSG_ADAM = DATA / "define_msg_adam.xml"


@pytest.fixture(scope="module")
def msg_sdtm():
    return read_define(MSG_SDTM)


@pytest.fixture(scope="module")
def msg_adam():
    return read_define(MSG_ADAM)


def test_cdisc_examples_are_schema_valid():
    assert validate_define(MSG_SDTM) == []
    # the ADaM example carries Analysis Results Metadata: checked with the ARM 1.0 schema
    assert validate_define(MSG_ADAM) == []


def test_msg_sdtm_datasets_keys_and_standard(msg_sdtm):
    assert msg_sdtm.kind == "SDTM" and msg_sdtm.studyid == "CDISCPILOT01"
    assert msg_sdtm.ct_version == "2020-12-18"
    assert len(msg_sdtm.datasets) == 31
    dm = msg_sdtm.dataset("DM")
    assert dm.label == "Demographics" and dm.keys == ("STUDYID", "USUBJID")
    assert dm.class_ == "SPECIAL PURPOSE" and dm.standard == "SDTMIG 3.3"
    assert dm.repeating is False and msg_sdtm.dataset("TS").reference_data is True
    assert dm.names[:4] == ("STUDYID", "DOMAIN", "USUBJID", "SUBJID")


def test_msg_sdtm_variables(msg_sdtm):
    dm = msg_sdtm.dataset("DM")
    sex = dm.variable("SEX")
    # <def:Origin Type="Collected" Source="Investigator"> with aCRF page 5
    assert (sex.type, sex.core, sex.origin, sex.length) == ("Char", "Req", "Collected", 1)
    assert sex.source == "LF.acrf page 5"
    age = dm.variable("AGE")
    assert (age.type, age.data_type) == ("Num", "integer")
    # Mandatory="No" in the file: the SDTMIG core (Exp) is used
    assert age.core == "Exp"
    rfstdtc = dm.variable("RFSTDTC")
    assert rfstdtc.origin == "Derived" and rfstdtc.method == \
        "The first date/time of study drug. Null for screen failures."
    assert dm.variable("USUBJID").role == "Identifier"


def test_msg_sdtm_codelists(msg_sdtm):
    sex = msg_sdtm.codelists[msg_sdtm.dataset("DM").variable("SEX").codelist]
    assert sex.ct_code == "C66731" and sex.extensible is False
    assert [(t.value, t.decode, t.code) for t in sex.terms] == \
        [("F", "Female", "C16576"), ("M", "Male", "C20197")]
    # external dictionaries (MedDRA) are not returned as codelists
    assert msg_sdtm.dataset("AE").variable("AEDECOD").codelist is None


def test_msg_sdtm_value_level(msg_sdtm):
    qnams = {v.where for v in msg_sdtm.value_level
             if v.dataset == "SUPPDM" and v.variable == "QVAL"}
    assert len(qnams) == 5 and all(w[0][0] == "QNAM" for w in qnams)
    # IN with several values becomes one entry per value (FTTESTCD AVL0201 ... AVL0215)
    ft = [v for v in msg_sdtm.value_level if v.dataset == "FT" and
          v.where[0] == ("FTTESTCD", "AVL0201")]
    assert ft


def test_msg_adam(msg_adam):
    assert msg_adam.kind == "ADaM"
    adsl = msg_adam.dataset("ADSL")
    assert adsl.class_ == "SUBJECT LEVEL ANALYSIS DATASET" and adsl.keys == ("USUBJID",)
    trtsdt = adsl.variable("TRTSDT")
    assert (trtsdt.type, trtsdt.format, trtsdt.origin) == ("Num", "DATE9.", "Derived")
    assert trtsdt.method == "SV.SVSTDTC when SV.VISITNUM=3, converted to SAS date"
    age = adsl.variable("AGE")
    assert (age.origin, age.source) == ("Predecessor", "DM.AGE")
    params = {v.where[0][1] for v in msg_adam.value_level
              if v.dataset == "ADADAS" and v.variable == "AVAL"}
    assert {"ACITM01", "ACITM02"} <= params


def test_stylesheet_renders_cdisc_examples():
    html = render_html(MSG_SDTM)
    assert html.count('<section class="dataset"') == 31
    assert "Demographics" in html and "C66731" in html
    html = render_html(MSG_ADAM)
    assert html.count('<section class="dataset"') == 12


XXE = """<?xml version="1.0"?>
<!DOCTYPE ODM [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3"><Study OID="&xxe;"/></ODM>
"""

LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3"><Study OID="&lol9;"/></ODM>
"""


@pytest.mark.parametrize("text", [XXE, LAUGHS], ids=["xxe", "billion-laughs"])
def test_hostile_xml_is_refused_with_a_clear_message(tmp_path, text):
    path = tmp_path / "define.xml"
    path.write_text(text, encoding="utf-8")
    for fn in (read_define, validate_define, render_html):
        with pytest.raises(InputError) as err:
            fn(path)
        msg = str(err.value)
        assert str(path) in msg and "refused" in msg and "ENTITY" in msg


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_entities_behind_a_long_prolog_or_in_utf16_are_refused(tmp_path, encoding):
    # 70 kB of comment before the DTD; in UTF-16 no byte scan sees "<!ENTITY"
    text = LAUGHS.replace('<?xml version="1.0"?>\n',
                          f'<?xml version="1.0" encoding="{encoding.upper()}"?>\n<!--'
                          + "x" * 70_000 + "-->\n")
    path = tmp_path / "define.xml"
    path.write_text(text, encoding=encoding)
    with pytest.raises(InputError, match="refused"):
        read_define(path)


def test_not_a_define_file(tmp_path):
    path = tmp_path / "x.xml"
    path.write_text("<root/>", encoding="utf-8")
    with pytest.raises(InputError, match="not a define.xml"):
        read_define(path)
    path.write_text("<ODM", encoding="utf-8")
    with pytest.raises(InputError, match="XML syntax error"):
        read_define(path)
