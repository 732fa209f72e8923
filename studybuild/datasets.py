"""Read a dataset, or a folder of datasets, in any format studybuild meets.

Formats: SAS transport (``.xpt``, v5 or v8), CSV (``.csv``), parquet (``.parquet``) and CDISC
Dataset-JSON 1.1 (``.json``, ``.ndjson``). Whatever the format, the frame follows the
conventions in DEVELOPERS.md: character missing is NA, numeric IG variables are float64, and
ADaM date/datetime variables (numeric ``*DT``/``*DTM`` in ADaMIG) are ``datetime64``.

The dataset name is the ``DOMAIN`` value for SDTM domains (so ``tu_onco_recist.csv`` is TU),
the XPT member name for XPT, else the upper-cased file stem. A split dataset (SDTMIG 3.4
section 4.1.7: ``qsco.xpt`` and ``qsgi.xpt`` both with DOMAIN QS; ``suppqsco.xpt`` with
RDOMAIN QS) is read as its domain (QS, SUPPQS), its files combined in file-name order.

Unreadable files raise :class:`~studybuild.errors.InputError` naming the file, never a traceback.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Literal

import numpy as np
import pandas as pd

from studybuild.errors import InputError

EXTENSIONS = {".xpt": "xpt", ".csv": "csv", ".parquet": "parquet", ".json": "json",
              ".ndjson": "ndjson"}
PREFERENCE = ("xpt", "json", "ndjson", "parquet", "csv")
# what a package's dataset folder holds besides datasets (eCTD m5 and studybuild's layout)
COMPANION_SUFFIXES = {".xsl": "define.xml stylesheet", ".html": "HTML page",
                      ".htm": "HTML page", ".pdf": "PDF document"}


def companion_reason(path: Path) -> str | None:
    """Why a file that is not a dataset belongs in a dataset folder (define.xml, its
    stylesheet, define.html, a reviewer's guide, the manifest), or None.

    >>> companion_reason(Path("define.xml")), companion_reason(Path("notes.txt"))
    ('define.xml', None)
    """
    name = path.name.lower()
    if name.startswith("define") and name.endswith((".xml", ".json")):
        return "define.xml" if name.endswith(".xml") else "define metadata"
    if name == "manifest.json":
        return "package manifest"
    return COMPANION_SUFFIXES.get(path.suffix.lower())


@dataclass
class LoadedDataset:
    name: str                                   # DM, ADSL, ...
    path: Path
    format: str                                 # xpt / csv / parquet / json / ndjson
    frame: pd.DataFrame
    label: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    lengths: dict[str, int] = field(default_factory=dict)   # XPT storage widths, if known
    metadata_ref: str = ""                      # Dataset-JSON metaDataRef (its define.xml)
    encoding: str = "utf_8"                     # codec the text was read with (XPT: any)
    # a split dataset's files in the order combined, with their record counts (else empty)
    parts: tuple[tuple[Path, int], ...] = ()


@dataclass
class DatasetFolder:
    path: Path
    datasets: dict[str, LoadedDataset]          # by name, sorted
    ignored: list[tuple[Path, str]]             # files not used, with the reason
    # files that belong beside the datasets (define.xml and its stylesheet, define.html,
    # reviewer's guides, the same dataset in another format): not read, nothing to report
    companions: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def kind(self) -> Literal["SDTM", "ADaM", "mixed", "empty"]:
        return detect_kind(self.datasets)

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.datasets[name.upper()].frame

    def get(self, name: str) -> pd.DataFrame | None:
        ds = self.datasets.get(name.upper())
        return None if ds is None else ds.frame

    def __contains__(self, name: str) -> bool:
        return name.upper() in self.datasets

    def frames(self) -> dict[str, pd.DataFrame]:
        return {k: v.frame for k, v in self.datasets.items()}


def detect_kind(names: Iterable[str]) -> Literal["SDTM", "ADaM", "mixed", "empty"]:
    names = [n.upper() for n in names]
    if not names:
        return "empty"
    adam = [n.startswith("AD") for n in names]
    if all(adam):
        return "ADaM"
    if not any(adam):
        return "SDTM"
    return "mixed"


def _blank_to_na(frame: pd.DataFrame) -> pd.DataFrame:
    out = {}
    for c in frame.columns:
        s = frame[c]
        if pd.api.types.is_string_dtype(s) or s.dtype == object:
            if s.dtype == object:
                # keep non-text objects (dates from parquet) as they are
                is_text = s.map(lambda v: isinstance(v, str) or v is None or
                                (isinstance(v, float) and np.isnan(v)))
                if not is_text.all():
                    out[c] = s
                    continue
            t = s.astype("str")
            out[c] = t.where(t.str.strip() != "", pd.NA).astype("str") if len(t) else t
        else:
            out[c] = s
    return pd.DataFrame(out, index=frame.index)


def csv_short_row(text: str) -> tuple[int, int, int] | None:
    """(data row, fields, header fields) of the first row with fewer fields than the header,
    which pandas would silently fill with missing values (a truncated file). Counted on the
    bytes, vectorised: commas and line breaks outside quotes, blank lines skipped as pandas
    skips them."""
    a = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    if not len(a):
        return None
    outside = ~np.logical_xor.accumulate(a == 34)
    starts = np.flatnonzero((a == 10) & outside) + 1
    starts = np.concatenate(([0], starts[starts < len(a)]))
    commas = np.flatnonzero((a == 44) & outside)
    fields = np.diff(np.searchsorted(commas, np.append(starts, len(a)))) + 1
    content = np.logical_or.reduceat(a > 32, starts)       # not a blank line
    fields = fields[content]
    if len(fields) < 2:
        return None
    short = np.flatnonzero(fields[1:] < fields[0])
    if not short.size:
        return None
    return int(short[0]) + 1, int(fields[1 + short[0]]), int(fields[0])


def coerce_types(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """Numeric IG variables to float64; ADaM numeric date/datetime variables to datetime64.
    Values that do not convert stay as they were (validation reports them)."""
    from studybuild import standards

    name = name.upper()
    out = {}
    for c in frame.columns:
        s = frame[c]
        var = None
        if name.startswith("AD"):
            var = standards.adamig().structure("ADSL").find(c) or \
                standards.adamig().structure("TTE").find(c)
        else:
            try:
                var = standards.sdtmig().dataset(name).find(c)
            except standards.StandardsLookupError:
                var = None
        if var is not None and var.numeric:
            is_date = name.startswith("AD") and re.search(r"(DT|DTM)$", str(c)) \
                and not str(c).endswith("DY")
            if is_date and not pd.api.types.is_numeric_dtype(s):
                conv = pd.to_datetime(s, errors="coerce", format="mixed")
                if conv.notna().sum() == s.notna().sum():
                    out[c] = conv.astype("datetime64[s]")
                    continue
            elif pd.api.types.is_datetime64_any_dtype(s):
                out[c] = s.astype("datetime64[s]")
                continue
            elif not pd.api.types.is_numeric_dtype(s) or s.dtype != "float64":
                if pd.api.types.is_bool_dtype(s):
                    out[c] = s
                    continue
                conv = pd.to_numeric(s, errors="coerce")
                if conv.notna().sum() == s.notna().sum():
                    out[c] = conv.astype("float64")
                    continue
        elif s.dtype == object:
            # parquet from R gives datetime.date objects for dates
            nonnull = s.dropna()
            if len(nonnull) and nonnull.map(lambda v: hasattr(v, "year")).all():
                out[c] = pd.to_datetime(s).astype("datetime64[s]")
                continue
        out[c] = s
    return pd.DataFrame(out, index=frame.index)


def _name_from(frame: pd.DataFrame, stem: str) -> str:
    """DOMAIN value for SDTM domains; for ADaM (stem AD*) and others the upper-cased stem,
    cut at the first '_' when longer than 8 characters (adtte_onco.csv -> ADTTE)."""
    up = stem.upper()
    if len(up) > 8 and "_" in up:
        up = up.split("_", 1)[0]
    if up.startswith("AD"):
        return up
    if "DOMAIN" in frame.columns:
        vals = frame["DOMAIN"].dropna().unique()
        if len(vals) == 1 and isinstance(vals[0], str) and re.fullmatch(r"[A-Z]{2}", vals[0]):
            return vals[0]
    return up


def _supp_name(frame: pd.DataFrame, name: str) -> str:
    """SUPPQS for a split SUPP dataset (SUPPQSCO: one RDOMAIN value QS, the name SUPP + QS +
    up to two characters), else the name as it is."""
    up = name.upper()
    if not up.startswith("SUPP") or "RDOMAIN" not in frame.columns:
        return up
    vals = frame["RDOMAIN"].dropna().unique()
    if len(vals) != 1 or not isinstance(vals[0], str) or not re.fullmatch(r"[A-Z]{2}", vals[0]):
        return up
    whole = "SUPP" + vals[0]
    return whole if up.startswith(whole) and len(up) <= len(whole) + 2 else up


def _split_parts(name: str, first: LoadedDataset, other: LoadedDataset) -> bool:
    """Whether two files read as one dataset are parts of a split dataset (SDTMIG 4.1.7): both
    file names start with the dataset name and neither is the whole dataset's (qs.xpt)."""
    stems = [first.path.stem.upper(), other.path.stem.upper()]
    return all(st.startswith(name) and st != name for st in stems) and \
        first.format == other.format


def _combine(first: LoadedDataset, other: LoadedDataset) -> LoadedDataset:
    """A split dataset's parts as one dataset: records in file order, variables of the first
    file then those only later files have, labels and XPT lengths of all (longest length)."""
    parts = first.parts or ((first.path, len(first.frame)),)
    frame = pd.concat([first.frame, other.frame], ignore_index=True, sort=False)
    labels = {**other.labels, **first.labels}
    lengths = dict(other.lengths)
    for k, v in first.lengths.items():
        lengths[k] = max(v, lengths.get(k, 0))
    encoding = first.encoding if first.encoding not in ("utf_8", "ascii") else other.encoding
    return LoadedDataset(name=first.name, path=first.path, format=first.format, frame=frame,
                         label=first.label or other.label, labels=labels, lengths=lengths,
                         metadata_ref=first.metadata_ref, encoding=encoding,
                         parts=parts + ((other.path, len(other.frame)),))


def read_dataset(path: str | os.PathLike, *, coerce: bool = True,
                 encoding: str | None = None) -> LoadedDataset:
    """Read one dataset file (format from its extension). ``encoding`` is the text encoding
    to read XPT files with first (they do not say theirs; see
    :func:`~studybuild.export.xpt.read_xpt`); CSV and Dataset-JSON are UTF-8."""
    path = Path(path)
    fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"unsupported file type {path.suffix!r}", path=path,
                         hint=f"use one of {', '.join(sorted(EXTENSIONS))}")
    if not path.is_file():
        raise InputError("file not found", path=path)
    label, labels, lengths, ref, codec = "", {}, {}, "", "utf_8"
    if fmt == "xpt":
        from studybuild.export.xpt import read_xpt

        frame, meta = read_xpt(path, encoding=encoding)
        name, label, labels, lengths = meta.dataset, meta.label, dict(meta.labels), \
            dict(meta.lengths)
        codec = meta.encoding
        if "DOMAIN" in frame.columns:
            name = _name_from(frame, name)
    elif fmt == "csv":
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise InputError(f"file is not UTF-8 text (byte {e.object[e.start]:#04x} at "
                             f"offset {e.start:,})", path=path,
                             hint="re-export the CSV as UTF-8") from None
        except OSError as e:
            raise InputError(f"cannot read file: {e.strerror}", path=path) from None
        try:
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        except pd.errors.EmptyDataError:
            raise InputError("file is empty (no header row)", path=path) from None
        except pd.errors.ParserError as e:
            raise InputError(f"CSV cannot be parsed: {str(e).strip()}", path=path,
                             hint="check quotes and commas (rows count from the header, "
                                  "line 1)") from None
        short = csv_short_row(text)
        if short is not None:
            raise InputError(f"record {short[0]} has {short[1]} field(s), the header "
                             f"{short[2]}: the row is cut short (the file may be truncated)",
                             path=path, hint="export the dataset again")
        frame = _blank_to_na(frame)
        name = _name_from(frame, path.stem)
    elif fmt == "parquet":
        try:
            frame = pd.read_parquet(path)
        except Exception as e:  # pyarrow raises many types for corrupt files
            raise InputError(f"cannot read parquet file: {e}", path=path,
                             hint="export the dataset again") from None
        frame = _blank_to_na(frame.reset_index(drop=True))
        name = _name_from(frame, path.stem)
    else:
        from studybuild.export.datasetjson import read_dataset_json

        frame, meta = read_dataset_json(path)
        name, label, labels = meta["name"], meta.get("label", ""), meta.get("labels", {})
        ref = meta.get("metadata_ref", "")
    name = _supp_name(frame, name)
    if coerce:
        frame = coerce_types(frame, name)
    return LoadedDataset(name=name.upper(), path=path, format=fmt, frame=frame, label=label,
                         labels=labels, lengths=lengths, metadata_ref=ref, encoding=codec)


def _looks_like_dataset_json(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(4096)
    return b'"datasetJSONVersion"' in head or b'"columns"' in head


def read_folder(path: str | os.PathLike, *, names: Iterable[str] | None = None,
                coerce: bool = True, encoding: str | None = None) -> DatasetFolder:
    """Read every dataset file in a folder (not recursive). When one dataset exists in several
    formats (same file stem), XPT wins, then Dataset-JSON, parquet, CSV; the other files are
    not read and are listed in ``companions``, with the package files that belong beside
    datasets (define.xml, define2-1.xsl, define.html, reviewer's guides as PDF). The files of
    a split dataset (qsco.xpt and qsgi.xpt, both DOMAIN QS; suppqsco.xpt and suppqsgi.xpt,
    both RDOMAIN QS) are combined into one (``LoadedDataset.parts``); a second file giving
    a dataset otherwise (qs.xpt and qsco.xpt) is not read. Any other file is listed in
    ``ignored`` with the reason. ``names`` limits reading to those datasets
    (by file stem or dataset name); ``encoding`` is the text encoding XPT files are read
    with first (:func:`read_dataset`)."""
    path = Path(path)
    if not path.exists():
        raise InputError("folder not found", path=path)
    if path.is_file():
        ds = read_dataset(path, coerce=coerce, encoding=encoding)
        return DatasetFolder(path.parent, {ds.name: ds}, [])
    wanted = {n.upper() for n in names} if names is not None else None
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    ignored: list[tuple[Path, str]] = []
    companions: list[tuple[Path, str]] = []
    chosen: dict[str, LoadedDataset] = {}
    read_stems: dict[str, Path] = {}            # file stem -> the file the dataset came from
    by_pref = sorted(files, key=lambda p: (PREFERENCE.index(EXTENSIONS[p.suffix.lower()])
                                           if p.suffix.lower() in EXTENSIONS else 99, p.name))
    for p in by_pref:
        why = companion_reason(p)
        if why is not None:
            companions.append((p, why))
            continue
        if p.suffix.lower() not in EXTENSIONS:
            ignored.append((p, "not a dataset file"))
            continue
        if p.name.lower().startswith("report"):
            ignored.append((p, "not a dataset file"))
            continue
        if wanted is not None and p.stem.upper() not in wanted:
            continue
        twin = read_stems.get(p.stem.upper())
        if twin is not None:                    # ae.json beside ae.xpt: not read at all
            companions.append((p, f"{_chosen_name(chosen, twin)} already read from {twin.name}"))
            continue
        if p.suffix.lower() in (".json", ".ndjson") and not _looks_like_dataset_json(p):
            ignored.append((p, "JSON file that is not Dataset-JSON"))
            continue
        ds = read_dataset(p, coerce=coerce, encoding=encoding)
        if wanted is not None and ds.name not in wanted and p.stem.upper() not in wanted:
            continue
        if ds.name in chosen and _split_parts(ds.name, chosen[ds.name], ds):
            chosen[ds.name] = _combine(chosen[ds.name], ds)     # qsgi.xpt after qsco.xpt
            read_stems[p.stem.upper()] = p
            continue
        if ds.name in chosen:
            ignored.append((p, f"{ds.name} already read from {chosen[ds.name].path.name}"))
            continue
        chosen[ds.name] = ds
        read_stems[p.stem.upper()] = p
    return DatasetFolder(path, dict(sorted(chosen.items())), ignored,
                         sorted(companions, key=lambda c: c[0].name))


def _chosen_name(chosen: dict[str, LoadedDataset], path: Path) -> str:
    """The name of the dataset read from ``path``."""
    return next((n for n, d in chosen.items() if d.path == path), path.stem.upper())
