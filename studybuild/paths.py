"""Where studybuild finds its data: the ``specs/`` folder (standards metadata and study specs).

``specs`` is installed beside the code as package data; a checkout uses the folder at the
repository root. ``STUDYBUILD_SPECS`` overrides both (a sponsor's own spec library).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path


@cache
def specs_dir() -> Path:
    env = os.environ.get("STUDYBUILD_SPECS")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve().parent.parent / "specs"
    if here.is_dir():
        return here
    import importlib.resources

    return Path(str(importlib.resources.files("specs")))


def standards_dir() -> Path:
    return specs_dir() / "standards"


def studies_dir() -> Path:
    return specs_dir() / "studies"


def study_ids() -> list[str]:
    """Every study that has a spec folder (``specs/studies/<ID>/study.yaml``), sorted."""
    root = studies_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "study.yaml").is_file())
