"""Where each part of a package goes: the eCTD module 5 tree FDA receives, and beside it the
project's own outputs.

    OUT/ID/
      m5/datasets/ID/tabulations/sdtm/        SDTM *.xpt, define.xml, define2-1.xsl,
                                              define.html, csdrg.pdf
      m5/datasets/ID/analysis/adam/datasets/  ADaM *.xpt, define.xml, define2-1.xsl,
                                              define.html, adrg.pdf
      dataset-json/sdtm/, dataset-json/adam/  Dataset-JSON (not part of an FDA submission)
      validation/ traceability/ figures/ raw/ report.html manifest.json

Everything that is submitted sits under ``m5/``; nothing else does. Use :func:`sdtm_dir` /
:func:`adam_dir` to find the dataset folders of a built package rather than spelling the
paths out:

>>> from pathlib import Path
>>> sdtm_dir(Path("out/surufatinib-sts")).as_posix()
'out/surufatinib-sts/m5/datasets/surufatinib-sts/tabulations/sdtm'
>>> layout("surufatinib-sts").adam.as_posix()
'm5/datasets/surufatinib-sts/analysis/adam/datasets'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

M5_DATASETS = PurePosixPath("m5") / "datasets"
SDTM_SUBDIR = PurePosixPath("tabulations") / "sdtm"
ADAM_SUBDIR = PurePosixPath("analysis") / "adam" / "datasets"
DATASET_JSON_DIR = PurePosixPath("dataset-json")
CSDRG_NAME = "csdrg.pdf"
ADRG_NAME = "adrg.pdf"
DEFINE_HTML_NAME = "define.html"

# eCTD folder names: lower-case letters, digits and hyphens, at most 64 characters
_ECTD_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


@dataclass(frozen=True)
class Layout:
    """The relative folders of one study's package (POSIX paths, relative to ``OUT/ID``)."""

    study: str

    @property
    def study_dir(self) -> PurePosixPath:
        """``m5/datasets/ID``: the study's eCTD dataset folder."""
        return M5_DATASETS / self.study

    @property
    def sdtm(self) -> PurePosixPath:
        return self.study_dir / SDTM_SUBDIR

    @property
    def adam(self) -> PurePosixPath:
        return self.study_dir / ADAM_SUBDIR

    @property
    def sdtm_json(self) -> PurePosixPath:
        return DATASET_JSON_DIR / "sdtm"

    @property
    def adam_json(self) -> PurePosixPath:
        return DATASET_JSON_DIR / "adam"

    @property
    def csdrg(self) -> PurePosixPath:
        return self.sdtm / CSDRG_NAME

    @property
    def adrg(self) -> PurePosixPath:
        return self.adam / ADRG_NAME


def ectd_folder_name(study: str) -> str:
    """The study's folder name under ``m5/datasets``: the study id in lower case. A study id
    that is not a valid eCTD folder name (letters, digits, hyphens; at most 64) is refused."""
    from studybuild.errors import UsageError

    name = study.lower()
    if not _ECTD_NAME.match(name):
        raise UsageError(f"study id {study!r} cannot name an eCTD folder: use lower-case "
                         "letters, digits and hyphens (at most 64 characters)")
    return name


def layout(study: str) -> Layout:
    """The package layout of ``study`` (the spec folder name, as in ``OUT/ID``)."""
    return Layout(ectd_folder_name(study))


def _study_of(package: Path) -> str:
    """The study folder under ``package/m5/datasets`` when there is exactly one, else the
    package folder's name (the study id, as ``build`` and ``export`` name it)."""
    root = Path(package) / M5_DATASETS
    if root.is_dir():
        subs = sorted(p.name for p in root.iterdir() if p.is_dir())
        if len(subs) == 1:
            return subs[0]
    return Path(package).name.lower()


def sdtm_dir(package: str | Path) -> Path:
    """The SDTM folder of the package ``package`` (``OUT/ID``)."""
    return Path(package) / Layout(_study_of(Path(package))).sdtm


def adam_dir(package: str | Path) -> Path:
    """The ADaM datasets folder of the package ``package`` (``OUT/ID``)."""
    return Path(package) / Layout(_study_of(Path(package))).adam
