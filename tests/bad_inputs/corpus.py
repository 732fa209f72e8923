"""The bad-input corpus: how each case folder is turned into input and run through the CLI.

Each folder beside this file is one case: ``README.md`` (one line: what is wrong and what the
user must see) and ``case.yaml``:

```yaml
command: sdtm                  # sdtm (raw forms -> SDTM) or validate (a folder of datasets)
input: raw                     # raw: the base study's raw forms; spec: its spec folder too;
                               # datasets: a folder with one small valid DM XPT
ops:                           # what to break, in order (see OPS below)
  - {op: delete, file: death.csv}
expect:
  exit: 2                      # the CLI contract: 0 built, 1 error findings, 2 unreadable
  message: ["raw/death.csv", "not found", "export form 'death'"]   # all in the message
  findings:                    # exit 0/1: findings the case must produce (every other
    - {rule: SB-MAP-DATE, dataset: ae.csv, variable: AESTDAT, row: 4}   # error or warning
  also: [SB-SDTM-XPT]          # is a failure unless its rule is listed here)
  exclusion: {form: ae, row: 20, reason: "is not in the subject registry"}
  values: {dataset: AE, form: ae, variable: AESTDTC, rows: {4: null}}    # by raw row
  spec_line: {file: sdtm/ae.yaml, text: "asign"}   # the message names this spec line
```

The raw cases start from a small clean simulated study (3 subjects, no mess) so the only
problem is the one the case adds; the spec cases break a copy of the third study's spec
(``tests/specs/zetatinib-nsclc``, which only the tests use, so line numbers stay put);
files are edited as CSV text, rows numbered as everywhere in studybuild (1-based data
rows, the header is row 0). ``python tests/bad_inputs/corpus.py`` runs every case and
rewrites ``docs/bad-input.md`` from the real messages; ``tests/test_bad_inputs.py`` runs
them and checks that page is still true.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DOC = REPO / "docs" / "bad-input.md"
STUDY = "surufatinib-sts"
SUBJECTS = 3
SEED = 11
SPEC_STUDY = "zetatinib-nsclc"
SPEC_SOURCE = REPO / "tests" / "specs" / SPEC_STUDY


@dataclass
class Case:
    name: str
    folder: Path
    readme: str
    command: str
    input: str
    ops: list[dict[str, Any]]
    expect: dict[str, Any]


@dataclass
class Outcome:
    case: Case
    exit_code: int
    stdout: str
    stderr: str
    workdir: Path
    exception: str | None = None            # repr of an uncaught exception
    accounting: pd.DataFrame | None = None
    exclusions: pd.DataFrame | None = None
    lineage: pd.DataFrame | None = None
    findings: list[dict] = field(default_factory=list)

    @property
    def message(self) -> str:
        """The one-line error (exit 2), else the finding or exclusion the case is about; paths
        inside the case folder are shown relative to it, as the user typed them."""
        line = _error_line(self.stderr) or _error_line(self.stdout)
        if not line:
            line = " | ".join(self.doc_lines())
        for prefix in {str(self.workdir), str(self.workdir.resolve())}:
            line = line.replace(prefix + os.sep, "")
        return line

    def doc_lines(self) -> list[str]:
        out = []
        for rec in self.matching_findings():
            out.append(f"{rec['severity']} {rec['rule_id']} {rec['dataset']}: "
                       f"{rec['message']}")
        if self.case.expect.get("exclusion") and self.exclusions is not None:
            for _, r in self.matching_exclusions().iterrows():
                out.append(f"exclusions.csv: {r['FORM']} row {r['RAW_ROW']}: {r['REASON']}")
        return out

    def matching_findings(self, spec: dict | None = None) -> list[dict]:
        """Findings matching ``spec`` (rule, dataset, variable, row), or any of the case's."""
        specs = [spec] if spec is not None else list(self.case.expect.get("findings") or [])
        hits = []
        for rec in self.findings:
            for f in specs:
                if rec["rule_id"] == f.get("rule") and all(
                        rec[k] == f[k] for k in ("dataset", "variable", "row") if k in f):
                    hits.append(rec)
                    break
        return hits

    def unexpected_findings(self) -> list[dict]:
        """Error and warning findings the case does not expect (the base study has none)."""
        hit = {id(r) for r in self.matching_findings()}
        also = set(self.case.expect.get("also") or ())
        return [r for r in self.findings if r["severity"] in ("error", "warning")
                and id(r) not in hit and r["rule_id"] not in also]

    def matching_exclusions(self) -> pd.DataFrame:
        x = self.case.expect.get("exclusion") or {}
        e = self.exclusions
        if e is None:
            return pd.DataFrame()
        m = (e["FORM"] == x.get("form")) & (e["RAW_ROW"] == x.get("row"))
        return e[m]


def _error_line(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("studybuild: error: "):
            return line[len("studybuild: error: "):]
    return ""


# --------------------------------------------------------------------------------------------
# cases
# --------------------------------------------------------------------------------------------

def cases() -> list[Case]:
    from studybuild.yamlspec import load_yaml

    out = []
    for folder in sorted(p for p in HERE.iterdir() if (p / "case.yaml").is_file()):
        data, _ = load_yaml(folder / "case.yaml")
        readme = (folder / "README.md").read_text(encoding="utf-8").strip()
        out.append(Case(name=folder.name, folder=folder, readme=readme,
                        command=data["command"], input=data.get("input", "raw"),
                        ops=list(data.get("ops") or []), expect=dict(data["expect"])))
    return out


# --------------------------------------------------------------------------------------------
# base inputs (made once per session and copied per case)
# --------------------------------------------------------------------------------------------

def make_base(root: Path) -> Path:
    """The base study's raw forms in ``root/raw`` (simulated, clean) and a small DM XPT in
    ``root/datasets`` (hand-made values); made once, reused."""
    from studybuild.export.xpt import write_xpt
    from studybuild.simulate import simulate_study
    from studybuild.simulate.config import MessConfig

    root = Path(root)
    raw = root / "raw"
    if not (raw / "enrol.csv").is_file():
        simulate_study(STUDY, raw, subjects=SUBJECTS, seed=SEED, mess=MessConfig.off())
        shutil.rmtree(raw / "_truth", ignore_errors=True)
    ds = root / "datasets"
    if not (ds / "dm.xpt").is_file():
        ds.mkdir(parents=True, exist_ok=True)
        import datetime as dt

        dm = pd.DataFrame({
            "STUDYID": ["S1"] * 3, "DOMAIN": ["DM"] * 3,
            "USUBJID": ["S1-001", "S1-002", "S1-003"], "SUBJID": ["001", "002", "003"],
            "SITEID": ["01"] * 3, "AGE": [54.0, 61.0, 47.0], "AGEU": ["YEARS"] * 3,
            "SEX": ["M", "F", "F"], "COUNTRY": ["CHN"] * 3})
        write_xpt(dm, ds / "dm.xpt", dataset="DM", label="Demographics",
                  timestamp=dt.datetime(2024, 1, 1))
    return root


def prepare(case: Case, base: Path, work: Path) -> tuple[list[str], dict[str, str]]:
    """Copy the base inputs into ``work``, apply the case's ops; return (CLI args, env)."""
    work = Path(work)
    env: dict[str, str] = {}
    study = STUDY
    if case.input == "raw":
        shutil.copytree(base / "raw", work / "raw")
    if case.input == "spec":
        from studybuild.paths import specs_dir

        study = SPEC_STUDY
        specs = work / "specs"
        (specs / "studies").mkdir(parents=True)
        (specs / "standards").symlink_to(specs_dir() / "standards", target_is_directory=True)
        shutil.copytree(SPEC_SOURCE, specs / "studies" / study,
                        ignore=shutil.ignore_patterns("raw"))
        shutil.copytree(SPEC_SOURCE / "raw", work / "raw")
        env["STUDYBUILD_SPECS"] = str(specs)
    if case.input == "datasets":
        shutil.copytree(base / "datasets", work / "data")
    for op in case.ops:
        apply_op(case, work, op)
    if case.command == "sdtm":
        args = ["sdtm", "--study", study, "--raw", "raw", "--out", "out"]
    elif case.command == "validate":
        args = ["validate", "data"] + list(case.expect.get("args", []))
    else:
        raise ValueError(f"{case.name}: unknown command {case.command!r}")
    return args, env


def _where(case: Case, work: Path, op: dict) -> Path:
    file = op["file"]
    if case.input == "spec" and op.get("spec"):
        return work / "specs" / "studies" / SPEC_STUDY / file
    if case.input == "datasets":
        return work / "data" / file
    return work / "raw" / file


def _read_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def _write_rows(path: Path, rows: list[list[str]], encoding: str = "utf-8",
                newline: str = "\n") -> None:
    buf = io.StringIO()
    csv.writer(buf, lineterminator=newline).writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))


def _set(rows: list[list[str]], row: int, values: dict[str, Any]) -> None:
    header = rows[0]
    for col, val in values.items():
        rows[row][header.index(col)] = "" if val is None else str(val)


def apply_op(case: Case, work: Path, op: dict) -> None:
    """One corruption. Rows are 1-based data rows (the header is row 0)."""
    kind = op["op"]
    path = _where(case, work, op)
    if kind == "delete":
        path.unlink()
    elif kind == "write":                       # replace the file with this text / bytes
        if "hex" in op:
            path.write_bytes(bytes.fromhex(op["hex"]))
        else:
            path.write_bytes(str(op.get("text", "")).encode(op.get("encoding", "utf-8")))
    elif kind == "copy":                        # a file kept in the case folder
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(case.folder / op.get("from", op["file"]), path)
    elif kind == "drop_column":
        rows = _read_rows(path)
        i = rows[0].index(op["column"])
        _write_rows(path, [r[:i] + r[i + 1:] for r in rows])
    elif kind == "keep_rows":                   # keep the header and the first N data rows
        rows = _read_rows(path)
        _write_rows(path, rows[: 1 + int(op["rows"])])
    elif kind == "set":                         # set cells of one row (optionally re-encoded)
        rows = _read_rows(path)
        _set(rows, int(op["row"]), op["values"])
        _write_rows(path, rows, encoding=op.get("encoding", "utf-8"))
    elif kind == "append":                      # append a copy of a row with some cells set
        rows = _read_rows(path)
        new = list(rows[int(op["copy"])])
        rows.append(new)
        _set(rows, len(rows) - 1, op.get("values", {}))
        _write_rows(path, rows)
    elif kind == "reencode":                    # the same text in another encoding
        path.write_bytes(path.read_text(encoding="utf-8").encode(op["encoding"]))
    elif kind == "bom":
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    elif kind == "crlf":
        path.write_bytes(path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    elif kind == "edit":                        # text replacement (count -1: all)
        text = path.read_text(encoding="utf-8")
        if op["find"] not in text:
            raise ValueError(f"{case.name}: {op['find']!r} not found in {path}")
        path.write_text(text.replace(op["find"], op["replace"], int(op.get("count", 1))),
                        encoding="utf-8")
    elif kind == "patch":                       # overwrite bytes at an offset
        data = bytearray(path.read_bytes())
        new = op["text"].encode("ascii")
        data[int(op["offset"]): int(op["offset"]) + len(new)] = new
        path.write_bytes(bytes(data))
    elif kind == "truncate":                    # keep the first N bytes (N < 0: drop -N)
        data = path.read_bytes()
        path.write_bytes(data[: int(op["size"])] if int(op["size"]) else b"")
    else:
        raise ValueError(f"{case.name}: unknown op {kind!r}")


# --------------------------------------------------------------------------------------------
# running
# --------------------------------------------------------------------------------------------

@contextlib.contextmanager
def _environment(workdir: Path, env: dict[str, str]):
    """cwd = the case folder (messages show relative paths); STUDYBUILD_SPECS for spec cases
    (the cached spec locations are cleared on the way in and out)."""
    from studybuild import paths, study

    old_cwd = os.getcwd()
    old_env = {k: os.environ.get(k) for k in env}
    os.chdir(workdir)
    os.environ.update(env)
    if env:
        paths.specs_dir.cache_clear()
        study.load_study.cache_clear()
    try:
        yield
    finally:
        os.chdir(old_cwd)
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if env:
            paths.specs_dir.cache_clear()
            study.load_study.cache_clear()


def run_case(case: Case, base: Path, work: Path) -> Outcome:
    """Prepare the case in ``work`` and run the CLI on it in this process."""
    import json

    from click.testing import CliRunner

    from studybuild.cli import cli

    work.mkdir(parents=True, exist_ok=True)
    args, env = prepare(case, base, work)
    with _environment(work, env):
        res = CliRunner().invoke(cli, args, catch_exceptions=True)
    exc = res.exception if not isinstance(res.exception, SystemExit) else None
    out = Outcome(case=case, exit_code=res.exit_code, stdout=res.stdout, stderr=res.stderr,
                  workdir=work, exception=None if exc is None else repr(exc))
    trace = work / "out" / "traceability"
    if trace.is_dir():
        out.accounting = pd.read_csv(trace / "accounting.csv")
        out.exclusions = pd.read_csv(trace / "exclusions.csv", dtype={"REASON": str})
        out.lineage = pd.read_csv(trace / "lineage.csv")
        out.findings = json.loads((trace / "findings.json").read_text())["findings"]
    return out


def spec_line(case: Case, work: Path) -> str | None:
    """'<spec file>:<line>:' that the case's message must name: the line of the corrupted
    spec file holding ``expect.spec_line.text`` (plus ``plus`` lines)."""
    want = case.expect.get("spec_line")
    if not want:
        return None
    rel = Path("specs") / "studies" / SPEC_STUDY / want["file"]
    lines = (work / rel).read_text(encoding="utf-8").splitlines()
    n = next(i for i, line in enumerate(lines, 1) if want["text"] in line)
    return f"{rel.as_posix()}:{n + int(want.get('plus', 0))}:"


def raw_row_counts(raw: Path) -> dict[str, int]:
    """Data rows per CSV in a raw folder, counted with the csv module (independently of
    studybuild's reader); BOM and CRLF tolerated."""
    counts = {}
    for p in sorted(Path(raw).glob("*.csv")):
        text = p.read_bytes().decode("utf-8-sig", errors="replace")
        rows = [r for r in csv.reader(io.StringIO(text, newline="")) if r]
        counts[p.stem] = max(0, len(rows) - 1)
    return counts


def _run_one(args) -> Outcome:
    case, base, work = args
    return run_case(case, base, work)


def run_cases(selected: list[Case], base: Path, root: Path, *, workers: int = 2
              ) -> dict[str, Outcome]:
    """Run cases in ``workers`` processes (each case in its own folder under ``root``):
    the builds are independent and most of a build is fixed cost, so two at a time halve
    the wall time on a two-core machine. Results by case name."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    builds = [c for c in selected if c.expect.get("exit") != 2]   # slow ones first
    quick = [c for c in selected if c.expect.get("exit") == 2]
    jobs = [(c, Path(base), Path(root) / c.name) for c in builds + quick]
    if workers <= 1 or len(jobs) < 2:
        return {c.name: _run_one(j) for c, j in zip(builds + quick, jobs)}
    ctx = multiprocessing.get_context("spawn")      # no fork after pyarrow's threads
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        done = list(pool.map(_run_one, jobs))
    return {o.case.name: o for o in done}


# --------------------------------------------------------------------------------------------
# docs/bad-input.md
# --------------------------------------------------------------------------------------------

EXIT_WORDS = {0: "0 (built)", 1: "1 (built; error findings)", 2: "2 (stopped)"}


def doc_entry(o: Outcome) -> str:
    if o.exit_code in (0, 1):
        lines = o.doc_lines() + [x for x in o.stdout.splitlines() if x.startswith("raw rows:")]
    else:
        lines = [o.message]
    text = "<br>".join(_cell(x) for x in lines)
    exit_code = EXIT_WORDS.get(o.exit_code, o.exit_code)
    return f"| `{o.case.name}` | {_cell(o.case.readme)} | {exit_code} | {text} |"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


HEAD = """# What bad input gets

studybuild never answers bad input with a traceback and never drops a raw record silently.
What cannot be read stops the command with **exit 2** and one line on stderr naming the
file, the row (or spec line) and the column, and what to do. What can be read but is wrong is
built anyway and reported: an error-level finding makes the command **exit 1**, a warning or
an exclusion (listed in `traceability/exclusions.csv` with its reason) keeps exit 0. Exit 3
would be a bug in studybuild.

Every row below is a case of the bad-input corpus (`tests/bad_inputs/<case>/`: a README line
and the corruption, applied to a clean 3-subject simulated surufatinib-sts export or a small
DM dataset), and every message is the real output, with paths relative to the folder the
command ran in. `tests/test_bad_inputs.py` runs the cases and fails when this page no longer
matches what the code says; `python tests/bad_inputs/corpus.py` rewrites it.

Commands: `studybuild sdtm --study surufatinib-sts --raw raw --out out` for raw forms,
the same with `--study zetatinib-nsclc` (the tests' third study, its spec folder copied
into a spec library named by `STUDYBUILD_SPECS`) for specs, and
`studybuild validate data [--define data/define.xml]` for datasets and define.xml.
For a build that ran, the accounting adds up (every raw row read is mapped or excluded with a
reason) and the message shown is the finding (`traceability/findings.json`, also printed by
the command) or the exclusion the case is about.

| case | what is wrong, and what the user must see | exit | message |
|---|---|---|---|
"""


def render_doc(outcomes: list[Outcome]) -> str:
    return HEAD + "\n".join(doc_entry(o) for o in outcomes) + "\n"


def main() -> int:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = make_base(tmp / "base")
        all_cases = cases()
        done = run_cases(all_cases, base, tmp / "cases")
        outcomes = [done[c.name] for c in all_cases]
        for o in outcomes:
            print(f"{o.case.name}: exit {o.exit_code}: {o.message}", file=sys.stderr)
    DOC.write_text(render_doc(outcomes), encoding="utf-8")
    print(f"wrote {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
