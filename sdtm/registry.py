"""The one registry of mapping algorithms.

Every rule a spec can name is registered here with a typed parameter model, how many sources
it takes, the define.xml origin it implies and a function that writes its method in plain
words from its parameters. Specs never contain code: a variable names an algorithm and gives
parameters, the loader validates them against the model, and the engine calls the function.

Two kinds:

- **value** algorithms compute one SDTM variable for the records of a record block, from raw
  fields, other variables of the same record, or other (already built) domains:
  ``fn(ctx: ValueContext, args: list[Arg], params) -> pd.Series``.
- **domain** algorithms run after a domain's records are mapped and reshape them (merge
  exposure intervals, keep the first record of a lesion, add sum-of-diameters records, build
  SE/SV): ``fn(ctx: DomainContext, frame, params) -> frame``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from sdtm.spec import StudySpec
    from studybuild.findings import Findings
    from studybuild.study import Study


class Params(BaseModel):
    """Base of every algorithm's parameter model: unknown parameters are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(Params):
    pass


Kind = Literal["value", "domain"]


@dataclass(frozen=True)
class Algorithm:
    name: str
    kind: Kind
    fn: Callable[..., Any]
    params: type[Params]
    summary: str
    sources: tuple[int, int | None] = (0, 0)       # (min, max); None = any number
    origin: str = "Derived"                        # define.xml origin it implies
    describe: Callable[[Any, list[str]], str] | None = None
    needs: Callable[[Any], set[str]] | None = None  # other domains it reads
    provides: Callable[[Any, str], set[str]] | None = None  # variables it sets (domain kind)
    example: tuple[str, str] = ("", "")            # (input, output) shown in docs

    def method(self, params: Any, sources: list[str]) -> str:
        if self.describe is None:
            return self.summary
        return self.describe(params, sources)

    def domains_needed(self, params: Any) -> set[str]:
        return set(self.needs(params)) if self.needs else set()


REGISTRY: dict[str, Algorithm] = {}


def register(name: str, kind: Kind, params: type[Params] = NoParams, *, summary: str,
             sources: tuple[int, int | None] = (0, 0), origin: str = "Derived",
             describe: Callable[[Any, list[str]], str] | None = None,
             needs: Callable[[Any], set[str]] | None = None,
             provides: Callable[[Any, str], set[str]] | None = None,
             example: tuple[str, str] = ("", "")) -> Callable:
    def deco(fn: Callable) -> Callable:
        if name in REGISTRY:
            raise RuntimeError(f"algorithm {name!r} registered twice")
        REGISTRY[name] = Algorithm(name=name, kind=kind, fn=fn, params=params,
                                   summary=summary, sources=sources, origin=origin,
                                   describe=describe, needs=needs, provides=provides,
                                   example=example)
        return fn
    return deco


def algorithms() -> dict[str, Algorithm]:
    """Every registered algorithm by name (importing the modules that register them)."""
    import sdtm.algorithms  # noqa: F401  (registers value algorithms)
    import sdtm.derivations  # noqa: F401  (registers domain algorithms)
    import sdtm.meddra  # noqa: F401  (registers the MedDRA hierarchy algorithm)

    return REGISTRY


# --------------------------------------------------------------------------------------------
# What algorithms see
# --------------------------------------------------------------------------------------------

@dataclass
class Arg:
    """One resolved source of a value algorithm, aligned with the block's records."""

    values: pd.Series
    ref: str                          # as written in the spec: form.FIELD, VAR or @name
    form: str | None = None           # raw form, for findings
    field: str | None = None          # raw field, for findings
    rows: pd.Series | None = None     # raw row numbers (1-based) of each value, for findings


@dataclass
class BuildState:
    """Everything the build has so far: shared by all contexts of one build."""

    spec: "StudySpec"
    study: "Study"
    findings: "Findings"
    domains: dict[str, pd.DataFrame] = field(default_factory=dict)   # built, pre-post
    lineage: dict[str, pd.DataFrame] = field(default_factory=dict)   # _REC, FORM, RAW_ROW
    subjects: pd.DataFrame | None = None       # USUBJID, SUBJID, SITEID (registry)
    raw_forms: dict[str, pd.DataFrame] = field(default_factory=dict)  # usable rows per form
    soft_exclusions: list[pd.DataFrame] = field(default_factory=list)  # reasons for rows
    # that a block or derivation did not use (final only if no other mapping uses them)

    def form_file(self, form: str) -> str:
        f = self.spec.forms.forms.get(form)
        return (f.file if f is not None and f.file else f"{form}.csv")


@dataclass
class ValueContext:
    state: BuildState
    domain: str
    variable: str
    block: str
    records: pd.DataFrame              # the block's records so far: USUBJID, _REC, variables
    var_type: str = "Char"             # "Char" or "Num" (from SDTMIG or the spec)
    extra_lineage: list[pd.DataFrame] = field(default_factory=list)

    @property
    def study(self) -> "Study":
        return self.state.study

    @property
    def spec(self) -> "StudySpec":
        return self.state.spec

    @property
    def usubjid(self) -> pd.Series:
        return self.records["USUBJID"]

    def report(self, mask: pd.Series | np.ndarray, arg: Arg | None, rule: str, severity: str,
               message: str, *, per_value: bool = True) -> None:
        """Record findings for the records in ``mask``: one per distinct offending value
        (first raw row in ``row``, up to five rows listed in the message)."""
        mask = pd.Series(np.asarray(mask, dtype=bool), index=self.records.index)
        if not mask.any():
            return
        values = arg.values[mask] if arg is not None else pd.Series("", index=mask[mask].index)
        rows = arg.rows[mask] if arg is not None and arg.rows is not None else \
            self.records.loc[mask, "_ROW"] if "_ROW" in self.records else \
            pd.Series(np.nan, index=mask[mask].index)
        subj = self.records.loc[mask, "USUBJID"]
        frame = pd.DataFrame({"v": values.astype("str").fillna(""), "r": rows,
                              "s": subj}).sort_values(["v", "r"], kind="stable")
        frame = frame.drop_duplicates(["v", "r"])      # melted records share a raw row
        groups = frame.groupby("v", sort=True) if per_value else [("", frame)]
        form = (arg.form if arg is not None else None) or ""
        fieldname = (arg.field if arg is not None else None) or ""
        # a source that is another variable of the record: its rows are the record block's
        # raw rows, so the finding names that form (the place to correct the value)
        own = "" if form else self._block_form()
        for value, g in groups:
            rws = [int(r) for r in g["r"].dropna().tolist()]
            listed = ", ".join(str(r) for r in rws[:5]) + (" ..." if len(rws) > 5 else "")
            where = f"{form}.{fieldname}" if form else (
                f"{self.domain}.{arg.ref}" if arg is not None and own else
                arg.ref if arg is not None else "")
            text = message.format(value=value, n=len(g), where=where, variable=self.variable)
            text = text.replace("(1 records", "(1 record")
            if rws:
                at = f"{form}.{fieldname} " if form else f"raw {own} " if own else \
                    f"{where} " if where else ""
                text += f" ({at}row{'s' if len(rws) > 1 else ''} {listed})"
            self.state.findings.add(
                rule, severity, text, dataset=self.state.form_file(form or own) if form or own
                else self.domain,
                variable=fieldname or (arg.ref if arg is not None and own else self.variable),
                row=rws[0] if rws else None,
                keys={"USUBJID": g["s"].iloc[0], "DOMAIN": self.domain,
                      "VARIABLE": self.variable},
                value=value if value != "" else None, source=form)

    def _block_form(self) -> str:
        """The raw form of this context's record block ('' if none or unknown)."""
        dom = self.state.spec.domains.get(self.domain) if self.state.spec else None
        for b in getattr(dom, "records", None) or ():
            if b.id == self.block:
                return b.form or ""
        return ""

    def add_lineage(self, recs: pd.Series, forms: pd.Series | str, rows: pd.Series) -> None:
        """Record that these records also come from these raw rows (lookups, aggregates)."""
        frame = pd.DataFrame({"_REC": np.asarray(recs), "FORM": forms if isinstance(
            forms, str) else np.asarray(forms), "RAW_ROW": np.asarray(rows, dtype="float64")})
        self.extra_lineage.append(frame.dropna(subset=["RAW_ROW"]))


@dataclass
class DomainContext:
    state: BuildState
    domain: str

    @property
    def study(self) -> "Study":
        return self.state.study

    @property
    def spec(self) -> "StudySpec":
        return self.state.spec

    @property
    def findings(self) -> "Findings":
        return self.state.findings

    def lineage(self) -> pd.DataFrame:
        return self.state.lineage.get(self.domain, pd.DataFrame(
            {"_REC": pd.Series(dtype="int64"), "FORM": pd.Series(dtype="str"),
             "RAW_ROW": pd.Series(dtype="float64")}))

    def set_lineage(self, lineage: pd.DataFrame) -> None:
        self.state.lineage[self.domain] = lineage
