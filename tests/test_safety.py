"""Safe parsing: YAML only through the safe loader, XML with entities, DTDs and network off,
spec-provided paths that cannot leave their folder, and no eval/exec (or pickle, unsafe YAML,
shell commands) anywhere in the project's packages.

The source checks read the code with ``ast`` (not a text grep), so a word in a comment or a
string does not count and an aliased import does not hide a call.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

from studybuild.errors import InputError, SpecError

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("studybuild", "sdtm", "adam", "validation", "tools")


def sources() -> list[Path]:
    files = []
    for pkg in PACKAGES:
        files += sorted((REPO / pkg).rglob("*.py"))
    assert len(files) > 40
    return files


@functools.lru_cache(maxsize=None)
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


@functools.lru_cache(maxsize=None)
def calls(path: Path) -> tuple:
    """(dotted name of the callee, call node) for every call, with module aliases resolved
    (``import yaml as y; y.load(...)`` gives ``yaml.load``)."""
    tree = _tree(path)
    alias: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                alias[a.asname or a.name.split(".")[0]] = a.name if a.asname else \
                    a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                alias[a.asname or a.name] = f"{node.module}.{a.name}"

    def dotted(n) -> str:
        if isinstance(n, ast.Name):
            return alias.get(n.id, n.id)
        if isinstance(n, ast.Attribute):
            return f"{dotted(n.value)}.{n.attr}"
        return "?"

    return tuple((dotted(node.func), node) for node in ast.walk(tree)
                 if isinstance(node, ast.Call))


def imports(path: Path) -> set[str]:
    tree = _tree(path)
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def _where(path: Path, node) -> str:
    return f"{path.relative_to(REPO)}:{node.lineno}"


# ---- no eval/exec, no pickle, no shell ------------------------------------------------------

def test_no_eval_exec_pickle_or_shell_in_the_packages():
    forbidden_calls = {"eval", "exec", "compile", "__import__", "builtins.eval", "builtins.exec",
                       "os.system", "os.popen", "os.execv", "os.execvp", "os.spawnl",
                       "pickle.load", "pickle.loads", "pandas.read_pickle", "marshal.loads",
                       "numexpr.evaluate", "pandas.eval"}
    forbidden_imports = {"pickle", "cPickle", "dill", "marshal", "shelve", "cloudpickle",
                         "numexpr"}
    bad = []
    for path in sources():
        for name, node in calls(path):
            last = name.rsplit(".", 1)[-1]
            if name in forbidden_calls:
                bad.append(f"{_where(path, node)} {name}()")
            # DataFrame.eval / DataFrame.query evaluate expression strings
            elif last in ("eval", "query") and isinstance(node.func, ast.Attribute):
                bad.append(f"{_where(path, node)} .{last}() (pandas expression evaluation)")
            elif name.startswith("subprocess.") or last in ("Popen", "run", "call") and \
                    name.startswith("subprocess"):
                if any(k.arg == "shell" and not (isinstance(k.value, ast.Constant) and
                                                 k.value.value is False)
                       for k in node.keywords):
                    bad.append(f"{_where(path, node)} {name}(shell=...)")
        for mod in imports(path):
            if mod.split(".")[0] in forbidden_imports:
                bad.append(f"{path.relative_to(REPO)} imports {mod}")
    assert not bad, "\n".join(bad)


def test_the_source_check_sees_what_it_must(tmp_path):
    """The checker itself: it finds an aliased eval, pickle, an unsafe yaml.load and
    shell=True in a made-up module (so an empty result above means something)."""
    code = ("import yaml as y\nimport pickle\nimport subprocess as sp\nfrom builtins import "
            "eval as e\n# eval(x) in a comment\ns = 'exec(x)'\ny.load(s)\ne(s)\n"
            "sp.run('ls', shell=True)\ndf.query('a > 1')\n")
    p = tmp_path / "m.py"
    p.write_text(code)
    names = [n for n, _ in calls(p)]
    assert "yaml.load" in names and "builtins.eval" in names and "subprocess.run" in names
    assert "df.query" in names and "exec" not in names and "eval" not in names
    assert "pickle" in imports(p)


# ---- YAML: the safe loader only ------------------------------------------------------------

SAFE_YAML = {"yaml.compose", "yaml.safe_dump", "yaml.safe_load", "yaml.SafeLoader",
             "yaml.dump"}


def test_yaml_is_read_with_the_safe_loader_only():
    bad = []
    for path in sources():
        for name, node in calls(path):
            if not name.startswith("yaml."):
                continue
            if name in ("yaml.load", "yaml.load_all", "yaml.full_load", "yaml.unsafe_load",
                        "yaml.full_load_all", "yaml.unsafe_load_all", "yaml.add_constructor"):
                bad.append(f"{_where(path, node)} {name}()")
            for k in node.keywords:
                if k.arg == "Loader" and ast.unparse(k.value) not in ("yaml.SafeLoader",
                                                                      "SafeLoader"):
                    bad.append(f"{_where(path, node)} Loader={ast.unparse(k.value)}")
            if name not in SAFE_YAML | {"yaml.SafeLoader", "yaml.Node", "yaml.MarkedYAMLError"}:
                bad.append(f"{_where(path, node)} {name}() is not in the safe list")
    assert not bad, "\n".join(bad)
    # only the foundation parses YAML (everyone else goes through studybuild.yamlspec)
    parsers = {p.relative_to(REPO).as_posix() for p in sources()
               for n, _ in calls(p) if n in ("yaml.compose", "yaml.safe_load")}
    assert parsers == {"studybuild/yamlspec.py"}, parsers


def test_yaml_python_tags_and_alias_bombs_are_refused(tmp_path):
    from studybuild.yamlspec import load_yaml

    marker = tmp_path / "pwned"
    p = tmp_path / "evil.yaml"
    p.write_text(f"a: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(SpecError, match=r"evil.yaml:1: .*not allowed"):
        load_yaml(p)
    assert not marker.exists()
    bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = "a" if i == 1 else f"l{i - 1}"
        bomb.append(f"l{i}: &l{i} [" + ", ".join([f"*{prev}"] * 10) + "]")
    p.write_text("\n".join(bomb) + "\n")
    with pytest.raises(SpecError, match="alias bomb"):
        load_yaml(p)


# ---- XML: no entities, no DTD, no network --------------------------------------------------

def test_every_xml_parser_has_entities_dtd_and_network_off():
    """lxml parsers are made in two kinds of place: xmlsafe.parse (for anything a user gives)
    and the loaders of the bundled define.xml stylesheet and schema; each one is built with
    resolve_entities=False, no_network=True, load_dtd=False, and every parse call passes it."""
    bad = []
    for path in sources():
        text = path.read_text(encoding="utf-8")
        for name, node in calls(path):
            last = name.rsplit(".", 1)[-1]
            if name.startswith(("xml.", "defusedxml")) or "ElementTree" in name:
                bad.append(f"{_where(path, node)} {name}(): use lxml via studybuild.xmlsafe")
            if last == "XMLParser":
                kw = {k.arg: ast.unparse(k.value) for k in node.keywords}
                if kw.get("resolve_entities") != "False" or kw.get("no_network") != "True" \
                        or kw.get("load_dtd") != "False":
                    bad.append(f"{_where(path, node)} XMLParser({kw})")
            if name.endswith(("etree.parse", "etree.fromstring", "etree.XML",
                              "etree.iterparse")):
                if len(node.args) < 2 and not any(k.arg == "parser" for k in node.keywords):
                    bad.append(f"{_where(path, node)} {name}() without the safe parser")
        if "import xml" in text or "from xml" in text:
            bad.append(f"{path.relative_to(REPO)} imports the standard library XML parsers")
    assert not bad, "\n".join(bad)


def _xxe(tmp_path: Path, encoding: str) -> Path:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    doc = (f'<?xml version="1.0" encoding="{encoding}"?>\n'
           f'<!DOCTYPE ODM [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
           '<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3"><Study OID="S">'
           '<GlobalVariables><StudyName>&xxe;</StudyName></GlobalVariables></Study></ODM>\n')
    p = tmp_path / f"define-{encoding}.xml"
    p.write_bytes(doc.encode(encoding))
    return p


@pytest.mark.parametrize("encoding", ["UTF-8", "UTF-16"])
def test_xxe_is_refused_in_any_encoding(tmp_path, encoding):
    """UTF-16 hides '<!ENTITY' from a byte scan; the parser settings and the tree check still
    refuse it, and the secret never appears in the message."""
    from studybuild.xmlsafe import parse

    p = _xxe(tmp_path, encoding)
    with pytest.raises(InputError) as e:
        parse(p)
    assert str(p) in str(e.value) and "TOP-SECRET" not in str(e.value)
    assert "refused" in str(e.value) or "entit" in str(e.value).lower()


def test_external_dtd_is_never_fetched(tmp_path):
    """A DOCTYPE naming a DTD on the network is refused before any parsing (no_network and
    load_dtd=False would stop the fetch anyway)."""
    from studybuild.xmlsafe import parse

    p = tmp_path / "define.xml"
    p.write_text('<?xml version="1.0"?>\n<!DOCTYPE ODM SYSTEM "http://192.0.2.1/odm.dtd">\n'
                 '<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3"/>\n')
    with pytest.raises(InputError, match="DOCTYPE"):
        parse(p)


# ---- spec-provided paths stay inside their folder ------------------------------------------

@pytest.mark.parametrize("name", ["../ae.csv", "../../etc/passwd", "/etc/passwd", "sub/ae.csv",
                                  "..", ".hidden.csv", "x/../../y.csv", "C:\\raw\\ae.csv",
                                  "~/.ssh/id_rsa", "ae.csv\x00.txt", "%2e%2e/ae.csv"])
def test_raw_form_file_names_cannot_leave_the_raw_folder(name):
    from pydantic import ValidationError

    from sdtm.spec import FormSpec

    with pytest.raises(ValidationError, match="plain file name inside the raw folder"):
        FormSpec.model_validate({"file": name, "fields": ["A"]})
    assert FormSpec.model_validate({"file": "ae-2024.v2.csv", "fields": ["A"]}).file


def test_workbook_study_yaml_cannot_leave_the_spec_folder(tmp_path):
    """A Pinnacle 21-layout workbook names its study.yaml (Define sheet, StudyYaml): a path
    outside the workbook's folder (and its parent) is refused with the workbook's name."""
    import openpyxl

    from sdtm.spec_xlsx import load_spec_xlsx, write_spec_xlsx

    folder = tmp_path / "zeta"
    folder.mkdir()
    book = folder / "spec.xlsx"
    write_spec_xlsx(REPO / "tests" / "specs" / "zetatinib-nsclc", book)
    for target in ("../../../etc/passwd", "/etc/passwd"):
        wb = openpyxl.load_workbook(book)
        ws = wb["Define"]
        rows = [r for r in ws.iter_rows() if r[0].value == "StudyYaml"]
        if rows:
            rows[0][1].value = target
        else:
            ws.append(["StudyYaml", target])
        wb.save(book)
        with pytest.raises(SpecError, match="leaves the spec folder") as e:
            load_spec_xlsx(book)
        assert str(book) in str(e.value)
