"""Benchmark: SDTM for N simulated subjects, time and peak memory per step and per domain.

    .venv/bin/python bench/sdtm.py                       # 10,000 subjects, surufatinib-sts
    .venv/bin/python bench/sdtm.py --subjects 1000 --study surufatinib-envafolimab-sts
    .venv/bin/python bench/sdtm.py --tracemalloc         # Python-heap peak per step (slower)

Prints one row per step: reading the raw forms, building each domain (record blocks and
domain algorithms), post-processing each domain (SEQ, --DY, EPOCH, SUPP--), accounting,
metadata and writing the XPT files. "peak MB" is the process's resident-set high-water mark
when the step ends (it only grows); "+MB" is how much the step raised it. With
--tracemalloc, "heap MB" is the peak of Python/numpy allocations during the step
(pyarrow's own buffers are not traced). No timing is asserted anywhere: this only prints.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Meter:
    def __init__(self, trace: bool):
        self.rows: list[tuple[str, int | str, float, float, float, float, float | None]] = []
        self.trace = trace

    def wrap(self, mod, name: str, label, count=None) -> None:
        fn = getattr(mod, name)
        meter = self

        def timed(*args, **kwargs):
            before = _rss_mb()
            if meter.trace:
                tracemalloc.reset_peak()
            t0, c0 = time.perf_counter(), time.process_time()
            out = fn(*args, **kwargs)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            heap = tracemalloc.get_traced_memory()[1] / 2 ** 20 if meter.trace else None
            after = _rss_mb()
            n = count(out, *args) if count else ""
            meter.rows.append((label(*args), n, wall, cpu, after, after - before, heap))
            return out

        setattr(mod, name, timed)

    def table(self) -> str:
        head = f"{'step':<22}{'records':>10}{'seconds':>10}{'cpu s':>9}{'peak MB':>10}{'+MB':>8}"
        if self.trace:
            head += f"{'heap MB':>10}"
        lines = [head, "-" * len(head)]
        for label, n, wall, cpu, peak, inc, heap in self.rows:
            line = f"{label:<22}{str(n):>10}{wall:>10.2f}{cpu:>9.2f}{peak:>10.0f}{inc:>8.0f}"
            if self.trace:
                line += f"{heap:>10.0f}"
            lines.append(line)
        total = sum(r[2] for r in self.rows)
        lines.append("-" * len(head))
        lines.append(f"{'total (steps above)':<22}{'':>10}{total:>10.2f}"
                     f"{sum(r[3] for r in self.rows):>9.2f}{_rss_mb():>10.0f}")
        return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=10_000)
    ap.add_argument("--study", default="surufatinib-sts")
    ap.add_argument("--seed", type=int, default=20240501)
    ap.add_argument("--raw", type=Path, default=None,
                    help="use this raw folder instead of simulating")
    ap.add_argument("--no-write", action="store_true", help="skip writing the XPT files")
    ap.add_argument("--tracemalloc", action="store_true")
    args = ap.parse_args()

    import sdtm.build as B
    import sdtm.engine as E
    from sdtm.spec import load_spec

    with tempfile.TemporaryDirectory(prefix="bench-sdtm-") as tmp:
        raw = args.raw
        if raw is None:
            from studybuild.simulate import simulate_study

            raw = Path(tmp) / "raw"
            t0 = time.perf_counter()
            simulate_study(args.study, raw, subjects=args.subjects, seed=args.seed)
            sim = time.perf_counter() - t0
            rows = sum(sum(1 for _ in open(p, encoding="utf-8")) - 1 for p in raw.glob("*.csv"))
            print(f"simulated {args.subjects} subjects of {args.study}: {rows} raw rows in "
                  f"{sim:.1f} s")
        meter = Meter(args.tracemalloc)
        meter.wrap(B, "read_raw", lambda *a: "read raw forms",
                   lambda out, *a: sum(out.rows_read.values()))
        meter.wrap(E, "build_domain", lambda state, dom: f"build {dom.domain}",
                   lambda out, state, dom: len(state.domains[dom.domain]))
        meter.wrap(B, "finalize_domain", lambda state, name, *a: f"post {name}",
                   lambda out, *a: len(out[0]))
        meter.wrap(B, "_account", lambda *a: "accounting", lambda out, *a: len(out[1]))
        meter.wrap(B, "build_metadata", lambda *a: "metadata")
        meter.wrap(B, "_trial_design", lambda *a: "trial design")
        spec = load_spec(args.study)
        if args.tracemalloc:
            tracemalloc.start()
        t0 = time.perf_counter()
        result = B.build_sdtm(spec, raw)
        build = time.perf_counter() - t0
        if not args.no_write:
            t1 = time.perf_counter()
            c1 = time.process_time()
            before = _rss_mb()
            paths = B.write_sdtm(result, Path(tmp) / "sdtm")
            meter.rows.append(("write XPT + trace", len(paths), time.perf_counter() - t1,
                               time.process_time() - c1, _rss_mb(), _rss_mb() - before,
                               tracemalloc.get_traced_memory()[1] / 2 ** 20
                               if args.tracemalloc else None))
        print(meter.table())
        recs = sum(len(v) for v in result.datasets.values())
        print(f"build_sdtm: {build:.1f} s for {len(result.datasets)} datasets, {recs} records; "
              f"findings {result.findings.counts()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
