"""Reviewer's guides as PDF, in the PHUSE templates' structure: the cSDRG beside the SDTM
datasets (``m5/datasets/ID/tabulations/sdtm/csdrg.pdf``) and the ADRG beside the ADaM
datasets (``m5/datasets/ID/analysis/adam/datasets/adrg.pdf``), both filled from
``study.yaml``, the specs, the ADaM choices, the datasets and the findings; never written
by hand. Same inputs, same bytes (dates fixed to the data cut-off). See ``docs/export.md``.

>>> write_guides(stage, layout("surufatinib-sts"), study=study, sdtm=sdtm, adam=adam,
...              sdtm_findings=[], adam_findings=[])                 # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping


def write_guides(package: Path, lay, *, study, sdtm, adam,
                 sdtm_findings: Iterable, adam_findings: Iterable, baseline=None,
                 xpt: Mapping[str, Mapping[str, str]] | None = None) -> list[Path]:
    """Write ``csdrg.pdf`` and ``adrg.pdf`` into the package folder ``package`` (laid out
    as ``lay``, a :class:`studybuild.export.layout.Layout`). ``xpt``: per kind ("SDTM",
    "ADaM") the XPT file name of each dataset, for the file sizes the guides state."""
    from adam.options import AdamOptions
    from studybuild.guides.adrg import write_adrg
    from studybuild.guides.common import file_sizes
    from studybuild.guides.csdrg import write_csdrg

    xpt = xpt or {}
    s_href, a_href = dict(xpt.get("SDTM", {})), dict(xpt.get("ADaM", {}))
    sdtm_dir, adam_dir = Path(package) / lay.sdtm, Path(package) / lay.adam
    csdrg = write_csdrg(Path(package) / lay.csdrg, study, sdtm, findings=sdtm_findings,
                        baseline=baseline, sizes=file_sizes(sdtm_dir, s_href),
                        hrefs=s_href or None)
    adrg = write_adrg(Path(package) / lay.adrg, study, adam, sdtm.datasets,
                      options=AdamOptions.for_study(study.id), findings=adam_findings,
                      baseline=baseline, sizes=file_sizes(adam_dir, a_href),
                      hrefs=a_href or None)
    return [csdrg, adrg]


__all__ = ["write_guides"]
