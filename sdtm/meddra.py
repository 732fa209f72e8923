"""MedDRA coding from a licensed MedDRA version folder (the MSSO ASCII distribution).

The ``meddra`` algorithm derives one dictionary variable (AELLT, AEDECOD, AEPTCD, AEHLT, ...,
AESOCCD) from the LLT code of a coded export, along the primary SOC path of ``mdhier.asc``:

    llt.asc      llt_code$llt_name$pt_code$...$llt_currency$...   LLT -> PT, current or not
    mdhier.asc   pt_code$hlt_code$hlgt_code$soc_code$pt_name$hlt_name$hlgt_name$soc_name$
                 soc_abbrev$null_field$pt_soc_code$primary_soc_fg$

MedDRA is licensed and not shipped: the folder is named by ``study.yaml`` (``meddra_folder``,
inside the spec folder) or the environment variable ``STUDYBUILD_MEDDRA`` (any path; it wins).
Without a folder the algorithm takes the coded export's value (its optional second source)
and says which variables stay empty (``SB-MEDDRA-NO-HIERARCHY``).

>>> from pathlib import Path
>>> md = load_meddra(Path("tests/data/meddra-fake"))
>>> md.hierarchy(pd.Series(["90000011"])).loc[0, ["PT", "HLT", "SOC"]].tolist()
['Fictitious stomach ache', 'Fictitious GI pain HLT', 'Fictitious gastro SOC']
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import Field

from sdtm.registry import Arg, Params, ValueContext, register
from studybuild.errors import InputError

ENV = "STUDYBUILD_MEDDRA"
LEVELS = ("LLT", "PT", "HLT", "HLGT", "SOC")
COLUMNS = ("LLT", "LLTCD", "PT", "PTCD", "HLT", "HLTCD", "HLGT", "HLGTCD", "SOC", "SOCCD",
           "CURRENT")
_LLT = {"llt_code": 0, "llt_name": 1, "pt_code": 2, "llt_currency": 9}
_MDHIER = {"pt_code": 0, "hlt_code": 1, "hlgt_code": 2, "soc_code": 3, "pt_name": 4,
           "hlt_name": 5, "hlgt_name": 6, "soc_name": 7, "primary_soc_fg": 11}


def _read_asc(path: Path, fields: dict[str, int]) -> pd.DataFrame:
    """A ``$``-delimited MedDRA file as text columns (every line ends with ``$``)."""
    if not path.is_file():
        raise InputError(f"the MedDRA folder has no {path.name}", path=path.parent,
                         hint="name the MSSO ASCII folder (MedAscii) of a MedDRA release")
    width = max(fields.values()) + 1
    raw = None
    for enc in ("utf-8", "latin-1"):
        try:
            raw = pd.read_csv(path, sep="$", header=None, dtype="str", quoting=3,
                              keep_default_na=False, encoding=enc, engine="c")
            break
        except UnicodeDecodeError:
            continue
    if raw is None or raw.shape[1] < width:
        raise InputError(f"{path.name} does not have the MedDRA ASCII layout (at least "
                         f"{width} '$'-separated fields a line)", path=path, line=1)
    out = pd.DataFrame({k: raw.iloc[:, i].str.strip() for k, i in fields.items()})
    return out.replace("", pd.NA)


@dataclass(frozen=True)
class Meddra:
    folder: Path
    version: str          # from meddra_release.asc ('' if the folder has none)
    table: pd.DataFrame   # indexed by LLT code: COLUMNS (text), primary SOC path

    def hierarchy(self, llt_codes: pd.Series, columns: list[str] | None = None
                  ) -> pd.DataFrame:
        """COLUMNS (or ``columns``) for each LLT code (NA where the code is not in llt.asc),
        with the index of ``llt_codes``."""
        key = normalise_code(llt_codes)
        table = self.table if columns is None else self.table[columns]
        out = table.reindex(key.fillna("").to_numpy())
        out.index = llt_codes.index
        return out


def normalise_code(values: pd.Series) -> pd.Series:
    """MedDRA codes as plain digit text: ' 10012727 ', '10012727.0' -> '10012727'."""
    txt = values.astype("str").str.strip()
    return txt.str.replace(r"^(\d+)\.0*$", r"\1", regex=True).replace("", pd.NA)


@lru_cache(maxsize=4)
def _load(folder: str, stamp: tuple) -> Meddra:
    path = Path(folder)
    llt = _read_asc(path / "llt.asc", _LLT)
    hier = _read_asc(path / "mdhier.asc", _MDHIER)
    prim = hier[hier["primary_soc_fg"].fillna("").str.upper() == "Y"]
    prim = prim.drop_duplicates("pt_code").set_index("pt_code")
    j = prim.reindex(llt["pt_code"].fillna("").to_numpy())
    table = pd.DataFrame({
        "LLT": llt["llt_name"].to_numpy(), "LLTCD": llt["llt_code"].to_numpy(),
        "PT": j["pt_name"].to_numpy(), "PTCD": llt["pt_code"].to_numpy(),
        "HLT": j["hlt_name"].to_numpy(), "HLTCD": j["hlt_code"].to_numpy(),
        "HLGT": j["hlgt_name"].to_numpy(), "HLGTCD": j["hlgt_code"].to_numpy(),
        "SOC": j["soc_name"].to_numpy(), "SOCCD": j["soc_code"].to_numpy(),
        "CURRENT": llt["llt_currency"].fillna("Y").str.upper().eq("Y").to_numpy()},
        index=pd.Index(llt["llt_code"].to_numpy(), dtype="object"))
    table = table[~table.index.duplicated()]
    version = ""
    rel = path / "meddra_release.asc"
    if rel.is_file():
        version = rel.read_text(encoding="latin-1").split("$", 1)[0].strip()
    return Meddra(folder=path, version=version, table=table)


def load_meddra(folder: Path) -> Meddra:
    """The MedDRA folder's LLT table (cached while the files do not change); InputError
    naming the file when a file is missing or not in the ASCII layout."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("the MedDRA folder does not exist", path=folder,
                         hint=f"set {ENV} or study.yaml meddra_folder to the MedAscii folder "
                              "of a licensed MedDRA release")
    stamp = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size)
                  for p in sorted(folder.glob("*.asc")))
    return _load(str(folder.resolve()), stamp)


def meddra_folder(spec) -> Path | None:
    """The study's MedDRA folder: ``STUDYBUILD_MEDDRA``, else ``study.yaml`` meddra_folder
    (relative to the spec folder and inside it), else None."""
    env = os.environ.get(ENV, "").strip()
    if env:
        return Path(env)
    rel = getattr(spec.study, "meddra_folder", "") or ""
    if not rel:
        return None
    base = Path(spec.folder)
    p = Path(rel)
    inside = os.path.normpath(base / p)
    if p.is_absolute() or not (inside + os.sep).startswith(os.path.normpath(base) + os.sep):
        raise InputError(f"meddra_folder {rel!r} must be a folder inside the spec folder",
                         path=base / "study.yaml",
                         hint=f"put a link to the MedDRA folder there, or set {ENV}")
    return Path(inside)


# --------------------------------------------------------------------------------------------
# the algorithm
# --------------------------------------------------------------------------------------------

class MeddraParams(Params):
    level: Literal["LLT", "PT", "HLT", "HLGT", "SOC"] = Field(
        description="MedDRA level: LLT, PT, HLT, HLGT or SOC (primary SOC path)")
    output: Literal["name", "code"] = Field("name", description="the term's name or code")


def _describe(p: MeddraParams, src: list[str]) -> str:
    what = f"{p.level} {'name' if p.output == 'name' else 'code'}"
    text = (f"The {what} of the MedDRA LLT whose code is {src[0] if src else '(none)'}, "
            "along the primary SOC path (licensed MedDRA folder: llt.asc, mdhier.asc)")
    if len(src) > 1:
        text += f"; without a MedDRA folder, {src[1]} as the coder exported it"
    return text + "."


def _once(ctx: ValueContext, key: str) -> bool:
    seen = ctx.state.__dict__.setdefault("_meddra_reported", set())
    if key in seen:
        return False
    seen.add(key)
    return True


def _check_soc(ctx: ValueContext, arg: Arg, exported: pd.Series, output: str) -> None:
    """Without a MedDRA folder, the export's SOC name or code must be one of the 27 SOCs
    (specs/dictionaries/meddra-soc.csv, public): an error where it is not."""
    from sdtm.dictionaries import lookup_table

    if not _once(ctx, f"soc:{ctx.domain}:{arg.ref}"):        # AEBODSYS and AESOC share it
        return
    if output == "code":
        known = set(lookup_table("meddra-soc", "SOC_NAME", "SOC_CODE").values())
        ok = normalise_code(exported).isin(known)
    else:
        known = set(lookup_table("meddra-soc", "SOC_NAME", "SOC_NAME"))   # normalised keys
        ok = exported.str.upper().str.split().str.join(" ").isin(known)
    bad = (exported.notna() & ~ok.fillna(False)).astype(bool)
    ctx.report(bad, arg, "SB-MEDDRA-SOC-UNKNOWN", "error",
               "{where}: " + ("code" if output == "code" else "name") + " {value!r} is not a "
               "MedDRA SOC (specs/dictionaries/meddra-soc.csv) ({n} records); kept as exported, "
               "correct the coding")


def _without_export(ctx: ValueContext) -> list[str]:
    """The domain's ``meddra`` variables (this record block) that have no export fallback."""
    dom = ctx.spec.domains.get(ctx.domain) if ctx.spec else None
    out = []
    for v in getattr(dom, "variables", None) or ():
        m = v.mapping_for(ctx.block)
        if m is not None and m.algorithm == "meddra" and len(m.source) < 2:
            out.append(v.name)
    return out


def _out(ctx: ValueContext, values: pd.Series) -> pd.Series:
    if ctx.var_type == "Num":
        return pd.to_numeric(values, errors="coerce").astype("float64")
    return values.astype("str")


@register("meddra", "value", MeddraParams, sources=(1, 2), origin="Assigned",
          summary="A MedDRA level (LLT ... SOC, name or code) from the LLT code through a "
                  "licensed MedDRA folder (primary SOC path); without one, the coded "
                  "export's value and a finding for what stays empty.",
          describe=_describe,
          example=("LLT code '10012727' (MedDRA folder), level PT", "'Diarrhoea'"))
def meddra(ctx: ValueContext, args: list[Arg], p: MeddraParams) -> pd.Series:
    code_arg = args[0]
    codes = normalise_code(code_arg.values)
    fallback = args[1] if len(args) > 1 else None
    col = p.level + ("CD" if p.output == "code" else "")
    folder = meddra_folder(ctx.spec)
    if folder is None:
        if fallback is not None:
            exported = fallback.values.astype("str").str.strip().replace("", pd.NA)
            if p.level == "SOC":
                _check_soc(ctx, fallback, exported, p.output)
            return _out(ctx, exported)
        if codes.notna().any() and _once(ctx, f"none:{ctx.domain}:{ctx.block}"):
            empty = _without_export(ctx) or [ctx.variable]
            ctx.state.findings.add(
                "SB-MEDDRA-NO-HIERARCHY", "notice",
                f"{', '.join(empty)} left empty in {int(codes.notna().sum())} records: no "
                f"licensed MedDRA version folder was given (study.yaml meddra_folder or the "
                f"environment variable {ENV}) and the coded export does not carry these "
                "levels; FDA's MedDRA checks expect them", dataset=ctx.domain,
                variable=empty[0])
        return _out(ctx, pd.Series(pd.NA, index=codes.index, dtype="str"))

    md = load_meddra(folder)
    study_version = str(getattr(ctx.study, "meddra_version", "") or "")
    if md.version and study_version and md.version != study_version \
            and _once(ctx, "version"):
        ctx.state.findings.add(
            "SB-MEDDRA-VERSION", "warning",
            f"the MedDRA folder is version {md.version} but study.yaml meddra_version (the "
            f"version define.xml states) is {study_version}; make them agree",
            dataset=ctx.domain, variable=ctx.variable, value=md.version)
    h = md.hierarchy(codes, sorted({"LLTCD", "CURRENT", col}))
    known = h["LLTCD"].notna()
    codes_arg = Arg(codes, code_arg.ref, code_arg.form, code_arg.field, code_arg.rows)
    if _once(ctx, f"codes:{ctx.domain}:{code_arg.ref}"):
        ctx.report(codes.notna() & ~known, codes_arg, "SB-MEDDRA-LLT-UNKNOWN", "error",
                   "{where}: LLT code {value!r} is not in the MedDRA folder's llt.asc ({n} "
                   "records); the MedDRA variables of these records are left empty (correct "
                   "the code, or give the MedDRA version it was coded with)")
        noncurrent = known & ~h["CURRENT"].fillna(True).astype(bool)
        ctx.report(noncurrent, codes_arg, "SB-MEDDRA-LLT-NONCURRENT", "warning",
                   "{where}: LLT code {value!r} is not current in this MedDRA version ({n} "
                   "records); kept, recode it with a current LLT")
    values = h[col]
    if fallback is not None:
        fb = fallback.values.astype("str").str.strip().replace("", pd.NA)
        if p.output == "code":
            differs = normalise_code(fb).ne(values)
        else:
            differs = fb.str.upper().ne(values.astype("str").str.upper())
        differs = (differs.fillna(True) & fb.notna() & values.notna()).astype(bool)
        ctx.report(differs, fallback, "SB-MEDDRA-RECODED", "warning",
                   "{where}: the export's value {value!r} differs from " + ctx.variable +
                   f" derived from the LLT code with MedDRA {md.version or '(folder)'} "
                   "({n} records); the derived value is kept (coded with another version?)")
        values = values.where(codes.notna(), fb)        # no LLT code: what the export says
    return _out(ctx, values.astype("object").where(values.notna(), pd.NA))
