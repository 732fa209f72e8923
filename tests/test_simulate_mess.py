"""Every mess switch produces what it claims: off gives clean data, on (rate 1.0) gives the
mess everywhere it applies, and a switch leaves the forms it does not touch byte-identical.

Runs (combination study, 40 subjects, one seed): clean; the text/date switches together
(they touch disjoint fields); the course-changing switches; Chinese text with missed visits;
and the study defaults.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from studybuild.export.xpt import transliterate
from studybuild.simulate import MessConfig, simulate_study
from studybuild.simulate.config import load_simulation, vocabulary

COMBO = "surufatinib-envafolimab-sts"
N, SEED = 40, 99

PARTIAL = {"dm": ["BRTHDAT"], "cancer_hx": ["MHSTDAT", "ADVDAT"], "prior_tx": ["CMSTDAT", "CMENDAT"],
           "mh": ["MHSTDAT", "MHENDAT"], "ae": ["AESTDAT", "AEENDAT"], "subsq_tx": ["CMSTDAT", "CMENDAT"],
           "death": ["DTHDAT"]}
FULL_DATES = {"enrol": ["RFICDAT", "ENRLDAT"], "sv": ["VISDAT"], "ex_surufatinib": ["EXSTDAT", "EXENDAT"],
              "rs": ["RSDAT"], "tu_target": ["TRDAT"], "eot": ["DSSTDAT"], "survfu": ["FUDAT", "LKADAT"]}
FREE = {"ae": ["AETERM"], "cancer_hx": ["MHTERM"], "prior_tx": ["CMTRT"], "mh": ["MHTERM"],
        "tu_target": ["TULOCDTL"], "subsq_tx": ["CMTRT"]}
LOGS = ["ae", "ex_surufatinib", "prior_tx", "mh", "subsq_tx"]
FULL_RE = r"^\d{2}-(JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)-\d{4}$"
PART_RE = r"^UNK?-(UNK|JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)-\d{4}$"


def read(folder: Path, form: str) -> pd.DataFrame:
    return pd.read_csv(folder / f"{form}.csv", dtype=str, keep_default_na=False, na_values=[""])


def run(tmp_path_factory, name: str, mess: MessConfig) -> Path:
    out = tmp_path_factory.mktemp(name) / "raw"
    simulate_study(COMBO, out, subjects=N, seed=SEED, mess=mess)
    return out


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    return run(tmp_path_factory, "clean", MessConfig.off())


@pytest.fixture(scope="module")
def text(tmp_path_factory) -> Path:
    return run(tmp_path_factory, "text", MessConfig(partial_dates=1.0, coded_variants=1.0, duplicates=1.0,
                                                    non_ascii=1.0, cm_assessments=1.0))


@pytest.fixture(scope="module")
def ne(tmp_path_factory) -> Path:
    return run(tmp_path_factory, "ne", MessConfig(not_evaluable=1.0))


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    return run(tmp_path_factory, "course", MessConfig(ae_typos=1.0, unscheduled=1.0, out_of_window=1.0,
                                                      disagreement=1.0))


@pytest.fixture(scope="module")
def cjk(tmp_path_factory) -> Path:
    return run(tmp_path_factory, "cjk", MessConfig(cjk_text=1.0, missed_visits=1.0))


@pytest.fixture(scope="module")
def default(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("default") / "raw"
    simulate_study(COMBO, out, subjects=N, seed=SEED)
    return out


def _values(folder: Path, form: str, col: str) -> pd.Series:
    return read(folder, form)[col].dropna()


def test_clean_run_has_no_mess(clean: Path):
    for form, cols in {**PARTIAL, **FULL_DATES}.items():
        for c in cols:
            assert _values(clean, form, c).str.match(FULL_RE).all(), (form, c)
    for form, cols in FREE.items():
        for c in cols:
            assert _values(clean, form, c).map(str.isascii).all(), (form, c)
    voc = vocabulary()
    verbatims = {v for t in voc["ae_terms"].values() for v in t["verbatims"]}
    assert set(_values(clean, "ae", "AETERM")) <= verbatims
    assert set(_values(clean, "dm", "SEX")) <= {"Male", "Female"}
    assert set(_values(clean, "tu_target", "TRORRESU")) == {"mm"}
    assert "Unscheduled" not in set(read(clean, "sv")["FolderName"])
    assert _values(clean, "tu_target", "TRSTAT").empty
    for form in LOGS:
        df = read(clean, form)
        assert not df.drop(columns="RecordPosition").duplicated().any(), form
    truth = pd.read_csv(clean / "_truth" / "mess.csv", dtype=str)
    assert truth.empty
    a = pd.read_csv(clean / "_truth" / "assessments.csv", dtype=str)
    assert (a["DISAGREE"] == "N").all() and (a["OUT_OF_WINDOW"] == "N").all()


def test_partial_dates_only_where_allowed(text: Path, clean: Path):
    for form, cols in PARTIAL.items():
        for c in cols:
            v = _values(text, form, c)
            assert len(v) and v.str.match(PART_RE).all(), (form, c)
            # the year (and month when shown) are the clean date's
            key = ["Subject", "FolderName", "InstanceName", "RecordPosition"]
            both = read(text, form)[key + [c]].merge(read(clean, form)[key + [c]], on=key,
                                                     suffixes=("_m", "_c")).dropna()
            assert len(both) and (both[c + "_m"].str[-4:] == both[c + "_c"].str[-4:]).all()
            shown = ~both[c + "_m"].str.contains("-UNK-")
            assert (both.loc[shown, c + "_m"].str[-8:] == both.loc[shown, c + "_c"].str[-8:]).all()
    for form, cols in FULL_DATES.items():
        for c in cols:
            assert _values(text, form, c).str.match(FULL_RE).all(), (form, c)
    kinds = set(_values(text, "ae", "AESTDAT").str.extract(r"^(UNK?-UNK|UNK?)-")[0])
    assert kinds == {"UN", "UNK", "UN-UNK", "UNK-UNK"}


def test_coded_variants_are_other_case_or_synonyms(text: Path, clean: Path):
    sex = read(text, "dm")["SEX"]
    clean_sex = read(clean, "dm")["SEX"]
    assert (sex != clean_sex).all()
    assert set(sex) <= {"M", "male", "MALE", "F", "female", "FEMALE"}
    assert ((sex.str[0].str.upper()) == clean_sex.str[0]).all()
    grade = _values(text, "ae", "AETOXGR")
    assert grade.str.fullmatch(r"Grade [1-5]").all()
    yn = _values(text, "ae", "AESER")
    assert set(yn) <= {"Y", "N", "yes", "no", "YES", "NO"}
    ovr = _values(text, "rs", "RSOVRLRS")
    clean_ovr = _values(clean, "rs", "RSOVRLRS")
    assert not set(ovr) & set(clean_ovr)
    # identifiers and numbers are never touched
    assert (read(text, "dm")["Subject"] == read(clean, "dm")["Subject"]).all()
    assert (read(text, "dm")["AGE"] == read(clean, "dm")["AGE"]).all()


def test_duplicated_log_lines(text: Path):
    for form in LOGS:
        df = read(text, form)
        body = df.drop(columns="RecordPosition")
        # every line appears exactly twice, the copy with its own next RecordPosition
        assert (body.groupby(list(body.columns), dropna=False).size() == 2).all(), form
        pos = df["RecordPosition"].astype(int)
        assert not df.assign(p=pos).duplicated(subset=["Subject", "FolderName", "InstanceName", "p"]).any()
    single = read(text, "dm")
    assert not single.duplicated(subset=["Subject"]).any()


def test_non_ascii_free_text_is_transliterable(text: Path, default: Path):
    for form, cols in FREE.items():
        for c in cols:
            v = _values(text, form, c)
            assert len(v) and not v.map(str.isascii).any(), (form, c)
            assert v.map(lambda s: transliterate(s).isascii()).all(), (form, c)
    # the default (low rate) uses only the transliterable set, never Chinese
    allowed = set("éèüöïçæœ’“”–µÉ")
    seen = set()
    for f in default.glob("*.csv"):
        seen |= {ch for ch in f.read_text(encoding="utf-8") if not ch.isascii()}
    assert seen and seen <= allowed, seen - allowed


def test_diameters_in_cm_and_not_evaluable(text: Path, ne: Path, clean: Path, default: Path):
    tu = read(text, "tu_target")
    assert set(tu["TRORRESU"].str.lower()) == {"cm"}
    ct = read(clean, "tu_target")
    base_m = tu[tu["FolderName"] == "Screening"]
    base_c = ct[ct["FolderName"] == "Screening"]
    mm = base_m["TRLDIAM"].fillna(base_m["TRSAXIS"]).astype(float) * 10
    assert np.allclose(mm.to_numpy(), base_c["TRLDIAM"].fillna(base_c["TRSAXIS"]).astype(float).to_numpy())
    # text/date switches leave the clinical course alone: same rows, same numbers (in cm)
    assert len(tu) == len(ct)
    assert (tu["TRDAT"] == ct["TRDAT"]).all()
    t2 = read(ne, "tu_target")
    post = t2[t2["FolderName"] != "Screening"]
    assert len(post) and post["TRSTAT"].str.lower().eq("not evaluable").all()
    assert post["TRLDIAM"].isna().all() and post["TRSAXIS"].isna().all()
    rs = read(ne, "rs")
    assert rs["TRSUM"].isna().all() and set(rs["RSTRGRES"]) <= {"Not Evaluable", "Progressive Disease"}
    # default: the site named in simulation.yaml records cm, the others mm
    site = load_simulation(COMBO).mess.cm_sites[0]
    d = read(default, "tu_target")
    unit = d["TRORRESU"].str.lower()
    assert (unit[d["SiteNumber"] == site] == "cm").all() and (unit[d["SiteNumber"] != site] == "mm").all()


def test_ae_typos(course: Path, clean: Path):
    voc = vocabulary()
    verbatims = {v.lower() for t in voc["ae_terms"].values() for v in t["verbatims"]}
    ae = read(course, "ae")
    assert not ae["AETERM"].str.lower().isin(verbatims).any()
    # a typo is one edit away from a wording of the coded term
    for term, pt in zip(ae["AETERM"], ae["AETERM_PT"]):
        opts = voc["ae_terms"][pt]["verbatims"]
        assert any(_one_edit(term, o) for o in opts), (term, pt)


def _one_edit(a: str, b: str) -> bool:
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 2 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    s, t = (a, b) if len(a) < len(b) else (b, a)
    return any(t[:i] + t[i + 1:] == s for i in range(len(t)))


def test_unscheduled_out_of_window_and_disagreement(course: Path, clean: Path):
    sv = read(course, "sv")
    assert (sv["FolderName"] == "Unscheduled").sum() > N       # one per gap wide enough
    assert "Unscheduled" not in set(read(clean, "sv")["FolderName"])
    a = pd.read_csv(course / "_truth" / "assessments.csv", dtype=str)
    sched = a[a["ASSESS"] == "SCHEDULED"]
    off = (pd.to_datetime(sched["DATE"]) - pd.to_datetime(sched["PLANNED_DT"])).dt.days.abs()
    assert (off > 7).all() and (off <= 14).all() and (sched["OUT_OF_WINDOW"] == "Y").all()
    # every reading that may differ does differ (CR, PR, SD, or PD shown by the target sum alone)
    post = a[a["ASSESS"] != "BASELINE"]
    eligible = post["OVERALL_RECIST"].isin(["CR", "PR", "SD"]) | (
        (post["OVERALL_RECIST"] == "PD") & (post["TARGET_RECIST"] == "PD") & (post["NONTARGET_RECIST"] != "PD")
        & (post["NEW_LESION"] == "N"))
    assert (post.loc[eligible, "DISAGREE"] == "Y").all()
    assert (post.loc[eligible, "OVERALL_INV"] != post.loc[eligible, "OVERALL_RECIST"]).all()
    assert (post.loc[~eligible, "OVERALL_INV"] == post.loc[~eligible, "OVERALL_RECIST"]).all()
    # forms the switches do not touch are byte-identical to the clean run
    for form in ("dm", "enrol", "cancer_hx", "prior_tx", "mh"):
        assert (course / f"{form}.csv").read_bytes() == (clean / f"{form}.csv").read_bytes(), form


def test_cjk_text_and_missed_visits(cjk: Path, clean: Path, default: Path):
    cjk_re = re.compile(r"[\u4e00-\u9fff]")
    checked = []
    for form, cols in FREE.items():
        for c in cols:
            v = _values(cjk, form, c)
            # a form can be empty in a small run (with every assessment missed, no progression
            # is seen and few subjects start a subsequent therapy); every value present is CJK
            assert v.map(lambda s: bool(cjk_re.search(s))).all(), (form, c)
            checked += [(form, c)] * bool(len(v))
    assert len(checked) >= len(FREE) - 1, checked
    for f in default.glob("*.csv"):
        assert not cjk_re.search(f.read_text(encoding="utf-8"))
    # every scheduled tumour assessment and cycle visit without envafolimab is missed
    sv = read(cjk, "sv")
    assert not sv["FolderName"].str.startswith("Week ").any()
    cyc = sv["FolderName"].str.extract(r"^Cycle (\d+) Day 1$")[0].dropna().astype(int)
    assert len(cyc) and cyc.max() <= 6
    assert read(cjk, "rs").empty and read(clean, "rs").shape[0] > 0
    m = pd.read_csv(cjk / "_truth" / "mess.csv", dtype=str)
    assert (m["kind"] == "missed_visit").sum() > N


def test_truth_lists_the_mess(text: Path, course: Path, default: Path):
    m = pd.read_csv(text / "_truth" / "mess.csv", dtype=str)
    kinds = set(m["kind"])
    assert {"partial_date", "coded_variant", "duplicate", "non_ascii", "diameter_cm"} <= kinds
    pd_rows = m[m["kind"] == "partial_date"]
    ae = read(text, "ae")
    n_ae_dates = ae[["AESTDAT", "AEENDAT"]].notna().sum().sum() // 2      # duplicates are copies
    assert (pd_rows["form"] == "ae").sum() == n_ae_dates
    c = pd.read_csv(course / "_truth" / "mess.csv", dtype=str)
    assert {"typo", "unscheduled", "out_of_window", "disagreement"} <= set(c["kind"])
    d = pd.read_csv(default / "_truth" / "mess.csv", dtype=str)
    assert len(d) > 0
    # a clean value and what was written differ for every per-field entry
    per_field = d[d["field"] != "*"].dropna(subset=["clean"])
    assert (per_field["clean"] != per_field["written"]).all()


def test_messconfig_validates_rates():
    with pytest.raises(ValueError):
        MessConfig(ae_typos=1.5)
    cfg = MessConfig.from_spec(load_simulation(COMBO))
    assert cfg.cjk_text == 0.0 and 0 < cfg.partial_dates < 0.1
    assert dataclasses.replace(cfg, ae_typos=1.0).ae_typos == 1.0
