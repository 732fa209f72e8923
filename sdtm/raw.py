"""Reading a raw EDC export: one CSV per form, as declared in ``forms.yaml``.

What cannot be read stops the build with an :class:`InputError` naming file, row and column
(missing file, missing declared column, empty file, not the declared encoding, broken CSV).
What can be read but must not be mapped is listed as an exclusion with its reason, never
dropped silently: rows without a subject identifier, subjects that are not in the subject
registry (enrolment form), exact duplicate lines, and extra rows of one-record-per-subject
forms.

Every form frame keeps ``_ROW``: the 1-based data row in the CSV (the header is row 0), the
key of lineage and exclusions.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from studybuild.datasets import csv_short_row
from studybuild.errors import InputError
from studybuild.findings import Findings

EXCLUSION_COLUMNS = ["FORM", "RAW_ROW", "REASON", "SUBJECT"]


@dataclass
class RawData:
    forms: dict[str, pd.DataFrame]                 # usable rows, with _ROW and USUBJID
    rows_read: dict[str, int]
    subjects: pd.DataFrame                         # USUBJID, SUBJID, SITEID, _ROW
    exclusions: list[pd.DataFrame] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    subject_ids: dict[str, pd.Series] = field(default_factory=dict)  # raw subject by _ROW

    def exclusion_frame(self) -> pd.DataFrame:
        if not self.exclusions:
            return empty_exclusions()
        return pd.concat(self.exclusions, ignore_index=True)


def empty_exclusions() -> pd.DataFrame:
    return pd.DataFrame({"FORM": pd.Series(dtype="str"), "RAW_ROW": pd.Series(dtype="int64"),
                         "REASON": pd.Series(dtype="str"), "SUBJECT": pd.Series(dtype="str")})


def exclusions(form: str, rows: pd.Series, reason: str | pd.Series,
               subject: pd.Series | None = None) -> pd.DataFrame:
    n = len(rows)
    return pd.DataFrame({
        "FORM": pd.Series([form] * n, dtype="str"),
        "RAW_ROW": np.asarray(rows, dtype="int64"),
        "REASON": pd.Series(reason if isinstance(reason, str) else np.asarray(reason),
                            index=range(n), dtype="str") if n else pd.Series(dtype="str"),
        "SUBJECT": pd.Series(np.asarray(subject) if subject is not None else [pd.NA] * n,
                             dtype="str")})


def read_csv_form(path: Path, *, encoding: str = "utf-8", form: str = "") -> pd.DataFrame:
    """A raw CSV as text columns (blank -> NA) with ``_ROW``; InputError when unreadable."""
    if not path.is_file():
        raise InputError("raw form file not found", path=path,
                         hint=f"export form {form!r} into the raw folder, or remove it from "
                              "forms.yaml" if form else None)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(f"raw form file cannot be read: {e.strerror}", path=path,
                         hint="check the file's permissions") from None
    enc = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) and "16" not in enc:
        raise InputError("the file is UTF-16 text (Excel's 'Unicode Text'), not "
                         f"{'UTF-8' if enc == 'utf-8-sig' else encoding}", path=path,
                         hint="save it as 'CSV UTF-8 (comma delimited)', or declare "
                              "encoding: utf-16 for this form in forms.yaml")
    try:
        text = raw.decode(enc)
    except UnicodeDecodeError as e:
        row, column = _locate_byte(raw, e.start, enc)
        declared = "UTF-8" if enc == "utf-8-sig" else encoding
        raise InputError(f"not {declared} text: byte {raw[e.start]:#04x} cannot be decoded "
                         "(the file was saved in another encoding, e.g. Latin-1 or GBK)",
                         path=path, line=row, column=column,
                         hint="re-export the file as UTF-8, or declare its encoding (e.g. "
                              "encoding: latin-1) for this form in forms.yaml") from None
    except LookupError:
        raise InputError(f"unknown encoding {encoding!r}", path=path,
                         hint="use a Python codec name such as utf-8 or latin-1") from None
    if not text.strip():
        raise InputError("file is empty (no header row)", path=path,
                         hint="export the form with its header row")
    header = text.lstrip("\r\n").split("\n", 1)[0]
    sep = next((c for c in (";", "\t", "|") if c in header), None) if "," not in header \
        else None
    if sep is not None:
        raise InputError(f"the header has no comma ({header[:40]!r}...): the file is "
                         f"separated by {sep!r}, not by commas", path=path, line=0,
                         hint="export it as comma-separated CSV (Excel: 'CSV UTF-8 (comma "
                              "delimited)')")
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                            na_values=[""], skipinitialspace=False)
    except pd.errors.ParserError as e:
        raise _parse_error(path, str(e)) from None
    except pd.errors.EmptyDataError:
        raise InputError("file is empty (no header row)", path=path) from None
    short = csv_short_row(text)
    if short is not None:
        row, got, want = short
        raise InputError(f"row has {got} field(s), the header {want}: the row is cut short "
                         "(the file may be truncated)", path=path, line=row,
                         hint="re-export the form; every row needs a value (possibly empty) "
                              "for every column")
    cols = [str(c).strip() for c in frame.columns]
    # pandas renames a repeated name X to X.1: report the name as the header has it
    dup = sorted({c.rsplit(".", 1)[0] if re.fullmatch(r".+\.\d+", c) and
                  c.rsplit(".", 1)[0] in cols else c
                  for c in cols if cols.count(c) > 1 or re.fullmatch(r".+\.\d+", c)
                  and c.rsplit(".", 1)[0] in cols})
    if dup:
        raise InputError(f"column {dup[0]!r} appears more than once in the header",
                         path=path, line=0, column=dup[0],
                         hint="each column name may appear once; rename or drop the copy")
    frame.columns = cols
    out = {}
    for c in cols:
        s = frame[c].astype("str")
        blank = s.str.isspace()          # a blank-only value is missing, like an empty one
        out[c] = s.where(~blank.fillna(False)).astype("str") if blank.any() else s
    result = pd.DataFrame(out, index=pd.RangeIndex(len(frame)))
    result["_ROW"] = np.arange(1, len(frame) + 1, dtype="int64")
    return result


def _locate_byte(raw: bytes, pos: int, encoding: str) -> tuple[int, str | None]:
    """(data row, column name) of the byte at ``pos`` of a CSV: rows counted as everywhere
    (header = row 0), quoted line breaks included; only called to word an error."""
    import csv

    def records(data: bytes) -> list[list[str]]:
        try:
            return list(csv.reader(io.StringIO(data.decode(encoding, errors="replace"),
                                               newline="")))
        except csv.Error:
            return [[]] * (data.count(b"\n") + 1)

    before = records(raw[:pos])
    starts_row = not before or raw[:pos].endswith((b"\n", b"\r"))
    row = len(before) if starts_row else len(before) - 1
    field_no = 0 if starts_row else max(0, len(before[-1]) - 1)
    header = next(iter(records(raw.split(b"\n", 1)[0])), [])
    column = header[field_no].strip() if row > 0 and field_no < len(header) else None
    return row, column or None


def _parse_error(path: Path, detail: str) -> InputError:
    """Word pandas' tokenizer errors with the studybuild row number (header = row 0)."""
    m = re.search(r"EOF inside string starting at row (\d+)", detail)
    if m:
        return InputError("CSV cannot be parsed: a quoted value starts on this row and its "
                          "closing quote never comes", path=path, line=int(m.group(1)),
                          hint="check the quotes on that row: a quote inside a value must be "
                               "doubled (\"\")")
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", detail)
    if m:
        return InputError(f"CSV cannot be parsed: the row has {m.group(3)} fields, the header "
                          f"{m.group(1)}", path=path, line=int(m.group(2)) - 1,
                          hint="check quotes and commas on that row (a value with a comma "
                               "must be quoted)")
    m = re.search(r"line (\d+)", detail)
    return InputError(f"CSV cannot be parsed: {detail.strip()}", path=path,
                      line=int(m.group(1)) - 1 if m else None,
                      hint="check quotes and the number of fields on that row")


def read_raw(spec, raw_dir: Path, findings: Findings) -> RawData:
    """Read every form of the spec from ``raw_dir``; identify subjects; list exclusions."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise InputError("raw folder not found", path=raw_dir,
                         hint="give the folder of raw CSV forms (e.g. from `studybuild "
                              "simulate`)")
    fspec = spec.forms
    frames: dict[str, pd.DataFrame] = {}
    files: dict[str, Path] = {}
    rows_read: dict[str, int] = {}
    for name, form in fspec.forms.items():
        path = raw_dir / (form.file or f"{name}.csv")
        files[name] = path
        df = read_csv_form(path, encoding=form.encoding or fspec.encoding, form=name)
        missing = [f for f in form.fields if form.field_spec(f).required and f not in df]
        if missing:
            raise InputError(f"column {missing[0]!r} of form {name!r} is missing"
                             + (f" (and {len(missing) - 1} more: {', '.join(missing[1:4])})"
                                if len(missing) > 1 else ""),
                             path=path, line=0, column=missing[0],
                             hint="re-export the form with that column, or mark the field "
                                  "required: false in forms.yaml")
        for f in form.fields:
            if f not in df:
                df[f] = pd.Series(pd.NA, index=df.index, dtype="str")
        extra = sorted(c for c in df.columns if c not in form.fields and c != "_ROW")
        if extra:
            findings.add("SB-RAW-UNDECLARED", "notice",
                         f"form {name!r} has columns the spec does not declare (not mapped): "
                         + ", ".join(extra[:10]) + (" ..." if len(extra) > 10 else ""),
                         dataset=path.name, source=name)
        frames[name] = df
        rows_read[name] = len(df)
    data = RawData(forms={}, rows_read=rows_read, subjects=pd.DataFrame(), files=files)
    for name, df in frames.items():
        sf = _subject_field(spec, name)
        data.subject_ids[name] = pd.Series(df[sf].str.strip().to_numpy(),
                                           index=df["_ROW"].to_numpy(), dtype="str")
    subjects = _registry(spec, frames, data, findings)
    data.subjects = subjects
    for name, df in frames.items():
        data.forms[name] = _attach_subjects(spec, name, df, subjects, data, findings)
    return data


def _subject_field(spec, name: str) -> str:
    form = spec.forms.forms[name]
    return form.subject or spec.forms.subjects.subject


def _drop_duplicates(name: str, df: pd.DataFrame, data: RawData, subject: str,
                     ignore: list[str] = ()) -> pd.DataFrame:
    cols = [c for c in df.columns if c != "_ROW" and c not in ignore]
    if not cols or not len(df):
        return df
    dup = df.duplicated(subset=cols, keep="first")
    if not dup.any():
        return df
    first_row = df.groupby(cols, dropna=False, sort=False)["_ROW"].transform("min")
    d = df[dup]
    reason = ("duplicate of row " if ignore else "exact duplicate of row ") + \
        first_row[dup].astype("int64").astype("str") + \
        (f" (all fields equal except {', '.join(ignore)})" if ignore else "")
    data.exclusions.append(exclusions(name, d["_ROW"], reason.to_numpy(),
                                      d[subject] if subject in d else None))
    return df[~dup]


def _registry(spec, frames, data: RawData, findings: Findings) -> pd.DataFrame:
    sub = spec.forms.subjects
    name = sub.form
    df = frames[name]
    sfield = _subject_field(spec, name)
    form = spec.forms.forms[name]
    if not len(df):
        findings.add("SB-RAW-NOSUBJECTS", "warning",
                     f"the subject registry form {name!r} has no rows: no subject is enrolled, "
                     "so every other row is excluded (add the enrolled subjects: export the "
                     "registry form with its rows)",
                     dataset=data.files[name].name, source=name)
    if form.duplicates == "exclude":
        df = _drop_duplicates(name, df, data, sfield, spec.forms.duplicates_ignore)
    subj = df[sfield].str.strip()
    no_id = subj.isna()
    if no_id.any():
        data.exclusions.append(exclusions(name, df.loc[no_id, "_ROW"],
                                          "no subject identifier"))
    df = df[~no_id]
    subj = subj[~no_id]
    again = subj.duplicated(keep="first")
    if again.any():
        first = df.groupby(subj, sort=False)["_ROW"].transform("min")
        d = df[again]
        reason = ("subject " + subj[again] + " is already registered in row " +
                  first[again].astype("int64").astype("str") +
                  " (conflicting second record)")
        data.exclusions.append(exclusions(name, d["_ROW"], reason.to_numpy(), subj[again]))
        for s, r in zip(subj[again].tolist(), d["_ROW"].tolist()):
            findings.add("SB-RAW-DUPSUBJ", "error",
                         f"subject {s} appears twice in the subject registry form {name!r} "
                         f"with different values; row {r} excluded, the first row kept "
                         "(correct the subject id or remove the second row)",
                         dataset=data.files[name].name, row=r, keys={"SUBJID": s},
                         source=name)
        df = df[~again]
        subj = subj[~again]
    site_field = form.site or sub.site
    if site_field is not None and site_field in df:
        site = df[site_field].str.strip()
        site = site.fillna(sub.site_default) if sub.site_default else site
    else:
        site = pd.Series(sub.site_default, index=df.index, dtype="str")
    known_sites = {s.siteid for s in spec.study.sites}
    bad_site = site.notna() & ~site.isin(known_sites)
    for s, r in zip(site[bad_site].tolist(), df.loc[bad_site, "_ROW"].tolist()):
        findings.add("SB-RAW-SITE", "error", f"site {s!r} is not in study.yaml sites",
                     dataset=data.files[name].name, row=r, value=s, source=name)
    usubjid = make_usubjid(sub.usubjid, spec.study.studyid, site, subj)
    return pd.DataFrame({"USUBJID": usubjid.to_numpy(), "SUBJID": subj.to_numpy(),
                         "SITEID": site.to_numpy(), "_ROW": df["_ROW"].to_numpy()}
                        ).astype({"USUBJID": "str", "SUBJID": "str", "SITEID": "str"})


def make_usubjid(template: str, studyid: str, site: pd.Series, subj: pd.Series) -> pd.Series:
    out = pd.Series(template, index=subj.index, dtype="str")
    out = out.str.replace("{STUDYID}", studyid, regex=False)
    parts = template.split("{SITEID}")
    if len(parts) > 1:
        out = pd.Series(template.replace("{STUDYID}", studyid), index=subj.index, dtype="str")
        pieces = out.str.split("{SITEID}", regex=False)
        out = pieces.str[0] + site.fillna("") + pieces.str[1].fillna("")
    pieces = out.str.split("{SUBJID}", regex=False)
    return (pieces.str[0] + subj + pieces.str[1].fillna("")).astype("str")


def _attach_subjects(spec, name: str, df: pd.DataFrame, subjects: pd.DataFrame,
                     data: RawData, findings: Findings) -> pd.DataFrame:
    form = spec.forms.forms[name]
    sfield = _subject_field(spec, name)
    if name == spec.forms.subjects.form:
        keep = df[df["_ROW"].isin(subjects["_ROW"])].copy()
        keep["USUBJID"] = keep["_ROW"].map(subjects.set_index("_ROW")["USUBJID"])
        return keep
    if form.duplicates == "exclude":
        df = _drop_duplicates(name, df, data, sfield, spec.forms.duplicates_ignore)
    subj = df[sfield].str.strip()
    no_id = subj.isna()
    if no_id.any():
        data.exclusions.append(exclusions(name, df.loc[no_id, "_ROW"],
                                          "no subject identifier"))
    by_subj = subjects.set_index("SUBJID")["USUBJID"]
    usubjid = subj.map(by_subj)
    unknown = subj.notna() & usubjid.isna()
    if unknown.any():
        reason = "subject " + subj[unknown] + " is not in the subject registry form " + \
            repr(spec.forms.subjects.form)
        data.exclusions.append(exclusions(name, df.loc[unknown, "_ROW"], reason.to_numpy(),
                                          subj[unknown]))
        findings.add("SB-RAW-NOSUBJ", "warning",
                     f"{int(unknown.sum())} row(s) of form {name!r} belong to subjects not in "
                     f"{spec.forms.subjects.form!r} (first: {subj[unknown].iloc[0]}, row "
                     f"{int(df.loc[unknown, '_ROW'].iloc[0])}); excluded (correct the "
                     "subject id, or add the subject to the registry form)",
                     dataset=data.files[name].name, row=int(df.loc[unknown, "_ROW"].iloc[0]),
                     value=subj[unknown].iloc[0], source=name)
    ok = usubjid.notna()
    out = df[ok].copy()
    out["USUBJID"] = usubjid[ok].astype("str")
    if form.one_per_subject:
        again = out["USUBJID"].duplicated(keep="first")
        if again.any():
            first = out.groupby("USUBJID", sort=False)["_ROW"].transform("min")
            reason = ("second record for subject " + out.loc[again, sfield] +
                      " in a one-record-per-subject form (row " +
                      first[again].astype("int64").astype("str") + " kept)")
            data.exclusions.append(exclusions(name, out.loc[again, "_ROW"],
                                              reason.to_numpy(), out.loc[again, sfield]))
            findings.add("SB-RAW-DUPSUBJ", "error",
                         f"form {name!r} is one record per subject but {int(again.sum())} "
                         f"subject(s) have more (first: row {int(out.loc[again, '_ROW'].iloc[0])}"
                         "); extra rows excluded (keep one row per subject in the "
                         "export)", dataset=data.files[name].name,
                         row=int(out.loc[again, "_ROW"].iloc[0]), source=name)
            out = out[~again]
    return out
