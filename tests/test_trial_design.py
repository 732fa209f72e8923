"""Trial design datasets from study.yaml: TS carries every parameter the FDA validator rules and
SDTMIG 3.4 ask for, coded with CDISC CT 2025-03-28; TA/TE/TV/TI mirror the study's arms,
elements, visits and criteria. Values are checked against study.yaml by hand."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from sdtm.trial_design import (build_trial_design, iso_duration_between,
                               trial_design_metadata, trial_design_value_level)
from studybuild import standards
from studybuild.errors import SpecError
from studybuild.study import load_study

# Trial Summary parameters the FDA validator (SD1226, SD2201-SD2235) and the Technical
# Rejection Criteria (1734: SSTDTC) require of an interventional study of patients
FDA_REQUIRED = {"ADDON", "AGEMAX", "AGEMIN", "LENGTH", "PLANSUB", "RANDOM", "SEXPOP",
                "STOPRULE", "TBLIND", "TCNTRL", "TDIGRP", "TINDTP", "TITLE", "TPHASE", "TTYPE",
                "CURTRT", "OBJPRIM", "SPONSOR", "TRT", "REGID", "OUTMSPRI", "PCLAS", "FCNTRY",
                "ADAPT", "DCUTDTC", "DCUTDESC", "INTMODEL", "NARMS", "STYPE", "INTTYPE",
                "SSTDTC", "SENDTC", "ACTSUB", "HLTSUBJI", "INDIC", "COMPTRT", "ROUTE", "DOSE",
                "DOSU", "DOSFRQ", "SDTIGVER", "SDTMVER"}
NULL_FLAVOURS = {"NI", "NA", "UNK", "ASKU", "NASK", "NAV", "PINF", "NINF", "OTH", "MSK", "QS",
                 "TRC", "INV", "DER"}


@pytest.fixture(scope="module")
def suru():
    return load_study("surufatinib-sts")


@pytest.fixture(scope="module")
def enva():
    return load_study("surufatinib-envafolimab-sts")


@pytest.fixture(scope="module")
def td(suru):
    return build_trial_design(suru, actual_subjects=27)


@pytest.fixture(scope="module")
def td_enva(enva):
    return build_trial_design(enva, actual_subjects=48)


def ts_values(ts: pd.DataFrame, parmcd: str) -> list:
    rows = ts[ts["TSPARMCD"] == parmcd].sort_values("TSSEQ")
    return [v if isinstance(v, str) else None for v in rows["TSVAL"].tolist()]


def ts_row(ts: pd.DataFrame, parmcd: str) -> dict:
    rows = ts[ts["TSPARMCD"] == parmcd]
    assert len(rows) == 1, parmcd
    return {k: (v if not (isinstance(v, float) and pd.isna(v)) and v is not pd.NA else None)
            for k, v in rows.iloc[0].to_dict().items()}


def test_ts_has_every_required_parameter(td, td_enva):
    for ts in (td["TS"], td_enva["TS"]):
        assert FDA_REQUIRED <= set(ts["TSPARMCD"])
        assert set(ts["TSPARMCD"]) <= standards.ct().codelist("C66738").submission_values


def test_ts_hand_checked_values(td, suru):
    ts = td["TS"]
    # study.yaml dates: study_start 2023-11-28, data_cutoff 2025-11-27
    assert ts_values(ts, "SSTDTC") == ["2023-11-28"] == [suru.dates.study_start.isoformat()]
    assert ts_values(ts, "DCUTDTC") == ["2025-11-27"]
    assert ts_row(ts, "SSTDTC")["TSVCDREF"] == "ISO 8601"
    # 2023-11-28 -> 2025-10-28 is 1 year 11 months, then 30 days to 2025-11-27
    assert ts_values(ts, "LENGTH") == ["P1Y11M30D"]
    assert ts_values(ts, "AGEMIN") == ["P18Y"]
    agemax = ts_row(ts, "AGEMAX")
    assert (agemax["TSVAL"], agemax["TSVALNF"]) == (None, "PINF")   # no upper age limit
    assert ts_values(ts, "PLANSUB") == ["29"] and ts_values(ts, "ACTSUB") == ["27"]
    assert ts_values(ts, "NARMS") == ["1"]
    assert ts_values(ts, "TRT") == ["SURUFATINIB"]
    assert ts_values(ts, "DOSE") == ["300"]
    assert ts_values(ts, "FCNTRY") == ["CHN"] and ts_row(ts, "FCNTRY")["TSVCDREF"] == "ISO 3166"
    regid = ts_row(ts, "REGID")                           # study.yaml registry_ids
    assert (regid["TSVAL"], regid["TSVALNF"]) == ("NCT06110650", None)
    # SDTMIG 3.4 TS example: the id is also TSVALCD, the registry its reference
    assert (regid["TSVALCD"], regid["TSVCDREF"]) == ("NCT06110650", "ClinicalTrials.gov")
    assert ts_row(ts, "COMPTRT")["TSVALNF"] == "NA"       # single arm, no comparator
    assert ts_row(ts, "CURTRT")["TSVALNF"] == "NA"        # not an add-on study
    assert ts_values(ts, "TITLE") == [" ".join(suru.title.split())]
    assert ts_values(ts, "OUTMSPRI") == [
        "PFS: Time from first dose to radiological progression (investigator, RECIST 1.1) or "
        "death from any cause (up to 12 months)"]
    assert ts_values(ts, "OBJSEC") == [
        f"To evaluate {e} with surufatinib in advanced soft tissue sarcoma"
        for e in ("ORR", "OS", "DCR")]
    assert "TSGRPID" not in ts.columns                    # one treatment: no groups


def test_ts_coded_values_carry_nci_codes(td):
    ts = td["TS"]
    # C-codes of the terms in CDISC CT 2025-03-28
    expected = {"TPHASE": ("PHASE II TRIAL", "C15601"), "SEXPOP": ("BOTH", "C49636"),
                "STYPE": ("INTERVENTIONAL", "C98388"), "TBLIND": ("OPEN LABEL", "C49659"),
                "INTMODEL": ("SINGLE GROUP", "C82640"), "RANDOM": ("N", "C49487"),
                "ROUTE": ("ORAL", "C38288"), "DOSU": ("mg", "C28253"),
                "DOSFRQ": ("QD", "C25473"), "SDTIGVER": ("3.4", "C189638")}
    for parmcd, (value, code) in expected.items():
        row = ts_row(ts, parmcd)
        assert (row["TSVAL"], row["TSVALCD"], row["TSVCDREF"], row["TSVCDVER"]) == \
            (value, code, "CDISC CT", "2025-03-28"), parmcd


def test_ts_conformance_rules(td, td_enva):
    for ts in (td["TS"], td_enva["TS"]):
        # CG0259/CG0260: TSVAL null if and only if TSVALNF populated, with an ISO 21090 flavour
        assert (ts["TSVAL"].isna() == ts["TSVALNF"].notna()).all()
        assert set(ts["TSVALNF"].dropna()) <= NULL_FLAVOURS
        # CG0268: TSSEQ unique within TSPARMCD
        assert not ts.duplicated(["TSPARMCD", "TSSEQ"]).any()
        # TSPARM is the CT name paired with TSPARMCD (same C-code in C66738 and C67152)
        names = {t.code: t.submission_value for t in standards.ct().codelist("C67152").terms}
        codes = {t.submission_value: t.code for t in standards.ct().codelist("C66738").terms}
        assert (ts["TSPARM"] == ts["TSPARMCD"].map(lambda c: names[codes[c]])).all()
        # SD1268: TSVCDREF populated whenever TSVCDVER is; CG0258: TSPARM <= 40 characters
        assert not (ts["TSVCDVER"].notna() & ts["TSVCDREF"].isna()).any()
        assert ts["TSPARM"].str.len().max() <= 40 and ts["TSVAL"].str.len().max() <= 200
        # single-record parameters (SD1214-SD1227)
        for p in ("ADDON", "AGEMAX", "AGEMIN", "LENGTH", "PLANSUB", "RANDOM", "SEXPOP",
                  "NARMS"):
            assert (ts["TSPARMCD"] == p).sum() == 1, p
        assert ts["TSSEQ"].dtype == "float64"


def test_ts_combination_groups_treatment_parameters(td_enva):
    ts = td_enva["TS"]
    # two treatments: TRT/DOSE/DOSU/DOSFRQ/ROUTE grouped by TSGRPID = treatment name
    trt = ts[ts["TSPARMCD"].isin(["TRT", "DOSE", "ROUTE", "DOSFRQ"])]
    got = {(g, p): v for g, p, v in zip(trt["TSGRPID"], trt["TSPARMCD"], trt["TSVAL"])}
    assert got == {("SURUFATINIB", "TRT"): "SURUFATINIB", ("SURUFATINIB", "DOSE"): "250",
                   ("SURUFATINIB", "ROUTE"): "ORAL", ("SURUFATINIB", "DOSFRQ"): "QD",
                   ("ENVAFOLIMAB", "TRT"): "ENVAFOLIMAB", ("ENVAFOLIMAB", "DOSE"): "300",
                   ("ENVAFOLIMAB", "ROUTE"): "SUBCUTANEOUS",
                   ("ENVAFOLIMAB", "DOSFRQ"): "EVERY 3 WEEKS"}
    assert ts_values(ts, "AGEMAX") == ["P75Y"]
    assert ts_values(ts, "INTTYPE") == ["DRUG", "BIOLOGIC"]
    # 2023-02-02 -> 2026-07-02 is 3 years 5 months, then 30 days to 2026-08-01
    assert ts_values(ts, "LENGTH") == ["P3Y5M30D"]


def test_tv_rows_are_the_planned_visits(td, suru):
    tv = td["TV"]
    visits = suru.all_visits()
    # screening + 24 cycles + end of treatment + safety + survival follow-up + 12 tumour visits
    assert len(tv) == len(visits) == 1 + 24 + 3 + 12
    assert tv["VISITNUM"].tolist() == [v.visitnum for v in visits]
    assert tv["VISIT"].tolist() == [v.visit for v in visits]
    assert tv["VISITDY"].tolist()[:3] == [-28.0, 1.0, 22.0]
    assert tv["ARMCD"].isna().all()            # visit timing does not depend on the arm
    c2 = tv[tv["VISIT"] == "CYCLE 2 DAY 1"].iloc[0]
    assert (c2["TVSTRL"], c2["TVENRL"]) == ("Day 1 of 21-day cycle 2",
                                            "Within study days 19 to 25")
    assert tv["VISITNUM"].is_unique and tv["VISIT"].is_unique


def test_ti_rows_are_the_criteria(td, suru):
    ti = td["TI"]
    assert ti["IETESTCD"].tolist() == [c.ietestcd for c in suru.criteria]
    assert ti["IETEST"].tolist() == [c.ietest for c in suru.criteria]
    assert (ti["IECAT"] == "INCLUSION").sum() == 7 and (ti["IECAT"] == "EXCLUSION").sum() == 4
    assert "Disease progression after prior anthracycline-based chemotherapy" in \
        ti["IETEST"].tolist()
    assert set(ti["TIVERS"]) == {"1"}


def test_ta_and_te(td_enva, enva):
    ta, te = td_enva["TA"], td_enva["TE"]
    assert ta["ETCD"].tolist() == ["SCRN", "COMBO", "SURU", "FU"]
    assert ta["TAETORD"].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert ta["EPOCH"].tolist() == ["SCREENING", "TREATMENT", "TREATMENT", "FOLLOW-UP"]
    assert set(ta["EPOCH"]) <= standards.ct().codelist("C99079").submission_values
    assert set(ta["ARMCD"]) == {"SURUENVA"}
    assert te["ETCD"].tolist() == [e.etcd for e in enva.elements] and te["ETCD"].is_unique
    assert te.set_index("ETCD").loc["COMBO", "TEDUR"] == "P18W"
    assert list(te.columns) == ["STUDYID", "DOMAIN", "ETCD", "ELEMENT", "TESTRL", "TEENRL",
                                "TEDUR"]


def test_frames_follow_the_ig_and_the_conventions(td):
    for name, frame in td.items():
        ig = standards.sdtmig().dataset(name)
        order = [v for v in ig.names if v in frame.columns]
        assert list(frame.columns) == order, name
        assert frame.attrs["label"] == ig.label
        for c in frame.columns:
            if ig.variable(c).type == "Num":
                assert frame[c].dtype == "float64"
            else:
                assert frame[c].dtype == "str"
                assert not (frame[c] == "").any()      # missing is NA, never ""
        assert (frame["DOMAIN"] == name).all()


def test_long_text_continues_in_tsval1(suru):
    title = " ".join(["word"] * 60)              # 60*5-1 = 299 characters
    ts = build_trial_design(suru.model_copy(update={"title": title}))["TS"]
    row = ts[ts["TSPARMCD"] == "TITLE"].iloc[0]
    assert len(row["TSVAL"]) <= 200 and " ".join([row["TSVAL"], row["TSVAL1"]]) == title
    assert not row["TSVAL"].endswith(" ") and not row["TSVAL1"].startswith(" ")
    assert list(ts.columns)[list(ts.columns).index("TSVAL") + 1] == "TSVAL1"


def test_value_outside_a_non_extensible_codelist_is_a_spec_error(suru):
    bad = suru.model_copy(update={"design": suru.design.model_copy(
        update={"study_type": "INTERVENTIONL"})})
    with pytest.raises(SpecError) as err:
        build_trial_design(bad)
    msg = str(err.value)
    assert "study.yaml:" in msg and "STYPE" in msg and "INTERVENTIONAL" in msg


def test_iso_duration_between():
    assert iso_duration_between(dt.date(2021, 3, 1), dt.date(2021, 3, 1)) == "P0D"
    assert iso_duration_between(dt.date(2021, 1, 31), dt.date(2021, 2, 28)) == "P28D"
    assert iso_duration_between(dt.date(2020, 1, 15), dt.date(2021, 1, 15)) == "P1Y"
    assert iso_duration_between(dt.date(2020, 1, 31), dt.date(2020, 3, 1)) == "P1M1D"


def test_metadata_and_value_level(td, suru):
    md = trial_design_metadata(suru, td)
    assert sorted(md) == ["TA", "TE", "TI", "TS", "TV"]
    ts = md["TS"]
    assert ts.keys == ("STUDYID", "TSPARMCD", "TSSEQ") and ts.reference_data
    origins = {v.name: v.origin for v in ts.variables}
    assert origins["TSVAL"] == "Protocol" and origins["STUDYID"] == "Assigned"
    assert ts.names == tuple(td["TS"].columns)
    vlm = {v.where[0][1]: v for v in trial_design_value_level(suru, td)}
    assert set(vlm) == set(td["TS"]["TSPARMCD"])
    assert vlm["SEXPOP"].codelist == "C66732" and vlm["TITLE"].codelist is None
    assert vlm["ACTSUB"].origin == "Derived"


def test_study_id_is_accepted(suru):
    by_id = build_trial_design("surufatinib-sts", actual_subjects=27)
    by_model = build_trial_design(suru, actual_subjects=27)
    for name in by_id:
        pd.testing.assert_frame_equal(by_id[name], by_model[name])


def test_dictionary_codes_are_used_when_study_yaml_has_them(suru):
    # study.yaml does not carry UNII/SNOMED/MED-RT codes yet; when it does, they become
    # TSVALCD with the dictionary's name in TSVCDREF (FDA rules SD2240, SD2242, SD2243)
    trt = suru.treatments[0].model_copy(update={"unii": "UNII-CODE-1",
                                                "pharmacological_class_code": "N0000000001"})
    study = suru.model_copy(update={"treatments": (trt,), "indication_snomed": "000000001"})
    ts = build_trial_design(study)["TS"]
    for parmcd, code, ref in (("TRT", "UNII-CODE-1", "UNII"), ("PCLAS", "N0000000001", "MED-RT"),
                              ("INDIC", "000000001", "SNOMED"), ("TDIGRP", "000000001", "SNOMED")):
        row = ts_row(ts, parmcd)
        assert (row["TSVALCD"], row["TSVCDREF"]) == (code, ref), parmcd
    row = ts_row(build_trial_design(suru)["TS"], "TRT")
    assert (row["TSVAL"], row["TSVALCD"], row["TSVCDREF"]) == ("SURUFATINIB", None, None)


def test_registry_is_named_from_the_id_shape():
    from sdtm.trial_design import _registry_name

    assert _registry_name("NCT05722977") == "ClinicalTrials.gov"
    assert _registry_name("2019-001234-56") == "EudraCT"
    assert _registry_name("2022-500123-45-00") == "CTIS"
    assert _registry_name("ChiCTR2300071234") is None      # not recognised: no reference
