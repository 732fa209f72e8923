"""README.md and docs/ show only generated output, and it is current.

Every output a page shows (console output, key numbers, report figures) sits between
``<!-- generated:NAME -->`` markers and is produced by ``tools/make_docs.py`` from a fresh demo
build; this test builds it once (module scope: no other test builds the whole demo) and fails
listing every block or figure that differs, with the fix: ``make docs``. Browser screenshots
are not checked (a fresh machine has no Chromium).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_make_docs():
    spec = importlib.util.spec_from_file_location("make_docs", ROOT / "tools" / "make_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_docs = _load_make_docs()


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return make_docs.Work(tmp_path_factory.mktemp("make-docs"))


def test_generated_blocks_and_figures_are_current(work):
    stale = make_docs.check(work)
    assert not stale, "stale generated docs (run `make docs`):\n" + "\n".join(stale)


def test_screenshots_are_not_part_of_the_check(work):
    checked = {p.name for p in make_docs.planned(work)}
    assert set(make_docs.FIGURES) <= checked
    assert not set(make_docs.SCREENSHOTS) & checked


def test_no_absolute_path_or_timing_in_generated_blocks():
    for page in make_docs.doc_files():
        for m in make_docs.MARKER.finditer(page.read_text(encoding="utf-8")):
            body = m["body"]
            assert "/tmp/" not in body and str(ROOT) not in body, (page.name, m["name"])
            # progress lines carry no seconds ("ID: step   1.2 s  detail")
            assert not re.search(r"(?m)^\S+: [a-z ]+ \d+\.\d s  ", body), (page.name, m["name"])


def test_every_marker_has_a_generator_and_every_generator_is_used():
    used = set()
    for page in make_docs.doc_files():
        text = page.read_text(encoding="utf-8")
        names = [m["name"] for m in make_docs.MARKER.finditer(text)]
        assert len(names) == len(re.findall(r"<!-- generated:[a-z0-9-]+ -->", text)), page.name
        used |= set(names)
    assert used == set(make_docs.GENERATORS)


def test_timing_column_is_dropped_keeping_the_alignment():
    # the pipeline's format: f"{study}: {step:<13} {seconds:6.1f} s  {detail}"
    line = "\n".join([f"surufatinib-sts: {'check sdtm':<13} {12.3:6.1f} s  0 errors, 0 warnings",
                      f"surufatinib-sts: {'export':<13} {125.0:6.1f} s  27 datasets",
                      "  package: demo-out/surufatinib-sts  (report.html)"])
    assert make_docs.TIMING.sub(r"\1 ", line) == (
        "surufatinib-sts: check sdtm    0 errors, 0 warnings\n"
        "surufatinib-sts: export        27 datasets\n"
        "  package: demo-out/surufatinib-sts  (report.html)")


def test_render_replaces_only_the_marked_block(monkeypatch, tmp_path):
    monkeypatch.setattr(make_docs, "GENERATORS", {"x": lambda w: "new\n"})
    page = "prose\n<!-- generated:x -->\nold\n<!-- /generated:x -->\nmore prose\n"
    assert make_docs.render_page(page, make_docs.Work(tmp_path)) == (
        "prose\n<!-- generated:x -->\nnew\n<!-- /generated:x -->\nmore prose\n")


def test_an_indented_block_is_generated_indented(monkeypatch, tmp_path):
    monkeypatch.setattr(make_docs, "GENERATORS", {"x": lambda w: "```\na\n\nb\n```\n"})
    page = "- item:\n\n  <!-- generated:x -->\n  old\n  <!-- /generated:x -->\n"
    assert make_docs.render_page(page, make_docs.Work(tmp_path)) == (
        "- item:\n\n  <!-- generated:x -->\n  ```\n  a\n\n  b\n  ```\n  <!-- /generated:x -->\n")


@pytest.mark.parametrize("page, message", [
    ("<!-- generated:nope -->\n<!-- /generated:nope -->\n", "unknown generated block"),
    ("<!-- generated:x -->\nno end\n", "no matching"),
])
def test_render_refuses_unknown_or_unclosed_markers(monkeypatch, tmp_path, page, message):
    monkeypatch.setattr(make_docs, "GENERATORS", {"x": lambda w: ""})
    with pytest.raises(SystemExit, match=message):
        make_docs.render_page(page, make_docs.Work(tmp_path), where="page.md")


def test_render_refuses_an_absolute_path(monkeypatch, tmp_path):
    monkeypatch.setattr(make_docs, "GENERATORS", {"x": lambda w: f"wrote {tmp_path}/pkg\n"})
    with pytest.raises(RuntimeError, match="absolute path"):
        make_docs.render_page("<!-- generated:x -->\n<!-- /generated:x -->\n",
                              make_docs.Work(tmp_path))


def test_check_mode_exits_1_listing_what_is_stale(monkeypatch, capsys):
    monkeypatch.setattr(make_docs, "check", lambda w: ["docs/report.md: report-numbers"])
    assert make_docs.main(["--check"]) == 1
    out = capsys.readouterr().out
    assert "stale: docs/report.md: report-numbers" in out and "make docs" in out
    monkeypatch.setattr(make_docs, "check", lambda w: [])
    assert make_docs.main(["--check"]) == 0


def test_stale_blocks_names_the_blocks_that_differ(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("<!-- generated:a -->\nsame\n<!-- /generated:a -->\n"
                    "<!-- generated:b -->\nold\n<!-- /generated:b -->\n", encoding="utf-8")
    new = ("<!-- generated:a -->\nsame\n<!-- /generated:a -->\n"
           "<!-- generated:b -->\nnew\n<!-- /generated:b -->\n").encode()
    assert make_docs.stale_blocks(page, new) == ["b"]
    assert make_docs.stale_blocks(tmp_path / "figure.png", b"png") == ["(image)"]
