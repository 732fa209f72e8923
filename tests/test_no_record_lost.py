"""Nothing is lost (property test): for random raw exports of the real forms' shape, every
raw row read is in the lineage of an SDTM record or in the exclusions with a reason (never
both), the accounting adds up, and every lineage row points at a real raw row of the same
subject.

The exports start from a clean 3-subject simulated surufatinib-sts export; each example drops,
reorders and duplicates rows (exactly, or as a log line entered twice), adds rows of subjects
who are not enrolled or have no subject id, and puts garbage in random cells (impossible and
partial dates, numbers in words, non-ASCII and Chinese text, quotes, commas and line breaks,
over-long text, spreadsheet formulas). Hypothesis draws how much of each and a seed for where;
an example is a whole SDTM build (seconds), so there are few examples, each a thorough mess,
and no shrinking (a failure prints the seed and rates, which reproduce it).
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from bad_inputs import corpus

STUDYID = "SURU-STS-II"
GARBAGE = ["", " ", "UNK", "N/A", "-1", "0", "1e309", "NaN", "null", "None", "three hundred",
           "30-FEB-2024", "31-APR-2023", "2024-13-01", "UN-UNK-2024", "2024-02-29",
           "00-JAN-2024", "12/31/2024", "Nausée", "Ωmega ≥ 3", "肝功能异常",
           "\"quoted\", with comma",
           "line\nbreak", "tab\there", "=HYPERLINK(\"http://x\")", "x" * 260, "Yes", "no",
           "mm", "cm", "px", "Grade 9", "101-001", "  padded  "]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = corpus.make_base(tmp_path_factory.mktemp("no-record-lost"))
    forms = {}
    for p in sorted((root / "raw").glob("*.csv")):
        rows = list(csv.reader(io.StringIO(p.read_text(encoding="utf-8"), newline="")))
        forms[p.stem] = (rows[0], rows[1:])
    return root, forms


def mess_up(forms: dict, seed: int, drop: float, dup: float, garbage: float,
            strangers: float) -> dict[str, list[list[str]]]:
    """A messy copy of the forms: (header, rows) -> rows with the header first."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, (header, rows) in forms.items():
        rows = [list(r) for r in rows]
        keep = [r for r in rows if rng.random() >= drop]
        extra = []
        for r in rows:
            if rng.random() < dup:
                copy = list(r)
                if "RecordPosition" in header and rng.random() < 0.5:   # entered twice
                    copy[header.index("RecordPosition")] = str(rng.integers(50, 99))
                extra.append(copy)
            if rng.random() < strangers:
                copy = list(r)
                copy[header.index("Subject")] = str(rng.choice(["101-099", "", " ", "999"]))
                extra.append(copy)
        new = keep + extra
        for r in new:
            for j in range(len(header)):
                if rng.random() < garbage:
                    r[j] = str(rng.choice(GARBAGE))
        order = rng.permutation(len(new))
        out[name] = [list(header)] + [new[i] for i in order]
    return out


def write_forms(forms: dict, folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for name, rows in forms.items():
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        (folder / f"{name}.csv").write_text(buf.getvalue(), encoding="utf-8")


def check_nothing_lost(result, forms: dict[str, list[list[str]]]) -> None:
    lin, exc, acc = result.lineage, result.exclusions, result.accounting
    # 1. accounting: rows read = the rows written = mapped + excluded
    for _, a in acc.iterrows():
        written = len(forms[a["FORM"]]) - 1
        assert a["ROWS_READ"] == written, (a["FORM"], a["ROWS_READ"], written)
        assert a["ROWS_READ"] == a["ROWS_MAPPED"] + a["ROWS_EXCLUDED"], a.to_dict()
    # 2. every raw row is mapped or excluded with a reason, never both, never twice excluded
    assert exc["REASON"].notna().all() and (exc["REASON"].str.strip() != "").all()
    assert not exc.duplicated(["FORM", "RAW_ROW"]).any()
    mapped = lin[["FORM", "RAW_ROW"]].drop_duplicates()
    both = mapped.merge(exc[["FORM", "RAW_ROW"]], on=["FORM", "RAW_ROW"])
    assert both.empty, both
    for name, rows in forms.items():
        seen = set(mapped.loc[mapped["FORM"] == name, "RAW_ROW"]) | \
            set(exc.loc[exc["FORM"] == name, "RAW_ROW"])
        assert seen == set(range(1, len(rows))), (name, sorted(set(range(1, len(rows))) - seen))
    # 3. every lineage row is a real raw row of the record's subject
    for name, rows in forms.items():
        part = lin[(lin["FORM"] == name) & lin["USUBJID"].notna()]
        if part.empty:
            continue
        assert part["RAW_ROW"].between(1, len(rows) - 1).all(), name
        col = rows[0].index("Subject")
        subj = pd.Series([r[col].strip() for r in rows[1:]], index=range(1, len(rows)))
        want = STUDYID + "-" + part["RAW_ROW"].map(subj)
        bad = part[want.to_numpy() != part["USUBJID"].to_numpy()]
        assert bad.empty, bad.head()
    # 4. every record of a dataset mapped from raw data has lineage; lineage names real records
    for name, frame in result.datasets.items():
        if name in ("TA", "TE", "TI", "TS", "TV") or not len(frame):
            continue
        recs = set(lin.loc[lin["DOMAIN"] == name, "RECORD"])
        assert recs == set(range(1, len(frame) + 1)), (name, len(frame), len(recs))
    # 5. excluded rows name their raw subject (as written) where the row has one
    for name, rows in forms.items():
        e = exc[(exc["FORM"] == name) & exc["SUBJECT"].notna()]
        col = rows[0].index("Subject")
        raw_subj = [rows[r][col].strip() for r in e["RAW_ROW"]]
        assert list(e["SUBJECT"].str.strip()) == raw_subj, name


RATES = st.sampled_from([0.0, 0.05, 0.2, 0.5])


@settings(max_examples=2, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), drop=RATES, dup=RATES, garbage=st.sampled_from(
    [0.0, 0.02, 0.1]), strangers=RATES)
@example(seed=1, drop=0.2, dup=0.5, garbage=0.1, strangers=0.2)    # everything at once
@example(seed=2, drop=1.0, dup=0.0, garbage=0.0, strangers=0.0)    # an export with no rows
def test_every_raw_row_is_mapped_or_excluded(base, tmp_path, seed, drop, dup, garbage,
                                             strangers):
    from sdtm.build import build_sdtm
    from sdtm.spec import load_spec

    _, forms = base
    messy = mess_up(forms, seed, drop, dup, garbage, strangers)
    raw = tmp_path / f"raw-{seed}"
    write_forms(messy, raw)
    result = build_sdtm(load_spec(corpus.STUDY), raw)
    check_nothing_lost(result, messy)
