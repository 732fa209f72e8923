"""The reviewer report page: content, figures, missing datasets, byte-identical rebuilds."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from studybuild.datasets import read_folder
from studybuild.report import compute_endpoints, write_report
from studybuild.report.writer import FIGURES, fmt_pct, fmt_rate
from studybuild.study import load_study

HAND = Path(__file__).parent / "data" / "report" / "handmade"
PHARMAVERSE = Path(__file__).parent / "data" / "pharmaverse" / "adam"


def _inventory(frames: dict[str, pd.DataFrame]) -> list[dict]:
    return [{"name": k, "kind": "ADaM", "records": len(v), "variables": v.shape[1],
             "errors": 1 if k == "ADAE" else 0, "warnings": 2, "notices": 0,
             "file": f"analysis/adam/datasets/{k.lower()}.xpt"} for k, v in frames.items()]


class _Text(HTMLParser):
    """Visible text of a page, and its <img> tags."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.imgs: list[dict] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script"):
            self._skip += 1
        if tag == "img":
            self.imgs.append(dict(attrs))

    def handle_endtag(self, tag):
        if tag in ("style", "script"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)

    @property
    def text(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.parts))


def _parse(path: Path) -> _Text:
    p = _Text()
    p.feed(path.read_text(encoding="utf-8"))
    return p


@pytest.fixture(scope="module")
def hand() -> dict[str, pd.DataFrame]:
    return read_folder(HAND).frames()


@pytest.fixture(scope="module")
def built(hand, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out") / "surufatinib-sts"
    write_report(hand, out, study=load_study("surufatinib-sts"), inventory=_inventory(hand),
                 validation_summary={"errors": 1, "warnings": 10, "gate": "overridden",
                                     "report": "validation/report.html"})
    return out


def test_layout_and_self_contained(built):
    html = (built / "report.html").read_text(encoding="utf-8")
    assert sorted(p.name for p in (built / "figures").iterdir()) == \
        sorted(f"{s}.png" for s in FIGURES)
    page = _parse(built / "report.html")
    # every figure is embedded (data URI) and its bytes equal the PNG written beside the page
    assert len(page.imgs) == 5
    for img in page.imgs:
        assert img["src"].startswith("data:image/png;base64,")
        assert img["alt"]
    embedded = {hashlib.sha256(base64.b64decode(i["src"].split(",", 1)[1])).hexdigest()
                for i in page.imgs}
    written = {hashlib.sha256(p.read_bytes()).hexdigest() for p in (built / "figures").iterdir()}
    assert embedded == written
    # no external resources: no stylesheet links, scripts or remote URLs
    assert "<link" not in html and "<script" not in html and "http://" not in html
    assert "https://" not in html


def test_numbers_on_the_page(built):
    text = _parse(built / "report.html").text
    # confirmed table first (CBOR): CR 1, PR 1, SD 4, PD 2, NE 1, missing 1 of 10; ORR 2/10
    # (2.5-55.6), DCR 6/10 (26.2-87.8); then unconfirmed (BOR): ORR 3/10 = 30.0% (6.7-65.2)
    ci = "95% CI (Clopper-Pearson)"
    assert ("Complete response (CR) 1 (10.0%) Partial response (PR) 1 (10.0%) Stable disease "
            "(SD) 4 (40.0%) Progressive disease (PD) 2 (20.0%) Not evaluable (NE) 1 (10.0%) "
            "Missing (no response assessment) 1 (10.0%) Objective response rate (CR + PR) "
            f"2 (20.0%) {ci} 2.5–55.6 % Disease control rate (CR + PR + SD) 6 (60.0%) "
            f"{ci} 26.2–87.8 %") in text
    assert f"Objective response rate (CR + PR) 3 (30.0%) {ci} 6.7–65.2 %" in text
    assert text.index("(ADRS PARAMCD = CBOR)") < text.index("(ADRS PARAMCD = BOR)")
    # PFS median 200 days = 6.6 months, CI 45 days = 1.5 months to NE; OS 330 d = 10.8 mo
    assert "DRUG X 100 MG QD 10 6 4 6.6 1.5–NE 200" in text
    assert "DRUG X 100 MG QD 10 6 4 10.8 3.0–NE 330" in text
    # DoR: 3 responders, 2 events, median 258 days = 8.5 months
    assert "DRUG X 100 MG QD 3 2 1 8.5 6.8–NE 258" in text
    # TEAE: any 6/9, grade >= 3 3/9; diarrhoea: grades 1, 2, 3 one subject each (1/9 =
    # 11.1%), none at 4 or 5, 1 without a grade; any grade 4 (44.4%), grade >= 3 1 (11.1%)
    assert "Any TEAE 6 (66.7%)" in text
    assert "Grade ≥ 3 TEAE 3 (33.3%)" in text
    assert ("Grade 1 Grade 2 Grade 3 Grade 4 Grade 5 Grade missing Any grade Grade ≥ 3"
            in text)
    assert ("DIARRHOEA 1 (11.1%) 1 (11.1%) 1 (11.1%) 0 0 1 (11.1%) 4 (44.4%) 1 (11.1%)"
            in text)
    # study summary from study.yaml and the gate-override banner
    assert "SURU-STS-II" in text and "Phase II trial" in text
    assert "The export gate was overridden" in text
    assert "not available" not in text


def test_inventory_status(built):
    text = _parse(built / "report.html").text
    assert "ADAE ADaM 13 10 1 2 0 errors analysis/adam/datasets/adae.xpt" in text
    assert "ADSL ADaM 11 12 0 2 0 warnings" in text


def test_rebuild_is_byte_identical_with_manifest(hand, built, tmp_path):
    from studybuild.manifest import verify_manifest, write_manifest

    again = tmp_path / "surufatinib-sts"
    write_report(hand, again, study=load_study("surufatinib-sts"), inventory=_inventory(hand),
                 validation_summary={"errors": 1, "warnings": 10, "gate": "overridden",
                                     "report": "validation/report.html"})
    for rel in ["report.html"] + [f"figures/{s}.png" for s in FIGURES]:
        assert (again / rel).read_bytes() == (built / rel).read_bytes(), rel
    # and the manifests of the two folders are byte-identical too
    kw = dict(tool_version="0.1.0", spec_files=[load_study("surufatinib-sts").folder /
                                                "study.yaml"],
              ct_version="2025-03-28", gate_overridden=True)
    m1 = write_manifest(built, **kw).read_bytes()
    m2 = write_manifest(again, **kw).read_bytes()
    assert m1 == m2 and verify_manifest(again) == []
    (built / "manifest.json").unlink()


def test_png_has_no_software_or_time_chunks(built):
    data = (built / "figures" / "km_pfs.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        chunks.append(data[pos + 4:pos + 8])
        pos += 12 + n
    assert b"tIME" not in chunks
    assert b"Software" not in data


def test_missing_datasets_say_not_available(hand, tmp_path):
    out = tmp_path / "partial"
    write_report({"ADSL": hand["ADSL"]}, out, study=None, inventory=[])
    text = _parse(out / "report.html").text
    for msg in ("ADRS is not available: response rates cannot be computed.",
                "ADTTE is not available: progression-free survival cannot be estimated.",
                "ADTTE is not available: overall survival cannot be estimated.",
                "ADTTE is not available: duration of response cannot be estimated.",
                "ADTR is not available: the waterfall plot cannot be drawn.",
                "ADAE is not available: adverse events cannot be tabulated.",
                "No dataset inventory was given to the report."):
        assert msg in text, msg
    assert "HAND01: reviewer report" in text                 # default title from ADSL
    # ADSL alone still gives the swimmer plot (time on treatment) and nothing else
    assert sorted(p.name for p in (out / "figures").iterdir()) == ["swimmer.png"]
    # no ADSL at all: still a page, summary from nothing, every section says why
    empty = tmp_path / "empty"
    write_report({}, empty, study=None, inventory=[])
    text = _parse(empty / "report.html").text
    assert "ADSL is not available, so analysis populations cannot be shown" in text
    assert not (empty / "figures").exists()


def test_stale_figures_are_removed(hand, built, tmp_path):
    import shutil

    out = tmp_path / "s"
    shutil.copytree(built, out)
    assert (out / "figures" / "waterfall.png").exists()
    write_report({k: v for k, v in hand.items() if k != "ADTR"}, out, study=None,
                 inventory=[])
    assert not (out / "figures" / "waterfall.png").exists()
    assert (out / "figures" / "km_pfs.png").exists()


def test_escaping_and_summary_from_adsl_and_ts(hand, tmp_path):
    # no study.yaml: the summary comes from ADSL and a TS frame; data and title are escaped
    adsl = hand["ADSL"].assign(TRT01P=hand["ADSL"]["TRT01P"].str.replace(
        "DRUG X", "<b>DRUG</b> & X", regex=False))
    ts = pd.DataFrame({"TSPARMCD": ["TITLE", "TPHASE"],
                       "TSVAL": ["A hand-built study", "PHASE II TRIAL"]})
    out = tmp_path / "esc"
    write_report({**hand, "ADSL": adsl, "TS": ts}, out, study=None, inventory=[],
                 title="A <test>")
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<b>DRUG</b>" not in html and "&lt;b&gt;DRUG&lt;/b&gt; &amp; X" in html
    assert "<title>A &lt;test&gt;</title>" in html
    text = _parse(out / "report.html").text
    assert "Title A hand-built study" in text and "Phase PHASE II TRIAL" in text
    assert "Subjects 11 in ADSL" in text


def test_pharmaverse_multi_arm_page(tmp_path):
    frames = read_folder(PHARMAVERSE).frames()
    ep = compute_endpoints(frames)
    out = tmp_path / "pv"
    write_report(frames, out, study=None, inventory=_inventory(frames), endpoints=ep)
    text = _parse(out / "report.html").text
    # multi-arm response table: a column per group and Total; Total ORR 4/254 = 1.6%
    # (0.4-4.0); unconfirmed only (the pharmaverse ADRS has BOR, no CBOR)
    assert re.search(r"Objective response rate \(CR \+ PR\)( \S+ \([\d.]+%\)| 0){3} "
                     r"4 \(1\.6%\) 95% CI \(Clopper-Pearson\)( \S+ %){3} 0\.4–4\.0 %", text)
    assert "ADSL has no FASFL; the efficacy population is SAFFL = 'Y'." in text
    # TEAEs tabulated by severity when there is no CTCAE grade
    assert "By system organ class and preferred term: any grade and severe" in text


def test_formatting_helpers():
    assert fmt_pct(3, 10) == "3 (30.0%)" and fmt_pct(0, 10) == "0" and fmt_pct(2, 0) == "2"
    assert fmt_rate(0.3, 0.0667, 0.6525) == ("30.0%", "6.7–65.2")
    assert fmt_rate(float("nan"), 0, 0) == ("—", "—")
