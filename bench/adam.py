"""ADaM benchmark: the pharmaverse SDTM replicated 1x/10x/100x/1000x (new USUBJIDs), timed per
dataset beside admiral 1.4 / admiralonco 1.4 on the same input and this kind of machine
(figures from issue 8).

    .venv/bin/python bench/adam.py                 # 1x, 10x, 100x (+ 1000x for ADRS/ADTTE)
    .venv/bin/python bench/adam.py --scales 1 10   # a quick run
    .venv/bin/python bench/adam.py --adsl-1000     # also ADSL at 1000x (LB: 60 million rows)

Each measurement runs in a fresh Python process, like admiral's figures (which include starting
R and loading the packages): wall time covers interpreter start, imports, reading the parquet
inputs and deriving; memory is that process's peak resident set size. ``build`` is the
derivation alone.

Inputs per dataset, as admiral's templates take them:

- ADSL from DM, DS, EX, AE, LB (LSTALVDT reads AE and LB; of LB only the key, sequence and
  date columns are read);
- ADRS from ADSL, RS and TU; ADTTE from ADSL and ADRS (of ADSL the variables ADRS/ADTTE
  derive from or copy; of ADRS the records and variables ADTTE's sources read: OVR, PD,
  DEATH, LSTA, RSP with ANL01FL = Y).

ADSL for ADRS/ADTTE is ours at 1x replicated like the SDTM. ``sparse`` is the pharmaverse as
it is (8 of 306 subjects have tumour assessments); ``dense`` gives every subject the RS/TU/TR
records of one of those 8 (in turn), dates shifted to the subject's randomisation.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SDTM = ROOT / "tests" / "data" / "pharmaverse" / "sdtm"

# admiral 1.4 / admiralonco 1.4 on 2 cores (issue 8): seconds, and peak GB where reported
ADMIRAL = {
    ("ADSL", "sparse", 1): (5.2, None), ("ADSL", "sparse", 10): (21.0, 1.8),
    ("ADSL", "sparse", 100): (233.0, 18.8),
    ("ADRS", "sparse", 1): (7.7, None), ("ADRS", "sparse", 10): (11.6, None),
    ("ADRS", "sparse", 100): (42.0, None), ("ADRS", "sparse", 1000): (370.0, 6.7),
    ("ADTTE", "sparse", 1): (3.5, None), ("ADTTE", "sparse", 10): (4.9, None),
    ("ADTTE", "sparse", 100): (31.0, None), ("ADTTE", "sparse", 1000): (254.0, 3.7),
    ("ADRS", "dense", 100): (108.0, None), ("ADTTE", "dense", 100): (37.0, None),
}
DOMAINS = {"ADSL": ("DM", "DS", "EX", "AE", "LB"), "ADRS": ("ADSL", "RS", "TU"),
           "ADTTE": ("ADSL", "ADRS")}
# LB feeds only the last-known-alive date: read the columns that uses (every other input is
# read whole); R users would likewise read a 60-million-row LB with arrow and a column list
COLUMNS = {"LB": ["STUDYID", "DOMAIN", "USUBJID", "LBSEQ", "LBDTC"]}
# ADRS and ADTTE read the ADSL variables they derive from or copy, and ADTTE the ADRS
# variables its sources use (a parquet column projection, as arrow offers R users too)
BDS_FROM_ADSL = ["STUDYID", "USUBJID", "SUBJID", "SITEID", "AGE", "SEX", "RACE", "TRT01P",
                 "TRT01A", "TRTSDT", "RANDDT", "SAFFL", "ITTFL", "FASFL", "EFFFL", "DTHDT",
                 "LSTALVDT", "DMDTC"]
ADTTE_FROM_ADRS = ["STUDYID", "USUBJID", "PARAMCD", "AVALC", "ADT", "ANL01FL", "ASEQ"]


# ---------------------------------------------------------------------------------------------
# input generation (not timed)
# ---------------------------------------------------------------------------------------------

def _replicate(df, k: int):
    import numpy as np
    import pandas as pd

    if k == 1:
        return df
    n = len(df)
    rep = pd.DataFrame({c: np.tile(df[c].to_numpy(), k) for c in df.columns})
    for c in df.columns:
        if df[c].dtype != rep[c].dtype:
            rep[c] = rep[c].astype(df[c].dtype)
    suffix = np.repeat(np.array([""] + [f"-R{i:04d}" for i in range(1, k)], dtype=object), n)
    for c in ("USUBJID", "SUBJID"):
        if c in rep.columns:
            rep[c] = (rep[c].astype(str).to_numpy(dtype=object) + suffix)
            rep[c] = rep[c].astype("str")
    return rep


def _dense(frames, adsl):
    """Every subject gets the RS/TU/TR records of one of the assessed subjects, dates shifted
    by the difference of the two subjects' randomisation (or DM collection) dates."""
    import numpy as np
    import pandas as pd

    rs = frames["RS"]
    donors = sorted(rs["USUBJID"].unique())
    ref = adsl.set_index("USUBJID")
    anchor = ref["RANDDT"].fillna(pd.to_datetime(ref["DMDTC"], errors="coerce")
                                  .astype("datetime64[s]"))
    subjects = list(adsl["USUBJID"])
    out = {}
    for dom, dtc in (("RS", "RSDTC"), ("TU", None), ("TR", "TRDTC")):
        src = frames[dom]
        parts = []
        for i, donor in enumerate(donors):
            takers = subjects[i::len(donors)]
            recs = src[src["USUBJID"].eq(donor)]
            if not len(recs) or not takers:
                continue
            n = len(recs)
            block = pd.DataFrame({c: np.tile(recs[c].to_numpy(), len(takers))
                                  for c in recs.columns})
            for c in recs.columns:
                if recs[c].dtype != block[c].dtype:
                    block[c] = block[c].astype(recs[c].dtype)
            block["USUBJID"] = pd.Series(np.repeat(np.array(takers, dtype=object), n),
                                         dtype="str")
            if dtc:
                shift = ((anchor.reindex(takers).to_numpy().astype("datetime64[s]")
                          - np.datetime64(anchor[donor], "s")) / np.timedelta64(1, "D"))
                shift = np.repeat(shift, n)
                txt = block[dtc].astype("str")
                full = txt.str.len().eq(10).to_numpy()
                d = pd.to_datetime(txt.where(full), errors="coerce")
                newd = (d + pd.to_timedelta(np.nan_to_num(shift), unit="D")).dt.strftime("%Y-%m-%d")
                block[dtc] = pd.Series(np.where(full & ~np.isnan(shift), newd, txt), dtype="str")
            parts.append(block)
        out[dom] = pd.concat(parts, ignore_index=True)
    return out


def prepare(work: Path, scales: list[int], with_adsl_1000: bool) -> None:
    """Write the replicated inputs as parquet: work/<variant>-<k>/<NAME>.parquet."""
    import pandas as pd

    from adam.adrs import build_adrs
    from adam.build import _prepare_inputs
    from adam.options import AdamOptions
    from studybuild.datasets import read_folder
    from studybuild.findings import Findings
    from adam.adsl import build_adsl

    frames = _prepare_inputs(read_folder(SDTM).frames())
    adsl1 = build_adsl(frames, options=AdamOptions(), findings=Findings())
    dense1 = _dense(frames, adsl1)
    for k in scales:
        for variant in ("sparse", "dense"):
            if variant == "dense" and k < 10 and k != 1:
                continue
            d = work / f"{variant}-{k}"
            d.mkdir(parents=True, exist_ok=True)
            src = dict(frames)
            if variant == "dense":
                src.update(dense1)
            adsl = _replicate(adsl1, k)
            adsl.to_parquet(d / "ADSL.parquet")
            for dom in ("RS", "TU", "TR"):
                _replicate(src[dom], k).to_parquet(d / f"{dom}.parquet")
            if variant == "sparse" and (k <= 100 or with_adsl_1000):
                for dom in DOMAINS["ADSL"]:
                    _replicate(frames[dom], k).to_parquet(d / f"{dom}.parquet")
            adrs = build_adrs(adsl, {"RS": pd.read_parquet(d / "RS.parquet"),
                                     "TU": pd.read_parquet(d / "TU.parquet")},
                              options=AdamOptions(), findings=Findings())
            adrs.to_parquet(d / "ADRS.parquet")


# ---------------------------------------------------------------------------------------------
# one measurement (child process)
# ---------------------------------------------------------------------------------------------

def child(dataset: str, folder: Path) -> None:
    t0 = time.perf_counter()
    import numpy as np
    import pandas as pd

    from adam.adrs import build_adrs
    from adam.adsl import build_adsl
    from adam.adtte import build_adtte
    from adam.options import AdamOptions
    from studybuild.findings import Findings

    frames = {}
    for name in DOMAINS[dataset]:
        cols = COLUMNS.get(name)
        if name == "ADSL" and dataset != "ADSL":
            cols = BDS_FROM_ADSL
        if name == "ADRS" and dataset == "ADTTE":
            cols = ADTTE_FROM_ADRS
        filters = None
        if name == "ADRS" and dataset == "ADTTE":   # the parameters ADTTE's sources read
            filters = [("PARAMCD", "in", ["OVR", "PD", "DEATH", "LSTA", "RSP"]),
                       ("ANL01FL", "==", "Y")]
        df = pd.read_parquet(folder / f"{name}.parquet", columns=cols, filters=filters)
        for c in df.columns:            # ADaM dates as datetime64[s] (parquet keeps [us]/[ns])
            if pd.api.types.is_datetime64_any_dtype(df[c]):
                df[c] = df[c].astype("datetime64[s]")
        frames[name] = df
    t1 = time.perf_counter()
    opts, fs = AdamOptions(), Findings()
    if dataset == "ADSL":
        out = build_adsl(frames, options=opts, findings=fs)
    elif dataset == "ADRS":
        out = build_adrs(frames["ADSL"], frames, options=opts, findings=fs)
    else:
        out = build_adtte(frames["ADSL"], frames["ADRS"], {}, options=opts, findings=fs)
    t2 = time.perf_counter()
    peak_kb = _peak_kb()
    print(json.dumps({"rows": int(len(out)), "read": t1 - t0, "build": t2 - t1,
                      "peak_mb": peak_kb / 1024, "subjects": int(out["USUBJID"].nunique()),
                      "check": float(np.nansum(out["AVAL"].to_numpy(dtype="float64")))
                      if "AVAL" in out.columns else 0.0}))


def _peak_kb() -> float:
    """Peak resident memory of this process (VmHWM; ru_maxrss would include the parent's
    memory at fork on Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1])
    except OSError:
        pass
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def measure(dataset: str, folder: Path) -> dict:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", dataset, str(folder)],
                          capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{dataset} {folder.name} failed:\n{proc.stderr[-3000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["wall"] = wall
    return res


def run_table(scales: list[int], out=print, *, adsl_1000: bool = False, work: Path | None = None,
              reuse: bool = False, only: list[str] | None = None) -> list[str]:
    """Time each dataset at each scale (sparse and dense input) and return the table's lines
    (each also given to ``out`` as it is measured)."""
    work = work or Path(tempfile.mkdtemp(prefix="adam-bench-"))
    t = time.perf_counter()
    if not reuse:
        prepare(work, scales, adsl_1000)
    out(f"inputs prepared in {time.perf_counter() - t:.0f} s under {work} "
        f"({os.cpu_count()} cores)")
    head = (f"{'dataset':<6} {'input':<6} {'scale':>5} {'subjects':>9} {'records':>10} "
            f"{'ours s':>7} {'build s':>7} {'peak MB':>8} | {'admiral s':>9} {'adm GB':>6} "
            f"{'faster':>7} {'memory':>7}")
    lines = [head, "-" * len(head)]
    out(head)
    out(lines[-1])
    rows = []
    for dataset in only or ("ADSL", "ADRS", "ADTTE"):
        for variant in ("sparse", "dense"):
            for k in scales:
                folder = work / f"{variant}-{k}"
                if not folder.exists():
                    continue
                if dataset == "ADSL" and (variant == "dense" or (k > 100 and not adsl_1000)):
                    continue
                if variant == "dense" and (dataset, variant, k) not in ADMIRAL and k != 1000:
                    continue
                r = measure(dataset, folder)
                adm = ADMIRAL.get((dataset, variant, k))
                faster = f"{adm[0] / r['wall']:.0f}x" if adm else ""
                mem = f"1/{adm[1] * 1024 / r['peak_mb']:.1f}" if adm and adm[1] else ""
                line = (f"{dataset:<6} {variant:<6} {k:>5} {r['subjects']:>9,} {r['rows']:>10,} "
                        f"{r['wall']:>7.1f} {r['build']:>7.2f} {r['peak_mb']:>8.0f} | "
                        f"{(f'{adm[0]:.1f}' if adm else ''):>9} "
                        f"{(f'{adm[1]:.1f}' if adm and adm[1] else ''):>6} {faster:>7} "
                        f"{mem:>7}")
                out(line)
                lines.append(line)
                rows.append({"dataset": dataset, "variant": variant, "scale": k, **r})
    (work / "results.json").write_text(json.dumps(rows, indent=1))
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scales", type=int, nargs="+", default=[1, 10, 100, 1000])
    ap.add_argument("--adsl-1000", action="store_true", help="also ADSL at 1000x")
    ap.add_argument("--work", type=Path, default=None, help="keep inputs here")
    ap.add_argument("--reuse", action="store_true", help="reuse the inputs already in --work")
    ap.add_argument("--only", nargs="+", choices=["ADSL", "ADRS", "ADTTE"], default=None,
                    help="datasets to time (default: all three)")
    ap.add_argument("--child", nargs=2, metavar=("DATASET", "DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return 0
    run_table(args.scales, print, adsl_1000=args.adsl_1000, work=args.work, reuse=args.reuse,
              only=args.only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
