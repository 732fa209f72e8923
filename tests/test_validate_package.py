"""`studybuild validate` on the package `studybuild build` wrote agrees with the build.

The seed study surufatinib-sts (29 simulated subjects, its planned size) is built once; its
SDTM and ADaM folders are then validated as a reviewer would, through the CLI: with the
define.xml found in each folder, and again with ``--study``. Every finding (rule, dataset,
variable, record, severity) must be the one the build reported, none more, none fewer. The
folders are found by their define.xml, not by path, so the test holds whatever the package
layout is.

Also here: the validation report's display (header, rule catalogue for every rule family,
per-dataset counts, wrapping), companion files skipped silently, and that every rule id the
code can emit has a catalogue entry.
"""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from studybuild.cli import cli
from studybuild.datasets import read_folder
from studybuild.findings import Findings
from validation.report import render_html
from validation.rules import registry
from validation.run import DatasetSummary, ValidationReport

REPO = Path(__file__).resolve().parent.parent
STUDY = "surufatinib-sts"


def run(*args: str):
    res = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in res.output, res.output
    return res


def key(f: dict) -> tuple:
    return (f["rule_id"], f["dataset"], f["variable"], f["row"], f["severity"])


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("validate-package")
    res = run("simulate", "--study", STUDY, "--out", str(root / "raw"))
    assert res.exit_code == 0, res.output
    built = run("build", "--study", STUDY, "--raw", str(root / "raw"), "--out", str(root / "out"))
    assert built.exit_code == 0, built.output
    pkg = root / "out" / STUDY
    folders = {}
    for define in sorted(pkg.rglob("define.xml")):   # wherever the layout puts them
        kind = read_folder(define.parent).kind
        assert kind not in folders, f"two {kind} folders: {folders[kind]}, {define.parent}"
        folders[kind] = define.parent
    assert set(folders) == {"SDTM", "ADaM"}
    # the build's counts per stage, as its console printed them
    counts = {}
    for stage in ("sdtm", "adam"):
        m = re.search(rf"check {stage}\s+[\d.]+ s\s+(\d+) errors, (\d+) warnings, (\d+) notices",
                      built.output)
        assert m, built.output
        counts[stage] = tuple(int(x) for x in m.groups())
    return {"root": root, "pkg": pkg, "folders": folders, "counts": counts,
            "report": json.loads(next(pkg.rglob("validation/report.json")).read_text()),
            "traceability": {p.name: json.loads(p.read_text())
                             for p in pkg.rglob("traceability/*_findings.json")}}


def validate_cli(folder: Path, out: Path, *extra: str) -> tuple[dict, str]:
    res = run("validate", str(folder), "--report", str(out), *extra)
    assert res.exit_code == 0, res.output
    return json.loads((out / "report.json").read_text()), res.output


@pytest.mark.parametrize("how", [(), ("--study", STUDY)], ids=["define.xml", "study spec"])
def test_validate_of_the_package_gives_the_build_findings(package, how, tmp_path):
    sdtm, sdtm_out = validate_cli(package["folders"]["SDTM"], tmp_path / "sdtm", *how)
    adam, adam_out = validate_cli(package["folders"]["ADaM"], tmp_path / "adam", *how)
    # the metadata the build used: the folder's define.xml (written from it) or the spec's
    assert sdtm["metadata_source"] == ("the folder's define.xml" if not how
                                       else f"study spec {STUDY}")
    # each stage's findings as the build counted them (console) ...
    assert (sdtm["summary"]["error"], sdtm["summary"]["warning"],
            sdtm["summary"]["notice"]) == package["counts"]["sdtm"]
    assert (adam["summary"]["error"], adam["summary"]["warning"],
            adam["summary"]["notice"]) == package["counts"]["adam"]
    # ... and one by one: both folders together are exactly the build's validation report
    got = Counter(key(f) for f in sdtm["findings"] + adam["findings"])
    assert got == Counter(key(f) for f in package["report"]["findings"])
    # every finding the build recorded for a stage is in that folder's report
    for rep, name in ((sdtm, "sdtm_findings.json"), (adam, "adam_findings.json")):
        want = Counter(key(f) for f in package["traceability"][name]["findings"])
        assert not want - Counter(key(f) for f in rep["findings"]), name
        assert rep["build_findings"] and rep["build_findings"][0].endswith(name)
    # for this data: 40 transliterated raw values, one incomplete SUMDIAM assessment and
    # the MedDRA levels no licensed folder gives (SDTM), the RECIST disagreement on RS and
    # one subject on treatment at cut-off (ADaM)
    assert Counter(f["rule_id"] for f in sdtm["findings"]) == {"SB-MAP-TRANSLIT": 40,
                                                               "SB-TR-SUMDIAM": 1,
                                                               "SB-MEDDRA-NO-HIERARCHY": 1}
    assert Counter(f["rule_id"] for f in adam["findings"]) == {"ADAM-RECIST-DISAGREE": 1,
                                                               "ADAM-ADSL-ONGOING": 1}
    # define.xml, its stylesheet, Dataset-JSON twins, guides: skipped without a notice
    assert "SB0901" not in sdtm_out + adam_out and "was not read" not in sdtm_out + adam_out


def test_companion_files_are_skipped_without_being_read(package, tmp_path):
    src = package["folders"]["SDTM"]
    folder = tmp_path / "pkg"
    folder.mkdir()
    (folder / "dm.xpt").write_bytes((src / "dm.xpt").read_bytes())
    (folder / "dm.json").write_text("{ not JSON at all")      # never opened: dm.xpt wins
    for name in ("define.xml", "define2-1.xsl", "define.html", "csdrg.pdf"):
        (folder / name).write_text("companion")
    (folder / "notes.txt").write_text("not a dataset")
    got = read_folder(folder)
    assert list(got.datasets) == ["DM"]
    assert [(p.name, why) for p, why in got.companions] == [
        ("csdrg.pdf", "PDF document"), ("define.html", "HTML page"),
        ("define.xml", "define.xml"), ("define2-1.xsl", "define.xml stylesheet"),
        ("dm.json", "DM already read from dm.xpt")]
    assert [(p.name, why) for p, why in got.ignored] == [("notes.txt", "not a dataset file")]


def test_build_validation_report_display(package):
    rep = package["report"]
    html = next(package["pkg"].rglob("validation/report.html")).read_text()
    # header: what was checked, never an empty path
    # (and, since the build knows it, the study: STUDYID of specs/studies/surufatinib-sts)
    assert ("<p>SDTM and ADaM datasets checked by the build before export of study "
            "SURU-STS-II &middot;") in html
    assert "datasets in <span class='mono'></span>" not in html
    # every rule with findings has its catalogue entry: severity, message, citation
    failing = {r["id"]: r for r in rep["rules"] if r["status"] != "passed"}
    assert set(failing) == {"ADAM-ADSL-ONGOING", "ADAM-RECIST-DISAGREE", "SB-MAP-TRANSLIT",
                            "SB-TR-SUMDIAM", "SB-MEDDRA-NO-HIERARCHY"}
    for r in failing.values():
        assert r["severity"] and r["message"] and r["citation"], r
    assert failing["ADAM-RECIST-DISAGREE"]["severity"] == "warning"
    assert failing["SB-MAP-TRANSLIT"]["message"] == "Non-ASCII text spelled in ASCII for XPT v5"
    assert (f"<td class='id'>SB-TR-SUMDIAM</td><td class='notice'>notice</td><td>Assessment "
            "has no measurement for every target lesion") in html
    # per-dataset counts hold every finding attributed to the dataset, whichever stage
    # reported it: the ADaM build's RECIST warning is on RS, the raw forms get rows too
    rows = {d["name"]: d for d in rep["datasets"]}
    assert (rows["RS"]["warnings"], rows["TR"]["notices"], rows["ADSL"]["notices"]) == (1, 1, 1)
    assert (rows["ae.csv"]["kind"], rows["ae.csv"]["records"], rows["ae.csv"]["notices"]) == \
        ("raw form", None, 10)
    attributed = Counter(f["dataset"] for f in rep["findings"] if f["dataset"])
    assert {n: d["errors"] + d["warnings"] + d["notices"] + d["accepted"]
            for n, d in rows.items() if n in attributed} == dict(attributed)
    # keys wrap between key=value pairs, never inside one (no break-all anywhere)
    assert "word-break:break-all" not in html
    assert ("<span class='key'>USUBJID=SURU-STS-II-101-006</span> "
            "<span class='key'>VISIT=WEEK 12 TUMOR ASSESSMENT</span>") in html


def test_dataset_counts_follow_the_findings():
    fs = Findings()
    fs.add("ADAM-RECIST-DISAGREE", "warning", "differs", dataset="RS", variable="RSSTRESC")
    fs.add("SB0005", "error", "not in codelist", dataset="DM", variable="SEX", row=3)
    fs.add("SB-MAP-TRANSLIT", "notice", "spelled", dataset="ae.csv", variable="AETERM")
    fs.add("SB0901", "notice", "notes.txt was not read")
    rep = ValidationReport(findings=fs, datasets={
        "DM": DatasetSummary("DM", "Demographics", "SDTM", 5, 26),
        "RS": DatasetSummary("RS", "Disease Response", "SDTM", 9, 20)},
        kind="SDTM", rules_run=("SB0005",))
    got = [(d.name, d.kind, d.records, d.errors, d.warnings, d.notices)
           for d in rep.dataset_summaries()]
    assert got == [("DM", "SDTM", 5, 1, 0, 0), ("RS", "SDTM", 9, 0, 1, 0),
                   ("ae.csv", "raw form", None, 0, 0, 1)]
    html = render_html(rep.to_dict())
    assert "<p>SDTM datasets &middot;" in html          # no folder, no gate: no "in"


def test_values_wrap_between_pairs_and_ids_stay_whole():
    from validation.report import _ids_html, _value_html

    # what the cross-dataset rules report: one box per KEY=value, the "; " between boxes
    assert _value_html("AESTDY=366; AESTDTC=2013-05-09; RFSTDTC=2013-05-09") == (
        "<span class='kv'>AESTDY=366;</span> <span class='kv'>AESTDTC=2013-05-09;</span> "
        "<span class='kv'>RFSTDTC=2013-05-09</span>")
    assert _value_html("Total bilirubin 45 <umol/L>") == "Total bilirubin 45 &lt;umol/L&gt;"
    assert _value_html(None) == ""
    assert _ids_html(["CORE-000022", "SD1062", "SD1062"]) == \
        "<span>CORE-000022</span>, <span>SD1062</span>"


def _emitted_rule_ids() -> dict[str, str]:
    """Every rule id written as a literal in the code that reports findings (sdtm/, adam/,
    studybuild/, validation/), with where it is. A rule id built at run time (an f-string
    such as ``f"SB-MAP-{what}"``) would escape this, so it is reported as such; ``SB-`` +
    a CORE id is the CORE rules' own id, made from the CORE rule files."""
    pattern = re.compile(r"^(SB-(?!CORE-)[A-Z0-9]+(-[A-Z0-9]+)*|ADAM-[A-Z0-9]+(-[A-Z0-9]+)*"
                         r"|SB\d{4})$")
    found: dict[str, str] = {}
    for pkg in ("sdtm", "adam", "studybuild", "validation"):
        for path in sorted((REPO / pkg).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                        pattern.match(node.value):
                    found.setdefault(node.value, f"{path.relative_to(REPO)}:{node.lineno}")
                elif isinstance(node, ast.JoinedStr) and node.values and \
                        isinstance(node.values[0], ast.Constant) and \
                        re.match(r"^(SB-[A-Z]+|ADAM-)", str(node.values[0].value)):
                    found.setdefault(f"<f-string {node.values[0].value}...>",
                                     f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def test_every_rule_id_the_code_emits_has_catalogue_metadata():
    emitted = _emitted_rule_ids()
    # the families the build reports, so a change to the scan cannot pass by finding nothing
    for rid in ("SB-MAP-TRANSLIT", "SB-TR-SUMDIAM", "ADAM-RECIST-DISAGREE", "SB-RAW-SITE",
                "SB-SDTM-REQ", "SB-EXPORT-XPT", "SB0901"):
        assert rid in emitted
    reg = registry()
    missing = {rid: where for rid, where in emitted.items() if rid not in reg}
    assert missing == {}
    for rid in emitted:
        info = reg[rid]
        assert info.severity in ("error", "warning", "notice") and info.message, rid
        assert info.citation or info.kind == "engine", rid


def test_a_dataset_changed_after_the_build_is_said_and_a_bad_findings_file_is_a_notice(
        package, tmp_path):
    import shutil

    pkg = tmp_path / "copy"
    shutil.copytree(package["pkg"], pkg)
    sdtm = pkg / package["folders"]["SDTM"].relative_to(package["pkg"])
    ok = run("validate", str(sdtm))
    assert ok.exit_code == 0 and "SB0903" not in ok.output, ok.output
    # DM edited after the build: the build's findings are still reported, with a notice
    dm = (sdtm / "dm.xpt").read_bytes()
    (sdtm / "dm.xpt").write_bytes(dm.replace(b"SURU-STS-II-101-001", b"SURU-STS-II-101-999", 1))
    res = run("validate", str(sdtm), "--report", str(tmp_path / "rep"))
    data = json.loads((tmp_path / "rep" / "report.json").read_text())
    notes = [f for f in data["findings"] if f["rule_id"] == "SB0903"]
    assert [f["message"].split(" changed since the build")[0] for f in notes] == ["dm.xpt"]
    assert sum(f["rule_id"] == "SB-MAP-TRANSLIT" for f in data["findings"]) == 40
    assert res.exit_code == 1          # and the checks see the edit: AE's subject 001 has no DM
    assert "SB-CORE-000201" in res.output
    (sdtm / "dm.xpt").write_bytes(dm)
    # a findings file that is not one: a notice naming it, the checks still run
    trace = next(pkg.rglob("traceability/sdtm_findings.json"))
    trace.write_text('{"counts": {}}')
    res = run("validate", str(sdtm), "--report", str(tmp_path / "rep2"))
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "rep2" / "report.json").read_text())
    assert [f["message"] for f in data["findings"] if f["rule_id"] == "SB0901"] == [
        f"sdtm_findings.json was not read: {trace}: the build's findings file has no "
        "'findings' list; the build's findings are not included"]
    assert not any(f["rule_id"].startswith("SB-MAP") for f in data["findings"])


def test_dataset_json_kept_apart_uses_the_define_xml_it_names(package, tmp_path):
    """A package may keep Dataset-JSON outside the XPT folder (eCTD m5 holds only XPT); the
    files' metaDataRef then names the define.xml by a relative path, and validate follows it
    (inside the package only), giving the same findings as the XPT folder."""
    import hashlib
    import os
    import shutil

    pkg = tmp_path / "copy"
    shutil.copytree(package["pkg"], pkg)
    sdtm = pkg / package["folders"]["SDTM"].relative_to(package["pkg"])
    apart = pkg / "json-apart" / "sdtm"
    apart.mkdir(parents=True)
    manifest = json.loads((pkg / "manifest.json").read_text())
    ref = os.path.relpath(sdtm / "define.xml", apart)
    json_dir = next(p for p in sorted(pkg.rglob("dm.json"))         # beside the XPT, or apart
                    if "datasetJSONVersion" in p.read_text()[:4096]).parent
    for src in sorted(json_dir.glob("*.json")):
        doc = json.loads(src.read_text())
        doc["metaDataRef"] = ref
        data = json.dumps(doc).encode()
        (apart / src.name).write_bytes(data)
        manifest["files"].append({"path": (apart / src.name).relative_to(pkg).as_posix(),
                                  "sha256": hashlib.sha256(data).hexdigest()})
    (pkg / "manifest.json").write_text(json.dumps(manifest))
    got, out = validate_cli(apart, tmp_path / "rep")
    assert got["metadata_source"] == f"{(sdtm / 'define.xml').resolve()} (the Dataset-JSON " \
        "metaDataRef)"
    want, _ = validate_cli(package["folders"]["SDTM"], tmp_path / "rep-xpt")
    assert Counter(key(f) for f in got["findings"]) == Counter(key(f) for f in want["findings"])
    # 40 transliterated raw values, one incomplete SUMDIAM assessment, the MedDRA notice
    assert (got["summary"]["warning"], got["summary"]["notice"]) == (0, 42)
    # a reference that leaves the package is not followed
    for f in apart.glob("*.json"):
        doc = json.loads(f.read_text())
        doc["metaDataRef"] = os.path.relpath(tmp_path / "elsewhere" / "define.xml", apart)
        f.write_text(json.dumps(doc))
    (tmp_path / "elsewhere").mkdir()
    shutil.copy(sdtm / "define.xml", tmp_path / "elsewhere" / "define.xml")
    res = run("validate", str(apart), "--report", str(tmp_path / "rep2"))
    data = json.loads((tmp_path / "rep2" / "report.json").read_text())
    assert data["metadata_source"] == "implementation guides", res.output


def test_a_stage_folder_gives_its_own_findings(package, tmp_path):
    """`studybuild adam --out` writes its derivation findings as traceability/findings.csv;
    validate --study on that folder gives what the build's ADaM stage reported."""
    out = tmp_path / "adam"
    res = run("adam", "--sdtm", str(package["folders"]["SDTM"]), "--out", str(out),
              "--study", STUDY)
    assert res.exit_code == 0, res.output
    got, _ = validate_cli(out, tmp_path / "rep", "--study", STUDY)
    assert got["build_findings"] == [str(out / "traceability" / "findings.csv")]
    want = package["traceability"]["adam_findings.json"]["findings"]
    assert Counter(key(f) for f in got["findings"]) == Counter(key(f) for f in want)
    assert [dict(f["keys"]) for f in got["findings"]
            if f["rule_id"] == "ADAM-RECIST-DISAGREE"] == [
        {"USUBJID": "SURU-STS-II-101-006", "VISIT": "WEEK 12 TUMOR ASSESSMENT"}]
