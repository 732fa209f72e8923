"""Standards metadata: real SDTMIG 3.4 / ADaMIG 1.3 / CT 2025-03-28 entries."""

import dataclasses

import pytest

from studybuild import standards


def test_dm_sex_is_required_and_uses_sex_codelist():
    var = standards.sdtmig().dataset("DM").variable("SEX")
    assert var.core == "Req" and var.required
    assert var.codelists == ("C66731",)
    assert var.type == "Char"
    assert var.label == "Sex"


def test_rs_rsstresc_uses_oncology_response_codelist():
    var = standards.sdtmig().dataset("RS").variable("RSSTRESC")
    assert var.codelists == ("C96785",)
    assert var.core == "Exp"


def test_tr_trstresn_is_numeric_expected_result_qualifier():
    var = standards.sdtmig().dataset("TR").variable("TRSTRESN")
    assert (var.type, var.core, var.role) == ("Num", "Exp", "Result Qualifier")
    assert var.numeric and not var.required


def test_every_domain_we_produce_is_in_the_standard_with_keys():
    ig = standards.sdtmig()
    for name in ["DM", "EX", "TU", "TR", "RS", "AE", "DS", "TS", "TA", "TE", "TV", "TI", "SE",
                 "SV", "SUPPQUAL"]:
        ds = ig.dataset(name)
        assert ds.variables, name
        assert ds.keys[:1] == ("STUDYID",), name
    assert ig.dataset("DM").label == "Demographics"
    assert ig.dataset("SUPPAE").name == "SUPPQUAL"          # SUPPxx resolves to SUPPQUAL
    assert ig.dataset("TR").names[:4] == ("STUDYID", "DOMAIN", "USUBJID", "TRSEQ")


def test_iso8601_variables_are_marked():
    assert standards.sdtmig().dataset("AE").variable("AESTDTC").iso8601
    assert not standards.sdtmig().dataset("AE").variable("AETERM").iso8601


def test_unknown_names_raise_a_readable_error():
    with pytest.raises(standards.StandardsLookupError, match="DM has no variable 'FOO'"):
        standards.sdtmig().dataset("DM").variable("foo")
    with pytest.raises(standards.StandardsLookupError, match="no dataset 'XX'"):
        standards.sdtmig().dataset("XX")
    with pytest.raises(standards.StandardsLookupError, match="no codelist 'C00000'"):
        standards.ct().codelist("C00000")


def test_sex_codelist_terms_extensibility_and_synonyms():
    cl = standards.ct().codelist("C66731")
    assert cl.short_name == "SEX" and cl.name == "Sex"
    assert cl.extensible is False
    assert cl.submission_values == {"F", "M", "U", "INTERSEX"}
    assert cl.term("male").submission_value == "M"          # synonym, case-insensitive
    assert cl.term(" Female ").code == "C16576"
    assert cl.term("UNK").submission_value == "U"
    assert cl.term("Mle") is None
    assert standards.ct().codelist("SEX") is cl              # by short name


def test_extensible_codelists_and_ct_version():
    assert standards.ct().codelist("C71620").extensible is True          # UNIT
    assert standards.ct().version == "2025-03-28"
    assert standards.ct().codelist("C96785").term("Partial Response").submission_value == "PR"
    assert standards.ct().codelist("C66729").term("PO").submission_value == "ORAL"


def test_adam_structures_and_pattern_variables():
    ad = standards.adamig()
    trt = ad.structure("ADSL").variable("TRT01P")
    assert (trt.name, trt.label, trt.type, trt.core) == (
        "TRT01P", "Planned Treatment for Period 01", "Char", "Req")
    assert ad.structure("ADSL").variable("AGEGR1").label == "Pooled Age Group 1"
    assert ad.structure("TTE").variable("CNSR").type == "Num"
    assert ad.structure("TTE").variable("ANL01FL").label == "Analysis Flag 01"
    assert not ad.structure("BDS").has("CNSR")              # TTE set only in TTE
    assert ad.structure("ADSL").variable("EOSSTT").codelists == ("C124296",)


def test_adam_ct_and_countries():
    assert standards.adam_ct().codelist("C81223").submission_values >= {"D", "M", "Y"}
    assert standards.countries()["CHN"].name == "China"
    assert standards.country_lookup()["CHINA"] == "CHN"
    assert standards.country_lookup()["CN"] == "CHN"


def test_objects_are_immutable_and_cached():
    var = standards.sdtmig().dataset("DM").variable("SEX")
    with pytest.raises(dataclasses.FrozenInstanceError):
        var.label = "x"
    with pytest.raises(TypeError):
        standards.sdtmig().datasets["ZZ"] = None
    assert standards.sdtmig() is standards.sdtmig()
    assert standards.ct() is standards.ct()
