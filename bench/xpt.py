"""XPT baseline: ``studybuild.export.xpt.write_xpt`` beside plain ``pyreadstat.write_xport``
on the same frame (1,000,000 rows x 20 columns: 10 text, 8 numeric, 2 dates; issue 8 measured
pyreadstat at 9-13 s on this kind of machine).

    .venv/bin/python bench/xpt.py                 # 1,000,000 x 20
    .venv/bin/python bench/xpt.py --rows 100000   # a quick run

Each writer runs in a fresh Python process (wall, CPU and peak resident memory are its own;
the frame is built before the clock starts). ``write_xpt`` does more than pyreadstat: it
orders and labels the variables, checks every v5 limit (names, labels, lengths, ASCII) and
writes atomically; the two files' data records are compared byte for byte.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def frame(rows: int):
    """A deterministic SDTM-like frame: 10 text, 8 numeric (some missing), 2 SAS dates."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(8)
    cols: dict = {}
    subj = np.arange(rows) // 40
    cols["STUDYID"] = np.full(rows, "SURU-STS-2023", dtype=object)
    cols["DOMAIN"] = np.full(rows, "LB", dtype=object)
    cols["USUBJID"] = pd.Series(subj).map(lambda i: f"SURU-STS-2023-101-{i:06d}").to_numpy()
    tests = np.array(["ALB", "ALT", "AST", "BILI", "CREAT", "GLUC", "HGB", "PLAT", "WBC"],
                     dtype=object)
    cols["LBTESTCD"] = tests[rng.integers(0, len(tests), rows)]
    cols["LBTEST"] = pd.Series(cols["LBTESTCD"]).str.lower().to_numpy() + " measurement"
    cols["LBORRES"] = pd.Series(rng.normal(50, 10, rows).round(1)).astype(str).to_numpy()
    cols["LBORRESU"] = np.array(["g/L", "U/L", "umol/L"], dtype=object)[rng.integers(0, 3, rows)]
    cols["LBSTRESC"] = cols["LBORRES"]
    cols["VISIT"] = np.array([f"CYCLE {i} DAY 1" for i in range(1, 13)],
                             dtype=object)[rng.integers(0, 12, rows)]
    cols["LBCOM"] = np.where(rng.random(rows) < 0.05, "haemolysed sample, repeated", "")
    for i in range(1, 9):
        x = rng.normal(100, 30, rows)
        x[rng.random(rows) < 0.03] = np.nan
        cols[f"NUM{i}"] = x
    base = np.datetime64("2024-01-01")
    # dates as SAS day numbers with a DATE9. format (both writers then write the same numbers)
    day0 = (base - np.datetime64("1960-01-01")).astype(int)
    cols["ADT"] = (day0 + rng.integers(0, 700, rows)).astype(float)
    cols["TRTSDT"] = (day0 + subj % 300).astype(float)
    return pd.DataFrame(cols)


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return float(line.split()[1]) / 1024
    return float("nan")


def child(writer: str, rows: int, out: Path) -> dict:
    df = frame(rows)
    labels = {c: c.title() for c in df.columns}
    t0, c0 = time.perf_counter(), time.process_time()
    if writer == "write_xpt":
        from studybuild.export.xpt import write_xpt

        write_xpt(df, out, dataset="LB", label="Laboratory Test Results", labels=labels,
                  formats={"ADT": "DATE9.", "TRTSDT": "DATE9."})
    else:
        import pyreadstat

        pyreadstat.write_xport(df, str(out), table_name="LB", file_label="Laboratory Test Results",
                               column_labels=[labels[c] for c in df.columns],
                               variable_format={"ADT": "DATE9", "TRTSDT": "DATE9"},
                               file_format_version=5)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"writer": writer, "rows": rows, "cols": df.shape[1], "wall": wall, "cpu": cpu,
            "peak_mb": _peak_mb(), "mb": out.stat().st_size / 1e6}


def _records_digest(path: Path) -> str:
    """Digest of the data records (everything after the last header line)."""
    data = path.read_bytes()
    mark = data.rfind(b"HEADER RECORD*******OBS     HEADER RECORD!!!!!!!")
    return hashlib.sha256(data[mark + 80:]).hexdigest() if mark >= 0 else ""


def main_lines(out=print, rows: int = 1_000_000) -> list[str]:
    head = (f"{'writer':<22} {'rows':>10} {'cols':>4} {'wall s':>7} {'CPU s':>7} "
            f"{'peak MB':>8} {'file MB':>8}")
    lines = [head, "-" * len(head)]
    for line in lines:
        out(line)
    with tempfile.TemporaryDirectory(prefix="xpt-bench-") as tmp:
        files = {}
        for writer in ("pyreadstat.write_xport", "write_xpt"):
            path = Path(tmp) / f"{writer.split('.')[-1]}.xpt"
            proc = subprocess.run([sys.executable, __file__, "--child", writer, str(rows),
                                   str(path)], capture_output=True, text=True, cwd=ROOT)
            if proc.returncode != 0:
                raise RuntimeError(f"{writer} failed:\n{proc.stderr[-3000:]}")
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            files[writer] = path
            line = (f"{writer:<22} {r['rows']:>10,} {r['cols']:>4} {r['wall']:>7.1f} "
                    f"{r['cpu']:>7.1f} {r['peak_mb']:>8,.0f} {r['mb']:>8,.0f}")
            out(line)
            lines.append(line)
        same = len({_records_digest(p) for p in files.values()}) == 1
        line = f"data records identical: {'yes' if same else 'NO'}"
        out(line)
        lines.append(line)
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--child", nargs=3, metavar=("WRITER", "ROWS", "PATH"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        writer, rows, path = args.child
        print(json.dumps(child(writer, int(rows), Path(path))))
        return 0
    main_lines(print, args.rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
