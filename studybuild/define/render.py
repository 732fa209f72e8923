"""Render a define.xml to HTML with the studybuild stylesheet (the same XSLT a browser applies
through the ``xml-stylesheet`` processing instruction), for browsers that no longer run XSLT
and for tests."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from studybuild.atomic import write_bytes
from studybuild.xmlsafe import parse


@cache
def _transform():
    from lxml import etree

    from studybuild.define.writer import stylesheet_path

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    xsl = etree.parse(str(stylesheet_path()), parser)
    access = etree.XSLTAccessControl.DENY_ALL
    return etree.XSLT(xsl, access_control=access)


def render_html(define_path: str | os.PathLike, out: str | os.PathLike | None = None) -> str:
    """HTML view of ``define_path``; written atomically to ``out`` when given."""
    tree = parse(Path(define_path))
    result = _transform()(tree)
    html = str(result)
    if out is not None:
        write_bytes(Path(out), html.encode("utf-8"))
    return html
