"""The SDTM study spec: raw forms, record blocks, variables and their algorithms.

A spec folder (``specs/studies/ID/``) holds ``study.yaml`` (study-level facts) and ``sdtm/``:

- ``forms.yaml``: the raw forms (file, subject/site fields, declared fields), the subject
  registry (which form says who the subjects are), collected date formats and options;
- ``codelists.yaml`` (optional): study value maps and sponsor codelists;
- one ``<domain>.yaml`` per SDTM domain: record blocks (which form gives one record per row,
  filters, wide-to-long ``melt``), variables (source, algorithm, parameters; per block where
  they differ), the ``--SEQ`` sort keys and domain algorithms (``derive``).

:func:`load_spec` validates everything on load and raises :class:`SpecError` naming the file,
the line and the fix: unknown algorithm or parameter, unknown form or field, a variable that
SDTMIG does not have in the domain (unless declared a supplemental qualifier), a required
variable without a mapping, YAML syntax errors. ``docs/spec-format.md`` documents the format;
:mod:`sdtm.spec_xlsx` reads the same model from a Pinnacle 21-layout workbook.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, \
    field_validator, model_validator

from studybuild import standards
from studybuild.errors import SpecError, UsageError
from studybuild.study import Study
from studybuild.yamlspec import Lines, format_loc, line_of, load_yaml, suggest, validate


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --------------------------------------------------------------------------------------------
# forms.yaml
# --------------------------------------------------------------------------------------------

class FieldSpec(_M):
    label: str = ""
    required: bool = Field(True, description="the column must be in the file")
    not_mapped: str | None = Field(None, min_length=1,
                                   description="why no SDTM spec maps this field (a field "
                                               "neither mapped nor declared so is finding "
                                               "SB-MAP-UNMAPPED-FIELD; sdtm/fields.py)")


class FormSpec(_M):
    file: str | None = Field(None, description="file name in the raw folder; default "
                                               "<form>.csv")
    title: str = ""
    subject: str | None = None          # default: subjects.subject
    site: str | None = None             # default: subjects.site (if the form has it)
    one_per_subject: bool = False
    duplicates: Literal["exclude", "keep"] = "exclude"
    unmapped: str | None = Field(None, description="why rows no SDTM mapping uses are not "
                                                   "mapped (recorded as the exclusion reason)")
    encoding: str | None = None
    fields: dict[str, str | FieldSpec]

    @field_validator("fields", mode="before")
    @classmethod
    def _list(cls, v):
        if isinstance(v, list):
            return {str(x): "" for x in v}
        return v

    @field_validator("file")
    @classmethod
    def _plain(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not re.fullmatch(r"[A-Za-z0-9_.\-]+", v) or v.startswith(".") or ".." in v:
            raise ValueError(f"file {v!r} must be a plain file name inside the raw folder "
                             "(letters, digits, _ - .; no folders)")
        return v

    def field_names(self) -> list[str]:
        return list(self.fields)

    def field_spec(self, name: str) -> FieldSpec:
        f = self.fields[name]
        return FieldSpec(label=f) if isinstance(f, str) else f


class SubjectsSpec(_M):
    form: str = Field(description="the form listing every subject (enrolment)")
    subject: str = Field(description="subject identifier field (SUBJID)")
    site: str | None = Field(None, description="site identifier field (SITEID)")
    site_default: str | None = Field(None, description="SITEID when no form collects it")
    usubjid: str = Field("{STUDYID}-{SITEID}-{SUBJID}",
                         description="USUBJID template with {STUDYID}, {SITEID}, {SUBJID}")

    @field_validator("usubjid")
    @classmethod
    def _tpl(cls, v: str) -> str:
        rest = re.sub(r"\{(STUDYID|SITEID|SUBJID)\}", "", v)
        if "{" in rest or "}" in rest or "{SUBJID}" not in v:
            raise ValueError("usubjid may only use {STUDYID}, {SITEID} and {SUBJID} and must "
                             "use {SUBJID}")
        return v


class FormsFile(_M):
    subjects: SubjectsSpec
    date_formats: list[str] = Field(default_factory=lambda: ["DD-MON-YYYY", "YYYY-MM-DD"])
    encoding: str = "utf-8"
    transliterate: bool = Field(False, description="spell non-ASCII text in ASCII (notice); "
                                                   "characters with no ASCII spelling stay "
                                                   "errors")
    common_fields: dict[str, str | FieldSpec] = Field(
        default_factory=dict, description="fields every form has (EDC identifiers)")
    duplicates_ignore: list[str] = Field(
        default_factory=list, description="fields that may differ between two rows that are "
                                          "still duplicates (an EDC line number)")
    forms: dict[str, FormSpec]

    @model_validator(mode="after")
    def _common(self):
        if self.common_fields:
            for name, form in self.forms.items():
                merged = {**self.common_fields, **form.fields}
                object.__setattr__(form, "fields", merged)
        return self

    @field_validator("date_formats")
    @classmethod
    def _fmts(cls, v: list[str]) -> list[str]:
        from sdtm.dates import FORMATS

        for f in v:
            if f not in FORMATS:
                raise ValueError(f"unknown date format {f!r}; known: {', '.join(FORMATS)}")
        return v


# --------------------------------------------------------------------------------------------
# codelists.yaml
# --------------------------------------------------------------------------------------------

class TermSpec(_M):
    value: str
    decode: str = ""


class CodelistSpec(_M):
    id: str
    name: str
    extensible: bool = False
    data_type: Literal["text", "integer", "float"] = "text"
    terms: list[TermSpec]

    @field_validator("terms", mode="before")
    @classmethod
    def _plain_terms(cls, v):
        if isinstance(v, list):
            return [{"value": str(t)} if not isinstance(t, dict) else t for t in v]
        return v


class CodelistsFile(_M):
    maps: dict[str, dict[str, str]] = Field(default_factory=dict)
    codelists: list[CodelistSpec] = Field(default_factory=list)

    @field_validator("maps", mode="before")
    @classmethod
    def _text_values(cls, v):
        if isinstance(v, dict):
            return {k: {str(a): str(b) for a, b in (m or {}).items()} if isinstance(m, dict)
                    else m for k, m in v.items()}
        return v


# --------------------------------------------------------------------------------------------
# domain files
# --------------------------------------------------------------------------------------------

_OWN_KEYS = {"name", "label", "origin", "comment", "supp", "by_record", "type", "codelist",
             "source", "algorithm", "params", "length"}


class Mapping(_M):
    """How one variable is computed for one record block (or all of them)."""

    algorithm: str
    source: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    _params: Any = PrivateAttr(None)       # the validated parameter model (set on load)

    @model_validator(mode="before")
    @classmethod
    def _inline(cls, data):
        """Parameters may be written inline beside algorithm and source."""
        if isinstance(data, dict):
            data = dict(data)
            params = dict(data.pop("params", None) or {})
            for k in list(data):
                if k not in ("algorithm", "source"):
                    params[k] = data.pop(k)
            src = data.get("source")
            if isinstance(src, str):
                data["source"] = [src]
            elif src is None:
                data["source"] = []
            data["params"] = params
        return data


class SuppSpec(_M):
    label: str | None = Field(None, max_length=40, description="QLABEL (<= 40 characters)")
    qeval: str | None = None
    origin: str | None = None


class VariableSpec(_M):
    name: str
    label: str | None = None
    type: Literal["Char", "Num"] | None = None
    origin: Literal["Collected", "Derived", "Assigned", "Protocol", "Predecessor",
                    "Not Available", "Other"] | None = None
    comment: str = ""
    codelist: str | None = None
    supp: SuppSpec | None = None
    mapping: Mapping | None = None
    by_record: dict[str, Mapping] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _split(cls, data):
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if data.get("supp") is True:
            data["supp"] = {}
        elif data.get("supp") is False:
            data.pop("supp")
        inline = {k: data.pop(k) for k in list(data)
                  if k not in _OWN_KEYS - {"source", "algorithm", "params"}}
        if inline:
            if "algorithm" not in inline:
                # keys that belong to no mapping: let pydantic name them
                data.update({k: v for k, v in inline.items()})
            else:
                data["mapping"] = inline
        return data

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Z][A-Z0-9]{0,7}", v):
            raise ValueError(f"variable name {v!r} must be 1-8 upper-case letters/digits, "
                             "starting with a letter")
        return v

    def mapping_for(self, block: str) -> Mapping | None:
        return self.by_record.get(block, self.mapping)


class Condition(_M):
    field: str
    present: bool | None = None
    in_: list[str] | None = Field(None, alias="in")
    not_in: list[str] | None = None

    @field_validator("in_", "not_in", mode="before")
    @classmethod
    def _text(cls, v):
        return [str(x) for x in v] if isinstance(v, list) else v

    def text(self) -> str:
        if self.present is not None:
            return f"{self.field} {'has a value' if self.present else 'is empty'}"
        if self.in_ is not None:
            return f"{self.field} in {self.in_}"
        return f"{self.field} not in {self.not_in}"


class MeltGroup(_M):
    item: str = Field(description="value of @item for the records of this group")
    fields: dict[str, str] = Field(description="alias -> raw field; sources use @alias")


class RecordBlock(_M):
    id: str
    form: str
    where: list[Condition] = Field(default_factory=list)
    melt: list[MeltGroup] = Field(default_factory=list)
    require: list[str] = Field(default_factory=list,
                               description="melt aliases that must have a value for a record; "
                                           "default: any alias")
    where_reason: str | None = Field(None, description="exclusion reason for the rows the "
                                                       "where filter leaves out (if no other "
                                                       "block maps them)")
    description: str = ""

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", v):
            raise ValueError(f"record block id {v!r} must be a simple name")
        return v


class Derivation(_M):
    algorithm: str
    params: dict[str, Any] = Field(default_factory=dict)
    _params: Any = PrivateAttr(None)

    @model_validator(mode="before")
    @classmethod
    def _inline(cls, data):
        if isinstance(data, dict):
            data = dict(data)
            params = dict(data.pop("params", None) or {})
            for k in list(data):
                if k != "algorithm":
                    params[k] = data.pop(k)
            data["params"] = params
        return data


class DomainSpec(_M):
    domain: str
    label: str | None = Field(None, max_length=40)
    description: str = ""
    sort: list[str] = Field(default_factory=list, description="--SEQ order within USUBJID")
    keys: list[str] | None = Field(None, description="natural keys (define.xml KeySequence); "
                                                     "default: the SDTMIG dataset's keys")
    records: list[RecordBlock] = Field(default_factory=list)
    variables: list[VariableSpec] = Field(default_factory=list)
    derive: list[Derivation] = Field(default_factory=list)

    @field_validator("domain")
    @classmethod
    def _dom(cls, v: str) -> str:
        return v.upper()

    def variable(self, name: str) -> VariableSpec | None:
        for v in self.variables:
            if v.name == name:
                return v
        return None

    def block(self, block_id: str) -> RecordBlock | None:
        for b in self.records:
            if b.id == block_id:
                return b
        return None


# --------------------------------------------------------------------------------------------
# the whole spec
# --------------------------------------------------------------------------------------------

@dataclass
class Source:
    """Where a spec file (or sheet) is, with its line map, for error messages."""

    path: Path
    lines: Lines
    prefix: tuple = ()

    def error(self, loc: tuple, message: str, hint: str | None = None) -> SpecError:
        line = line_of(self.lines, self.prefix + tuple(loc))
        where = format_loc(loc)
        return SpecError(f"{where}: {message}", path=self.path, line=line, hint=hint)


@dataclass
class StudySpec:
    """A validated study spec: study facts, raw forms, codelists, domains in build order."""

    study: Study
    folder: Path
    forms: FormsFile
    codelists: CodelistsFile
    domains: dict[str, DomainSpec]                 # in build order
    sources: dict[str, Source] = field(default_factory=dict, repr=False)
    order: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.study.id

    def domain_names(self) -> list[str]:
        return list(self.domains)


# variables the engine fills in itself
def auto_variables(domain: str) -> set[str]:
    out = {"STUDYID", "DOMAIN", "USUBJID", f"{domain}SEQ"}
    if domain == "DM":
        out |= {"SUBJID", "SITEID"}
    if domain.startswith("SUPP") or domain == "SUPPQUAL":
        out |= {"RDOMAIN"}
    return out


POST_VARIABLES = {"EPOCH", "TAETORD"}   # filled by post-processing when the domain has them


def _dy_variables(domain: str) -> set[str]:
    return {f"{domain}DY", f"{domain}STDY", f"{domain}ENDY", f"{domain}LOBXFL"}


def resolve_folder(study: str | Path) -> Path:
    from studybuild.paths import studies_dir, study_ids

    p = Path(study)
    if p.is_dir() and (p / "study.yaml").is_file():
        return p
    if isinstance(study, str) and "/" not in study and study in study_ids():
        return studies_dir() / study
    if isinstance(study, str) and "/" not in study and not p.exists():
        raise UsageError(f"unknown study {study!r}; known studies: "
                         f"{', '.join(study_ids()) or 'none'} (or give a spec folder path)")
    raise UsageError(f"{study}: not a spec folder (it needs study.yaml and sdtm/)")


def load_spec(study: str | Path) -> StudySpec:
    """Load and validate a study's SDTM spec: ``study`` is a study id (``specs/studies/ID``)
    or a spec folder path. Raises SpecError with file, line and fix."""
    from studybuild.yamlspec import load_model

    folder = resolve_folder(study)
    study_model = load_model(Study, folder / "study.yaml")
    if study_model.id != folder.name:
        raise SpecError(f"id is {study_model.id!r} but the folder is {folder.name!r}",
                        path=folder / "study.yaml", line=1,
                        hint="make 'id' equal the folder name")
    sdir = folder / "sdtm"
    if not sdir.is_dir():
        raise SpecError("the spec folder has no sdtm/ folder", path=folder,
                        hint="add sdtm/forms.yaml and one <domain>.yaml per domain")
    docs: dict[str, tuple[Any, Source]] = {}
    for p in sorted(sdir.glob("*.yaml")) + sorted(sdir.glob("*.yml")):
        data, lines = load_yaml(p)
        docs[p.stem.lower()] = (data, Source(p, lines))
    if "forms" not in docs:
        raise SpecError("forms.yaml is missing", path=sdir / "forms.yaml",
                        hint="declare the raw forms (see docs/spec-format.md)")
    return build_spec(study_model, folder, docs)


def build_spec(study: Study, folder: Path, docs: dict[str, tuple[Any, Source]]) -> StudySpec:
    """Validate parsed spec documents (from YAML or a workbook) into a StudySpec.
    ``docs`` maps 'forms', 'codelists' and domain keys to (data, Source)."""
    fdata, fsrc = docs["forms"]
    forms = _validate(FormsFile, fdata, fsrc)
    cdata, csrc = docs.get("codelists", ({}, None))
    codelists = _validate(CodelistsFile, cdata or {}, csrc) if csrc else CodelistsFile()
    domains: dict[str, DomainSpec] = {}
    sources = {"forms": fsrc}
    if csrc:
        sources["codelists"] = csrc
    for key, (data, src) in docs.items():
        if key in ("forms", "codelists"):
            continue
        dom = _validate(DomainSpec, data, src)
        if dom.domain in domains:
            raise src.error(("domain",), f"domain {dom.domain} is specified twice (also in "
                            f"{sources[dom.domain].path.name})")
        domains[dom.domain] = dom
        sources[dom.domain] = src
    spec = StudySpec(study=study, folder=folder, forms=forms, codelists=codelists,
                     domains=domains, sources=sources)
    _check_forms(spec)
    _check_codelists(spec)
    for name, dom in domains.items():
        _check_domain(spec, dom, sources[name])
    order = _build_order(spec)
    spec.domains = {d: domains[d] for d in order}
    spec.order = tuple(order)
    from sdtm.fields import check_not_mapped

    check_not_mapped(spec)
    return spec


def _validate(model, data, src: Source):
    if not isinstance(data, dict):
        raise SpecError("expected a mapping (key: value) at the top level", path=src.path,
                        line=1)
    return validate(model, data, src.path, src.lines, prefix=src.prefix)


# --------------------------------------------------------------------------------------------
# semantic checks
# --------------------------------------------------------------------------------------------

def _check_forms(spec: StudySpec) -> None:
    src = spec.sources["forms"]
    f = spec.forms
    if f.subjects.form not in f.forms:
        raise src.error(("subjects", "form"), f"unknown form {f.subjects.form!r} "
                        f"({suggest(f.subjects.form, f.forms)})")
    reg = f.forms[f.subjects.form]
    for key in ("subject", "site"):
        fld = getattr(f.subjects, key)
        if fld is not None and fld not in reg.fields and getattr(reg, key) is None:
            raise src.error(("subjects", key), f"form {f.subjects.form!r} has no field "
                            f"{fld!r} ({suggest(fld, reg.fields)})")
    if f.subjects.site is None and f.subjects.site_default is None and \
            "{SITEID}" in f.subjects.usubjid:
        raise src.error(("subjects",), "no site field and no site_default",
                        hint="name the site field (site:) or give site_default:")
    if f.subjects.site_default is not None and \
            f.subjects.site_default not in {s.siteid for s in spec.study.sites}:
        raise src.error(("subjects", "site_default"),
                        f"site {f.subjects.site_default!r} is not in study.yaml sites")
    for name, form in f.forms.items():
        subj = form.subject or f.subjects.subject
        if subj not in form.fields:
            raise src.error(("forms", name, "fields"),
                            f"form {name!r} has no subject field {subj!r}",
                            hint="declare it in fields, or name the form's own with subject:")
        if form.site is not None and form.site not in form.fields:
            raise src.error(("forms", name, "site"), f"form {name!r} has no field "
                            f"{form.site!r}")


def _check_codelists(spec: StudySpec) -> None:
    src = spec.sources.get("codelists")
    ids = [c.id for c in spec.codelists.codelists]
    for i, c in enumerate(spec.codelists.codelists):
        if ids.count(c.id) > 1:
            raise src.error(("codelists", i, "id"), f"codelist {c.id!r} is defined twice")


def _loc_of(var_index: int, block: str | None) -> tuple:
    return ("variables", var_index) + (("by_record", block) if block else ())


def _check_domain(spec: StudySpec, dom: DomainSpec, src: Source) -> None:
    from sdtm.registry import algorithms

    algs = algorithms()
    ig = standards.sdtmig()
    if dom.domain not in ig.datasets or dom.domain == "SUPPQUAL":
        raise src.error(("domain",), f"{dom.domain!r} is not an SDTMIG "
                        f"{standards.SDTMIG_VERSION} domain ({suggest(dom.domain, ig.datasets)})")
    meta = ig.dataset(dom.domain)
    forms = spec.forms.forms
    block_ids = [b.id for b in dom.records]
    for i, b in enumerate(dom.records):
        if block_ids.count(b.id) > 1:
            raise src.error(("records", i, "id"), f"record block {b.id!r} is defined twice")
        if b.form not in forms:
            raise src.error(("records", i, "form"),
                            f"unknown form {b.form!r} ({suggest(b.form, forms)})",
                            hint="declare it in forms.yaml")
        fields = forms[b.form].fields
        for j, c in enumerate(b.where):
            if c.field not in fields:
                raise src.error(("records", i, "where", j, "field"),
                                f"form {b.form!r} has no field {c.field!r} "
                                f"({suggest(c.field, fields)})")
        aliases: set[str] = set()
        for j, g in enumerate(b.melt):
            for alias, fld in g.fields.items():
                if fld not in fields:
                    raise src.error(("records", i, "melt", j, "fields", alias),
                                    f"form {b.form!r} has no field {fld!r} "
                                    f"({suggest(fld, fields)})")
                aliases.add(alias)
        for j, r in enumerate(b.require):
            if r not in aliases:
                raise src.error(("records", i, "require", j),
                                f"{r!r} is not a melt alias of this block "
                                f"({suggest(r, aliases)})")
    names = [v.name for v in dom.variables]
    auto = auto_variables(dom.domain)
    provided = _provided_by_derive(spec, dom, src, algs)
    known_vars = set(names) | auto | provided
    for i, v in enumerate(dom.variables):
        if names.count(v.name) > 1:
            raise src.error(("variables", i, "name"), f"variable {v.name} is listed twice")
        in_ig = meta.find(v.name) is not None
        if not in_ig and v.supp is None:
            raise src.error(("variables", i, "name"),
                            f"{v.name} is not a variable of SDTMIG {standards.SDTMIG_VERSION} "
                            f"{dom.domain} ({suggest(v.name, meta.names)})",
                            hint="fix the name, or declare a supplemental qualifier with "
                                 "'supp: {label: ...}'")
        if v.supp is not None and in_ig:
            raise src.error(("variables", i, "supp"),
                            f"{v.name} is a standard {dom.domain} variable; it cannot be a "
                            "supplemental qualifier")
        if v.supp is not None and not (v.supp.label or v.label):
            raise src.error(("variables", i, "supp"),
                            f"supplemental qualifier {v.name} needs a label (QLABEL, <= 40 "
                            "characters)")
        if v.label is not None and len(v.label) > 40:
            raise src.error(("variables", i, "label"), f"label is {len(v.label)} characters; "
                            "XPT allows 40")
        for blk in v.by_record:
            if blk not in block_ids:
                raise src.error(("variables", i, "by_record", blk),
                                f"unknown record block {blk!r} ({suggest(blk, block_ids)})")
        if v.mapping is None and not v.by_record and v.name not in provided:
            raise src.error(("variables", i), f"{v.name} has no algorithm",
                            hint="give algorithm: (and source:), or by_record: per block")
        mappings = ([(None, v.mapping)] if v.mapping else []) + list(v.by_record.items())
        for blk, m in mappings:
            blocks = [dom.block(blk)] if blk else (dom.records or [None])
            for b in blocks:
                _check_mapping(spec, dom, src, _loc_of(i, blk), v, m, b, known_vars, algs)
    # required variables: each block must map them (or the engine/derivations provide them)
    for var in meta.variables:
        if var.core != "Req" or var.name in auto or var.name in provided:
            continue
        vs = dom.variable(var.name)
        if not dom.records:
            raise src.error(("records",), f"required variable {var.name} has no mapping "
                            "and no record block or derivation provides it",
                            hint=f"add a variable '{var.name}' with an algorithm")
        for i, b in enumerate(dom.records):
            if vs is None or vs.mapping_for(b.id) is None:
                raise src.error(("records", i) if vs is None else
                                ("variables", names.index(var.name)),
                                f"required variable {var.name} has no mapping"
                                + (f" for record block {b.id!r}" if vs is not None else ""),
                                hint=f"add '- name: {var.name}' with source/algorithm"
                                     + (f" or by_record: {{{b.id}: ...}}" if vs else ""))
    for j, key in enumerate(dom.sort):
        if key not in known_vars and key not in POST_VARIABLES | _dy_variables(dom.domain) \
                and key not in {"VISITNUM"}:
            raise src.error(("sort", j), f"sort key {key} is not a variable of this spec "
                            f"({suggest(key, known_vars)})")
    for j, key in enumerate(dom.keys or ()):
        if meta.find(key) is None:
            raise src.error(("keys", j), f"key {key} is not a variable of SDTMIG "
                            f"{standards.SDTMIG_VERSION} {dom.domain} "
                            f"({suggest(key, meta.names)})")
        if key not in known_vars and key not in {"STUDYID", "USUBJID", "DOMAIN"} | \
                POST_VARIABLES | _dy_variables(dom.domain) | {"VISITNUM", f"{dom.domain}SEQ"}:
            raise src.error(("keys", j), f"key {key} is not a variable of this spec "
                            f"({suggest(key, known_vars)})")
    if dom.keys is not None and len(set(dom.keys)) != len(dom.keys):
        raise src.error(("keys",), "a key variable is listed twice")
    _check_cycles(dom, src)


def _provided_by_derive(spec, dom, src, algs) -> set[str]:
    out: set[str] = set()
    for k, d in enumerate(dom.derive):
        alg = algs.get(d.algorithm)
        if alg is None or alg.kind != "domain":
            known = [n for n, a in algs.items() if a.kind == "domain"]
            raise src.error(("derive", k, "algorithm"), f"unknown domain algorithm "
                            f"{d.algorithm!r} ({suggest(d.algorithm, known)})")
        params = _params(alg, d.params, src, ("derive", k))
        d._params = params
        check = getattr(alg.fn, "check", None)
        if check is not None:
            problem = check(spec, dom, params)
            if problem:
                loc, msg = problem
                raise src.error(("derive", k) + tuple(loc), msg)
        if alg.provides:
            out |= set(alg.provides(params, dom.domain))
    return out


def _params(alg, raw: dict, src: Source, loc: tuple):
    try:
        return alg.params.model_validate(raw)
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        where = tuple(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            known = list(alg.params.model_fields)
            key = str(where[-1])
            close = suggest(key, known + ["source", "algorithm"]).split("known:")[0]
            msg = (f"unknown parameter {key!r} for algorithm {alg.name!r} "
                   f"({close}known: {', '.join(sorted(known))})")
        elif err["type"] == "missing":
            msg = f"algorithm {alg.name!r} needs parameter {where[-1]!r}"
        elif isinstance(err.get("input"), bool) and err["type"] in ("string_type",):
            msg += (f" (YAML read an unquoted {str(err['input']).lower()}/yes/no/on/off as a "
                    "boolean; write it in quotes, e.g. \"Yes\")")
        raise src.error(loc + where[:1], msg) from None


def _check_mapping(spec: StudySpec, dom: DomainSpec, src: Source, loc: tuple,
                   var: VariableSpec, m: Mapping, block: RecordBlock | None,
                   known_vars: set[str], algs) -> None:
    from sdtm.terminology import find_codelist, variable_codelist

    alg = algs.get(m.algorithm)
    if alg is None or alg.kind != "value":
        known = [n for n, a in algs.items() if a.kind == "value"]
        raise src.error(loc + ("algorithm",), f"unknown algorithm {m.algorithm!r} "
                        f"({suggest(m.algorithm, known)})",
                        hint="see docs/algorithms.md")
    # parameters first: a misspelt key ('sorce') is named, not reported as a missing source
    params = _params(alg, m.params, src, loc)
    m._params = params
    lo, hi = alg.sources
    n = len(m.source)
    if n < lo or (hi is not None and n > hi):
        want = f"{lo}" if lo == hi else f"{lo} to {hi}" if hi is not None else f"at least {lo}"
        raise src.error(loc + ("source",) if n else loc + ("algorithm",),
                        f"algorithm {alg.name!r} takes {want} source(s), got {n}")
    forms = spec.forms.forms
    for k, ref in enumerate(m.source):
        sloc = loc + ("source",)
        if ref.startswith("@"):
            alias = ref[1:]
            aliases = {"item"} | {a for g in (block.melt if block else []) for a in g.fields}
            if block is None or not block.melt or alias not in aliases:
                raise src.error(sloc, f"{ref!r} is not a melt alias of record block "
                                f"{block.id if block else '?'!r} ({suggest(alias, aliases)})")
        elif "." in ref:
            form, fld = ref.split(".", 1)
            if form not in forms:
                raise src.error(sloc, f"unknown form {form!r} in source {ref!r} "
                                f"({suggest(form, forms)})", hint="declare it in forms.yaml")
            if fld not in forms[form].fields:
                raise src.error(sloc, f"form {form!r} has no field {fld!r} "
                                f"({suggest(fld, forms[form].fields)})",
                                hint="fix the field name or declare it in forms.yaml")
            if block is not None and form != block.form and not forms[form].one_per_subject:
                raise src.error(sloc, f"source {ref!r} is on form {form!r}, not on the record "
                                f"block's form {block.form!r}; a lookup needs a form with "
                                "one_per_subject: true")
            if block is None:
                raise src.error(sloc, f"{dom.domain} has no record block to read {ref!r} "
                                "from")
        else:
            if ref not in known_vars:
                raise src.error(sloc, f"unknown variable {ref!r} (a source is form.FIELD, a "
                                f"variable of this domain, or @alias; "
                                f"{suggest(ref, known_vars)})")
    # algorithm-specific checks
    if alg.name == "ct":
        name = params.codelist or var.codelist or variable_codelist(dom.domain, var.name)
        if name is None:
            raise src.error(loc + ("algorithm",), f"{var.name} has no SDTMIG codelist",
                            hint="name one with codelist:")
        cl = find_codelist(spec, name)
        if cl is None:
            raise src.error(loc + ("codelist",), f"unknown codelist {name!r}",
                            hint="a CDISC C-code or short name, or an id in codelists.yaml")
        if params.codelist is None:
            m._params = params.model_copy(update={"codelist": name})
        if isinstance(params.map, str) and params.map not in spec.codelists.maps:
            raise src.error(loc + ("map",), f"unknown study map {params.map!r} "
                            f"({suggest(params.map, spec.codelists.maps)})",
                            hint="define it under maps: in codelists.yaml")
    _check_fixed_values(spec, dom, src, loc, var, alg.name, m._params)
    if alg.name == "visit":
        planned = {v.visit.upper() for v in spec.study.all_visits()}
        if isinstance(params.map, str) and params.map not in spec.codelists.maps:
            raise src.error(loc + ("map",), f"unknown study map {params.map!r} "
                            f"({suggest(params.map, spec.codelists.maps)})",
                            hint="define it under maps: in codelists.yaml")
        vmap = spec.codelists.maps[params.map] if isinstance(params.map, str) else params.map
        for k, v in vmap.items():
            if v.strip().upper() not in planned:
                raise src.error(loc + ("map",), f"map target {v!r} is not a visit of "
                                "study.yaml", hint=suggest(v.upper(), planned))
    if alg.name == "visit" and params.reference is not None:
        r = params.reference
        if r.form not in forms:
            raise src.error(loc + ("reference",), f"unknown form {r.form!r} "
                            f"({suggest(r.form, forms)})")
        for fld in (r.name, r.date):
            if fld not in forms[r.form].fields:
                raise src.error(loc + ("reference",), f"form {r.form!r} has no field {fld!r}"
                                f" ({suggest(fld, forms[r.form].fields)})")
    if alg.name == "arm" and params.arm is not None:
        if params.arm not in {a.armcd for a in spec.study.arms}:
            raise src.error(loc + ("arm",), f"arm {params.arm!r} is not an ARMCD of "
                            f"study.yaml ({suggest(params.arm, [a.armcd for a in spec.study.arms])})")
    if alg.name == "subject_date":
        for j, item in enumerate(params.from_):
            d, v = item.split(".")
            if d not in spec.domains:
                raise src.error(loc + ("from",), f"domain {d!r} has no spec "
                                f"({suggest(d, spec.domains)})")
            if spec.domains[d].variable(v) is None and v not in auto_variables(d):
                raise src.error(loc + ("from",), f"{d} spec has no variable {v!r}")
        for j, item in enumerate(params.raw):
            form, _, fld = item.partition(".")
            if form not in forms or fld not in forms[form].fields:
                raise src.error(loc + ("raw",), f"unknown raw field {item!r}")


def _fixed_values(spec: StudySpec, src: Source, loc: tuple, alg: str, params
                  ) -> list[tuple[Source, tuple, str, str, str]]:
    """The values a mapping writes as they are in the spec: (where, location, what, value,
    detail).
    A hardcoded value, a condition's then/else, the targets of a value map (inline, or the
    named map in codelists.yaml), the values of an order."""
    out: list[tuple[Source, tuple, str, str, str]] = []
    if alg == "hardcode" and isinstance(params.value, str):
        out.append((src, loc + ("value",), "hardcoded value", params.value, ""))
    if alg == "condition":
        for key, val in (("then", params.then), ("else", params.else_)):
            if isinstance(val, str):
                out.append((src, loc + (key,), f"{key} value", val, ""))
    vmap = getattr(params, "map", None) if alg in ("assign", "ct", "max_ordered") else None
    if isinstance(vmap, str):
        csrc = spec.sources.get("codelists")
        for k, v in spec.codelists.maps.get(vmap, {}).items():
            out.append((csrc or src, ("maps", vmap, k) if csrc else loc + ("map",),
                        f"map {vmap} target", v, f" (for {k!r})"))
    elif isinstance(vmap, dict):
        for k, v in vmap.items():
            out.append((src, loc + ("map", k), "map target", v, f" (for {k!r})"))
    if alg == "max_ordered":
        for j, v in enumerate(params.order):
            out.append((src, loc + ("order", j), "order value", v, ""))
    if alg == "treatment" and params.attribute in ("unit", "form", "route", "frequency"):
        # the treatment's facts are fixed in study.yaml: the error names that file's line
        path = spec.folder / "study.yaml"
        try:
            study_src = Source(path, load_yaml(path)[1])
        except SpecError:      # study.yaml already loaded; a line number is a nicety
            study_src = Source(path, {})
        for j, tr in enumerate(spec.study.treatments):
            out.append((study_src, ("treatments", j, params.attribute),
                        f"treatment {tr.name} {params.attribute}",
                        getattr(tr, params.attribute), ""))
    return out


def _check_fixed_values(spec: StudySpec, dom: DomainSpec, src: Source, loc: tuple,
                        var: VariableSpec, alg: str, params) -> None:
    """Every value the spec fixes for a variable with controlled terminology is a term of its
    codelist: the one named (codelist:, the ct algorithm's), else the SDTMIG's (any of them when
    the IG names several). Non-extensible codelist: the submission value, exactly. Extensible:
    a sponsor extension is allowed, but a term written otherwise (case, spaces, its synonym or
    preferred term) must be written as the term's submission value."""
    from sdtm.terminology import find_codelist, norm_key, variable_codelist

    fixed = _fixed_values(spec, src, loc, alg, params)
    if not fixed:
        return
    named = getattr(params, "codelist", None) if alg == "ct" else None
    named = named or var.codelist
    if named is not None:
        names = [named]
    elif var.supp is not None:
        return
    else:
        igvar = standards.sdtmig().dataset(dom.domain).find(var.name)
        if igvar is None or igvar.type != "Char":
            return
        names = list(igvar.codelists) or [variable_codelist(dom.domain, var.name)]
    lists = [cl for cl in (find_codelist(spec, n) for n in names if n) if cl is not None]
    if not lists:
        return
    for where, at, what, value, detail in fixed:
        if any(value in cl for cl in lists):
            continue
        term = next((cl.lookup(value) for cl in lists if cl.lookup(value) is not None), None)
        closed = [cl for cl in lists if not cl.extensible]
        if term is None and len(closed) < len(lists):
            continue                      # a sponsor extension of an extensible codelist
        terms = sorted({v for cl in lists for v in cl.values})
        kind = "non-extensible codelist" if closed and len(closed) == len(lists) else \
            "codelist"
        used = " or ".join(cl.label for cl in lists)
        if term is not None:
            msg = (f"{what} {value!r}{detail} of {dom.domain}.{var.name} is the term {term!r} "
                   f"of the {kind} {used} written otherwise")
            hint = f"write it as {term!r}, the submission value"
        else:
            msg = (f"{what} {value!r}{detail} of {dom.domain}.{var.name} is not a term of the "
                   f"{kind} {used}")
            hint = suggest(norm_key(value), terms)
        raise where.error(at, msg, hint=hint)


def _check_cycles(dom: DomainSpec, src: Source) -> None:
    deps: dict[str, set[str]] = {}
    for v in dom.variables:
        ms = ([v.mapping] if v.mapping else []) + list(v.by_record.values())
        deps[v.name] = {s for m in ms for s in m.source
                        if "." not in s and not s.startswith("@")}
    state: dict[str, int] = {}

    def visit(n: str, path: list[str]) -> None:
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            cyc = path[path.index(n):] + [n]
            i = [v.name for v in dom.variables].index(n)
            raise src.error(("variables", i), "variables depend on each other in a cycle: "
                            + " -> ".join(cyc))
        state[n] = 1
        for d in sorted(deps.get(n, ())):
            visit(d, path + [n])
        state[n] = 2

    for v in dom.variables:
        visit(v.name, [])


def variable_order(dom: DomainSpec) -> list[str]:
    """Spec variables in an order where each comes after the variables it reads."""
    deps: dict[str, set[str]] = {}
    for v in dom.variables:
        ms = ([v.mapping] if v.mapping else []) + list(v.by_record.values())
        deps[v.name] = {s for m in ms for s in m.source
                        if "." not in s and not s.startswith("@") and s != v.name}
    out: list[str] = []
    done: set[str] = set()

    def visit(n: str) -> None:
        if n in done:
            return
        done.add(n)
        for d in sorted(deps.get(n, ())):
            if d in deps:
                visit(d)
        out.append(n)

    for v in dom.variables:
        visit(v.name)
    return out


def mapping_params(m: Mapping | Derivation):
    return m._params


def domain_needs(spec: StudySpec, dom: DomainSpec) -> set[str]:
    from sdtm.registry import algorithms

    algs = algorithms()
    needs: set[str] = set()
    for v in dom.variables:
        for m in ([v.mapping] if v.mapping else []) + list(v.by_record.values()):
            needs |= algs[m.algorithm].domains_needed(mapping_params(m))
    for d in dom.derive:
        needs |= algs[d.algorithm].domains_needed(mapping_params(d))
    if "*" in needs:
        needs = (needs - {"*"}) | {n for n in spec.domains if n not in {dom.domain, "SV"}}
    needs.discard(dom.domain)
    return needs


def _build_order(spec: StudySpec) -> list[str]:
    needs = {name: domain_needs(spec, d) for name, d in spec.domains.items()}
    for name, ns in needs.items():
        for n in sorted(ns):
            if n not in spec.domains:
                raise spec.sources[name].error(
                    ("domain",), f"{name} reads domain {n}, which has no spec",
                    hint=f"add sdtm/{n.lower()}.yaml")
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(n: str, path: list[str]) -> None:
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            cyc = path[path.index(n):] + [n]
            raise spec.sources[n].error(("domain",), "domains read each other in a cycle: "
                                        + " -> ".join(cyc))
        state[n] = 1
        for d in sorted(needs[n]):
            visit(d, path + [n])
        state[n] = 2
        order.append(n)

    for n in sorted(spec.domains):
        visit(n, [])
    return order
