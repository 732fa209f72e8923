"""Validate a define.xml against the Define-XML 2.1 XML schema shipped in
``specs/standards/define-xml-2.1/schema`` (no network: imports resolve to local files).

Documents that use the Analysis Results Metadata extension (``arm:`` namespace) are checked
with the ARM 1.0 schema, which extends Define-XML 2.1; all others with Define-XML 2.1 itself.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from studybuild import standards
from studybuild.define.common import NS_ARM
from studybuild.xmlsafe import parse

DEFINE_XSD = "define-xml-2.1/schema/cdisc-definexml-2.1.0/define2-1-0.xsd"
ARM_XSD = "define-xml-2.1/schema/cdisc-arm-1.0-definexml-2.1/arm1-0-0.xsd"


@cache
def _schema(rel: str):
    from lxml import etree

    path = standards.source_path(rel)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(path), parser))


def validate_tree(tree) -> list[str]:
    """XSD errors of a parsed define.xml (empty list: valid)."""
    root = tree.getroot()
    uses_arm = NS_ARM in (root.nsmap or {}).values() or \
        any(el.tag.startswith("{" + NS_ARM) for el in root.iter() if isinstance(el.tag, str))
    schema = _schema(ARM_XSD if uses_arm else DEFINE_XSD)
    if schema.validate(tree):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


def validate_define(path: str | os.PathLike) -> list[str]:
    """Errors of ``path`` against the Define-XML 2.1 schema, one string per error with its
    line number; an empty list means the file is valid. Unreadable or unsafe XML raises
    :class:`~studybuild.errors.InputError`."""
    return validate_tree(parse(Path(path)))
