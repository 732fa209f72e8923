"""Study-level ADaM choices as data: ``specs/studies/ID/adam/*.yaml``.

Each file is one section, named by its stem: ``adsl.yaml``, ``adrs.yaml``, ``adtte.yaml``,
``adae.yaml``, ``adtr.yaml`` and ``study.yaml`` (cut-off and evaluator shared by all). Every key
is optional; what a file leaves out is the admiral/admiralonco default (for a study, the
study's own ``study.yaml`` fills the tumour schedule, TEAE window, cut-off and randomisation
first). Files are validated on load; an error names the file, the line and the fix::

    specs/studies/x/adam/adrs.yaml:4: confirmation.min_days: Input should be greater than
    or equal to 0

:meth:`AdamOptions.admiral` is what ``studybuild adam`` uses without ``--study``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field

from adam.dates import DateImputation
from adam.derive import Group, Grouping
from adam.response import ConfirmationRule
from adam.tte import CensoringRules
from studybuild.errors import SpecError


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Where(_M):
    """A record filter as data: every listed column must hold one of the listed values
    (``equals``), none of ``not_equals``, and contain one of ``contains`` (text, any column)."""

    equals: dict[str, tuple[str, ...]] = {}
    not_equals: dict[str, tuple[str, ...]] = {}
    contains: dict[str, tuple[str, ...]] = {}

    def mask(self, df):  # -> numpy bool array
        import numpy as np

        m = np.ones(len(df), dtype=bool)
        for col, vals in self.equals.items():
            if col not in df.columns:
                return np.zeros(len(df), dtype=bool)
            m &= df[col].isin(list(vals)).to_numpy()
        for col, vals in self.not_equals.items():
            if col in df.columns:
                m &= ~df[col].isin(list(vals)).to_numpy()
        for col, vals in self.contains.items():
            if col not in df.columns:
                return np.zeros(len(df), dtype=bool)
            txt = df[col].astype("str").str.upper()
            hit = np.zeros(len(df), dtype=bool)
            for v in vals:
                hit |= txt.str.contains(v.upper(), regex=False).fillna(False).to_numpy(bool)
            m &= hit
        return m


class SuppVar(_M):
    """An ADSL variable taken from a supplemental qualifier (SUPPDM QNAM) or a findings /
    events domain record (e.g. histology from MH)."""

    domain: str = "SUPPDM"
    qnam: str | None = None              # for SUPP-- datasets
    where: Where | None = None           # for other domains: which record
    value: str | None = None             # for other domains: the column holding the value
    label: str = ""
    numeric: bool = False
    date: bool = False                   # an ISO 8601 value: becomes a date (partial: 1st)

    @property
    def source(self) -> str:
        """Where the value comes from, as define.xml states it (``SUPPMH.QVAL where QNAM =
        'HISTTYPE'``, ``MH.MHSTDTC``)."""
        return f"{self.domain}.QVAL where QNAM = '{self.qnam}'" if self.qnam else \
            f"{self.domain}.{self.value}"


class TreatmentEnd(_M):
    """One study treatment's end as data: the DS records that end it (``ds``: what the record
    is, e.g. DSCAT DISPOSITION EVENT and DSSCAT naming the drug, never the epoch it falls in)
    and the EX records that give it (``ex``; a subject with no dose of it need not end it;
    None: every dosed subject must)."""

    ds: Where
    ex: Where | None = None


class DeathCauseGroup(_M):
    """A DTHCGR1 group: causes of death (DTHCAUS, upper case) containing any of the words."""

    group: str
    contains: tuple[str, ...]


class AdslOptions(_M):
    lstalvdt: Literal["admiral", "all"] = Field(
        "admiral", description="admiral: AE start/end, LB and last dose dates (admiral's "
                               "template); all: every dated record of every domain present")
    age_groups: Grouping = Grouping.admiral_age()
    age_group_missing: str | None = None
    death_imputation: DateImputation = DateImputation(highest="M", date="first")
    randomised: bool | None = Field(None, description="None: from TS RANDOM / DS RANDOMIZED")
    enrolment_milestones: tuple[str, ...] = ("ENTERED INTO TRIAL", "ELIGIBILITY CRITERIA MET")
    ongoing_treatment_end: Literal["last_record", "cutoff", "missing"] = Field(
        "last_record", description="TRTEDT when the last dose record has no end date "
                                   "(treatment ongoing): the last end date collected "
                                   "(admiral), the data cut-off, or missing")
    fas: Literal["itt", "treated"] = Field("itt", description="FASFL: all assigned subjects "
                                                              "(itt) or those dosed (treated)")
    efficacy_requires_dose: bool = Field(True, description="EFFFL also needs SAFFL = Y")
    # what a DS record is (category and subcategory), never the epoch it falls in: a death in
    # follow-up ends treatment as surely as a discontinuation on treatment does
    eos: Where = Field(Where(equals={"DSCAT": ("DISPOSITION EVENT",)},
                             not_equals={"DSSCAT": ("STUDY TREATMENT",)}),
                       description="DS records that end study participation (EOSSTT, EOSDT, "
                                   "DCSREAS)")
    eot: Where = Field(Where(equals={"DSCAT": ("DISPOSITION EVENT",),
                                     "DSSCAT": ("STUDY TREATMENT",)}),
                       description="DS records that end study treatment (EOTSTT, DCTREAS) "
                                   "when eot_treatments is empty")
    eot_treatments: dict[str, TreatmentEnd] = Field(
        {}, description="several study treatments: each one's ending DS records (and its EX "
                        "records); treatment is ONGOING until every treatment the subject "
                        "received has ended")
    death_cause_sources: tuple[Literal["AE", "DD", "DS"], ...] = Field(
        ("AE", "DD", "DS"), description="where DTHCAUS comes from, first found wins: a fatal "
                                        "AE (AEDECOD), the DD primary cause, the DS death term")
    death_cause_groups: tuple[DeathCauseGroup, ...] = Field(
        (DeathCauseGroup(group="PROGRESSIVE DISEASE",
                         contains=("PROGRESSIVE DISEASE", "DISEASE RELAPSE",
                                   "DISEASE PROGRESSION")),),
        description="DTHCGR1: ADVERSE EVENT when DTHCAUS is from a fatal AE, else the first "
                    "group whose words DTHCAUS contains, else OTHER")
    extra: dict[str, SuppVar] = Field({}, description="ADSL variable -> where its value is "
                                                      "collected (histology, prior lines...)")


class AdrsOptions(_M):
    evaluator: str = Field("INVESTIGATOR", description="RSEVAL whose assessments are analysed")
    accepted_only: bool = Field(False, description="for independent assessors: RSACPTFL = Y")
    reference_date: Literal["auto", "RANDDT", "TRTSDT", "ENRLDT"] = "auto"
    date_imputation: DateImputation = DateImputation(highest="D", date="last")
    sd_min_days: int = Field(42, ge=0)
    sd_window_days: int = Field(0, ge=0)
    confirmation: ConfirmationRule = ConfirmationRule()
    baseline_visits: tuple[str, ...] = ("SCREENING", "BASELINE")
    exclude_after_new_therapy: bool = False


class AdtteOptions(_M):
    origin: Literal["auto", "RANDDT", "TRTSDT", "ENRLDT"] = "auto"
    censoring: Literal["admiral", "fda2018"] = "admiral"
    response_param: Literal["RSP", "CRSP"] = Field(
        "RSP", description="response that starts duration of response / ends time to "
                           "response (admiralonco's template: RSP, unconfirmed)")
    parameters: tuple[Literal["OS", "PFS", "RSD", "TTR"], ...] = ("OS", "PFS", "RSD", "TTR")
    interval_days: int | None = Field(None, ge=1, description="planned days between tumour "
                                                              "assessments (fda2018)")
    window_days: int | None = Field(None, ge=0)
    new_therapy: Where = Where(equals={"CMCAT": ("ANTI-CANCER THERAPY",
                                                 "FOLLOW-UP ANTI-CANCER THERAPY",
                                                 "SUBSEQUENT ANTI-CANCER THERAPY")})

    def rules(self) -> CensoringRules:
        if self.censoring == "admiral":
            return CensoringRules.admiral()
        kw = {}
        if self.interval_days is not None:
            kw["interval_days"] = self.interval_days
        if self.window_days is not None:
            kw["window_days"] = self.window_days
        return CensoringRules.fda2018(**kw)


class AdaeOptions(_M):
    teae_window_days: int | None = Field(30, ge=0, description="TEAE: onset no later than "
                                                               "this many days after last dose")
    start_imputation: DateImputation = DateImputation(highest="M", date="first",
                                                      min_dates=("TRTSDT",))
    end_imputation: DateImputation = DateImputation(highest="M", date="last", time="last",
                                                    max_dates=("DTHDT", "EOSDT"))
    initial_grade_qnam: str | None = Field(None, description="SUPPAE QNAM of the grade before "
                                                             "first dose (worsening)")
    supp: dict[str, str] = Field({}, description="ADAE variable -> SUPPAE QNAM whose QVAL it "
                                                 "carries (e.g. AEIRAE: AEIRAE, immune-related)")


class AdtrOptions(_M):
    evaluator: str = "INVESTIGATOR"
    date_imputation: DateImputation = DateImputation(highest="D", date="first")
    baseline_visits: tuple[str, ...] = ("SCREENING", "BASELINE")


class StudyOptions(_M):
    data_cutoff: dt.date | None = None
    studyid: str | None = None


class AdamOptions(_M):
    """All ADaM choices of a study (defaults: admiral/admiralonco's templates).

    >>> AdamOptions.admiral().adrs.confirmation.min_days
    28
    """

    study: StudyOptions = StudyOptions()
    adsl: AdslOptions = AdslOptions()
    adrs: AdrsOptions = AdrsOptions()
    adtte: AdtteOptions = AdtteOptions()
    adae: AdaeOptions = AdaeOptions()
    adtr: AdtrOptions = AdtrOptions()

    @classmethod
    def admiral(cls) -> "AdamOptions":
        return cls()

    @classmethod
    def for_study(cls, study_id: str) -> "AdamOptions":
        """Defaults from ``study.yaml`` (tumour schedule, TEAE window, cut-off,
        randomisation), overridden by ``specs/studies/ID/adam/*.yaml``."""
        from studybuild.study import load_study
        from studybuild.yamlspec import load_yaml, suggest, validate

        study = load_study(study_id)
        ts = study.tumour_assessments
        base: dict[str, Any] = {
            "study": {"data_cutoff": study.dates.data_cutoff, "studyid": study.studyid},
            "adsl": {"randomised": study.design.randomised},
            "adrs": {"sd_min_days": ts.sd_min_days, "sd_window_days": ts.sd_window_days,
                     "confirmation": {"min_days": ts.confirmation_min_days}},
            "adtte": {"interval_days": ts.every_days, "window_days": ts.window_days},
            "adae": {"teae_window_days": study.safety_follow_up_days},
        }
        folder = study.folder / "adam"
        sections = dict(cls.model_fields)
        if folder.is_dir():
            for path in sorted(folder.glob("*.y*ml")):
                name = path.stem
                if name not in sections:
                    raise SpecError(f"unknown ADaM options file {path.name!r}", path=path,
                                    hint=suggest(name, sections))
                data, lines = load_yaml(path)
                if data is None:
                    continue
                if not isinstance(data, dict):
                    raise SpecError("expected a mapping (key: value) at the top level",
                                    path=path, line=1)
                model = sections[name].annotation
                validate(model, data, path, lines)          # file:line errors
                base[name] = _merge(base.get(name, {}), data)
        return validate(cls, base, folder, {(): 1})


def _merge(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def options_for(study: str | None) -> AdamOptions:
    return AdamOptions.for_study(study) if study else AdamOptions.admiral()


__all__ = ["AdaeOptions", "AdamOptions", "AdrsOptions", "AdslOptions", "AdtrOptions",
           "AdtteOptions", "DeathCauseGroup", "Group", "Grouping", "StudyOptions", "SuppVar",
           "TreatmentEnd", "Where", "options_for"]
