"""SDTM for both seed studies on simulated raw data: content checked against the raw CSVs and
the simulator's _truth (which the mappers never read)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sdtm.build import build_sdtm
from studybuild.simulate import simulate_study

STUDIES = ["surufatinib-sts", "surufatinib-envafolimab-sts"]
N = 8


@pytest.fixture(scope="module", params=STUDIES)
def built(request, tmp_path_factory):
    raw = tmp_path_factory.mktemp(request.param) / "raw"
    simulate_study(request.param, raw, subjects=N, seed=11)
    return request.param, raw, build_sdtm(request.param, raw)


def _raw(raw: Path, form: str) -> pd.DataFrame:
    return pd.read_csv(raw / f"{form}.csv", dtype=str, keep_default_na=False).replace("", np.nan)


def _iso(text: pd.Series) -> pd.Series:
    return pd.to_datetime(text, format="%d-%b-%Y").dt.strftime("%Y-%m-%d")


def test_no_error_findings_and_every_domain(built):
    study, raw, res = built
    assert not res.findings.has_errors, [f.message for f in res.findings.errors][:5]
    assert {"DM", "EX", "AE", "DS", "TU", "TR", "RS", "SE", "SV", "MH", "CM", "SS", "TS"} <= \
        set(res.datasets)
    assert len(res.datasets["DM"]) == N


def test_conformance_checks_find_nothing_to_report(built):
    """The export gate's check on both studies: not an error, not a warning (with the spec's
    metadata, as `studybuild build` runs it); notices are the mapping's own."""
    from validation.run import validate

    study, _, res = built
    rep = validate(res.datasets, metadata=res.metadata, study=res.spec.study)
    bad = [(f.rule_id, f.dataset, f.variable, f.row, f.message) for f in rep.findings
           if f.severity.value in ("error", "warning")]
    assert bad == []
    ds = res.datasets["DS"]
    assert not ds.duplicated(list(res.metadata.dataset("DS").keys)).any()
    if study == "surufatinib-envafolimab-sts":
        # one end-of-treatment record per drug, named in DSSCAT (SDTMIG 3.4 DS 2b)
        eot = ds[ds["DSCAT"].eq("DISPOSITION EVENT") & ~ds["DSSCAT"].eq("STUDY PARTICIPATION")]
        assert set(eot["DSSCAT"]) <= {"SURUFATINIB", "ENVAFOLIMAB"}
        assert not eot.duplicated(["USUBJID", "DSSCAT"]).any()
    assert "OTHER EVENT" not in set(ds["DSCAT"])
    # every assigned subject has RFENDTC (CORE-000191)
    dm = res.datasets["DM"]
    assert dm.loc[dm["ARM"].notna(), "RFENDTC"].notna().all()


def test_accounting_adds_up_and_lineage_points_at_real_rows(built):
    _, raw, res = built
    acc = res.accounting.set_index("FORM")
    for form, r in acc.iterrows():
        rows_in_file = len(_raw(raw, form))
        assert r["ROWS_READ"] == rows_in_file == r["ROWS_MAPPED"] + r["ROWS_EXCLUDED"], form
        mapped = set(res.lineage.loc[res.lineage["FORM"] == form, "RAW_ROW"])
        excluded = set(res.exclusions.loc[res.exclusions["FORM"] == form, "RAW_ROW"])
        assert not mapped & excluded
        assert mapped | excluded == set(range(1, rows_in_file + 1)), form
    assert res.exclusions["REASON"].notna().all()
    # every SDTM record of a raw-mapped domain has lineage
    for name in ("AE", "EX", "TR", "RS", "TU", "DM"):
        n = len(res.datasets[name])
        assert set(res.lineage.loc[res.lineage["DOMAIN"] == name, "RECORD"]) == \
            set(range(1, n + 1)), name


def test_seq_unique_and_sdtmig_order(built):
    _, _, res = built
    from sdtm.post import model_study_days
    from studybuild import standards

    for name, frame in res.datasets.items():
        seq = f"{name}SEQ"
        if seq in frame and "USUBJID" in frame:
            assert not frame.duplicated(["USUBJID", seq]).any(), name
            assert (frame[seq] >= 1).all()
        if not name.startswith("SUPP"):
            order = [v.name for v in standards.sdtmig().dataset(name).variables]
            # SDTM model study days a domain adds (MH: MHSTDY, MHENDY) follow their dates
            added = model_study_days(name, frame.columns)
            cols = [c for c in frame.columns if c not in added]
            assert [c for c in order if c in frame.columns] == cols, name
            for dy in added:
                dates_before = [c for c in frame.columns[:list(frame.columns).index(dy)]
                                if c.endswith("DTC")]
                assert dy[:-2] + "DTC" in dates_before, (name, dy)
    mh = res.datasets["MH"]                     # a study day wherever MH has its date
    assert "MHSTDY" in mh and ("MHENDTC" in mh) == ("MHENDY" in mh)


def test_every_tr_links_to_a_tu_lesion_and_rs_assessment(built):
    _, _, res = built
    tu, tr, rs = res.datasets["TU"], res.datasets["TR"], res.datasets["RS"]
    lesions = set(zip(tu["USUBJID"], tu["TULNKID"]))
    linked = tr.dropna(subset=["TRLNKID"])
    assert set(zip(linked["USUBJID"], linked["TRLNKID"])) <= lesions
    assert linked["TRTESTCD"].isin(["LDIAM", "LPERP", "TUMSTATE"]).all()
    assert tr.loc[tr["TRLNKID"].isna(), "TRTESTCD"].eq("SUMDIAM").all()
    # post-baseline measurement groups have their responses in RS under the same TRLNKGRP
    post = tr[tr["VISITNUM"] > 1]
    rs_groups = set(zip(rs["USUBJID"], rs["RSLNKGRP"]))
    assert set(zip(post["USUBJID"], post["TRLNKGRP"])) <= rs_groups


def test_sumdiam_equals_the_raw_target_diameters_in_mm(built):
    _, raw, res = built
    tl = _raw(raw, "tu_target")
    mm = pd.to_numeric(tl["TRLDIAM"].fillna(tl["TRSAXIS"]), errors="coerce") * \
        np.where(tl["TRORRESU"].str.lower() == "cm", 10.0, 1.0)
    tl = tl.assign(MM=mm, DTC=_iso(tl["TRDAT"]),
                   USUBJID=tl["Project"] + "-" + tl["Subject"])
    # an assessment is summed only when every target lesion has a measurement
    full = tl.groupby(["USUBJID", "DTC"]).filter(lambda g: g["MM"].notna().all())
    expected = full.groupby(["USUBJID", "DTC"])["MM"].sum().round(6)
    tr = res.datasets["TR"]
    got = tr[tr["TRTESTCD"] == "SUMDIAM"].set_index(["USUBJID", "TRDTC"])["TRSTRESN"]
    got.index.names = ["USUBJID", "DTC"]
    assert len(got) > 0
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False)
    # and equals the investigator's own sum on the response form where one was written
    rsf = _raw(raw, "rs").dropna(subset=["TRSUM"])
    inv = pd.to_numeric(rsf["TRSUM"]) * np.where(rsf["TRSUMU"].str.lower() == "cm", 10.0, 1.0)
    inv.index = pd.MultiIndex.from_arrays([rsf["Project"] + "-" + rsf["Subject"],
                                           _iso(rsf["RSDAT"])])
    common = inv.index.intersection(got.index)
    assert len(common) > 0
    assert np.allclose(got.loc[common].to_numpy(), inv.loc[common].to_numpy())


def test_ovrlresp_equals_the_investigator_response(built):
    _, raw, res = built
    truth = pd.read_csv(raw / "_truth" / "assessments.csv", dtype=str)
    truth = truth[truth["ASSESS"] != "BASELINE"].dropna(subset=["OVERALL_INV"])
    rs = res.datasets["RS"]
    ovr = rs[rs["RSTESTCD"] == "OVRLRESP"]
    studyid = res.spec.study.studyid
    want = dict(zip(zip(studyid + "-" + truth["Subject"], truth["DATE"]), truth["OVERALL_INV"]))
    got = dict(zip(zip(ovr["USUBJID"], ovr["RSDTC"]), ovr["RSSTRESC"]))
    assert got == want


def test_dm_and_ex_agree_with_truth(built):
    study, raw, res = built
    truth = pd.read_csv(raw / "_truth" / "subjects.csv", dtype=str).set_index("Subject")
    dm = res.datasets["DM"].set_index("SUBJID")
    assert (dm["RFXSTDTC"] == truth.loc[dm.index, "FIRST_DOSE_DT"]).all()
    stopped = truth["TRT_ONGOING"] == "N"
    assert (dm.loc[stopped[stopped].index, "RFXENDTC"] ==
            truth.loc[stopped, "LAST_DOSE_DT"]).all()
    assert dm.loc[stopped[~stopped].index, "RFXENDTC"].isna().all()
    died = truth["DTH_DT"].notna()
    assert set(dm.index[dm["DTHFL"] == "Y"]) == set(truth.index[died])
    ex = res.datasets["EX"]
    want = {"SURUFATINIB"} | ({"ENVAFOLIMAB"} if "envafolimab" in study else set())
    assert set(ex["EXTRT"]) == want
    assert (ex["EXDOSE"] > 0).all()
    # intervals of one drug never overlap
    for _, g in ex.groupby(["USUBJID", "EXTRT"]):
        ends = pd.to_datetime(g["EXENDTC"]).shift(1)
        assert (pd.to_datetime(g["EXSTDTC"]) > ends).iloc[1:].all()


def test_se_covers_the_study_and_epochs(built):
    study, _, res = built
    se = res.datasets["SE"]
    for _, g in se.groupby("USUBJID"):
        # contiguous: each element starts when the previous ends
        assert (g["SESTDTC"].iloc[1:].to_numpy() == g["SEENDTC"].iloc[:-1].to_numpy()).all()
    ex = res.datasets["EX"]
    assert set(ex["EPOCH"]) == {"TREATMENT"}
    if "envafolimab" in study:
        assert {"COMBO"} <= set(se["ETCD"])
