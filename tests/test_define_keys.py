"""Every dataset in a package's define.xml has its keys: KeySequence 1..n on variables of that
dataset, and the keys tell its records apart.

SS had none in both seed studies: SDTMIG 3.4 gives no keys for SS (nor for most domains), the
spec declared none, and define.xml wrote what the metadata declared. Keys now come from the
spec's ``keys:``, else the SDTMIG's, else the conventions of
``studybuild.define.writer.natural_keys``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from lxml import etree

from studybuild.export.layout import adam_dir, sdtm_dir
from studybuild.cli import cli
from studybuild.define.writer import natural_keys
from studybuild.export.xpt import read_xpt

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1"}


def define_keys(define: Path) -> dict[str, tuple[list[int], list[str], set[str]]]:
    """Per ItemGroupDef: the KeySequence numbers in order, the key variables in that order, and
    the names of all its variables."""
    tree = etree.parse(str(define))
    names = {i.get("OID"): i.get("Name") for i in tree.iterfind(".//odm:ItemDef", NS)}
    out = {}
    for ig in tree.iterfind(".//odm:ItemGroupDef", NS):
        refs = ig.findall("odm:ItemRef", NS)
        keyed = sorted((int(r.get("KeySequence")), names[r.get("ItemOID")]) for r in refs
                       if r.get("KeySequence") is not None)
        out[ig.get("Name")] = ([k for k, _ in keyed], [v for _, v in keyed],
                               {names[r.get("ItemOID")] for r in refs})
    return out


def assert_every_dataset_keyed(folder: Path) -> dict[str, list[str]]:
    """define.xml of ``folder``: every ItemGroupDef has KeySequence 1..n on its own variables,
    and the XPT beside it has no two records with the same keys. Returns the keys."""
    found = define_keys(folder / "define.xml")
    assert found
    keys = {}
    for name, (seqs, kv, variables) in found.items():
        assert seqs == list(range(1, len(seqs) + 1)) and seqs, (name, seqs)
        assert set(kv) <= variables, (name, kv)
        frame, _ = read_xpt(folder / f"{name.lower()}.xpt")
        assert not frame.duplicated(subset=kv).any(), (name, kv)
        keys[name] = kv
    return keys


@pytest.fixture(scope="module", params=["surufatinib-sts", "surufatinib-envafolimab-sts"])
def package(request, tmp_path_factory) -> Path:
    study = request.param
    root = tmp_path_factory.mktemp(study)
    runner = CliRunner()
    res = runner.invoke(cli, ["simulate", "--study", study, "--out", str(root / "raw")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["build", "--study", study, "--raw", str(root / "raw"),
                              "--out", str(root / "out")])
    assert res.exit_code == 0, res.output
    return root / "out" / study


def test_every_seed_dataset_has_keys_in_define_xml(package):
    sdtm = assert_every_dataset_keyed(sdtm_dir(package))
    adam = assert_every_dataset_keyed(adam_dir(package))
    # SS: one record per status per contact; contacts are timed by SSDTC, not VISITNUM
    assert sdtm["SS"] == ["STUDYID", "USUBJID", "SSTESTCD", "SSDTC"]
    assert sdtm["DM"] == ["STUDYID", "USUBJID"]
    assert sdtm["TS"] == ["STUDYID", "TSPARMCD", "TSSEQ"]
    # the spec's keys: win over the SDTMIG's (AE adds the CRF's AE number)
    assert sdtm["AE"] == ["STUDYID", "USUBJID", "AEDECOD", "AESTDTC", "AESPID"]
    assert all(sdtm[s] == ["STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "QNAM"]
               for s in sdtm if s.startswith("SUPP"))
    assert adam["ADSL"] == ["STUDYID", "USUBJID"]
    assert adam["ADTTE"] == ["STUDYID", "USUBJID", "PARAMCD"]


def test_natural_keys_by_convention():
    # a findings domain without IG keys: subject, test code, then what tells records apart
    qs = pd.DataFrame({"STUDYID": ["S"] * 4, "USUBJID": ["S-1", "S-1", "S-1", "S-2"],
                       "QSSEQ": [1.0, 2.0, 3.0, 1.0], "QSCAT": ["A", "A", "B", "A"],
                       "QSTESTCD": ["Q1"] * 4, "VISITNUM": [1.0, 2.0, 1.0, 1.0]})
    assert natural_keys("QS", qs) == ["STUDYID", "USUBJID", "QSTESTCD", "QSCAT", "VISITNUM"]
    # nothing but the sequence number tells two records apart: --SEQ
    ce = pd.DataFrame({"STUDYID": ["S"] * 2, "USUBJID": ["S-1"] * 2, "CESEQ": [1.0, 2.0],
                       "CETERM": ["FEVER"] * 2})
    assert natural_keys("CE", ce) == ["STUDYID", "USUBJID", "CETERM", "CESEQ"]
    # declared keys the dataset has are kept as declared (their uniqueness is SB0010's
    # business); one it lacks is made up for by the conventions
    assert natural_keys("CE", ce, ["STUDYID", "USUBJID", "CETERM"]) == \
        ["STUDYID", "USUBJID", "CETERM"]
    assert natural_keys("CE", ce, ["STUDYID", "USUBJID", "CETERM", "CESTDTC"]) == \
        ["STUDYID", "USUBJID", "CETERM", "CESEQ"]
    # a BDS dataset: parameter, then analysis visit
    bds = pd.DataFrame({"STUDYID": ["S"] * 3, "USUBJID": ["S-1"] * 3, "PARAMCD": ["P"] * 3,
                        "AVISITN": [0.0, 1.0, 2.0], "ASEQ": [1.0, 2.0, 3.0]})
    assert natural_keys("ADXX", bds) == ["STUDYID", "USUBJID", "PARAMCD", "AVISITN"]
    # a SUPP-- dataset without metadata
    supp = pd.DataFrame({"STUDYID": ["S"], "RDOMAIN": ["AE"], "USUBJID": ["S-1"],
                         "IDVAR": ["AESEQ"], "IDVARVAL": ["1"], "QNAM": ["AETRTEM"],
                         "QVAL": ["Y"]})
    assert natural_keys("SUPPAE", supp) == ["STUDYID", "RDOMAIN", "USUBJID", "IDVAR",
                                            "IDVARVAL", "QNAM"]
