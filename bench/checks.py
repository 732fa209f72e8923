"""Benchmark: conformance checks on N simulated subjects, time and peak memory, the
great-expectations suites and the cross-dataset (studybuild + CDISC CORE) rules separately.

    .venv/bin/python bench/checks.py                          # 10,000 subjects, surufatinib-sts
    .venv/bin/python bench/checks.py --subjects 1000
    .venv/bin/python bench/checks.py --source pharmaverse     # pharmaverse SDTM, replicated

The SDTM comes from the simulator and the SDTM mapper (``--source simulated``, the default)
or from the pharmaverse SDTM copied with new USUBJIDs until it has N subjects
(``--source pharmaverse``). It is prepared once (not timed) and each phase then runs in a
fresh process, so its peak memory is its own:

- ``suites``: the generated expectation suites, run by great-expectations (import included;
  the import alone is shown on its own line);
- ``rules``: every cross-dataset rule (studybuild's and the implemented CORE rules);
- ``validate``: everything ``validate`` does, as ``studybuild build`` runs it (metadata checks,
  suites, rules).

"peak MB" is the process's resident-set high-water mark, "+MB" what the phase added to the
process after the data was loaded. Nothing is asserted: this only prints.
"""

from __future__ import annotations

import argparse
import json
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------------------------ data

def simulated(study: str, subjects: int, seed: int, work: Path):
    from sdtm.build import build_sdtm
    from studybuild.simulate import simulate_study

    raw = work / "raw"
    simulate_study(study, raw, subjects=subjects, seed=seed)
    res = build_sdtm(study, raw)
    return res.datasets, res.metadata


def replicated_pharmaverse(subjects: int):
    """The pharmaverse SDTM copied until it has ``subjects`` subjects (USUBJID made unique
    by a copy number); vectorised, one concat per dataset."""
    import pandas as pd

    from studybuild.datasets import read_folder

    frames = read_folder(ROOT / "tests" / "data" / "pharmaverse" / "sdtm").frames()
    n_base = frames["DM"]["USUBJID"].nunique()
    copies = max(1, -(-subjects // n_base))
    out = {}
    for name, f in frames.items():
        if "USUBJID" not in f.columns:
            out[name] = f
            continue
        parts = []
        for i in range(copies):
            g = f.copy()
            g["USUBJID"] = (g["USUBJID"] + f"-R{i:03d}").astype("str")
            parts.append(g)
        big = pd.concat(parts, ignore_index=True)
        if name == "DM":
            big = big.iloc[:subjects]
            keep = set(big["USUBJID"])
        out[name] = big
    for name, f in out.items():
        if "USUBJID" in f.columns and name != "DM":
            out[name] = f[f["USUBJID"].isin(keep)].reset_index(drop=True)
    return out, None


# ------------------------------------------------------------------------------------ phases

def run_phase(phase: str, data: Path) -> dict:
    with open(data, "rb") as fh:
        payload = pickle.load(fh)
    frames, metadata = payload["frames"], payload["metadata"]
    from validation import rules as rules_mod
    from validation.run import validate

    reg = rules_mod.registry()
    rules_mod.compiled()
    base = _rss_mb()
    out: dict = {"phase": phase, "records": int(sum(len(f) for f in frames.values()))}
    if phase == "suites":
        t0, c0 = time.perf_counter(), time.process_time()
        from validation.gx_run import _batch_definition

        _batch_definition()
        out["import_s"] = time.perf_counter() - t0
        ids = [r for r, i in reg.items() if i.kind == "suite"]
        rep = validate(frames, metadata=metadata, rules=ids)
    elif phase == "rules":
        t0, c0 = time.perf_counter(), time.process_time()
        ids = [r for r, i in reg.items() if i.kind in ("core", "studybuild")]
        rep = validate(frames, metadata=metadata, rules=ids, run_suites=False)
    else:
        t0, c0 = time.perf_counter(), time.process_time()
        rep = validate(frames, metadata=metadata)
    out.update(seconds=time.perf_counter() - t0, cpu=time.process_time() - c0,
               peak=_rss_mb(), added=_rss_mb() - base, findings=len(rep.findings),
               rules=len(rep.rules_run), **rep.counts())
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subjects", type=int, default=10_000)
    ap.add_argument("--study", default="surufatinib-sts")
    ap.add_argument("--seed", type=int, default=20240501)
    ap.add_argument("--source", choices=("simulated", "pharmaverse"), default="simulated")
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.phase:
        print(json.dumps(run_phase(args.phase, Path(args.data))))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-checks-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        if args.source == "simulated":
            frames, metadata = simulated(args.study, args.subjects, args.seed, work)
        else:
            frames, metadata = replicated_pharmaverse(args.subjects)
        prep = time.perf_counter() - t0
        data = work / "sdtm.pkl"
        with open(data, "wb") as fh:
            pickle.dump({"frames": frames, "metadata": metadata}, fh)
        n_subj = frames["DM"]["USUBJID"].nunique()
        print(f"{args.source} SDTM: {n_subj:,} subjects, {len(frames)} datasets, "
              f"{sum(len(f) for f in frames.values()):,} records "
              f"(prepared in {prep:.0f} s, not timed below)")
        rows = []
        for phase in ("suites", "rules", "validate"):
            res = subprocess.run([sys.executable, __file__, "--phase", phase, "--data",
                                  str(data)], capture_output=True, text=True, check=True)
            rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    head = (f"{'phase':<28}{'records':>10}{'seconds':>10}{'cpu s':>9}{'peak MB':>10}"
            f"{'+MB':>8}{'findings':>10}")
    print(head)
    print("-" * len(head))
    for r in rows:
        label = {"suites": "GX suites (incl. import)", "rules": "cross-dataset rules",
                 "validate": "validate (all)"}[r["phase"]]
        print(f"{label:<28}{r['records']:>10,}{r['seconds']:>10.1f}{r['cpu']:>9.1f}"
              f"{r['peak']:>10.0f}{r['added']:>8.0f}{r['findings']:>10,}")
        if r["phase"] == "suites":
            print(f"{'  of which GX import':<28}{'':>10}{r['import_s']:>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
