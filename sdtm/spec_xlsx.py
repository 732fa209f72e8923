"""The SDTM spec as a Pinnacle 21-layout workbook (read and write), same model as the YAML.

A P21 specification workbook has the sheets Define, Datasets, Variables and Codelists; we
read those with their usual columns and add the columns and sheets a mapping needs:

- **Define**: Attribute / Value rows. P21's StudyName etc., plus the forms settings:
  ``SubjectsForm``, ``SubjectField``, ``SiteField``, ``SiteDefault``, ``USUBJID``,
  ``DateFormats``, ``Encoding``, ``Transliterate``, ``DuplicatesIgnore``.
- **Datasets**: Dataset, Description, Class, Structure, Key Variables (P21), plus ``Label``,
  ``Sort Variables`` (the --SEQ order) and ``Derive`` (domain algorithms, YAML flow text).
- **Records** (added): Dataset, Record, Form, Where, Melt, Require, Where Reason, Description.
- **Variables**: Order, Dataset, Variable, Label, Data Type, Codelist, Origin, Source, Method,
  Comment (P21), plus ``Record`` (blank = every record block), ``Algorithm``, ``Parameters``
  (YAML flow mapping) and ``Supp Label`` (a supplemental qualifier's QLABEL). A variable mapped
  differently per record block has one row per block.
- **Codelists**: ID, Name, NCI Codelist Code, Data Type, Terminology, Order, Term, Decoded
  Value (P21). Rows with Terminology ``Map`` are study value maps (Term = collected text,
  Decoded Value = submission value); other rows are sponsor codelists.
- **Forms** (added): Form, File, Title, Subject Field, Site Field, One Per Subject,
  Duplicates, Unmapped, Encoding, Field, Field Label, Required, Not Mapped (why no SDTM
  spec maps the field). Form ``*`` lists the fields every form has.

``study.yaml`` stays a YAML file beside the workbook (or in its parent folder). Errors name
the workbook, the sheet and the row. Cells with parameters are parsed with the same safe YAML
loader as the YAML specs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sdtm.spec import Source, StudySpec, build_spec
from studybuild.errors import SpecError
from studybuild.study import Study
from studybuild.yamlspec import line_of, load_model, load_yaml

SHEETS = ("Define", "Datasets", "Records", "Variables", "Codelists", "Forms")
_VAR_COLUMNS = ["Order", "Dataset", "Variable", "Label", "Data Type", "Codelist", "Origin",
                "Source", "Method", "Comment", "Record", "Algorithm", "Parameters",
                "Supp Label"]
_DS_COLUMNS = ["Dataset", "Description", "Class", "Structure", "Key Variables", "Label",
               "Sort Variables", "Derive"]
_REC_COLUMNS = ["Dataset", "Record", "Form", "Where", "Melt", "Require", "Where Reason",
                "Description"]
_CL_COLUMNS = ["ID", "Name", "NCI Codelist Code", "Data Type", "Terminology", "Order", "Term",
               "Decoded Value", "Extensible"]
_FORM_COLUMNS = ["Form", "File", "Title", "Subject Field", "Site Field", "One Per Subject",
                 "Duplicates", "Unmapped", "Encoding", "Field", "Field Label", "Required",
                 "Not Mapped"]


@dataclass
class _SheetSource(Source):
    """Error locations in a workbook: loc -> (sheet, row)."""

    sheets: dict[tuple, str] = field(default_factory=dict)

    def error(self, loc: tuple, message: str, hint: str | None = None) -> SpecError:
        from studybuild.yamlspec import format_loc

        full = self.prefix + tuple(loc)
        row = line_of(self.lines, full)
        probe = full
        sheet = None
        while probe:
            if probe in self.sheets:
                sheet = self.sheets[probe]
                break
            probe = probe[:-1]
        sheet = sheet or self.sheets.get((), "")
        where = f"sheet {sheet} row {row}: " if sheet else ""
        return SpecError(f"{where}{format_loc(loc)}: {message}", path=self.path, line=row,
                         hint=hint)


def _cell_yaml(text: Any, path: Path, sheet: str, row: int) -> Any:
    """A cell holding YAML flow text (parameters, where, melt, derive)."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    if not isinstance(text, str):
        return text
    try:
        data, _ = load_yaml(path, text=text)
    except SpecError as e:
        raise SpecError(f"sheet {sheet} row {row}: cell is not valid YAML: {e.message}",
                        path=path, line=row, hint="write parameters as a YAML flow mapping, "
                                                  "e.g. {codelist: SEX, map: SEXMAP}") from None
    return data


def _rows(ws) -> list[tuple[int, dict[str, Any]]]:
    it = ws.iter_rows(values_only=True)
    try:
        header = next(it)
    except StopIteration:
        return []
    names = [str(h).strip() if h is not None else "" for h in header]
    out = []
    for i, values in enumerate(it, start=2):
        rec = {n: v for n, v in zip(names, values) if n}
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in rec.values()):
            continue
        rec = {k: (v.strip() if isinstance(v, str) else v) for k, v in rec.items()}
        out.append((i, rec))
    return out


def _split(text: Any) -> list[str]:
    if text is None or text == "":
        return []
    return [t.strip() for t in str(text).split(",") if t.strip()]


def _bool(v: Any) -> bool:
    return str(v).strip().upper() in ("Y", "YES", "TRUE", "1")


def _study_yaml(path: Path, define: dict[str, Any]) -> Path:
    rel = define.get("StudyYaml")
    base = path.parent
    if rel:
        cand = (base / str(rel)).resolve()
        if base.resolve() not in cand.parents and cand.parent != base.resolve() and \
                base.parent.resolve() not in cand.parents:
            raise SpecError(f"StudyYaml {rel!r} leaves the spec folder", path=path,
                            hint="give a path inside the workbook's folder")
        return cand
    for cand in (base / "study.yaml", base.parent / "study.yaml"):
        if cand.is_file():
            return cand
    raise SpecError("no study.yaml beside the workbook or in its parent folder", path=path,
                    hint="put the workbook in the study's spec folder")


def load_spec_xlsx(path: Path) -> StudySpec:
    """Load and validate a spec from a Pinnacle 21-layout workbook (see module doc)."""
    import openpyxl

    path = Path(path)
    if not path.is_file():
        raise SpecError("workbook not found", path=path)
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # openpyxl raises many types for a file that is not a workbook
        raise SpecError(f"cannot read the workbook: {e}", path=path,
                        hint="save it as .xlsx (Excel 2007+)") from None
    missing = [s for s in ("Define", "Datasets", "Variables", "Forms") if s not in wb.sheetnames]
    if missing:
        raise SpecError(f"sheet {missing[0]!r} is missing (sheets: {', '.join(wb.sheetnames)})",
                        path=path, hint=f"a spec workbook has the sheets {', '.join(SHEETS)}")
    sheets = {name: _rows(wb[name]) for name in SHEETS if name in wb.sheetnames}
    define = {str(r.get("Attribute")): r.get("Value") for _, r in sheets["Define"]}
    study_path = _study_yaml(path, define)
    study = load_model(Study, study_path)
    docs: dict[str, tuple[Any, Source]] = {}
    docs["forms"] = _forms_doc(path, define, sheets)
    docs["codelists"] = _codelists_doc(path, sheets.get("Codelists", []))
    docs.update(_domain_docs(path, sheets))
    return build_spec(study, study_path.parent, docs)


def _forms_doc(path: Path, define: dict, sheets) -> tuple[dict, Source]:
    lines: dict[tuple, int] = {(): 1}
    where: dict[tuple, str] = {(): "Define"}
    subjects = {"form": define.get("SubjectsForm"), "subject": define.get("SubjectField")}
    for key, attr in (("site", "SiteField"), ("site_default", "SiteDefault"),
                      ("usubjid", "USUBJID")):
        if define.get(attr) not in (None, ""):
            subjects[key] = str(define[attr])
    doc: dict[str, Any] = {"subjects": subjects}
    if define.get("DateFormats"):
        doc["date_formats"] = _split(define["DateFormats"])
    if define.get("Encoding"):
        doc["encoding"] = str(define["Encoding"])
    if define.get("Transliterate") not in (None, ""):
        doc["transliterate"] = _bool(define["Transliterate"])
    if define.get("DuplicatesIgnore"):
        doc["duplicates_ignore"] = _split(define["DuplicatesIgnore"])
    for row, r in sheets["Define"]:
        key = {"SubjectsForm": ("subjects", "form"), "SubjectField": ("subjects", "subject"),
               "SiteField": ("subjects", "site"), "DateFormats": ("date_formats",)}.get(
                   str(r.get("Attribute")))
        if key:
            lines[key] = row
            where[key] = "Define"
    forms: dict[str, dict] = {}
    common: dict[str, Any] = {}
    for row, r in sheets["Forms"]:
        name = str(r.get("Form") or "")
        fld = r.get("Field")
        label = str(r.get("Field Label") or "")
        req = r.get("Required")
        fspec: Any = label if req in (None, "") or _bool(req) else \
            {"label": label, "required": False}
        if r.get("Not Mapped") not in (None, ""):
            fspec = {**(fspec if isinstance(fspec, dict) else {"label": label}),
                     "not_mapped": str(r["Not Mapped"])}
        if name == "*":
            if fld:
                common[str(fld)] = fspec
                lines[("common_fields", str(fld))] = row
                where[("common_fields", str(fld))] = "Forms"
            continue
        f = forms.setdefault(name, {"fields": {}})
        lines.setdefault(("forms", name), row)
        where.setdefault(("forms", name), "Forms")
        for col, key in (("File", "file"), ("Title", "title"), ("Subject Field", "subject"),
                         ("Site Field", "site"), ("Duplicates", "duplicates"),
                         ("Unmapped", "unmapped"), ("Encoding", "encoding")):
            if r.get(col) not in (None, ""):
                f[key] = str(r[col])
                lines[("forms", name, key)] = row
        if r.get("One Per Subject") not in (None, ""):
            f["one_per_subject"] = _bool(r["One Per Subject"])
        if fld:
            f["fields"][str(fld)] = fspec
            lines[("forms", name, "fields", str(fld))] = row
        lines.setdefault(("forms", name, "fields"), row)
    if common:
        doc["common_fields"] = common
    doc["forms"] = forms
    return doc, _SheetSource(path, lines, sheets={**where, ("forms",): "Forms"})


def _codelists_doc(path: Path, rows) -> tuple[dict, Source]:
    lines: dict[tuple, int] = {(): 1}
    maps: dict[str, dict[str, str]] = {}
    lists: dict[str, dict] = {}
    for row, r in rows:
        cid = str(r.get("ID") or "")
        if str(r.get("Terminology") or "").strip().upper() == "MAP":
            maps.setdefault(cid, {})[str(r.get("Term"))] = str(r.get("Decoded Value") or "")
            lines.setdefault(("maps", cid), row)
            continue
        cl = lists.setdefault(cid, {"id": cid, "name": str(r.get("Name") or cid), "terms": []})
        if r.get("Extensible") not in (None, ""):
            cl["extensible"] = _bool(r["Extensible"])
        if r.get("Data Type"):
            cl["data_type"] = str(r["Data Type"])
        term = {"value": str(r.get("Term"))}
        if r.get("Decoded Value") not in (None, ""):
            term["decode"] = str(r["Decoded Value"])
        cl["terms"].append(term)
        idx = list(lists).index(cid)
        lines.setdefault(("codelists", idx), row)
    doc = {"maps": maps, "codelists": list(lists.values())}
    return doc, _SheetSource(path, lines, sheets={(): "Codelists"})


def _domain_docs(path: Path, sheets) -> dict[str, tuple[Any, Source]]:
    out: dict[str, tuple[Any, Source]] = {}
    docs: dict[str, dict] = {}
    lines: dict[str, dict[tuple, int]] = {}
    where: dict[str, dict[tuple, str]] = {}
    for row, r in sheets["Datasets"]:
        name = str(r.get("Dataset") or "").upper()
        if not name or name.startswith("SUPP"):
            continue
        d: dict[str, Any] = {"domain": name}
        if r.get("Label"):
            d["label"] = str(r["Label"])
        if r.get("Description"):
            d["description"] = str(r["Description"])
        if r.get("Sort Variables"):
            d["sort"] = _split(r["Sort Variables"])
        if r.get("Key Variables"):
            keys = _split(r["Key Variables"])
            if tuple(keys) != tuple(_ig_keys(name)):   # the IG's keys are the default
                d["keys"] = keys
        derive = _cell_yaml(r.get("Derive"), path, "Datasets", row)
        if derive is not None:
            d["derive"] = derive if isinstance(derive, list) else [derive]
        d["records"], d["variables"] = [], []
        docs[name] = d
        lines[name] = {(): row, ("domain",): row, ("derive",): row, ("sort",): row,
                       ("keys",): row}
        where[name] = {(): "Datasets"}
    for row, r in sheets.get("Records", []):
        name = str(r.get("Dataset") or "").upper()
        if name not in docs:
            raise SpecError(f"sheet Records row {row}: dataset {name!r} is not in the Datasets "
                            "sheet", path=path, line=row)
        b: dict[str, Any] = {"id": str(r.get("Record")), "form": str(r.get("Form"))}
        for col, key in (("Where", "where"), ("Melt", "melt")):
            val = _cell_yaml(r.get(col), path, "Records", row)
            if val is not None:
                b[key] = val
        if r.get("Require"):
            b["require"] = _split(r["Require"])
        if r.get("Where Reason"):
            b["where_reason"] = str(r["Where Reason"])
        if r.get("Description"):
            b["description"] = str(r["Description"])
        i = len(docs[name]["records"])
        docs[name]["records"].append(b)
        lines[name][("records", i)] = row
        where[name][("records", i)] = "Records"
    index: dict[tuple[str, str], int] = {}
    for row, r in sheets["Variables"]:
        name = str(r.get("Dataset") or "").upper()
        if name.startswith("SUPP"):
            continue
        if name not in docs:
            raise SpecError(f"sheet Variables row {row}: dataset {name!r} is not in the "
                            "Datasets sheet", path=path, line=row,
                            hint="add it to Datasets")
        var = str(r.get("Variable") or "")
        key = (name, var)
        if key not in index:
            v: dict[str, Any] = {"name": var}
            if r.get("Label"):
                v["label"] = str(r["Label"])
            if r.get("Comment"):
                v["comment"] = str(r["Comment"])
            if r.get("Codelist"):
                v["codelist"] = str(r["Codelist"])
            if r.get("Supp Label"):
                v["supp"] = {"label": str(r["Supp Label"])}
                if r.get("Origin"):
                    v["supp"]["origin"] = str(r["Origin"])
            elif r.get("Origin"):
                v["origin"] = str(r["Origin"])
            index[key] = len(docs[name]["variables"])
            docs[name]["variables"].append(v)
            lines[name][("variables", index[key])] = row
            where[name][("variables", index[key])] = "Variables"
        i = index[key]
        v = docs[name]["variables"][i]
        if not r.get("Algorithm"):
            continue
        m: dict[str, Any] = {"algorithm": str(r["Algorithm"])}
        src = _split(r.get("Source"))
        if src:
            m["source"] = src
        params = _cell_yaml(r.get("Parameters"), path, "Variables", row)
        if params is not None:
            if not isinstance(params, dict):
                raise SpecError(f"sheet Variables row {row}: Parameters must be a mapping, "
                                f"got {params!r}", path=path, line=row)
            m["params"] = params
        rec = r.get("Record")
        if rec:
            v.setdefault("by_record", {})[str(rec)] = m
            lines[name][("variables", i, "by_record", str(rec))] = row
        else:
            v.update(m)
            lines[name][("variables", i, "algorithm")] = row
            lines[name][("variables", i, "source")] = row
    for name, d in docs.items():
        out[name.lower()] = (d, _SheetSource(path, lines[name], sheets=where[name]))
    return out


# --------------------------------------------------------------------------------------------
# writing a workbook from a YAML spec folder
# --------------------------------------------------------------------------------------------

def _flow(value: Any) -> str:
    """YAML flow text for a cell (deterministic, no anchors)."""
    import yaml

    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000,
                          allow_unicode=True)
    return text.strip().removesuffix("...").strip()


def write_spec_xlsx(study: str | Path, path: Path) -> Path:
    """Write a spec folder's YAML spec as a workbook that :func:`load_spec_xlsx` reads back
    to the same model (the spec stays the source of truth; the workbook is for review)."""
    import openpyxl
    from openpyxl.styles import Font

    from sdtm.spec import load_spec, resolve_folder

    folder = resolve_folder(study)
    spec = load_spec(folder)          # validate first
    sdir = folder / "sdtm"
    raw = {p.stem.lower(): load_yaml(p)[0] for p in sorted(sdir.glob("*.yaml"))}
    wb = openpyxl.Workbook()
    wb.remove(wb.active)

    def sheet(name: str, columns: list[str], rows: list[list[Any]]) -> None:
        ws = wb.create_sheet(name)
        ws.append(columns)
        for c in ws[1]:
            c.font = Font(bold=True)
        for r in rows:
            ws.append(["" if v is None else v for v in r])

    forms = raw["forms"]
    subj = forms["subjects"]
    define = [["StudyName", spec.study.studyid], ["StudyDescription", spec.study.title],
              ["ProtocolName", spec.study.studyid], ["StandardName", "SDTM-IG"],
              ["StandardVersion", spec.study.sdtmig_version], ["Language", "en"],
              ["SubjectsForm", subj["form"]], ["SubjectField", subj["subject"]],
              ["SiteField", subj.get("site")], ["SiteDefault", subj.get("site_default")],
              ["USUBJID", subj.get("usubjid")],
              ["DateFormats", ", ".join(forms.get("date_formats", []))],
              ["Encoding", forms.get("encoding")],
              ["Transliterate", "Yes" if forms.get("transliterate") else "No"],
              ["DuplicatesIgnore", ", ".join(forms.get("duplicates_ignore", []))]]
    sheet("Define", ["Attribute", "Value"], [r for r in define if r[1] not in (None, "")])
    ds_rows, rec_rows, var_rows = [], [], []
    order = 0
    for name in sorted(spec.domains):
        d = raw[name.lower()]
        meta = _ig(name)
        ds_rows.append([name, d.get("description", ""), meta.class_, meta.structure,
                        ", ".join(d.get("keys") or meta.keys), d.get("label"),
                        ", ".join(d.get("sort", [])),
                        _flow(d["derive"]) if d.get("derive") else None])
        for b in d.get("records", []):
            rec_rows.append([name, b["id"], b["form"],
                             _flow(b["where"]) if b.get("where") else None,
                             _flow(b["melt"]) if b.get("melt") else None,
                             ", ".join(b.get("require", [])), b.get("where_reason"),
                             b.get("description")])
        dom = spec.domains[name]
        for v in d.get("variables", []):
            vs = dom.variable(v["name"])
            base = {k: v.get(k) for k in ("label", "origin", "comment")}
            supp = v.get("supp")
            supp_label = (supp.get("label") if isinstance(supp, dict) else None) or \
                (vs.label if supp is not None and vs is not None else None)
            if isinstance(supp, dict) and supp.get("origin"):
                base["origin"] = supp["origin"]
            mappings = []
            own = {k: x for k, x in v.items()
                   if k not in ("name", "label", "origin", "comment", "supp", "by_record",
                                "type", "codelist", "length")}
            if own:
                mappings.append((None, own))
            for blk, m in (v.get("by_record") or {}).items():
                mappings.append((blk, m))
            if not mappings:
                mappings = [(None, None)]
            for blk, m in mappings:
                order += 1
                algo = src = params = None
                if m:
                    algo = m.get("algorithm")
                    s = m.get("source")
                    src = ", ".join(s) if isinstance(s, list) else s
                    p = dict(m.get("params") or {})
                    p.update({k: x for k, x in m.items()
                              if k not in ("algorithm", "source", "params")})
                    params = _flow(p) if p else None
                igv = meta.find(v["name"])
                var_rows.append([order, name, v["name"], base["label"] or (igv.label if igv else
                                                                           supp_label),
                                 igv.type.lower().replace("char", "text").replace(
                                     "num", "float") if igv else "text",
                                 v.get("codelist"),
                                 base["origin"], src, None, base["comment"], blk, algo, params,
                                 supp_label])
    sheet("Datasets", _DS_COLUMNS, ds_rows)
    sheet("Records", _REC_COLUMNS, rec_rows)
    sheet("Variables", _VAR_COLUMNS, _labels_as_written(var_rows, raw, spec))
    cl_rows = []
    cl = raw.get("codelists") or {}
    for mid, pairs in sorted((cl.get("maps") or {}).items()):
        for i, (k, v) in enumerate(pairs.items(), start=1):
            cl_rows.append([mid, mid, None, "text", "Map", i, k, v, None])
    for c in cl.get("codelists") or []:
        for i, t in enumerate(c.get("terms", []), start=1):
            t = t if isinstance(t, dict) else {"value": str(t)}
            cl_rows.append([c["id"], c.get("name", c["id"]), None, c.get("data_type", "text"),
                            "Sponsor", i, t["value"], t.get("decode"),
                            "Yes" if c.get("extensible") else "No"])
    sheet("Codelists", _CL_COLUMNS, cl_rows)
    f_rows = []
    for fld, lab in (forms.get("common_fields") or {}).items():
        f_rows.append(["*", None, None, None, None, None, None, None, None, fld,
                       lab if isinstance(lab, str) else lab.get("label"),
                       None if isinstance(lab, str) or lab.get("required", True) else "No",
                       None if isinstance(lab, str) else lab.get("not_mapped")])
    for fname, f in forms["forms"].items():
        fields = f.get("fields") or {}
        if isinstance(fields, list):
            fields = {x: "" for x in fields}
        first = True
        for fld, lab in fields.items():
            label = lab if isinstance(lab, str) else (lab or {}).get("label", "")
            req = None if isinstance(lab, str) or (lab or {}).get("required", True) else "No"
            f_rows.append([fname, f.get("file") if first else None,
                           f.get("title") if first else None,
                           f.get("subject") if first else None,
                           f.get("site") if first else None,
                           ("Yes" if f.get("one_per_subject") else None) if first else None,
                           f.get("duplicates") if first else None,
                           f.get("unmapped") if first else None,
                           f.get("encoding") if first else None, fld, label, req,
                           None if isinstance(lab, str) else (lab or {}).get("not_mapped")])
            first = False
    sheet("Forms", _FORM_COLUMNS, f_rows)
    from studybuild.atomic import atomic_file

    path = Path(path)
    with atomic_file(path) as tmp:
        wb.save(tmp)
    return path


def _labels_as_written(rows: list[list[Any]], raw: dict, spec: StudySpec) -> list[list[Any]]:
    """Keep only labels that the YAML spec states (the IG label is shown by P21 anyway)."""
    out = []
    for r in rows:
        name, var = r[1], r[2]
        d = raw[name.lower()]
        written = next((v.get("label") for v in d.get("variables", []) if v["name"] == var),
                       None)
        r = list(r)
        r[3] = written
        out.append(r)
    return out


def _ig(name: str):
    from studybuild import standards

    return standards.sdtmig().dataset(name)


def _ig_keys(name: str) -> tuple[str, ...]:
    from studybuild import standards

    try:
        return tuple(_ig(name).keys)
    except standards.StandardsLookupError:
        return ()
