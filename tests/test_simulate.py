"""Simulated raw EDC data: clinical coherence of what is written, RECIST 1.1 recomputed
independently from the measurements, determinism, the CLI and the documentation of the forms.

The checks read the CSV files as a mapper would and use their own small parsers and RECIST
computation (not the simulator's code), so they test the written data, not the engine against
itself.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from studybuild.cli import cli
from studybuild.simulate import MessConfig, simulate_study
from studybuild.study import load_study

COMBO = "surufatinib-envafolimab-sts"
STS = "surufatinib-sts"
N = 150


def read(folder: Path, form: str) -> pd.DataFrame:
    return pd.read_csv(folder / f"{form}.csv", dtype=str, keep_default_na=False, na_values=[""])


def full_date(s: pd.Series) -> pd.Series:
    """DD-MON-YYYY -> Timestamp; partial or blank -> NaT."""
    return pd.to_datetime(s, format="%d-%b-%Y", errors="coerce")


def earliest(s: pd.Series) -> pd.Series:
    """The earliest day a (possibly partial) CRF date can mean: UN-MAR-2021 -> 2021-03-01."""
    t = s.fillna("").str.upper()
    t = t.str.replace(r"^UNK?-UNK-", "01-JAN-", regex=True).str.replace(r"^UNK?-", "01-", regex=True)
    return pd.to_datetime(t, format="%d-%b-%Y", errors="coerce")


def latest(s: pd.Series) -> pd.Series:
    """The latest day a (possibly partial) CRF date can mean: UN-MAY-2022 -> 2022-05-31."""
    t = s.fillna("").str.upper()
    no_month = t.str.match(r"^UNK?-UNK-")
    no_day = t.str.match(r"^UNK?-") & ~no_month
    d = pd.to_datetime(t.str.replace(r"^UNK?-UNK-", "31-DEC-", regex=True)
                       .str.replace(r"^UNK?-", "01-", regex=True), format="%d-%b-%Y", errors="coerce")
    return d.where(~no_day, d + pd.offsets.MonthEnd(0))


RESP = {"COMPLETE RESPONSE": "CR", "CR": "CR", "PARTIAL RESPONSE": "PR", "PR": "PR",
        "STABLE DISEASE": "SD", "SD": "SD", "PROGRESSIVE DISEASE": "PD", "PD": "PD",
        "NOT EVALUABLE": "NE", "NE": "NE", "NON-CR/NON-PD": "NON-CR/NON-PD",
        "NON CR/NON PD": "NON-CR/NON-PD", "NOT APPLICABLE": "NA"}


def norm_resp(s: pd.Series) -> pd.Series:
    return s.str.upper().map(RESP)


@pytest.fixture(scope="module")
def combo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("combo") / "raw"
    simulate_study(COMBO, out, subjects=N, seed=7)
    return out


@pytest.fixture(scope="module")
def sts(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sts") / "raw"
    simulate_study(STS, out, subjects=N, seed=11)
    return out


@pytest.fixture(scope="module", params=["combo", "sts"])
def raw(request) -> Path:
    return request.getfixturevalue(request.param)


def first_dose(raw: Path) -> pd.Series:
    ex = read(raw, "ex_surufatinib")
    return full_date(ex["EXSTDAT"]).groupby(ex["Subject"]).min()


# --------------------------------------------------------------------------------------------
# coherence

def test_every_form_and_readme_written(raw: Path):
    files = sorted(p.name for p in raw.iterdir())
    expected = {"enrol.csv", "dm.csv", "ecog.csv", "cancer_hx.csv", "prior_tx.csv", "mh.csv", "sv.csv",
                "ex_surufatinib.csv", "tu_target.csv", "tu_nontarget.csv", "tu_new.csv", "rs.csv",
                "ae.csv", "subsq_tx.csv", "eot.csv", "eos.csv", "death.csv", "survfu.csv",
                "README.md", "_truth"}
    if raw.parent.name.startswith("combo"):
        expected.add("ex_envafolimab.csv")
    assert set(files) == expected
    readme = (raw / "README.md").read_text()
    for f in expected - {"README.md", "_truth"}:
        assert f"`{f}`" in readme
    # no USUBJID / --SEQ: an EDC export, not SDTM
    for f in raw.glob("*.csv"):
        cols = f.read_text(encoding="utf-8").split("\n", 1)[0].split(",")
        assert cols[:7] == ["Project", "SiteNumber", "Subject", "FolderName", "InstanceName",
                            "DataPageName", "RecordPosition"]
        assert not any(c == "USUBJID" or c.endswith("SEQ") for c in cols)


def test_date_order_consent_enrolment_first_dose(raw: Path):
    en = read(raw, "enrol").set_index("Subject")
    consent = full_date(en["RFICDAT"])
    enrol = full_date(en["ENRLDAT"])
    fd = first_dose(raw).reindex(en.index)
    assert consent.notna().all() and fd.notna().all()          # every subject dosed
    assert (consent <= enrol).all() and (enrol <= fd).all()
    assert ((fd - consent).dt.days <= 28).all()                # 28-day screening
    tu = read(raw, "tu_target")
    base = tu[tu["FolderName"] == "Screening"]
    bd = full_date(base["TRDAT"])
    assert (bd.to_numpy() >= consent.reindex(base["Subject"]).to_numpy()).all()
    assert (bd.to_numpy() <= fd.reindex(base["Subject"]).to_numpy()).all()
    assert (base.groupby("Subject").size() <= 5).all()
    # RECIST 1.1: at most 2 target lesions per organ, nodes by short axis only
    assert (base.groupby(["Subject", "TULOC"]).size() <= 2).all()
    nodal = base["TULOC"].str.lower() == "lymph node"
    assert base.loc[nodal, "TRLDIAM"].isna().all() and base.loc[~nodal, "TRSAXIS"].isna().all()


def test_nothing_after_death_or_cutoff(raw: Path):
    study = load_study(COMBO if raw.parent.name.startswith("combo") else STS)
    cutoff = pd.Timestamp(study.dates.data_cutoff)
    death = read(raw, "death").set_index("Subject")
    dth = latest(death["DTHDAT"])
    checked = 0
    for f in sorted(raw.glob("*.csv")):
        df = read(raw, f.stem)
        for col in [c for c in df.columns if c.endswith("DAT")]:
            d = earliest(df[col])
            assert (d.dropna() <= cutoff).all(), (f.stem, col)
            if f.stem in ("death", "eos") or (f.stem == "survfu" and col == "FUDAT"):
                continue                       # these report the death (on or after it)
            lim = dth.reindex(df["Subject"]).to_numpy()
            bad = d.to_numpy() > lim
            assert not bad.any(), (f.stem, col, df.loc[bad, ["Subject", col]].head())
            checked += 1
    assert checked > 20


def test_no_dose_after_death_and_progression_ends_treatment(raw: Path):
    ex = read(raw, "ex_surufatinib")
    last = full_date(ex["EXENDAT"]).fillna(full_date(ex["EXSTDAT"])).groupby(ex["Subject"]).max()
    death = read(raw, "death").set_index("Subject")
    dth = full_date(death["DTHDAT"]).dropna()
    assert (last.reindex(dth.index) < dth).all()
    rs = read(raw, "rs")
    rs["d"] = full_date(rs["RSDAT"])
    rs["r"] = norm_resp(rs["RSOVRLRS"])
    first_pd = rs[rs["r"] == "PD"].groupby("Subject")["d"].min()
    # treatment stops within 7 days of the investigator's PD, scans stop at it
    assert (last.reindex(first_pd.index) <= first_pd + pd.Timedelta(days=7)).all()
    later = rs["d"].to_numpy() > first_pd.reindex(rs["Subject"]).to_numpy()
    assert not later.any()
    # eot says why: PD subjects stopped for PD (or died / stopped for another reason first)
    eot = read(raw, "eot")
    eot = eot[eot["EOTTRT"].str.lower() == "surufatinib"].set_index("Subject")
    died = eot["DSDECOD"].str.lower() == "death"
    assert (full_date(eot.loc[~died, "DSSTDAT"]) == last.reindex(eot.index[~died])).all()
    # stopped by death: dated on the (full) death date, after the last dose
    dd = dth.reindex(eot.index[died]).dropna()
    assert (full_date(eot.loc[dd.index, "DSSTDAT"]) == dd).all()
    assert ((dd - last.reindex(dd.index)).dt.days >= 1).all()
    ongoing = ex.groupby("Subject")["EXONGO"].apply(lambda s: (s.str.upper().str[0] == "Y").any())
    assert set(eot.index) == set(ongoing[~ongoing].index)


def test_dose_levels_follow_study_yaml(raw: Path):
    study = load_study(COMBO if raw.parent.name.startswith("combo") else STS)
    t = study.treatment("SURUFATINIB")
    ex = read(raw, "ex_surufatinib").drop_duplicates(subset=[c for c in read(raw, "ex_surufatinib").columns
                                                             if c != "RecordPosition"])
    dose = ex["EXDOSE"].astype(float)
    assert set(dose.unique()) <= {t.dose, *t.reductions}
    # never re-escalated: doses do not increase along the log
    ex = ex.assign(d=dose, s=full_date(ex["EXSTDAT"])).sort_values(["Subject", "s"])
    assert (ex.groupby("Subject")["d"].diff().fillna(0) <= 0).all()
    # each reduction points to an AE whose action is 'Dose reduced'
    ae = read(raw, "ae")
    red = ex[ex.groupby("Subject")["d"].diff() < 0]
    assert len(red) > 0
    assert red["EXAENO"].notna().all()
    key = ae.assign(k=ae["Subject"] + "/" + ae["AESPID"]).drop_duplicates("k").set_index("k")
    acts = key.loc[red["Subject"] + "/" + red["EXAENO"], "AEACN_SURU"].str.lower()
    assert acts.isin(["dose reduced", "drug interrupted", "interrupted", "dose held"]).all()
    assert (acts == "dose reduced").mean() > 0.9
    # no period crosses a 21-day cycle boundary
    fd = first_dose(raw)
    e = full_date(ex["EXENDAT"])
    cyc_start = (ex["s"] - fd.reindex(ex["Subject"]).to_numpy()).dt.days // 21
    cyc_end = (e - fd.reindex(ex["Subject"]).to_numpy()).dt.days // 21
    ok = e.isna() | (cyc_start == cyc_end)
    assert ok.all()
    assert (cyc_start + 1 == ex["EXCYCLE"].astype(int)).all()


def test_envafolimab_schedule(combo: Path):
    ev = read(combo, "ex_envafolimab")
    cyc = ev["EXCYCLE"].astype(int)
    assert cyc.between(1, 6).all()
    given = ev["EXYN"].str.upper().str[0] == "Y"
    assert (ev.loc[given, "EXDOSE"] == "300").all()
    assert ev.loc[~given, "EXAENO"].notna().all() and ev.loc[~given, "EXSTDAT"].isna().all()
    assert (ev["FolderName"] == "Cycle " + ev["EXCYCLE"] + " Day 1").all()
    eot = read(combo, "eot")
    env = eot[eot["EOTTRT"] == "Envafolimab"]
    assert set(env["DSDECOD"].str.lower()) >= {"completed", "progressive disease"}
    done = env[env["DSDECOD"] == "Completed"]["Subject"]
    assert (ev[ev["Subject"].isin(done)].groupby("Subject")["EXCYCLE"].apply(lambda s: s.astype(int).max()) == 6).all()


def _recist(raw: Path) -> pd.DataFrame:
    """Independent RECIST 1.1 reading of every post-baseline assessment from the lesion forms."""
    key = ["Subject", "FolderName", "InstanceName"]
    tu = read(raw, "tu_target")
    unit = np.where(tu["TRORRESU"].str.lower() == "cm", 10.0, 1.0)
    v = tu["TRLDIAM"].fillna(tu["TRSAXIS"]).astype(float) * unit
    tu = tu.assign(v=np.rint(v), ne=tu["TRSTAT"].notna(), nodal=tu["TULOC"].str.lower() == "lymph node",
                   d=full_date(tu["TRDAT"]))
    tu["gone"] = np.where(tu["nodal"], tu["v"] < 10, tu["v"] == 0) & ~tu["ne"]
    a = tu.groupby(key, sort=False).agg(d=("d", "first"), s=("v", "sum"), ne=("ne", "any"),
                                         gone=("gone", "all")).reset_index()
    a = a.sort_values(["Subject", "d"]).reset_index(drop=True)
    base = a[a["FolderName"] == "Screening"].set_index("Subject")["s"]
    a["base"] = base.reindex(a["Subject"]).to_numpy()
    # nadir before each assessment: smallest evaluable sum so far, baseline included
    sums = a["s"].where(~a["ne"])
    a["nadir"] = sums.groupby(a["Subject"]).transform(lambda x: x.cummin().ffill().shift(1))
    pd_t = (10 * a["s"] >= 12 * a["nadir"]) & (a["s"] - a["nadir"] >= 5)
    a["tr"] = np.select([pd_t, a["ne"], a["gone"], 10 * a["s"] <= 7 * a["base"]], ["PD", "NE", "CR", "PR"], "SD")
    nt = read(raw, "tu_nontarget")
    st = nt["NTSTAT"].str.lower()
    ntr = nt.assign(up=st == "unequivocal progression", absent=st == "absent").groupby(key).agg(
        up=("up", "any"), absent=("absent", "all")).reset_index()
    a = a.merge(ntr, on=key, how="left")
    a["ntr"] = np.where(a["up"].isna(), "NA", np.where(a["up"] == True, "PD",  # noqa: E712
                                                       np.where(a["absent"] == True, "CR", "NON-CR/NON-PD")))  # noqa: E712
    new = read(raw, "tu_new").groupby(key).size().rename("nnew").reset_index()
    a = a.merge(new, on=key, how="left")
    a["new"] = a["nnew"].fillna(0) > 0
    a["ovr"] = np.select([(a["tr"] == "PD") | (a["ntr"] == "PD") | a["new"], a["tr"] == "NE",
                          (a["tr"] == "CR") & a["ntr"].isin(["CR", "NA"]), a["tr"].isin(["CR", "PR"])],
                         ["PD", "NE", "CR", "PR"], "SD")
    return a[a["FolderName"] != "Screening"]


def test_investigator_response_follows_recist_except_flagged(raw: Path):
    a = _recist(raw)
    rs = read(raw, "rs")
    key = ["Subject", "FolderName", "InstanceName"]
    m = rs.merge(a, on=key, how="outer", indicator=True)
    assert (m["_merge"] == "both").all()                       # one rs row per assessment
    assert (norm_resp(m["RSTRGRES"]) == m["tr"]).all()
    assert (norm_resp(m["RSNTRGRS"]) == m["ntr"]).all()
    assert ((m["RSNEWLES"].str.upper().str[0] == "Y") == m["new"]).all()
    differ = norm_resp(m["RSOVRLRS"]) != m["ovr"]
    truth = pd.read_csv(raw / "_truth" / "assessments.csv", dtype=str)
    flagged = set(truth.loc[truth["DISAGREE"] == "Y", ["Subject", "DATE"]].itertuples(index=False, name=None))
    got = set(zip(m.loc[differ, "Subject"], full_date(m.loc[differ, "RSDAT"]).dt.strftime("%Y-%m-%d")))
    assert got == flagged
    assert len(m) > 100 and differ.mean() < 0.1
    # the sum on the form is the sum of the lesions (in the form's unit)
    s = m["TRSUM"].astype(float) * np.where(m["TRSUMU"].str.lower() == "cm", 10, 1)
    ok = m["TRSUM"].isna() == m["ne"]
    assert ok.all() and (np.rint(s[~m["ne"]]) == m.loc[~m["ne"], "s"]).all()


def test_assessment_windows_except_flagged(raw: Path):
    rs = read(raw, "rs")
    sched = rs[rs["FolderName"].str.startswith("Week ")].copy()
    week = sched["FolderName"].str.extract(r"Week (\d+) ")[0].astype(int)
    planned = first_dose(raw).reindex(sched["Subject"]).to_numpy() + pd.to_timedelta(7 * week, unit="D").to_numpy()
    off = np.abs((full_date(sched["RSDAT"]).to_numpy() - planned) / np.timedelta64(1, "D")) > 7
    truth = pd.read_csv(raw / "_truth" / "assessments.csv", dtype=str)
    flagged = set(truth.loc[truth["OUT_OF_WINDOW"] == "Y", ["Subject", "DATE"]].itertuples(index=False, name=None))
    got = set(zip(sched.loc[off, "Subject"], full_date(sched.loc[off, "RSDAT"]).dt.strftime("%Y-%m-%d")))
    assert got == flagged
    # unscheduled assessments lie between scheduled ones, numbered in date order
    un = rs[rs["FolderName"] == "Unscheduled"]
    n = un.groupby("Subject").cumcount() + 1
    assert (un["InstanceName"] == "Unscheduled (" + n.astype(str) + ")").all()


def test_truth_teae_and_ae_dates(raw: Path):
    ae = read(raw, "ae")
    truth = pd.read_csv(raw / "_truth" / "ae.csv", dtype=str)
    subj = pd.read_csv(raw / "_truth" / "subjects.csv", dtype=str).set_index("Subject")
    start = pd.to_datetime(truth["START_DT"])
    fd = pd.to_datetime(subj["FIRST_DOSE_DT"]).reindex(truth["Subject"]).to_numpy()
    ld = pd.to_datetime(subj["LAST_DOSE_DT"]).reindex(truth["Subject"]).to_numpy()
    teae = (start.to_numpy() >= fd) & (pd.isna(ld) | (start.to_numpy() <= ld + np.timedelta64(28, "D")))
    assert ((truth["TEAE"] == "Y").to_numpy() == teae).all()
    assert 0 < (~teae).sum() < len(truth)                      # pre-treatment and late AEs exist
    # the form: one line per truth record except duplicated lines; start <= end
    assert len(ae.drop_duplicates(subset=[c for c in ae.columns if c != "RecordPosition"])) == len(truth)
    s, e = earliest(ae["AESTDAT"]), latest(ae["AEENDAT"])
    assert s.notna().all() and (e.isna() | (e >= s)).all()
    assert ((ae["AEONGO"].str.upper().str[0] == "Y") == ae["AEENDAT"].isna()).all()
    g5 = ae["AETOXGR"].str.extract(r"(\d)")[0] == "5"
    assert (ae.loc[g5, "AEOUT"].str.lower() == "fatal").all()


def test_truth_best_response_matches_forms(raw: Path):
    """Confirmed responders per the truth have two CR/PR readings >= 28 days apart on rs.csv."""
    rs = read(raw, "rs")
    rs = rs.assign(d=full_date(rs["RSDAT"]), r=norm_resp(rs["RSOVRLRS"]))
    subj = pd.read_csv(raw / "_truth" / "subjects.csv", dtype=str).set_index("Subject")
    resp = rs[rs["r"].isin(["CR", "PR"])].groupby("Subject")["d"].agg(["min", "max"])
    span = (resp["max"] - resp["min"]).dt.days
    yes = subj.index[subj["RSP_INV"] == "Y"]
    assert (span.reindex(yes) >= 28).all()
    # unconfirmed responders had at least one CR/PR; no responders without one
    uy = set(subj.index[subj["RSP_INV_UNCONF"] == "Y"])
    assert uy == set(resp.index)
    assert set(yes) <= uy
    assert set(subj["BOR_INV"]) <= {"CR", "PR", "SD", "PD", "NE", "MISSING"}
    # death and PFS: a PFS event is the earlier of PD and death
    ev = subj[subj["PFS_EVENT"] == "PD"]
    assert (ev["PFS_DT"] == ev["PD_INV_DT"]).all()


def test_default_study_sizes_and_seed_summary():
    res_sts = load_study(STS).planned_subjects
    res_combo = load_study(COMBO).planned_subjects
    assert (res_sts, res_combo) == (29, 45)


# --------------------------------------------------------------------------------------------
# determinism, CLI

def test_same_seed_same_bytes_different_seed_differs(tmp_path: Path):
    def files(p: Path) -> dict[str, bytes]:
        return {str(f.relative_to(p)): f.read_bytes() for f in sorted(p.rglob("*")) if f.is_file()}

    simulate_study(COMBO, tmp_path / "a", subjects=12, seed=5)
    simulate_study(COMBO, tmp_path / "b", subjects=12, seed=5)
    simulate_study(COMBO, tmp_path / "c", subjects=12, seed=6)
    a, b, c = files(tmp_path / "a"), files(tmp_path / "b"), files(tmp_path / "c")
    assert a == b
    assert a.keys() == c.keys() and a["dm.csv"] != c["dm.csv"] and a["rs.csv"] != c["rs.csv"]
    # no temporary or staging folders left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "c"]


def test_cli_simulate_and_unknown_study(tmp_path: Path):
    runner = CliRunner()
    out = tmp_path / "raw"
    r = runner.invoke(cli, ["simulate", "--study", STS, "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "29 subjects" in r.output and "seed 20240501" in r.output and "ae.csv" in r.output
    # (docs/simulator.md shows this output as make docs generates it; test_docs_fresh.py
    # fails when it differs)
    assert (out / "dm.csv").is_file() and (out / "_truth" / "subjects.csv").is_file()
    assert len(read(out, "dm")) == 29
    r = runner.invoke(cli, ["simulate", "--study", "no-such-study", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2
    assert "unknown study" in r.output
    r = runner.invoke(cli, ["simulate", "--study", STS, "--out", str(tmp_path / "y"), "--subjects", "0"])
    assert r.exit_code == 2


def test_result_summary_lists_rows(tmp_path: Path):
    res = simulate_study(STS, tmp_path / "r", subjects=5, seed=1, mess=MessConfig.off())
    text = str(res)
    assert text.splitlines()[0] == f"simulated {STS}: 5 subjects, seed 1 -> {tmp_path / 'r'}"
    assert res.rows["dm.csv"] == 5 and res.rows["enrol.csv"] == 5
    for form, n in res.rows.items():
        assert len(read(tmp_path / "r", form[:-4])) == n


# --------------------------------------------------------------------------------------------
# documentation stays true

def test_raw_forms_doc_names_every_form_and_field():
    from studybuild.simulate.config import load_simulation
    from studybuild.simulate.write import forms_of

    doc = (Path(__file__).resolve().parent.parent / "docs" / "raw-forms.md").read_text(encoding="utf-8")
    for study in (STS, COMBO):
        for form in forms_of(load_simulation(study)).values():
            assert f"`{form.file}`" in doc, form.file
            section = doc.split(f"### {form.file}")[1].split("\n### ")[0]
            for f in form.names:
                assert re.search(rf"`{re.escape(f)}`", section), (form.file, f)


def test_simon_two_stage_matches_simon_1989():
    from studybuild.simulate.samplesize import simon_two_stage

    # Simon (1989) table 1: p0 0.10, p1 0.25, alpha 0.05, beta 0.20:
    # optimal 2/18, 7/43 (EN0 24.7, PET0 0.73); minimax 2/22, 7/40 (EN0 28.8, PET0 0.62)
    d = simon_two_stage(0.10, 0.25, alpha=0.05, beta=0.20, n_max=60)
    o, m = d["optimal"], d["minimax"]
    assert (o.r1, o.n1, o.r, o.n) == (2, 18, 7, 43)
    assert round(o.en0, 1) == 24.7 and round(o.pet0, 2) == 0.73
    assert (m.r1, m.n1, m.r, m.n) == (2, 22, 7, 40)
    assert round(m.en0, 1) == 28.8 and round(m.pet0, 2) == 0.62
    assert o.alpha <= 0.05 and o.power >= 0.80
    # and p0 0.05, p1 0.20: optimal 0/10, 3/29 (EN0 17.6, PET0 0.60); minimax 0/13, 3/27 (19.8, 0.51)
    d = simon_two_stage(0.05, 0.20, alpha=0.05, beta=0.20, n_max=60)
    o, m = d["optimal"], d["minimax"]
    assert (o.r1, o.n1, o.r, o.n, round(o.en0, 1), round(o.pet0, 2)) == (0, 10, 3, 29, 17.6, 0.60)
    assert (m.r1, m.n1, m.r, m.n, round(m.en0, 1), round(m.pet0, 2)) == (0, 13, 3, 27, 19.8, 0.51)


def test_raw_forms_doc_example_rows_are_real_output(tmp_path: Path):
    """docs/raw-forms.md shows rows of `studybuild simulate --study surufatinib-envafolimab-sts`
    (default size and seed): they must still be what the simulator writes."""
    doc = (Path(__file__).resolve().parent.parent / "docs" / "raw-forms.md").read_text(encoding="utf-8")
    lines = [ln for ln in doc.split("## Example rows")[1].splitlines() if ln.startswith("SURU-ENVA-STS,")]
    assert len(lines) >= 6
    simulate_study(COMBO, tmp_path / "raw")
    written = set()
    for f in (tmp_path / "raw").glob("*.csv"):
        written |= set(f.read_text(encoding="utf-8").splitlines())
    assert [ln for ln in lines if ln not in written] == []


def test_one_ae_per_term_and_start_day(tmp_path):
    """Two episodes of one term starting the same day would be one event on a real CRF and
    break AE's natural key (STUDYID, USUBJID, AEDECOD, AESTDTC): seed 20240501 at 1,000
    subjects drew two such pairs (101-0275 Cough 26-FEB-2024, 101-0774 Abdominal pain
    09-SEP-2024) before the simulator kept only the higher grade of each."""
    out = tmp_path / "raw"
    simulate_study(STS, out, subjects=1000, seed=20240501)
    truth = pd.read_csv(out / "_truth" / "ae.csv", dtype=str)   # the events, before mess
    assert len(truth) > 5000
    assert not truth.duplicated(["Subject", "AETERM_PT", "START_DT"]).any()
    cough = truth[(truth["Subject"] == "101-0275") & (truth["AETERM_PT"] == "Cough")]
    assert cough["START_DT"].tolist() == ["2024-02-26"]
    # the form: only the injected duplicated log lines (same AESPID) repeat a term and day
    ae = read(out, "ae").drop_duplicates(["Subject", "AESPID"])
    assert not ae.duplicated(["Subject", "AETERM_PT", "AESTDAT"]).any()
