"""Fuzzing (hypothesis) of the parsers that meet outside data: collected dates to ISO 8601
(sdtm.dates), the ISO 8601 checks (validation.iso8601), the CT mapper (the ``ct`` algorithm)
and the XPT writer/reader beyond tests/test_xpt.py's round trip (dates, transliteration,
200-byte values, files cut or damaged at random places).

Oracles are independent of the code under test: Python's ``datetime`` for calendar facts,
the CT package's own terms for the mapper, the frame that was written for the XPT reader.
"""

from __future__ import annotations

import calendar
import datetime as dt
import string

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from sdtm import dates
from studybuild.errors import InputError
from validation import iso8601

MON = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
UNKNOWN = ["UN", "UNK", "UK", "NK", "--", "un", "unk", "uk", "nk"]
FORMATS = tuple(dates.FORMATS)
FAST = settings(max_examples=300, deadline=None)
days = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31))


def written(d: dt.date, fmt: str) -> str:
    """A date as an EDC writes it in each collected pattern."""
    return {"DD-MON-YYYY": f"{d.day:02d}-{MON[d.month - 1]}-{d.year}",
            "DDMONYYYY": f"{d.day:02d}{MON[d.month - 1]}{d.year}",
            "YYYY-MM-DD": d.isoformat(),
            "YYYYMMDD": d.strftime("%Y%m%d"),
            "DD/MM/YYYY": f"{d.day:02d}/{d.month:02d}/{d.year}",
            "MM/DD/YYYY": f"{d.month:02d}/{d.day:02d}/{d.year}"}[fmt]


# ---- sdtm.dates: collected -> ISO 8601 --------------------------------------------------------

@FAST
@given(d=days, fmt=st.sampled_from(FORMATS), case=st.sampled_from([str.upper, str.lower,
                                                                    str.title]))
def test_every_pattern_reads_back_the_calendar_date(d, fmt, case):
    iso, bad = dates.parse_one(" " + case(written(d, fmt)) + " ", (fmt,))
    assert (iso, bad) == (d.isoformat(), False)


@FAST
@given(d=days, unk=st.sampled_from(UNKNOWN), unk2=st.sampled_from(UNKNOWN),
       fmt=st.sampled_from(["DD-MON-YYYY", "YYYY-MM-DD"]))
def test_partial_dates_stay_partial_never_imputed(d, unk, unk2, fmt):
    if fmt == "DD-MON-YYYY":
        no_day, no_month = f"{unk}-{MON[d.month - 1]}-{d.year}", f"{unk}-{unk2}-{d.year}"
    else:
        no_day, no_month = f"{d.year}-{d.month:02d}-{unk}", f"{d.year}-{unk2}-{unk}"
    assert dates.parse_one(no_day, (fmt,)) == (f"{d.year}-{d.month:02d}", False)
    assert dates.parse_one(no_month, (fmt,)) == (str(d.year), False)
    # a day without a month cannot be written partially in SDTM: the year only
    assert dates.parse_one(f"{d.day:02d}-{unk2}-{d.year}", ("DD-MON-YYYY",)) == \
        (str(d.year), False)


@FAST
@given(year=st.integers(1900, 2099), month=st.integers(1, 12), extra=st.integers(1, 40),
       fmt=st.sampled_from(FORMATS))
def test_impossible_days_are_invalid_not_rolled_over(year, month, extra, fmt):
    last = calendar.monthrange(year, month)[1]
    day = last + extra
    assume(day <= 99 and (fmt != "YYYYMMDD" or day <= 99))
    text = {"DD-MON-YYYY": f"{day:02d}-{MON[month - 1]}-{year}",
            "DDMONYYYY": f"{day:02d}{MON[month - 1]}{year}",
            "YYYY-MM-DD": f"{year}-{month:02d}-{day:02d}",
            "YYYYMMDD": f"{year}{month:02d}{day:02d}",
            "DD/MM/YYYY": f"{day:02d}/{month:02d}/{year}",
            "MM/DD/YYYY": f"{month:02d}/{day:02d}/{year}"}[fmt]
    assert dates.parse_one(text, (fmt,)) == (None, True)


TEXTS = st.one_of(st.text(max_size=20),
                  st.text(alphabet="0123456789-/: UNKAJFEBMRPYLGSOCTVD", max_size=14))


@settings(max_examples=80, deadline=None)
@given(texts=st.lists(TEXTS, min_size=1, max_size=12),
       fmts=st.lists(st.sampled_from(FORMATS), min_size=1, max_size=6, unique=True))
@example(texts=["00-JAN-2021", "2021-00-10", "31/04/2021", "29-FEB-2023", "2021-03-UN"],
         fmts=list(FORMATS))
def test_any_text_gives_valid_iso_or_is_reported(texts, fmts):
    """Whatever is collected, the result is missing (reported as invalid if something was
    there) or ISO 8601 text that the conformance check accepts and, when complete, a real
    day; nothing raises."""
    isos = []
    for text in texts:
        iso, bad = dates.parse_one(text, tuple(fmts))
        if iso is None:
            assert bad == bool(text.strip()), text
            continue
        assert not bad and dates.valid_iso(iso), (text, iso)
        if len(iso) == 10:
            dt.date.fromisoformat(iso)
        isos.append(iso)
    assert iso8601.is_valid_dtc(pd.Series(isos, dtype="str")).all(), isos


@settings(max_examples=60, deadline=None)
@given(items=st.lists(st.tuples(days, st.integers(0, 30), st.integers(0, 70),
                                st.one_of(st.none(), st.integers(0, 70))), min_size=1,
                      max_size=10))
def test_times_join_complete_dates_and_bad_times_are_invalid(items):
    isos = []
    for d, hh, mm, ss in items:
        time = f"{hh:02d}:{mm:02d}" + (f":{ss:02d}" if ss is not None else "")
        iso, bad = dates.parse_one(d.isoformat(), ("YYYY-MM-DD",), time)
        if hh > 23 or mm > 59 or (ss is not None and ss > 59):
            assert (iso, bad) == (None, True)
        else:
            want = dt.datetime(d.year, d.month, d.day, hh, mm, ss or 0)
            assert iso == want.isoformat(timespec="seconds" if ss is not None else "minutes")
            isos.append(iso)
    assert iso8601.is_valid_dtc(pd.Series(isos, dtype="str")).all()


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.one_of(st.none(), days.map(lambda d: written(d, "DD-MON-YYYY")),
                                 st.sampled_from(["UN-MAR-2021", "30-FEB-2021", "x", ""])),
                       max_size=30))
def test_vectorised_parse_equals_one_by_one(values):
    s = pd.Series(values, dtype="str")
    iso, bad = dates.parse_dates(s, ("DD-MON-YYYY", "YYYY-MM-DD"))
    one = [dates.parse_one(None if pd.isna(v) else v, ("DD-MON-YYYY", "YYYY-MM-DD"))
           for v in s]
    assert [None if pd.isna(v) else v for v in iso] == [o[0] for o in one]
    assert bad.tolist() == [o[1] for o in one]


@settings(max_examples=40, deadline=None)
@given(pairs=st.lists(st.tuples(days, days), min_size=1, max_size=20))
def test_study_day_has_no_day_zero_and_both_implementations_agree(pairs):
    # hand rule (SDTMIG 4.4.4): on or after the reference date, days between + 1; before it,
    # days between (negative), so the day before day 1 is day -1
    want = [float((a - b).days + 1 if a >= b else (a - b).days) for a, b in pairs]
    s = pd.Series([a.isoformat() for a, _ in pairs])
    r = pd.Series([b.isoformat() for _, b in pairs])
    assert dates.study_day(s, r).tolist() == want
    assert iso8601.study_day(s, r).tolist() == want


# ---- validation.iso8601 ----------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(ymd=st.lists(st.tuples(st.integers(1, 9999), st.integers(0, 19), st.integers(0, 39)),
                    min_size=1, max_size=40))
@example(ymd=[(2000, 2, 29), (1900, 2, 29), (2024, 4, 31), (2023, 2, 29), (1600, 2, 29),
              (1, 1, 1), (9999, 12, 31)])
def test_dtc_check_knows_the_calendar(ymd):
    texts, real = [], []
    for y, m, d in ymd:
        texts.append(f"{y:04d}-{m:02d}-{d:02d}")
        try:
            dt.date(y, m, d)
            real.append(True)
        except ValueError:
            real.append(False)
    s = pd.Series(texts)
    assert iso8601.is_valid_dtc(s).tolist() == real, texts
    assert iso8601.is_complete_date(s).tolist() == real, texts


@settings(max_examples=40, deadline=None)
@given(texts=st.lists(st.one_of(st.none(), st.text(max_size=30), TEXTS), min_size=1,
                      max_size=30))
def test_dtc_checks_never_raise(texts):
    s = pd.Series(texts, dtype="str")
    ok = iso8601.is_valid_dtc(s)
    assert ok.dtype == bool and ok[s.isna()].all()      # missing is valid
    iso8601.precision_prefix(s)
    iso8601.is_complete_date(s)
    iso8601.is_valid_duration(s)


@settings(max_examples=40, deadline=None)
@given(items=st.lists(st.tuples(st.datetimes(min_value=dt.datetime(1900, 1, 1),
                                             max_value=dt.datetime(2099, 12, 31)),
                                st.sampled_from([4, 7, 10, 13, 16, 19])), min_size=1,
                      max_size=20))
def test_every_precision_of_a_real_datetime_is_valid_and_its_own_prefix(items):
    texts = [d.isoformat(timespec="seconds")[:cut] for d, cut in items]
    s = pd.Series(texts)
    assert iso8601.is_valid_dtc(s).all()
    assert iso8601.precision_prefix(s).tolist() == texts


# ---- the ct algorithm (CT mapper) ------------------------------------------------------------

CODELISTS = ["C66731", "C66742", "C66768", "C66767", "C66728", "C66729", "C71113", "C71620",
             "C74457", "C66790", "C66726", "C66781"]


@pytest.fixture(scope="module")
def ct_env():
    from sdtm.registry import BuildState, algorithms
    from sdtm.spec import load_spec
    from studybuild import standards

    spec = load_spec("surufatinib-sts")
    return spec, algorithms()["ct"], standards.ct()


def run_ct(env, code: str, values: list, **params):
    from sdtm.registry import Arg, BuildState, ValueContext
    from studybuild.findings import Findings

    spec, alg, _ = env
    n = len(values)
    state = BuildState(spec=spec, study=spec.study, findings=Findings(),
                       subjects=pd.DataFrame({"USUBJID": [f"S{i}" for i in range(n)]}))
    recs = pd.DataFrame({"USUBJID": pd.Series([f"S{i}" for i in range(n)], dtype="str"),
                         "_REC": np.arange(n), "_ROW": np.arange(1, n + 1)})
    ctx = ValueContext(state=state, domain="DM", variable="X", block="b", records=recs)
    arg = Arg(pd.Series(values, dtype="str"), "f.FLD", "f", "FLD",
              pd.Series(np.arange(1, n + 1), dtype="float64"))
    out = alg.fn(ctx, [arg], alg.params.model_validate({"codelist": code, **params}))
    return [None if pd.isna(v) else v for v in out], list(state.findings)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_ct_maps_any_spelling_of_a_term_to_a_submission_value_that_owns_it(ct_env, data):
    """A submission value, synonym or preferred term, in any case and with extra blanks,
    maps to a submission value whose term has that text; a submission value maps to
    itself; no finding."""
    from sdtm.terminology import norm_key

    code = data.draw(st.sampled_from(CODELISTS))
    cl = ct_env[2].codelist(code)
    term = data.draw(st.sampled_from(list(cl.terms)))
    texts = [term.submission_value, term.preferred_term, *term.synonyms]
    text = data.draw(st.sampled_from([t for t in texts if t]))
    case = data.draw(st.sampled_from([str.upper, str.lower, str.title, lambda s: s]))
    pad = data.draw(st.sampled_from(["", " ", "  ", "\t"]))
    spelled = pad + " ".join(case(text).split(" ")).replace(" ", data.draw(
        st.sampled_from([" ", "  "]))) + pad
    out, findings = run_ct(ct_env, code, [spelled, term.submission_value])
    owners = {t.submission_value for t in cl.terms
              if norm_key(text) in {norm_key(x) for x in
                                    (t.submission_value, t.preferred_term, *t.synonyms) if x}}
    assert out[0] in owners and out[1] == term.submission_value, (spelled, out)
    assert not findings


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(code=st.sampled_from(CODELISTS),
       junk=st.text(alphabet=string.ascii_letters + string.digits + " -_/.é肝", min_size=1,
                    max_size=12))
def test_ct_never_invents_a_term_and_reports_what_it_cannot_map(ct_env, code, junk):
    """Text that is no spelling of any term is kept as collected (upper-cased) with an error
    finding for a non-extensible codelist, a warning for an extensible one; any output is a
    submission value or the reported text."""
    from sdtm.terminology import norm_key

    cl = ct_env[2].codelist(code)
    known = {norm_key(x) for t in cl.terms
             for x in (t.submission_value, t.preferred_term, *t.synonyms) if x}
    out, findings = run_ct(ct_env, code, [junk])
    if not junk.strip():
        assert out == [None] and not findings
    elif norm_key(junk) in known:
        assert out[0] in {t.submission_value for t in cl.terms} and not findings
    else:
        assert out == [junk.strip().upper()]
        (f,) = findings
        assert f.rule_id == "SB-MAP-CT" and f.row == 1
        assert f.severity.value == ("warning" if cl.extensible else "error")


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(code=st.sampled_from(CODELISTS), data=st.data())
def test_ct_is_idempotent_and_the_study_map_comes_first(ct_env, code, data):
    cl = ct_env[2].codelist(code)
    a, b = data.draw(st.lists(st.sampled_from([t.submission_value for t in cl.terms]),
                              min_size=2, max_size=2))
    out, _ = run_ct(ct_env, code, [a])
    again, findings = run_ct(ct_env, code, out)
    assert again == out and not findings
    # a study map sends a (any case) to b, even though a is itself a term
    mapped, findings = run_ct(ct_env, code, [a.lower()], map={a: b})
    assert mapped == [b] and not findings


# ---- XPT: what tests/test_xpt.py's round trip does not cover -----------------------------------

STAMP = dt.datetime(2024, 1, 31, 0, 0, 0)
XPT = settings(max_examples=30, deadline=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture])
printable = st.text(alphabet=string.printable.replace("\x0b", "").replace("\x0c", ""),
                    max_size=60)


@XPT
@given(dts=st.lists(st.one_of(st.none(), st.datetimes(min_value=dt.datetime(1900, 1, 1),
                                                      max_value=dt.datetime(2100, 12, 31))),
                    min_size=1, max_size=8))
def test_xpt_dates_and_datetimes_round_trip(tmp_path, dts):
    from studybuild.export.xpt import read_xpt, write_xpt

    dtm = pd.Series([None if v is None else pd.Timestamp(v.replace(microsecond=0))
                     for v in dts], dtype="datetime64[s]")
    frame = pd.DataFrame({"STUDYID": "S1", "ASTDT": dtm.dt.normalize(), "ASTDTM": dtm})
    path = write_xpt(frame, tmp_path / "adx.xpt", dataset="ADX", label="Dates",
                     labels={"STUDYID": "Study", "ASTDT": "Start date",
                             "ASTDTM": "Start date/time"}, timestamp=STAMP)
    back, meta = read_xpt(path)
    assert meta.formats["ASTDT"].startswith("DATE") and \
        meta.formats["ASTDTM"].startswith("DATETIME")
    pd.testing.assert_series_equal(back["ASTDTM"], frame["ASTDTM"], check_names=False)
    pd.testing.assert_series_equal(back["ASTDT"], frame["ASTDT"], check_names=False)


@XPT
@given(texts=st.lists(st.one_of(st.none(), printable, st.text(max_size=30)), min_size=1,
                      max_size=8),
       at_limit=st.booleans())
def test_xpt_text_any_characters_round_trip_or_are_refused(tmp_path, texts, at_limit):
    """Printable ASCII (quotes, commas, tabs, leading blanks) comes back as written, less
    trailing blanks; with transliteration, non-ASCII comes back spelled in ASCII, and what
    has no ASCII spelling (or control characters) is refused, never written damaged."""
    from studybuild.export.xpt import XptExportError, read_xpt, transliterate, write_xpt

    if at_limit:
        texts = texts + ["x" * 199 + "y"]
    s = pd.Series(texts, dtype="str")
    frame = pd.DataFrame({"STUDYID": "S1", "TXT": s})
    want = s.map(lambda v: transliterate(v).rstrip(" ") if isinstance(v, str) else v)
    want = want.where(want.notna() & (want != ""))
    try:
        path = write_xpt(frame, tmp_path / "tx.xpt", dataset="TX", label="Text",
                         labels={"STUDYID": "Study", "TXT": "Text"}, ascii="transliterate",
                         timestamp=STAMP)
    except XptExportError as e:
        rules = {v.rule for v in e.violations}
        assert rules <= {"ascii", "length", "blank-rows", "type"}, rules
        assert not all(v is None or (transliterate(v).isascii() and
                                     len(transliterate(v).encode()) <= 200 and
                                     transliterate(v).isprintable()) for v in texts) or \
            "blank-rows" in rules or "type" in rules
        return
    back, meta = read_xpt(path)
    assert [None if pd.isna(v) else v for v in back["TXT"]] == \
        [None if pd.isna(v) else v for v in want]
    assert back["TXT"].dropna().map(str.isascii).all()


def _dm(n: int) -> pd.DataFrame:
    return pd.DataFrame({"STUDYID": ["S1"] * n, "DOMAIN": ["DM"] * n,
                         "USUBJID": [f"S1-{i:03d}" for i in range(n)],
                         "AGE": np.arange(n, dtype="float64") + 40.5,
                         "SEX": ["MF"[i % 2] for i in range(n)]})


@XPT
@given(n=st.integers(1, 25), where=st.floats(0.0, 1.0, exclude_max=True))
def test_a_cut_xpt_is_refused_or_reads_as_an_exact_prefix(tmp_path, n, where):
    """A transport file cut anywhere is refused (InputError naming it), except a cut exactly
    on an 80-byte record boundary between observations, which XPT v5 cannot detect (no record
    count): then the records read are exactly the first ones written, never garbage."""
    from studybuild.export.xpt import read_xpt, write_xpt

    frame = _dm(n)
    path = write_xpt(frame, tmp_path / "dm.xpt", dataset="DM", label="Demographics",
                     timestamp=STAMP)
    data = path.read_bytes()
    cut = tmp_path / "cut.xpt"
    size = int(where * len(data))
    cut.write_bytes(data[:size])
    try:
        back, _ = read_xpt(cut)
    except InputError as e:
        assert "cut.xpt" in str(e)
        return
    assert size % 80 == 0 and len(back) <= n
    got = back[["USUBJID", "AGE", "SEX"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, frame[["USUBJID", "AGE", "SEX"]].iloc[:len(back)]
                                  .reset_index(drop=True), check_dtype=False)


@XPT
@given(n=st.integers(1, 10), pos=st.floats(0.0, 1.0, exclude_max=True),
       junk=st.binary(min_size=1, max_size=16))
def test_damaged_xpt_bytes_never_crash_the_reader(tmp_path, n, pos, junk):
    """Bytes overwritten anywhere: the reader returns a frame or refuses the file with an
    InputError naming it; no other exception escapes (the CLI would report a bug)."""
    from studybuild.export.xpt import read_xpt, write_xpt

    path = write_xpt(_dm(n), tmp_path / "dm.xpt", dataset="DM", label="Demographics",
                     timestamp=STAMP)
    data = bytearray(path.read_bytes())
    at = int(pos * len(data))
    data[at:at + len(junk)] = junk
    bad = tmp_path / "bad.xpt"
    bad.write_bytes(bytes(data))
    try:
        read_xpt(bad)
    except InputError as e:
        assert "bad.xpt" in str(e)
