"""`studybuild export`: the export step on its own, from the folders `studybuild sdtm` and
`studybuild adam` write.

The chain simulate -> sdtm -> adam -> export runs once through the CLI on the 29 simulated
subjects of surufatinib-sts (the planned size), and `studybuild build` runs once on the same raw
data. The two packages are compared file by file: export rebuilds the SDTM metadata from the
study spec and the ADaM metadata as build_adam makes it, and takes lineage, accounting,
exclusions and the mapping/derivation findings from the folders' traceability/, so every file,
the manifest included, is byte-identical (no file legitimately differs for this data; an SDTM
dataset with no records would, because `studybuild sdtm` does not write empty datasets).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from studybuild.cli import cli
from studybuild.define import validate_define
from studybuild.export.layout import layout
from studybuild.export.xpt import read_xpt, write_xpt

STUDY = "surufatinib-sts"
SUBJECTS = 29
SDTM = Path(layout(STUDY).sdtm)                  # m5/datasets/ID/tabulations/sdtm
ADAM = Path(layout(STUDY).adam)
SDTM_JSON, ADAM_JSON = Path("dataset-json") / "sdtm", Path("dataset-json") / "adam"


def run(*args: str):
    res = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in res.output, res.output
    return res


def tree(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under ``folder``."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("export")
    raw, sdtm, adam = root / "raw", root / "sdtm", root / "adam"
    res = run("simulate", "--study", STUDY, "--out", str(raw), "--subjects", str(SUBJECTS))
    assert res.exit_code == 0, res.output
    res = run("sdtm", "--study", STUDY, "--raw", str(raw), "--out", str(sdtm))
    assert res.exit_code == 0, res.output
    res = run("adam", "--study", STUDY, "--sdtm", str(sdtm), "--out", str(adam))
    assert res.exit_code == 0, res.output
    exported = run("export", "--study", STUDY, "--sdtm", str(sdtm), "--adam", str(adam),
                   "--out", str(root / "exported"))
    assert exported.exit_code == 0, exported.output
    built = run("build", "--study", STUDY, "--raw", str(raw), "--out", str(root / "built"))
    assert built.exit_code == 0, built.output
    return {"root": root, "sdtm": sdtm, "adam": adam, "output": exported.output,
            "exported": root / "exported" / STUDY, "built": root / "built" / STUDY}


def test_export_writes_the_package_build_writes_byte_for_byte(chain):
    exported, built = tree(chain["exported"]), tree(chain["built"])
    # the layout: every SDTM dataset `studybuild sdtm` wrote, as XPT and Dataset-JSON
    sdtm_names = {p.stem for p in chain["sdtm"].glob("*.xpt")}
    adam_names = {p.stem for p in chain["adam"].glob("*.xpt")}
    assert adam_names == {"adsl", "adrs", "adtte", "adtr", "adae"}
    assert {"dm", "ae", "ex", "tu", "tr", "rs", "ts", "ta", "te", "tv", "ti"} <= sdtm_names
    expected = {f"{d.as_posix()}/{n}.{ext}" for d, ext in ((SDTM, "xpt"), (SDTM_JSON, "json"))
                for n in sdtm_names}
    expected |= {f"{d.as_posix()}/{n}.{ext}" for d, ext in ((ADAM, "xpt"), (ADAM_JSON, "json"))
                 for n in adam_names}
    expected |= {f"{d.as_posix()}/{f}" for d in (SDTM, ADAM) for f in ("define.xml",
                                                                         "define2-1.xsl",
                                                                         "define.html")}
    expected |= {f"{SDTM.as_posix()}/csdrg.pdf", f"{ADAM.as_posix()}/adrg.pdf"}
    expected |= {f"validation/{f}" for f in ("report.json", "report.html", "junit.xml")}
    expected |= {f"traceability/{f}" for f in ("lineage.csv", "accounting.csv",
                                                "exclusions.csv", "recist_check.csv",
                                                "sdtm_findings.json", "adam_findings.json")}
    expected |= {"report.html", "manifest.json"}
    assert expected <= exported.keys()
    assert any(k.startswith("figures/") and k.endswith(".png") for k in exported)
    # ... and the same files as build, with the same bytes: datasets, define.xml, reports,
    # traceability and the manifest (which hashes all of them)
    datasets = [k for k in built if k.endswith((".xpt", ".json")) and
                k.startswith(tuple(d.as_posix() for d in (SDTM, ADAM, SDTM_JSON, ADAM_JSON)))]
    assert len(datasets) == 2 * (len(sdtm_names) + len(adam_names))
    assert {k: exported.get(k) for k in datasets} == {k: built[k] for k in datasets}
    assert exported == built


def test_define_is_schema_valid_and_xpt_reads_back(chain):
    pkg = chain["exported"]
    for folder in (SDTM, ADAM):
        assert validate_define(pkg / folder / "define.xml") == []
    # the package's XPT hold what the sdtm/adam folders held, read with pyreadstat
    for src, folder in ((chain["sdtm"], SDTM), (chain["adam"], ADAM)):
        for path in sorted(src.glob("*.xpt")):
            before, _ = read_xpt(path)
            after, meta = read_xpt(pkg / folder / path.name)
            assert meta.version == 5
            assert after.equals(before), path.name
    dm, meta = read_xpt(pkg / SDTM / "dm.xpt")
    assert meta.label == "Demographics" and len(dm) == SUBJECTS and dm["USUBJID"].is_unique
    adsl, ameta = read_xpt(pkg / ADAM / "adsl.xpt")
    assert sorted(adsl["USUBJID"]) == sorted(dm["USUBJID"])
    assert ameta.formats["TRTSDT"] == "DATE9."


def test_console_names_each_step_and_the_gate(chain):
    lines = [line for line in chain["output"].splitlines() if line.startswith(f"{STUDY}: ")]
    steps = [line[len(STUDY) + 2:].split("  ")[0].strip() for line in lines[:5]]
    assert steps == ["read sdtm", "read adam", "check sdtm", "check adam", "export"]
    n_sdtm = len(list(chain["sdtm"].glob("*.xpt")))
    assert f" {n_sdtm} datasets, " in lines[0] and str(chain["sdtm"]) in lines[0]
    assert " 5 datasets, " in lines[1] and str(chain["adam"]) in lines[1]
    assert lines[5].startswith(f"{STUDY}: {n_sdtm + 5} datasets, ")
    assert "0 errors" in lines[5] and lines[5].endswith("gate passed")
    # both folders had their traceability/, so nothing is said missing
    assert "the package will have no" not in chain["output"]


def test_traceability_comes_from_the_folders(chain, tmp_path):
    from studybuild.pipeline import _write_traceability, read_adam, read_sdtm

    sdtm = read_sdtm(STUDY, chain["sdtm"])
    assert sdtm.traceability == ["lineage", "accounting", "exclusions", "findings"]
    # the mapping findings read back are those `studybuild sdtm` recorded
    recorded = json.loads((chain["sdtm"] / "traceability" / "findings.json").read_text())
    assert sdtm.findings.counts() == recorded["counts"]
    assert sdtm.findings.to_records() == recorded["findings"]
    # without traceability/ the SDTM parts are left out, not invented
    bare = tmp_path / "sdtm"
    bare.mkdir()
    for name in ("dm.xpt", "ts.xpt"):
        shutil.copy(chain["sdtm"] / name, bare / name)
    bare_sdtm = read_sdtm(STUDY, bare)
    assert bare_sdtm.traceability == [] and bare_sdtm.findings is None
    adam = read_adam(STUDY, chain["adam"], sdtm=bare_sdtm)
    assert adam.traceability == ["recist_check", "findings"]
    assert _write_traceability(tmp_path / "trace", bare_sdtm, adam) == [
        "adam_findings.json", "recist_check.csv"]


def test_missing_sdtm_folder_exits_2_with_one_line(chain, tmp_path):
    missing = tmp_path / "no-such-sdtm"
    res = run("export", "--study", STUDY, "--sdtm", str(missing), "--adam", str(chain["adam"]),
              "--out", str(tmp_path / "out"))
    assert res.exit_code == 2
    assert res.output.strip().splitlines() == [
        f"studybuild: error: {missing}: SDTM folder not found (give the --out folder of "
        "`studybuild sdtm`)"]
    assert not (tmp_path / "out").exists()


def test_sdtm_error_exits_1_and_exports_nothing(chain, tmp_path):
    # DM with one invalid SEX, and TS (an SDTM folder without TS is an error, SB0114); no
    # traceability/ (the console says what the package will lack)
    bad = tmp_path / "sdtm-bad"
    bad.mkdir()
    for name in ("dm.xpt", "ts.xpt"):
        shutil.copy(chain["sdtm"] / name, bad / name)
    dm, meta = read_xpt(bad / "dm.xpt")
    sex = dm.loc[0, "SEX"]
    assert sex in ("M", "F")
    dm.loc[0, "SEX"] = "MLE"                    # not a term of the non-extensible SEX codelist
    write_xpt(dm, bad / "dm.xpt", dataset="DM", label=meta.label, labels=meta.labels)
    out = tmp_path / "out"
    res = run("export", "--study", STUDY, "--sdtm", str(bad), "--adam", str(chain["adam"]),
              "--out", str(out))
    assert res.exit_code == 1
    assert f"no {bad / 'traceability'}: the package will have no SDTM lineage, accounting, " \
        "exclusions or mapping findings" in res.output
    last = res.output.strip().splitlines()[-1]
    assert last.startswith("studybuild: error: SDTM checks found 1 error")
    assert "nothing exported" in last and f"{STUDY}.refused" in last
    # nothing exported: only the refused build's validation report and traceability
    assert sorted(p.name for p in out.iterdir()) == [f"{STUDY}.refused"]
    refused = out / f"{STUDY}.refused"
    assert sorted(p.name for p in refused.iterdir()) == ["traceability", "validation"]
    report = json.loads((refused / "validation" / "report.json").read_text())
    errors = [(f["rule_id"], f["dataset"], f["variable"], f["row"], f["value"])
              for f in report["findings"] if f["severity"] == "error"]
    assert errors == [("SB0005", "DM", "SEX", 1, "MLE")]
    assert report["gate"]["result"] == "SDTM: refused; ADaM: passed"
