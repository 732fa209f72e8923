"""Regenerate every part of README.md and docs/ that shows real output (``make docs``).

    .venv/bin/python tools/make_docs.py              # rebuild, rewrite the docs in place
    .venv/bin/python tools/make_docs.py --check      # exit 1 listing what is stale
    .venv/bin/python tools/make_docs.py --work DIR   # build in DIR (kept) instead of a temp folder

The docs never carry pasted output. A generated part of a page sits between two markers

    <!-- generated:NAME -->
    ...
    <!-- /generated:NAME -->

and NAME is one of :data:`GENERATORS` below: a function that runs the real commands (the demo
build, each step on its own, ``--help``) in a work folder and returns the Markdown between the
markers. Prose outside the markers is never touched. Whole files (``docs/rules.md``) and the
report figures copied into docs/ (:data:`FIGURES`) are generated too; browser screenshots
(:data:`SCREENSHOTS`) are taken only when Chromium is installed and are never checked
(a fresh machine has no browser). Pages other tools own and other tests check
(:data:`OTHER_WRITERS`: docs/bad-input.md) are rewritten by their tools, outside ``--check``;
docs/benchmarks.md (timings) belongs to ``make bench`` and is left alone.

Output is made stable: commands run with relative paths inside the work folder (so no
absolute path reaches a page; a leak is an error), a fixed console width, and the seconds
column of the progress lines removed (timings belong to docs/benchmarks.md, which
``make bench`` owns). Package files are found by name anywhere in the package
(``adsl.xpt``, ``km_pfs.png``, ...), so a change of the package layout needs no change here.
Each command runs at most once per invocation and only when a marker present in the docs
needs it. Every file is written atomically and only when its content changed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

STS = "surufatinib-sts"
COMBO = "surufatinib-envafolimab-sts"
DEMO_OUT = "demo-out"
WIDTH = "80"                                    # console width for rich tables

# a marker may be indented (inside a list item): the closing one has the same indent, and
# the generated text is indented like them
MARKER = re.compile(r"(?m)^(?P<indent>[ ]*)(?P<open><!-- generated:(?P<name>[a-z0-9-]+) -->\n)"
                    r"(?P<body>(?s:.*?))^(?P=indent)(?P<close><!-- /generated:(?P=name) -->)")
# "ID: step          12.3 s  detail" -> "ID: step           detail" (the step name is padded
# to 13 characters by the pipeline; the seconds vary from run to run)
TIMING = re.compile(r"(?m)^(\S+: [a-z ]{13}) *\d+\.\d+ s  ")


def doc_files() -> list[Path]:
    """README.md and every page of docs/ (the files markers may appear in)."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


# ---------------------------------------------------------------------------------------
# the work folder: each command runs once, on demand
# ---------------------------------------------------------------------------------------

class Work:
    """Runs ``studybuild`` commands in ``root`` (relative paths only) and remembers results."""

    def __init__(self, root: Path):
        self.root = root
        self._done: dict[str, object] = {}

    def once(self, key: str, fn: Callable[[], object]):
        if key not in self._done:
            self._done[key] = fn()
        return self._done[key]

    def run(self, *args: str, cwd: str = ".", expect: int = 0) -> str:
        """Console output (stdout and stderr in order) of ``studybuild ARGS`` run in
        ``root/cwd``, with the seconds left out; exit code other than ``expect`` is an error."""
        folder = self.root / cwd
        folder.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
                   [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
               "COLUMNS": WIDTH, "LINES": "50", "TERM": "dumb", "NO_COLOR": "1",
               "PYTHONUNBUFFERED": "1", "PYTHONHASHSEED": "0"}
        env.pop("FORCE_COLOR", None)
        proc = subprocess.run([sys.executable, "-m", "studybuild.cli", *args], cwd=folder,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
        if proc.returncode != expect:
            raise RuntimeError(f"studybuild {' '.join(args)} (in {cwd}) exited "
                               f"{proc.returncode}, expected {expect}:\n{proc.stdout}")
        return TIMING.sub(r"\1 ", proc.stdout).rstrip("\n")

    def shell(self, cwd: str, *args: str, expect: int = 0) -> str:
        """``$ studybuild ARGS`` followed by its output (as a reader would type it)."""
        out = self.run(*args, cwd=cwd, expect=expect)
        return f"$ studybuild {' '.join(args)}" + (f"\n{out}" if out else "")

    # -- the demo: `studybuild demo` into demo-out/ -------------------------------------

    def demo(self) -> str:
        return self.once("demo", lambda: self.run("demo", "--out", DEMO_OUT))

    def package(self, study: str) -> Path:
        """The study's package folder, as the demo's console names it ("package: PATH")."""
        named = [Path(p) for p in re.findall(r"(?m)^\s+package: (\S+)", self.demo())
                 if Path(p).name == study]
        pkg = self.root / (named[0] if named else Path(DEMO_OUT) / study)
        if not pkg.is_dir():
            raise RuntimeError(f"the demo wrote no package for {study} (looked in {pkg.name})")
        return pkg

    def find(self, study: str, name: str, containing: str | None = None) -> Path:
        """The file called ``name`` in the study's demo package, wherever it is (the one
        nearest the package root: report.html rather than validation/report.html), among
        those whose text has ``containing`` if given."""
        pkg = self.package(study)
        hits = sorted((p for p in pkg.rglob(name) if containing is None
                       or containing in p.read_text(encoding="utf-8", errors="replace")),
                      key=lambda p: (len(p.relative_to(pkg).parts), p))
        top = [p for p in hits if hits and len(p.parts) == len(hits[0].parts)]
        if len(top) != 1:
            raise RuntimeError(f"{len(top)} files called {name} at the top of the {study} "
                               f"package (expected 1): update tools/make_docs.py")
        return top[0]

    def adam(self, study: str) -> dict:
        """The ADaM datasets of the study's demo package (wherever the package keeps them)."""
        def read():
            from studybuild.datasets import read_folder
            return read_folder(self.find(study, "adsl.xpt").parent).frames()
        return self.once(f"adam:{study}", read)

    def endpoints(self, study: str):
        def compute():
            from studybuild.report import compute_endpoints
            from studybuild.study import load_study
            return compute_endpoints(self.adam(study),
                                     data_cutoff=load_study(study).dates.data_cutoff)
        return self.once(f"endpoints:{study}", compute)

    def pharmaverse(self) -> str:
        """A folder where ``tests/data/pharmaverse`` is the repository's (the pharmaverse
        SDTM and ADaM reference data), so commands on it print the repository's paths."""
        def link():
            target = self.root / "pharmaverse" / "tests" / "data" / "pharmaverse"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(ROOT / "tests" / "data" / "pharmaverse", target_is_directory=True)
            return "pharmaverse"
        return self.once("pharmaverse", link)

    # -- each step on its own, as docs/export.md and docs/sdtm.md show them -------------

    def steps(self, study: str, step: str) -> str:
        """``simulate``, ``sdtm``, ``adam`` or ``export`` of ``study`` in the folder
        ``study/`` (raw, sdtm, adam, pkg), each after the ones before it."""
        order = ["simulate", "sdtm", "adam", "export"]
        for before in order[:order.index(step)]:
            self.steps(study, before)
        args = {"simulate": ["simulate", "--study", study, "--out", "raw"],
                "sdtm": ["sdtm", "--study", study, "--raw", "raw", "--out", "sdtm"],
                "adam": ["adam", "--study", study, "--sdtm", "sdtm", "--out", "adam"],
                "export": ["export", "--study", study, "--sdtm", "sdtm", "--adam", "adam",
                           "--out", "pkg"]}[step]
        return self.once(f"{study}:{step}", lambda: self.shell(study, *args))


# ---------------------------------------------------------------------------------------
# generators: NAME -> Markdown between the markers
# ---------------------------------------------------------------------------------------

def fence(text: str, lang: str = "") -> str:
    return f"```{lang}\n{text}\n```\n"


def gen_demo_console(w: Work) -> str:
    """Console output of ``studybuild demo`` (what ``make demo`` prints after installing)."""
    return fence(w.demo())


def _km_row(ep, paramcd: str) -> dict:
    km = ep.km[ep.km["PARAMCD"] == paramcd]
    if len(km) != 1:
        km = km[km["GROUP"] == "Total"]
    if len(km) != 1:
        raise RuntimeError(f"no single {paramcd} Kaplan-Meier row (groups: "
                           f"{sorted(ep.km['GROUP'].unique())})")
    return km.iloc[0].to_dict()


def _median(row: dict) -> str:
    from studybuild.report.writer import fmt_months
    return (f"{fmt_months(row['median'], 'NR')} "
            f"({fmt_months(row['lower'])}–{fmt_months(row['upper'], 'NR')})")


def _rate(p) -> str:
    from studybuild.report.writer import fmt_rate
    pct, ci = fmt_rate(p.estimate, p.lower, p.upper)
    return f"{p.n}/{p.N}, {pct.replace('%', ' %')} ({ci})"


def gen_key_numbers(w: Work) -> str:
    """README: the report's headline numbers for both demo studies."""
    studies = [STS, COMBO]
    eps = [w.endpoints(s) for s in studies]
    head = " | ".join(f"{s} ({ep.rate('ORR', confirmed=True).N})"
                      for s, ep in zip(studies, eps))
    rows = [("ORR, confirmed (Clopper-Pearson 95 % CI)",
             [_rate(ep.rate("ORR", confirmed=True)) for ep in eps]),
            ("DCR, confirmed", [_rate(ep.rate("DCR", confirmed=True)) for ep in eps]),
            ("median PFS, months (95 % CI)", [_median(_km_row(ep, "PFS")) for ep in eps]),
            ("median OS, months (95 % CI)", [_median(_km_row(ep, "OS")) for ep in eps])]
    lines = [f"| | {head} |", "|---|" + "---|" * len(studies)]
    lines += [f"| {label} | {' | '.join(cells)} |" for label, cells in rows]
    return "\n".join(lines) + "\n"


def gen_report_numbers(w: Work) -> str:
    """docs/report.md: the surufatinib-sts numbers in a sentence."""
    from studybuild.report.writer import fmt_months
    ep = w.endpoints(STS)
    pfs, os_ = _km_row(ep, "PFS"), _km_row(ep, "OS")

    def median(r: dict) -> str:
        ci = f"95 % CI {fmt_months(r['lower'])}–{fmt_months(r['upper'], 'NR')}"
        if r["median"] != r["median"]:
            return f"not reached ({ci})"
        return f"{r['median']:g} days = {fmt_months(r['median'])} months ({ci})"
    orr, dcr = ep.rate("ORR", confirmed=True), ep.rate("DCR", confirmed=True)
    return textwrap.fill(
        f"PFS median {median(pfs)}, {int(pfs['events'])} events in {int(pfs['n'])} subjects; "
        f"OS median {median(os_)}, {int(os_['events'])} deaths in {int(os_['n'])} subjects; "
        f"confirmed ORR {orr.n}/{orr.N} (95 % CI {100 * orr.lower:.1f}–{100 * orr.upper:.1f} %); "
        f"confirmed DCR {dcr.n}/{dcr.N} = {100 * dcr.estimate:.1f} % "
        f"({100 * dcr.lower:.1f}–{100 * dcr.upper:.1f} %).",
        width=96, break_on_hyphens=False) + "\n"


def gen_export_console(w: Work) -> str:
    """README: ``studybuild export`` on the folders ``sdtm`` and ``adam`` wrote."""
    return fence(w.steps(STS, "export"))


def gen_export_steps(w: Work) -> str:
    """docs/export.md: the four steps (outputs of the first three left out)."""
    first = [w.steps(STS, s).splitlines()[0] for s in ("simulate", "sdtm", "adam")]
    return fence("\n".join([*first, w.steps(STS, "export")]))


def gen_export_no_traceability(w: Work) -> str:
    """docs/export.md: export of an SDTM folder without traceability/."""
    def run():
        w.steps(STS, "adam")
        base = w.root / STS
        shutil.copytree(base / "sdtm", base / "sdtm-other",
                        ignore=shutil.ignore_patterns("traceability"))
        return w.shell(STS, "export", "--study", STS, "--sdtm", "sdtm-other", "--adam", "adam",
                       "--out", "other")
    return fence(w.once("export-other", run))


def gen_export_refused(w: Work) -> str:
    """docs/export.md: the gate refusing an SDTM folder whose DM has SEX = MLE in row 3."""
    def run():
        from studybuild.export.xpt import read_xpt, write_xpt
        w.steps(STS, "export")
        base = w.root / STS
        shutil.copytree(base / "sdtm", base / "sdtm-fixed")
        dm_path = base / "sdtm-fixed" / "dm.xpt"
        dm, meta = read_xpt(dm_path)
        dm.loc[dm.index[2], "SEX"] = "MLE"
        write_xpt(dm, dm_path, dataset=meta.dataset, label=meta.label,
                  labels=dict(meta.labels), order=list(meta.columns))
        return w.shell(STS, "export", "--study", STS, "--sdtm", "sdtm-fixed", "--adam", "adam",
                       "--out", "pkg", expect=1)
    return fence(w.once("export-refused", run))


def gen_export_missing(w: Work) -> str:
    """docs/export.md: a folder that does not exist."""
    return fence(w.once("export-missing", lambda: w.shell(
        STS, "export", "--study", STS, "--sdtm", "sdtm", "--adam", "missing", "--out", "pkg",
        expect=2)))


def gen_sdtm_console(w: Work) -> str:
    """docs/sdtm.md: simulate, then ``studybuild sdtm`` with its summary table."""
    return fence(w.steps(STS, "simulate").splitlines()[0] + "\n" + w.steps(STS, "sdtm"))


def gen_simulate_console(w: Work) -> str:
    """docs/simulator.md: ``studybuild simulate`` and what it prints."""
    return fence(w.steps(STS, "simulate"))


def gen_adam_console(w: Work) -> str:
    """docs/adam.md: ``studybuild adam`` on the pharmaverse SDTM and on the combination study."""
    def pharmaverse():
        return w.shell(w.pharmaverse(), "adam", "--sdtm", "tests/data/pharmaverse/sdtm",
                       "--out", "adam")

    def combo():
        w.run("simulate", "--study", COMBO, "--out", "raw", cwd="combo")
        w.run("sdtm", "--study", COMBO, "--raw", "raw", "--out", "sdtm/", cwd="combo",
              expect=0)
        return w.shell("combo", "adam", "--sdtm", "sdtm/", "--out", "adam/", "--study", COMBO)
    return fence(w.once("adam-pharmaverse", pharmaverse) + "\n\n"
                 + w.once("adam-combo", combo))


def gen_validate_pharmaverse(w: Work) -> str:
    """docs/validation.md: ``studybuild validate`` on the pharmaverse SDTM (real findings)."""
    return fence(_validate_pharmaverse(w))


def _package_dataset(w: Work, study: str, name: str):
    """A dataset of the study's demo package, read from its XPT file wherever it is."""
    from studybuild.export.xpt import read_xpt
    return read_xpt(w.find(study, f"{name.lower()}.xpt"))[0]


def gen_ts_table(w: Work) -> str:
    """docs/trial-design.md: TS of the surufatinib-sts package, long values shortened."""
    ts = _package_dataset(w, STS, "TS")
    cols = ["TSPARMCD", "TSPARM", "TSVAL", "TSVALNF", "TSVALCD", "TSVCDREF", "TSVCDVER"]

    def cell(v) -> str:
        text = "" if v is None or v != v else str(v).replace("|", "\\|")
        return text if len(text) <= 70 else text[:67] + "..."
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |"
              for row in ts[cols].itertuples(index=False)]
    return "\n".join(lines) + "\n"


def gen_ta_tv_ti(w: Work) -> str:
    """docs/trial-design.md: the first records of TA, TV and TI of the surufatinib-sts package."""
    parts = []
    for name in ("TA", "TV", "TI"):
        df = _package_dataset(w, STS, name).drop(columns=["STUDYID", "DOMAIN"])
        parts.append(df.head(3).to_string(index=False))
    return fence("\n\n".join(parts))


# define.xml excerpt: (text the element's first line contains, lines kept or None for all)
DEFINE_EXCERPT: list[tuple[str, int | None]] = [
    ("<def:Standards>", None),
    ('<def:ValueListDef OID="VL.TR.TRSTRESN">', 4),
    ('<def:WhereClauseDef OID="WC.TR.TRTESTCD.LDIAM">', None),
    ('<ItemGroupDef OID="IG.DM"', 7),
    ('<ItemDef OID="IT.DM.SEX"', None),
    ('<CodeList OID="CL.SEX"', None),
]


def _element_lines(lines: list[str], start: str, keep: int | None) -> tuple[int, int]:
    """Where the pretty-printed element whose first line contains ``start`` is: the index
    of its first line and one past its last (its closing tag at the same indent), or past
    its first ``keep`` lines."""
    first = next((i for i, line in enumerate(lines) if start in line), None)
    if first is None:
        raise RuntimeError(f"define.xml has no {start}: update DEFINE_EXCERPT in "
                           f"tools/make_docs.py")
    indent = len(lines[first]) - len(lines[first].lstrip())
    last = first
    if not lines[first].rstrip().endswith("/>"):
        while not (lines[last].startswith(" " * indent + "</")
                   and len(lines[last]) - len(lines[last].lstrip()) == indent):
            last += 1
    return first, (last + 1 if keep is None else min(last + 1, first + keep))


def gen_define_excerpt(w: Work) -> str:
    """docs/define.md: parts of the surufatinib-sts package's SDTM define.xml."""
    sdtm = w.find(STS, "define.xml", containing='Purpose="Tabulation"')
    lines = sdtm.read_text(encoding="utf-8").splitlines()
    study = next(i for i, line in enumerate(lines) if "<Study " in line)
    out, end = lines[:study + 1], study + 1
    for start, keep in DEFINE_EXCERPT:
        first, stop = _element_lines(lines, start, keep)
        out += (["  ..."] if first != end else []) + lines[first:stop]
        end = stop
    return fence("\n".join(out), "xml")


def _python_before(page: str, name: str) -> str:
    """The last ```python block of ``page`` before the marker of block ``name``."""
    text = (ROOT / page).read_text(encoding="utf-8")
    before = text[:text.index(f"<!-- generated:{name} -->")]
    blocks = re.findall(r"```python\n(.*?)```", before, re.S)
    if not blocks:
        raise RuntimeError(f"{page}: no ```python block before {name}")
    return blocks[-1]


def _python_output(w: Work, page: str, name: str, cwd: str) -> str:
    """What the page's Python example before the marker prints, run in ``root/cwd``."""
    def run():
        folder = w.root / cwd
        folder.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "0",
               "COLUMNS": WIDTH, "TERM": "dumb", "NO_COLOR": "1"}
        proc = subprocess.run([sys.executable, "-"], input=_python_before(page, name),
                              cwd=folder, env=env, text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
        if proc.returncode != 0:
            raise RuntimeError(f"{page}: the Python example before {name} failed:\n"
                               f"{proc.stderr}")
        return proc.stdout.rstrip("\n")
    return fence(w.once(f"python:{page}:{name}", run))


def gen_readme_python(w: Work) -> str:
    """README: what the "From Python" example prints (run in a folder of its own)."""
    return _python_output(w, "README.md", "readme-python", "python-readme")


def gen_export_python(w: Work) -> str:
    """docs/export.md: what its "From Python" example prints, run where ``sdtm`` and ``adam``
    are the folders the steps wrote."""
    w.steps(STS, "adam")
    return _python_output(w, "docs/export.md", "export-python", STS)


def gen_manifest_toy(w: Work) -> str:
    """docs/manifest.md: the manifest of a toy package (one XPT, a report and a figure)."""
    def run():
        from studybuild.manifest import write_manifest
        pkg = w.root / "manifest-toy" / STS
        for rel, data in (("tabulations/sdtm/dm.xpt", b"HEADER RECORD" + b" " * 67),
                          ("report.html", b"<html>report</html>\n"),
                          ("figures/km_pfs.png", b"PNG bytes")):
            (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
            (pkg / rel).write_bytes(data)
        path = write_manifest(pkg, tool_version="0.1.0", ct_version="2025-03-28",
                              spec_files=[ROOT / "specs" / "studies" / STS / "study.yaml"],
                              gate_overridden=False, extra={"formats": ["xpt", "json"]})
        return path.read_text(encoding="utf-8").rstrip("\n")
    return fence(w.once("manifest-toy", run), "json")


def gen_spec_error(w: Work) -> str:
    """README, docs/trial-design.md: the SpecError for ``design.study_type: INTERVENTIONL``
    (paths shown relative to the repository, the message wrapped for the page)."""
    def run():
        from sdtm.trial_design import build_trial_design
        from studybuild.errors import SpecError
        from studybuild.study import load_study
        study = load_study(STS)
        bad = study.model_copy(update={"design": study.design.model_copy(
            update={"study_type": "INTERVENTIONL"})})
        try:
            build_trial_design(bad)
        except SpecError as e:
            return textwrap.fill(str(e).replace(f"{ROOT}{os.sep}", ""), width=92,
                                 break_on_hyphens=False, break_long_words=False)
        raise RuntimeError("a study_type outside codelist STYPE is no longer a SpecError")
    return fence(w.once("spec-error", run))


def gen_raw_example_rows(w: Work) -> str:
    """docs/raw-forms.md: the header and first rows of two simulated forms of the combination
    study (the demo's raw/ folder, as ``studybuild simulate`` writes it)."""
    blocks = []
    for form in ("ae.csv", "ex_envafolimab.csv"):
        text = w.find(COMBO, form).read_bytes().decode("utf-8-sig")
        blocks.append(fence("\n".join(text.splitlines()[:3])))
    return "\n".join(blocks)


def _pharmaverse_report(w: Work, name: str) -> Path:
    """A file of the report that ``studybuild validate`` wrote for the pharmaverse SDTM."""
    _validate_pharmaverse(w)
    return w.root / w.pharmaverse() / "rep" / name


def _validate_pharmaverse(w: Work) -> str:
    return w.once("validate-pharmaverse", lambda: w.shell(
        w.pharmaverse(), "validate", "tests/data/pharmaverse/sdtm", "--report", "rep",
        expect=1))


def gen_validate_pilot(w: Work) -> str:
    """docs/validation.md: ``studybuild validate`` on the CDISC pilot's SAS-written TS
    (Windows-1252 text) beside the pilot's Define-XML 1.0 trimmed to DM and TS, both from
    tests/data/cdiscpilot01, in a folder as the pilot ships them (ts.xpt, define.xml)."""
    def folder():
        sdtm = w.root / "pilot" / "sdtm"
        sdtm.mkdir(parents=True, exist_ok=True)
        data = ROOT / "tests" / "data" / "cdiscpilot01"
        (sdtm / "ts.xpt").write_bytes((data / "ts.xpt").read_bytes())
        (sdtm / "define.xml").write_bytes((data / "define_sdtm.xml").read_bytes())
        return w.shell("pilot", "validate", "sdtm", expect=1)
    return fence(w.once("validate-pilot", folder))


def gen_validate_finding(w: Work) -> str:
    """docs/validation.md: one finding of the pharmaverse report.json (the AESTDY one the page
    explains), one key a line and short values on one line as the page shows JSON."""
    import json
    report = json.loads(_pharmaverse_report(w, "report.json").read_text(encoding="utf-8"))
    found = [f for f in report["findings"] if f.get("rule_id") == "SB-CORE-000552"]
    if not found:
        raise RuntimeError("the pharmaverse report has no SB-CORE-000552 finding: update "
                           "gen_validate_finding and the prose around it")
    body = ",\n".join(f" {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}"
                      for k, v in found[0].items())
    return fence("{\n" + body + "\n}", "json")


def gen_validate_junit(w: Work) -> str:
    """docs/validation.md: the top of the pharmaverse junit.xml and the SB0101 test case."""
    lines = _pharmaverse_report(w, "junit.xml").read_text(encoding="utf-8").splitlines()
    case = next((i for i, line in enumerate(lines) if 'name="SB0101:' in line), None)
    if case is None:
        raise RuntimeError("the pharmaverse junit.xml has no SB0101 test case")
    return fence("\n".join([*lines[1:3], "    ...", *lines[case:case + 2]]), "xml")


def gen_cli_help(w: Work) -> str:
    """README: ``studybuild --help``."""
    return fence(w.once("help", lambda: w.shell(".", "--help")))


GENERATORS: dict[str, Callable[[Work], str]] = {
    "demo-console": gen_demo_console,
    "key-numbers": gen_key_numbers,
    "report-numbers": gen_report_numbers,
    "export-console": gen_export_console,
    "export-steps": gen_export_steps,
    "export-no-traceability": gen_export_no_traceability,
    "export-refused": gen_export_refused,
    "export-missing": gen_export_missing,
    "sdtm-console": gen_sdtm_console,
    "simulate-console": gen_simulate_console,
    "adam-console": gen_adam_console,
    "validate-pharmaverse": gen_validate_pharmaverse,
    "validate-pilot": gen_validate_pilot,
    "ts-table": gen_ts_table,
    "ta-tv-ti": gen_ta_tv_ti,
    "define-excerpt": gen_define_excerpt,
    "readme-python": gen_readme_python,
    "export-python": gen_export_python,
    "manifest-toy": gen_manifest_toy,
    "spec-error": gen_spec_error,
    "raw-example-rows": gen_raw_example_rows,
    "validate-finding": gen_validate_finding,
    "validate-junit": gen_validate_junit,
    "cli-help": gen_cli_help,
}

# docs image -> (study, file name of a figure in its demo package)
FIGURES: dict[str, tuple[str, str]] = {
    "report-km-pfs.png": (STS, "km_pfs.png"),
    "report-swimmer.png": (STS, "swimmer.png"),
}

# docs image -> (study, id of the one report.html section to show or "" for the top,
#                window width, height in pixels)
SCREENSHOTS: dict[str, tuple[str, str, int, int]] = {
    "report-screenshot-top.png": (STS, "", 1100, 1000),
    "report-screenshot-response.png": (COMBO, "response", 1100, 1100),
}


def gen_rules_doc(w: Work) -> str:
    from validation.docs import render
    return render()


# whole files: path relative to ROOT -> generator
WHOLE_FILES: dict[str, Callable[[Work], str]] = {"docs/rules.md": gen_rules_doc}


# pages other tools write and other tests check (run by `make docs` so one command
# refreshes everything; not part of --check): path -> command run in ROOT
OTHER_WRITERS: dict[str, list[str]] = {
    "docs/bad-input.md": [sys.executable, "tests/bad_inputs/corpus.py"],   # test_bad_inputs
}


def other_writers() -> list[str]:
    done = []
    for rel, cmd in OTHER_WRITERS.items():
        before = (ROOT / rel).read_bytes()
        proc = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[1:])} failed:\n{proc.stdout}")
        if (ROOT / rel).read_bytes() != before:
            done.append(f"{rel}: rewritten by {' '.join(cmd[1:])}")
    return done


# ---------------------------------------------------------------------------------------
# rewriting and checking
# ---------------------------------------------------------------------------------------

def render_page(text: str, w: Work, *, where: str = "") -> str:
    """``text`` with the body of every marker block replaced by its generator's output."""
    unknown = sorted({m["name"] for m in MARKER.finditer(text)} - GENERATORS.keys())
    if unknown:
        raise SystemExit(f"{where}: unknown generated block(s) {', '.join(unknown)} "
                         f"(known: {', '.join(sorted(GENERATORS))})")
    opened = len(re.findall(r"<!-- generated:[a-z0-9-]+ -->", text))
    if opened != len(MARKER.findall(text)):
        raise SystemExit(f"{where}: a '<!-- generated:NAME -->' marker has no matching "
                         f"'<!-- /generated:NAME -->'")

    def body(m: re.Match) -> str:
        new = GENERATORS[m["name"]](w)
        if str(w.root) in new or re.search(r"(?<![\w.])/tmp/", new):
            raise RuntimeError(f"{where}: block {m['name']} would show an absolute path:\n{new}")
        return (m["indent"] + m["open"] + textwrap.indent(new, m["indent"]) + m["indent"]
                + m["close"])
    return MARKER.sub(body, text)


def planned(w: Work) -> dict[Path, bytes]:
    """Every generated file's expected bytes (pages, whole files, figures)."""
    out: dict[Path, bytes] = {}
    for page in doc_files():
        rel = page.relative_to(ROOT).as_posix()
        if rel in WHOLE_FILES:
            continue
        text = page.read_text(encoding="utf-8")
        if MARKER.search(text):
            out[page] = render_page(text, w, where=rel).encode("utf-8")
    for rel, gen in WHOLE_FILES.items():
        out[ROOT / rel] = gen(w).encode("utf-8")
    for name, (study, figure) in FIGURES.items():
        out[ROOT / "docs" / name] = w.find(study, figure).read_bytes()
    return out


def stale_blocks(path: Path, new: bytes) -> list[str]:
    """Names of the blocks of ``path`` whose text differs from ``new`` (or the whole file)."""
    old = path.read_bytes() if path.exists() else b""
    if path.suffix != ".md":
        return ["(image)"]
    olds = {m["name"]: m["body"] for m in MARKER.finditer(old.decode("utf-8"))}
    news = {m["name"]: m["body"] for m in MARKER.finditer(new.decode("utf-8"))}
    names = sorted(n for n in news if olds.get(n) != news[n])
    return names or ["(whole file)"]


def _small_png(path: Path) -> bytes:
    """The screenshot with a 256-colour palette (a third of the size; text stays sharp)."""
    import io

    from PIL import Image                       # matplotlib's dependency
    buf = io.BytesIO()
    with Image.open(path) as img:
        img.convert("RGB").quantize(colors=256).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def screenshots(w: Work) -> list[str]:
    """Take the browser screenshots when Chromium is installed; what was done, in words."""
    browser = next(filter(None, map(shutil.which, ("chromium", "chromium-browser",
                                                     "google-chrome"))), None)
    if browser is None:
        return [f"docs/{n}: left as it is (no chromium on this machine)" for n in SCREENSHOTS]
    from studybuild.atomic import write_bytes
    done = []
    for name, (study, section, width, height) in SCREENSHOTS.items():
        page = w.find(study, "report.html", containing="reviewer report")
        if section:     # a copy that shows only that section (headless Chromium ignores #ids)
            html = page.read_text(encoding="utf-8").replace(
                "</head>", f"<style>nav, main > section:not(#{section}) "
                           "{display: none !important}</style></head>", 1)
            page = page.with_name(f".shot-{section}.html")
            page.write_text(html, encoding="utf-8")
        shot = w.root / f"shot-{name}"
        proc = subprocess.run([browser, "--headless=new", "--no-sandbox", "--disable-gpu",
                               "--hide-scrollbars", "--virtual-time-budget=5000",
                               f"--window-size={width},{height}", f"--screenshot={shot}",
                               page.resolve().as_uri()],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0 or not shot.is_file():
            done.append(f"docs/{name}: chromium failed, left as it is:\n{proc.stdout}")
            continue
        png, target = _small_png(shot), ROOT / "docs" / name
        if target.exists() and target.read_bytes() == png:
            continue
        write_bytes(target, png)
        done.append(f"docs/{name}: new screenshot of the {study} report"
                    + (f" (section {section} only)" if section else ""))
    return done


def check(w: Work) -> list[str]:
    """What is stale: ``path: block, block`` per file that differs from the generators."""
    stale = []
    for path, new in planned(w).items():
        if not path.exists() or path.read_bytes() != new:
            stale.append(f"{path.relative_to(ROOT).as_posix()}: "
                         f"{', '.join(stale_blocks(path, new))}")
    return stale


def write(w: Work, *, shots: bool = True) -> list[str]:
    """Rewrite what is stale (atomically); the list of what changed and what was done."""
    from studybuild.atomic import write_bytes
    changed = []
    for path, new in planned(w).items():
        if path.exists() and path.read_bytes() == new:
            continue
        rel = path.relative_to(ROOT).as_posix()
        changed.append(f"{rel}: {', '.join(stale_blocks(path, new))}")
        write_bytes(path, new)
    return changed + other_writers() + (screenshots(w) if shots else [])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 listing the stale blocks and files")
    ap.add_argument("--work", type=Path, default=None,
                    help="build in this (new or empty) folder and keep it; default: a temp folder")
    ap.add_argument("--no-screenshots", action="store_true",
                    help="do not take browser screenshots even if chromium is installed")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="make-docs-") as tmp:
        root = args.work.resolve() if args.work else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        if any(root.iterdir()):
            raise SystemExit(f"{root}: not empty (give a new or empty folder)")
        w = Work(root)
        if args.check:
            stale = check(w)
            for line in stale:
                print(f"stale: {line}")
            if stale:
                print("run `make docs` to regenerate them")
            return 1 if stale else 0
        for line in write(w, shots=not args.no_screenshots) or ["docs are current"]:
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
