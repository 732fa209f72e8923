"""`studybuild build`: the eCTD-style package, the export gate and its override.

One small clean study (3 simulated subjects) is built once; a copy with one unmappable value
shows the gate refusing the export (exit 1, previous package untouched, report in
OUT/ID.refused/) and `--allow-errors` exporting it with the override recorded.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pandas as pd
import pytest
from click.testing import CliRunner

from bad_inputs import corpus
from studybuild.cli import cli
from studybuild.define import validate_define
from studybuild.export.layout import adam_dir, sdtm_dir
from studybuild.export.xpt import read_xpt
from studybuild.manifest import verify_manifest
from studybuild.paths import standards_dir

STUDY = corpus.STUDY


def build(raw: Path, out: Path, *extra: str):
    return CliRunner().invoke(cli, ["build", "--study", STUDY, "--raw", str(raw), "--out",
                                    str(out), *extra])


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    return corpus.make_base(tmp_path_factory.mktemp("pipeline-base")) / "raw"


@pytest.fixture(scope="module")
def package(raw, tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("pipeline-out")
    res = build(raw, out)
    assert res.exit_code == 0, res.output
    return out / STUDY, res.output


def test_package_layout(package):
    pkg, _ = package
    sdtm, adam = sdtm_dir(pkg), adam_dir(pkg)
    assert sdtm == pkg / "m5" / "datasets" / STUDY / "tabulations" / "sdtm"
    sdtm_xpt = {p.stem for p in sdtm.glob("*.xpt")}
    assert {"dm", "ex", "tu", "tr", "rs", "ae", "ds", "se", "sv", "ts", "ta", "te", "tv",
            "ti"} <= sdtm_xpt
    assert {p.stem for p in adam.glob("*.xpt")} == {"adsl", "adrs", "adtte", "adtr", "adae"}
    # Dataset-JSON for every XPT (default --format xpt,json), outside m5; define.xml,
    # stylesheet, rendered define and reviewer's guide beside the XPT
    for folder, js, guide in ((sdtm, "sdtm", "csdrg.pdf"), (adam, "adam", "adrg.pdf")):
        assert not list(folder.glob("*.json"))
        assert {p.stem for p in (pkg / "dataset-json" / js).glob("*.json")} == \
            {p.stem for p in folder.glob("*.xpt")}
        for name in ("define.xml", "define2-1.xsl", "define.html", guide):
            assert (folder / name).is_file(), name
    for name in ("report.json", "report.html", "junit.xml"):
        assert (pkg / "validation" / name).is_file()
    for name in ("lineage.csv", "accounting.csv", "exclusions.csv", "recist_check.csv"):
        assert (pkg / "traceability" / name).is_file()
    assert (pkg / "report.html").is_file() and list((pkg / "figures").glob("*.png"))
    assert not (pkg.parent / f"{STUDY}.refused").exists()


def test_console_summary_names_steps_and_gate(package):
    _, output = package
    for step in ("sdtm", "check sdtm", "adam", "check adam", "export"):
        assert f"{STUDY}: {step}" in output
    assert "gate passed" in output and "0 errors" in output


def test_manifest_covers_every_file_and_verifies(package):
    pkg, _ = package
    manifest = json.loads((pkg / "manifest.json").read_text())
    assert manifest["gate_overridden"] is False
    assert manifest["ct_version"] == "2025-03-28"
    listed = {f["path"] for f in manifest["files"]}
    on_disk = {p.relative_to(pkg).as_posix() for p in pkg.rglob("*")
               if p.is_file() and p.name != "manifest.json"}
    assert listed == on_disk
    assert any(s["path"].endswith("surufatinib-sts/study.yaml") for s in manifest["specs"])
    assert verify_manifest(pkg) == []


def test_define_and_dataset_json_are_schema_valid(package):
    pkg, _ = package
    schema = json.loads((standards_dir() / "dataset-json-1.1" / "dataset.schema.json")
                        .read_text())
    for folder, js in ((sdtm_dir(pkg), "sdtm/dm.json"), (adam_dir(pkg), "adam/adsl.json")):
        assert validate_define(folder / "define.xml") == []
        doc = json.loads((pkg / "dataset-json" / js).read_text())
        jsonschema.validate(doc, schema)


def test_exported_xpt_match_the_validated_data(package):
    pkg, _ = package
    dm, meta = read_xpt(sdtm_dir(pkg) / "dm.xpt")
    assert meta.version == 5 and meta.label == "Demographics"
    assert len(dm) == corpus.SUBJECTS and dm["USUBJID"].is_unique
    adsl, ameta = read_xpt(adam_dir(pkg) / "adsl.xpt")
    assert sorted(adsl["USUBJID"]) == sorted(dm["USUBJID"])
    assert ameta.formats["TRTSDT"] == "DATE9."
    # the report's validation summary is the package's own
    report = json.loads((pkg / "validation" / "report.json").read_text())
    assert report["summary"]["error"] == 0
    assert {d["name"] for d in report["datasets"]} >= {"DM", "ADSL"}


def _break_sex(raw: Path, dest: Path) -> Path:
    shutil.copytree(raw, dest)
    dm = pd.read_csv(dest / "dm.csv", dtype=str, keep_default_na=False)
    dm.loc[0, "SEX"] = "Mle"                      # no CT term, synonym or study map
    dm.to_csv(dest / "dm.csv", index=False)
    return dest


def test_gate_refuses_export_and_keeps_the_previous_package(raw, package, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(package[0], out / STUDY)       # a previous, complete package
    before = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*")
              if p.is_file()}
    bad = _break_sex(raw, tmp_path / "raw-bad")
    res = build(bad, out)
    assert res.exit_code == 1
    line = res.output.strip().splitlines()[-1]
    # SDTM: the mapper keeps 'Mle' as collected (never guesses) and reports it; the codelist
    # check reports the same value in DM
    assert line.startswith("studybuild: error: SDTM checks found 2 errors")
    assert "nothing exported" in line and f"{STUDY}.refused" in line
    after = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*")
             if p.is_file() and not p.relative_to(out).as_posix().startswith(f"{STUDY}.refused")}
    assert after == before
    refused = json.loads((out / f"{STUDY}.refused" / "validation" / "report.json").read_text())
    errors = {(f["rule_id"], f["dataset"], f["variable"], f["value"]) for f in refused["findings"]
              if f["severity"] == "error"}
    sdtm = {e for e in errors if not e[1].startswith("AD")}
    assert sdtm == {("SB-MAP-CT", "dm.csv", "SEX", "Mle"), ("SB0005", "DM", "SEX", "MLE")}
    # ... and ADaM carries the same value into every dataset that has SEX
    assert {e[1] for e in errors - sdtm} == {"ADSL", "ADRS", "ADTTE", "ADTR", "ADAE"}
    assert refused["gate"]["result"] == "SDTM: refused; ADaM: refused"


def test_allow_errors_exports_and_records_the_override(raw, tmp_path):
    out = tmp_path / "out"
    bad = _break_sex(raw, tmp_path / "raw-bad")
    res = build(bad, out, "--allow-errors")
    assert res.exit_code == 1                       # the data still has an error
    assert "gate overridden (--allow-errors)" in res.output
    pkg = out / STUDY
    manifest = json.loads((pkg / "manifest.json").read_text())
    assert manifest["gate_overridden"] is True
    report = json.loads((pkg / "validation" / "report.json").read_text())
    assert report["gate"]["override"] is True and report["summary"]["error"] >= 2
    dm, _ = read_xpt(sdtm_dir(pkg) / "dm.xpt")
    assert (dm["SEX"] == "MLE").sum() == 1          # kept as collected, not guessed
    define = (sdtm_dir(pkg) / "define.xml").read_text()
    assert 'CodedValue="MLE"' not in define         # and never listed as a SEX term
    assert "overridden" in (pkg / "report.html").read_text()


def test_usage_errors_exit_2(raw, tmp_path):
    res = build(raw, tmp_path / "o", "--format", "json")
    assert res.exit_code == 2 and "xpt is required" in res.output
    res = build(raw, tmp_path / "o", "--format", "xpt,csv")
    assert res.exit_code == 2 and "unknown format(s) csv" in res.output
    res = build(tmp_path / "no-such-raw", tmp_path / "o")
    assert res.exit_code == 2 and "raw data folder not found" in res.output


def test_traceability_csv_is_what_pandas_writes():
    # the Arrow writer of traceability/*.csv must give pandas' bytes: quoting as the csv
    # module does (comma, quote, line feed), doubled quotes, %.10g doubles (-0.0 is "-0",
    # 1e20 is "1e+20"), integers as integers, missing values blank
    import numpy as np

    from studybuild.pipeline import _csv_bytes

    frame = pd.DataFrame({
        "DOMAIN": pd.Series(["AE", 'say "hi"', None, "a,b", "two\nlines", ""], dtype="str"),
        "RECORD": np.array([1, 2, 3, 40, 500, -6], dtype="int64"),
        "SEQ": [1.0, -0.0, float("nan"), 1e20, 1 / 3, 2.5],
    })
    expected = (b'DOMAIN,RECORD,SEQ\nAE,1,1\n"say ""hi""",2,-0\n,3,\n"a,b",40,1e+20\n'
                b'"two\nlines",500,0.3333333333\n,-6,2.5\n')
    assert _csv_bytes(frame) == expected
    assert frame.to_csv(index=False, lineterminator="\n",
                        float_format="%.10g").encode() == expected
    # what it does not cover goes to pandas: a carriage return, a datetime column
    odd = frame.assign(DOMAIN=pd.Series(["a\rb"] * 6, dtype="str"),
                       ADT=pd.to_datetime(["2024-01-02"] * 6))
    assert _csv_bytes(odd) == odd.to_csv(index=False, lineterminator="\n",
                                         float_format="%.10g").encode()


def test_adam_refusal_leaves_no_early_sdtm_files(raw, tmp_path, monkeypatch):
    # SDTM passes its gate, so build_study starts writing the SDTM datasets in a background
    # thread; ADaM is then refused: nothing is exported and the early folder is removed
    import studybuild.pipeline as pipeline
    from studybuild.errors import GateError

    checks = pipeline.check_stage

    def adam_error(stage, **kw):
        rep = checks(stage, **kw)
        if "ADSL" in stage.datasets:
            rep.findings.add("SB0001", "error", "forced for the test", dataset="ADSL")
        return rep

    monkeypatch.setattr(pipeline, "check_stage", adam_error)
    with pytest.raises(GateError, match="ADaM checks found 1 error"):
        pipeline.build_study(STUDY, raw, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{STUDY}.refused"]
