"""The submission part of the package as FDA's eCTD module 5 expects it.

`studybuild demo` runs twice (6 subjects a study, same seed) into two folders. The first
package is checked: m5/datasets/ID holds exactly the XPT files, define.xml with its
stylesheet, define.html and the reviewer's guide of each of SDTM and ADaM; everything else
(Dataset-JSON, reports, traceability, figures, raw data, manifest) is beside m5. The guides'
text is read back with pypdf: the PHUSE templates' section headings, the study's facts, every
remaining finding. The second package must be byte-identical to the first.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from pypdf import PdfReader

from studybuild.cli import cli
from studybuild.export.layout import adam_dir, layout, sdtm_dir
from studybuild.paths import study_ids

SUBJECTS = "6"
COMPANIONS = {"define.xml", "define2-1.xsl", "define.html"}

CSDRG_HEADINGS = [
    "1 Introduction", "1.1 Purpose", "1.2 Acronyms",
    "1.3 Study Data Standards and Dictionary Inventory",
    "1.4 Source Data Used for Dataset Creation",
    "2 Protocol Description", "2.1 Protocol Number and Title", "2.2 Protocol Design",
    "2.3 Trial Design Datasets",
    "3 Subject Data Description", "3.1 Overview", "3.2 Annotated CRFs",
    "3.3 SDTM Subject Domains", "3.4 Use of Supplemental Qualifiers",
    "4 Data Conformance Summary", "4.1 Conformance Inputs", "4.2 Issues Summary",
    "4.3 Additional Conformance Details",
    "Appendix I: Inclusion/Exclusion Criteria"]
ADRG_HEADINGS = [
    "1 Introduction", "1.1 Purpose", "1.2 Acronyms",
    "1.3 Study Data Standards and Dictionary Inventory",
    "1.4 Source Data Used for Analysis Dataset Creation",
    "2 Protocol Description", "2.1 Protocol Number and Title", "2.2 Protocol Design",
    "3 Analysis Considerations Related to Multiple Analysis Datasets",
    "3.1 Comparison of SDTM and ADaM Content", "3.2 Core Variables",
    "3.3 Treatment Variables", "3.4 Subject Issues that Require Special Analysis Rules",
    "3.5 Use of Visit Windowing, Unscheduled Visits, and Record Selection",
    "3.6 Imputation/Derivation Methods",
    "4 Analysis Data Description", "4.1 Overview", "4.2 Analysis Data Sets",
    "5 Data Conformance Summary", "5.1 Conformance Inputs", "5.2 Issues Summary",
    "6 Submission of Programs", "6.1 Description", "6.2 ADaM Programs",
    "6.3 Analysis Output Programs"]


def demo(out: Path) -> Path:
    res = CliRunner().invoke(cli, ["demo", "--out", str(out), "--subjects", SUBJECTS])
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    return out


@pytest.fixture(scope="module")
def packages(tmp_path_factory) -> tuple[Path, Path]:
    return (demo(tmp_path_factory.mktemp("ectd-a")), demo(tmp_path_factory.mktemp("ectd-b")))


def tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def pdf_text(path: Path) -> tuple[str, list[str]]:
    """All text of a PDF and its bookmarks (outline titles, in order)."""
    reader = PdfReader(path)
    text = "\n".join(page.extract_text() for page in reader.pages)
    marks: list[str] = []

    def walk(items):
        for item in items:
            if isinstance(item, list):
                walk(item)
            else:
                marks.append(item.title)
    walk(reader.outline)
    return text, marks


def datasets_of(pkg: Path, kind: str) -> set[str]:
    report = json.loads((pkg / "validation" / "report.json").read_text())
    return {d["name"] for d in report["datasets"] if d["kind"] == kind}


@pytest.mark.parametrize("study", study_ids())
def test_m5_holds_exactly_the_submission_files(packages, study):
    pkg = packages[0] / study
    lay = layout(study)
    assert sdtm_dir(pkg) == pkg / "m5" / "datasets" / study / "tabulations" / "sdtm"
    assert adam_dir(pkg) == pkg / "m5" / "datasets" / study / "analysis" / "adam" / "datasets"
    sdtm = datasets_of(pkg, "SDTM")
    adam = datasets_of(pkg, "ADaM")
    assert {"DM", "AE", "EX", "TU", "TR", "RS", "TS", "TA", "TE", "TV", "TI"} <= sdtm
    assert adam == {"ADSL", "ADRS", "ADTTE", "ADTR", "ADAE"}
    m5 = {k for k in tree(pkg) if k.startswith("m5/")}
    expected = {f"{lay.sdtm}/{n.lower()}.xpt" for n in sdtm}
    expected |= {f"{lay.sdtm}/{f}" for f in COMPANIONS | {"csdrg.pdf"}}
    expected |= {f"{lay.adam}/{n.lower()}.xpt" for n in adam}
    expected |= {f"{lay.adam}/{f}" for f in COMPANIONS | {"adrg.pdf"}}
    assert m5 == expected
    # Dataset-JSON beside m5, one per XPT, pointing back to the define.xml in m5
    rest = set(tree(pkg)) - m5
    js = {k for k in rest if k.startswith("dataset-json/")}
    assert js == ({f"dataset-json/sdtm/{n.lower()}.json" for n in sdtm} |
                  {f"dataset-json/adam/{n.lower()}.json" for n in adam})
    doc = json.loads((pkg / "dataset-json" / "adam" / "adsl.json").read_text())
    assert (pkg / "dataset-json" / "adam" / doc["metaDataRef"]).resolve() == \
        (adam_dir(pkg) / "define.xml").resolve()
    # the project's own outputs, none inside m5
    tops = {k.split("/")[0] for k in rest}
    assert tops == {"dataset-json", "validation", "traceability", "figures", "raw",
                    "report.html", "manifest.json"}


@pytest.mark.parametrize("study", study_ids())
def test_define_html_is_the_rendered_define_with_every_dataset(packages, study):
    from studybuild.define import render_html

    pkg = packages[0] / study
    for folder, kind in ((sdtm_dir(pkg), "SDTM"), (adam_dir(pkg), "ADaM")):
        html = (folder / "define.html").read_text(encoding="utf-8")
        assert html == render_html(folder / "define.xml")
        for name in datasets_of(pkg, kind):
            assert f"<h2>{name}" in html, name
            assert f'href="{name.lower()}.xpt"' in html, name


def test_csdrg_has_the_phuse_sections_and_the_study_facts(packages):
    study = "surufatinib-sts"
    pkg = packages[0] / study
    text, marks = pdf_text(sdtm_dir(pkg) / "csdrg.pdf")
    assert marks == CSDRG_HEADINGS
    lines = text.splitlines()
    for h in CSDRG_HEADINGS:
        assert h in lines, h
    assert "Clinical Study Data Reviewer's Guide" in text
    assert "SURU-STS-II" in text and "NCT06110650" in text
    assert "SDTMIG 3.4" in text and "CDISC SDTM CT 2025-03-28" in text
    assert "MedDRA 20.1" in text and "NCI CTCAE v5.0" in text
    assert "Data cut-off: 2025-11-27" in text
    # every subject domain and its SUPP dataset, every criterion of study.yaml
    for name in datasets_of(pkg, "SDTM"):
        assert name in text, name
    assert "INCL07" in text and "EXCL04" in text
    assert "No dataset was split" in text


@pytest.mark.parametrize("study", study_ids())
def test_guides_list_every_finding_with_its_explanation(packages, study):
    pkg = packages[0] / study
    report = json.loads((pkg / "validation" / "report.json").read_text())
    sdtm, _ = pdf_text(sdtm_dir(pkg) / "csdrg.pdf")
    adrg, _ = pdf_text(adam_dir(pkg) / "adrg.pdf")
    flat_s, flat_a = " ".join(sdtm.split()), " ".join(adrg.split())
    n_sdtm = n_adam = 0
    for f in report["findings"]:
        is_adam = f["dataset"].startswith("AD") or f["rule_id"].startswith("ADAM-")
        target = flat_a if is_adam else flat_s
        n_adam += is_adam
        n_sdtm += not is_adam
        # messages wrap inside table cells: compare with whitespace collapsed, the first
        # 30 characters (a hyphenated word may break differently)
        assert " ".join(f["message"].split())[:30] in target, f["message"]
    assert n_sdtm and n_adam
    assert f"{n_sdtm} finding(s) remain in the SDTM datasets" in flat_s
    assert f"{n_adam} finding(s) remain in the ADaM datasets" in flat_a
    assert "No findings baseline was given" in flat_s
    assert flat_s.count("No explanation in the findings baseline.") == n_sdtm


def test_adrg_has_the_phuse_sections_and_the_derivation_choices(packages):
    pkg = packages[0] / "surufatinib-sts"
    text, marks = pdf_text(adam_dir(pkg) / "adrg.pdf")
    assert [m for m in marks if not m.startswith("4.2.")] == ADRG_HEADINGS
    flat = " ".join(text.split())
    assert "Analysis Data Reviewer's Guide" in flat
    # specs/studies/surufatinib-sts/adam: fda2018 censoring, confirmed response (CRSP),
    # study.yaml: confirmation >= 28 days, SD >= 42 - 7 = 35 days, 42 +/- 7 assessments
    assert "Censoring rule set: fda2018" in flat
    assert "at least 28 days after it" in flat and "at least 35 days after TRTSDT" in flat
    assert "2 x 42 + 7 = 91 days" in flat
    assert "use the confirmed response (CRSP)" in flat
    assert "TRTEDT = the data cut-off (2025-11-27)" in flat
    for flag in ("ITTFL", "FASFL", "SAFFL", "EFFFL"):
        assert flag in flat
    for name in ("ADSL", "ADRS", "ADTTE", "ADTR", "ADAE"):
        assert name in flat


def test_package_is_byte_identical_on_rebuild(packages):
    first, second = packages
    a, b = tree(first), tree(second)
    assert any(k.endswith("/csdrg.pdf") for k in a) and any(k.endswith("/adrg.pdf") for k in a)
    assert a == b


def test_many_findings_are_listed_by_check_with_counts():
    # 3 findings over a limit of 2: grouped by check, dataset, variable and explanation;
    # two of them share all four (count 2), one has the baseline's reason (count 1)
    from studybuild.findings import Finding, Severity
    from studybuild.guides.common import issues_details
    from studybuild.guides.pdf import Document, Table

    def f(row: int, accepted: str | None = None) -> Finding:
        return Finding(rule_id="SB0005", severity=Severity.ERROR, dataset="DM",
                       variable="SEX", message=f"SEX not in C66731 (row {row})", row=row,
                       accepted=accepted)
    doc = Document("T")
    issues_details(doc, [f(3), f(1), f(2, "collected as MLE; see section 3.1")], limit=2)
    table = next(b for b in doc.blocks if isinstance(b, Table))
    assert table.rows == (        # in the order of their first finding (by message)
        ("SB0005", "error", "DM", "SEX", "2", "SEX not in C66731 (row 1)",
         "No explanation in the findings baseline."),
        ("SB0005", "error", "DM", "SEX", "1", "SEX not in C66731 (row 2)",
         "collected as MLE; see section 3.1"))
    doc = Document("T")
    issues_details(doc, [f(3), f(1)], limit=2)           # at the limit: one row each
    rows = next(b for b in doc.blocks if isinstance(b, Table)).rows
    assert [r[4] for r in rows] == ["SEX not in C66731 (row 1)", "SEX not in C66731 (row 3)"]


@pytest.mark.parametrize("study", study_ids())
def test_guides_embed_every_font_and_are_dated_at_the_cutoff(packages, study):
    from studybuild.study import load_study

    pkg = packages[0] / study
    cutoff = load_study(study).dates.data_cutoff.strftime("D:%Y%m%d000000+00'00'")
    for path in (sdtm_dir(pkg) / "csdrg.pdf", adam_dir(pkg) / "adrg.pdf"):
        reader = PdfReader(path)
        assert reader.metadata["/CreationDate"] == cutoff == reader.metadata["/ModDate"]
        fonts = {}
        for page in reader.pages:
            for name, ref in page["/Resources"]["/Font"].items():
                font = ref.get_object()
                fonts[str(font["/BaseFont"])] = font
        # DejaVu Sans subsets, embedded (FDA asks for embedded fonts); no base-14 reference
        assert sorted(fonts) == ["/AAAAAA+DejaVuSans", "/AAAAAA+DejaVuSans-Bold"], sorted(fonts)
        for font in fonts.values():
            desc = font["/FontDescriptor"] if "/FontDescriptor" in font else \
                font["/DescendantFonts"][0].get_object()["/FontDescriptor"]
            assert "/FontFile2" in desc.get_object()


def test_validate_reads_the_m5_folders_as_they_are(packages, tmp_path):
    pkg = packages[0] / "surufatinib-sts"
    for folder, kind in ((sdtm_dir(pkg), "SDTM"), (adam_dir(pkg), "ADaM")):
        out = tmp_path / kind
        res = CliRunner().invoke(cli, ["validate", str(folder), "--report", str(out)])
        assert "Traceback" not in res.output, res.output
        assert res.exit_code == 0, res.output
        report = json.loads((out / "report.json").read_text())
        assert report["kind"] == kind
        # the datasets read (rows for raw forms that build findings name are not datasets)
        assert {d["name"] for d in report["datasets"] if d["kind"] == kind} == \
            datasets_of(pkg, kind)


def test_csdrg_gives_the_baselines_reason_for_an_accepted_finding(packages):
    # the cSDRG's conformance tables from the SDTM in m5: an accepted finding keeps its row,
    # counted as accepted, with the baseline's reason as its explanation
    from studybuild.findings import Finding, Severity
    from studybuild.guides.csdrg import build_csdrg
    from studybuild.guides.pdf import Table
    from studybuild.pipeline import read_sdtm
    from studybuild.study import load_study
    from validation.baseline import BaselineResult

    sdtm = read_sdtm("surufatinib-sts", sdtm_dir(packages[0] / "surufatinib-sts"))
    reason = "MedDRA SOC codes were not collected; see section 1.3"
    findings = [Finding(rule_id="SB0006", severity=Severity.WARNING, dataset="AE",
                        variable="AEBDSYCD", message="AEBDSYCD is missing", accepted=reason),
                Finding(rule_id="SB-TR-SUMDIAM", severity=Severity.NOTICE, dataset="TR",
                        variable="TRSTRESN", message="1 assessment(s) lack a measurement")]
    doc = build_csdrg(load_study("surufatinib-sts"), sdtm, findings=findings,
                      baseline=BaselineResult("accepted.yaml", 1, 1, ()))
    tables = [b for b in doc.blocks if isinstance(b, Table)]
    summary = next(t for t in tables if t.header[:2] == ("Check ID", "Severity")
                   and "Accepted" in t.header)
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in summary.rows] == [
        ("SB0006", "warning", "AE", "1", "1"), ("SB-TR-SUMDIAM", "notice", "TR", "1", "0")]
    details = next(t for t in tables if "Explanation" in t.header)
    assert [(r[0], r[5]) for r in details.rows] == [
        ("SB0006", reason), ("SB-TR-SUMDIAM", "No explanation in the findings baseline.")]
    text = " ".join(b.text for b in doc.blocks if hasattr(b, "text") and not hasattr(b, "level"))
    assert "Findings baseline: accepted.yaml (1 entries, 1 findings accepted)" in text
    assert "2 finding(s) remain in the SDTM datasets: 0 error(s), 0 warning(s), 1 notice(s) " \
        "not accepted, and 1 accepted by the findings baseline." in text
    # no traceability/ beside the m5 folder: the data flow says so rather than guess
    assert "The accounting of raw rows is not part of this package" in text


def test_a_study_id_that_cannot_name_an_ectd_folder_is_refused():
    from studybuild.errors import UsageError
    from studybuild.export.layout import ectd_folder_name

    assert ectd_folder_name("SURU-STS-2") == "suru-sts-2"      # eCTD folders are lower case
    for bad in ("suru_sts", "suru sts", "../x", "-x", "x" * 65):
        with pytest.raises(UsageError, match="cannot name an eCTD folder"):
            ectd_folder_name(bad)
