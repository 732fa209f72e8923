"""Simulation parameters: ``specs/studies/ID/simulation.yaml`` (validated on load) and the mess
switches (:class:`MessConfig`).

Every number the simulator uses is here or in the study's ``study.yaml``; the YAML gives each
default with its published source (see ``docs/simulator.md``).
"""

from __future__ import annotations

import dataclasses
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from studybuild.yamlspec import load_model, load_yaml


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_probs(v: dict, what: str, total: bool = True) -> dict:
    if any(p < 0 for p in v.values()):
        raise ValueError(f"{what}: probabilities must be >= 0")
    s = sum(v.values())
    if total and abs(s - 1.0) > 1e-6:
        raise ValueError(f"{what}: probabilities add up to {s:g}, not 1")
    return v


class Drug(_Model):
    code: str = Field(pattern=r"^[A-Z]{2,6}$", description="suffix of per-drug AE fields")
    display: str                        # EXTRT as the CRF shows it
    form: str                           # EXDOSFRM display
    route: str                          # EXROUTE display
    frequency: str                      # EXDOSFRQ display
    cycles: int | None = None           # planned cycles (envafolimab: 6); None = until stop
    log: Literal["daily", "per_cycle"] = "daily"
    injection_sites: tuple[str, ...] = ()


class Enrolment(_Model):
    site_weights: dict[str, float]
    screening_days: tuple[int, int] = (3, 28)       # consent -> first dose

    @field_validator("site_weights")
    @classmethod
    def _w(cls, v: dict) -> dict:
        return _check_probs(v, "site_weights")


class Demographics(_Model):
    age_mean: float
    age_sd: float
    sex: dict[str, float]
    race: dict[str, float]
    ethnic: dict[str, float]
    ecog: dict[str, float]

    @field_validator("sex", "race", "ethnic", "ecog")
    @classmethod
    def _p(cls, v: dict) -> dict:
        return _check_probs(v, "demographics")


class Disease(_Model):
    histology: dict[str, float]
    primary_site: dict[str, float]
    metastatic: float = Field(ge=0, le=1)
    fnclcc: dict[str, float]
    prior_lines: dict[int, float]
    first_line_anthracycline: float = Field(ge=0, le=1)
    antiangiogenic_per_later_line: float = Field(ge=0, le=1)
    require_antiangiogenic: bool = False
    years_diagnosis_to_consent: tuple[float, float] = (1.0, 6.0)    # uniform

    @field_validator("histology", "primary_site", "fnclcc", "prior_lines")
    @classmethod
    def _p(cls, v: dict) -> dict:
        return _check_probs(v, "disease")


class Tumour(_Model):
    target_lesions: dict[int, float]
    nontarget_lesions: dict[int, float]
    nonnodal_ld_median_mm: float = 32.0
    nonnodal_ld_sd_log: float = 0.5
    nodal_sa_mm: tuple[int, int] = (15, 40)
    measurement_cv: float = 0.03
    new_lesions: tuple[int, int] = (1, 2)

    @field_validator("target_lesions", "nontarget_lesions")
    @classmethod
    def _p(cls, v: dict) -> dict:
        return _check_probs(v, "tumour")

    @model_validator(mode="after")
    def _max(self) -> "Tumour":
        if max(self.target_lesions) > 5 or min(self.target_lesions) < 1:
            raise ValueError("target_lesions must be 1..5 (RECIST 1.1)")
        if max(self.nontarget_lesions) > 5:
            raise ValueError("nontarget_lesions must be 0..5")
        return self


class Efficacy(_Model):
    response_rate: float = Field(ge=0, le=1, description="latent probability of a >=30% shrinkage")
    cr_fraction: float = Field(ge=0, le=1)
    pr_depth: tuple[float, float] = (0.32, 0.75)        # fraction shrinkage, uniform
    nonresponder_change: tuple[float, float] = (-0.25, 0.12)
    days_to_best: tuple[int, int] = (35, 130)
    pfs_nonresponder_median_months: float = Field(gt=0)
    pfs_responder_median_months: float = Field(gt=0)
    pfs_shape: float = Field(gt=0)
    progression_mode: dict[Literal["target", "new", "nontarget"], float]
    post_progression_median_months: float = Field(gt=0)
    death_without_progression_per_month: float = Field(ge=0)

    @field_validator("progression_mode")
    @classmethod
    def _p(cls, v: dict) -> dict:
        return _check_probs(v, "progression_mode")


class Disposition(_Model):
    withdrawal_per_year: float = Field(ge=0)
    physician_decision_per_year: float = Field(ge=0)
    lost_per_contact: float = Field(ge=0, le=1)
    decision_days_after_pd: tuple[int, int] = (0, 7)
    subsequent_after_pd: float = Field(ge=0, le=1)
    subsequent_after_other: float = Field(ge=0, le=1)
    subsequent_types: dict[str, float]
    fatal_ae_share_on_treatment: float = Field(ge=0, le=1)
    death_cause: dict[str, float]

    @field_validator("subsequent_types", "death_cause")
    @classmethod
    def _p(cls, v: dict) -> dict:
        return _check_probs(v, "disposition")


class AETerm(_Model):
    term: str                               # CTCAE v5.0 term (key of vocabulary ae_terms)
    incidence: float = Field(ge=0, le=1)    # probability of an episode given long enough exposure
    grades: tuple[float, float, float, float, float]
    onset_median_days: float = Field(gt=0)
    duration_median_days: float = Field(gt=0)
    related: dict[str, float] = {}          # drug code -> probability related
    irae: bool = False
    recurrence: float = Field(default=0.0, ge=0, le=1)

    @field_validator("grades")
    @classmethod
    def _g(cls, v: tuple) -> tuple:
        _check_probs(dict(enumerate(v)), "grades")
        return v


class Safety(_Model):
    terms: tuple[AETerm, ...]
    pretreatment_per_subject: float = Field(ge=0)
    late_serious_per_subject: float = Field(ge=0, le=1)
    worsening: float = Field(ge=0, le=1)
    serious_by_grade: tuple[float, float, float, float, float]
    interrupt_grade2: float = Field(ge=0, le=1)
    interrupt_days: tuple[int, int] = (7, 21)
    interrupt_days_grade2: tuple[int, int] = (3, 10)
    withdraw_grade: int = 4
    irae_withdraw_grade: int = 3


class MessRates(_Model):
    partial_dates: float = Field(ge=0, le=1)
    coded_variants: float = Field(ge=0, le=1)
    cm_sites: tuple[str, ...] = ()
    cm_assessments: float = Field(ge=0, le=1)
    missed_visits: float = Field(ge=0, le=1)
    unscheduled: float = Field(ge=0, le=1)
    out_of_window: float = Field(ge=0, le=1)
    ae_typos: float = Field(ge=0, le=1)
    duplicates: float = Field(ge=0, le=1)
    non_ascii: float = Field(ge=0, le=1)
    cjk_text: float = Field(ge=0, le=1)
    disagreement: float = Field(ge=0, le=1)
    not_evaluable: float = Field(ge=0, le=1)


class SimulationSpec(_Model):
    """``specs/studies/ID/simulation.yaml``."""

    study: str
    sample_size: str = ""               # the justification, in words
    references: dict[str, str] = {}
    drugs: dict[str, Drug]              # key: treatment name in study.yaml
    enrolment: Enrolment
    demographics: Demographics
    disease: Disease
    tumour: Tumour
    efficacy: Efficacy
    disposition: Disposition
    safety: Safety
    mess: MessRates


@dataclasses.dataclass(frozen=True)
class MessConfig:
    """Switches for the real-world mess; each rate is a probability per eligible item.

    ``MessConfig.off()`` gives clean data; ``MessConfig.from_spec(spec)`` the study defaults;
    ``dataclasses.replace(cfg, ae_typos=1.0)`` one switch at full rate.

    - ``partial_dates``: a partial-allowed date loses its day (or day and month).
    - ``coded_variants``: a coded field shows another case or a synonym ("male", "M").
    - ``cm_sites``: sites recording lesion diameters in cm; ``cm_assessments``: rate of other
      assessments recorded in cm.
    - ``missed_visits``: a scheduled tumour assessment or cycle visit (without envafolimab) is
      not done.
    - ``unscheduled``: an unscheduled tumour assessment between two scheduled ones.
    - ``out_of_window``: a scheduled assessment 8-14 days outside its +/-7-day window.
    - ``ae_typos``: a verbatim AE term with a typing error.
    - ``duplicates``: a log line entered twice.
    - ``non_ascii``: free text with accents, typographic quotes, en dash or micro sign
      (all transliterable to ASCII).
    - ``cjk_text``: free text in Chinese (off by default: XPT v5 cannot hold it).
    - ``disagreement``: the investigator's overall response differs from RECIST 1.1.
    - ``not_evaluable``: a target lesion not evaluable at an assessment.
    """

    partial_dates: float = 0.0
    coded_variants: float = 0.0
    cm_sites: tuple[str, ...] = ()
    cm_assessments: float = 0.0
    missed_visits: float = 0.0
    unscheduled: float = 0.0
    out_of_window: float = 0.0
    ae_typos: float = 0.0
    duplicates: float = 0.0
    non_ascii: float = 0.0
    cjk_text: float = 0.0
    disagreement: float = 0.0
    not_evaluable: float = 0.0

    @classmethod
    def off(cls) -> "MessConfig":
        return cls()

    @classmethod
    def from_spec(cls, spec: SimulationSpec) -> "MessConfig":
        return cls(**spec.mess.model_dump())

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "cm_sites":
                object.__setattr__(self, f.name, tuple(str(s) for s in v))
            elif not 0.0 <= float(v) <= 1.0:
                raise ValueError(f"MessConfig.{f.name} must be between 0 and 1, got {v!r}")


def spec_path(study_id: str) -> Path:
    from studybuild.study import load_study

    return load_study(study_id).folder / "simulation.yaml"


@cache
def load_simulation(study_id: str) -> SimulationSpec:
    """The validated simulation.yaml of a study (SpecError with file:line when invalid)."""
    from studybuild.errors import SpecError

    path = spec_path(study_id)
    if not path.is_file():
        raise SpecError("missing simulation parameters", path=path,
                        hint="copy specs/studies/surufatinib-sts/simulation.yaml and adapt it")
    spec = load_model(SimulationSpec, path)
    if spec.study != study_id:
        raise SpecError(f"study is {spec.study!r} but the folder is {study_id!r}", path=path,
                        line=1, hint="make 'study' equal the folder name")
    return spec


@cache
def vocabulary() -> dict:
    """The CRF display vocabulary (``vocabulary.yaml`` beside this module)."""
    data, _ = load_yaml(Path(__file__).with_name("vocabulary.yaml"))
    return data
