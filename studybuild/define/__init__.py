"""define.xml 2.1: write (SDTM and ADaM), validate against the XML schema, read back, render.

>>> from studybuild.define import write_define, validate_define, read_define  # doctest: +SKIP
>>> path = write_define(metadata, frames, out / "define.xml", study=study,
...                     hrefs={"DM": "dm.xpt"}, timestamp=cutoff)
>>> validate_define(path)
[]
>>> read_define(path).dataset("DM").keys
('STUDYID', 'USUBJID')

See ``docs/define.md``.
"""

from __future__ import annotations

from studybuild.define.common import item_oid, metadata_version_oid, study_oid
from studybuild.define.reader import read_define
from studybuild.define.render import render_html
from studybuild.define.schema import validate_define
from studybuild.define.writer import build_define, stylesheet_path, write_define

__all__ = ["write_define", "build_define", "validate_define", "read_define", "render_html",
           "stylesheet_path", "study_oid", "metadata_version_oid", "item_oid"]
