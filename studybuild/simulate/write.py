"""Formats the simulated forms, applies the mess, and writes the folder atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from studybuild.atomic import staged_dir
from studybuild.simulate import engine
from studybuild.simulate import mess as M
from studybuild.simulate import truth as TR
from studybuild.simulate.config import vocabulary
from studybuild.simulate.forms import ID_COLUMNS, RANK_EOS, RANK_EOT, RANK_LOGS, RANK_SFU, registry


def forms_of(spec) -> dict:
    combo = [d.code for d in spec.drugs.values() if d.cycles]
    return registry(dict(spec.drugs), combo)


def _finalise(df: pd.DataFrame, form, key: str, st) -> pd.DataFrame:
    d = df.copy()
    # visit folders and survival contacts in date order; single folders and logs by position
    d.loc[np.isin(d["_rank"].to_numpy(), (RANK_EOT, RANK_SFU, RANK_EOS, RANK_LOGS)), "_date"] = 0.0
    d = d.sort_values(["_subj", "_rank", "_date", "_vnum", "InstanceName", "RecordPosition"],
                      kind="mergesort")
    d["Project"] = st.study.studyid
    d["SiteNumber"] = pd.Series(st.pop.site[d["_subj"].to_numpy()], dtype=object, index=d.index)
    d["Subject"] = pd.Series(st.pop.subject[d["_subj"].to_numpy()], dtype=object, index=d.index)
    d["DataPageName"] = form.page
    cols = list(ID_COLUMNS) + form.names
    missing = [c for c in form.names if c not in d]
    if missing:          # a bug in a form builder; never silently write a short form
        raise AssertionError(f"form {key} lacks fields {missing}")
    return d[cols].reset_index(drop=True)


def _arrow_column(values: pd.Series):
    """A column as an Arrow large_string array with RFC 4180 quoting (nulls stay null)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    v = values
    if v.dtype.kind in "iub":
        v = v.astype(str)
    try:                                   # text columns convert directly
        if v.dtype != object:
            raise TypeError
        a = pa.array(v.to_numpy(), type=pa.large_string(), from_pandas=True)
    except (TypeError, pa.ArrowTypeError, pa.ArrowInvalid):
        a = pa.array(v.astype("str"), type=pa.large_string(), from_pandas=True)
    if isinstance(a, pa.ChunkedArray):
        a = a.combine_chunks()
    def needs_quotes(x):
        need = pc.match_substring(x, ",")
        for ch in ('"', "\n", "\r"):                      # literal searches beat one regex
            need = pc.or_(need, pc.match_substring(x, ch))
        return need

    if pc.any(needs_quotes(pc.unique(a))).as_py():         # most columns: few distinct values
        need = needs_quotes(a)
        q = pa.scalar('"', pa.large_string())
        quoted = pc.binary_join_element_wise(q, pc.replace_substring(a, '"', '""'), q,
                                             pa.scalar("", pa.large_string()))
        a = pc.if_else(pc.fill_null(need, False), quoted, a)
    return a


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """Write ``df`` as CSV: UTF-8, ``\n`` line ends, a field quoted only when it holds a comma,
    quote or line break, missing as an empty field. Vectorised with Arrow compute (one pass per
    column), streamed to the file in chunks."""
    import pyarrow as pa
    import pyarrow.compute as pc

    header = _arrow_column(pd.Series(list(df.columns), dtype="str"))
    with open(path, "wb") as f:
        f.write((",".join(header.to_pylist()) + "\n").encode("utf-8"))
        if not len(df):
            return
        cols = [_arrow_column(df[c]) for c in df.columns]
        opts = pc.JoinOptions(null_handling="replace", null_replacement="")
        lines = pc.binary_join_element_wise(*cols, pa.scalar(",", pa.large_string()), options=opts) \
            if len(cols) > 1 else pc.fill_null(cols[0], "")
        del cols
        lines = lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset:lines.offset + len(lines) + 1]
        data = np.frombuffer(lines.buffers()[2], dtype=np.uint8)
        step = 1 << 18                                      # rows per chunk written
        for i in range(0, len(lines), step):               # loop over chunks, not rows
            o = offsets[i:i + step + 1]
            chunk = np.insert(data[o[0]:o[-1]], o[1:] - o[0], ord("\n"))   # line break after each row
            f.write(chunk.data)


def to_csv(df: pd.DataFrame) -> bytes:
    """:func:`write_csv` into bytes."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "x.csv"
        write_csv(df, p)
        return p.read_bytes()


def write_all(study, spec, mess, n: int, seed: int, out: Path) -> tuple[dict, dict]:
    voc = vocabulary()
    st = engine.run(study, spec, voc, mess, n, seed)
    reg = forms_of(spec)
    log = M.MessLog()
    rows: dict[str, int] = {}
    death = M.death_kinds(st.streams, mess, len(st.pop.subject))
    with staged_dir(out) as tmp:
        for group in engine.form_groups(st):                # one group of forms in memory
            frames = group()
            for key in list(frames):
                form = reg[key]
                df = frames.pop(key).reset_index(drop=True)
                M.format_dates(df, key, form, mess, st.streams, log, death)
                M.coded_variants(df, key, form, mess, voc, st.streams, log)
                if key == "ae":
                    M.ae_typos(df, mess, voc, st.streams, log)
                M.non_ascii(df, key, form, mess, voc, st.streams, log)
                M.cjk_text(df, key, form, mess, voc, st.streams, log)
                if form.log:
                    df = M.duplicates(df, key, mess, st.streams, log)
                df = _finalise(df, form, key, st)
                write_csv(df, tmp / form.file)
                rows[key] = len(df)
                del df
        rows = {reg[k].file: rows[k] for k in reg}          # registry order
        truth = TR.tables(st, log.frame())
        (tmp / "README.md").write_text(readme(study, spec, reg, rows, n, seed), encoding="utf-8")
        tdir = tmp / "_truth"
        tdir.mkdir()
        for name, df in truth.items():
            write_csv(_truth_sorted(name, df), tdir / f"{name}.csv")
        (tdir / "README.md").write_text(TRUTH_README, encoding="utf-8")
    return rows, {f"{k}.csv": len(v) for k, v in truth.items()}


def _truth_sorted(name: str, df: pd.DataFrame) -> pd.DataFrame:
    keys = {"subjects": ["Subject"], "assessments": ["Subject", "DATE", "ASSESS"],
            "ae": ["Subject", "AESPID"], "dose_changes": ["Subject", "DRUG", "HELD_FROM_DT", "KIND"],
            "mess": ["form", "Subject", "kind", "field", "FolderName", "InstanceName", "RecordPosition",
                     "written"]}[name]
    d = df.copy()
    cols = []
    for k in reversed(keys):
        v = d[k]
        if v.dtype.kind in "if":
            cols.append(np.nan_to_num(v.to_numpy(dtype=float), nan=-1.0))
        else:
            cols.append(v.astype(object).where(v.notna(), "").astype(str).to_numpy().astype(str))
    order = np.lexsort(cols)
    d = d.iloc[order].reset_index(drop=True)
    for c in d.columns:
        if d[c].dtype.kind == "f":
            v = d[c].to_numpy()
            txt = np.where(np.isnan(v), None, np.char.mod("%g", np.nan_to_num(v)))
            d[c] = txt.astype(object)
    return d


def readme(study, spec, reg: dict, rows: dict, n: int, seed: int) -> str:
    lines = [f"# Raw EDC export: {study.studyid} ({study.id})", "",
             f"Simulated by `studybuild simulate` ({n} subjects, seed {seed}); data cut-off "
             f"{study.dates.data_cutoff.isoformat()}. One CSV per CRF form, laid out as an EDC "
             "export (identifiers first, CDASH-style field names, coded fields as the CRF's display "
             "text, dates as `DD-MON-YYYY` text, partial dates as `UN-MAR-2021` / `UN-UNK-2021`). "
             "The full layout is `docs/raw-forms.md` in the studybuild repository.", "",
             "`_truth/` holds what the simulator decided (true progression, best response, death, "
             "TEAE flags, dose changes, injected mess). It is not part of the export: mappers must "
             "not read it.", "",
             "## Default sample size", "", " ".join(spec.sample_size.split()), "",
             *[f"- [{k}] {v}" for k, v in spec.references.items() if f"[{k}]" in spec.sample_size],
             "",
             "## Identifier columns (every form)", "",
             "| column | meaning |", "|---|---|",
             "| `Project` | protocol id (STUDYID) |",
             "| `SiteNumber` | site number |",
             "| `Subject` | subject number (site-sequence) |",
             "| `FolderName` | EDC folder (visit); upper-cased it is a study.yaml visit name, or `Unscheduled`, `End of Study`, `Logs` |",
             "| `InstanceName` | folder instance (`Unscheduled (2)`, `Survival Follow-up (3)`) |",
             "| `DataPageName` | form name |",
             "| `RecordPosition` | 0 on single-record forms, 1..n on logs and lesion forms |", "",
             "## Forms", ""]
    for key, form in reg.items():
        lines += [f"### `{form.file}`: {form.page}", "",
                  f"Folder(s): {form.folders}. A row is {form.row}"
                  f"{' (log form: lines may be duplicated)' if form.log else ''}. "
                  f"Rows: {rows[form.file]}.", "",
                  "| field | type | meaning |", "|---|---|---|"]
        kinds = {"text": "text", "coded": "coded (display text)", "free": "free text",
                 "date": "date", "pdate": "date, partial allowed", "number": "number"}
        lines += [f"| `{f.name}` | {kinds[f.kind]} | {f.meaning} |" for f in form.fields]
        lines.append("")
    return "\n".join(lines)


TRUTH_README = """# _truth: what the simulator decided (not input data)

Never read by mappers; tests compare derivations with it. Dates are ISO 8601. Definitions
(best response, TEAE, PFS, OS, last known alive) are in `docs/simulator.md` of studybuild.

- `subjects.csv`: one row per subject: first/last dose (per drug), stop reasons, latent and
  observed progression (RECIST recomputed and investigator), subsequent therapy start, PFS and
  OS dates and censoring, death date and cause, last known alive date, end of study, best
  overall response (confirmed and unconfirmed, investigator and RECIST), responder flags,
  dose interruption and reduction counts.
- `assessments.csv`: one row per tumour assessment (baseline included): date, planned date,
  out-of-window flag, unit, sum of diameters in mm, nadir before it, RECIST target,
  non-target and overall responses, investigator's response, disagreement flag.
- `ae.csv`: one row per AE record: true dates, grade, TEAE flag, relatedness and action per
  drug, immune-related flag, seriousness, record kind (on treatment, pre-treatment,
  worsening, late, fatal).
- `dose_changes.csv`: interruptions, reductions, withdrawals and doses not given, with the AE
  number behind each.
- `mess.csv`: every injected mess: form, subject, row identifiers, field, kind
  (partial_date, coded_variant, typo, non_ascii, cjk_text, duplicate, diameter_cm,
  missed_visit, unscheduled, out_of_window, disagreement, not_evaluable), clean and written
  values.
"""
