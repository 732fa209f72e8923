"""SAS transport (XPT) version 5: the format FDA and PMDA accept for datasets.

Writing goes through pyreadstat with ``file_format_version=5`` (its default is v8, which FDA does
not accept), after checks that pyreadstat does not make (it silently truncates long labels and
writes over-long character values). :func:`check_xpt` lists every violation; :func:`write_xpt`
refuses to write if there is any, naming dataset, variable and row.

What the writer guarantees:

- one dataset per file, file name = lower-case dataset name + ``.xpt``;
- variable names and dataset name: 1-8 characters, A-Z 0-9 _, leading letter;
- dataset label and variable labels: at most 40 characters, ASCII;
- character values: ASCII without NUL, at most 200 bytes; trailing blanks are not kept (XPT pads with
  blanks), and an empty string is written like a missing value (blank);
- numeric values: finite and representable as IBM double (magnitude below 2**249 ~ 9.0e74,
  where pyreadstat's writer saturates though IBM goes to 16**63, and, if not zero, above
  16**-65 ~ 5.4e-79);
- datetime64 columns become SAS numbers: ``*DT`` dates (days since 1960-01-01, format DATE9.),
  ``*DTM`` datetimes (seconds since 1960-01-01 00:00, DATETIME20.), ``*TM`` times (TIME8.);
  numeric columns named like ADaM dates get the same formats;
- character lengths are the longest value in bytes, at least 1;
- the header's created/modified stamps are a fixed, caller-supplied datetime, so rebuilding from
  the same inputs gives byte-identical files; the file appears atomically (temp file + rename).

Non-ASCII text is an error by default. ``ascii="transliterate"`` applies the documented table in
:func:`transliterate` (accents dropped by Unicode decomposition, a few ligatures and punctuation
marks spelled out); characters with no ASCII spelling (e.g. Chinese) remain an error.

:func:`read_xpt` reads any XPT (v5 or v8, ours or SAS-written) with pyreadstat and returns the
frame plus its metadata; blank character values come back as missing (NA). XPT does not say
how its text is encoded: SAS writes it in the session's encoding, often Windows-1252 (the
CDISC pilot's ts.xpt holds "Alzheimer’s" with the apostrophe as byte 0x92). Text is read as
the caller says (``encoding``, from ``--encoding`` or the define.xml's XML declaration), else
UTF-8, else Windows-1252, else Latin-1 (which reads any byte); ``XptMeta.encoding`` says which
one was used.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping

import numpy as np
import pandas as pd

from studybuild.atomic import atomic_file
from studybuild.errors import ExportError, InputError

SAS_EPOCH = pd.Timestamp("1960-01-01")
# largest magnitude written correctly (exclusive): IBM doubles go to 16**63, but readstat
# writes every magnitude from 2**249 on as the largest IBM number (read back as inf)
IBM_MAX = 2.0 ** 249
IBM_MIN = 16.0 ** -65         # smallest non-zero magnitude
MAX_CHAR_BYTES = 200
MAX_LABEL = 40
NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,7}$")
_STAMP_RE = re.compile(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d")
DEFAULT_TIMESTAMP = dt.datetime(2000, 1, 1)

# Transliteration table beyond Unicode decomposition (NFKD + dropping combining marks).
_TRANSLIT = {
    "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O", "đ": "d",
    "Đ": "D", "ł": "l", "Ł": "L", "þ": "th", "Þ": "TH", "ð": "d", "Ð": "D", "ı": "i",
    "‘": "'", "’": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "–": "-", "—": "-",
    "‐": "-", "−": "-", "…": "...", "•": "*", "·": ".", "°": " deg", "±": "+/-", "×": "x",
    "÷": "/", "µ": "u", "μ": "u", "≤": "<=", "≥": ">=", "\u00a0": " ", "€": "EUR", "£": "GBP",
    "©": "(c)", "®": "(R)", "™": "(TM)",
}


def transliterate(text: str) -> str:
    """ASCII spelling of ``text``: table above first, then NFKD decomposition with combining
    marks dropped. Characters with no ASCII spelling are kept (and then rejected by the check).

    >>> transliterate("Müller – 5 µg")
    'Muller - 5 ug'
    """
    if text.isascii():
        return text
    out = []
    for ch in text:
        if ch.isascii():
            out.append(ch)
        elif ch in _TRANSLIT:
            out.append(_TRANSLIT[ch])
        else:
            decomposed = "".join(c for c in unicodedata.normalize("NFKD", ch)
                                 if not unicodedata.combining(c))
            out.append(decomposed if decomposed and decomposed.isascii() else ch)
    return "".join(out)


@dataclass(frozen=True)
class Violation:
    """One reason a frame cannot be written as XPT v5."""

    rule: str            # name, label, dataset-label, length, ascii, numeric-range, type
    dataset: str
    variable: str | None
    row: int | None      # 1-based record number
    message: str
    value: str | None = None

    def __str__(self) -> str:
        where = f"dataset {self.dataset}"
        if self.variable:
            where += f", variable {self.variable}"
        if self.row is not None:
            where += f", row {self.row}"
        return f"{where}: {self.message}"


class XptExportError(ExportError):
    """Raised by :func:`write_xpt` with every violation attached (``.violations``)."""

    def __init__(self, violations: list[Violation]):
        first = violations[0]
        more = f" (and {len(violations) - 1} more violations)" if len(violations) > 1 else ""
        super().__init__(first.message + more, dataset=first.dataset, variable=first.variable,
                         row=first.row, hint=_HINTS.get(first.rule))
        self.violations = violations


_HINTS = {
    "name": "rename it in the spec: XPT v5 names are 1-8 characters A-Z, 0-9, _ starting with "
            "a letter",
    "label": "shorten the label in the spec to 40 characters",
    "dataset-label": "shorten the dataset label to 40 characters",
    "length": "split the text into --TEXT1..n or SUPPQUAL records of at most 200 bytes",
    "ascii": "fix the text at source, or write with ascii='transliterate' "
             "(--transliterate) to spell accents and punctuation in ASCII",
    "numeric-range": "an IBM double holds magnitudes between 5.4e-79 and 9.0e74; "
                     "check the derivation",
    "type": "convert the column to text or numbers before export",
    "blank-rows": "drop empty records before export (every SDTM/ADaM record has STUDYID)",
}


@dataclass(frozen=True)
class XptMeta:
    """What an XPT file says about itself, as read back."""

    dataset: str
    label: str
    columns: tuple[str, ...]
    labels: Mapping[str, str]
    formats: Mapping[str, str]
    lengths: Mapping[str, int]
    types: Mapping[str, str]        # "Char" or "Num"
    rows: int
    version: int = 5
    encoding: str = "utf_8"         # the codec the text was read with (Python's name)


def _date_kind(name: str) -> str | None:
    """Which SAS date format an ADaM-style variable name implies."""
    n = name.upper()
    if n.endswith("DTM"):
        return "datetime"
    if n.endswith("DT"):
        return "date"
    if n.endswith("TM"):
        return "time"
    return None


_FORMATS = {"date": "DATE9.", "datetime": "DATETIME20.", "time": "TIME8."}


def _to_sas_numbers(s: pd.Series, kind: str) -> pd.Series:
    """datetime64 / timedelta64 -> float SAS numbers (days for dates, seconds otherwise)."""
    if pd.api.types.is_timedelta64_dtype(s):
        return s.dt.total_seconds().astype("float64")
    ts = pd.to_datetime(s)
    delta = ts - SAS_EPOCH
    if kind == "date":
        return (delta.dt.floor("D") / pd.Timedelta(days=1)).astype("float64")
    if kind == "time":
        return ((ts - ts.dt.normalize()) / pd.Timedelta(seconds=1)).astype("float64")
    return (delta / pd.Timedelta(seconds=1)).astype("float64")


def _is_text(s: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(s) or s.dtype == object


def _rows(mask: np.ndarray) -> np.ndarray:
    return np.flatnonzero(mask) + 1


def prepare(df: pd.DataFrame, dataset: str, *, formats: Mapping[str, str] | None = None,
            ascii: Literal["error", "transliterate"] = "error"
            ) -> tuple[pd.DataFrame, dict[str, str], list[Violation]]:
    """Convert a frame to what XPT stores (float64 numbers, str text) and list violations.

    Returns the converted frame, the SAS formats per variable and the violations found while
    converting (type problems). Length/ASCII/range checks are in :func:`check_xpt`.
    """
    out: dict[str, pd.Series] = {}
    fmts: dict[str, str] = {}
    problems: list[Violation] = []
    formats = dict(formats or {})
    for col in df.columns:
        s = df[col]
        name = str(col)
        kind = _date_kind(name)
        if pd.api.types.is_datetime64_any_dtype(s) or pd.api.types.is_timedelta64_dtype(s):
            use = kind or "datetime"
            if pd.api.types.is_timedelta64_dtype(s):
                use = "time"
            out[name] = _to_sas_numbers(s, use)
            fmts[name] = _FORMATS[use]
        elif pd.api.types.is_bool_dtype(s):
            out[name] = s.astype("float64")
        elif pd.api.types.is_numeric_dtype(s):
            out[name] = s.astype("float64")
            if kind and dataset.upper().startswith("AD") and not name.upper().endswith("DY"):
                fmts[name] = _FORMATS[kind]
        elif _is_text(s):
            if isinstance(s.dtype, pd.StringDtype):     # holds only text: no per-value work
                txt = s.astype("str").fillna("")
            else:
                vals = s.astype(object)
                notna = vals.notna().to_numpy()
                nontext = notna & ~vals.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
                if nontext.any():
                    rows = _rows(nontext)
                    val = vals.iloc[rows[0] - 1]
                    problems.append(Violation(
                        "type", dataset, name, int(rows[0]),
                        f"text column holds a non-text value {val!r} ({type(val).__name__})"
                        + (f" ({len(rows)} rows)" if len(rows) > 1 else ""), repr(val)))
                txt = vals.where(notna, "").astype("str")
            if ascii == "transliterate":
                odd = ~txt.str.isascii().fillna(True).to_numpy(dtype=bool)
                if odd.any():       # transliterate only what needs it
                    txt = txt.where(~odd, txt[odd].map(transliterate)).astype("str")
            out[name] = txt.str.rstrip(" ")
        else:
            problems.append(Violation("type", dataset, name, None,
                                      f"unsupported column type {s.dtype}"))
            out[name] = s.astype("str")
        if name in formats:
            fmts[name] = formats[name]
    frame = pd.DataFrame(out, index=pd.RangeIndex(len(df)))
    return frame, fmts, problems


def check_xpt(df: pd.DataFrame, dataset: str, *, label: str,
              labels: Mapping[str, str]) -> list[Violation]:
    """Every XPT v5 violation in an already :func:`prepare`-d frame (empty list if none)."""
    v: list[Violation] = []
    if not NAME_RE.match(dataset):
        v.append(Violation("name", dataset, None, None,
                           f"dataset name {dataset!r} is not a valid XPT v5 name"))
    if len(label) > MAX_LABEL:
        v.append(Violation("dataset-label", dataset, None, None,
                           f"dataset label is {len(label)} characters, over 40: {label!r}",
                           label))
    if not label.isascii():
        v.append(Violation("ascii", dataset, None, None,
                           f"dataset label is not ASCII: {label!r}", label))
    if len(df) and len(df.columns) and all(df[c].dtype != "float64" for c in df.columns):
        # XPT v5 has no record count: trailing all-blank records look like end-of-file padding
        # and every reader drops them. Refuse rather than lose them silently.
        blank = np.logical_and.reduce([(df[c] == "").to_numpy() for c in df.columns])
        if blank[-1]:
            first = len(blank) - int(np.argmin(blank[::-1])) if not blank.all() else 0
            v.append(Violation("blank-rows", dataset, None, first + 1,
                               f"rows {first + 1}-{len(blank)} are entirely blank; XPT v5 "
                               "cannot tell them from end-of-file padding and readers drop "
                               "them"))
    for col in df.columns:
        if not NAME_RE.match(col):
            why = "longer than 8 characters" if len(col) > 8 else \
                "not of the form A-Z, 0-9, _ with a leading letter"
            v.append(Violation("name", dataset, col, None,
                               f"variable name {col!r} is {why}", col))
        lab = labels.get(col)
        if lab is None or lab == "":
            v.append(Violation("label", dataset, col, None,
                               f"variable {col} has no label (labels come from the SDTMIG/"
                               "ADaMIG metadata or the spec)"))
        else:
            if len(lab) > MAX_LABEL:
                v.append(Violation("label", dataset, col, None,
                                   f"label is {len(lab)} characters, over 40: {lab!r}", lab))
            if not lab.isascii():
                v.append(Violation("ascii", dataset, col, None,
                                   f"label is not ASCII: {lab!r}", lab))
        s = df[col]
        if s.dtype == "float64":
            a = s.to_numpy()
            finite = np.isfinite(a)
            inf = np.isinf(a)
            with np.errstate(invalid="ignore"):
                big = finite & (np.abs(a) >= IBM_MAX)
                tiny = finite & (a != 0) & (np.abs(a) < IBM_MIN)
            for mask, what in ((inf, "is infinite"), (big, "is too large for an IBM double"),
                               (tiny, "is too small for an IBM double and would be written "
                                      "as 0")):
                if mask.any():
                    rows = _rows(mask)
                    val = float(a[rows[0] - 1])
                    v.append(Violation("numeric-range", dataset, col, int(rows[0]),
                                       f"value {val!r} {what}"
                                       + (f" ({len(rows)} rows)" if len(rows) > 1 else ""),
                                       repr(val)))
        else:
            txt = s.astype("str")
            nonascii = ~txt.str.isascii().fillna(True).to_numpy(dtype=bool)
            if nonascii.any():
                rows = _rows(nonascii)
                val = txt.iloc[rows[0] - 1]
                chars = "".join(sorted({c for c in val if not c.isascii()}))
                v.append(Violation("ascii", dataset, col, int(rows[0]),
                                   f"value {val!r} has non-ASCII characters {chars!r}"
                                   + (f" ({len(rows)} rows)" if len(rows) > 1 else ""), val))
            nul = txt.str.contains("\x00", regex=False).fillna(False).to_numpy(dtype=bool)
            if nul.any():
                # readstat reads (and writes) text as C strings: a NUL ends the value
                rows = _rows(nul)
                val = txt.iloc[rows[0] - 1]
                v.append(Violation("ascii", dataset, col, int(rows[0]),
                                   f"value {val!r} has a NUL character, which XPT readers take "
                                   "as the end of the text"
                                   + (f" ({len(rows)} rows)" if len(rows) > 1 else ""), val))
            nbytes = txt.str.len().to_numpy()          # = bytes for ASCII text
            if nonascii.any():
                nbytes = nbytes.copy()
                nbytes[nonascii] = txt[nonascii].str.encode("utf-8").str.len().to_numpy()
            long = nbytes > MAX_CHAR_BYTES
            if long.any():
                rows = _rows(long)
                val = txt.iloc[rows[0] - 1]
                v.append(Violation("length", dataset, col, int(rows[0]),
                                   f"value is {int(nbytes[rows[0] - 1])} bytes, over 200: "
                                   f"{val[:40]!r}..."
                                   + (f" ({len(rows)} rows)" if len(rows) > 1 else ""), val))
    return v


def _order_and_labels(df: pd.DataFrame, dataset: str, labels: Mapping[str, str] | None,
                      order: Iterable[str] | None) -> tuple[list[str], dict[str, str]]:
    from studybuild import standards

    try:
        std = standards.standard_for(dataset)
        meta = std.dataset(dataset) if not dataset.upper().startswith("AD") else None
    except standards.StandardsLookupError:
        meta = None
    cols = [str(c) for c in df.columns]
    if order is not None:
        order = [c for c in order if c in cols]
        cols = order + [c for c in cols if c not in order]
    elif meta is not None:
        # IG order for IG variables; non-standard variables keep their place after them
        rank = {v.name: v.order for v in meta.variables}
        cols = sorted(cols, key=lambda c: (rank.get(c, 10_000), cols.index(c)))
    out: dict[str, str] = {}
    attrs = df.attrs.get("labels", {}) if isinstance(df.attrs.get("labels"), Mapping) else {}
    for c in cols:
        lab = (labels or {}).get(c) or attrs.get(c)
        if not lab:
            var = None
            if meta is not None:
                var = meta.find(c)
            elif dataset.upper().startswith("AD"):
                # ADSL variables are copied into every ADaM dataset, so ADSL labels come first
                ad = standards.adamig()
                var = ad.structure("ADSL").find(c) or ad.structure("TTE").find(c)
            if var is not None and not any(t in var.label for t in ("{", "xx", "zz")):
                lab = var.label
        if lab:
            out[c] = lab
    return cols, out


def dataset_label(dataset: str) -> str | None:
    """The SDTMIG/ADaMIG label for a dataset name, if the standard has one."""
    from studybuild import standards

    name = dataset.upper()
    if name.startswith("SUPP") and len(name) > 4:
        return f"Supplemental Qualifiers for {name[4:]}"
    if name == "ADSL":
        return "Subject-Level Analysis Dataset"
    if name.startswith("AD"):
        return None
    try:
        return standards.sdtmig().dataset(name).label
    except standards.StandardsLookupError:
        return None


def write_xpt(df: pd.DataFrame, path: str | os.PathLike, *, dataset: str | None = None,
              label: str | None = None, labels: Mapping[str, str] | None = None,
              order: Iterable[str] | None = None, formats: Mapping[str, str] | None = None,
              ascii: Literal["error", "transliterate"] = "error",
              timestamp: dt.datetime | None = None) -> Path:
    """Write ``df`` as a SAS transport v5 file, or raise :class:`XptExportError`.

    ``path`` is a folder (the file becomes ``<dataset lower>.xpt``) or a file path.
    ``dataset`` defaults to the file stem upper-cased. Variable order: ``order`` if given, else
    SDTMIG order for SDTM domains, else the frame's. Labels: ``labels``, then
    ``df.attrs["labels"]``, then the IG. ``timestamp`` is written as the created/modified stamp
    (default: ``SOURCE_DATE_EPOCH`` if set, else 2000-01-01T00:00:00).
    """
    import pyreadstat

    path = Path(path)
    if path.is_dir() or path.suffix == "":
        if dataset is None:
            raise ExportError("give the dataset name when writing into a folder")
        path = path / f"{dataset.lower()}.xpt"
    dataset = (dataset or path.stem).upper()
    if label is None:
        label = df.attrs.get("label") or dataset_label(dataset)
    if not label:
        raise XptExportError([Violation("dataset-label", dataset, None, None,
                                        "dataset has no label (give label=...)")])
    cols, labs = _order_and_labels(df, dataset, labels, order)
    frame, fmts, problems = prepare(df[cols], dataset, formats=formats, ascii=ascii)
    violations = problems + check_xpt(frame, dataset, label=label, labels=labs)
    if violations:
        raise XptExportError(violations)
    when = timestamp or _default_timestamp()
    stamp = when.strftime("%d%b%y:%H:%M:%S").upper().encode("ascii")
    column_labels = [labs[c] for c in cols]
    with atomic_file(path) as tmp:
        if len(frame) == 0:
            pyreadstat.write_xport(_objects(frame), str(tmp), file_format_version=5,
                                   table_name=dataset, file_label=label,
                                   column_labels=column_labels, variable_format=fmts or None)
            _fix_header_stamps(tmp, stamp)
        else:
            _write_v5(frame, tmp, dataset=dataset, label=label, column_labels=column_labels,
                      formats=fmts, stamp=stamp)
    return path


def _objects(frame: pd.DataFrame) -> pd.DataFrame:
    # pyreadstat iterates a frame row by row; over Python objects that is ~10x faster than
    # over pyarrow-backed strings (same bytes written)
    return frame.astype({c: object for c in frame.columns if frame[c].dtype != "float64"})


# --------------------------------------------------------------------------------------------
# Vectorised v5 records
# --------------------------------------------------------------------------------------------

_OBS_HEADER_V5 = b"HEADER RECORD*******OBS     HEADER RECORD!!!!!!!"
_CHUNK_ROWS = 131_072


def ibm_doubles(a: np.ndarray) -> np.ndarray:
    """IEEE doubles -> 8-byte IBM System/360 doubles (the XPT v5 number format), as a
    ``(n, 8)`` uint8 array; NaN becomes SAS missing ``.`` (0x2E then zeros), 0 and -0 all
    zero bytes. Exact for every value :func:`check_xpt` accepts: an IEEE mantissa (53 bits)
    shifted left by the exponent's remainder mod 4 (0-3 bits) fills the 56-bit IBM fraction,
    and the power of 2 becomes a power of 16 (``E = floor(e / 4) + 65``, excess 64).

    >>> ibm_doubles(np.array([1.0, -2.5, np.nan]))[:, :2].tolist()
    [[65, 16], [193, 40], [46, 0]]
    """
    a = np.ascontiguousarray(a, dtype=np.float64)
    bits = a.view(np.uint64)
    sign = bits >> np.uint64(63)
    e = ((bits >> np.uint64(52)) & np.uint64(0x7FF)).astype(np.int64) - 1023
    mant = (bits & np.uint64((1 << 52) - 1)) | np.uint64(1 << 52)
    frac = mant << (e & 3).astype(np.uint64)
    expo = ((e >> 2) + 65).astype(np.uint64)
    out = (sign << np.uint64(63)) | (expo << np.uint64(56)) | frac
    out[a == 0] = 0
    out[np.isnan(a)] = np.uint64(0x2E) << np.uint64(56)
    return out.astype(">u8").view(np.uint8).reshape(len(a), 8)


def _char_bytes(s: pd.Series, width: int) -> np.ndarray:
    """ASCII text (no missing values, none longer than ``width``) as a ``(n, width)`` uint8
    array, blank-padded on the right, without a per-value Python step: Arrow pads every value
    to the width, so its data buffer is the fixed-width block."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(s)
    arr = pc.utf8_rpad(pa.array(s, type=pa.large_string(), from_pandas=True).fill_null(""),
                       width=width, padding=" ")
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset:arr.offset + n + 1]
    if len(offsets) != n + 1 or not np.all(np.diff(offsets) == width):
        raise ExportError("internal error: text is not fixed-width after padding")
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)
    return data[offsets[0]:offsets[0] + n * width].reshape(n, width)


def _namestrs(header: bytes) -> list[tuple[str, int, int, int]]:
    """(name, type 1=Num/2=Char, length, position) of each variable, from the NAMESTR
    records of a v5 header (140 bytes each, after the NAMESTR header record)."""
    start = header.find(b"HEADER RECORD*******NAMESTR HEADER RECORD")
    count = int(header[start + 54:start + 58])
    out = []
    for i in range(count):
        rec = header[start + 80 + 140 * i:start + 80 + 140 * (i + 1)]
        ntype, _, nlng = (int.from_bytes(rec[k:k + 2], "big") for k in (0, 2, 4))
        name = rec[8:16].decode("ascii").rstrip()
        npos = int.from_bytes(rec[84:88], "big")
        out.append((name, ntype, nlng, npos))
    return out


def _write_v5(frame: pd.DataFrame, path: Path, *, dataset: str, label: str,
              column_labels: list[str], formats: Mapping[str, str], stamp: bytes) -> None:
    """Write a prepared, checked, non-empty frame as XPT v5: the headers as pyreadstat writes
    them (from the rows holding each column's longest text, which give the same widths), then
    every record built with numpy, a block of rows at a time. Byte-identical to
    ``pyreadstat.write_xport(frame, file_format_version=5)`` (tests compare them)."""
    import pyreadstat

    text = [c for c in frame.columns if frame[c].dtype != "float64"]
    lengths = {c: frame[c].str.len().to_numpy() for c in text}
    rows = sorted({int(np.argmax(n)) for n in lengths.values()} or {0})
    pyreadstat.write_xport(_objects(frame.iloc[rows]), str(path), file_format_version=5,
                           table_name=dataset, file_label=label, column_labels=column_labels,
                           variable_format=dict(formats) or None)
    with open(path, "rb") as f:
        head = f.read()
    end = head.find(_OBS_HEADER_V5)
    if end < 0 or end % 80:
        raise ExportError("internal error: pyreadstat wrote no v5 OBS header")
    header = head[:end + 80]
    header = _STAMP_RE.sub(stamp, header[:end]) + header[end:]
    layout = _namestrs(header)
    if [v[0] for v in layout] != list(frame.columns):
        raise ExportError("internal error: XPT variables are not the frame's columns")
    reclen = max(pos + n for _, _, n, pos in layout)
    written = 0
    with open(path, "wb") as f:
        f.write(header)
        for lo in range(0, len(frame), _CHUNK_ROWS):
            part = frame.iloc[lo:lo + _CHUNK_ROWS]
            block = np.empty((len(part), reclen), dtype=np.uint8)
            for name, ntype, n, pos in layout:
                if ntype == 1:
                    block[:, pos:pos + 8] = ibm_doubles(part[name].to_numpy(dtype=np.float64))
                else:
                    block[:, pos:pos + n] = _char_bytes(part[name], n)
            f.write(block.tobytes())
            written += block.size
        if written % 80:
            f.write(b" " * (80 - written % 80))


def _default_timestamp() -> dt.datetime:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        return dt.datetime.fromtimestamp(int(epoch), tz=dt.timezone.utc).replace(tzinfo=None)
    return DEFAULT_TIMESTAMP


def _fix_header_stamps(path: Path, stamp: bytes) -> None:
    """Replace the created/modified stamps in the library and member headers (they precede
    the OBS header record; data records are never touched)."""
    with open(path, "r+b") as f:
        head = f.read(80 * 64)
        end = head.find(b"HEADER RECORD*******OBS     HEADER RECORD")
        region = head if end < 0 else head[:end]
        fixed = _STAMP_RE.sub(stamp, region)
        if fixed != region:
            f.seek(0)
            f.write(fixed)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------

# Python codec name -> the name readstat's iconv knows
_ICONV = {"utf_8": "UTF-8", "cp1252": "WINDOWS-1252", "latin_1": "ISO-8859-1",
          "ascii": "US-ASCII", "iso8859_15": "ISO-8859-15", "cp1250": "WINDOWS-1250",
          "cp1251": "WINDOWS-1251", "shift_jis": "SHIFT_JIS", "cp932": "CP932",
          "gb2312": "GB2312", "gbk": "GBK", "gb18030": "GB18030", "euc_jp": "EUC-JP",
          "big5": "BIG5", "euc_kr": "EUC-KR"}
FALLBACK_ENCODINGS = ("utf_8", "cp1252", "latin_1")
ENCODING_NAMES = {"utf_8": "UTF-8", "cp1252": "Windows-1252", "latin_1": "Latin-1",
                  "ascii": "ASCII"}


def codec_name(encoding: str) -> str:
    """Python's canonical codec name for an encoding name (``"UTF-8"`` -> ``"utf_8"``,
    ``"windows-1252"`` -> ``"cp1252"``); raises ``LookupError`` for an unknown name.

    >>> codec_name("Windows-1252"), codec_name("ISO-8859-1"), codec_name("ISO-8859-15")
    ('cp1252', 'latin_1', 'iso8859_15')
    """
    import codecs

    name = codecs.lookup(encoding).name.replace("-", "_")
    return "latin_1" if name == "iso8859_1" else name


def encoding_label(codec: str) -> str:
    """How a codec is named to users: ``cp1252`` -> ``Windows-1252``."""
    return ENCODING_NAMES.get(codec, codec)


def _is_decoding_error(e: Exception) -> bool:
    """Whether pyreadstat failed on text it could not decode (not on a broken file)."""
    return isinstance(e, UnicodeDecodeError) or "encoding" in str(e) or \
        "character set" in str(e) or \
        "invalid byte sequence" in str(e)


def _all_ascii(df: pd.DataFrame, meta) -> bool:
    """Whether every character value and label read is ASCII (vectorised per column)."""
    texts = [meta.file_label or "", *(lab or "" for lab in meta.column_labels or [])]
    if not all(t.isascii() for t in texts):
        return False
    for col in df.columns:
        s = df[col]
        if s.dtype == object or pd.api.types.is_string_dtype(s):
            if not s.dropna().astype("str").str.isascii().all():
                return False
    return True


def read_xpt(path: str | os.PathLike, *, convert_dates: bool = True,
             encoding: str | None = None) -> tuple[pd.DataFrame, XptMeta]:
    """Read an XPT file (v5 or v8) into a frame and its metadata.

    Character blanks become NA. With ``convert_dates`` numeric variables with a SAS date or
    datetime format come back as datetime64; otherwise as SAS numbers. Text (values and
    labels) is decoded as ``encoding`` says, else as the first of UTF-8, Windows-1252 and
    Latin-1 that reads it; ``XptMeta.encoding`` is the codec used (``"ascii"`` when another
    than UTF-8 was used and every byte was ASCII anyway). Raises
    :class:`~studybuild.errors.InputError` (never a traceback) for a file that is not a
    readable transport file, or ``LookupError`` for an unknown ``encoding``.

    >>> frame, meta = read_xpt("tests/data/cdiscpilot01/ts.xpt")
    >>> meta.encoding, frame.loc[13, ["TSPARMCD", "TSVAL"]].tolist()
    ('cp1252', ['INDIC', 'Mild to Moderate Alzheimer’s Disease'])
    """
    import pyreadstat

    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path=path)
    with open(path, "rb") as f:
        magic = f.read(80)
    if not magic.startswith(b"HEADER RECORD*******LIB"):
        raise InputError("not a SAS transport (XPT) file: the library header record is missing",
                         path=path, hint="is it a SAS7BDAT, CSV or another file renamed "
                                         ".xpt? Export the dataset as SAS transport v5")
    tries = list(FALLBACK_ENCODINGS)
    if encoding is not None:
        first = codec_name(encoding)
        tries = [first] + [c for c in tries if c != first]
    df = meta = None
    used = tries[0]
    for used in tries:
        try:
            df, meta = pyreadstat.read_xport(str(path), disable_datetime_conversion=True,
                                             encoding=_ICONV.get(used, used.upper()))
            break
        except Exception as e:  # pyreadstat raises ReadstatError/PyreadstatError/ValueError
            if _is_decoding_error(e) and used != tries[-1]:
                continue            # text in another encoding: try the next one
            raise InputError(f"cannot read SAS transport file: {e}", path=path,
                             hint="the file may be truncated or corrupted; export it "
                                  "again") from None
    _check_complete(path, meta, len(df))
    if used != "utf_8" and _all_ascii(df, meta):
        used = "ascii"          # read as asked, but every byte is ASCII: no encoding to name
    formats = {}
    for col, fmt in (meta.original_variable_types or {}).items():
        if fmt:
            formats[col] = fmt if fmt.endswith(".") or re.search(r"\.\d*$", fmt) else fmt + "."
    types = {c: "Num" if t in ("double", "float", "int8", "int16", "int32") else "Char"
             for c, t in (meta.readstat_variable_types or {}).items()}
    out = {}
    for col in df.columns:
        s = df[col]
        if types.get(col) == "Char":
            # blank (spaces only) is missing; a value of other whitespace ("\r") is kept
            s = s.astype("str").where(s.astype("str").str.strip(" ") != "", pd.NA) \
                if len(s) else s.astype("str")
            s = s.astype("str")
        elif convert_dates and col in formats:
            f = formats[col].upper()
            if f.startswith(("DATETIME", "E8601DT", "IS8601DT")):
                s = (SAS_EPOCH + pd.to_timedelta(s, unit="s")).astype("datetime64[s]")
            elif f.startswith(("DATE", "YYMMDD", "E8601DA", "IS8601DA", "MMDDYY", "DDMMYY")):
                s = (SAS_EPOCH + pd.to_timedelta(s, unit="D")).astype("datetime64[s]")
        out[col] = s
    frame = pd.DataFrame(out, index=pd.RangeIndex(len(df)))
    labels = dict(zip(meta.column_names, meta.column_labels or [""] * len(meta.column_names)))
    frame.attrs["labels"] = {k: v or "" for k, v in labels.items()}
    frame.attrs["label"] = meta.file_label or ""
    version = 8 if magic.startswith(b"HEADER RECORD*******LIBV8") else 5
    xmeta = XptMeta(dataset=(meta.table_name or path.stem).upper(),
                    label=meta.file_label or "", columns=tuple(meta.column_names),
                    labels={k: v or "" for k, v in labels.items()}, formats=formats,
                    lengths=dict(meta.variable_storage_width or {}), types=types,
                    rows=int(meta.number_rows if meta.number_rows is not None else len(df)),
                    version=version, encoding=used)
    return frame, xmeta


_OBS_HEADERS = (b"HEADER RECORD*******OBS     HEADER RECORD!!!!!!!",
                b"HEADER RECORD*******OBSV8   HEADER RECORD!!!!!!!")
_MEMBER_HEADER = b"HEADER RECORD*******MEMBER  HEADER RECORD!!!!!!!"


def _check_complete(path: Path, meta, rows: int) -> None:
    """Refuse a transport file that was cut off, which readers would read as fewer records
    without a word: the file must be whole 80-byte records, and what follows the last record
    read must be blank padding. (A file cut exactly between two records on an 80-byte
    boundary cannot be told from a shorter file: XPT v5 stores no record count.)"""
    size = path.stat().st_size
    hint = "export or copy the file again"
    if size % 80:
        raise InputError(f"not a whole number of 80-byte records ({size:,} bytes): the file "
                         "is truncated", path=path, hint=hint)
    widths = dict(getattr(meta, "variable_storage_width", None) or {})
    obslen = sum(int(w) for w in widths.values())
    if not obslen:
        return
    with open(path, "rb") as f:
        head = f.read(min(size, 1 << 20))
        start = -1
        for marker in _OBS_HEADERS:
            i = head.find(marker)
            if i >= 0 and i % 80 == 0:
                start = i + 80
                break
        if start < 0:
            return
        f.seek(start + rows * obslen)
        rest = f.read()
    if rest.strip(b" ") and _MEMBER_HEADER not in rest:
        raise InputError(f"{len(rest)} byte(s) after record {rows:,} are not a whole record "
                         f"(records are {obslen} bytes): the file is truncated", path=path,
                         hint=hint)
