"""The bad-input corpus (tests/bad_inputs/): every case runs through the CLI and must give the
exit code of the contract, a message naming the file, row and column (or spec line) and what
to do, never a traceback or an internal error, and, where a build ran, accounting that adds up
(every raw row read is mapped or excluded with a reason). docs/bad-input.md must show the
messages the code really gives.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bad_inputs import corpus

CASES = corpus.cases()
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return corpus.make_base(tmp_path_factory.mktemp("bad-input-base"))


@pytest.fixture(scope="module")
def outcomes(request, base, tmp_path_factory):
    """Every selected case, run once, two at a time (corpus.run_cases); all of them when the
    docs page is checked."""
    items = [i for i in request.session.items if i.module is request.module]
    wanted = {i.callspec.params["case"].name for i in items
              if hasattr(i, "callspec") and "case" in i.callspec.params}
    if any(i.name.startswith("test_docs_") for i in items):
        wanted = {c.name for c in CASES}
    return corpus.run_cases([c for c in CASES if c.name in wanted], base,
                            tmp_path_factory.mktemp("bad-input-cases"))


def test_corpus_has_every_case_the_issue_lists():
    names = {c.name for c in CASES}
    assert {"missing_form_file", "missing_required_column", "empty_file", "header_only_file",
            "utf8_bom", "crlf_line_ends", "latin1_text", "chinese_free_text",
            "value_over_200_bytes", "impossible_date", "partial_dates",
            "subject_not_enrolled", "duplicate_subject_ids", "duplicated_log_lines",
            "bad_dose", "undeclared_unit", "unknown_ct_term", "spec_yaml_syntax_error",
            "spec_unknown_algorithm", "spec_unknown_field", "spec_unknown_key",
            "spec_not_sdtmig_variable", "spec_missing_required_variable", "spec_path_escape",
            "xpt_corrupted", "xpt_truncated", "xpt_not_xpt", "define_xxe",
            "define_billion_laughs"} <= names
    for c in CASES:
        assert c.readme and "\n" not in c.readme, f"{c.name}: README.md must be one line"
        assert c.expect["exit"] in (0, 1, 2)


def _xpt(path: Path) -> pd.DataFrame:
    from studybuild.export.xpt import read_xpt

    return read_xpt(path)[0]


def _record_values(o: corpus.Outcome, dataset: str, form: str, variable: str,
                   rows: list[int]) -> dict[int, object]:
    """Value of ``variable`` in the SDTM record that raw row ``form``/row maps to."""
    frame = _xpt(o.workdir / "out" / f"{dataset.lower()}.xpt")
    lin = o.lineage[(o.lineage["DOMAIN"] == dataset) & (o.lineage["FORM"] == form)]
    out = {}
    for r in rows:
        rec = lin.loc[lin["RAW_ROW"] == r, "RECORD"]
        assert len(rec) >= 1, f"raw {form} row {r} is in no {dataset} record"
        v = frame[variable].iloc[int(rec.iloc[0]) - 1]
        out[r] = None if pd.isna(v) else v
    return out


def check_accounting(o: corpus.Outcome) -> None:
    """Rows read (counted here with the csv module) = mapped + excluded, per form; every
    excluded row has a reason; no row is both mapped and excluded."""
    acc = o.accounting
    assert acc is not None, "a build that ran must write traceability/accounting.csv"
    counted = corpus.raw_row_counts(o.workdir / "raw")
    for _, r in acc.iterrows():
        assert r["ROWS_READ"] == r["ROWS_MAPPED"] + r["ROWS_EXCLUDED"], r.to_dict()
        assert r["ROWS_READ"] == counted[Path(r["FILE"]).stem], (r["FILE"], counted)
    ex = o.exclusions
    assert ex["REASON"].notna().all() and (ex["REASON"].str.strip() != "").all()
    mapped = set(zip(o.lineage["FORM"], o.lineage["RAW_ROW"]))
    excluded = set(zip(ex["FORM"], ex["RAW_ROW"]))
    assert not mapped & excluded
    for form, n in counted.items():
        if form not in set(acc["FORM"]):
            continue
        assert {r for f, r in mapped | excluded if f == form} == set(range(1, n + 1)), form


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case, outcomes):
    o = outcomes[case.name]
    everything = o.stdout + o.stderr
    assert "Traceback" not in everything and o.exception is None, everything
    assert o.exit_code != 3 and "internal error" not in everything, everything
    assert o.exit_code == case.expect["exit"], (o.exit_code, everything)
    msg = o.message
    for part in case.expect.get("message", []):
        assert part in msg, f"{part!r} not in {msg!r}"
    for part in case.expect.get("not_in_output", []):
        assert part not in everything
    line = corpus.spec_line(case, o.workdir)
    if line:
        assert msg.startswith(line), f"{msg!r} does not start with {line!r}"
    if o.exit_code == 2:
        # one line on stderr, naming a file of the input
        errors = [x for x in o.stderr.splitlines() if x.strip()]
        assert len(errors) == 1 and errors[0].startswith("studybuild: error: "), o.stderr
        assert re.search(r"(raw|data|specs)/\S+", msg), msg
        # ... and says what to do
        assert re.search(r"\b(export|re-export|save|declare|check|add|fix|remove|rename|"
                         r"correct|copy|see docs|did you mean|must)\b", msg, re.I), msg
        assert not (o.workdir / "out").exists(), "nothing is written when the input is unreadable"
        return
    # a build ran: accounting adds up, the expected findings are there (and printed), nothing
    # else went wrong on the otherwise clean study
    check_accounting(o)
    for spec in case.expect.get("findings", []):
        hits = o.matching_findings(spec)
        assert hits, f"no finding {spec} in {[f['rule_id'] for f in o.findings]}"
        if hits[0]["severity"] != "notice":
            assert hits[0]["message"] in o.stdout      # the command prints it
            assert re.search(r"\b(correct|fix|declare|add|map|keep)\b", hits[0]["message"]), \
                hits[0]["message"]                      # and says what to do
        if "row" in spec and spec["dataset"].endswith(".csv"):
            # the message itself names the raw form, the field and the row
            text = hits[0]["message"]
            assert Path(spec["dataset"]).stem in text and f"row {spec['row']}" in text, text
            assert spec.get("variable", "") in text, text
    assert not o.unexpected_findings(), o.unexpected_findings()
    x = case.expect.get("exclusion")
    if x:
        got = o.matching_exclusions()
        assert len(got) == 1 and x["reason"] in got["REASON"].iloc[0], got
    for name, n in (case.expect.get("rows_read") or {}).items():
        assert int(o.accounting.loc[o.accounting["FORM"] == name, "ROWS_READ"].iloc[0]) == n
    for name, n in (case.expect.get("records") or {}).items():
        assert len(_xpt(o.workdir / "out" / f"{name.lower()}.xpt")) == n
    v = case.expect.get("values")
    if v:
        want = {int(k): val for k, val in v["rows"].items()}
        assert _record_values(o, v["dataset"], v["form"], v["variable"], list(want)) == want
    s = case.expect.get("split_text")
    if s:
        check_split_text(o, s)


def check_split_text(o: corpus.Outcome, s: dict) -> None:
    """The text over 200 bytes is AETERM + SUPPAE AETERM1, exactly the raw value."""
    import csv

    with open(o.workdir / "raw" / f"{s['form']}.csv", newline="", encoding="utf-8") as f:
        raw = list(csv.DictReader(f))[s["row"] - 1][s["column"]]
    assert len(raw.encode()) > 200
    first = _record_values(o, s["dataset"], s["form"], s["variable"], [s["row"]])[s["row"]]
    assert first == raw[:200]
    supp = _xpt(o.workdir / "out" / f"supp{s['dataset'].lower()}.xpt")
    rest = supp.loc[supp["QNAM"] == f"{s['variable'][:7]}1", "QVAL"].tolist()
    assert rest == [raw[200:]]


def test_cases_hold_no_bulky_files():
    """The corpus is small on disk: inputs are made from the simulated base by the ops."""
    total = sum(p.stat().st_size for p in corpus.HERE.rglob("*") if p.is_file())
    assert total < 64_000, total


def test_docs_bad_input_page_shows_the_real_messages(outcomes):
    """docs/bad-input.md lists every case with the message the code gives today
    (`python tests/bad_inputs/corpus.py` rewrites it)."""
    doc = corpus.DOC.read_text(encoding="utf-8")
    expected = corpus.render_doc([outcomes[c.name] for c in CASES])
    assert doc == expected, \
        "docs/bad-input.md is out of date: run python tests/bad_inputs/corpus.py"


def test_real_command_line_gives_one_line_not_a_traceback(tmp_path):
    """The installed console script (not the in-process runner): a missing raw folder and a
    file that is not XPT end with one line on stderr and exit 2."""
    fake = tmp_path / "data"
    fake.mkdir()
    (fake / "dm.xpt").write_text("STUDYID,USUBJID\nS1,S1-001\n")
    for args in (["sdtm", "--study", "surufatinib-sts", "--raw", str(tmp_path / "nope"),
                  "--out", str(tmp_path / "out")], ["validate", str(fake)]):
        res = subprocess.run([sys.executable, "-m", "studybuild", *args], capture_output=True,
                             text=True, cwd=REPO, timeout=120)
        assert res.returncode == 2, res.stderr
        assert "Traceback" not in res.stderr
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("studybuild: error: "), res.stderr
