"""studybuild benchmark: every stage at 29, 1,000 and 10,000 simulated subjects (100,000 with
--large), the whole build, ADaM beside admiral, and the XPT writer beside plain pyreadstat.

    make bench                                   # the whole run; rewrites docs/benchmarks.md
    .venv/bin/python bench/run.py --large        # also 100,000 subjects (~25 min more)
    .venv/bin/python bench/run.py --sizes 1000 --stages sdtm check-sdtm --no-doc
    .venv/bin/python bench/run.py --no-admiral --no-xpt-baseline

Stages (each in a fresh Python process, so its peak memory is its own; inputs come from the
previous stages' outputs, saved in a work folder and loaded before the clock starts):

    simulate     the simulator writes the raw EDC CSV forms
    sdtm         raw forms -> SDTM datasets, metadata, lineage, findings (``build_sdtm``)
    check-sdtm   conformance checks on the SDTM (``validate``: GX suites + rules)
    adam         SDTM -> ADaM (``build_adam``)
    check-adam   conformance checks on the ADaM
    xpt          SAS transport v5 files for every SDTM and ADaM dataset (``write_xpt``)
    json         Dataset-JSON 1.1 for every dataset (``write_dataset_json``)
    define       define.xml 2.1 for SDTM and for ADaM (``write_define``)
    report       the reviewer report (HTML + figures) and the validation reports
    build        the whole ``build_study`` (raw -> validated package), on its own

Wall and CPU seconds cover the stage's own imports and work (not Python start-up, not loading
the saved inputs); peak MB is the process's resident-set high-water mark (VmHWM), which
includes the loaded inputs; rows/s is the stage's rows (below) per wall second. Nothing here
is asserted: it only prints (and writes the tables into docs/benchmarks.md between the
``bench:begin``/``bench:end`` markers, keeping the text around them).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import pickle
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

STAGES = ("simulate", "sdtm", "check-sdtm", "adam", "check-adam", "xpt", "json", "define",
          "report", "build")
ROWS_WHAT = {"simulate": "raw rows written", "sdtm": "SDTM records made",
             "check-sdtm": "SDTM records checked", "adam": "ADaM records made",
             "check-adam": "ADaM records checked", "xpt": "records written",
             "json": "records written", "define": "records described",
             "report": "ADaM records read", "build": "SDTM + ADaM records"}
SEED = 20240501


# ---------------------------------------------------------------------------------------------
# child: one stage in its own process
# ---------------------------------------------------------------------------------------------

def _peak_mb() -> float:
    """This process's peak resident set (VmHWM; ru_maxrss keeps the parent's at fork)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load(path: Path):
    with open(path, "rb") as fh:
        return pickle.load(fh)


def _save(obj, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)


def _records(frames) -> int:
    return int(sum(len(f) for f in frames.values()))


def child(stage: str, work: Path, study_id: str, subjects: int) -> dict:
    """Run one stage on the saved inputs in ``work``; return its measurements."""
    raw, pkg = work / "raw", work / "out"
    inputs: dict = {}
    if stage in ("check-sdtm", "adam", "xpt", "json", "define"):
        inputs["sdtm"] = _load(work / "sdtm.pkl")
    if stage in ("check-adam", "xpt", "json", "define", "report"):
        inputs["adam"] = _load(work / "adam.pkl")
    if stage == "report":
        inputs["reps"] = [_load(work / f"{k}.pkl") for k in ("check-sdtm", "check-adam")
                          if (work / f"{k}.pkl").exists()]
    t0, c0 = time.perf_counter(), time.process_time()
    detail = ""
    if stage == "simulate":
        from studybuild.simulate import simulate_study

        res = simulate_study(study_id, raw, subjects=subjects, seed=SEED)
        rows = sum(res.rows.values())
    elif stage == "sdtm":
        from sdtm.build import build_sdtm

        res = build_sdtm(study_id, raw)
        rows = _records(res.datasets)
        detail = f"{len(res.datasets)} datasets"
        t1, c1 = time.perf_counter(), time.process_time()
        _save({"datasets": res.datasets, "metadata": res.metadata,
               "findings": list(res.findings)}, work / "sdtm.pkl")
        t0, c0 = t0 + time.perf_counter() - t1, c0 + time.process_time() - c1
    elif stage == "adam":
        from adam.build import build_adam

        res = build_adam(inputs["sdtm"]["datasets"], study=study_id)
        rows = _records(res.datasets)
        detail = f"{len(res.datasets)} datasets"
        t1, c1 = time.perf_counter(), time.process_time()
        _save({"datasets": res.datasets, "metadata": res.metadata,
               "findings": list(res.findings)}, work / "adam.pkl")
        t0, c0 = t0 + time.perf_counter() - t1, c0 + time.process_time() - c1
    elif stage in ("check-sdtm", "check-adam"):
        from studybuild.study import load_study
        from validation.run import validate

        src = _load(work / ("sdtm.pkl" if stage == "check-sdtm" else "adam.pkl"))
        t0, c0 = time.perf_counter(), time.process_time()
        rep = validate(src["datasets"], metadata=src["metadata"], study=load_study(study_id),
                       _extra=src["findings"])
        rows = _records(src["datasets"])
        c = rep.counts()
        detail = f"{c['error']}/{c['warning']}/{c['notice']} findings (E/W/N)"
        t1, c1 = time.perf_counter(), time.process_time()
        _save(rep, work / f"{stage}.pkl")
        t0, c0 = t0 + time.perf_counter() - t1, c0 + time.process_time() - c1
    elif stage == "xpt":
        from studybuild.export.xpt import write_xpt
        from studybuild.study import load_study

        stamp = dt.datetime.combine(load_study(study_id).dates.data_cutoff, dt.time())
        rows = 0
        for kind in ("sdtm", "adam"):
            md = inputs[kind]["metadata"]
            for name, frame in inputs[kind]["datasets"].items():
                meta = md.dataset(name)
                write_xpt(frame, pkg / kind, dataset=name, label=meta.label if meta else None,
                          labels=meta.labels if meta else None,
                          order=list(meta.names) if meta else None, timestamp=stamp)
                rows += len(frame)
        size = sum(p.stat().st_size for p in pkg.rglob("*.xpt"))
        detail = f"{size / 1e6:,.0f} MB"
    elif stage == "json":
        from studybuild.define import metadata_version_oid, study_oid
        from studybuild.export.datasetjson import write_dataset_json
        from studybuild.study import load_study

        study = load_study(study_id)
        stamp = dt.datetime.combine(study.dates.data_cutoff, dt.time())
        rows = 0
        for kind in ("sdtm", "adam"):
            md = inputs[kind]["metadata"]
            for name, frame in inputs[kind]["datasets"].items():
                meta = md.dataset(name)
                order = [c for c in (meta.names if meta else ()) if c in frame.columns]
                order += [c for c in frame.columns if c not in order]
                write_dataset_json(frame[order], pkg / kind / f"{name.lower()}.json",
                                   name=name, label=(meta.label if meta else None) or name,
                                   labels=(meta.labels if meta else None) or {},
                                   keys=meta.keys if meta else (),
                                   study_oid=study_oid(study.studyid),
                                   metadata_version_oid=metadata_version_oid(
                                       study.studyid, "SDTM" if kind == "sdtm" else "ADaM"),
                                   metadata_ref="define.xml", created=stamp)
                rows += len(frame)
        size = sum(p.stat().st_size for p in pkg.rglob("*.json"))
        detail = f"{size / 1e6:,.0f} MB"
    elif stage == "define":
        from studybuild.define import write_define
        from studybuild.study import load_study

        study = load_study(study_id)
        stamp = dt.datetime.combine(study.dates.data_cutoff, dt.time())
        rows = 0
        for kind in ("sdtm", "adam"):
            frames = inputs[kind]["datasets"]
            write_define(inputs[kind]["metadata"], frames, pkg / kind / "define.xml",
                         study=study, hrefs={k: f"{k.lower()}.xpt" for k in frames},
                         timestamp=stamp)
            rows += _records(frames)
    elif stage == "report":
        from studybuild.pipeline import _merge_reports
        from studybuild.report import write_report
        from studybuild.study import load_study
        from validation.report import write_reports

        frames = inputs["adam"]["datasets"]
        inventory, summary = [], None
        if len(inputs["reps"]) == 2:
            merged = _merge_reports(*inputs["reps"])
            write_reports(merged, pkg / "validation")
            c = merged.counts()
            summary = {"errors": c["error"], "warnings": c["warning"], "notices": c["notice"],
                       "gate": "passed", "gate_overridden": False,
                       "report": "validation/report.html"}
            for name, s in sorted(merged.datasets.items()):
                inventory.append({"name": name, "kind": s.kind, "records": s.records,
                                  "variables": s.variables, "errors": s.errors,
                                  "warnings": s.warnings, "notices": s.notices,
                                  "file": f"{name.lower()}.xpt"})
        write_report(frames, pkg, study=load_study(study_id), inventory=inventory,
                     validation_summary=summary)
        rows = _records(frames)
    elif stage == "build":
        from studybuild.pipeline import build_study

        res = build_study(study_id, raw, work / "package", allow_errors=True)
        rows = sum(res.datasets.values())
        detail = ", ".join(f"{s.name} {s.seconds:.1f}" for s in res.steps)
    else:
        raise SystemExit(f"unknown stage {stage}")
    return {"stage": stage, "subjects": subjects, "wall": time.perf_counter() - t0,
            "cpu": time.process_time() - c0, "peak_mb": _peak_mb(), "rows": int(rows),
            "detail": detail}


def run_stage(stage: str, work: Path, study_id: str, subjects: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", stage, str(work), study_id,
                           str(subjects)], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"stage {stage} at {subjects} subjects failed:\n"
                           f"{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------------

STAGE_HEAD = (f"{'stage':<11} {'subjects':>8} {'wall s':>8} {'CPU s':>8} {'peak MB':>8} "
              f"{'rows':>11} {'rows/s':>10}  detail")


def stage_line(r: dict) -> str:
    rate = r["rows"] / r["wall"] if r["wall"] > 0 else 0.0
    return (f"{r['stage']:<11} {r['subjects']:>8,} {r['wall']:>8.1f} {r['cpu']:>8.1f} "
            f"{r['peak_mb']:>8,.0f} {r['rows']:>11,} {rate:>10,.0f}  {r['detail']}")


def growth_table(results: list[dict]) -> list[str]:
    """Per stage: CPU-time ratio for each 10x step in subjects, and the exponent b of
    CPU ~ subjects^b fitted over the sizes >= 1,000 (b = 1 is linear)."""
    by: dict[str, dict[int, float]] = {}
    for r in results:
        by.setdefault(r["stage"], {})[r["subjects"]] = r["cpu"]
    sizes = sorted({r["subjects"] for r in results})
    steps = [(a, b) for a, b in zip(sizes, sizes[1:])]
    head = f"{'stage':<11} " + " ".join(f"{f'{a:,}->{b:,}':>16}" for a, b in steps) + \
        f" {'exponent':>9}"
    lines = [head, "-" * len(head)]
    for stage in STAGES:
        if stage not in by:
            continue
        cells = []
        for a, b in steps:
            ca, cb = by[stage].get(a), by[stage].get(b)
            cells.append(f"{f'x{cb / ca:.1f} (n x{b / a:.0f})':>16}" if ca and cb else
                         f"{'':>16}")
        pts = [(math.log(n), math.log(c)) for n, c in by[stage].items() if n >= 1000 and c > 0]
        expo = ""
        if len(pts) >= 2:
            mx = sum(x for x, _ in pts) / len(pts)
            my = sum(y for _, y in pts) / len(pts)
            expo = f"{sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x, _ in pts):.2f}"
        lines.append(f"{stage:<11} " + " ".join(cells) + f" {expo:>9}")
    return lines


def machine() -> str:
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 2 ** 20:.0f} GB memory"
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{os.cpu_count()} cores, {mem}, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}; load average at the end {load}")


# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------

def run_sizes(sizes: list[int], stages: list[str], study_id: str, keep: Path | None,
              out=print) -> list[dict]:
    results = []
    out(STAGE_HEAD)
    out("-" * len(STAGE_HEAD))
    root = keep or Path(tempfile.mkdtemp(prefix="studybuild-bench-"))
    try:
        for n in sizes:
            work = root / f"{study_id}-{n}"
            work.mkdir(parents=True, exist_ok=True)
            need = set(stages)
            # a stage's inputs come from the stages before it: run those too (not printed)
            deps = {"sdtm": {"simulate"}, "check-sdtm": {"sdtm"}, "adam": {"sdtm"},
                    "check-adam": {"adam"}, "xpt": {"adam"}, "json": {"adam"},
                    "define": {"adam"}, "report": {"check-sdtm", "check-adam"},
                    "build": {"simulate"}}
            todo = set(need)
            while True:
                more = set().union(*(deps.get(s, set()) for s in todo)) - todo
                if not more:
                    break
                todo |= more
            for stage in STAGES:
                if stage not in todo:
                    continue
                if stage not in need and _done(work, stage):
                    continue
                r = run_stage(stage, work, study_id, n)
                if stage in need:
                    results.append(r)
                    out(stage_line(r))
            if not keep:
                shutil.rmtree(work, ignore_errors=True)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    return results


def _done(work: Path, stage: str) -> bool:
    marker = {"simulate": work / "raw", "sdtm": work / "sdtm.pkl", "adam": work / "adam.pkl",
              "check-sdtm": work / "check-sdtm.pkl", "check-adam": work / "check-adam.pkl"}
    return stage in marker and marker[stage].exists()


def write_doc(path: Path, sections: list[tuple[str, list[str]]], argv: list[str]) -> None:
    cmd = " ".join([".venv/bin/python", "bench/run.py", *argv])
    body = [BEGIN, "", f"Run of {dt.date.today().isoformat()} (`{cmd}`) on {machine()}.", ""]
    for title, lines in sections:
        body += [f"#### {title}", "", "```", *lines, "```", ""]
    body.append(END)
    block = "\n".join(body)
    text = path.read_text(encoding="utf-8") if path.exists() else \
        "# Benchmarks\n\n" + BEGIN + "\n" + END + "\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[29, 1000, 10000],
                    help="subject counts (default 29 1000 10000)")
    ap.add_argument("--large", action="store_true", help="also 100,000 subjects")
    ap.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES),
                    help="stages to time (default: all)")
    ap.add_argument("--study", default="surufatinib-sts")
    ap.add_argument("--no-admiral", action="store_true",
                    help="skip the ADaM-beside-admiral table (bench/adam.py)")
    ap.add_argument("--adam-scales", type=int, nargs="+", default=[1, 10, 100, 1000])
    ap.add_argument("--no-xpt-baseline", action="store_true",
                    help="skip write_xpt beside pyreadstat.write_xport (bench/xpt.py)")
    ap.add_argument("--doc", type=Path, default=DOC, help="markdown file to update")
    ap.add_argument("--no-doc", action="store_true", help="only print")
    ap.add_argument("--keep", type=Path, default=None,
                    help="keep the work folders (raw, saved stages, packages) here")
    ap.add_argument("--child", nargs=4, metavar=("STAGE", "WORK", "STUDY", "N"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        stage, work, study_id, n = args.child
        print(json.dumps(child(stage, Path(work), study_id, int(n))))
        return 0

    sizes = sorted(set(args.sizes + ([100_000] if args.large else [])))
    sections: list[tuple[str, list[str]]] = []
    print(f"{machine()}\n")
    lines: list[str] = []

    def out(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    results = run_sizes(sizes, list(args.stages), args.study, args.keep, out)
    sections.append((f"Stages, {args.study} (wall and CPU seconds, peak resident MB, "
                     "rows per wall second)", lines))
    if len(sizes) > 1:
        g = growth_table(results)
        print("\nCPU time growth per 10x subjects (x10 = linear):\n" + "\n".join(g))
        sections.append(("Growth: CPU time ratio between sizes, and the exponent b of "
                         "CPU ~ subjects^b (sizes >= 1,000)", g))
    if not args.no_xpt_baseline:
        from bench import xpt as xb

        print()
        x = xb.main_lines(print)
        sections.append(("XPT: write_xpt beside pyreadstat.write_xport, 1,000,000 x 20", x))
    if not args.no_admiral:
        from bench import adam as ab

        print()
        a = ab.run_table(args.adam_scales, out=print)
        sections.append(("ADaM on the pharmaverse SDTM replicated, beside admiral 1.4 / "
                         "admiralonco 1.4 (issue 8)", a))
    if not args.no_doc:
        write_doc(args.doc, sections, argv)
        print(f"\nwrote {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
