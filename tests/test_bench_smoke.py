"""Smoke runs of the benchmark harness (issue 8: timing stays out of the suite; the suite only
checks that ``make bench`` would run and that its counts are the real ones)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> str:
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    return proc.stdout


def test_bench_run_prints_each_stage_with_the_real_row_counts(tmp_path):
    doc = ROOT / "docs" / "benchmarks.md"
    before = doc.read_bytes() if doc.exists() else None
    out = _run("bench/run.py", "--sizes", "29", "--stages", "simulate", "sdtm", "--no-admiral",
               "--no-xpt-baseline", "--no-doc", "--keep", str(tmp_path))
    lines = {ln.split()[0]: ln.split() for ln in out.splitlines()
             if ln.split() and ln.split()[0] in ("simulate", "sdtm")}
    assert set(lines) == {"simulate", "sdtm"}
    assert all(cells[1] == "29" for cells in lines.values())
    # rows column (6th): raw rows written = the data rows of the CSV forms the stage wrote
    raw = tmp_path / "surufatinib-sts-29" / "raw"
    written = 0
    for f in raw.glob("*.csv"):
        with open(f, newline="", encoding="utf-8") as fh:
            written += sum(1 for _ in csv.reader(fh)) - 1
    assert int(lines["simulate"][5].replace(",", "")) == written
    assert lines["sdtm"][-2:] == ["23", "datasets"]
    assert (doc.read_bytes() if doc.exists() else None) == before, \
        "--no-doc leaves docs/benchmarks.md alone"


def test_xpt_baseline_writes_the_same_records_as_pyreadstat():
    out = _run("bench/xpt.py", "--rows", "3000")
    rows = [ln.split() for ln in out.splitlines() if ln.startswith(("pyreadstat", "write_xpt"))]
    assert [r[0] for r in rows] == ["pyreadstat.write_xport", "write_xpt"]
    assert all(r[1] == "3,000" and r[2] == "20" for r in rows)
    assert "data records identical: yes" in out
