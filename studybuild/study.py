"""Study-level facts (``specs/studies/ID/study.yaml``) as a validated, immutable model.

One file per study holds what the protocol fixes and every step needs: STUDYID, title, phase,
design, sites, treatments and their schedule, arms, elements and epochs, the visit schedule,
tumour-assessment schedule, endpoints, inclusion/exclusion criteria, the standards and CT
versions, and the data cut-off. The simulator, the SDTM mappers, trial design datasets (TS, TA,
TE, TV, TI), ADaM and define.xml all read it through :func:`load_study`.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from studybuild.errors import UsageError
from studybuild.paths import studies_dir, study_ids
from studybuild.yamlspec import load_model


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Site(_Model):
    siteid: str
    country: str = Field(description="ISO 3166-1 alpha-3")
    name: str = ""

    @field_validator("country")
    @classmethod
    def _iso(cls, v: str) -> str:
        from studybuild.standards import countries

        if v not in countries():
            raise ValueError(f"{v!r} is not an ISO 3166-1 alpha-3 country code")
        return v


class Treatment(_Model):
    name: str                       # EXTRT, upper case
    dose: float
    unit: str                       # EXDOSU (UNIT codelist)
    form: str                       # EXDOSFRM (FRM codelist)
    route: str                      # EXROUTE (ROUTE codelist)
    frequency: str                  # EXDOSFRQ (FREQ codelist)
    reductions: tuple[float, ...] = ()   # allowed reduced doses, highest first
    schedule: str = ""              # plain words for define.xml / TS DOSRGM
    pharmacological_class: str = ""
    assumed: str = ""               # what the seed did not state and we assumed (documented)


class Arm(_Model):
    armcd: str = Field(max_length=20)
    arm: str = Field(max_length=200)
    elements: tuple[str, ...]        # ETCD in order (TA)
    description: str = ""


class Element(_Model):
    etcd: str = Field(max_length=8)
    element: str
    epoch: str                       # EPOCH codelist (C99079)
    start_rule: str                  # TESTRL
    end_rule: str = ""               # TEENRL
    duration: str = ""               # TEDUR, ISO 8601 duration
    treatments: tuple[str, ...] = ()  # treatments given in this element (by name)


class Visit(_Model):
    visitnum: float
    visit: str
    day: int | None = None           # planned study day (VISITDY)
    window: tuple[int, int] | None = None   # allowed study days (lower, upper), inclusive
    epoch: str = ""
    start_rule: str = ""             # TVSTRL
    end_rule: str = ""               # TVENRL


class VisitSeries(_Model):
    """A repeating visit: CYCLE 1 DAY 1, CYCLE 2 DAY 1, ... (expanded by :meth:`Study.visits`)."""

    visit: str = Field(description="name with {n} (repeat number), {day} (planned study day) "
                                   "or {week} (planned week), e.g. 'CYCLE {n} DAY 1'")
    first_visitnum: float
    visitnum_step: float = 1
    count: int = Field(ge=1)
    first_day: int
    every_days: int = Field(ge=1)
    window_days: int = 0
    epoch: str = ""
    start_rule: str = ""

    @field_validator("visit")
    @classmethod
    def _has_n(cls, v: str) -> str:
        if not any(p in v for p in ("{n}", "{day}", "{week}")):
            raise ValueError("a visit series name needs '{n}', '{day}' or '{week}' so that "
                             "its visits get distinct names")
        return v


class TumourSchedule(_Model):
    criteria: Literal["RECIST 1.1"] = "RECIST 1.1"
    every_days: int = 42
    window_days: int = 7
    baseline_window: tuple[int, int] = (-28, 1)
    confirmation_min_days: int = 28          # CR/PR confirmation >= 4 weeks
    sd_min_days: int = 42                    # SD at least 6 weeks after start...
    sd_window_days: int = 7                  # ... minus this window
    methods: tuple[str, ...] = ("CT SCAN", "MRI")
    visits: VisitSeries


class Endpoint(_Model):
    name: str                        # e.g. PFS
    level: Literal["primary", "secondary", "exploratory"]
    definition: str
    horizon: str = ""                # e.g. "12 months"


class Criterion(_Model):
    ietestcd: str = Field(max_length=8)
    ietest: str = Field(max_length=200)
    category: Literal["INCLUSION", "EXCLUSION"]


class Dates(_Model):
    study_start: dt.date             # TS SSTDTC
    enrolment_end: dt.date
    data_cutoff: dt.date             # TS DCUTDTC
    data_cutoff_description: str = "Primary analysis data cut-off"

    @model_validator(mode="after")
    def _order(self) -> "Dates":
        if not self.study_start <= self.enrolment_end <= self.data_cutoff:
            raise ValueError("dates must satisfy study_start <= enrolment_end <= data_cutoff")
        return self


class SimonTwoStage(_Model):
    """Simon's (1989) two-stage design of a single-arm response endpoint.

    Stage 1 enrols ``n1`` subjects and stops for futility with ``r1`` or fewer responders;
    otherwise ``n`` in all are enrolled and the treatment is declared promising with more than
    ``r`` responders. ``p0``/``p1`` are the uninteresting/target response rates, ``alpha`` the
    one-sided type I error and ``power`` 1 - beta. Give ``n1, r1, n, r`` as the protocol states
    them, or leave all four out to have the report compute the ``criterion`` design
    (:func:`studybuild.report.simon.simon_design`)."""

    p0: float = Field(gt=0, lt=1)
    p1: float = Field(gt=0, lt=1)
    alpha: float = Field(gt=0, lt=0.5)
    power: float = Field(gt=0.5, lt=1)
    criterion: Literal["optimal", "minimax"] = "optimal"
    endpoint: str = "ORR"
    confirmed: bool = Field(True, description="responders by confirmed best response (CBOR); "
                                              "false: unconfirmed (BOR)")
    n1: int | None = Field(None, ge=1)
    r1: int | None = Field(None, ge=0)
    n: int | None = Field(None, ge=2)
    r: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> "SimonTwoStage":
        if not self.p0 < self.p1:
            raise ValueError("p0 (uninteresting response rate) must be below p1 (target)")
        given = [v is not None for v in (self.n1, self.r1, self.n, self.r)]
        if any(given) and not all(given):
            raise ValueError("give all of n1, r1, n, r (the protocol's design) or none of them "
                             "(computed from p0, p1, alpha, power)")
        if all(given) and not (self.r1 < self.n1 < self.n and self.r1 <= self.r < self.n):
            raise ValueError("a two-stage design needs r1 < n1 < n and r1 <= r < n")
        return self


class Design(_Model):
    phase: str = "PHASE II TRIAL"               # TPHASE (C66737)
    study_type: str = "INTERVENTIONAL"          # STYPE (C99077)
    trial_types: tuple[str, ...] = ("EFFICACY", "SAFETY")   # TTYPE (C66739)
    intent: tuple[str, ...] = ("TREATMENT",)    # TINDTP (C66736)
    blinding: str = "OPEN LABEL"                # TBLIND (C66735)
    control: str = "NONE"                       # TCNTRL (C66785)
    intervention_model: str = "SINGLE GROUP"    # INTMODEL (C99076)
    intervention_types: tuple[str, ...] = ("DRUG",)   # INTTYPE (C99078)
    randomised: bool = False
    add_on: bool = False
    centres: Literal["single", "multi"] = "single"
    line_of_therapy: str = ""
    simon_two_stage: SimonTwoStage | None = None   # primary response endpoint's design


class Population(_Model):
    age_min: int = 18
    age_max: int | None = None
    sex: Literal["BOTH", "F", "M"] = "BOTH"
    healthy_subjects: bool = False


class Study(_Model):
    """Everything ``study.yaml`` says about one study."""

    id: str                          # folder name, e.g. surufatinib-sts
    studyid: str = Field(max_length=20)   # STUDYID value
    title: str
    short_title: str = ""
    sponsor: str
    indication: str
    therapeutic_area: str = "Oncology"
    registry_ids: tuple[str, ...] = ()    # TS REGID; empty -> TSVALNF
    planned_subjects: int = Field(ge=1)
    design: Design = Design()
    population: Population = Population()
    dates: Dates
    sites: tuple[Site, ...] = Field(min_length=1)
    treatments: tuple[Treatment, ...] = Field(min_length=1)
    cycle_days: int = 21
    arms: tuple[Arm, ...] = Field(min_length=1)
    elements: tuple[Element, ...] = Field(min_length=1)
    visits: tuple[Visit | VisitSeries, ...] = Field(min_length=1)
    tumour_assessments: TumourSchedule
    safety_follow_up_days: int = 28       # TEAE window after last dose
    survival_follow_up_months: int = 12
    endpoints: tuple[Endpoint, ...] = Field(min_length=1)
    criteria: tuple[Criterion, ...] = ()
    criteria_version: str = "1"           # TIVERS
    ctcae_version: str = "5.0"
    meddra_version: str = ""
    # licensed MedDRA ASCII folder (MedAscii) inside the spec folder (a link is fine); the
    # STUDYBUILD_MEDDRA environment variable (any path) wins. Empty: no hierarchy below the
    # coded export (docs/algorithms.md, meddra)
    meddra_folder: str = ""
    sdtmig_version: Literal["3.4"] = "3.4"
    adamig_version: Literal["1.3"] = "1.3"
    ct_version: Literal["2025-03-28"] = "2025-03-28"
    assumptions: tuple[str, ...] = ()     # what the seed did not state and we assumed

    @model_validator(mode="after")
    def _links(self) -> "Study":
        etcds = {e.etcd for e in self.elements}
        for arm in self.arms:
            missing = [e for e in arm.elements if e not in etcds]
            if missing:
                raise ValueError(f"arm {arm.armcd} uses elements {missing} that are not in "
                                 f"'elements' (known: {sorted(etcds)})")
        names = {t.name for t in self.treatments}
        for el in self.elements:
            bad = [t for t in el.treatments if t not in names]
            if bad:
                raise ValueError(f"element {el.etcd} names treatments {bad} that are not in "
                                 f"'treatments' (known: {sorted(names)})")
        return self

    # -- conveniences ---------------------------------------------------------------------
    def all_visits(self) -> tuple[Visit, ...]:
        """The visit schedule with series expanded and the tumour-assessment visits added,
        sorted by VISITNUM."""
        out: list[Visit] = []
        series = [v for v in self.visits] + [self.tumour_assessments.visits]
        for v in series:
            if isinstance(v, Visit):
                out.append(v)
                continue
            for i in range(v.count):
                n = i + 1
                day = v.first_day + i * v.every_days
                w = v.window_days
                names = {"n": n, "day": day, "week": (day - 1) // 7}
                out.append(Visit(visitnum=v.first_visitnum + i * v.visitnum_step,
                                 visit=v.visit.format(**names), day=day,
                                 window=(day - w, day + w), epoch=v.epoch,
                                 start_rule=v.start_rule.format(**names)))
        return tuple(sorted(out, key=lambda x: x.visitnum))

    def treatment(self, name: str) -> Treatment:
        for t in self.treatments:
            if t.name == name:
                return t
        raise KeyError(name)

    @property
    def folder(self) -> Path:
        return studies_dir() / self.id


@cache
def load_study(study_id: str) -> Study:
    """The validated ``study.yaml`` of a study (raises UsageError for an unknown id and
    SpecError, with file and line, for an invalid file)."""
    if study_id not in study_ids():
        raise UsageError(f"unknown study {study_id!r}; known studies: "
                         f"{', '.join(study_ids()) or 'none'}")
    path = studies_dir() / study_id / "study.yaml"
    study = load_model(Study, path)
    if study.id != study_id:
        from studybuild.errors import SpecError

        raise SpecError(f"id is {study.id!r} but the folder is {study_id!r}", path=path,
                        line=1, hint="make 'id' equal the folder name")
    return study
