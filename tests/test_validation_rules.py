"""Every conformance rule, a conforming and a violating case.

Conforming: the hand-built base studies (tests/data/validation/base: SDTM, 3 subjects, every
domain studybuild produces; adam_base: ADSL, ADRS, ADTTE) give no finding at all, from any
rule (one full run each, great-expectations included).

Violating: tests/data/validation/cases.yaml corrupts a copy of a base study (drop a required
variable, an off-codelist value, a 201-byte value, a duplicate key, an orphan USUBJID, a TR
without TU, ...) and names the findings the rule must report, by dataset and 1-based record.
Each case runs only its rule, through the public ``validate``. A coverage test makes sure
every rule in the registry has a case.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from functools import cache
from pathlib import Path

import pytest

from studybuild.datasets import read_folder
from studybuild.yamlspec import load_yaml
from validation.rules import registry
from validation.run import validate

DATA = Path(__file__).parent / "data" / "validation"
_spec = importlib.util.spec_from_file_location("validation_cases", DATA / "cases.py")
cases_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases_mod)

CASES = load_yaml(DATA / "cases.yaml")[0]["cases"]
ENGINE_NOTICES = {"SB0900", "SB0901", "SB0902", "SB0903"}   # tested in test_validation_run.py
#                                                  and test_validate_package.py (SB0903)


@cache
def base(kind: str = "sdtm") -> dict:
    folder = DATA / ("base" if kind == "sdtm" else "adam_base")
    return read_folder(folder).frames()


def base_study():
    """The study definition the base SDTM study agrees with (for the study.yaml rules)."""
    from studybuild.study import Arm, Dates, load_study

    st = load_study("surufatinib-sts")
    return st.model_copy(update={
        "studyid": "BASE01",
        "arms": (Arm(armcd="SURU", arm="Surufatinib 300 mg QD", elements=("SCRN", "TRT", "FU")),),
        "dates": Dates(study_start=dt.date(2021, 1, 4), enrolment_end=dt.date(2021, 1, 13),
                       data_cutoff=dt.date(2021, 4, 30))})


def _case_id(c: dict) -> str:
    first = (c.get("do") or [{}])[0]
    what = next(iter(first.items()))[1] if first else ""
    return f"{c['rule']}-{what}"


def test_sdtm_base_study_conforms_to_every_rule():
    rep = validate(base("sdtm"), study=base_study())
    assert [(f.rule_id, f.dataset, f.row, f.value) for f in rep.findings] == []
    # every SDTM rule ran (or was not applicable) on it: the suite and the engine rules
    assert "SB0005" in rep.rules_run and "SB-CORE-000201" in rep.rules_run
    assert rep.counts() == {"error": 0, "warning": 0, "notice": 0}


def test_adam_base_study_conforms_to_every_rule():
    rep = validate(base("adam"), study=base_study())
    assert [(f.rule_id, f.dataset, f.row, f.value) for f in rep.findings] == []
    assert "SB0201" in rep.rules_run and "SB-CORE-000560" in rep.rules_run


def test_every_rule_has_a_violating_case():
    covered = {c["rule"] for c in CASES}
    checks = {r for r, i in registry().items() if i.kind != "build"}   # build: its own tests
    missing = sorted(checks - covered - ENGINE_NOTICES)
    assert missing == []


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_rule_reports_the_corrupted_record(case):
    rule = case["rule"]
    kind = case.get("base", "sdtm")
    frames = cases_mod.apply(base(kind), case.get("do") or [])
    info = registry()[rule]
    if info.kind == "suite":   # a suite looks at one dataset: validate only the ones expected
        frames = {k: v for k, v in frames.items() if k in {e["dataset"] for e in case["expect"]}}
    rep = validate(frames, rules=[rule], run_suites=info.kind == "suite",
                   study=base_study() if case.get("study") else None,
                   _sizes=case.get("sizes"))
    got = [f for f in rep.findings if f.rule_id == rule]
    assert got, f"{rule} reported nothing; findings: {[(f.rule_id, f.message) for f in rep.findings]}"
    for exp in case["expect"]:
        match = [f for f in got if f.dataset == exp["dataset"] and f.row == exp["row"]
                 and ("variable" not in exp or f.variable == exp["variable"])]
        assert match, (f"{rule}: no finding for {exp}; got "
                       f"{[(f.dataset, f.row, f.variable, f.value) for f in got]}")
        f = match[0]
        assert f.severity.value == info.severity or info.kind == "suite"
        assert f.core_ids == info.core_ids and f.fda_ids == info.fda_ids
    # nothing else than what the case expects (one finding per expected record)
    expected = {(e["dataset"], e["row"]) for e in case["expect"]}
    assert {(f.dataset, f.row) for f in got} == expected
