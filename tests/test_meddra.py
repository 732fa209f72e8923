"""MedDRA coding: the CTCAE v5.0 reference list, the simulated coder, and the ``meddra``
algorithm on a hand-written fictitious MedDRA folder (tests/data/meddra-fake; its README draws
the hierarchy every expected value below comes from)."""

from __future__ import annotations

import csv
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sdtm.meddra import ENV, load_meddra, meddra_folder
from sdtm.registry import Arg, BuildState, ValueContext, algorithms
from sdtm.spec import load_spec
from studybuild.errors import InputError
from studybuild.findings import Findings

ROOT = Path(__file__).resolve().parent.parent
FAKE = Path(__file__).parent / "data" / "meddra-fake"
SPEC = load_spec("surufatinib-sts")
ALG = algorithms()


def ctx_for(n: int, variable: str, var_type: str = "Char", state: BuildState | None = None):
    recs = pd.DataFrame({"USUBJID": [f"S-{i}" for i in range(n)],
                         "_REC": np.arange(n, dtype="int64"),
                         "_ROW": np.arange(1, n + 1, dtype="int64")})
    state = state or BuildState(spec=SPEC, study=SPEC.study, findings=Findings())
    return ValueContext(state=state, domain="AE", variable=variable, block="ae", records=recs,
                        var_type=var_type)


def arg(values, ref: str) -> Arg:
    form, _, fld = ref.partition(".")
    return Arg(pd.Series(values, dtype="str"), ref, form, fld,
               pd.Series(np.arange(1, len(values) + 1), dtype="float64"))


def run(ctx, args, **params):
    alg = ALG["meddra"]
    return alg.fn(ctx, args, alg.params.model_validate(params))


def vals(s: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in s.tolist()]


# --- reference data and the simulated coder ----------------------------------------------------

def test_ctcae_list_codes_and_socs_agree_with_the_soc_dictionary_and_vocabulary():
    from studybuild.simulate.config import vocabulary

    rows = list(csv.DictReader(open(ROOT / "specs/dictionaries/ctcae-5.0.csv", encoding="utf-8")))
    soc = {r["SOC_NAME"]: r["SOC_CODE"]
           for r in csv.DictReader(open(ROOT / "specs/dictionaries/meddra-soc.csv"))}
    assert all(soc[r["SOC_NAME"]] == r["SOC_CODE"] for r in rows)
    codes = [r["LLT_CODE"] for r in rows]
    assert all(len(c) == 8 and c.startswith("100") for c in codes) and len(set(codes)) == 41
    terms = {r["TERM"]: r["SOC_NAME"] for r in rows}
    voc = vocabulary()["ae_terms"]
    assert {t: v["soc"] for t, v in voc.items()} == terms
    # NCI's codes (two public copies of the CTCAE v5.0 list): US spellings are their own LLTs
    by = {r["TERM"]: r["LLT_CODE"] for r in rows}
    assert (by["Diarrhea"], by["Anemia"], by["Hoarseness"], by["Weight loss"]) == (
        "10012727", "10002272", "10020201", "10047900")


def test_simulated_coder_columns_by_lookup():
    from studybuild.simulate.coding import code_terms

    out = code_terms(np.array(["Diarrhea", "Hypertension", "Hoarseness"], dtype=object))
    # Diarrhea: LLT 10012727 under PT Diarrhoea 10012735; Hypertension is its own PT;
    # Hoarseness (CTCAE v5.0; there is no CTCAE Dysphonia) is an LLT of PT Dysphonia
    assert out["AETERM_LLT"].tolist() == ["Diarrhea", "Hypertension", "Hoarseness"]
    assert out["AETERM_LLT_CODE"].tolist() == ["10012727", "10020772", "10020201"]
    assert out["AETERM_PTNAME"].tolist() == ["Diarrhoea", "Hypertension", "Dysphonia"]
    assert out["AETERM_PT_CODE"].tolist() == ["10012735", "10020772", "10013952"]
    assert out["AETERM_SOC_CODE"].tolist() == ["10017947", "10047065", "10038738"]
    assert set(out["AETERM_DICT_VER"]) == {"MedDRA 20.1"}
    with pytest.raises(RuntimeError, match="Dysphonia"):
        code_terms(np.array(["Dysphonia"], dtype=object))


# --- the MedDRA folder ----------------------------------------------------------------------------

def test_fake_folder_hierarchy_follows_the_primary_soc_path():
    md = load_meddra(FAKE)
    assert md.version == "99.9"
    h = md.hierarchy(pd.Series(["90000021", " 90000031.0", "12345678", None]))
    # tummy pain -> PT stomach ache, which sits in two HLTs; mdhier flags the GI path primary
    assert h.loc[0, ["LLT", "LLTCD", "PT", "PTCD", "HLT", "HLTCD", "HLGT", "HLGTCD", "SOC",
                     "SOCCD"]].tolist() == [
        "Fictitious tummy pain", "90000021", "Fictitious stomach ache", "90000011",
        "Fictitious GI pain HLT", "90000201", "Fictitious GI signs HLGT", "90000101",
        "Fictitious gastro SOC", "90000001"]
    assert h.loc[1, ["PT", "HLTCD", "SOCCD"]].tolist() == [
        "Fictitious lab value high", "90000202", "90000002"]
    assert h.loc[2:].isna().all().all()            # unknown and blank codes: nothing


def test_folder_missing_a_file_or_outside_the_spec_folder(tmp_path, monkeypatch):
    bad = tmp_path / "MedAscii"
    shutil.copytree(FAKE, bad)
    (bad / "mdhier.asc").unlink()
    with pytest.raises(InputError, match="the MedDRA folder has no mdhier.asc"):
        load_meddra(bad)
    with pytest.raises(InputError, match="does not exist"):
        load_meddra(tmp_path / "nowhere")
    monkeypatch.delenv(ENV, raising=False)
    spec = replace(SPEC, study=SPEC.study.model_copy(update={"meddra_folder": "../x"}))
    with pytest.raises(InputError, match="must be a folder inside the spec folder"):
        meddra_folder(spec)
    inside = replace(SPEC, study=SPEC.study.model_copy(update={"meddra_folder": "MedAscii"}))
    assert meddra_folder(inside) == Path(SPEC.folder) / "MedAscii"
    monkeypatch.setenv(ENV, str(bad))              # the environment variable wins
    assert meddra_folder(spec) == bad


# --- the algorithm --------------------------------------------------------------------------------

def test_with_a_folder_every_level_from_the_llt_code(monkeypatch):
    monkeypatch.setenv(ENV, str(FAKE))
    codes = arg(["90000021", "90000031", "90000022", "12345678", None], "ae.AETERM_LLT_CODE")
    ctx = ctx_for(5, "AEDECOD")
    exported = arg(["Fictitious stomach ache", "Something else", "fictitious STOMACH ache",
                    "Unknown PT", "Coded without LLT"], "ae.AETERM_PTNAME")
    out = run(ctx, [codes, exported], level="PT")
    # an unknown code leaves the record empty; no code at all keeps what the export says
    assert vals(out) == ["Fictitious stomach ache", "Fictitious lab value high",
                         "Fictitious stomach ache", None, "Coded without LLT"]
    got = {(f.rule_id, f.severity.value, f.row) for f in ctx.state.findings}
    # folder 99.9 vs study.yaml 20.1; code 12345678 unknown (row 4); 90000022 not current
    # (row 3); row 2's export PT disagrees (case does not count: row 3 agrees)
    assert got == {("SB-MEDDRA-VERSION", "warning", None),
                   ("SB-MEDDRA-LLT-UNKNOWN", "error", 4),
                   ("SB-MEDDRA-LLT-NONCURRENT", "warning", 3),
                   ("SB-MEDDRA-RECODED", "warning", 2)}
    # the other levels on the same build state: codes are numbers, problems reported once
    state = ctx.state
    n = len(state.findings)
    hltcd = run(ctx_for(5, "AEHLTCD", "Num", state), [codes], level="HLT", output="code")
    assert vals(hltcd) == [90000201.0, 90000202.0, 90000201.0, None, None]
    soc = run(ctx_for(5, "AESOC", state=state), [codes], level="SOC")
    assert vals(soc) == ["Fictitious gastro SOC", "Fictitious investigations SOC",
                         "Fictitious gastro SOC", None, None]
    llt = run(ctx_for(5, "AELLT", state=state), [codes], level="LLT")
    assert vals(llt)[:3] == ["Fictitious tummy pain", "Fictitious lab high",
                             "Fictitious belly hurt"]
    assert len(state.findings) == n


def test_without_a_folder_the_export_and_one_notice(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    codes = arg(["10012727", None], "ae.AETERM_LLT_CODE")
    ctx = ctx_for(2, "AEPTCD", "Num")
    out = run(ctx, [codes, arg(["10012735", None], "ae.AETERM_PT_CODE")], level="PT",
              output="code")
    assert vals(out) == [10012735.0, None] and not list(ctx.state.findings)
    hlt = run(ctx_for(2, "AEHLT", state=ctx.state), [codes], level="HLT")
    hltcd = run(ctx_for(2, "AEHLTCD", "Num", ctx.state), [codes], level="HLT", output="code")
    assert vals(hlt) == [None, None] and vals(hltcd) == [None, None]
    (f,) = list(ctx.state.findings)                 # one for the domain, naming all four
    assert (f.rule_id, f.severity.value, f.dataset) == ("SB-MEDDRA-NO-HIERARCHY", "notice", "AE")
    assert f.message.startswith("AEHLT, AEHLTCD, AEHLGT, AEHLGTCD left empty in 1 records: no "
                                "licensed MedDRA version folder was given")


def test_spec_check_refuses_an_unknown_level():
    with pytest.raises(ValueError, match="level"):
        ALG["meddra"].params.model_validate({"level": "LLTX"})
    with pytest.raises(ValueError, match="output"):
        ALG["meddra"].params.model_validate({"level": "PT", "output": "both"})


# --- a whole build with the fictitious folder --------------------------------------------------

def test_mini_build_codes_the_hierarchy_from_a_meddra_folder(tmp_path, monkeypatch):
    from sdtm.build import build_sdtm

    raw = tmp_path / "raw"
    shutil.copytree(Path(__file__).parent / "specs" / "raw-surufatinib-sts-mini", raw)
    ae = pd.read_csv(raw / "ae.csv", dtype="str", keep_default_na=False)
    # the coder's LLT codes replaced by fictitious ones: Hypertension -> tummy pain,
    # Fatigue -> lab high; the export's PT and SOC stay the real ones (a recoding)
    ae["AETERM_LLT_CODE"] = ae["AETERM_LLT_CODE"].replace(
        {"10020772": "90000021", "10016256": "90000031"})
    ae.to_csv(raw / "ae.csv", index=False)
    monkeypatch.setenv(ENV, str(FAKE))
    res = build_sdtm("surufatinib-sts", raw)
    out = res.datasets["AE"]
    s1 = out[out["USUBJID"] == "SURU-STS-II-101-001"]
    cols = ["AELLT", "AELLTCD", "AEDECOD", "AEPTCD", "AEHLT", "AEHLTCD", "AEHLGT", "AEHLGTCD",
            "AEBODSYS", "AEBDSYCD", "AESOC", "AESOCCD"]
    f = s1[cols].astype(object)
    assert f.where(f.notna(), None).values.tolist() == [
        # AESEQ 1: Fatigue, coded LLT 90000031 -> PT lab value high -> lab HLT/HLGT -> inv SOC
        ["Fictitious lab high", 90000031.0, "Fictitious lab value high", 90000012.0,
         "Fictitious lab HLT", 90000202.0, "Fictitious lab HLGT", 90000102.0,
         "Fictitious investigations SOC", 90000002.0, "Fictitious investigations SOC",
         90000002.0],
        # AESEQ 2: Hypertension, coded 90000021 -> stomach ache, primary path GI
        ["Fictitious tummy pain", 90000021.0, "Fictitious stomach ache", 90000011.0,
         "Fictitious GI pain HLT", 90000201.0, "Fictitious GI signs HLGT", 90000101.0,
         "Fictitious gastro SOC", 90000001.0, "Fictitious gastro SOC", 90000001.0]]
    rules = {f.rule_id for f in res.findings}
    assert {"SB-MEDDRA-VERSION", "SB-MEDDRA-RECODED"} <= rules
    assert "SB-MEDDRA-NO-HIERARCHY" not in rules


def test_a_ctcae_only_crf_gets_its_llt_code_from_the_reference_list():
    # without a coding tool, dictionary ctcae-5.0 gives the LLT code of the CTCAE term
    alg = ALG["dictionary"]
    ctx = ctx_for(3, "AELLTCD", "Num")
    out = alg.fn(ctx, [arg(["diarrhea", "Hoarseness", "Dysphonia"], "ae.AETERM_PT")],
                 alg.params.model_validate({"dictionary": "ctcae-5.0", "key": "TERM",
                                            "value": "LLT_CODE"}))
    assert vals(out) == [10012727.0, 10020201.0, None]
    (f,) = list(ctx.state.findings)
    assert (f.rule_id, f.row) == ("SB-MAP-DICT", 3)


def test_define_names_the_meddra_version_of_study_yaml(tmp_path, monkeypatch):
    import datetime as dt

    from lxml import etree

    from sdtm.build import build_sdtm
    from studybuild.define import write_define

    monkeypatch.delenv(ENV, raising=False)
    mini = Path(__file__).parent / "specs" / "raw-surufatinib-sts-mini"
    res = build_sdtm("surufatinib-sts", mini)
    path = write_define(res.metadata, res.datasets, tmp_path / "define.xml",
                        study=res.spec.study, hrefs={}, timestamp=dt.datetime(2025, 11, 27))
    tree = etree.parse(str(path))
    ns = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}
    for var in ("AEDECOD", "AELLTCD", "AEBDSYCD"):
        (ref,) = tree.xpath(f"//odm:ItemDef[@OID='IT.AE.{var}']/odm:CodeListRef", namespaces=ns)
        (ext,) = tree.xpath(f"//odm:CodeList[@OID='{ref.get('CodeListOID')}']"
                            "/odm:ExternalCodeList", namespaces=ns)
        assert (ext.get("Dictionary"), ext.get("Version")) == ("MedDRA", "20.1"), var


def test_without_a_folder_the_exported_soc_must_be_a_meddra_soc(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    codes = arg(["10012727", "10012727", "10012727"], "ae.AETERM_LLT_CODE")
    ctx = ctx_for(3, "AEBODSYS")
    names = arg(["Gastrointestinal disorders", "gastrointestinal  DISORDERS", "GI disorders"],
                "ae.AETERM_SOC")
    out = run(ctx, [codes, names], level="SOC")
    assert vals(out) == ["Gastrointestinal disorders", "gastrointestinal  DISORDERS",
                         "GI disorders"]                      # kept as exported
    ctx2 = ctx_for(3, "AEBDSYCD", "Num", ctx.state)
    out = run(ctx2, [codes, arg(["10017947", "10017947.0", "10017948"], "ae.AETERM_SOC_CODE")],
              level="SOC", output="code")
    assert vals(out) == [10017947.0, 10017947.0, 10017948.0]
    run(ctx_for(3, "AESOC", state=ctx.state), [codes, names], level="SOC")  # reported once
    got = sorted((f.rule_id, f.variable, f.row, f.value) for f in ctx.state.findings)
    assert got == [("SB-MEDDRA-SOC-UNKNOWN", "AETERM_SOC", 3, "GI disorders"),
                   ("SB-MEDDRA-SOC-UNKNOWN", "AETERM_SOC_CODE", 3, "10017948")]
