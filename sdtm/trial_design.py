"""Trial design datasets (TS, TA, TE, TV, TI) from a study's ``study.yaml``.

Everything here comes from :func:`studybuild.study.load_study`: no study is described in
Python. Coded values take their NCI C-code from CDISC CT 2025-03-28
(:func:`studybuild.standards.ct`); a value that a non-extensible codelist does not hold is a
:class:`~studybuild.errors.SpecError` naming the ``study.yaml`` line.

>>> from studybuild.study import load_study
>>> td = build_trial_design(load_study("surufatinib-sts"), actual_subjects=29)
>>> sorted(td)
['TA', 'TE', 'TI', 'TS', 'TV']
>>> ts = td["TS"].set_index("TSPARMCD")
>>> ts.loc["SSTDTC", "TSVAL"], ts.loc["AGEMIN", "TSVAL"], ts.loc["AGEMAX", "TSVALNF"]
('2021-03-01', 'P18Y', 'PINF')

TS follows SDTMIG 3.4 section 7.4 and Appendix C1, with every parameter the FDA validator
rules (SD2201-SD2235, SD1226) and the FDA Technical Conformance Guide ask for. Where the study
gives no value, TSVAL is null and TSVALNF carries the ISO 21090 null flavour (NI: no
information; NA: not applicable; PINF: no upper limit; NAV: not yet available). Codes from
dictionaries studybuild does not ship (UNII for TRT, SNOMED CT for INDIC/TDIGRP, MED-RT for
PCLAS) are taken from ``study.yaml`` when it has them (``treatments[].unii``,
``treatments[].pharmacological_class_code``, ``indication_snomed``); otherwise TSVALCD is
null. See ``docs/trial-design.md`` for the parameter table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Iterable, Mapping

import pandas as pd

from studybuild import standards
from studybuild.errors import SpecError
from studybuild.metadata import DatasetMeta, ValueLevel, from_standard
from studybuild.study import Study

TSVAL_MAX = 200
CDISC_CT = "CDISC CT"
ISO8601 = "ISO 8601"
ISO3166 = "ISO 3166"

# TS parameters whose TSVAL is coded with a CDISC CT codelist (TSPARMCD -> codelist C-code)
TS_CODELISTS: Mapping[str, str] = {
    "ADAPT": "C66742", "ADDON": "C66742", "HLTSUBJI": "C66742", "RANDOM": "C66742",
    "PDSTIND": "C66742", "DOSU": "C71620", "DOSFRQ": "C71113", "DOSFRM": "C66726",
    "ROUTE": "C66729", "INTMODEL": "C99076", "INTTYPE": "C99078", "SEXPOP": "C66732",
    "STYPE": "C99077", "TBLIND": "C66735", "TCNTRL": "C66785", "TINDTP": "C66736",
    "TPHASE": "C66737", "TTYPE": "C66739", "SDTIGVER": "C160924", "SDTMVER": "C160923",
}
# TS parameters whose TSVAL is an ISO 8601 date or duration
TS_DATES = ("SSTDTC", "SENDTC", "DCUTDTC")
TS_DURATIONS = ("AGEMIN", "AGEMAX", "LENGTH", "CRMDUR", "SDMDUR")

# SDTM version that goes with SDTMIG 3.4
SDTM_MODEL_VERSION = "2.0"


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def _registry_name(regid: str) -> str | None:
    """The registry an identifier belongs to, from its shape (None when not recognised)."""
    import re

    if re.fullmatch(r"NCT\d{8}", regid.strip().upper()):
        return "ClinicalTrials.gov"
    if re.fullmatch(r"\d{4}-\d{6}-\d{2}", regid.strip()):
        return "EudraCT"
    if re.fullmatch(r"\d{4}-\d{6}-\d{2}-\d{2}", regid.strip()):
        return "CTIS"
    return None


def _spec_error(study: Study, loc: tuple, message: str, hint: str | None = None) -> SpecError:
    from studybuild.yamlspec import line_of, load_yaml

    path = study.folder / "study.yaml"
    try:
        _, lines = load_yaml(path)
        line = line_of(lines, loc)
    except Exception:  # the file validated on load; a line number is a nicety
        line = None
    return SpecError(message, path=path, line=line, hint=hint)


def _frame(rows: list[dict], columns: Iterable[str], numeric: Iterable[str] = ()) -> pd.DataFrame:
    """A frame with IG column order, str columns with NA for missing, float64 numbers."""
    columns = list(columns)
    numeric = set(numeric)
    data = {}
    for c in columns:
        vals = [r.get(c) for r in rows]
        if c in numeric:
            data[c] = pd.Series([float("nan") if v is None else float(v) for v in vals],
                                dtype="float64")
        else:
            data[c] = pd.Series([pd.NA if v is None or v == "" else str(v) for v in vals],
                                dtype="str")
    return pd.DataFrame(data, index=pd.RangeIndex(len(rows)))


def _labelled(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    ig = standards.sdtmig().dataset(name)
    labels = {}
    for c in frame.columns:
        var = ig.find(c)
        labels[c] = var.label if var is not None else \
            (f"Parameter Value {c[5:]}" if c.startswith("TSVAL") else c)
    frame.attrs["labels"] = labels
    frame.attrs["label"] = ig.label
    return frame


def _ig_columns(name: str, present: Iterable[str]) -> list[str]:
    present = set(present)
    return [v.name for v in standards.sdtmig().dataset(name).variables if v.name in present]


def iso_duration_between(start: dt.date, end: dt.date) -> str:
    """ISO 8601 duration in years, months and days from ``start`` to ``end``.

    >>> iso_duration_between(dt.date(2021, 3, 1), dt.date(2023, 6, 30))
    'P2Y3M29D'
    """
    if end < start:
        raise ValueError("end before start")
    months = (end.year - start.year) * 12 + (end.month - start.month)
    if end.day < start.day:
        months -= 1
    # anchor: start plus whole months (day clipped to the month's length)
    y, m = divmod(start.month - 1 + months, 12)
    y += start.year
    import calendar

    day = min(start.day, calendar.monthrange(y, m + 1)[1])
    anchor = dt.date(y, m + 1, day)
    days = (end - anchor).days
    years, months = divmod(months, 12)
    out = "P" + (f"{years}Y" if years else "") + (f"{months}M" if months else "") + \
        (f"{days}D" if days or not (years or months) else "")
    return out


def _fmt_number(x: float) -> str:
    return f"{x:g}"


# --------------------------------------------------------------------------------------------
# TS
# --------------------------------------------------------------------------------------------

class _TS:
    """Collects TS records; TSSEQ numbers records within a parameter in the order added."""

    def __init__(self, study: Study):
        self.study = study
        self.rows: list[dict] = []
        self.ct = standards.ct()
        parm = self.ct.codelist("C66738")
        names = {t.code: t.submission_value for t in self.ct.codelist("C67152").terms}
        self.parm_name = {t.submission_value: names.get(t.code, "") for t in parm.terms}

    def add(self, parmcd: str, value: str | None = None, *, code: str | None = None,
            ref: str | None = None, ver: str | None = None, nf: str | None = None,
            grp: str | None = None) -> None:
        if parmcd not in self.parm_name:
            raise ValueError(f"{parmcd} is not in TSPARMCD (C66738)")
        if value is None and nf is None:
            raise ValueError(f"{parmcd}: TSVAL or TSVALNF needed")
        seq = 1 + sum(1 for r in self.rows if r["TSPARMCD"] == parmcd)
        self.rows.append({"TSSEQ": seq, "TSGRPID": grp, "TSPARMCD": parmcd,
                          "TSPARM": self.parm_name[parmcd], "TSVAL": value,
                          "TSVALNF": nf if value is None else None, "TSVALCD": code,
                          "TSVCDREF": ref, "TSVCDVER": ver})

    def coded(self, parmcd: str, value: str, loc: tuple, *, grp: str | None = None) -> None:
        """A CDISC CT coded value: submission value, its C-code, 'CDISC CT' and the version."""
        cl = self.ct.codelist(TS_CODELISTS[parmcd])
        term = cl.term(value)
        if term is None:
            if not cl.extensible:
                from studybuild.yamlspec import suggest

                raise _spec_error(
                    self.study, loc,
                    f"{value!r} is not a term of the non-extensible codelist {cl.short_name} "
                    f"({cl.code}) used for TS {parmcd}",
                    hint=suggest(value, sorted(cl.submission_values)) or
                    f"use one of {', '.join(sorted(cl.submission_values))}")
            # sponsor extension of an extensible codelist: no C-code
            self.add(parmcd, value, grp=grp)
            return
        self.add(parmcd, term.submission_value, code=term.code, ref=CDISC_CT,
                 ver=standards.SDTM_CT_VERSION, grp=grp)

    def yes_no(self, parmcd: str, flag: bool) -> None:
        self.coded(parmcd, "Y" if flag else "N", ())

    def date(self, parmcd: str, value: dt.date | None, nf: str = "NAV") -> None:
        if value is None:
            self.add(parmcd, nf=nf)
        else:
            self.add(parmcd, value.isoformat(), ref=ISO8601)

    def duration(self, parmcd: str, value: str | None, nf: str) -> None:
        if value is None:
            self.add(parmcd, nf=nf)
        else:
            self.add(parmcd, value, ref=ISO8601)

    def text(self, parmcd: str, value: str | None, nf: str = "NI", *,
             grp: str | None = None) -> None:
        value = " ".join(value.split()) if value else None
        if value:
            self.add(parmcd, value, grp=grp)
        else:
            self.add(parmcd, nf=nf, grp=grp)


def _objective(study: Study, name: str) -> str:
    trts = " and ".join(t.name.lower() for t in study.treatments)
    return f"To evaluate {name} with {trts} in {study.indication[0].lower()}{study.indication[1:]}"


def _outcome(ep) -> str:
    text = f"{ep.name}: {ep.definition}"
    if ep.horizon:
        text += f" (up to {ep.horizon})"
    return text


def _split_long(frame: pd.DataFrame) -> pd.DataFrame:
    """TSVAL longer than 200 characters continues in TSVAL1, TSVAL2, ... (SDTMIG 3.4 7.4.2),
    split between words: the parts carry no leading or trailing blanks (XPT would drop
    trailing ones), and joining them with one space gives the text back."""
    long = frame["TSVAL"].dropna()
    long = long[long.str.len() > TSVAL_MAX]
    if long.empty:
        return frame
    out = frame.copy()
    pieces: dict[int, list[str]] = {}
    for idx, text in long.items():    # loop over the (few) long parameter values
        parts, cur = [], ""
        for word in text.split(" "):
            cand = f"{cur} {word}" if cur else word
            if len(cand) > TSVAL_MAX and cur:
                parts.append(cur)
                cur = word
            else:
                cur = cand
        parts.append(cur)
        # a single word over 200 characters: hard split
        flat: list[str] = []
        for p in parts:
            flat.extend(p[i:i + TSVAL_MAX] for i in range(0, len(p), TSVAL_MAX))
        pieces[idx] = flat
    width = max(len(p) for p in pieces.values())
    out["TSVAL"] = out["TSVAL"].astype(object)
    for k in range(1, width):
        out[f"TSVAL{k}"] = pd.Series(pd.NA, index=out.index, dtype="str")
    for idx, parts in pieces.items():
        out.loc[idx, "TSVAL"] = parts[0]
        for k, p in enumerate(parts[1:], start=1):
            out.loc[idx, f"TSVAL{k}"] = p
    out["TSVAL"] = out["TSVAL"].astype("str")
    cols = list(frame.columns)
    pos = cols.index("TSVAL") + 1
    cols[pos:pos] = [f"TSVAL{k}" for k in range(1, width)]
    return out[cols]


def build_ts(study: Study, *, actual_subjects: int | None = None) -> pd.DataFrame:
    """Trial Summary: one record per parameter value (see the module docstring)."""
    ts = _TS(study)
    d, pop, dates = study.design, study.population, study.dates

    ts.coded("ADAPT", "N", ())
    ts.yes_no("ADDON", d.add_on)
    if d.add_on:
        ts.text("CURTRT", None, nf="NI")
    else:
        ts.add("CURTRT", nf="NA")
    ts.duration("AGEMIN", f"P{pop.age_min}Y" if pop.age_min is not None else None, nf="NI")
    ts.duration("AGEMAX", f"P{pop.age_max}Y" if pop.age_max is not None else None, nf="PINF")
    if actual_subjects is None:
        ts.add("ACTSUB", nf="NAV")
    else:
        ts.add("ACTSUB", str(int(actual_subjects)))
    if d.control in ("ACTIVE",):
        ts.text("COMPTRT", None, nf="NI")
    else:
        ts.add("COMPTRT", nf="NA")
    ts.text("DCUTDESC", dates.data_cutoff_description)
    ts.date("DCUTDTC", dates.data_cutoff)
    for country in sorted({s.country for s in study.sites}):
        ts.add("FCNTRY", country, code=country, ref=ISO3166)
    ts.yes_no("HLTSUBJI", pop.healthy_subjects)
    snomed = getattr(study, "indication_snomed", "") or ""
    if snomed:
        ts.add("INDIC", " ".join(study.indication.split()), code=snomed, ref="SNOMED")
    else:
        ts.text("INDIC", study.indication)
    ts.coded("INTMODEL", d.intervention_model, ("design", "intervention_model"))
    for i, v in enumerate(d.intervention_types):
        ts.coded("INTTYPE", v, ("design", "intervention_types", i))
    ts.duration("LENGTH", iso_duration_between(dates.study_start, dates.data_cutoff), nf="NI")
    ts.add("NARMS", str(len(study.arms)))
    primary = [e for e in study.endpoints if e.level == "primary"]
    secondary = [e for e in study.endpoints if e.level == "secondary"]
    exploratory = [e for e in study.endpoints if e.level == "exploratory"]
    for e in primary:
        ts.text("OBJPRIM", _objective(study, e.name))
    for e in secondary:
        ts.text("OBJSEC", _objective(study, e.name))
    for e in exploratory:
        ts.text("OBJEXP", _objective(study, e.name))
    for e in primary:
        ts.text("OUTMSPRI", _outcome(e))
    for e in secondary:
        ts.text("OUTMSSEC", _outcome(e))
    for e in exploratory:
        ts.text("OUTMSEXP", _outcome(e))
    ts.yes_no("PDSTIND", pop.age_min is not None and pop.age_min < 18)
    ts.add("PLANSUB", str(study.planned_subjects))
    ts.yes_no("RANDOM", d.randomised)
    if study.registry_ids:
        for r in study.registry_ids:
            # the registry is the reference "terminology" of the id (SDTMIG 3.4 TS example:
            # TSVALCD NCT..., TSVCDREF ClinicalTrials.gov)
            ts.add("REGID", r, code=r, ref=_registry_name(r))
    else:
        ts.add("REGID", nf="NI")
    ts.coded("SDTIGVER", study.sdtmig_version, ("sdtmig_version",))
    ts.coded("SDTMVER", SDTM_MODEL_VERSION, ())
    ts.date("SENDTC", None, nf="NAV")
    ts.coded("SEXPOP", pop.sex, ("population", "sex"))
    ts.text("SPONSOR", study.sponsor)
    ts.date("SSTDTC", dates.study_start)
    ts.add("STOPRULE", nf="NI")
    ts.coded("STYPE", d.study_type, ("design", "study_type"))
    ts.coded("TBLIND", d.blinding, ("design", "blinding"))
    ts.coded("TCNTRL", d.control, ("design", "control"))
    if not pop.healthy_subjects:
        if snomed:
            ts.add("TDIGRP", " ".join(study.indication.split()), code=snomed, ref="SNOMED")
        else:
            ts.text("TDIGRP", study.indication)
    ts.text("THERAREA", study.therapeutic_area)
    for i, v in enumerate(d.intent):
        ts.coded("TINDTP", v, ("design", "intent", i))
    ts.text("TITLE", study.title)
    ts.coded("TPHASE", d.phase, ("design", "phase"))
    for i, v in enumerate(d.trial_types):
        ts.coded("TTYPE", v, ("design", "trial_types", i))
    # oncology response rules (RECIST 1.1): confirmation and SD minimum durations
    ta = study.tumour_assessments
    ts.duration("CRMDUR", f"P{ta.confirmation_min_days}D", nf="NI")
    ts.duration("SDMDUR", f"P{ta.sd_min_days}D", nf="NI")
    # treatments: grouped by TSGRPID when there is more than one
    multi = len(study.treatments) > 1
    for i, t in enumerate(study.treatments):
        grp = t.name if multi else None
        loc = ("treatments", i)
        unii = getattr(t, "unii", "") or ""
        ts.add("TRT", t.name, code=unii or None, ref="UNII" if unii else None, grp=grp)
        ts.add("DOSE", _fmt_number(t.dose), grp=grp)
        ts.coded("DOSU", t.unit, loc + ("unit",), grp=grp)
        ts.coded("DOSFRQ", t.frequency, loc + ("frequency",), grp=grp)
        ts.coded("DOSFRM", t.form, loc + ("form",), grp=grp)
        ts.coded("ROUTE", t.route, loc + ("route",), grp=grp)
        ts.text("DOSRGM", t.schedule, grp=grp)
        medrt = getattr(t, "pharmacological_class_code", "") or ""
        if medrt and t.pharmacological_class:
            ts.add("PCLAS", t.pharmacological_class, code=medrt, ref="MED-RT", grp=grp)
        else:
            ts.text("PCLAS", t.pharmacological_class, grp=grp)

    rows = sorted(ts.rows, key=lambda r: (r["TSPARMCD"], r["TSSEQ"]))
    for r in rows:
        r["STUDYID"] = study.studyid
        r["DOMAIN"] = "TS"
    present = {"STUDYID", "DOMAIN", "TSSEQ", "TSPARMCD", "TSPARM", "TSVAL", "TSVALNF",
               "TSVALCD", "TSVCDREF", "TSVCDVER"}
    if any(r["TSGRPID"] for r in rows):
        present.add("TSGRPID")
    frame = _frame(rows, _ig_columns("TS", present), numeric=("TSSEQ",))
    return _labelled(_split_long(frame), "TS")


# --------------------------------------------------------------------------------------------
# TA, TE, TV, TI
# --------------------------------------------------------------------------------------------

def _epoch(value: str) -> str:
    """The EPOCH submission value (C99079, extensible: other values are kept as given)."""
    term = standards.ct().codelist("C99079").term(value)
    return term.submission_value if term is not None else value


def build_ta(study: Study) -> pd.DataFrame:
    """Trial Arms: one record per planned element per arm, in the arm's element order."""
    elements = {e.etcd: e for e in study.elements}
    rows = []
    for arm in study.arms:
        for order, etcd in enumerate(arm.elements, start=1):
            el = elements[etcd]
            rows.append({"STUDYID": study.studyid, "DOMAIN": "TA", "ARMCD": arm.armcd,
                         "ARM": arm.arm, "TAETORD": order, "ETCD": etcd,
                         "ELEMENT": el.element, "TABRANCH": None, "TATRANS": None,
                         "EPOCH": _epoch(el.epoch)})
    cols = _ig_columns("TA", rows[0].keys())
    return _labelled(_frame(rows, cols, numeric=("TAETORD",)), "TA")


def build_te(study: Study) -> pd.DataFrame:
    """Trial Elements: one record per planned element."""
    rows = [{"STUDYID": study.studyid, "DOMAIN": "TE", "ETCD": e.etcd, "ELEMENT": e.element,
             "TESTRL": e.start_rule, "TEENRL": e.end_rule or None,
             "TEDUR": e.duration or None} for e in study.elements]
    present = {"STUDYID", "DOMAIN", "ETCD", "ELEMENT", "TESTRL"}
    present |= {c for c in ("TEENRL", "TEDUR") if any(r[c] for r in rows)}
    return _labelled(_frame(rows, _ig_columns("TE", present)), "TE")


def build_tv(study: Study) -> pd.DataFrame:
    """Trial Visits: one record per planned visit (``Study.all_visits()``). Visits do not
    depend on the arm in these designs, so ARMCD is null (SDTMIG 3.4 section 7.3.1)."""
    rows = []
    for v in study.all_visits():
        start = v.start_rule or (f"Study day {v.day}" if v.day is not None else v.visit)
        end = v.end_rule or (f"Within study days {v.window[0]} to {v.window[1]}"
                             if v.window is not None else None)
        rows.append({"STUDYID": study.studyid, "DOMAIN": "TV", "VISITNUM": v.visitnum,
                     "VISIT": v.visit, "VISITDY": v.day, "ARMCD": None,
                     "TVSTRL": start, "TVENRL": end})
    present = {"STUDYID", "DOMAIN", "VISITNUM", "VISIT", "VISITDY", "ARMCD", "TVSTRL"}
    if any(r["TVENRL"] for r in rows):
        present.add("TVENRL")
    frame = _frame(rows, _ig_columns("TV", present), numeric=("VISITNUM", "VISITDY"))
    return _labelled(frame, "TV")


def build_ti(study: Study) -> pd.DataFrame:
    """Trial Inclusion/Exclusion Criteria: one record per criterion, as study.yaml lists them."""
    rows = [{"STUDYID": study.studyid, "DOMAIN": "TI", "IETESTCD": c.ietestcd,
             "IETEST": c.ietest, "IECAT": c.category, "TIVERS": study.criteria_version}
            for c in study.criteria]
    cols = _ig_columns("TI", {"STUDYID", "DOMAIN", "IETESTCD", "IETEST", "IECAT", "TIVERS"})
    return _labelled(_frame(rows, cols), "TI")


def _study(study: Study | str) -> Study:
    if isinstance(study, str):
        from studybuild.study import load_study

        return load_study(study)
    return study


def build_trial_design(study: Study | str, *, actual_subjects: int | None = None
                       ) -> dict[str, pd.DataFrame]:
    """TS, TA, TE, TV and TI for ``study`` (a :class:`Study` or a study id). ``actual_subjects``
    (TS ACTSUB) is the number of subjects in DM; without it ACTSUB has the null flavour NAV."""
    study = _study(study)
    if not study.criteria:
        raise _spec_error(study, ("criteria",), "study.yaml lists no inclusion/exclusion "
                          "criteria, so TI cannot be built",
                          hint="add 'criteria:' with ietestcd, category and ietest")
    return {"TA": build_ta(study), "TE": build_te(study), "TI": build_ti(study),
            "TS": build_ts(study, actual_subjects=actual_subjects), "TV": build_tv(study)}


# --------------------------------------------------------------------------------------------
# metadata for define.xml, XPT and the checks
# --------------------------------------------------------------------------------------------

_ASSIGNED = {"STUDYID", "DOMAIN", "TSSEQ", "TAETORD", "TSPARM", "TSVCDREF", "TSVCDVER",
             "TSVALCD", "TSVALNF"}
_COMMENTS = {
    "TS": "Trial summary parameters from specs/studies/{id}/study.yaml; coded values use "
          "CDISC CT {ct}.",
    "TA": "Planned arms and their elements from study.yaml (arms, elements).",
    "TE": "Planned elements from study.yaml (elements).",
    "TV": "Planned visits from study.yaml (visits, with repeating cycles and tumour "
          "assessments expanded); visit timing does not depend on the arm, so ARMCD is null.",
    "TI": "Inclusion and exclusion criteria from study.yaml (criteria), version {vers}.",
}


def trial_design_metadata(study: Study | str, frames: Mapping[str, pd.DataFrame]
                          ) -> dict[str, DatasetMeta]:
    """Dataset and variable metadata for the trial design frames (origin Protocol, with
    identifiers and codes Assigned), in the order of each frame's columns."""
    study = _study(study)
    out: dict[str, DatasetMeta] = {}
    for name in sorted(frames):
        frame = frames[name]
        meta = from_standard(name, frame.columns)
        labels = frame.attrs.get("labels", {})
        variables = []
        for v in meta.variables:
            origin = "Assigned" if v.name in _ASSIGNED else "Protocol"
            label = v.label or labels.get(v.name, v.name)
            vtype = v.type
            if v.name.startswith("TSVAL") and v.name[5:].isdigit():
                label, vtype = labels.get(v.name, f"Parameter Value {v.name[5:]}"), "Char"
            variables.append(replace(v, origin=origin, label=label, type=vtype,
                                     source="Protocol (study.yaml)"))
        comment = _COMMENTS.get(name, "").format(id=study.id, ct=standards.SDTM_CT_VERSION,
                                                 vers=study.criteria_version)
        out[name] = replace(meta, variables=tuple(variables), comment=comment)
    return out


def trial_design_value_level(study: Study | str, frames: Mapping[str, pd.DataFrame]
                             ) -> tuple[ValueLevel, ...]:
    """Value-level metadata for TS.TSVAL by TSPARMCD: the CT codelist of coded parameters,
    for define.xml (one entry per parameter present)."""
    study = _study(study)
    ts = frames.get("TS")
    if ts is None or ts.empty:
        return ()
    out = []
    parm = ts.drop_duplicates("TSPARMCD")
    for code, label in zip(parm["TSPARMCD"].tolist(), parm["TSPARM"].tolist()):
        origin = "Protocol"
        cl = TS_CODELISTS.get(code)
        if code in ("ACTSUB",):
            origin = "Derived"
        if code == "FCNTRY":
            cl = None
        out.append(ValueLevel(dataset="TS", variable="TSVAL", where=(("TSPARMCD", code),),
                              label=label, type="Char", codelist=cl, origin=origin,
                              source="Protocol (study.yaml)",
                              method="Number of subjects in DM" if code == "ACTSUB" else ""))
    return tuple(sorted(out, key=lambda v: v.where))

