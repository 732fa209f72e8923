"""Safe YAML loading with line numbers, and pydantic validation whose errors name file and line.

Specs are written by hand, so every error must say where it is and what to do:

    specs/studies/x/dm.yaml:14: variables[3].algorithm: unknown algorithm 'asign'
    (did you mean 'assign'? known: assign, hardcode, ct, ...)

- YAML is parsed with PyYAML's SafeLoader only (no Python object tags), duplicate keys are an
  error (YAML would silently keep the last), and alias expansion is bounded (no billion laughs).
- :func:`load_yaml` returns plain data plus a map from each path (tuple of keys / indexes) to
  its 1-based line; :func:`validate` turns a pydantic ValidationError into a
  :class:`~studybuild.errors.SpecError` that carries the first error's file and line and lists
  the others.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Iterable, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from studybuild.errors import SpecError

MAX_NODES = 200_000
Lines = dict[tuple, int]
M = TypeVar("M", bound=BaseModel)


_PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in
               ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "merge")}


class _Walker:
    def __init__(self, path: Path):
        self.path = path
        self.constructor = yaml.SafeLoader("")
        self.lines: Lines = {}
        self.count = 0

    def walk(self, node: yaml.Node, at: tuple) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise SpecError(f"document expands to more than {MAX_NODES} nodes (alias bomb?)",
                            path=self.path, line=node.start_mark.line + 1,
                            hint="specs must not use YAML aliases to repeat large blocks")
        self.lines.setdefault(at, node.start_mark.line + 1)
        if node.tag not in _PLAIN_TAGS:
            raise SpecError(f"YAML tag {node.tag!r} is not allowed", path=self.path,
                            line=node.start_mark.line + 1,
                            hint="only plain YAML is allowed in specs (no !!python or custom "
                                 "tags)")
        if isinstance(node, yaml.MappingNode):
            self.constructor.flatten_mapping(node)
            out: dict[Any, Any] = {}
            for knode, vnode in node.value:
                key = self.constructor.construct_object(knode, deep=True)
                if isinstance(key, (list, dict)):
                    raise SpecError("a mapping key must be a plain value", path=self.path,
                                    line=knode.start_mark.line + 1)
                if key in out:
                    raise SpecError(f"duplicate key {key!r}", path=self.path,
                                    line=knode.start_mark.line + 1,
                                    hint="remove one of the two entries; YAML keeps only one")
                self.lines[at + (key,)] = knode.start_mark.line + 1
                out[key] = self.walk(vnode, at + (key,))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.walk(v, at + (i,)) for i, v in enumerate(node.value)]
        return self.constructor.construct_object(node, deep=True)


def load_yaml(path: str | Path, text: str | None = None) -> tuple[Any, Lines]:
    """Parse a YAML file safely; return (data, lines). Raises SpecError for unreadable files,
    syntax errors (with the line and column YAML reports), duplicate keys and alias bombs."""
    path = Path(path)
    if text is None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise SpecError("file not found", path=path) from None
        except OSError as e:
            raise SpecError(f"cannot read file: {e.strerror}", path=path) from None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            line = raw[: e.start].count(b"\n") + 1
            raise SpecError("file is not UTF-8 text", path=path, line=line,
                            hint="save the spec as UTF-8") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        col = f" column {mark.column + 1}" if mark else ""
        raise SpecError(f"YAML syntax error{col}: {e.problem or e.context}", path=path,
                        line=line, hint="check indentation, colons and quotes on that line"
                        ) from None
    except yaml.YAMLError as e:
        raise SpecError(f"YAML error: {e}", path=path) from None
    if node is None:
        return None, {(): 1}
    walker = _Walker(path)
    try:
        data = walker.walk(node, ())
    except yaml.constructor.ConstructorError as e:
        mark = e.problem_mark
        raise SpecError(f"YAML error: {e.problem}", path=path,
                        line=mark.line + 1 if mark else None,
                        hint="only plain YAML is allowed in specs (no !!python tags)") from None
    return data, walker.lines


def line_of(lines: Lines, loc: Iterable) -> int | None:
    """Line of the deepest known prefix of ``loc``."""
    loc = tuple(loc)
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get(())


def format_loc(loc: Iterable) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def suggest(word: str, choices: Iterable[str]) -> str:
    """'did you mean X? known: a, b, c' for an unknown name."""
    choices = sorted(set(choices))
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    known = ", ".join(choices[:30]) + (" ..." if len(choices) > 30 else "")
    return (f"did you mean {close[0]!r}? " if close else "") + f"known: {known}"


def validate(model: type[M], data: Any, path: str | Path, lines: Lines,
             *, context: dict | None = None, prefix: tuple = ()) -> M:
    """Validate ``data`` against a pydantic model; on failure raise SpecError naming file,
    line, the location in the document and the message (first error; others counted)."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as e:
        errs = e.errors(include_url=False)
        first = errs[0]
        loc = prefix + tuple(first["loc"])
        # pydantic puts discriminated-union tags and model names in loc; drop non-path parts
        loc = tuple(p for p in loc if isinstance(p, int) or p in _keys_in(lines, p))
        msg = first["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if first["type"] == "extra_forbidden":
            msg = f"unknown key {first['loc'][-1]!r}"
        elif first["type"] == "missing":
            msg = f"missing required key {first['loc'][-1]!r}"
        more = f" (and {len(errs) - 1} more problems)" if len(errs) > 1 else ""
        raise SpecError(f"{format_loc(loc)}: {msg}{more}", path=Path(path),
                        line=line_of(lines, loc)) from None


def _keys_in(lines: Lines, part: Any) -> set:
    return {p[-1] for p in lines if p and p[-1] == part}


def load_model(model: type[M], path: str | Path, *, context: dict | None = None) -> M:
    data, lines = load_yaml(path)
    if not isinstance(data, dict):
        raise SpecError("expected a mapping (key: value) at the top level", path=Path(path),
                        line=1)
    return validate(model, data, path, lines, context=context)
