"""Parse XML safely: no entity expansion, no DTD loading, no network (XXE and billion laughs).

Every XML studybuild reads (define.xml from anyone) goes through :func:`parse`. A document
that declares a DOCTYPE or entities is refused with an :class:`~studybuild.errors.InputError`
before it is parsed (define.xml never needs either); the parser itself never resolves
entities, never loads a DTD and never touches the network (libxml2's entity-amplification
limit stays on), and the parsed tree is checked again for a DOCTYPE (one written in UTF-16,
which the byte scan cannot see).
"""

from __future__ import annotations

import os
from pathlib import Path

from studybuild.errors import InputError

_HINT = "define.xml never needs a DOCTYPE or ENTITY declaration; remove it"


def parser():
    from lxml import etree

    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False, remove_comments=False)


def _refuse(path: Path, what: str) -> InputError:
    return InputError(f"XML {what}; refused (possible XXE or entity-expansion attack)",
                      path=path, hint=_HINT)


def parse(path: str | os.PathLike):
    """Parse an XML file; a document that declares a DOCTYPE or entities is refused
    (InputError naming the file), as is anything that is not well-formed XML."""
    from lxml import etree

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read XML file: {e.strerror}", path=path) from None
    if b"<!ENTITY" in data:
        raise _refuse(path, "declares entities")
    if b"<!DOCTYPE" in data:
        raise _refuse(path, "has a DOCTYPE declaration")
    try:
        tree = etree.fromstring(data, parser()).getroottree()
    except etree.XMLSyntaxError as e:
        if "entit" in (e.msg or "").lower():     # e.g. a UTF-16 document with a DTD
            raise _refuse(path, f"uses entities ({e.msg})") from None
        raise InputError(f"XML syntax error: {e.msg}", path=path, line=e.lineno) from None
    info = tree.docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise _refuse(path, "has a DOCTYPE declaration")
    return tree
