"""Reviewer report: protocol endpoints from ADaM, figures, and one self-contained HTML page.

- :func:`compute_endpoints` — every number (pure computation, see :mod:`.endpoints`);
- :func:`write_report` — ``OUT/ID/report.html`` plus ``OUT/ID/figures/*.png``.

matplotlib, lifelines, scipy and jinja2 are imported inside the functions that use them.
"""

from studybuild.report.endpoints import (DAYS_PER_MONTH, Endpoints, KMFit, Proportion,
                                         clopper_pearson, compute_endpoints, compute_simon,
                                         kaplan_meier, numbers_at_risk, survival_at,
                                         survival_quantile)
from studybuild.report.writer import write_report

__all__ = ["DAYS_PER_MONTH", "Endpoints", "KMFit", "Proportion", "clopper_pearson",
           "compute_endpoints", "compute_simon", "kaplan_meier", "numbers_at_risk",
           "survival_at", "survival_quantile",
           "write_report"]
