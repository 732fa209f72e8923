"""Codelists as the mappers use them: CDISC CT (by C-code or short name) or study codelists
(``codelists.yaml``), plus the study-level value maps that the ``ct`` algorithm applies first."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Mapping

from studybuild import standards

if TYPE_CHECKING:
    from sdtm.spec import StudySpec


def norm_key(value: str) -> str:
    return " ".join(str(value).strip().upper().split())


@dataclass(frozen=True)
class Codelist:
    """A codelist the spec can name: lookups return the submission value or None."""

    id: str                      # C-code for CDISC CT, else the study codelist id
    short_name: str
    name: str
    extensible: bool
    values: tuple[str, ...]
    codes: Mapping[str, str] = field(default_factory=dict)      # submission value -> C-code
    decodes: Mapping[str, str] = field(default_factory=dict)    # submission value -> decode
    index: Mapping[str, str] = field(default_factory=dict)      # normalised -> value
    cdisc: bool = True

    @property
    def label(self) -> str:
        return f"{self.short_name} ({self.id})" if self.cdisc else self.id

    def lookup(self, value: str) -> str | None:
        return self.index.get(norm_key(value))

    def __contains__(self, value: str) -> bool:
        return value in self.values


def _from_ct(cl: standards.Codelist) -> Codelist:
    index: dict[str, str] = {}
    for attr in ("preferred_term", "synonyms", "submission_value"):
        for t in cl.terms:
            vals = t.synonyms if attr == "synonyms" else (getattr(t, attr),)
            for v in vals:
                index[norm_key(v)] = t.submission_value
    return Codelist(id=cl.code, short_name=cl.short_name, name=cl.name,
                    extensible=cl.extensible,
                    values=tuple(t.submission_value for t in cl.terms),
                    codes={t.submission_value: t.code for t in cl.terms},
                    decodes={t.submission_value: t.preferred_term for t in cl.terms},
                    index=index)


@lru_cache(maxsize=None)
def _cdisc(name: str) -> Codelist | None:
    try:
        return _from_ct(standards.ct().codelist(name))
    except standards.StandardsLookupError:
        return None


def find_codelist(spec: "StudySpec | None", name: str) -> Codelist | None:
    """A study codelist (codelists.yaml) by id, else a CDISC codelist by C-code/short name."""
    if spec is not None:
        for cl in spec.codelists.codelists:
            if cl.id.upper() == name.strip().upper():
                index = {norm_key(t.value): t.value for t in cl.terms}
                index.update({norm_key(t.decode): t.value for t in cl.terms if t.decode})
                return Codelist(id=cl.id, short_name=cl.id, name=cl.name,
                                extensible=cl.extensible,
                                values=tuple(t.value for t in cl.terms),
                                decodes={t.value: t.decode for t in cl.terms if t.decode},
                                index=index, cdisc=False)
    return _cdisc(name.strip().upper())


def variable_codelist(domain: str, variable: str) -> str | None:
    """The first CT codelist SDTMIG names for a variable (None if it has none)."""
    try:
        var = standards.sdtmig().dataset(domain).find(variable)
    except standards.StandardsLookupError:
        return None
    if var is None or not var.codelists:
        return None
    return var.codelists[0]


def resolve_codelist(spec: "StudySpec", name: str | None, domain: str, variable: str
                     ) -> Codelist:
    key = name or variable_codelist(domain, variable)
    if key is None:
        raise LookupError(f"{domain}.{variable} has no SDTMIG codelist; name one with "
                          "'codelist:'")
    cl = find_codelist(spec, key)
    if cl is None:
        raise LookupError(f"unknown codelist {key!r}")
    return cl


def study_map(spec: "StudySpec", value: Mapping[str, str] | str) -> dict[str, str]:
    """Normalised collected value -> submission value, from inline pairs or a named map."""
    if isinstance(value, str):
        pairs = spec.codelists.maps.get(value, {})
    else:
        pairs = value
    return {norm_key(k): v for k, v in pairs.items()}


def decode_table(spec: "StudySpec", domain: str, variable: str, source_var: str | None,
                 codelist: str | None, from_codelist: str | None) -> dict[str, str]:
    """Code -> decode through two paired codelists that share term C-codes (TRTESTCD/TRTEST)."""
    target = codelist or variable_codelist(domain, variable)
    origin = from_codelist or (variable_codelist(domain, source_var) if source_var else None)
    if target is None or origin is None:
        return {}
    t = find_codelist(spec, target)
    o = find_codelist(spec, origin)
    if t is None or o is None:
        return {}
    if not (t.cdisc and o.cdisc):
        return {v.upper(): o.decodes.get(v, v) for v in o.values}
    by_code = {c: v for v, c in t.codes.items()}
    return {v.upper(): by_code[c] for v, c in o.codes.items() if c in by_code}
