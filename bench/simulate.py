"""Simulator throughput: subjects, wall and CPU seconds, peak memory and rows written per second.

    .venv/bin/python bench/simulate.py                 # 29, 1,000 and 10,000 subjects, both studies
    .venv/bin/python bench/simulate.py --large         # also 100,000 subjects
    .venv/bin/python bench/simulate.py --study surufatinib-sts --sizes 500 5000

Each size runs in its own process (so peak memory is that run's own), writing into a temporary
folder that is removed afterwards. Same seed as the CLI default.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

STUDIES = ["surufatinib-sts", "surufatinib-envafolimab-sts"]

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
t0, c0 = time.perf_counter(), time.process_time()
from studybuild.simulate import simulate_study
res = simulate_study(sys.argv[1], Path(sys.argv[3]), subjects=int(sys.argv[2]))
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
size = sum(f.stat().st_size for f in Path(sys.argv[3]).glob("*.csv"))
print(json.dumps({"wall": wall, "cpu": cpu, "rows": sum(res.rows.values()), "bytes": size,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(study: str, n: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-sim-") as tmp:
        out = subprocess.run([sys.executable, "-c", CHILD, study, str(n), str(Path(tmp) / "raw")],
                             capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--large", action="store_true", help="also simulate 100,000 subjects")
    ap.add_argument("--study", choices=STUDIES, action="append", help="default: both studies")
    ap.add_argument("--sizes", type=int, nargs="+", help="subject counts (default 29 1000 10000)")
    args = ap.parse_args(argv)
    sizes = args.sizes or [29, 1000, 10000]
    if args.large:
        sizes = sizes + [100000]
    head = f"{'study':<28} {'subjects':>9} {'wall s':>8} {'CPU s':>8} {'peak MB':>8} {'rows':>10} {'rows/s':>9} {'CSV MB':>7}"
    print(head)
    print("-" * len(head))
    for study in args.study or STUDIES:
        for n in sizes:
            r = run(study, n)
            print(f"{study:<28} {n:>9,} {r['wall']:>8.1f} {r['cpu']:>8.1f} {r['peak_mb']:>8.0f} "
                  f"{r['rows']:>10,} {r['rows'] / r['wall']:>9,.0f} {r['bytes'] / 1e6:>7.1f}", flush=True)
    print("\nwall and CPU include Python start-up and imports; rows = data rows in all form CSVs.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
