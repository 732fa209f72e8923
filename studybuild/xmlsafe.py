"""Parse XML safely: no entity expansion, no DTD loading, no network (XXE and billion laughs).

Every XML studybuild reads (define.xml from anyone) goes through :func:`parse`.
"""

from __future__ import annotations

import os
from pathlib import Path

from studybuild.errors import InputError


def parser():
    from lxml import etree

    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False, remove_comments=False)


def parse(path: str | os.PathLike):
    """Parse an XML file; a document that declares entities is refused (InputError)."""
    from lxml import etree

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read XML file: {e.strerror}", path=path) from None
    head = data[:65536].upper()
    if b"<!ENTITY" in head:
        raise InputError("XML declares entities; refused (possible XXE or entity-expansion "
                         "attack)", path=path, hint="define.xml never needs a DOCTYPE or ENTITY")
    try:
        return etree.fromstring(data, parser()).getroottree()
    except etree.XMLSyntaxError as e:
        raise InputError(f"XML syntax error: {e.msg}", path=path, line=e.lineno) from None
