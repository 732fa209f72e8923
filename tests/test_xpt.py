"""SAS transport v5 export: every rule refuses a violating frame with a message naming dataset,
variable and row; what is written reads back identically with pyreadstat (and pandas)."""

import datetime as dt
import string

import numpy as np
import pandas as pd
import pyreadstat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studybuild.export.xpt import XptExportError, read_xpt, transliterate, write_xpt

STAMP = dt.datetime(2023, 6, 30, 12, 0, 0)


def dm_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "STUDYID": ["S1", "S1", "S1"],
        "DOMAIN": ["DM", "DM", "DM"],
        "USUBJID": ["S1-101-001", "S1-101-002", "S1-101-003"],
        "SUBJID": ["001", "002", "003"],
        "SITEID": ["101", "101", "101"],
        "AGE": [63.0, np.nan, 0.0],
        "SEX": ["M", None, "F"],
    })


def test_round_trip_values_labels_lengths_and_ig_order(tmp_path):
    df = dm_frame()[["SEX", "AGE", "STUDYID", "DOMAIN", "USUBJID", "SUBJID", "SITEID"]]
    path = write_xpt(df, tmp_path, dataset="DM", timestamp=STAMP)
    assert path.name == "dm.xpt"
    back, meta = read_xpt(path)
    # SDTMIG order, not the frame's
    assert meta.columns == ("STUDYID", "DOMAIN", "USUBJID", "SUBJID", "SITEID", "AGE", "SEX")
    assert meta.label == "Demographics" and meta.dataset == "DM" and meta.version == 5
    assert meta.labels["AGE"] == "Age" and meta.labels["SUBJID"] == "Subject Identifier for the Study"
    # character length = longest value (USUBJID is 10 bytes), at least 1
    assert meta.lengths["USUBJID"] == 10 and meta.lengths["SEX"] == 1
    assert meta.types == {"STUDYID": "Char", "DOMAIN": "Char", "USUBJID": "Char",
                          "SUBJID": "Char", "SITEID": "Char", "AGE": "Num", "SEX": "Char"}
    pd.testing.assert_frame_equal(back, dm_frame()[list(meta.columns)].astype(
        {c: "str" for c in ["STUDYID", "DOMAIN", "USUBJID", "SUBJID", "SITEID", "SEX"]}),
        check_dtype=False)
    assert back.loc[2, "AGE"] == 0.0                # exact zero survives (pyreadstat reader)
    assert pd.isna(back.loc[1, "SEX"])              # missing comes back as NA, not ""


def test_pandas_reads_it_too_except_its_known_zero_bug(tmp_path):
    path = write_xpt(dm_frame(), tmp_path, dataset="DM", timestamp=STAMP)
    via_pandas = pd.read_sas(path, format="xport", encoding="ascii")
    ours, _ = read_xpt(path)
    assert list(via_pandas.columns) == list(ours.columns)
    assert via_pandas["USUBJID"].tolist() == ours["USUBJID"].tolist()
    # pandas issue 50670: an exact 0.0 reads back as ~5.4e-79; everything else is identical
    np.testing.assert_allclose(via_pandas["AGE"].to_numpy(), ours["AGE"].to_numpy(), atol=1e-70)
    assert via_pandas["AGE"].iloc[0] == 63.0


def test_adam_dates_get_sas_formats_and_come_back_as_dates(tmp_path):
    adsl = pd.DataFrame({
        "STUDYID": ["S1", "S1"], "USUBJID": ["S1-1", "S1-2"],
        "TRTSDT": pd.to_datetime(["2021-03-04", None]).astype("datetime64[s]"),
        "TRTSDTM": pd.to_datetime(["2021-03-04 10:11:12", "1960-01-01 00:00:00"]).astype("datetime64[s]"),
        "TRTDURD": [12.0, 0.0],
    })
    path = write_xpt(adsl, tmp_path, dataset="ADSL", timestamp=STAMP)
    back, meta = read_xpt(path)
    assert meta.formats == {"TRTSDT": "DATE9.", "TRTSDTM": "DATETIME20."}
    assert meta.labels["TRTSDT"] == "Date of First Exposure to Treatment"
    assert back["TRTSDT"].tolist()[0] == pd.Timestamp("2021-03-04") and pd.isna(back["TRTSDT"][1])
    assert back["TRTSDTM"].tolist() == [pd.Timestamp("2021-03-04 10:11:12"), pd.Timestamp("1960-01-01")]
    # underlying SAS numbers: days / seconds since 1960-01-01
    raw, _ = pyreadstat.read_xport(str(path), disable_datetime_conversion=True)
    assert raw["TRTSDT"][0] == (pd.Timestamp("2021-03-04") - pd.Timestamp("1960-01-01")).days
    assert raw["TRTSDTM"][1] == 0.0


def test_rebuild_is_byte_identical_and_stamp_is_fixed(tmp_path):
    a = write_xpt(dm_frame(), tmp_path / "a", dataset="DM", timestamp=STAMP).read_bytes()
    b = write_xpt(dm_frame(), tmp_path / "b", dataset="DM", timestamp=STAMP).read_bytes()
    assert a == b
    assert a.count(b"30JUN23:12:00:00") == 4      # created + modified, library and member headers


def test_no_temp_files_left_and_failed_write_keeps_old_file(tmp_path):
    path = write_xpt(dm_frame(), tmp_path, dataset="DM", timestamp=STAMP)
    before = path.read_bytes()
    with pytest.raises(XptExportError):
        write_xpt(dm_frame().assign(SEX=["é", "M", "F"]), tmp_path, dataset="DM")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dm.xpt"]


# ---- one test per rule: a violating frame and the message ----------------------------------

def _violation(df, **kw):
    with pytest.raises(XptExportError) as e:
        write_xpt(df, "/nonexistent-dir-never-written/x.xpt", **kw)
    return e.value


def test_rule_variable_name_too_long():
    e = _violation(dm_frame().assign(LONGNAME9=1.0), dataset="DM",
                   labels={"LONGNAME9": "x"})
    assert str(e).startswith("dataset DM, variable LONGNAME9: variable name 'LONGNAME9' is "
                             "longer than 8 characters")


def test_rule_variable_name_bad_characters():
    e = _violation(dm_frame().assign(**{"1AGE": 1.0}), dataset="DM", labels={"1AGE": "x"})
    assert "variable 1AGE" in str(e) and "leading letter" in str(e)


def test_rule_variable_label_over_40():
    e = _violation(dm_frame(), dataset="DM", labels={"AGE": "A" * 41})
    assert str(e).startswith("dataset DM, variable AGE: label is 41 characters, over 40")


def test_rule_missing_label():
    e = _violation(dm_frame().assign(XYZ=1.0), dataset="DM")
    assert str(e).startswith("dataset DM, variable XYZ: variable XYZ has no label")


def test_rule_dataset_label_over_40():
    e = _violation(dm_frame(), dataset="DM", label="D" * 41)
    assert str(e).startswith("dataset DM: dataset label is 41 characters, over 40")


def test_rule_dataset_name():
    e = _violation(dm_frame(), dataset="DEMOGRAPHX", label="Demographics")
    assert "dataset name 'DEMOGRAPHX' is not a valid XPT v5 name" in str(e)


def test_rule_character_value_over_200_bytes():
    e = _violation(dm_frame().assign(SUBJID=["1", "x" * 201, "3"]), dataset="DM")
    assert str(e).startswith("dataset DM, variable SUBJID, row 2: value is 201 bytes, over 200")


def test_rule_non_ascii_reports_the_value_and_offers_transliteration(tmp_path):
    e = _violation(dm_frame().assign(SUBJID=["1", "2", "Müller–3"]), dataset="DM")
    assert str(e).startswith("dataset DM, variable SUBJID, row 3: value 'Müller–3' has "
                             "non-ASCII characters")
    assert "transliterate" in str(e)
    path = write_xpt(dm_frame().assign(SUBJID=["1", "2", "Müller–3"]), tmp_path, dataset="DM",
                     ascii="transliterate", timestamp=STAMP)
    assert read_xpt(path)[0]["SUBJID"].tolist() == ["1", "2", "Muller-3"]


def test_transliteration_keeps_what_has_no_ascii_spelling():
    assert transliterate("naïve “quote” 5 µg ≥ 3") == 'naive "quote" 5 ug >= 3'
    e = _violation(dm_frame().assign(SUBJID=["1", "2", "肝转移"]), dataset="DM",
                   ascii="transliterate")
    assert "row 3" in str(e) and "非" not in str(e) and "肝转移" in str(e)


def test_rule_numeric_out_of_ibm_range():
    e = _violation(dm_frame().assign(AGE=[1.0, 1e80, 2.0]), dataset="DM")
    assert str(e).startswith("dataset DM, variable AGE, row 2: value 1e+80 is too large for an "
                             "IBM double")
    e = _violation(dm_frame().assign(AGE=[1e-80, 1.0, 2.0]), dataset="DM")
    assert "row 1: value 1e-80 is too small for an IBM double" in str(e)
    e = _violation(dm_frame().assign(AGE=[1.0, 2.0, np.inf]), dataset="DM")
    assert "row 3: value inf is infinite" in str(e)


def test_rule_mixed_types_in_text_column():
    e = _violation(dm_frame().assign(SUBJID=pd.Series(["1", 2, "3"], dtype=object)),
                   dataset="DM")
    assert "variable SUBJID, row 2: text column holds a non-text value 2 (int)" in str(e)


def test_all_violations_are_listed():
    bad = dm_frame().assign(SEX=["é", "M", "F"], SUBJID=["1", "x" * 300, "3"])
    e = _violation(bad, dataset="DM")
    assert len(e.violations) == 2
    assert {(v.rule, v.variable, v.row) for v in e.violations} == {
        ("ascii", "SEX", 1), ("length", "SUBJID", 2)}


# ---- read errors ------------------------------------------------------------------------

def test_reader_refuses_non_xpt_and_truncated(tmp_path):
    from studybuild.errors import InputError

    fake = tmp_path / "fake.xpt"
    fake.write_text("USUBJID,AGE\n1,2\n")
    with pytest.raises(InputError, match="not a SAS transport"):
        read_xpt(fake)
    good = write_xpt(dm_frame(), tmp_path, dataset="DM", timestamp=STAMP)
    cut = tmp_path / "cut.xpt"
    cut.write_bytes(good.read_bytes()[:500])
    with pytest.raises(InputError, match="cut.xpt"):
        read_xpt(cut)


# ---- property: random frames round-trip --------------------------------------------------

ascii_text = st.text(alphabet=string.ascii_letters + string.digits + " -_.,/()", max_size=40) \
    .map(lambda s: s.rstrip(" ")).filter(lambda s: s.strip() != "")
ibm_floats = st.floats(allow_nan=False, allow_infinity=False, width=64).filter(
    lambda x: x == 0 or 5.4e-78 < abs(x) < 2.0 ** 249)   # IBM_MAX: readstat saturates above


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), nrows=st.integers(min_value=0, max_value=12))
def test_random_frames_round_trip(tmp_path, data, nrows):
    ncols = data.draw(st.integers(min_value=1, max_value=5))
    cols = {}
    for i in range(ncols):
        if data.draw(st.booleans()):
            vals = data.draw(st.lists(st.one_of(st.none(), ascii_text), min_size=nrows,
                                      max_size=nrows))
            cols[f"C{i}"] = pd.Series(vals, dtype="str")
        else:
            vals = data.draw(st.lists(st.one_of(st.none(), ibm_floats), min_size=nrows,
                                      max_size=nrows))
            cols[f"N{i}"] = pd.Series([np.nan if v is None else v for v in vals],
                                      dtype="float64")
    df = pd.DataFrame(cols, index=pd.RangeIndex(nrows))
    labels = {c: f"Label of {c}" for c in df.columns}
    all_text = all(c.startswith("C") for c in df.columns)
    if all_text and nrows and df.iloc[-1].isna().all():
        # trailing all-blank records cannot be represented in XPT v5: refused, not dropped
        with pytest.raises(XptExportError) as e:
            write_xpt(df, tmp_path / "rt.xpt", dataset="RT", label="Round trip", labels=labels)
        assert e.value.violations[0].rule == "blank-rows"
        return
    path = write_xpt(df, tmp_path / "rt.xpt", dataset="RT", label="Round trip", labels=labels,
                     timestamp=STAMP)
    back, meta = read_xpt(path)
    assert list(back.columns) == list(df.columns) and len(back) == nrows
    assert dict(meta.labels) == labels
    for c in df.columns:
        if c.startswith("N"):
            np.testing.assert_array_equal(back[c].to_numpy(), df[c].to_numpy())
        else:
            assert back[c].isna().tolist() == df[c].isna().tolist()
            assert back[c].dropna().tolist() == df[c].dropna().tolist()
            longest = df[c].dropna().str.len().max() if df[c].notna().any() else 1
            assert meta.lengths[c] == max(1, int(longest))
    # our vectorised records are the bytes pyreadstat writes for the same frame
    assert path.read_bytes() == _pyreadstat_bytes(df, tmp_path / "ref.xpt", "RT",
                                                  "Round trip", labels)


def _pyreadstat_bytes(df, ref, dataset, label, labels):
    """The file plain pyreadstat.write_xport (v5) writes for what write_xpt prepared, with the
    same fixed header stamps."""
    from studybuild.export.xpt import _fix_header_stamps, prepare

    frame, fmts, _ = prepare(df, dataset)
    frame = frame.astype({c: object for c in frame.columns if frame[c].dtype != "float64"})
    pyreadstat.write_xport(frame, str(ref), file_format_version=5, table_name=dataset,
                           file_label=label, column_labels=[labels[c] for c in df.columns],
                           variable_format=fmts or None)
    _fix_header_stamps(ref, STAMP.strftime("%d%b%y:%H:%M:%S").upper().encode("ascii"))
    return ref.read_bytes()


def test_ibm_doubles_by_hand():
    from studybuild.export.xpt import ibm_doubles

    got = ibm_doubles(np.array([1.0, -2.5, 0.1, 0.0, -0.0, np.nan]))
    # 1.0 = 0x0.1 * 16**1: exponent 64 + 1 = 0x41, fraction 0x10 00 00 00 00 00 00
    assert got[0].tolist() == [0x41, 0x10, 0, 0, 0, 0, 0, 0]
    # -2.5 = -(0x0.28 * 16**1): sign bit + 0x41 = 0xC1, fraction 0x28 (2.5/16 = 0.15625)
    assert got[1].tolist() == [0xC1, 0x28, 0, 0, 0, 0, 0, 0]
    # 0.1 = 0x0.1999999999999A * 16**0 in IEEE; the 53-bit mantissa shifted left by 0 bits
    # (exponent -4 = 4 * -1 + 0) is the IBM fraction 0x19 99 99 99 99 99 9A, exponent 0x40
    assert bytes(got[2]).hex() == "401999999999999a"
    # zero and negative zero: all zero bytes; missing: SAS '.' (0x2E then zeros)
    assert got[3].tolist() == got[4].tolist() == [0] * 8
    assert got[5].tolist() == [0x2E] + [0] * 7


def test_records_written_in_blocks_are_the_bytes_pyreadstat_writes(tmp_path, monkeypatch):
    import studybuild.export.xpt as xpt

    monkeypatch.setattr(xpt, "_CHUNK_ROWS", 7)       # several blocks, the last one partial
    rng = np.random.default_rng(5)
    n = 50
    df = pd.DataFrame({"USUBJID": pd.Series([f"S-{i:03d}" for i in range(n)], dtype="str"),
                       "AVAL": rng.normal(size=n) * 1e3,
                       "AVALC": pd.Series(rng.choice(["CR", "PR", "", "NOT EVALUABLE"], n),
                                          dtype="str").replace("", None),
                       "ADT": pd.Series(pd.date_range("2021-01-01", periods=n)).astype(
                           "datetime64[s]")})
    labels = {c: c.title() for c in df.columns}
    path = write_xpt(df, tmp_path / "adx.xpt", dataset="ADX", label="X", labels=labels,
                     timestamp=STAMP)
    assert path.read_bytes() == _pyreadstat_bytes(df, tmp_path / "ref.xpt", "ADX", "X",
                                                  labels)


def test_rule_trailing_blank_records_would_be_lost():
    # XPT v5 has no record count; readers drop trailing all-blank records as padding
    e = _violation(pd.DataFrame({"A": ["x", None, None]}), dataset="T", label="t",
                   labels={"A": "a"})
    assert str(e).startswith("dataset T, row 2: rows 2-3 are entirely blank")


def test_whitespace_other_than_blanks_is_a_value_not_missing(tmp_path):
    # found by the fuzz test: a text of one carriage return was read back as missing
    from studybuild.export.xpt import read_xpt, write_xpt

    frame = pd.DataFrame({"STUDYID": ["S1", "S1", "S1"], "TXT": pd.Series(["\r", "   ", "a"])})
    path = write_xpt(frame, tmp_path / "ws.xpt", dataset="WS", label="Whitespace",
                     labels={"STUDYID": "Study", "TXT": "Text"})
    back, _ = read_xpt(path)
    assert [None if pd.isna(v) else v for v in back["TXT"]] == ["\r", None, "a"]
